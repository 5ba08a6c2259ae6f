// Nodes from a file (--nodes-file): YAML or JSON, a list of {name, podCIDR, internalIP}.
// The file is reloaded when it changes; a broken edit is logged and the last good list
// stays in force until the next edit, and a read that fails (out of file descriptors,
// the file briefly gone) is retried with backoff until it succeeds, so no change is
// lost. Changes are seen through inotify on the file's directory, which also
// sees a file renamed into place or a ConfigMap's symlink swap; polling the file is the
// fallback for filesystems inotify does not cover.
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from 'pino';
import YAML from 'yaml';

import { parseNodeList, type ClusterNode, type NodeSource, type NodeSourceObserver } from './cluster-nodes';
import { SourceStaleness } from './source-staleness';

const POLL_MS = 250;
/** A failed read is retried after this long, doubling up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10_000;
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
  /** The file's version whose list is in force, and the last one found broken. */
  #applied = '';
  #broken = '';
  #pending: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  readonly #staleness = new SourceStaleness(RETRY_FIRST_MS, RETRY_MAX_MS);
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

  problem(): string | undefined {
    return this.#staleness.problem(`nodes file ${this.#file} not applied`);
  }

  /**
   * Reads the file if it is not the version in force. A version whose content is
   * broken is tried once, and waits for the next edit; a read that failed is retried.
   */
  #reloadIfChanged(onChange: (nodes: ClusterNode[]) => void): void {
    clearTimeout(this.#retry);
    const version = fileVersion(this.#file);
    if (version === this.#applied) {
      // Back to the version in force (a broken edit undone, the file put back).
      if (this.#staleness.stale) this.#log.info({ file: this.#file }, 'nodes file is the list in force again');
      this.#recovered();
      return;
    }
    if (version === this.#broken) return;
    let reloaded: ClusterNode[];
    try {
      reloaded = this.#read();
    } catch (error) {
      const message = (error as Error).message;
      const readFailed = (error as NodeJS.ErrnoException).code !== undefined;
      this.#observer.error();
      if (this.#staleness.message !== message) this.#log.error({ file: this.#file }, `nodes file not reloaded, keeping the last good list${readFailed ? ', retrying' : ' until the next edit'}: ${message}`);
      const delay = this.#staleness.failed(message);
      if (!readFailed) {
        this.#broken = version;
        return;
      }
      this.#retry = setTimeout(() => this.#reloadIfChanged(onChange), delay);
      return;
    }
    if (this.#staleness.stale) this.#log.info({ file: this.#file }, 'nodes file reloaded after failing');
    this.#applied = version;
    this.#recovered();
    this.#observer.event('reload');
    onChange(reloaded);
  }

  #recovered(): void {
    this.#broken = '';
    this.#staleness.recovered();
  }

  async start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]> {
    this.#applied = fileVersion(this.#file);
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
    clearTimeout(this.#retry);
    this.#watcher?.close();
    if (this.#pollListener) fs.unwatchFile(this.#file, this.#pollListener);
  }
}
