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

/**
 * The directory of each program's TCX links: from_pod on pod veths' ingress, to_pod on
 * their egress (pods with an ingress limit), from_netdev on the uplink's and the
 * tunnel's ingress, to_tunnel on the tunnel's egress.
 */
const LINK_DIRECTORIES: Record<ProgramName, string> = { from_pod: 'pods', to_pod: 'pod-ingress', from_netdev: 'netdev', to_tunnel: 'tunnel' };

/** Every pin path under one bpffs root. */
export function pinPaths(root: string) {
  return {
    root,
    maps: path.join(root, 'maps'),
    map: (name: MapName) => path.join(root, 'maps', name),
    programs: path.join(root, 'programs'),
    program: (name: ProgramName) => path.join(root, 'programs', name),
    /** Where `program`'s TCX links are pinned, one per device (a pod's host veth, the uplink, the tunnel) by its name. */
    links: (program: ProgramName) => path.join(root, 'links', LINK_DIRECTORIES[program]),
    link: (program: ProgramName, device: string) => path.join(root, 'links', LINK_DIRECTORIES[program], device),
  };
}

export type PinPaths = ReturnType<typeof pinPaths>;
