// Where the datapath's programs run on devices, and how they stay there after the agent
// exits. Two mechanisms, one per kernel generation:
//
//   tcx  a TCX link per hook, pinned under the bpffs root by device (Linux 6.6+);
//   tc   a direct-action bpf filter under the device's clsact qdisc, at Twill's own
//        handle and priority (any kernel Twill runs on); the kernel keeps it with the
//        device, and an update replaces exactly that filter in place.
//
// Either way a restart moves each hook onto the new build's program atomically, an agent
// started with the other mechanism takes the hooks over (attaches its own, then removes
// the old one), and nothing another tool attached is touched: not its links, not its
// filters. Twill never removes a clsact qdisc, since it cannot tell who created one: a
// pod's goes with its veth.
import fs from 'node:fs';

import { PROGRAMS, type PinPaths, type ProgramName } from './datapath';
import {
  TCX_ATTACH_TYPE, TcxLink, attachClsact, attachTcx, clsactFilters, netDevices, queryAttached, tcxAvailable, detach, type BpfProgram, type Direction,
} from './tsbpf';

export const ATTACH_CHOICES = ['auto', 'tcx', 'tc'] as const;
export type AttachChoice = (typeof ATTACH_CHOICES)[number];
export type AttachMode = Exclude<AttachChoice, 'auto'>;

/** The hook of its device each program runs on. */
export const HOOK_DIRECTION: Record<ProgramName, Direction> = { from_pod: 'ingress', to_pod: 'egress', from_netdev: 'ingress', to_tunnel: 'egress' };

/** Twill's clsact filters sit at this handle ("tw") and priority, so an update replaces only its own. */
export const TC_HANDLE = 0x7477;
export const TC_PRIORITY = 1;

export interface Device {
  index: number;
  name: string;
}

/** One program on one device hook, by either mechanism. */
export interface HookAttachment {
  mode: AttachMode;
  program: ProgramName;
  device: string;
  ifindex: number;
  direction: Direction;
  programId: number;
  /** The TCX link's id; none for a filter. */
  linkId?: number;
}

/** Which mechanism to use on this kernel, and why, for the agent's start-up line. */
export function chooseAttachMode(choice: AttachChoice, hasTcx = tcxAvailable()): { mode: AttachMode; why: string } {
  if (choice === 'tc') return { mode: 'tc', why: 'asked for (--attach tc)' };
  if (choice === 'tcx') {
    if (!hasTcx) throw new Error('--attach tcx: this kernel has no TCX (it came in Linux 6.6); use --attach auto or tc');
    return { mode: 'tcx', why: 'asked for (--attach tcx)' };
  }
  return hasTcx ? { mode: 'tcx', why: 'the kernel has TCX (Linux 6.6+)' } : { mode: 'tc', why: 'the kernel has no TCX (before Linux 6.6): clsact filters' };
}

/** The program a filter of Twill's runs: libbpf names a filter "<program name>:[<program id>]". */
function filterProgram(name: string): ProgramName | undefined {
  const program = name.split(':')[0];
  return (PROGRAMS as readonly string[]).includes(program) ? (program as ProgramName) : undefined;
}

/** Twill's filters on a device, one per hook at most. */
function twillFilters(device: Device): HookAttachment[] {
  return (['ingress', 'egress'] as const).flatMap((direction) =>
    clsactFilters(device.index, direction).flatMap((filter) => {
      const program = filterProgram(filter.name);
      if (filter.handle !== TC_HANDLE || filter.priority !== TC_PRIORITY || !program) return [];
      return [{ mode: 'tc' as const, program, device: device.name, ifindex: device.index, direction, programId: filter.programId }];
    }),
  );
}

/** The TCX links pinned for `program`, by device name; ifindex 0 is a link whose device is gone. */
function pinnedLinks(pins: PinPaths, program: ProgramName): HookAttachment[] {
  const directory = pins.links(program);
  if (!fs.existsSync(directory)) return [];
  return fs.readdirSync(directory).sort().map((device) => {
    const link = TcxLink.openPinned(`${directory}/${device}`);
    try {
      const { id, programId, ifindex, attachType } = link.info();
      return { mode: 'tcx' as const, program, device, ifindex, direction: attachType === TCX_ATTACH_TYPE.egress ? 'egress' : 'ingress', programId, linkId: id };
    } finally {
      link.close();
    }
  });
}

