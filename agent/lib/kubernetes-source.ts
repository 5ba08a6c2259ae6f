// Nodes from the Kubernetes API through the @kubernetes/client-node informer: a list,
// then a watch from its resourceVersion. On 410 Gone the informer relists; on any other
// broken watch it stops, and this source restarts it after a pause. A relist reports
// only real differences, so live nodes are never removed in between, and start()
// returns only once a list has succeeded: an API server that is down at start-up
// must not look like a cluster without nodes.
import type { Logger } from 'pino';

import { isIpv4 } from '../../bpf/netlink';
import type { ClusterNode, NodeSource, NodeSourceObserver } from './cluster-nodes';

type Client = typeof import('@kubernetes/client-node');
type Node = import('@kubernetes/client-node').V1Node;
type Informer = import('@kubernetes/client-node').Informer<Node>;

// The client is an ES module; TypeScript's CommonJS output would turn import() into
// require(), so the import is kept as written.
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Client>;

const RESTART_MS = 1000;

/** A Node object as Twill needs it: IPv4 pod CIDR and InternalIP. */
export function toClusterNode(node: Node): ClusterNode {
  const podCIDR = [node.spec?.podCIDR, ...(node.spec?.podCIDRs ?? [])].find((cidr) => cidr && isIpv4(cidr.split('/')[0]));
  const internalIP = node.status?.addresses?.find((a) => a.type === 'InternalIP' && isIpv4(a.address))?.address;
  return { name: node.metadata?.name ?? '', ...(podCIDR ? { podCIDR } : {}), ...(internalIP ? { internalIP } : {}) };
}

export class KubernetesNodeSource implements NodeSource {
  readonly kind = 'kubernetes';
  readonly #kubeconfig: string | undefined;
  readonly #log: Logger;
  readonly #observer: NodeSourceObserver;
  #informer: Informer | undefined;
  #stopped = false;
  #restart: NodeJS.Timeout | undefined;

  constructor(kubeconfig: string | undefined, log: Logger, observer: NodeSourceObserver) {
    this.#kubeconfig = kubeconfig;
    this.#log = log;
    this.#observer = observer;
  }

  async start(onChange: (nodes: ClusterNode[]) => void): Promise<ClusterNode[]> {
    const k8s = await importModule('@kubernetes/client-node');
    const config = new k8s.KubeConfig();
    if (this.#kubeconfig) config.loadFromFile(this.#kubeconfig);
    else config.loadFromCluster();
    const api = config.makeApiClient(k8s.CoreV1Api);
    let firstList: () => void = () => undefined;
    const listedOnce = new Promise<void>((resolve) => (firstList = resolve));
    const informer = k8s.makeInformer<Node>(config, '/api/v1/nodes', async () => {
      const list = await api.listNode();
      this.#observer.event('list');
      firstList();
      return list;
    });
    this.#informer = informer;

    const nodes = new Map<string, ClusterNode>();
    let listed = false;
    const changed = (): void => {
      if (listed) onChange([...nodes.values()]);
    };
    const upsert = (node: Node): void => {
      const current = toClusterNode(node);
      const previous = nodes.get(current.name);
      nodes.set(current.name, current);
      if (JSON.stringify(previous) !== JSON.stringify(current)) changed();
    };
    informer.on('add', (node) => {
      this.#observer.event('add');
      upsert(node);
    });
    informer.on('update', (node) => {
      this.#observer.event('update');
      upsert(node);
    });
    informer.on('delete', (node) => {
      this.#observer.event('delete');
      if (nodes.delete(node.metadata?.name ?? '')) changed();
    });
    const failed = (what: string) => (error: Error) => {
      this.#observer.error();
      this.#log.warn(`${what}: ${error.message}`);
    };
    informer.on('error', (error: unknown) => {
      if (this.#stopped) return;
      this.#observer.error();
      this.#log.warn(`node watch broke, relisting in ${RESTART_MS} ms: ${error instanceof Error ? error.message : String(error)}`);
      this.#restart = setTimeout(() => {
        informer.start().catch(failed('node relist failed'));
      }, RESTART_MS);
    });
    informer.start().catch(failed('node list failed'));
    await listedOnce;
    // The informer files the listed nodes right after the list resolves; let it.
    await new Promise((resolve) => setImmediate(resolve));
    listed = true;
    return [...nodes.values()];
  }

  stop(): void {
    this.#stopped = true;
    if (this.#restart) clearTimeout(this.#restart);
    this.#informer?.stop().catch(() => undefined);
  }
}
