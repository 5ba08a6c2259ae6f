// Nodes from a file (--nodes-file): YAML or JSON, a list of {name, podCIDR, internalIP}.
// The file is reloaded when it changes; a broken edit is logged and the last good list
// stays in force.
import fs from 'node:fs';

import type { Logger } from 'pino';
import YAML from 'yaml';

import { parseNodeList, type ClusterNode, type NodeSource, type NodeSourceObserver } from './cluster-nodes';

const POLL_MS = 250;

export class StaticNodeSource implements NodeSource {
  readonly kind = 'static';
  readonly #file: string;
  readonly #log: Logger;
  readonly #observer: NodeSourceObserver;
  #listener: ((current: fs.Stats, previous: fs.Stats) => void) | undefined;

  constructor(file: string, log: Logger, observer: NodeSourceObserver) {
    this.#file = file;
    this.#log = log;
    this.#observer = observer;
  }

  #read(): ClusterNode[] {
    return parseNodeList(YAML.parse(fs.readFileSync(this.#file, 'utf8')), this.#file);
  }

  async start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]> {
    const nodes = this.#read();
    this.#observer.event('list');
    this.#listener = (current, previous) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
      let reloaded: ClusterNode[];
      try {
        reloaded = this.#read();
      } catch (error) {
        this.#observer.error();
        return this.#log.error({ file: this.#file }, `nodes file not reloaded, keeping the last good list: ${(error as Error).message}`);
      }
      this.#observer.event('reload');
      onChange(reloaded);
    };
    fs.watchFile(this.#file, { interval: POLL_MS }, this.#listener);
    return nodes;
  }

  stop(): void {
    if (this.#listener) fs.unwatchFile(this.#file, this.#listener);
  }
}
