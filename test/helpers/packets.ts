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
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  ip.writeUInt16BE(40000, 20);
  ip.writeUInt16BE(8080, 22);
  ip.writeUInt16BE(8 + payloadLength, 24);
  return ethernetFrame(0x0800, ip);
}

export interface VxlanOptions {
  port?: number;
  vni?: number;
  /** The VXLAN flags byte; 0x08 (the VNI is valid) alone is what a VXLAN device sends. */
  flags?: number;
  fragment?: number;
}

/** `inner`, an Ethernet frame, in VXLAN over UDP from node `source` to node `destination`. */
export function vxlanPacket(source: string, destination: string, inner: Buffer, options: VxlanOptions = {}): Buffer {
  const { port = 8472, vni = 1, flags = 0x08, fragment = 0 } = options;
  const frame = ipv4Packet(source, destination, { payloadLength: 8 + inner.length, fragment });
  const udp = 14 + 20;
  frame.writeUInt16BE(port, udp + 2);
  frame[udp + 8] = flags;
  frame.writeUIntBE(vni, udp + 12, 3);
  inner.copy(frame, udp + 16);
  return frame;
}
