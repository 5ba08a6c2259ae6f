// What the agent publishes about its node, for `twill status` and for whoever waits for
// it to be ready: written once the node takes pods. One JSON file in the state dir.
import path from 'node:path';

import { readPrivateJson, writePrivateJson } from './private-dir';

export interface NodeSettings {
  nodeName: string;
  /** The range pods on this node get their addresses from. */
  podCIDR: string;
  /** The bpffs root the datapath is pinned under. */
  bpffsRoot: string;
  /** MTU for pod interfaces. */
  mtu: number;
  /** Where the agent takes the plugin's requests. */
  agentSocket: string;
}


export function nodeSettingsPath(stateDir: string): string {
  return path.join(stateDir, 'node.json');
}

/** Writes atomically (a reader never sees half a file), root-only. */
export function writeNodeSettings(stateDir: string, settings: NodeSettings): void {
  writePrivateJson(nodeSettingsPath(stateDir), settings);
}

/** The settings, or undefined when the agent has not written them yet. */
export function readNodeSettings(stateDir: string): NodeSettings | undefined {
  return readPrivateJson<NodeSettings>(nodeSettingsPath(stateDir));
}
