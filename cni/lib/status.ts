// STATUS: whether this node can take pods now (code 50 says why not).
import type { NetConf } from './config';
import { requireReadyNode } from './node';

export function status(netConf: NetConf): undefined {
  requireReadyNode(netConf);
  return undefined;
}
