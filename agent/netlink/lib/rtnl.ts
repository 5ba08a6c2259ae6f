// Typed rtnetlink over the pinned `netlink` package: links, veth pairs, addresses,
// routes and neighbours in one network namespace, of either IP family.
import fs from 'node:fs';

import { createRtNetlink, FlagsNew, ifla, rt, type RtNetlinkSocket } from 'netlink';

import { withNetns } from '../../../bpf/tsbpf';
import { familyOf, ipFromBytes, ipToBytes, macFromBytes, macToBytes, parseIpPrefix, type IpFamily } from '../../../bpf/addresses';
import { NetlinkError, toNetlinkError } from './errors';
import { linkAttrs, vethLinkInfo, vxlanLinkInfo, type LinkSettings } from './linkinfo';

const AF_INET = 2;
const AF_INET6 = 10;
const ADDRESS_FAMILY: Record<IpFamily, number> = { ipv4: AF_INET, ipv6: AF_INET6 };
const MAIN_TABLE = 254;
const RTNH_F_ONLINK = 4;
const REQUEST_TIMEOUT_MS = 5000;
/**
 * Requests pipeline() keeps outstanding on one socket: enough to hide the round trips,
 * few enough that their acks always fit the socket's receive buffer (the kernel drops
 * an ack that does not fit, and its request would time out).
 */
const REQUESTS_IN_FLIGHT = 64;
const CREATE_NEW = FlagsNew.CREATE | FlagsNew.EXCL;
const CREATE_OR_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

export interface Link {
  index: number;
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  /** veth, vxlan, … ; undefined for devices without IFLA_INFO_KIND (lo, physical NICs). */
  kind?: string;
}

export interface VethSpec extends LinkSettings {
  /** The other end, created directly in `netns` (a path or an open netns fd). */
  peer: LinkSettings & { netns: string | number };
}

export interface RouteSpec {
  /** "default" or a prefix (a.b.c.d/len, or an IPv6 one). */
  destination: string;
  /** Of a default route: the IPv4 one unless a gateway or this says otherwise. */
  family?: IpFamily;
  /** unicast (the default) goes out of ifindex; unreachable answers ICMP host unreachable and needs no device. */
  type?: RouteType;
  ifindex?: number;
  gateway?: string;
  /** Treat the gateway as directly reachable on ifindex even with no subnet covering it. */
  onlink?: boolean;
  table?: number;
  /** rtm_protocol: who installed the route, so an owner can find its own (default 3, boot). */
  protocol?: number;
}

export type RouteType = 'unicast' | 'unreachable';

export interface RouteEntry {
  /** "default", or the prefix. */
  destination: string;
  /** unicast, unreachable, or another kind the kernel names (local, blackhole, …). */
  type: string;
  ifindex?: number;
  gateway?: string;
  protocol: number;
}

export interface Neighbour {
  ifindex: number;
  ip: string;
  mac?: string;
  permanent: boolean;
}

function requireInterfaceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !/^[^\s/:]{1,15}$/.test(name)) {
    throw new TypeError(`interface name ${JSON.stringify(name)} must be 1-15 characters without spaces, '/' or ':'`);
  }
}

function requireIndex(ifindex: unknown): asserts ifindex is number {
  if (typeof ifindex !== 'number' || !Number.isInteger(ifindex) || ifindex <= 0) {
    throw new TypeError('ifindex must be a positive integer');
  }
}

function toLink(message: rt.LinkMessage): Link {
  const kind = message.attrs.linkinfo ? ifla.parseInfo(message.attrs.linkinfo).kind : undefined;
  return {
    index: message.data.index ?? 0,
    name: message.attrs.ifname ?? '',
    mac: message.attrs.address ? macFromBytes(message.attrs.address) : '',
    mtu: message.attrs.mtu ?? 0,
    up: message.data.flags?.up === true,
    ...(kind !== undefined ? { kind } : {}),
  };
}

