// Nodes from a file (--nodes-file): YAML or JSON, a list of {name, podCIDR, internalIP}.
// The file is reloaded when it changes; a broken edit is logged and the last good list
// stays in force.
import fs from 'node:fs';

import type { Logger } from 'pino';
import YAML from 'yaml';

import { parseNodeList, type ClusterNode, type NodeSource } from './cluster-nodes';

const POLL_MS = 250;

export class StaticNodeSource implements NodeSource {
  readonly #file: string;
  readonly #log: Logger;
  #listener: ((current: fs.Stats, previous: fs.Stats) => void) | undefined;

  constructor(file: string, log: Logger) {
    this.#file = file;
    this.#log = log;
  }

  #read(): ClusterNode[] {
    return parseNodeList(YAML.parse(fs.readFileSync(this.#file, 'utf8')), this.#file);
  }

  async start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]> {
    const nodes = this.#read();
    this.#listener = (current, previous) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
      try {
        onChange(this.#read());
      } catch (error) {
        this.#log.error({ file: this.#file }, `nodes file not reloaded, keeping the last good list: ${(error as Error).message}`);
      }
    };
    fs.watchFile(this.#file, { interval: POLL_MS }, this.#listener);
    return nodes;
  }

  stop(): void {
    if (this.#listener) fs.unwatchFile(this.#file, this.#listener);
  }
}
