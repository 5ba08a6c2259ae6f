// Names and addresses derived from the attachment, so DEL, CHECK and GC find what ADD
// made without any other record, and an operator can tell a pod's host veth by its name.
import crypto from 'node:crypto';

import type { Attachment } from '../../api/cni';
import { ipToBytes, macFromBytes, type IpFamily } from '../../../bpf/addresses';

/** tw + 11 hex digits of sha256(containerID/ifname): unique per attachment, 13 characters. */
export function hostVethName(attachment: Attachment): string {
  return `tw${crypto.createHash('sha256').update(`${attachment.containerID}/${attachment.ifname}`).digest('hex').slice(0, 11)}`;
}

/** Host veths are named tw + 11 hex digits; anything else on the node is not a pod's. */
export const HOST_VETH_NAME = /^tw[0-9a-f]{11}$/;

/** A locally administered unicast MAC that carries the pod's address (Allocation.ip), or its last four bytes: 02:74:a.b.c.d. */
export function podMac(ip: string): string {
  return macFromBytes(Buffer.concat([Buffer.from([0x02, 0x74]), ipToBytes(ip).subarray(-4)]));
}

/**
 * The pod's next hop in each family: never on any wire, answered by a permanent
 * neighbour entry, so a pod never needs ARP or neighbour discovery to leave. The IPv6
 * one is link-local, as a router's must be for the hosts on its link (RFC 4861).
 */
export const POD_GATEWAYS: Record<IpFamily, string> = { ipv4: '169.254.1.1', ipv6: 'fe80::1' };

export function attachmentKey(attachment: Attachment): string {
  return `${attachment.containerID}/${attachment.ifname}`;
}

export function sameAttachment(a: Attachment, b: Attachment): boolean {
  return a.containerID === b.containerID && a.ifname === b.ifname;
}
