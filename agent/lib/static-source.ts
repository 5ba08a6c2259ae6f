// Nodes from a file (--nodes-file): YAML or JSON, a list of {name, podCIDR, internalIP}.
// The file is reloaded when it changes; a broken edit is logged and the last good list
// stays in force. Changes are seen through inotify on the file's directory, which also
// sees a file renamed into place or a ConfigMap's symlink swap; polling the file is the
// fallback for filesystems inotify does not cover.
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from 'pino';
import YAML from 'yaml';

import { parseNodeList, type ClusterNode, type NodeSource, type NodeSourceObserver } from './cluster-nodes';

const POLL_MS = 250;
/** From the first event of a burst to the read, so a file written in place is more likely read whole. */
const SETTLE_MS = 50;

/** JSON is YAML too, but the YAML parser builds a whole document tree first: a 5,000-node JSON file takes 1 ms through JSON.parse and 200 ms through YAML. */
function parseNodesText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return YAML.parse(text);
  }
}

/** What identifies one version of the file: replaced, resized or rewritten, it differs. */
function fileVersion(file: string): string {
  try {
    const stats = fs.statSync(file);
    return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

export class StaticNodeSource implements NodeSource {
  readonly kind = 'static';
  readonly #file: string;
  readonly #log: Logger;
  readonly #observer: NodeSourceObserver;
  #version = '';
  #pending: NodeJS.Timeout | undefined;
  #watcher: fs.FSWatcher | undefined;
  #pollListener: (() => void) | undefined;

  constructor(file: string, log: Logger, observer: NodeSourceObserver) {
    this.#file = file;
    this.#log = log;
    this.#observer = observer;
  }

  #read(): ClusterNode[] {
    return parseNodeList(parseNodesText(fs.readFileSync(this.#file, 'utf8')), this.#file);
  }

  /** Reads the file if it is not the version last read; every version is tried once. */
  #reloadIfChanged(onChange: (nodes: ClusterNode[]) => void): void {
    const version = fileVersion(this.#file);
    if (version === this.#version) return;
    this.#version = version;
    let reloaded: ClusterNode[];
    try {
      reloaded = this.#read();
    } catch (error) {
      this.#observer.error();
      return this.#log.error({ file: this.#file }, `nodes file not reloaded, keeping the last good list: ${(error as Error).message}`);
    }
    this.#observer.event('reload');
    onChange(reloaded);
  }

  async start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]> {
    this.#version = fileVersion(this.#file);
    const nodes = this.#read();
    this.#observer.event('list');
    // Other files in the directory may change all the time: a burst delays the read by
    // SETTLE_MS at most, never indefinitely.
    const changed = (): void => {
      this.#pending ??= setTimeout(() => {
        this.#pending = undefined;
        this.#reloadIfChanged(onChange);
      }, SETTLE_MS);
    };
    this.#watcher = fs.watch(path.dirname(this.#file), changed);
    this.#watcher.on('error', (error) => this.#log.warn({ file: this.#file }, `watching the nodes file's directory failed, polling only: ${error.message}`));
    this.#pollListener = changed;
    fs.watchFile(this.#file, { interval: POLL_MS }, this.#pollListener);
    return nodes;
  }

  stop(): void {
    clearTimeout(this.#pending);
    this.#watcher?.close();
    if (this.#pollListener) fs.unwatchFile(this.#file, this.#pollListener);
  }
}
