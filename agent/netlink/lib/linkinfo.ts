// IFLA_LINKINFO attributes for the devices Twill creates: a veth pair whose peer is
// created straight inside another namespace, and a collect-metadata VXLAN device. The
// pinned `netlink` package types IFLA_LINKINFO as raw bytes, so the nesting is
// assembled here from the package's own encoders.
import { AttrStream, ifla, rt, type StreamData } from 'netlink';

import { macToBytes } from '../../../bpf/addresses';

export interface LinkSettings {
  name: string;
  /** aa:bb:cc:dd:ee:ff; the kernel picks a random one when absent. */
  mac?: string;
  mtu?: number;
}

function toBuffer(data: StreamData): Buffer {
  const stream = new AttrStream();
  stream.emit(data);
  return Buffer.concat(stream.bufs);
}

export function linkAttrs(settings: LinkSettings, netnsFd?: number): ifla.LinkAttrs {
  return {
    ifname: settings.name,
    ...(settings.mac !== undefined ? { address: macToBytes(settings.mac) } : {}),
    ...(settings.mtu !== undefined ? { mtu: settings.mtu } : {}),
    ...(netnsFd !== undefined ? { netNsFd: netnsFd } : {}),
  };
}

/** IFLA_LINKINFO { kind "veth", data { VETH_INFO_PEER: ifinfomsg + peer attributes } }. */
export function vethLinkInfo(peer: LinkSettings, peerNetnsFd: number): Buffer {
  const peerMessage = Buffer.concat([rt.formatLink({}), toBuffer(ifla.formatLinkAttrs(linkAttrs(peer, peerNetnsFd)))]);
  const data = toBuffer(ifla.formatVethInfo({ peer: peerMessage }));
  return toBuffer(ifla.formatInfo({ kind: 'veth', data }));
}

/**
 * IFLA_LINKINFO { kind "vxlan", data { collect metadata, UDP port, no learning, zero UDP
 * checksums taken over IPv6 } }: Twill's nodes send VXLAN over IPv6 without a UDP
 * checksum, as over IPv4 (RFC 6935 allows it for tunnels), and the device otherwise
 * drops it.
 */
export function vxlanLinkInfo(udpPort: number): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(udpPort);
  const data = toBuffer(ifla.formatVxlan({ collectMetadata: 1, port, learning: 0, udpZeroCsum6Rx: 1 }));
  return toBuffer(ifla.formatInfo({ kind: 'vxlan', data }));
}
