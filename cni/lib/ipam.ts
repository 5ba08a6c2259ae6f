// File-backed IPAM: one file per allocated address under <stateDir>/ipam naming the
// attachment (container ID, interface) that holds it. An flock serialises every read
// and write between concurrent plugin processes, so two ADDs never get one address.
import fs from 'node:fs';
import path from 'node:path';

import { ipv4FromNumber, ipv4ToNumber, isIpv4, parseIpv4Prefix } from '../../bpf/netlink';
import { ensurePrivateDirectory } from '../../bpf/private-dir';
import { BpfError, withFileLock } from '../../bpf/tsbpf';
import type { Attachment } from './config';
import { Code, CniError } from './errors';

export interface Allocation extends Attachment {
  ip: string;
}

const LOCK_TIMEOUT_MS = 10_000;
const LAST_RESERVED = 'last_reserved_ip';

/** The addresses of a pod CIDR that go to pods: all but the network and broadcast addresses. */
export function podRange(podCIDR: string): { first: number; last: number; size: number } {
  const { address, prefixLength } = parseIpv4Prefix(podCIDR);
  const span = 2 ** (32 - prefixLength);
  const network = ipv4ToNumber(address) - (ipv4ToNumber(address) % span);
  return { first: network + 1, last: network + span - 2, size: span - 2 };
}

export class Ipam {
  readonly directory: string;

  constructor(stateDir: string) {
    this.directory = path.join(stateDir, 'ipam');
  }

  /** The attachment's address in podCIDR: the one it already holds (a retried ADD), or a free one. */
  async allocate(attachment: Attachment, podCIDR: string): Promise<string> {
    const range = podRange(podCIDR);
    ensurePrivateDirectory(this.directory);
    return this.#locked(() => {
      const held = this.#read().find((a) => sameAttachment(a, attachment));
      if (held) return held.ip;
      const start = this.#lastReserved(range);
      for (let step = 1; step <= range.size; step++) {
        const candidate = ipv4FromNumber(range.first + ((start - range.first + step) % range.size));
        try {
          fs.writeFileSync(path.join(this.directory, candidate), `${attachment.containerID}\n${attachment.ifname}\n`, { flag: 'wx', mode: 0o600 });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw error;
        }
        fs.writeFileSync(path.join(this.directory, LAST_RESERVED), candidate, { mode: 0o600 });
        return candidate;
      }
      throw new CniError(Code.TryAgainLater, `pod CIDR ${podCIDR} is exhausted: all ${range.size} pod addresses are allocated`);
    });
  }

  /** Frees what the attachment holds; returns the address, or undefined if it held none. */
  async release(attachment: Attachment): Promise<string | undefined> {
    return this.#locked(() => {
      const held = this.#read().find((a) => sameAttachment(a, attachment));
      if (held) fs.rmSync(path.join(this.directory, held.ip), { force: true });
      return held?.ip;
    });
  }

  async find(attachment: Attachment): Promise<Allocation | undefined> {
    return this.#locked(() => this.#read().find((a) => sameAttachment(a, attachment)));
  }

  /** Every allocation; unreadable records (a plugin killed mid-write) have empty IDs. */
  async list(): Promise<Allocation[]> {
    return this.#locked(() => this.#read());
  }

  /** Frees an address whatever holds it (GC of unreadable records). */
  async releaseAddress(ip: string): Promise<void> {
    if (!isIpv4(ip)) throw new TypeError(`${ip} is not an address`);
    await this.#locked(() => fs.rmSync(path.join(this.directory, ip), { force: true }));
  }

  #read(): Allocation[] {
    if (!fs.existsSync(this.directory)) return [];
    return fs
      .readdirSync(this.directory)
      .filter(isIpv4)
      .map((ip) => {
        const [containerID = '', ifname = ''] = fs.readFileSync(path.join(this.directory, ip), 'utf8').split('\n');
        return { ip, containerID, ifname };
      });
  }

  /** Allocation continues after the last address handed out, so a freed one is not reused at once. */
  #lastReserved(range: { first: number; last: number }): number {
    try {
      const value = ipv4ToNumber(fs.readFileSync(path.join(this.directory, LAST_RESERVED), 'utf8').trim());
      return value >= range.first && value <= range.last ? value : range.last;
    } catch {
      return range.last;
    }
  }

  /** Runs fn under the lock; without a state directory nothing was ever allocated, so fn sees an empty one. */
  async #locked<T>(fn: () => T): Promise<T> {
    if (!fs.existsSync(this.directory)) return fn();
    try {
      return await withFileLock(path.join(this.directory, 'lock'), LOCK_TIMEOUT_MS, async () => fn());
    } catch (error) {
      if (error instanceof BpfError && error.errno === 'ETIMEDOUT') {
        throw new CniError(Code.TryAgainLater, `IPAM state ${this.directory} stayed locked for ${LOCK_TIMEOUT_MS} ms`);
      }
      throw error;
    }
  }
}

export function sameAttachment(a: Attachment, b: Attachment): boolean {
  return a.containerID === b.containerID && a.ifname === b.ifname;
}
