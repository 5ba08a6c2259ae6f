// Loading the datapath and leaving it pinned: maps re-adopted with their contents,
// programs replaced by this build, and the hooks earlier runs attached moved onto it
// atomically (bpf/device-hooks.ts), so a restart or upgrade never leaves a pod's
// traffic unhandled.
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from 'pino';

import { takeResizedCounters } from '../../bpf/counters';
import { takeGrownValues } from '../../bpf/grown-values';
import { PROGRAMS, pinPaths, type PinPaths, type ProgramName } from '../../bpf/datapath';
import { LAYOUTS, MAPS, UNPINNED_MAPS, type MapName } from '../../bpf/layouts';
import { nodeSubnetMapsOf, rebuildFromNodeSubnets, type NodeSlotLayouts, type NodeSubnetMaps } from '../../bpf/node-subnets';
import { openDatapath, type DatapathSettings } from '../../bpf/open-datapath';
import { ensurePrivateDirectory } from './private-dir';
import { DeviceHooks, type AttachMode } from '../../bpf/device-hooks';
import type { BpfMap, BpfProgram } from '../../bpf/tsbpf';

/** The maps the agent itself reads and writes: node subnets (and what is derived from them), and the two it exports. */
export interface DatapathMaps extends NodeSubnetMaps {
  counters: BpfMap;
  endpoints: BpfMap;
  podLimits: BpfMap;
}

export interface Datapath {
  pins: PinPaths;
  /** The programs' hooks on devices, by the mechanism chosen at start-up. */
  hooks: DeviceHooks;
  /** Where node_slots and node_slots6 keep node subnets; none without a cluster CIDR of the family. */
  slotLayouts: NodeSlotLayouts;
  program(name: ProgramName): BpfProgram;
  maps: DatapathMaps;
  close(): void;
}

/** Pinned maps whose value structs a build grew at their end (takeGrownValues), and where the load puts each. */
const GROWN_MAPS: Array<{ name: 'endpoints' | 'node_subnets6'; of: (maps: DatapathMaps) => BpfMap }> = [
  { name: 'endpoints', of: (maps) => maps.endpoints },
  { name: 'node_subnets6', of: (maps) => maps.nodeSubnets6 },
];

// bpffs names may not contain dots; pin beside the old program, then rename over it.
function replacePin(program: BpfProgram, path: string): void {
  const next = `${path}_next`;
  fs.rmSync(next, { force: true });
  program.pin(next);
  fs.renameSync(next, path);
}

export function loadDatapath(bpffsRoot: string, settings: DatapathSettings, attachMode: AttachMode, log: Logger): Datapath {
  const pins = pinPaths(bpffsRoot);
  for (const directory of [pins.root, pins.maps, pins.programs, path.join(pins.root, 'links'), ...PROGRAMS.map(pins.links)]) {
    ensurePrivateDirectory(directory);
  }
  const resizedCounters = takeResizedCounters(pins.map('counters'));
  const grown = GROWN_MAPS.map((growable) => ({ ...growable, values: takeGrownValues(pins.map(growable.name), LAYOUTS[MAPS[growable.name].value].size) }));
  const adopted = (Object.keys(MAPS) as MapName[]).filter((name) => fs.existsSync(pins.map(name)));
  const { object, slotLayouts } = openDatapath(settings);
  object.pinMapsUnder(pins.maps, UNPINNED_MAPS).load();
  const programs = new Map<ProgramName, BpfProgram>();
  let maps: DatapathMaps;
  try {
    for (const name of PROGRAMS) {
      const program = object.program(name);
      programs.set(name, program);
      replacePin(program, pins.program(name));
    }
    maps = { counters: object.map('counters'), endpoints: object.map('endpoints'), podLimits: object.map('pod_limits'), ...nodeSubnetMapsOf(object) };
  } finally {
    object.close();
  }
  if (resizedCounters) {
    resizedCounters.restore(maps.counters);
    log.info({ slots: resizedCounters.from, now: maps.counters.info.maxEntries }, 'counters map resized for the reasons of this build; counts carried over');
  }
  for (const { name, values, of } of grown) {
    if (!values) continue;
    values.restore(of(maps));
    log.info({ from: values.from, to: of(maps).valueLength, entries: values.entries }, `${name} map grown for the fields of this build; its entries carried over`);
  }
  // Before any link runs these programs: they look up this length in node_slots, and
  // VXLAN senders in node_addresses; and pods in endpoints.
  rebuildFromNodeSubnets(maps, slotLayouts);
  const program = (name: ProgramName): BpfProgram => programs.get(name) as BpfProgram;
  const hooks = new DeviceHooks(attachMode, pins);
  const { moved, converted, defunct } = hooks.adopt(program);
  if (defunct > 0) log.warn({ defunct }, 'removed pins of links whose device is gone or which were detached');
  if (converted > 0) log.warn({ converted, attach: attachMode }, `took over ${converted} hooks an earlier run attached the other way: ${attachMode} now`);
  log.info({ bpffsRoot, adoptedMaps: adopted, hooksMoved: moved }, adopted.length ? 'datapath loaded; re-adopted pinned maps and hooks' : 'datapath loaded');
  return {
    pins,
    hooks,
    slotLayouts,
    program,
    maps,
    close: () => {
      programs.forEach((p) => p.close());
      Object.values(maps).forEach((m) => m.close());
    },
  };
}
