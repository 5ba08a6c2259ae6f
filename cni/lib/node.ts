// The node as the plugin finds it: the agent's published settings and the pinned
// datapath. Without both, the node cannot take pods (code 50).
import fs from 'node:fs';

import { pinPaths, type PinPaths } from '../../bpf/datapath';
import { nodeSettingsPath, readNodeSettings, type NodeSettings } from '../../bpf/node-settings';
import type { NetConf } from './config';
import { Code, CniError } from './errors';

export interface ReadyNode {
  settings: NodeSettings;
  pins: PinPaths;
}

/** The ready node, or why it cannot take pods: one read of the settings, one check of the pins. */
function inspectNode(netConf: NetConf): ReadyNode | string {
  const settings = readNodeSettings(netConf.stateDir);
  if (!settings) return `the Twill agent has not set up this node: ${nodeSettingsPath(netConf.stateDir)} does not exist (is twill-agent running?)`;
  const pins = pinPaths(netConf.bpffsRoot);
  const missing = [pins.program('from_pod'), pins.map('endpoints')].filter((pin) => !fs.existsSync(pin));
  if (missing.length > 0) return `the Twill datapath is not loaded: ${missing.join(', ')} missing under bpffsRoot ${netConf.bpffsRoot} (is twill-agent running?)`;
  return { settings, pins };
}

export function requireReadyNode(netConf: NetConf): ReadyNode {
  const node = inspectNode(netConf);
  if (typeof node === 'string') throw new CniError(Code.NotAvailable, node);
  return node;
}
