// Names and addresses derived from the attachment, so DEL, CHECK and GC find what ADD
// made without any other record.
import { ipv4ToBytes, macFromBytes } from '../../bpf/netlink';
import type { Attachment } from './config';
import { sha256Hex } from './sha256';

/** tw + 11 hex digits of sha256(containerID/ifname): unique per attachment, 13 characters. */
export function hostVethName(attachment: Attachment): string {
  return `tw${sha256Hex(`${attachment.containerID}/${attachment.ifname}`).slice(0, 11)}`;
}

/** Host veths are named tw + 11 hex digits; anything else on the node is not ours. */
export const HOST_VETH_NAME = /^tw[0-9a-f]{11}$/;

/** A locally administered unicast MAC that carries the pod's IPv4 address: 02:74:a.b.c.d. */
export function podMac(ip: string): string {
  return macFromBytes(Buffer.concat([Buffer.from([0x02, 0x74]), ipv4ToBytes(ip)]));
}

/** The pod's next hop: never on any wire, answered by a permanent neighbour entry. */
export const POD_GATEWAY = '169.254.1.1';
