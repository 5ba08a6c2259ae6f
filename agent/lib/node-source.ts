// Which node source the configuration asks for: a static file, the Kubernetes API, or
// none (a single node given its pod CIDR on the command line).
import type { Logger } from 'pino';

import type { NodeSource, NodeSourceObserver } from './cluster-nodes';
import type { AgentConfig } from './config';
import { StaticNodeSource } from './static-source';

export async function createNodeSource(
  config: AgentConfig,
  log: Logger,
  observerFor: (kind: NodeSource['kind']) => NodeSourceObserver,
): Promise<NodeSource | undefined> {
  if (config.nodesFile) return new StaticNodeSource(config.nodesFile, log, observerFor('static'));
  if (config.kubeconfig || process.env.KUBERNETES_SERVICE_HOST) {
    const { KubernetesNodeSource } = await import('./kubernetes-source');
    return new KubernetesNodeSource(config.kubeconfig, log, observerFor('kubernetes'));
  }
  return undefined;
}
