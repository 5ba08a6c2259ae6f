// The nodes of the cluster as every node source reports them.
export interface ClusterNode {
  name: string;
  /**
   * The node's pod range, or one per family separated by a comma, as --pod-cidr takes
   * them (10.244.2.0/24,fd00:10:244:2::/64); a node without one yet has no pods to reach.
   */
  podCIDR?: string;
  /** The address other nodes reach it at, or one per family, likewise. */
  internalIP?: string;
  /** Why the source's entry cannot be used as it is written (see node-claims.ts). */
  problem?: string;
}

export class NodeListError extends Error {
  override readonly name = 'NodeListError';
}

/**
 * One field of an entry that may be written once (`podCIDR: a`) or as a list
 * (`podCIDRs: [a, b]`, one per family), as the Node object has spec.podCIDR and
 * spec.podCIDRs; joined into the comma-separated form, or a problem naming the field.
 */
function singleOrList(node: Record<string, unknown>, single: string, list: string, at: string): { value?: string; problem?: string } {
  const one = node[single];
  const many = node[list];
  if (one !== undefined && typeof one !== 'string') return { problem: `${at}.${single} ${JSON.stringify(one)} is not a string` };
  if (many === undefined) return one === undefined ? {} : { value: one };
  if (!Array.isArray(many) || many.length === 0 || many.length > 2 || !many.every((item) => typeof item === 'string' && !item.includes(','))) {
    return { problem: `${at}.${list} ${JSON.stringify(many)} is not a list of one or two strings, one per family` };
  }
  // Kubernetes' rule for the two: the single field is the first of the list.
  if (one !== undefined && one !== many[0]) return { problem: `${at}.${single} ${one} is not the first of ${list} ${JSON.stringify(many)}` };
  return { value: many.join(',') };
}

/**
 * Reads a list of {name, podCIDR or podCIDRs, internalIP or internalIPs}. Only a
 * document that is no list at all is an error; an entry with a field of the wrong type
 * is kept with its problem, named by index and field, so that one bad line refuses one
 * node and not the whole file.
 */
export function parseNodeList(raw: unknown, origin: string): ClusterNode[] {
  const list = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'nodes' in raw ? (raw as { nodes: unknown }).nodes : raw;
  if (!Array.isArray(list)) throw new NodeListError(`${origin}: expected a list of nodes (or {nodes: [...]})`);
  return list.map((entry: unknown, i) => {
    const node = (entry !== null && typeof entry === 'object' ? entry : {}) as Record<string, unknown>;
    const at = `${origin}: nodes[${i}]`;
    const named = typeof node.name === 'string' && node.name !== '';
    const podCIDR = singleOrList(node, 'podCIDR', 'podCIDRs', at);
    const internalIP = singleOrList(node, 'internalIP', 'internalIPs', at);
    const fields = {
      name: named ? (node.name as string) : `nodes[${i}]`,
      ...(podCIDR.value !== undefined ? { podCIDR: podCIDR.value } : {}),
      ...(internalIP.value !== undefined ? { internalIP: internalIP.value } : {}),
    };
    const problem = !named ? `${at}.name must be a non-empty string` : (podCIDR.problem ?? internalIP.problem);
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
