// IPv4, IPv6 and MAC address text <-> bytes, validated, for netlink attributes and BPF map keys.

export interface Ipv4Prefix {
  /** The address as written (host bits kept: 10.0.0.5/24 stays 10.0.0.5). */
  address: string;
  prefixLength: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i;

export function isIpv4(text: string): boolean {
  const match = IPV4.exec(text);
  return match !== null && match.slice(1).every((octet) => Number(octet) <= 255 && (octet === '0' || !octet.startsWith('0')));
}

/** 4 bytes in network order. */
export function ipv4ToBytes(text: string): Buffer {
  if (!isIpv4(text)) throw new TypeError(`${JSON.stringify(text)} is not an IPv4 address`);
  return Buffer.from(text.split('.').map(Number));
}

/** The address as an unsigned 32-bit number, for ranges and ordering (no Buffer: node sync calls it per node). */
export function ipv4ToNumber(text: string): number {
  if (!isIpv4(text)) throw new TypeError(`${JSON.stringify(text)} is not an IPv4 address`);
  return text.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

/** The address of an unsigned 32-bit number. */
export function ipv4FromNumber(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

export function ipv4FromBytes(bytes: Buffer): string {
  if (bytes.length !== 4) throw new TypeError('an IPv4 address is 4 bytes');
  return Array.from(bytes).join('.');
}

/** Parses "a.b.c.d/len"; a bare address is a /32. */
export function parseIpv4Prefix(text: string): Ipv4Prefix {
  const [address, length, ...rest] = text.split('/');
  const prefixLength = length === undefined ? 32 : Number(length);
  if (rest.length > 0 || !isIpv4(address) || !/^\d{1,2}$/.test(length ?? '32') || prefixLength > 32) {
    throw new TypeError(`${JSON.stringify(text)} is not an IPv4 prefix (a.b.c.d/len)`);
  }
  return { address, prefixLength };
}

/** 16 bytes in network order. Hex groups and `::` (no dotted IPv4 tail, which no pod or node address needs). */
export function ipv6ToBytes(text: string): Buffer {
  const halves = text.split('::');
  const groups = (half: string | undefined): string[] => (half ? half.split(':') : []);
  const [head, tail] = [groups(halves[0]), groups(halves[1])];
  const missing = 8 - head.length - tail.length;
  const valid = halves.length <= 2 && (halves.length === 2 ? missing >= 1 : missing === 0) && [...head, ...tail].every((group) => /^[0-9a-f]{1,4}$/i.test(group));
  if (!valid) throw new TypeError(`${JSON.stringify(text)} is not an IPv6 address`);
  const bytes = Buffer.alloc(16);
  [...head, ...Array<string>(missing).fill('0'), ...tail].forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), 2 * i));
  return bytes;
}

export function isIpv6(text: string): boolean {
  try {
    ipv6ToBytes(text);
    return true;
  } catch {
    return false;
  }
}

/** The address in its canonical text (RFC 5952): lower case, the longest run of two or more zero groups as `::`. */
export function ipv6FromBytes(bytes: Buffer): string {
  if (bytes.length !== 16) throw new TypeError('an IPv6 address is 16 bytes');
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i));
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
  }
  const hex = (part: number[]): string => part.map((group) => group.toString(16)).join(':');
  if (best.start < 0) return hex(groups);
  return `${hex(groups.slice(0, best.start))}::${hex(groups.slice(best.start + best.length))}`;
}

/** The address as an unsigned 128-bit number, for ranges. */
export function ipv6ToBigInt(text: string): bigint {
  return BigInt(`0x${ipv6ToBytes(text).toString('hex')}`);
}

/** An unsigned 128-bit number as the 16 bytes of an IPv6 address, in network order. */
export function ipv6BytesFromBigInt(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(32, '0'), 'hex');
}

export function ipv6FromBigInt(value: bigint): string {
  return ipv6FromBytes(ipv6BytesFromBigInt(value));
}

