// IPv4 and MAC address text <-> bytes, validated, for netlink attributes and BPF map keys.

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

export function macToBytes(text: string): Buffer {
  const match = MAC.exec(text);
  if (!match) throw new TypeError(`${JSON.stringify(text)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Buffer.from(match.slice(1).map((octet) => parseInt(octet, 16)));
}

export function macFromBytes(bytes: Buffer): string {
  return Array.from(bytes, (octet) => octet.toString(16).padStart(2, '0')).join(':');
}
