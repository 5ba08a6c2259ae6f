// The nodes of the cluster as every node source reports them.
export interface ClusterNode {
  name: string;
  /** The node's pod range; a node without one yet has no pods to reach. */
  podCIDR?: string;
  /** The address other nodes reach it at. */
  internalIP?: string;
  /** Why the source's entry cannot be used as it is written (see node-claims.ts). */
  problem?: string;
}

export class NodeListError extends Error {
  override readonly name = 'NodeListError';
}

/**
 * Reads a list of {name, podCIDR, internalIP}. Only a document that is no list at all
 * is an error; an entry with a field of the wrong type is kept with its problem, named
 * by index and field, so that one bad line refuses one node and not the whole file.
 */
export function parseNodeList(raw: unknown, origin: string): ClusterNode[] {
  const list = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'nodes' in raw ? (raw as { nodes: unknown }).nodes : raw;
  if (!Array.isArray(list)) throw new NodeListError(`${origin}: expected a list of nodes (or {nodes: [...]})`);
  return list.map((entry: unknown, i) => {
    const node = (entry !== null && typeof entry === 'object' ? entry : {}) as Record<string, unknown>;
    const at = `${origin}: nodes[${i}]`;
    const named = typeof node.name === 'string' && node.name !== '';
    const fields = {
      name: named ? (node.name as string) : `nodes[${i}]`,
      ...(typeof node.podCIDR === 'string' ? { podCIDR: node.podCIDR } : {}),
      ...(typeof node.internalIP === 'string' ? { internalIP: node.internalIP } : {}),
    };
    const problem = !named
      ? `${at}.name must be a non-empty string`
      : node.podCIDR !== undefined && typeof node.podCIDR !== 'string'
        ? `${at}.podCIDR ${JSON.stringify(node.podCIDR)} is not an IPv4 CIDR`
        : node.internalIP !== undefined && typeof node.internalIP !== 'string'
          ? `${at}.internalIP ${JSON.stringify(node.internalIP)} is not an IPv4 address`
          : undefined;
    return problem ? { ...fields, problem } : fields;
  });
}

/** A source of the cluster's nodes: the first list, then every change as a whole new list. */
export interface NodeSource {
  readonly kind: 'static' | 'kubernetes';
  start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]>;
  /** Why the list in force may be stale (reads failing, a broken edit), or undefined. */
  problem(): string | undefined;
  stop(): void;
}

/** What a source saw: a Node added, updated or deleted, a (re)list, a file reloaded. */
export type NodeSourceEvent = 'add' | 'update' | 'delete' | 'list' | 'reload';

/** Told of every event and error of a source, for the agent's metrics. */
export interface NodeSourceObserver {
  event(event: NodeSourceEvent): void;
  error(): void;
}