function routeMessage(spec: RouteSpec): { data: rt.Route; attrs: rt.RouteAttrs } {
  const unreachable = spec.type === 'unreachable';
  if (!unreachable) requireIndex(spec.ifindex);
  const isDefault = spec.destination === 'default';
  const family = isDefault ? spec.family ?? (spec.gateway ? familyOf(spec.gateway) : 'ipv4') : familyOf(spec.destination);
  const prefix = isDefault ? { address: '', prefixLength: 0 } : parseIpPrefix(spec.destination);
  const gateway = spec.gateway !== undefined ? ipToBytes(spec.gateway) : undefined;
  if (gateway && familyOf(spec.gateway as string) !== family) throw new TypeError(`route ${spec.destination}: gateway ${spec.gateway} is of the other family`);
  const table = spec.table ?? MAIN_TABLE;
  return {
    data: {
      family: ADDRESS_FAMILY[family],
      dstLen: prefix.prefixLength,
      table: table < 256 ? table : 0,
      protocol: spec.protocol ?? 3,
      scope: gateway || unreachable ? 'UNIVERSE' : 'LINK',
      type: unreachable ? 'UNREACHABLE' : 'UNICAST',
      flags: spec.onlink ? { __unknown: RTNH_F_ONLINK } : {},
    },
    attrs: {
      ...(isDefault ? {} : { dst: ipToBytes(prefix.address) }),
      ...(spec.ifindex !== undefined ? { oif: spec.ifindex } : {}),
      ...(gateway ? { gateway } : {}),
      table,
    },
  };
}

/** One rtnetlink socket, bound to the namespace it was opened in. */
export class Rtnl {
  #socket: RtNetlinkSocket;

  private constructor(socket: RtNetlinkSocket) {
    this.#socket = socket;
    // A socket error (ENOBUFS: replies overflowed the receive buffer) would otherwise be
    // thrown as an unheard 'error' event and take the process down; the requests whose
    // replies it lost time out and fail on their own.
    (socket as unknown as NodeJS.EventEmitter).on('error', () => undefined);
  }

  /**
   * Opens a socket in this namespace, or in `netns` (a path or fd): the socket is
   * created inside it, so every request made through it acts there.
   */
  static open(netns?: string | number): Rtnl {
    const create = (): RtNetlinkSocket => createRtNetlink();
    return new Rtnl(netns === undefined ? create() : withNetns(netns, create));
  }

  close(): void {
    this.#socket.socket.close();
  }

  async links(): Promise<Link[]> {
    const messages = await this.#request('RTM_GETLINK', (options) => this.#socket.getLinks(undefined, undefined, options));
    return messages.map(toLink);
  }

  /** The link called `name`, or undefined when there is none. */
  async link(name: string): Promise<Link | undefined> {
    requireInterfaceName(name);
    try {
      const [message] = await this.#request(`RTM_GETLINK ${name}`, (options) => this.#socket.getLink({}, { ifname: name }, options));
      return message ? toLink(message) : undefined;
    } catch (error) {
      if (error instanceof NetlinkError && error.errno === 'ENODEV') return undefined;
      throw error;
    }
  }

