// Where the datapath lives: its object file, its programs, and the pins under a bpffs
// root that the agent creates and the CLI and operators' bpftool open.
import path from 'node:path';

import type { MapName } from './layouts';
import { PROGRAMS } from './layouts.generated';

/** The programs, as the compiled object names them. */
export { PROGRAMS };

/** bpf/build.sh compiles bpf/datapath.bpf.c to this file, next to the compiled TypeScript. */
export const DATAPATH_OBJECT = path.join(__dirname, 'datapath.bpf.o');

export type ProgramName = (typeof PROGRAMS)[number];

export const DEFAULT_BPFFS_ROOT = '/sys/fs/bpf/twill';

/** Every pin path under one bpffs root. */
export function pinPaths(root: string) {
  return {
    root,
    maps: path.join(root, 'maps'),
    map: (name: MapName) => path.join(root, 'maps', name),
    programs: path.join(root, 'programs'),
    program: (name: ProgramName) => path.join(root, 'programs', name),
    /** TCX links running from_pod, one per pod, by host veth name. */
    podLinks: path.join(root, 'links', 'pods'),
    podLink: (hostVeth: string) => path.join(root, 'links', 'pods', hostVeth),
    /** TCX links running to_pod on the host veth egress of pods with an ingress limit, by host veth name. */
    podIngressLinks: path.join(root, 'links', 'pod-ingress'),
    podIngressLink: (hostVeth: string) => path.join(root, 'links', 'pod-ingress', hostVeth),
    /** TCX links running from_netdev on a device's ingress (uplink, tunnel), by device. */
    netdevLinks: path.join(root, 'links', 'netdev'),
    netdevLink: (device: string) => path.join(root, 'links', 'netdev', device),
    /** TCX links running to_tunnel on the tunnel device's egress. */
    tunnelLinks: path.join(root, 'links', 'tunnel'),
    tunnelLink: (device: string) => path.join(root, 'links', 'tunnel', device),
  };
}

export type PinPaths = ReturnType<typeof pinPaths>;
