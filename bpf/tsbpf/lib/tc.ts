// Attaching programs to a device's ingress or egress: TCX links (6.6+) or clsact
// direct-action filters; which one is the caller's choice (bpf/device-hooks.ts).
// detach() removes a clsact qdisc only if this attach created it and no filter of
// anyone else's remains on it.
import { BpfError } from './errors';
import { TCX_ATTACH_TYPE, TcxLink, type Direction } from './link';
import { native, type NativeTcFilter } from './native';
import type { BpfProgram } from './program';
import { requireOneOf, requirePositive, requireU32 } from './validate';

/** A direct-action bpf filter under a clsact qdisc. */
export interface ClsactFilter {
  kind: 'clsact';
  ifindex: number;
  direction: Direction;
  handle: number;
  priority: number;
  /** The qdisc was created by this attach, so it is ours to remove. */
  ownsQdisc: boolean;
}

export type Attachment = TcxLink | ClsactFilter;

export interface ClsactOptions {
  /** Filter handle and priority; 0 lets the kernel choose. */
  handle?: number;
  priority?: number;
  /** Replace the filter at this handle and priority in place (tc replace). */
  replace?: boolean;
}

const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

export function attachTcx(program: BpfProgram, ifindex: number, direction: Direction): TcxLink {
  requirePositive('ifindex', ifindex);
  requireOneOf('direction', direction, DIRECTIONS);
  return new TcxLink(native.tcxAttach(program.fd, ifindex, TCX_ATTACH_TYPE[direction]));
}

export function attachClsact(program: BpfProgram, ifindex: number, direction: Direction, options: ClsactOptions = {}): ClsactFilter {
  requirePositive('ifindex', ifindex);
  requireOneOf('direction', direction, DIRECTIONS);
  const handle = options.handle ?? 0;
  const priority = options.priority ?? 0;
  requireU32('handle', handle);
  requireU32('priority', priority);
  const attached = native.tcAttach(program.fd, ifindex, direction === 'ingress', handle, priority, options.replace ?? false);
  return { kind: 'clsact', ifindex, direction, handle: attached.handle, priority: attached.priority, ownsQdisc: attached.createdQdisc };
}

/** Whether this kernel has TCX (Linux 6.6+): an older one refuses a TCX query with EINVAL. Loopback is device 1 in every namespace. */
export function tcxAvailable(): boolean {
  try {
    native.tcxQuery(1, TCX_ATTACH_TYPE.ingress);
    return true;
  } catch (error) {
    if (error instanceof BpfError && error.errno === 'EINVAL') return false;
    throw error;
  }
}

/** Every device of the caller's network namespace. */
export function netDevices(): Array<{ index: number; name: string }> {
  return native.netDevices();
}

/** Lists the clsact filters on one hook of a device (none when it has no clsact qdisc). */
export function clsactFilters(ifindex: number, direction: Direction): NativeTcFilter[] {
  requirePositive('ifindex', ifindex);
  requireOneOf('direction', direction, DIRECTIONS);
  return native.tcFilters(ifindex, direction === 'ingress');
}

export function detach(attachment: Attachment): void {
  if (attachment instanceof TcxLink) {
    attachment.detach();
    attachment.close();
    return;
  }
  const { ifindex, direction, handle, priority } = attachment;
  native.tcDetach(ifindex, direction === 'ingress', handle, priority);
  if (attachment.ownsQdisc && !DIRECTIONS.some((d) => clsactFilters(ifindex, d).length > 0)) native.tcDestroyClsact(ifindex);
}

/** What is attached to one hook of a device, by both mechanisms. */
export interface HookContents {
  tcx: { programIds: number[]; linkIds: number[]; revision: bigint };
  clsact: NativeTcFilter[];
}

export function queryAttached(ifindex: number, direction: Direction): HookContents {
  requirePositive('ifindex', ifindex);
  requireOneOf('direction', direction, DIRECTIONS);
  return {
    tcx: native.tcxQuery(ifindex, TCX_ATTACH_TYPE[direction]),
    clsact: clsactFilters(ifindex, direction),
  };
}
