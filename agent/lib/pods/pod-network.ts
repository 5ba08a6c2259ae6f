// The node's pod network, owned by the agent: the CNI commands as the plugin forwards
// them. Requests for one attachment run in the order they arrived; requests for
// different pods run concurrently, a few at a time: the kernel serialises their work
// under RTNL anyway, and a burst of 128 at once would overflow the host netlink
// socket's receive buffer with replies. IPAM changes are synchronous, so the event
// loop itself keeps any two requests from taking one address.
import { Code, type AgentAnswer, type Attachment, type PodLimits, type PodRequest } from '../../api/cni';
import { Rtnl } from '../../netlink';
import type { Ipam } from './ipam';
import { attachmentKey, sameAttachment } from './naming';
import { asPodError, PodError } from './pod-error';
import { checkPod, checkPodNamespace, podPrefixes, unwirePod, wirePod, type PodHost } from './pod-wiring';
import { removeStrays } from './pod-reconcile';

/** Pod requests worked on at once; beyond a few, they only wait for RTNL in the kernel. */
const CONCURRENT_POD_WORK = 8;

export interface PodNetworkOptions {
  host: PodHost;
  ipam: Ipam;
  /** The MTU for new pods, as the agent last worked it out. */
  podMtu(): number;
  /** Why the node cannot take pods now (STATUS answers 50 with it), or undefined. */
  notReady(): string | undefined;
}

export class PodNetwork {
  readonly #options: PodNetworkOptions;
  /** The tail of each attachment's queue of requests. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Pod work running now, and the work waiting for a turn. */
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(options: PodNetworkOptions) {
    this.#options = options;
  }

  async serve(request: PodRequest): Promise<AgentAnswer> {
    try {
      switch (request.command) {
        case 'ADD':
          return { ok: true, pod: await this.#inOrder(request.attachment, () => this.#add(request.attachment, request.netns, request.mtu, request.limits)) };
        case 'DEL':
          await this.#inOrder(request.attachment, () => this.release(request.attachment));
          return { ok: true };
        case 'CHECK':
          await this.#inOrder(request.attachment, () => this.#check(request.attachment, request.netns, request.addresses));
          return { ok: true };
        case 'GC':
          await this.#gc(request.validAttachments);
          return { ok: true };
        case 'STATUS': {
          const problem = this.#options.notReady();
          return problem ? { ok: false, code: Code.NotAvailable, msg: `this node cannot take pods: ${problem}` } : { ok: true };
        }
        case 'REFUSED':
          return { ok: true };
      }
    } catch (error) {
      const { code, msg } = asPodError(error);
      return { ok: false, code, msg };
    }
  }

  /** Undoes everything of an attachment: veth, link pin, endpoint entry, address. DEL, and the start-up's pending releases. */
  async release(attachment: Attachment): Promise<void> {
    const { host, ipam } = this.#options;
    await unwirePod(host, attachment, ipam.find(attachment)?.ip);
    ipam.release(attachment);
  }

  #inOrder<T>(attachment: Attachment, work: () => Promise<T>): Promise<T> {
    const key = attachmentKey(attachment);
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const limited = (): Promise<T> => this.#inTurn(work);
    const next = previous.then(limited, limited);
    const tail = next.catch(() => undefined);
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return next;
  }

  /** Runs `work` once fewer than CONCURRENT_POD_WORK others run, in arrival order; a finished one hands its turn on. */
  async #inTurn<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running < CONCURRENT_POD_WORK) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  async #add(attachment: Attachment, netns: string, mtu: number | undefined, limits: PodLimits | undefined) {
    const { host, ipam } = this.#options;
    // Opened first, so a CNI_NETNS that is no network namespace fails before anything is taken.
    const pod = Rtnl.open(netns);
    try {
      await checkPodNamespace(host, pod, netns, attachment);
      const ip = ipam.allocate(attachment, limits);
      try {
        return await wirePod(host, pod, netns, attachment, ip, mtu ?? this.#options.podMtu(), limits);
      } catch (error) {
        await unwirePod(host, attachment, ip).catch(() => undefined);
        ipam.release(attachment);
        throw error;
      }
    } finally {
      pod.close();
    }
  }

  async #check(attachment: Attachment, netns: string, addresses: string[]): Promise<void> {
    const allocation = this.#options.ipam.find(attachment);
    if (!allocation) throw new PodError(Code.UnknownContainer, `no address is allocated to container ${attachment.containerID} interface ${attachment.ifname}`);
    for (const { address } of podPrefixes(this.#options.host, allocation.ip)) {
      if (!addresses.includes(address)) throw new PodError(Code.CheckFailed, `prevResult does not list ${address}, an address allocated to this pod`);
    }
    const pod = Rtnl.open(netns);
    try {
      await checkPod(this.#options.host, pod, netns, attachment, allocation.ip, allocation.limits);
    } finally {
      pod.close();
    }
  }

  /** Everything of attachments the runtime no longer lists is freed, then what no record names. */
  async #gc(valid: Attachment[]): Promise<void> {
    const { host, ipam } = this.#options;
    for (const allocation of ipam.list()) {
      if (valid.some((attachment) => sameAttachment(attachment, allocation))) continue;
      if (allocation.containerID) {
        await this.#inOrder(allocation, () => this.release(allocation));
      } else {
        ipam.releaseAddress(allocation.ip);
      }
    }
    await removeStrays(host, ipam.list());
  }
}
