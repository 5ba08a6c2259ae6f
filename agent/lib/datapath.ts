// Loading the datapath and leaving it pinned: maps re-adopted with their contents,
// programs replaced by this build, and links that earlier runs pinned moved onto it
// atomically, so a restart or upgrade never leaves a pod's traffic unhandled.
import fs from 'node:fs';

import type { Logger } from 'pino';

import { DATAPATH_OBJECT, PROGRAMS, pinPaths, type PinPaths, type ProgramName } from '../../bpf/datapath';
import { MAPS, type MapName } from '../../bpf/layouts';
import { Rtnl } from '../../bpf/netlink';
import { BpfObject, TcxLink, attachTcx, type BpfProgram } from '../../bpf/tsbpf';

export interface Datapath {
  pins: PinPaths;
  programs: Map<ProgramName, BpfProgram>;
  close(): void;
}

// bpffs names may not contain dots; pin beside the old program, then rename over it.
function replacePin(program: BpfProgram, path: string): void {
  const next = `${path}_next`;
  fs.rmSync(next, { force: true });
  program.pin(next);
  fs.renameSync(next, path);
}

/** Moves every pinned link in `directory` onto `program`; returns how many. */
function moveLinks(directory: string, program: BpfProgram): number {
  let moved = 0;
  for (const name of fs.readdirSync(directory)) {
    const link = TcxLink.openPinned(`${directory}/${name}`);
    try {
      link.update(program);
      moved++;
    } finally {
      link.close();
    }
  }
  return moved;
}

export function loadDatapath(bpffsRoot: string, log: Logger): Datapath {
  const pins = pinPaths(bpffsRoot);
  for (const directory of [pins.maps, pins.programs, pins.podLinks, pins.netdevLinks]) {
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  }
  const adopted = (Object.keys(MAPS) as MapName[]).filter((name) => fs.existsSync(pins.map(name)));
  const object = BpfObject.open(DATAPATH_OBJECT).pinMapsUnder(pins.maps).load();
  const programs = new Map<ProgramName, BpfProgram>();
  try {
    for (const name of PROGRAMS) {
      const program = object.program(name);
      programs.set(name, program);
      replacePin(program, pins.program(name));
    }
  } finally {
    object.close();
  }
  const podLinks = moveLinks(pins.podLinks, programs.get('from_pod') as BpfProgram);
  const netdevLinks = moveLinks(pins.netdevLinks, programs.get('from_netdev') as BpfProgram);
  log.info({ bpffsRoot, adoptedMaps: adopted, podLinks, netdevLinks }, adopted.length ? 'datapath loaded; re-adopted pinned maps and links' : 'datapath loaded');
  return {
    pins,
    programs,
    close: () => programs.forEach((program) => program.close()),
  };
}

/**
 * Runs from_netdev on the uplink's ingress, through a pinned TCX link that outlives
 * the agent; an existing link was already moved onto this build by loadDatapath.
 */
export async function attachUplink(datapath: Datapath, uplink: string): Promise<{ ifindex: number; mtu: number }> {
  const rtnl = Rtnl.open();
  try {
    const link = await rtnl.link(uplink);
    if (!link) throw new Error(`uplink ${uplink} does not exist in this network namespace`);
    const pin = datapath.pins.netdevLink(uplink);
    if (!fs.existsSync(pin)) {
      const attached = attachTcx(datapath.programs.get('from_netdev') as BpfProgram, link.index, 'ingress');
      attached.pin(pin);
      attached.close();
    }
    return { ifindex: link.index, mtu: link.mtu };
  } finally {
    rtnl.close();
  }
}
