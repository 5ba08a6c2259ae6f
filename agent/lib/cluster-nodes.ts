// The nodes of the cluster as every node source reports them.
import { isIpv4, parseIpv4Prefix } from '../../bpf/netlink';

export interface ClusterNode {
  name: string;
  /** The node's pod range; a node without one yet has no pods to reach. */
  podCIDR?: string;
  /** The address other nodes reach it at. */
  internalIP?: string;
}

export class NodeListError extends Error {
  override readonly name = 'NodeListError';
}

/** Validates a list of {name, podCIDR, internalIP}, naming the entry and field at fault. */
export function parseNodeList(raw: unknown, origin: string): ClusterNode[] {
  const list = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'nodes' in raw ? (raw as { nodes: unknown }).nodes : raw;
  if (!Array.isArray(list)) throw new NodeListError(`${origin}: expected a list of nodes (or {nodes: [...]})`);
  const names = new Set<string>();
  return list.map((entry: unknown, i) => {
    const node = entry as Record<string, unknown>;
    const at = `${origin}: nodes[${i}]`;
    if (typeof node?.name !== 'string' || node.name === '') throw new NodeListError(`${at}.name must be a non-empty string`);
    if (names.has(node.name)) throw new NodeListError(`${at}.name ${node.name} appears twice`);
    names.add(node.name);
    if (node.podCIDR !== undefined) {
      try {
        parseIpv4Prefix(String(node.podCIDR));
      } catch {
        throw new NodeListError(`${at}.podCIDR ${JSON.stringify(node.podCIDR)} is not an IPv4 CIDR`);
      }
    }
    if (node.internalIP !== undefined && (typeof node.internalIP !== 'string' || !isIpv4(node.internalIP))) {
      throw new NodeListError(`${at}.internalIP ${JSON.stringify(node.internalIP)} is not an IPv4 address`);
    }
    return {
      name: node.name,
      ...(node.podCIDR !== undefined ? { podCIDR: String(node.podCIDR) } : {}),
      ...(node.internalIP !== undefined ? { internalIP: node.internalIP as string } : {}),
    };
  });
}

/** A source of the cluster's nodes: the first list, then every change as a whole new list. */
export interface NodeSource {
  readonly kind: 'static' | 'kubernetes';
  start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]>;
  stop(): void;
}

/** What a source saw: a Node added, updated or deleted, a (re)list, a file reloaded. */
export type NodeSourceEvent = 'add' | 'update' | 'delete' | 'list' | 'reload';

/** Told of every event and error of a source, for the agent's metrics. */
export interface NodeSourceObserver {
  event(event: NodeSourceEvent): void;
  error(): void;
}