/** Every hook Twill holds in this namespace, by both mechanisms: pinned links, then filters by device. */
export function listAttachments(pins: PinPaths): HookAttachment[] {
  return [...PROGRAMS.flatMap((program) => pinnedLinks(pins, program)), ...netDevices().flatMap(twillFilters)];
}

/** The agent's hooks, with the mechanism chosen at start-up. */
export class DeviceHooks {
  constructor(
    readonly mode: AttachMode,
    readonly pins: PinPaths,
  ) {}

  /** Runs `program` (named `name`) on its hook of `device` from now on; an attachment already there is moved onto it in place. */
  attach(name: ProgramName, program: BpfProgram, device: Device): void {
    const direction = HOOK_DIRECTION[name];
    if (this.mode === 'tc') {
      attachClsact(program, device.index, direction, { handle: TC_HANDLE, priority: TC_PRIORITY, replace: true });
      return;
    }
    const pin = this.pins.link(name, device.name);
    if (fs.existsSync(pin)) {
      const link = TcxLink.openPinned(pin);
      try {
        if (link.info().ifindex === device.index) {
          link.update(program);
          return;
        }
      } finally {
        link.close();
      }
    }
    const link = attachTcx(program, device.index, direction);
    try {
      fs.rmSync(pin, { force: true });
      link.pin(pin);
    } finally {
      link.close();
    }
  }

  /** Whether Twill holds `name`'s hook on the device (whichever build's program it runs). */
  holds(name: ProgramName, device: Device): boolean {
    if (this.mode === 'tcx') return fs.existsSync(this.pins.link(name, device.name));
    return twillFilters(device).some((a) => a.program === name);
  }

  /** Whether `program` (this very one, not an earlier build's) runs on its hook of the device. */
  runs(name: ProgramName, program: BpfProgram, device: Device): boolean {
    const direction = HOOK_DIRECTION[name];
    if (this.mode === 'tcx') return queryAttached(device.index, direction).tcx.programIds.includes(program.info.id);
    return clsactFilters(device.index, direction).some((f) => f.handle === TC_HANDLE && f.priority === TC_PRIORITY && f.programId === program.info.id);
  }

  /**
   * Lets go of `name`'s hook on a device: a TCX link's pin (the link dies with its
   * device), or Twill's filter, unless the device is gone (index 0) and took it along.
   */
  release(name: ProgramName, device: Device): void {
    if (this.mode === 'tcx') {
      fs.rmSync(this.pins.link(name, device.name), { force: true });
      return;
    }
    if (device.index === 0) return;
    for (const filter of twillFilters(device)) if (filter.program === name) removeFilter(filter);
  }

  /**
   * At start-up: moves every hook an earlier run left onto this build's programs, in
   * place, and takes over those of the other mechanism. Pins of links whose device is
   * gone are removed. Returns what was done, for the start-up line.
   */
  adopt(program: (name: ProgramName) => BpfProgram): { moved: number; converted: number; defunct: number } {
    const counts = { moved: 0, converted: 0, defunct: 0 };
    for (const found of listAttachments(this.pins)) {
      if (found.mode === 'tcx' && found.ifindex === 0) {
        fs.rmSync(this.pins.link(found.program, found.device), { force: true });
        counts.defunct++;
        continue;
      }
      this.attach(found.program, program(found.program), { index: found.ifindex, name: found.device });
      if (found.mode === this.mode) {
        counts.moved++;
        continue;
      }
      if (found.mode === 'tcx') this.#detachLink(found);
      else removeFilter(found);
      counts.converted++;
    }
    return counts;
  }

  #detachLink(found: HookAttachment): void {
    const link = TcxLink.openPinned(this.pins.link(found.program, found.device));
    try {
      link.detach();
    } finally {
      link.close();
    }
  }
}

/** Removes one filter of Twill's; the clsact qdisc stays, since Twill cannot tell who created it. */
function removeFilter(found: HookAttachment): void {
  detach({ kind: 'clsact', ifindex: found.ifindex, direction: found.direction, handle: TC_HANDLE, priority: TC_PRIORITY, ownsQdisc: false });
}
