// Nodes from the Kubernetes API through the @kubernetes/client-node informer: a list,
// then a watch from its resourceVersion. On 410 Gone the informer relists; on a failed
// list or any other broken watch it stops, and this source restarts it, with backoff,
// until it holds again (a watch resumes from its resourceVersion: no change is lost). A relist reports
// only real differences, so live nodes are never removed in between, and start()
// returns only once a list has succeeded: an API server that is down at start-up
// must not look like a cluster without nodes.
import type { Logger } from 'pino';

import { familyOf, type IpFamily } from '../../bpf/addresses';
import type { ClusterNode, NodeSource, NodeSourceObserver } from './cluster-nodes';
import { SourceStaleness } from './source-staleness';

type Client = typeof import('@kubernetes/client-node');
type Node = import('@kubernetes/client-node').V1Node;
type Informer = import('@kubernetes/client-node').Informer<Node>;

// The client is an ES module; TypeScript's CommonJS output would turn import() into
// require(), so the import is kept as written.
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Client>;

/** A failed list or broken watch is retried after this long, doubling up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** The first of `values` of each family, joined as the agent's flags write them ("" when none). */
function firstOfEachFamily(values: Array<string | undefined>): string {
  const first = new Map<IpFamily, string>();
  for (const value of values) {
    if (value && !first.has(familyOf(value))) first.set(familyOf(value), value);
  }
  return [...first.values()].join(',');
}

/** A Node object as Twill needs it: its pod CIDRs and InternalIPs, one of each family. */
export function toClusterNode(node: Node): ClusterNode {
  const podCIDR = firstOfEachFamily(node.spec?.podCIDRs?.length ? node.spec.podCIDRs : [node.spec?.podCIDR]);
  const internalIP = firstOfEachFamily((node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address));
  return { name: node.metadata?.name ?? '', ...(podCIDR ? { podCIDR } : {}), ...(internalIP ? { internalIP } : {}) };
}

/** The established order node claims are judged in (node-claims.ts): by creation time, then name. */
function oldestFirst(nodes: Map<string, ClusterNode & { createdAt: number }>): ClusterNode[] {
  return [...nodes.values()].sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1)).map(({ createdAt: _, ...node }) => node);
}

export class KubernetesNodeSource implements NodeSource {
  readonly kind = 'kubernetes';
  readonly #kubeconfig: string | undefined;
  readonly #log: Logger;
  readonly #observer: NodeSourceObserver;
  #informer: Informer | undefined;
  #stopped = false;
  #restart: NodeJS.Timeout | undefined;
  #errors = 0;
  readonly #staleness = new SourceStaleness(RETRY_FIRST_MS, RETRY_MAX_MS);

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

    const nodes = new Map<string, ClusterNode & { createdAt: number }>();
    let listed = false;
    const changed = (): void => {
      if (listed) onChange(oldestFirst(nodes));
    };
    const upsert = (node: Node): void => {
      const current = { ...toClusterNode(node), createdAt: new Date(node.metadata?.creationTimestamp ?? 0).getTime() || 0 };
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
    const failed = (error: unknown): void => {
      if (this.#stopped) return;
      const message = error instanceof Error ? error.message : String(error);
      this.#errors++;
      this.#observer.error();
      const delay = this.#staleness.failed(message);
      this.#log.warn(`node list or watch failed, retrying in ${delay} ms: ${message}`);
      clearTimeout(this.#restart);
      this.#restart = setTimeout(restart, delay);
    };
    // start() settles once the watch is open, or once a failed list has been reported
    // as an error: it held if no error came in between.
    const restart = (): void => {
      const errorsBefore = this.#errors;
      informer.start().then(() => {
        if (this.#errors !== errorsBefore || !this.#staleness.stale) return;
        this.#log.info('node list and watch hold again');
        this.#staleness.recovered();
      }, failed);
    };
    informer.on('error', failed);
    restart();
    await listedOnce;
    // The informer files the listed nodes right after the list resolves; let it.
    await new Promise((resolve) => setImmediate(resolve));
    listed = true;
    return oldestFirst(nodes);
  }

  problem(): string | undefined {
    return this.#staleness.problem('node list or watch failing');
  }

  stop(): void {
    this.#stopped = true;
    if (this.#restart) clearTimeout(this.#restart);
    this.#informer?.stop().catch(() => undefined);
  }
}
