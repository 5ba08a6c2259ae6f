// Loading the datapath and leaving it pinned: maps re-adopted with their contents,
// programs replaced by this build, and links that earlier runs pinned moved onto it
// atomically, so a restart or upgrade never leaves a pod's traffic unhandled.
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from 'pino';

import { takeResizedCounters } from '../../bpf/counters';
import { PROGRAMS, pinPaths, type PinPaths, type ProgramName } from '../../bpf/datapath';
import { MAPS, UNPINNED_MAPS, type MapName } from '../../bpf/layouts';
import { rebuildFromNodeSubnets, type NodeSlotLayout, type NodeSubnetMaps } from '../../bpf/node-subnets';
import { openDatapath, type DatapathSettings } from '../../bpf/open-datapath';
import { ensurePrivateDirectory } from './private-dir';
import { TcxLink, attachTcx, type BpfMap, type BpfProgram, type Direction } from '../../bpf/tsbpf';

/** The maps the agent itself reads and writes: node subnets (and what is derived from them), and the two it exports. */
export interface DatapathMaps extends NodeSubnetMaps {
  counters: BpfMap;
  endpoints: BpfMap;
  podLimits: BpfMap;
}

export interface Datapath {
  pins: PinPaths;
  /** Where node_slots keeps node subnets; none without a cluster CIDR. */
  slotLayout?: NodeSlotLayout;
  program(name: ProgramName): BpfProgram;
  maps: DatapathMaps;
  close(): void;
}

// bpffs names may not contain dots; pin beside the old program, then rename over it.
function replacePin(program: BpfProgram, path: string): void {
  const next = `${path}_next`;
  fs.rmSync(next, { force: true });
  program.pin(next);
  fs.renameSync(next, path);
}

/**
 * Moves every pinned link in `directory` onto `program`; returns how many. A link whose
 * device is gone (or that someone detached) cannot be moved: its pin is removed, so the
 * hook is attached afresh (devices) or the pod's DEL finds nothing left to undo.
 */
function moveLinks(directory: string, program: BpfProgram): { moved: number; defunct: number } {
  const counts = { moved: 0, defunct: 0 };
  for (const name of fs.readdirSync(directory)) {
    const pin = `${directory}/${name}`;
    const link = TcxLink.openPinned(pin);
    try {
      if (link.info().ifindex === 0) {
        fs.rmSync(pin);
        counts.defunct++;
      } else {
        link.update(program);
        counts.moved++;
      }
    } finally {
      link.close();
    }
  }
  return counts;
}

export function loadDatapath(bpffsRoot: string, settings: DatapathSettings, log: Logger): Datapath {
  const pins = pinPaths(bpffsRoot);
  for (const directory of [pins.root, pins.maps, pins.programs, path.dirname(pins.podLinks), pins.podLinks, pins.podIngressLinks, pins.netdevLinks, pins.tunnelLinks]) {
    ensurePrivateDirectory(directory);
  }
  const resizedCounters = takeResizedCounters(pins.map('counters'));
  const adopted = (Object.keys(MAPS) as MapName[]).filter((name) => fs.existsSync(pins.map(name)));
  const { object, slotLayout } = openDatapath(settings);
  object.pinMapsUnder(pins.maps, UNPINNED_MAPS).load();
  const programs = new Map<ProgramName, BpfProgram>();
  let maps: DatapathMaps;
  try {
    for (const name of PROGRAMS) {
      const program = object.program(name);
      programs.set(name, program);
      replacePin(program, pins.program(name));
    }
    maps = { counters: object.map('counters'), endpoints: object.map('endpoints'), podLimits: object.map('pod_limits'), nodeSubnets: object.map('node_subnets'), nodeSubnetLengths: object.map('node_subnet_lengths'), nodeSlots: object.map('node_slots'), nodeAddresses: object.map('node_addresses') };
  } finally {
    object.close();
  }
  if (resizedCounters) {
    resizedCounters.restore(maps.counters);
    log.info({ slots: resizedCounters.from, now: maps.counters.info.maxEntries }, 'counters map resized for the reasons of this build; counts carried over');
  }
  // Before any link runs these programs: they look up this length in node_slots, and
  // VXLAN senders in node_addresses.
  rebuildFromNodeSubnets(maps, slotLayout);
  const program = (name: ProgramName): BpfProgram => programs.get(name) as BpfProgram;
  const moved = {
    podLinks: moveLinks(pins.podLinks, program('from_pod')),
    podIngressLinks: moveLinks(pins.podIngressLinks, program('to_pod')),
    netdevLinks: moveLinks(pins.netdevLinks, program('from_netdev')),
    tunnelLinks: moveLinks(pins.tunnelLinks, program('to_tunnel')),
  };
  const defunct = Object.values(moved).reduce((sum, counts) => sum + counts.defunct, 0);
  if (defunct > 0) log.warn({ defunct }, 'removed pins of links whose device is gone or which were detached');
  const linksMoved = Object.fromEntries(Object.entries(moved).map(([name, counts]) => [name, counts.moved]));
  log.info({ bpffsRoot, adoptedMaps: adopted, ...linksMoved }, adopted.length ? 'datapath loaded; re-adopted pinned maps and links' : 'datapath loaded');
  return {
    pins,
    slotLayout,
    program,
    maps,
    close: () => {
      programs.forEach((p) => p.close());
      Object.values(maps).forEach((m) => m.close());
    },
  };
}

/**
 * Runs `program` on a device hook through a pinned TCX link that outlives the agent;
 * a link pinned by an earlier run was already moved onto this build by loadDatapath.
 */
export function attachPinned(program: BpfProgram, ifindex: number, direction: Direction, pin: string): void {
  if (fs.existsSync(pin)) return;
  const link = attachTcx(program, ifindex, direction);
  try {
    link.pin(pin);
  } finally {
    link.close();
  }
}