  /** Creates a veth pair with the peer born inside `spec.peer.netns`; returns this side. */
  async createVeth(spec: VethSpec): Promise<Link> {
    requireInterfaceName(spec.name);
    requireInterfaceName(spec.peer.name);
    const peerNetns = spec.peer.netns;
    const netnsFd = typeof peerNetns === 'number' ? peerNetns : fs.openSync(peerNetns, 'r');
    try {
      const attrs = { ...linkAttrs(spec), linkinfo: vethLinkInfo(spec.peer, netnsFd) };
      await this.#request(`RTM_NEWLINK veth ${spec.name}`, (options) =>
        this.#socket.newLink({}, attrs, { ...options, flags: CREATE_NEW }),
      );
    } finally {
      if (typeof peerNetns !== 'number') fs.closeSync(netnsFd);
    }
    const link = await this.link(spec.name);
    if (!link) throw new NetlinkError(`RTM_GETLINK ${spec.name}`, 'ENODEV');
    return link;
  }

  /** Creates a collect-metadata VXLAN device on `udpPort`: programs choose each packet's remote. */
  async createVxlan(settings: LinkSettings, udpPort: number): Promise<Link> {
    requireInterfaceName(settings.name);
    const attrs = { ...linkAttrs(settings), linkinfo: vxlanLinkInfo(udpPort) };
    await this.#request(`RTM_NEWLINK vxlan ${settings.name}`, (options) => this.#socket.newLink({}, attrs, { ...options, flags: CREATE_NEW }));
    const link = await this.link(settings.name);
    if (!link) throw new NetlinkError(`RTM_GETLINK ${settings.name}`, 'ENODEV');
    return link;
  }

  async setUp(ifindex: number, up = true): Promise<void> {
    requireIndex(ifindex);
    await this.#request(`RTM_SETLINK ${ifindex} ${up ? 'up' : 'down'}`, (options) =>
      this.#socket.setLink({ index: ifindex, flags: up ? { up: true } : {}, change: { up: true } }, {}, options),
    );
  }

  async setMtu(ifindex: number, mtu: number): Promise<void> {
    requireIndex(ifindex);
    await this.#request(`RTM_SETLINK ${ifindex} mtu ${mtu}`, (options) => this.#socket.setLink({ index: ifindex }, { mtu }, options));
  }

  /** Whether the link existed. Deleting one end of a veth removes both. */
  async deleteLink(ifindex: number): Promise<boolean> {
    requireIndex(ifindex);
    return this.#delete(`RTM_DELLINK ${ifindex}`, 'ENODEV', (options) => this.#socket.delLink({ index: ifindex }, {}, options));
  }

  /**
   * Adds a.b.c.d/len (or an IPv6 prefix) to a link; a bare address is a host prefix. An
   * IPv6 address is usable at once: no duplicate address detection, which would hold
   * it back for a second, and which the owner of the prefix (Twill's IPAM) makes moot.
   */
  async addAddress(ifindex: number, prefix: string): Promise<void> {
    const message = this.#addressMessage(ifindex, prefix);
    await this.#request(`RTM_NEWADDR ${prefix}`, (options) =>
      this.#socket.newAddress(message.data, message.attrs, { ...options, flags: CREATE_NEW }),
    );
  }

  async deleteAddress(ifindex: number, prefix: string): Promise<boolean> {
    const message = this.#addressMessage(ifindex, prefix);
    return this.#delete(`RTM_DELADDR ${prefix}`, 'EADDRNOTAVAIL', (options) => this.#socket.delAddress(message.data, message.attrs, options));
  }

  /** Addresses of one family (IPv4 unless asked) as address/len, of one link or all. */
  async addresses(ifindex?: number, family: IpFamily = 'ipv4'): Promise<string[]> {
    const messages = await this.#request('RTM_GETADDR', (options) => this.#socket.getAddresses({ family: ADDRESS_FAMILY[family] }, undefined, options));
    return messages
      .filter((m) => ifindex === undefined || m.data.index === ifindex)
      .filter((m) => m.attrs.local ?? m.attrs.address)
      .map((m) => `${ipFromBytes((m.attrs.local ?? m.attrs.address) as Buffer)}/${m.data.prefixlen}`);
  }

  async addRoute(spec: RouteSpec, { replace = false } = {}): Promise<void> {
    const message = routeMessage(spec);
    await this.#request(`RTM_NEWROUTE ${spec.destination}`, (options) =>
      this.#socket.newRoute(message.data, message.attrs, { ...options, flags: replace ? CREATE_OR_REPLACE : CREATE_NEW }),
    );
  }

  async deleteRoute(spec: RouteSpec): Promise<boolean> {
    const message = routeMessage(spec);
    return this.#delete(`RTM_DELROUTE ${spec.destination}`, 'ESRCH', (options) => this.#socket.delRoute(message.data, message.attrs, options));
  }

  /** Routes of the main table, of one family (IPv4 unless asked). */
  async routes(family: IpFamily = 'ipv4'): Promise<RouteEntry[]> {
    const messages = await this.#request('RTM_GETROUTE', (options) => this.#socket.getRoutes({ family: ADDRESS_FAMILY[family] }, undefined, options));
    return messages
      .filter((m) => (m.attrs.table ?? m.data.table) === MAIN_TABLE)
      .map((m) => ({
        destination: m.attrs.dst ? `${ipFromBytes(m.attrs.dst)}/${m.data.dstLen}` : 'default',
        type: (typeof m.data.type === 'number' ? rt.RouteType[m.data.type] ?? String(m.data.type) : m.data.type ?? 'UNICAST').toLowerCase(),
        ...(m.attrs.oif !== undefined ? { ifindex: m.attrs.oif } : {}),
        ...(m.attrs.gateway ? { gateway: ipFromBytes(m.attrs.gateway) } : {}),
        // The package names the protocols it knows and leaves others as numbers.
        protocol: typeof m.data.protocol === 'number' ? m.data.protocol : rt.RouteProtocol[(m.data.protocol ?? 'UNSPEC') as keyof typeof rt.RouteProtocol],
      }));
  }

  /** A permanent ARP or neighbour-discovery entry (created or replaced): ip is at mac on ifindex. */
  async addPermanentNeighbour(ifindex: number, ip: string, mac: string): Promise<void> {
    requireIndex(ifindex);
    const attrs = { dst: ipToBytes(ip), lladdr: macToBytes(mac) };
    await this.#request(`RTM_NEWNEIGH ${ip}`, (options) =>
      this.#socket.newNeighbor({ family: ADDRESS_FAMILY[familyOf(ip)], ifindex, state: { permanent: true } }, attrs, { ...options, flags: CREATE_OR_REPLACE }),
    );
  }

  async deleteNeighbour(ifindex: number, ip: string): Promise<boolean> {
    requireIndex(ifindex);
    const attrs = { dst: ipToBytes(ip) };
    return this.#delete(`RTM_DELNEIGH ${ip}`, 'ENOENT', (options) => this.#socket.delNeighbor({ family: ADDRESS_FAMILY[familyOf(ip)], ifindex }, attrs, options));
  }

  /** Neighbours of one family (IPv4 unless asked), of one link or all. */
  async neighbours(ifindex?: number, family: IpFamily = 'ipv4'): Promise<Neighbour[]> {
    const messages = await this.#request('RTM_GETNEIGH', (options) => this.#socket.getNeighbors({ family: ADDRESS_FAMILY[family] }, undefined, options));
    return messages
      .filter((m) => m.attrs.dst && (ifindex === undefined || m.data.ifindex === ifindex))
      .map((m) => ({
        ifindex: m.data.ifindex ?? 0,
        ip: ipFromBytes(m.attrs.dst as Buffer),
        ...(m.attrs.lladdr ? { mac: macFromBytes(m.attrs.lladdr) } : {}),
        permanent: m.data.state?.permanent === true,
      }));
  }

  /**
   * Runs `request` for every item with up to REQUESTS_IN_FLIGHT of them awaiting their
   * acks, instead of one round trip at a time; starts no more after the first failure,
   * and rejects with it once the outstanding ones are done.
   */
  async pipeline<T>(items: readonly T[], request: (item: T) => Promise<unknown>): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (!failure && next < items.length) {
        try {
          await request(items[next++]);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(REQUESTS_IN_FLIGHT, items.length) }, worker));
    if (failure) throw failure.error;
  }

  #addressMessage(ifindex: number, prefix: string): { data: rt.Address; attrs: rt.AddressAttrs } {
    requireIndex(ifindex);
    const { address, prefixLength, family } = parseIpPrefix(prefix);
    const bytes = ipToBytes(address);
    const flags = family === 'ipv6' ? { nodad: true as const } : {};
    return { data: { family: ADDRESS_FAMILY[family], prefixlen: prefixLength, index: ifindex, flags }, attrs: { local: bytes, address: bytes, flags } };
  }

  async #request<T>(op: string, send: (options: { timeout: number }) => Promise<T>): Promise<T> {
    try {
      return await send({ timeout: REQUEST_TIMEOUT_MS });
    } catch (error) {
      throw toNetlinkError(op, error);
    }
  }

  /** Sends a delete; the errno that means "it was not there" gives false rather than an error. */
  async #delete(op: string, absentErrno: string, send: (options: { timeout: number }) => Promise<unknown>): Promise<boolean> {
    try {
      await this.#request(op, send);
      return true;
    } catch (error) {
      if (error instanceof NetlinkError && error.errno === absentErrno) return false;
      throw error;
    }
  }
}
