// What the agent publishes about its node for the CNI plugin: written once the
// datapath is loaded and pinned, read by every ADD. One JSON file in the state dir.
import fs from 'node:fs';
import path from 'node:path';

import { ensurePrivateDirectory } from './private-dir';

export interface NodeSettings {
  nodeName: string;
  /** The range pods on this node get their addresses from. */
  podCIDR: string;
  /** The bpffs root the datapath is pinned under. */
  bpffsRoot: string;
  /** MTU for pod interfaces. */
  mtu: number;
  /** The unix socket the plugin reports each command's outcome to, for the agent's metrics. */
  reportSocket?: string;
}

export const DEFAULT_STATE_DIR = '/var/lib/twill';

export function nodeSettingsPath(stateDir: string): string {
  return path.join(stateDir, 'node.json');
}

/** Writes atomically (a reader never sees half a file), root-only. */
export function writeNodeSettings(stateDir: string, settings: NodeSettings): void {
  ensurePrivateDirectory(stateDir);
  const file = nodeSettingsPath(stateDir);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(settings, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(temporary, file);
}

/** The settings, or undefined when the agent has not written them yet. */
export function readNodeSettings(stateDir: string): NodeSettings | undefined {
  try {
    return JSON.parse(fs.readFileSync(nodeSettingsPath(stateDir), 'utf8')) as NodeSettings;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
