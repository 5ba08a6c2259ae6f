// Hand-built frames: rows of BPF_PROG_TEST_RUN tables, and forged traffic that
// raw-frames.ts puts on a real wire. Builders of a layer return that layer's bytes;
// ethernetFrame, arpFrame, ipv4Frame, ipv6Frame and the neighbour-discovery builders
// return complete frames. Every checksum comes from internetChecksum.
import { ipv4ToBytes, ipv6ToBytes, isIpv4, macFromBytes, macToBytes } from '../../agent/netlink';

const SOURCE_MAC = '02:00:00:00:00:01';
const DESTINATION_MAC = '02:00:00:00:00:02';
const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
const ALL_NODES = 'ff02::1';

/** The 16-bit one's-complement sum (RFC 1071), an odd last byte padded with zero. */
function onesComplementSum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum of IPv4 headers, ICMP, UDP and TCP: the complemented sum over `parts`, each of even length but the last. */
function internetChecksum(...parts: Buffer[]): number {
  return ~onesComplementSum(Buffer.concat(parts)) & 0xffff;
}

/** What UDP, TCP and ICMPv6 checksums cover besides the segment itself (RFC 768; RFC 8200 section 8.1). */
function pseudoHeader(source: string, destination: string, protocol: number, length: number): Buffer {
  if (isIpv4(source)) {
    const header = Buffer.alloc(12);
    ipv4ToBytes(source).copy(header, 0);
    ipv4ToBytes(destination).copy(header, 4);
    header[9] = protocol;
    header.writeUInt16BE(length, 10);
    return header;
  }
  const header = Buffer.alloc(40);
  ipv6ToBytes(source).copy(header, 0);
  ipv6ToBytes(destination).copy(header, 16);
  header.writeUInt32BE(length, 32);
  header[39] = protocol;
  return header;
}

export interface EthernetAddresses {
  /** aa:bb:cc:dd:ee:ff; 02:00:00:00:00:01 when not given. */
  sourceMac?: string;
  /** 02:00:00:00:00:02 when not given. */
  destinationMac?: string;
}

export function ethernetFrame(etherType: number, payload: Buffer, { sourceMac = SOURCE_MAC, destinationMac = DESTINATION_MAC }: EthernetAddresses = {}): Buffer {
  const header = Buffer.alloc(14);
  macToBytes(destinationMac).copy(header, 0);
  macToBytes(sourceMac).copy(header, 6);
  header.writeUInt16BE(etherType, 12);
  return Buffer.concat([header, payload]);
}

/** The one's-complement sum over a header that holds its checksum is 0xffff when it is right; a header cut short is not. */
export function ipv4ChecksumValid(frame: Buffer): boolean {
  const length = (frame[14] & 0x0f) * 4;
  const header = frame.subarray(14, 14 + length);
  return header.length === length && onesComplementSum(header) === 0xffff;
}

export interface ArpFields extends EthernetAddresses {
  op: 'request' | 'reply';
  senderMac: string;
  senderIp: string;
  /** Unknown to a request, so 00:00:00:00:00:00 when not given. */
  targetMac?: string;
  /** senderIp itself in a gratuitous ARP, which announces where the sender's address lives. */
  targetIp: string;
}

/**
 * An ARP packet for IPv4 over Ethernet (RFC 826). The frame comes from senderMac and
 * goes to broadcast (a request) or targetMac (a reply) unless sourceMac or
 * destinationMac say otherwise, as a forger may.
 */
export function arpFrame(fields: ArpFields): Buffer {
  const { op, senderMac, senderIp, targetMac = '00:00:00:00:00:00', targetIp } = fields;
  const arp = Buffer.alloc(28);
  arp.writeUInt16BE(1, 0); // hardware: Ethernet
  arp.writeUInt16BE(0x0800, 2);
  arp[4] = 6;
  arp[5] = 4;
  arp.writeUInt16BE(op === 'request' ? 1 : 2, 6);
  macToBytes(senderMac).copy(arp, 8);
  ipv4ToBytes(senderIp).copy(arp, 14);
  macToBytes(targetMac).copy(arp, 18);
  ipv4ToBytes(targetIp).copy(arp, 24);
  const { sourceMac = senderMac, destinationMac = op === 'request' ? BROADCAST_MAC : targetMac } = fields;
  return ethernetFrame(0x0806, arp, { sourceMac, destinationMac });
}

