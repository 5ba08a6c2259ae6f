// What the twill CLI shows, read straight from the pins under the bpffs root and the
// node settings in the state dir: it works whether or not the agent is running.
import fs from 'node:fs';

import { counterLabel } from '../../../bpf/counters';
import { PROGRAMS, pinPaths } from '../../../bpf/datapath';
import type { MapName } from '../../../bpf/layouts';
import { entryCount } from '../../../bpf/map-entries';
import { readNodeSettings, type NodeSettings } from '../node-settings';
import { pinnedCounters, withPinnedMap } from '../../../bpf/pinned-maps';
import { BpfProgram, TCX_ATTACH_TYPE, TcxLink } from '../../../bpf/tsbpf';

export interface ProgramState {
  name: string;
  id: number;
  tag: string;
}

/** A TCX link the agent or plugin pinned: which program runs on which device hook. */
export interface AttachmentState {
  device: string;
  ifindex: number;
  direction: 'ingress' | 'egress';
  program: string;
  linkId: number;
}

export interface MapState {
  name: MapName;
  entries: number;
  capacity: number;
}

export interface NodeState {
  settings?: NodeSettings;
  programs: ProgramState[];
  /** Uplink and tunnel hooks; one pod hook per pod is only counted. */
  deviceAttachments: AttachmentState[];
  podAttachments: number;
  maps: MapState[];
}

export function readPrograms(bpffsRoot: string): ProgramState[] {
  const pins = pinPaths(bpffsRoot);
  return PROGRAMS.filter((name) => fs.existsSync(pins.program(name))).map((name) => {
    const program = BpfProgram.openPinned(pins.program(name));
    try {
      const { id, tag } = program.info;
      return { name, id, tag };
    } finally {
      program.close();
    }
  });
}

/** The links pinned in `directory`, each named after its device (or host veth). */
export function readAttachments(directory: string, programs: ProgramState[]): AttachmentState[] {
  if (!fs.existsSync(directory)) return [];
  return fs.readdirSync(directory).sort().map((device) => {
    const link = TcxLink.openPinned(`${directory}/${device}`);
    try {
      const { id, programId, ifindex, attachType } = link.info();
      const program = programs.find((p) => p.id === programId)?.name ?? `id ${programId} (not Twill's pinned program)`;
      return { device, ifindex, direction: attachType === TCX_ATTACH_TYPE.egress ? 'egress' : 'ingress', program, linkId: id };
    } finally {
      link.close();
    }
  });
}

export function readMaps(bpffsRoot: string): MapState[] {
  return (['endpoints', 'pod_limits', 'node_subnets', 'counters'] as const).map((name) =>
    withPinnedMap(bpffsRoot, name, (map) => ({ name, entries: entryCount(name, map), capacity: map.info.maxEntries })),
  );
}

/** Throws with a clear message when nothing is pinned under `bpffsRoot`. */
export function requireDatapath(bpffsRoot: string): void {
  const endpoints = pinPaths(bpffsRoot).map('endpoints');
  if (!fs.existsSync(endpoints)) throw new Error(`no Twill datapath under ${bpffsRoot}: ${endpoints} is not pinned (has twill-agent run on this node? is --bpffs-root right?)`);
}

export function readNodeState(bpffsRoot: string, stateDir: string): NodeState {
  requireDatapath(bpffsRoot);
  const pins = pinPaths(bpffsRoot);
  const programs = readPrograms(bpffsRoot);
  return {
    settings: readNodeSettings(stateDir),
    programs,
    deviceAttachments: [...readAttachments(pins.netdevLinks, programs), ...readAttachments(pins.tunnelLinks, programs)],
    podAttachments: fs.existsSync(pins.podLinks) ? fs.readdirSync(pins.podLinks).length : 0,
    maps: readMaps(bpffsRoot),
  };
}

/** The counters as rows of labels and numbers, busiest first. */
export function readCounterRows(bpffsRoot: string): Array<{ reason: string; direction: string; packets: bigint; bytes: bigint }> {
  requireDatapath(bpffsRoot);
  return pinnedCounters(bpffsRoot)
    .map((c) => ({ reason: counterLabel(c.reason), direction: counterLabel(c.direction), packets: c.packets, bytes: c.bytes }))
    .sort((a, b) => (a.packets === b.packets ? a.reason.localeCompare(b.reason) : a.packets > b.packets ? -1 : 1));
}
