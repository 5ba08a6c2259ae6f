// The kernel settings of the host side of a pod's veth that keep the pod from
// reconfiguring its node: no router advertisements accepted (a pod announcing itself
// as the router would become the node's IPv6 default route: CVE-2020-10749), no
// addresses autoconfigured from them, and no ICMP redirects (IPv4 or IPv6) acted on.
// The datapath already drops what a pod may not send; these hold even when a program
// is not attached (between a veth's creation and its attach, or with the agent's pins
// gone). IPv6 keeps them only in /proc/sys (rtnetlink cannot set them), so they are
// written there, and before the link is up: address autoconfiguration starts at up.
import fs from 'node:fs';
import path from 'node:path';

export const PROC_SYS_NET = '/proc/sys/net';

/** [family, setting, value] under <procSysNet>/<family>/conf/<device>/. */
const HOST_VETH_SETTINGS = [
  ['ipv4', 'accept_redirects', '0'],
  ['ipv6', 'accept_ra', '0'],
  ['ipv6', 'autoconf', '0'],
  ['ipv6', 'accept_redirects', '0'],
] as const;

/**
 * Applies the settings to `device` (a host veth in this network namespace). A node
 * without IPv6 has no IPv6 settings to apply, and nothing for them to guard.
 */
export function hardenHostVeth(device: string, procSysNet = PROC_SYS_NET): void {
  for (const [family, setting, value] of HOST_VETH_SETTINGS) {
    try {
      fs.writeFileSync(path.join(procSysNet, family, 'conf', device, setting), value);
    } catch (error) {
      if (family === 'ipv6' && (error as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(path.join(procSysNet, 'ipv6'))) continue;
      throw new Error(`cannot set ${family}/conf/${device}/${setting} under ${procSysNet}: ${(error as Error).message}`);
    }
  }
}