export interface Ipv4Fields extends EthernetAddresses {
  source: string;
  destination: string;
  /** 1 ICMP, 6 TCP, 17 UDP. */
  protocol: number;
  payload: Buffer;
  ttl?: number;
  id?: number;
  /** The flags-and-fragment-offset word: 0x4000 don't fragment, 0x2000 more fragments, the low 13 bits the offset. */
  fragment?: number;
  /** Option bytes, padded with zeros (end of options) to whole words; at most 40. */
  ipOptions?: Buffer;
  /** Damage, for tests of what receivers drop: a header checksum one off the right one. */
  badChecksum?: boolean;
  /** Damage: a version other than 4. */
  version?: number;
  /** Damage: a total length other than the real one; one larger than the frame makes a truncated packet. */
  totalLength?: number;
}

/** An Ethernet + IPv4 frame around `payload`, with a correct header checksum unless told otherwise. */
export function ipv4Frame(fields: Ipv4Fields): Buffer {
  const { source, destination, protocol, payload, ttl = 64, id = 0, fragment = 0, ipOptions = Buffer.alloc(0), version = 4, badChecksum = false } = fields;
  if (ipOptions.length > 40) throw new RangeError('IPv4 options are at most 40 bytes');
  const header = Buffer.alloc(20 + Math.ceil(ipOptions.length / 4) * 4);
  header[0] = (version << 4) | (header.length / 4);
  header.writeUInt16BE(fields.totalLength ?? header.length + payload.length, 2);
  header.writeUInt16BE(id, 4);
  header.writeUInt16BE(fragment, 6);
  header[8] = ttl;
  header[9] = protocol;
  ipv4ToBytes(source).copy(header, 12);
  ipv4ToBytes(destination).copy(header, 16);
  ipOptions.copy(header, 20);
  // One off rather than complemented: 0x0000 and 0xffff both mean zero in one's complement,
  // so the complement of a right 0x0000 would still verify.
  header.writeUInt16BE(internetChecksum(header) ^ (badChecksum ? 1 : 0), 10);
  return ethernetFrame(0x0800, Buffer.concat([header, payload]), fields);
}

export interface Ipv4Options {
  payloadLength?: number;
  /** The IHL: above 5 it claims option bytes the frame may not carry. */
  headerWords?: number;
  ttl?: number;
  protocol?: number;
  /** The flags-and-fragment-offset word: 0x2000 is more fragments, the low 13 bits the offset. */
  fragment?: number;
}

/** An Ethernet + IPv4 + UDP frame from source to destination, with a correct header checksum. */
export function ipv4Packet(source: string, destination: string, options: Ipv4Options = {}): Buffer {
  const { payloadLength = 18, headerWords = 5, ttl = 64, protocol = 17, fragment = 0 } = options;
  const ip = Buffer.alloc(20 + 8 + payloadLength);
  ip[0] = 0x40 | headerWords;
  ip.writeUInt16BE(ip.length, 2);
  ip.writeUInt16BE(fragment, 6);
  ip[8] = ttl;
  ip[9] = protocol;
  ipv4ToBytes(source).copy(ip, 12);
  ipv4ToBytes(destination).copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip.subarray(0, 20)), 10);
  ip.writeUInt16BE(40000, 20);
  ip.writeUInt16BE(8080, 22);
  ip.writeUInt16BE(8 + payloadLength, 24);
  return ethernetFrame(0x0800, ip);
}

/** Both ends of a UDP or TCP flow; IPv4 or IPv6 addresses pick the pseudo-header. */
export interface Flow {
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
}

function ports(flow: Flow, header: Buffer): Buffer {
  header.writeUInt16BE(flow.sourcePort, 0);
  header.writeUInt16BE(flow.destinationPort, 2);
  return header;
}

/** A UDP header and `payload`, checksummed, for ipv4Frame or ipv6Frame with protocol 17. */
export function udpDatagram(flow: Flow, payload: Buffer): Buffer {
  const udp = ports(flow, Buffer.alloc(8));
  udp.writeUInt16BE(8 + payload.length, 4);
  // A checksum of 0 means "none" in UDP, so a computed 0 goes out as 0xffff (RFC 768).
  udp.writeUInt16BE(internetChecksum(pseudoHeader(flow.source, flow.destination, 17, udp.length + payload.length), udp, payload) || 0xffff, 6);
  return Buffer.concat([udp, payload]);
}

