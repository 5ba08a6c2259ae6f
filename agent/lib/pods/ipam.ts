// The node's pod addresses. The agent is their only writer, so they live in memory and
// every change is written through before the request that made it is answered: one
// file per allocated pod under <stateDir>/ipam, named by its address (Allocation.ip),
// naming the attachment that holds it (the format releases before the agent owned IPAM
// used, so an upgrade adopts it as is), and on a third line the pod's bandwidth
// limits, if it has any, as JSON. A dual-stack pod is allocated one slot of the
// endpoints map, and holds the address at that offset in each of the node's pod CIDRs.
//
// A file is written whole under a temporary name and renamed into place, so a killed
// agent leaves each record either absent or complete. A record torn by a power loss
// reads as held by no one, and is freed at the next start with the pods the reboot
// took; no fsync is paid per pod for a record that outlives nothing it describes.
import fs from 'node:fs';
import path from 'node:path';

import type { Attachment, PodLimits } from '../../api/cni';
import { Code } from '../../api/cni';
import { isIpv4, isIpv6 } from '../../../bpf/addresses';
import { describeCidrs, podSlots, slotAddresses, slotOf, type PodCidrs, type PodSlots } from '../../../bpf/endpoints';
import { ensurePrivateDirectory } from '../private-dir';
import { PodError } from './pod-error';
import { attachmentKey } from './naming';

export interface Allocation extends Attachment {
  /** The address the pod is allocated by: its IPv4 one, or in a node without IPv4 its IPv6 one (podAddresses gives the rest). */
  ip: string;
  limits?: PodLimits;
}

/** Left by releases that kept the cursor on disk; read once, for where to go on. */
const LAST_RESERVED = 'last_reserved_ip';
/** Left by releases whose plugin processes locked the directory; nobody takes it now. */
const OBSOLETE = ['lock'];

/**
 * The endpoints slots that go to pods: all but the first and the last, which in IPv4
 * are the network and broadcast addresses (and in IPv6 the subnet-router anycast).
 */
function podRange({ size }: PodSlots): { first: number; last: number; size: number } {
  return { first: 1, last: size - 2, size: size - 2 };
}

/** A record's limits line; one no one can read is no limit, as the record it is in would be held by no one. */
function parseLimits(line: string): PodLimits | undefined {
  try {
    return JSON.parse(line) as PodLimits;
  } catch {
    return undefined;
  }
}

export class Ipam {
  readonly directory: string;
  readonly #podCIDRs: PodCidrs;
  readonly #slots: PodSlots;
  readonly #range: ReturnType<typeof podRange>;
  readonly #byIp = new Map<string, Allocation>();
  readonly #byAttachment = new Map<string, Allocation>();
  /** Allocation goes on after the last slot handed out, so a freed one is not reused at once. */
  #cursor: number;

  constructor(stateDir: string, podCIDRs: PodCidrs) {
    this.directory = path.join(stateDir, 'ipam');
    this.#podCIDRs = podCIDRs;
    this.#slots = podSlots(podCIDRs);
    this.#range = podRange(this.#slots);
    ensurePrivateDirectory(this.directory);
    for (const name of OBSOLETE) fs.rmSync(path.join(this.directory, name), { force: true });
    this.#cursor = this.#range.last;
    for (const name of fs.readdirSync(this.directory)) {
      if (name === LAST_RESERVED) this.#cursor = this.#readCursor();
      else if (isIpv4(name) || isIpv6(name)) this.#remember(this.#readRecord(name));
      else if (name.endsWith('.tmp')) fs.rmSync(path.join(this.directory, name), { force: true });
    }
  }

  /**
   * The attachment's address (see Allocation.ip): the one it already holds (a retried
   * ADD, whose limits replace the earlier ones), or a free one.
   */
  allocate(attachment: Attachment, limits?: PodLimits): string {
    const held = this.find(attachment);
    if (held) {
      if (JSON.stringify(held.limits) !== JSON.stringify(limits)) this.#write({ ...held, limits });
      return held.ip;
    }
    const { first, size } = this.#range;
    for (let step = 1; step <= size; step++) {
      const candidate = first + ((this.#cursor - first + step) % size);
      const [ip] = slotAddresses(this.#slots, candidate);
      if (this.#byIp.has(ip)) continue;
      this.#write({ ...attachment, ip, limits });
      this.#cursor = candidate;
      return ip;
    }
    throw new PodError(Code.TryAgainLater, `pod CIDR ${describeCidrs(this.#podCIDRs)} is exhausted: all ${size} pod addresses are allocated`);
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
    const limits = allocation.limits ? `${JSON.stringify(allocation.limits)}\n` : '';
    fs.writeFileSync(`${file}.tmp`, `${allocation.containerID}\n${allocation.ifname}\n${limits}`, { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
    this.#remember(allocation);
  }

  #remember(allocation: Allocation): void {
    const previous = this.#byIp.get(allocation.ip);
    if (previous && this.#byAttachment.get(attachmentKey(previous)) === previous) this.#byAttachment.delete(attachmentKey(previous));
    this.#byIp.set(allocation.ip, allocation);
    // Two records of one attachment only come from a crash between writes: the first found answers.
    if (allocation.containerID && !this.#byAttachment.has(attachmentKey(allocation))) this.#byAttachment.set(attachmentKey(allocation), allocation);
  }

  #readRecord(ip: string): Allocation {
    const [containerID = '', ifname = '', limits = ''] = fs.readFileSync(path.join(this.directory, ip), 'utf8').split('\n');
    return { ip, containerID, ifname, ...(limits ? { limits: parseLimits(limits) } : {}) };
  }

  #readCursor(): number {
    const file = path.join(this.directory, LAST_RESERVED);
    const text = fs.readFileSync(file, 'utf8').trim();
    fs.rmSync(file, { force: true });
    const slot = isIpv4(text) ? slotOf(this.#podCIDRs, text) : undefined;
    return slot !== undefined && slot >= this.#range.first && slot <= this.#range.last ? slot : this.#range.last;
  }
}
