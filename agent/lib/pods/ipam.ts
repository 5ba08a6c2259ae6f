// The node's pod addresses. The agent is their only writer, so they live in memory and
// every change is written through before the request that made it is answered: one
// file per allocated address under <stateDir>/ipam naming the attachment that holds it
// (the format releases before the agent owned IPAM used, so an upgrade adopts it as is).
//
// A file is written whole under a temporary name and renamed into place, so a killed
// agent leaves each record either absent or complete. A record torn by a power loss
// reads as held by no one, and is freed at the next start with the pods the reboot
// took; no fsync is paid per pod for a record that outlives nothing it describes.
import fs from 'node:fs';
import path from 'node:path';

import type { Attachment } from '../../api/cni';
import { Code } from '../../api/cni';
import { ipv4FromNumber, ipv4ToNumber, isIpv4, parseIpv4Prefix } from '../../../bpf/addresses';
import { ensurePrivateDirectory } from '../private-dir';
import { PodError } from './pod-error';
import { attachmentKey } from './naming';

export interface Allocation extends Attachment {
  ip: string;
}

/** Left by releases that kept the cursor on disk; read once, for where to go on. */
const LAST_RESERVED = 'last_reserved_ip';
/** Left by releases whose plugin processes locked the directory; nobody takes it now. */
const OBSOLETE = ['lock'];

/** The addresses of a pod CIDR that go to pods: all but the network and broadcast addresses. */
function podRange(podCIDR: string): { first: number; last: number; size: number } {
  const { address, prefixLength } = parseIpv4Prefix(podCIDR);
  const span = 2 ** (32 - prefixLength);
  const network = ipv4ToNumber(address) - (ipv4ToNumber(address) % span);
  return { first: network + 1, last: network + span - 2, size: span - 2 };
}

export class Ipam {
  readonly directory: string;
  readonly #podCIDR: string;
  readonly #range: ReturnType<typeof podRange>;
  readonly #byIp = new Map<string, Allocation>();
  readonly #byAttachment = new Map<string, Allocation>();
  /** Allocation goes on after the last address handed out, so a freed one is not reused at once. */
  #cursor: number;

  constructor(stateDir: string, podCIDR: string) {
    this.directory = path.join(stateDir, 'ipam');
    this.#podCIDR = podCIDR;
    this.#range = podRange(podCIDR);
    ensurePrivateDirectory(this.directory);
    for (const name of OBSOLETE) fs.rmSync(path.join(this.directory, name), { force: true });
    this.#cursor = this.#range.last;
    for (const name of fs.readdirSync(this.directory)) {
      if (name === LAST_RESERVED) this.#cursor = this.#readCursor();
      else if (isIpv4(name)) this.#remember(this.#readRecord(name));
      else if (name.endsWith('.tmp')) fs.rmSync(path.join(this.directory, name), { force: true });
    }
  }

  /** The attachment's address: the one it already holds (a retried ADD), or a free one. */
  allocate(attachment: Attachment): string {
    const held = this.find(attachment);
    if (held) return held.ip;
    const { first, size } = this.#range;
    for (let step = 1; step <= size; step++) {
      const candidate = first + ((this.#cursor - first + step) % size);
      const ip = ipv4FromNumber(candidate);
      if (this.#byIp.has(ip)) continue;
      this.#write({ ...attachment, ip });
      this.#cursor = candidate;
      return ip;
    }
    throw new PodError(Code.TryAgainLater, `pod CIDR ${this.#podCIDR} is exhausted: all ${size} pod addresses are allocated`);
  }

  /** Frees what the attachment holds; returns the address, or undefined if it held none. */
  release(attachment: Attachment): string | undefined {
    const held = this.find(attachment);
    if (held) this.releaseAddress(held.ip);
    return held?.ip;
  }

  /** Frees an address whatever holds it (records no one can read). */
  releaseAddress(ip: string): void {
    const held = this.#byIp.get(ip);
    if (!held) return;
    fs.rmSync(path.join(this.directory, ip), { force: true });
    this.#byIp.delete(ip);
    if (this.#byAttachment.get(attachmentKey(held)) === held) this.#byAttachment.delete(attachmentKey(held));
  }

  find(attachment: Attachment): Allocation | undefined {
    return this.#byAttachment.get(attachmentKey(attachment));
  }

  /** Every allocation; unreadable records have empty IDs. */
  list(): Allocation[] {
    return [...this.#byIp.values()];
  }

  get size(): number {
    return this.#byIp.size;
  }

  #write(allocation: Allocation): void {
    const file = path.join(this.directory, allocation.ip);
    fs.writeFileSync(`${file}.tmp`, `${allocation.containerID}\n${allocation.ifname}\n`, { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
    this.#remember(allocation);
  }

  #remember(allocation: Allocation): void {
    this.#byIp.set(allocation.ip, allocation);
    // Two records of one attachment only come from a crash between writes: the first found answers.
    if (allocation.containerID && !this.#byAttachment.has(attachmentKey(allocation))) this.#byAttachment.set(attachmentKey(allocation), allocation);
  }

  #readRecord(ip: string): Allocation {
    const [containerID = '', ifname = ''] = fs.readFileSync(path.join(this.directory, ip), 'utf8').split('\n');
    return { ip, containerID, ifname };
  }

  #readCursor(): number {
    const file = path.join(this.directory, LAST_RESERVED);
    const text = fs.readFileSync(file, 'utf8').trim();
    fs.rmSync(file, { force: true });
    const value = isIpv4(text) ? ipv4ToNumber(text) : 0;
    return value >= this.#range.first && value <= this.#range.last ? value : this.#range.last;
  }
}
