// What the twill CLI shows, read straight from the pins under the bpffs root and the
// node settings in the state dir: it works whether or not the agent is running.
import fs from 'node:fs';

import { counterLabel } from '../../../bpf/counters';
import { PROGRAMS, pinPaths } from '../../../bpf/datapath';
import { listAttachments, type HookAttachment } from '../../../bpf/device-hooks';
import type { MapName } from '../../../bpf/layouts';
import { entryCount } from '../../../bpf/map-entries';
import { readNodeSettings, type NodeSettings } from '../node-settings';
import { pinnedCounters, withPinnedMap } from '../../../bpf/pinned-maps';
import { BpfProgram } from '../../../bpf/tsbpf';

export interface ProgramState {
  name: string;
  id: number;
  tag: string;
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
  deviceAttachments: HookAttachment[];
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

/** The maps an operator sizes; a datapath pinned before IPv6 has no node_subnets6. */
export function readMaps(bpffsRoot: string): MapState[] {
  return (['endpoints', 'pod_limits', 'node_subnets', 'node_subnets6', 'counters'] as const).filter((name) => fs.existsSync(pinPaths(bpffsRoot).map(name))).map((name) =>
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
  const hooks = listAttachments(pins);
  return {
    settings: readNodeSettings(stateDir),
    programs: readPrograms(bpffsRoot),
    deviceAttachments: hooks.filter((h) => h.program === 'from_netdev' || h.program === 'to_tunnel'),
    podAttachments: hooks.filter((h) => h.program === 'from_pod').length,
    maps: readMaps(bpffsRoot),
  };
}

/** The counters as rows of labels and numbers, busiest first. */
export function readCounterRows(bpffsRoot: string): Array<{ reason: string; family: string; direction: string; packets: bigint; bytes: bigint }> {
  requireDatapath(bpffsRoot);
  return pinnedCounters(bpffsRoot)
    .map((c) => ({ reason: counterLabel(c.reason), family: counterLabel(c.family), direction: counterLabel(c.direction), packets: c.packets, bytes: c.bytes }))
    .sort((a, b) => (a.packets === b.packets ? a.reason.localeCompare(b.reason) : a.packets > b.packets ? -1 : 1));
}