/** Parses "address/len" of either family; a bare address is a host prefix. Both families' prefixes have this shape. */
export function parseIpPrefix(text: string): Ipv4Prefix & { family: 'ipv4' | 'ipv6' } {
  if (!text.includes(':')) return { ...parseIpv4Prefix(text), family: 'ipv4' };
  const [address, length, ...rest] = text.split('/');
  const prefixLength = length === undefined ? 128 : Number(length);
  if (rest.length > 0 || !isIpv6(address) || !/^\d{1,3}$/.test(length ?? '128') || prefixLength > 128) {
    throw new TypeError(`${JSON.stringify(text)} is not an IPv6 prefix (such as fd00:10:244:1::/64)`);
  }
  return { address, prefixLength, family: 'ipv6' };
}

export type IpFamily = 'ipv4' | 'ipv6';

/** The family of an address or prefix as written: IPv6 has colons. */
export const familyOf = (text: string): IpFamily => (text.includes(':') ? 'ipv6' : 'ipv4');

/** An address of either family in network order: 4 or 16 bytes. */
export const ipToBytes = (text: string): Buffer => (familyOf(text) === 'ipv6' ? ipv6ToBytes(text) : ipv4ToBytes(text));

/** An address of either family as an unsigned number (32 or 128 bits). */
export const ipToBigInt = (text: string): bigint => BigInt(`0x${ipToBytes(text).toString('hex')}`);

/** The address of 4 or 16 bytes. */
export const ipFromBytes = (bytes: Buffer): string => (bytes.length === 16 ? ipv6FromBytes(bytes) : ipv4FromBytes(bytes));

/** One CIDR (or address) of each family a node or cluster has (at least one). */
export type CidrsByFamily = Partial<Record<IpFamily, string>>;
export type AddressesByFamily = CidrsByFamily;

/** Splits "a,b" into at most one of each family, each checked by `check`; `things` names them in an error. */
function oneOfEachFamily(text: string, things: string, check: (part: string) => IpFamily): CidrsByFamily {
  const parts: CidrsByFamily = {};
  for (const part of text.split(',').map((item) => item.trim())) {
    const family = check(part);
    if (parts[family]) throw new TypeError(`${JSON.stringify(text)} has two ${family === 'ipv4' ? 'IPv4' : 'IPv6'} ${things}: give one of each family`);
    parts[family] = part;
  }
  return parts;
}

/**
 * Parses one CIDR, or two of different families separated by a comma, as Kubernetes
 * writes a dual-stack --cluster-cidr (10.244.0.0/16,fd00:10:244::/56).
 */
export function cidrsByFamily(text: string): CidrsByFamily {
  return oneOfEachFamily(text, 'CIDRs', (cidr) => {
    if (!cidr.includes('/')) throw new TypeError(`${JSON.stringify(cidr)} has no prefix length`);
    return parseIpPrefix(cidr).family;
  });
}

/** Parses one address, or two of different families separated by a comma, as kubelet's --node-ip takes them. */
export function addressesByFamily(text: string): AddressesByFamily {
  return oneOfEachFamily(text, 'addresses', (address) => {
    if (isIpv4(address)) return 'ipv4';
    if (isIpv6(address)) return 'ipv6';
    throw new TypeError(`${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
  });
}

/** A host's prefix length in its family: /32 or /128. */
export const hostPrefixLength = (ip: string): number => (familyOf(ip) === 'ipv6' ? 128 : 32);

export function macToBytes(text: string): Buffer {
  const match = MAC.exec(text);
  if (!match) throw new TypeError(`${JSON.stringify(text)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Buffer.from(match.slice(1).map((octet) => parseInt(octet, 16)));
}

export function macFromBytes(bytes: Buffer): string {
  return Array.from(bytes, (octet) => octet.toString(16).padStart(2, '0')).join(':');
}