/** A TCP SYN without options, checksummed, for ipv4Frame or ipv6Frame with protocol 6. */
export function tcpSyn(flow: Flow, sequence = 1): Buffer {
  const tcp = ports(flow, Buffer.alloc(20));
  tcp.writeUInt32BE(sequence, 4);
  tcp[12] = 5 << 4; // data offset: the 5-word header alone
  tcp[13] = 0x02;
  tcp.writeUInt16BE(64240, 14);
  tcp.writeUInt16BE(internetChecksum(pseudoHeader(flow.source, flow.destination, 6, tcp.length), tcp), 16);
  return tcp;
}

/** An ICMP or ICMPv6 message: type, code, checksum, then `body`; ICMPv6 also sums the pseudo-header. */
function icmpMessage(type: number, code: number, body: Buffer, pseudo: Buffer = Buffer.alloc(0)): Buffer {
  const message = Buffer.concat([Buffer.from([type, code, 0, 0]), body]);
  message.writeUInt16BE(internetChecksum(pseudo, message), 2);
  return message;
}

/** An ICMP echo request, for ipv4Frame with protocol 1. */
export function icmpEchoRequest(identifier: number, sequence: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt16BE(identifier, 0);
  body.writeUInt16BE(sequence, 2);
  return icmpMessage(8, 0, Buffer.concat([body, data]));
}

/**
 * An ICMP Redirect (RFC 792), for ipv4Frame with protocol 1: "send traffic like
 * `original` (an IPv4 packet without Ethernet header) through `gateway`". Code 1
 * redirects the one host. Like a router, it quotes only the header and 8 bytes.
 */
export function icmpRedirect(gateway: string, original: Buffer, code = 1): Buffer {
  const quoted = original.subarray(0, (original[0] & 0x0f) * 4 + 8);
  return icmpMessage(5, code, Buffer.concat([ipv4ToBytes(gateway), quoted]));
}

export interface Ipv6Fields extends EthernetAddresses {
  source: string;
  destination: string;
  /** 6 TCP, 17 UDP, 58 ICMPv6. */
  nextHeader: number;
  payload: Buffer;
  hopLimit?: number;
}

/** An Ethernet + IPv6 frame; a multicast destination goes to its 33:33:xx:xx:xx:xx MAC (RFC 2464) unless destinationMac is given. */
export function ipv6Frame(fields: Ipv6Fields): Buffer {
  const { source, destination, nextHeader, payload, hopLimit = 64 } = fields;
  const header = Buffer.alloc(40);
  header[0] = 0x60;
  header.writeUInt16BE(payload.length, 4);
  header[6] = nextHeader;
  header[7] = hopLimit;
  ipv6ToBytes(source).copy(header, 8);
  const to = ipv6ToBytes(destination);
  to.copy(header, 24);
  const multicastMac = to[0] === 0xff ? macFromBytes(Buffer.concat([Buffer.from([0x33, 0x33]), to.subarray(12)])) : undefined;
  return ethernetFrame(0x86dd, Buffer.concat([header, payload]), { sourceMac: fields.sourceMac, destinationMac: fields.destinationMac ?? multicastMac });
}

export interface NdpAddresses extends EthernetAddresses {
  /** Link-local: receivers ignore neighbour discovery from any other source (RFC 4861). */
  source: string;
  /** ff02::1, all nodes, when not given. */
  destination?: string;
}

/** A link-layer address option: 1 source, 2 target. */
function linkLayerOption(type: 1 | 2, mac: string): Buffer {
  return Buffer.concat([Buffer.from([type, 1]), macToBytes(mac)]);
}

/**
 * An ICMPv6 neighbour-discovery message in a complete frame with hop limit 255, which
 * receivers require as proof that no router forwarded it (RFC 4861).
 */
function ndpFrame(addresses: NdpAddresses, type: number, body: Buffer): Buffer {
  const { source, destination = ALL_NODES } = addresses;
  const payload = icmpMessage(type, 0, body, pseudoHeader(source, destination, 58, 4 + body.length));
  return ipv6Frame({ ...addresses, destination, nextHeader: 58, payload, hopLimit: 255 });
}

export interface PrefixInformation {
  /** Like 2001:db8:bad::/64; /64 when no length is given. */
  prefix: string;
  /** Receivers treat addresses in the prefix as on the link: a route to it via the interface. */
  onLink?: boolean;
  /** Receivers make themselves an address in it (SLAAC). */
  autonomous?: boolean;
  /** Seconds. */
  validLifetime?: number;
  preferredLifetime?: number;
}

