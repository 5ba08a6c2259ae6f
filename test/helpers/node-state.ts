// Everything a node holds for its pods, to compare before and after: host veths, pod
// routes, from_pod hooks (TCX links or filters), endpoint entries, and IPAM records with their contents.
import fs from 'node:fs';
import path from 'node:path';

import { occupiedSlots } from '../../bpf/endpoints';
import { withPinnedMap } from '../../bpf/pinned-maps';
import { hooksIn } from './hooks';
import type { TestNode } from '../lab/node';

export interface PodState {
  veths: string[];
  routes: string[];
  podHooks: string[];
  endpoints: string[];
  /** IPAM file name → contents (the lock and bookkeeping files included). */
  ipam: Record<string, string>;
}

export function podState(node: TestNode): PodState {
  const ipamDirectory = path.join(node.stateDir, 'ipam');
  const ipam: Record<string, string> = {};
  if (fs.existsSync(ipamDirectory)) for (const name of fs.readdirSync(ipamDirectory).sort()) ipam[name] = fs.readFileSync(path.join(ipamDirectory, name), 'utf8');
  return {
    veths: node.exec('ip', ['-o', 'link', 'show']).split('\n').map((line) => / (tw[0-9a-f]{11})@/.exec(line)?.[1]).filter((name): name is string => !!name).sort(),
    routes: node.exec('ip', ['route', 'show']).split('\n').filter((line) => line.startsWith('10.244.')).sort(),
    podHooks: hooksIn(node.ns, node.bpffsRoot).filter((hook) => hook.program === 'from_pod').map((hook) => hook.device).sort(),
    endpoints: withPinnedMap(node.bpffsRoot, 'endpoints', (map) => occupiedSlots(map).map((slot) => JSON.stringify(slot.endpoint)).sort()),
    ipam,
  };
}

/** How many of each a node holds; addresses are the IPAM records named by an IPv4 address. */
export function podCounts(node: TestNode): { veths: number; routes: number; podHooks: number; endpoints: number; addresses: number } {
  const state = podState(node);
  return {
    veths: state.veths.length,
    routes: state.routes.length,
    podHooks: state.podHooks.length,
    endpoints: state.endpoints.length,
    addresses: Object.keys(state.ipam).filter((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name)).length,
  };
}
