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

/**
 * An Ethernet + IPv4 + UDP frame from source to destination (checksum left 0).
 * `headerWords` is the IHL: above 5 it claims option bytes the frame may not carry.
 */
export function ipv4Packet(source: string, destination: string, payloadLength = 18, headerWords = 5): Buffer {
  const ip = Buffer.alloc(20 + 8 + payloadLength);
  ip[0] = 0x40 | headerWords;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = 64; // TTL
  ip[9] = 17; // UDP
  ipv4ToBytes(source).copy(ip, 12);
  ipv4ToBytes(destination).copy(ip, 16);
  ip.writeUInt16BE(40000, 20);
  ip.writeUInt16BE(8080, 22);
  ip.writeUInt16BE(8 + payloadLength, 24);
  return ethernetFrame(0x0800, ip);
}
