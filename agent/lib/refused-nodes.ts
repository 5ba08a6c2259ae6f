// The nodes whose claims this node refuses (node-claims.ts), made visible: a warning
// when a node is refused or its reason changes, a line when it is admitted again, and
// the list in the state dir, where `twill nodes` reads it with the agent up or down.
// Each judgement states the whole list, so the file never lags the routes.
import path from 'node:path';

import type { Logger } from 'pino';

import { readPrivateJson, writePrivateJson } from './private-dir';
import type { RefusedNode } from './node-claims';

export function refusedNodesPath(stateDir: string): string {
  return path.join(stateDir, 'refused-nodes.json');
}

/** The refused nodes as the agent last judged them, or undefined when it has not yet. */
export function readRefusedNodes(stateDir: string): RefusedNode[] | undefined {
  return readPrivateJson<RefusedNode[]>(refusedNodesPath(stateDir));
}

/** What was refused: a node's claim of one family, or its whole entry. */
const claimOf = (node: RefusedNode): string => (node.family ? `node ${node.name} (${node.family === 'ipv4' ? 'IPv4' : 'IPv6'})` : `node ${node.name}`);

export class RefusedNodes {
  readonly #stateDir: string;
  readonly #log: Logger;
  #current = new Map<string, RefusedNode>();

  constructor(stateDir: string, log: Logger) {
    this.#stateDir = stateDir;
    this.#log = log;
  }

  /** Records a judgement's refusals; says what changed since the last one. */
  update(refused: RefusedNode[]): void {
    const next = new Map(refused.map((node) => [claimOf(node), node]));
    for (const [claim, node] of next) {
      const before = this.#current.get(claim);
      if (before?.detail === node.detail) continue;
      this.#log.warn({ refusedNode: node.name, family: node.family, podCIDR: node.podCIDR, internalIP: node.internalIP, reason: node.reason }, `${claim} refused: ${node.detail}; no route or map entry for it`);
    }
    for (const [claim, node] of this.#current) {
      if (!next.has(claim)) this.#log.info({ refusedNode: node.name, family: node.family }, `${claim} no longer refused`);
    }
    this.#current = next;
    writePrivateJson(refusedNodesPath(this.#stateDir), refused);
  }
}
