// Hand-built frames for BPF_PROG_TEST_RUN tables.
import { ipv4ToBytes } from '../../bpf/netlink';

const SOURCE_MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x01]);
const DESTINATION_MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x02]);

export function ethernetFrame(etherType: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(14);
  DESTINATION_MAC.copy(header, 0);
  SOURCE_MAC.copy(header, 6);
  header.writeUInt16BE(etherType, 12);
  return Buffer.concat([header, payload]);
}

/** The one's-complement sum over a header that holds its checksum is 0xffff when it is right. */
export function ipv4ChecksumValid(frame: Buffer): boolean {
  const header = frame.subarray(14, 14 + (frame[14] & 0x0f) * 4);
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

export interface Ipv4Options {
  payloadLength?: number;
  /** The IHL: above 5 it claims option bytes the frame may not carry. */
  headerWords?: number;
  ttl?: number;
  protocol?: number;
}

/** An Ethernet + IPv4 + UDP frame from source to destination, with a correct header checksum. */
export function ipv4Packet(source: string, destination: string, options: Ipv4Options = {}): Buffer {
  const { payloadLength = 18, headerWords = 5, ttl = 64, protocol = 17 } = options;
  const ip = Buffer.alloc(20 + 8 + payloadLength);
  ip[0] = 0x40 | headerWords;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = ttl;
  ip[9] = protocol;
  ipv4ToBytes(source).copy(ip, 12);
  ipv4ToBytes(destination).copy(ip, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  ip.writeUInt16BE(40000, 20);
  ip.writeUInt16BE(8080, 22);
  ip.writeUInt16BE(8 + payloadLength, 24);
  return ethernetFrame(0x0800, ip);
}
