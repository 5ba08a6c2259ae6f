// tsbpf: Twill's binding over the system libbpf.
//
//   BpfObject   lib/object.ts   open an ELF object, set .rodata and map sizes, load, take programs and maps
//   BpfMap      lib/map.ts      lookup/update/delete, keys, batch ops, info, pin
//   BpfProgram  lib/program.ts  info, pin, BPF_PROG_TEST_RUN
//   TcxLink     lib/link.ts     TCX link: atomic program swap, detach, pin
//   attach…     lib/tc.ts       TCX or clsact attach/detach, whether TCX exists, what a hook holds, devices
//   withNetns   lib/netns.ts    synchronous work inside another network namespace
//   BpfError    lib/errors.ts   every failure: { op, errno }
export { BpfError, NetnsNotFound } from './lib/errors';
export { BpfObject, encodeRodata, type RodataValue } from './lib/object';
export { BpfMap, type MapInfo, type UpdateMode } from './lib/map';
export { BpfProgram, type ProgramInfo, type TestRunOptions, type TestRunResult } from './lib/program';
export { TCX_ATTACH_TYPE, TcxLink, type Direction, type LinkInfo } from './lib/link';
export {
  attachClsact,
  attachTcx,
  clsactFilters,
  detach,
  netDevices,
  queryAttached,
  tcxAvailable,
  type Attachment,
  type ClsactFilter,
  type ClsactOptions,
  type HookContents,
} from './lib/tc';
export { withNetns } from './lib/netns';
