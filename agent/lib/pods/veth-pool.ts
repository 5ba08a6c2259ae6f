// A few veth pairs made ahead of the pods that will take them, with from_pod already
// attached to the host side: attaching a TCX program costs each new link a kernel
// synchronize_rcu (10-20 ms, measured), the largest part of a pod's wiring. An ADD takes
// a pair, renames the host side after the attachment, and moves the other end into the
// pod under CNI_IFNAME in one request. The pool is refilled in the background, one pair
// at a time and only while no request is in flight (an attach holds the event loop for
// its synchronize_rcu). A burst larger than the pool makes its pairs on the spot.
//
// Ready pairs sit down in the host namespace as twp<n> (host side, its link pinned
// under links/pool) and twq<n> (the pod's end). They belong to no pod: an agent start removes
// any an earlier run left and makes its own.
import fs from 'node:fs';

import type { Logger } from 'pino';

import { hardenHostVeth, type Link } from '../../netlink';
import { ensurePrivateDirectory } from '../private-dir';
import { attachFromPod, type PodHost } from './pod-wiring';

export interface VethPair {
  /** The host side, from_pod attached, its link pinned under links/pool by its name. */
  host: Link;
  /** The pod's end, still in the host namespace. */
  peer: Link;
}

/** Enough for the pods a node starts at once in the common case; a burst beyond it pays the attach. */
export const DEFAULT_POOL_SIZE = 8;
/** A ready pair's host side, and the other end until a pod takes it. */
const POOL_VETH_NAME = /^twp\d+$/;
const POOL_PEER_NAME = /^twq\d+$/;
/** How often a waiting refill looks whether requests are still in flight. */
const IDLE_POLL_MS = 5;

export class VethPool {
  readonly #host: PodHost;
  readonly #size: number;
  readonly #mtu: () => number;
  readonly #log: Logger;
  readonly #idle: () => boolean;
  readonly #ready: VethPair[] = [];
  #next = 0;
  #refilling: Promise<void> | undefined;
  #closed = false;

  constructor(host: PodHost, options: { size: number; mtu: () => number; idle: () => boolean; log: Logger }) {
    this.#host = host;
    this.#idle = options.idle;
    this.#size = options.size;
    this.#mtu = options.mtu;
    this.#log = options.log;
  }

  /** Removes pairs an earlier run left, then fills the pool in the background. */
  async start(): Promise<void> {
    for (const link of await this.#host.rtnl.links()) {
      if (POOL_VETH_NAME.test(link.name) || POOL_PEER_NAME.test(link.name)) await this.#host.rtnl.deleteLink(link.index);
    }
    fs.rmSync(this.#host.pins.poolLinks, { recursive: true, force: true });
    ensurePrivateDirectory(this.#host.pins.poolLinks);
    this.#refill();
  }

  /** A ready pair, or one made now when the pool is empty; refilling waits for the node to be idle. */
  async take(): Promise<VethPair> {
    const pair = this.#ready.shift();
    this.#refill();
    return pair ?? this.#make();
  }

  /** Stops refilling; the pairs stay for the next run to remove. */
  close(): void {
    this.#closed = true;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  async #make(): Promise<VethPair> {
    const n = this.#next++;
    const [hostName, peerName] = [`twp${n}`, `twq${n}`];
    const mtu = this.#mtu();
    const host = await this.#host.rtnl.createVeth({ name: hostName, mtu, peer: { name: peerName, mtu, netns: '/proc/self/ns/net' } });
    try {
      const peer = (await this.#host.rtnl.link(peerName)) as Link;
      // Before it is ever up, so the pod is never heard as a router.
      hardenHostVeth(host.name, this.#host.procSysNet);
      attachFromPod(this.#host, host, this.#host.pins.poolLink(host.name));
      return { host, peer };
    } catch (error) {
      await this.#host.rtnl.deleteLink(host.index).catch(() => false);
      fs.rmSync(this.#host.pins.poolLink(hostName), { force: true });
      throw error;
    }
  }

  #refill(): void {
    if (this.#refilling || this.#closed) return;
    this.#refilling = (async () => {
      while (!this.#closed && this.#ready.length < this.#size) {
        // Requests go first: a pair is made only once none is in flight.
        do await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
        while (!this.#idle() && !this.#closed);
        if (this.#closed) return;
        try {
          this.#ready.push(await this.#make());
        } catch (error) {
          this.#log.warn(`veth pool: cannot make a ready pair, ADDs make their own: ${(error as Error).message}`);
          return;
        }
      }
    })().finally(() => (this.#refilling = undefined));
  }
}
