// The compiled addon (build/Release/tsbpf.node) and the types of what it exports.
// Nothing outside bpf/tsbpf/lib touches these functions directly.
import { loadAddon } from './addon';
import { BpfError } from './errors';

export interface NativeMapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  btfId: number;
}

export interface NativeProgramInfo {
  type: number;
  id: number;
  name: string;
  tag: string;
}

export interface NativeLinkInfo {
  type: number;
  id: number;
  programId: number;
  ifindex: number;
  attachType: number;
}

export interface NativeTestRun {
  retval: number;
  packet: Buffer;
  durationNs: number;
  context: Buffer | null;
}

export interface NativeTcFilter {
  handle: number;
  priority: number;
  kind: string;
  programId: number;
  name: string;
}

export interface NativeObjectHandle {
  variables(): Array<{ name: string; size: number }>;
  setVariable(name: string, value: Buffer): void;
  setMapPinPath(name: string, path: string): void;
  setMapMaxEntries(name: string, maxEntries: number): void;
  load(): void;
  programFd(name: string): number;
  mapFd(name: string): number;
  programNames(): string[];
  mapNames(): string[];
  close(): void;
}

interface NativeBinding {
  setErrorFactory(factory: (op: string, errno: string, errnoNumber: number, detail: string) => Error): void;
  NativeObject: new (path: string) => NativeObjectHandle;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  fdKind(fd: number): 'map' | 'program' | 'link' | 'other';
  closeFd(fd: number): void;
  mapInfo(fd: number): NativeMapInfo;
  mapLookup(fd: number, key: Buffer, valueLength: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapKeys(fd: number, keyLength: number, limit: number): Buffer[];
  mapLookupBatch(fd: number, keyLength: number, valueLength: number, capacity: number): { keys: Buffer; values: Buffer; count: number };
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags: number): number;
  mapDeleteBatch(fd: number, keys: Buffer, count: number): number;
  possibleCpus(): number;
  programInfo(fd: number): NativeProgramInfo;
  programTestRun(fd: number, packet: Buffer, repeat: number, outputCapacity: number, context: Buffer | null): NativeTestRun;
  tcxAttach(programFd: number, ifindex: number, attachType: number): number;
  netDevices(): Array<{ index: number; name: string }>;
  linkUpdate(linkFd: number, programFd: number, expectedOldProgramFd: number): void;
  linkDetach(linkFd: number): void;
  linkInfo(fd: number): NativeLinkInfo;
  tcxQuery(ifindex: number, attachType: number): { programIds: number[]; linkIds: number[]; revision: bigint };
  tcAttach(programFd: number, ifindex: number, ingress: boolean, handle: number, priority: number, replace: boolean): { handle: number; priority: number; createdQdisc: boolean };
  tcDetach(ifindex: number, ingress: boolean, handle: number, priority: number): void;
  tcDestroyClsact(ifindex: number): void;
  tcFilters(ifindex: number, ingress: boolean): NativeTcFilter[];
  runInNetns<T>(target: string | number, callback: () => T): T;
}

export const native = loadAddon() as NativeBinding;

native.setErrorFactory((op, errno, errnoNumber, detail) => new BpfError(op, errno, errnoNumber, detail));