function prefixOption({ prefix, onLink = true, autonomous = true, validLifetime = 86400, preferredLifetime = 14400 }: PrefixInformation): Buffer {
  const [address, length = '64'] = prefix.split('/');
  const option = Buffer.alloc(32);
  option[0] = 3;
  option[1] = 4; // in 8-byte units
  option[2] = Number(length);
  option[3] = (onLink ? 0x80 : 0) | (autonomous ? 0x40 : 0);
  option.writeUInt32BE(validLifetime, 4);
  option.writeUInt32BE(preferredLifetime, 8);
  ipv6ToBytes(address).copy(option, 16);
  return option;
}

export interface RouterAdvertisementFields extends NdpAddresses {
  /** Seconds receivers keep the sender as a default router; 0 says it is not one. 1800 when not given. */
  routerLifetime?: number;
  prefix?: PrefixInformation;
}

/** A Router Advertisement (type 134) with a source link-layer address option (sourceMac) and an optional prefix. */
export function routerAdvertisement(fields: RouterAdvertisementFields): Buffer {
  const { routerLifetime = 1800, prefix, sourceMac = SOURCE_MAC } = fields;
  const header = Buffer.alloc(12); // reachable time and retransmission timer stay 0, unspecified
  header[0] = 64; // the hop limit receivers should use
  header.writeUInt16BE(routerLifetime, 2);
  return ndpFrame(fields, 134, Buffer.concat([header, ...(prefix ? [prefixOption(prefix)] : []), linkLayerOption(1, sourceMac)]));
}

export interface NeighbourSolicitationFields extends NdpAddresses {
  /** The address whose owner should answer; the frame goes to its solicited-node group unless destination is given. */
  target: string;
}

/** A Neighbour Solicitation (type 135) from a configured address (not a DAD probe), with a source link-layer address option. */
export function neighbourSolicitation(fields: NeighbourSolicitationFields): Buffer {
  const target = ipv6ToBytes(fields.target);
  const destination = fields.destination ?? `ff02::1:ff${target.toString('hex', 13, 14)}:${target.toString('hex', 14, 16)}`;
  const body = Buffer.concat([Buffer.alloc(4), target, linkLayerOption(1, fields.sourceMac ?? SOURCE_MAC)]);
  return ndpFrame({ ...fields, destination }, 135, body);
}

export interface Icmpv6RedirectFields extends NdpAddresses {
  /** The better first hop. */
  target: string;
  /** Where the traffic being redirected goes. */
  redirected: string;
  /** Adds a target link-layer address option. */
  targetMac?: string;
}

/** A Redirect (type 137): "reach `redirected` through `target`". */
export function icmpv6Redirect(fields: Icmpv6RedirectFields): Buffer {
  const options = fields.targetMac ? [linkLayerOption(2, fields.targetMac)] : [];
  return ndpFrame(fields, 137, Buffer.concat([Buffer.alloc(4), ipv6ToBytes(fields.target), ipv6ToBytes(fields.redirected), ...options]));
}

export interface VxlanOptions {
  port?: number;
  vni?: number;
  /** The VXLAN flags byte; 0x08 (the VNI is valid) alone is what a VXLAN device sends. */
  flags?: number;
  /** IPv4 only: the outer header's fragment field. */
  fragment?: number;
  /** IPv6 only: the UDP checksum, 0 (none) as Twill's nodes send it unless given. */
  udpChecksum?: number;
}

/** `inner`, an Ethernet frame, in VXLAN over UDP from node `source` to node `destination`, over IPv4 or IPv6 as the addresses are. */
export function vxlanPacket(source: string, destination: string, inner: Buffer, options: VxlanOptions = {}): Buffer {
  const { port = 8472, vni = 1, flags = 0x08, fragment = 0, udpChecksum = 0 } = options;
  if (source.includes(':')) {
    const headers = Buffer.alloc(16);
    headers.writeUInt16BE(49152, 0);
    headers.writeUInt16BE(port, 2);
    headers.writeUInt16BE(headers.length + inner.length, 4);
    headers.writeUInt16BE(udpChecksum, 6);
    headers[8] = flags;
    headers.writeUIntBE(vni, 12, 3);
    return ipv6Frame({ source, destination, nextHeader: 17, payload: Buffer.concat([headers, inner]) });
  }
  const frame = ipv4Packet(source, destination, { payloadLength: 8 + inner.length, fragment });
  const udp = 14 + 20;
  frame.writeUInt16BE(port, udp + 2);
  frame[udp + 8] = flags;
  frame.writeUIntBE(vni, udp + 12, 3);
  inner.copy(frame, udp + 16);
  return frame;
}
