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
    const next = new Map(refused.map((node) => [node.name, node]));
    for (const node of refused) {
      const before = this.#current.get(node.name);
      if (before?.detail === node.detail) continue;
      this.#log.warn({ refusedNode: node.name, podCIDR: node.podCIDR, internalIP: node.internalIP, reason: node.reason }, `node ${node.name} refused: ${node.detail}; no route or map entry for it`);
    }
    for (const name of this.#current.keys()) {
      if (!next.has(name)) this.#log.info({ refusedNode: name }, `node ${name} no longer refused`);
    }
    this.#current = next;
    writePrivateJson(refusedNodesPath(this.#stateDir), refused);
  }
}
