// Twill's rtnetlink layer: typed requests over the pinned `netlink` package, with
// sockets opened inside the namespace they act on. No shelling out to `ip`.
//
//   Rtnl          lib/rtnl.ts    links, veth pairs, addresses, routes, neighbours
//   NetlinkError  lib/errors.ts  { op, errno } for every kernel refusal
//   addresses     lib/addr.ts    IPv4 / prefix / MAC parsing and formatting
//   hardenHostVeth lib/host-veth-settings.ts  the sysctls that keep a pod from reconfiguring its node
export { Rtnl, type Link, type Neighbour, type RouteEntry, type RouteSpec, type VethSpec } from './lib/rtnl';
export { NetlinkError } from './lib/errors';
export type { LinkSettings } from './lib/linkinfo';
export { ipv4FromBytes, ipv4FromNumber, ipv4ToBytes, ipv4ToNumber, ipv6FromBytes, ipv6ToBytes, isIpv4, isIpv6, macFromBytes, macToBytes, parseIpPrefix, parseIpv4Prefix, type Ipv4Prefix } from '../../bpf/addresses';
export { PROC_SYS_NET, hardenHostVeth } from './lib/host-veth-settings';
