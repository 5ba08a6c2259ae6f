// The pod network as the agent starts it: the CNI socket listening first, so that no
// request is turned away while the agent starts (requests wait), then IPAM read and the
// pods reconciled (DELs that found no agent before the socket existed were recorded,
// and the reconcile completes them), then requests served.
import path from 'node:path';

import type { Logger } from 'pino';

import { AGENT_SOCKET_NAME } from '../../api/cni';
import { Rtnl } from '../../netlink';
import type { AgentMetrics } from '../metrics';
import { serveCni } from './cni-server';
import { Ipam } from './ipam';
import { PodNetwork } from './pod-network';
import { reconcilePods, type ReconcileSummary } from './pod-reconcile';
import type { PodHost } from './pod-wiring';

export interface PodServiceOptions extends Omit<PodHost, 'rtnl'> {
  runDir: string;
  stateDir: string;
  podMtu(): number;
  notReady(): string | undefined;
  metrics: AgentMetrics;
  log: Logger;
}

export interface PodService {
  socketPath: string;
  reconciled: ReconcileSummary;
  close(): void;
}

export async function startPodService(options: PodServiceOptions): Promise<PodService> {
  const { runDir, stateDir, podMtu, notReady, metrics, log, ...datapath } = options;
  let ready: (network: PodNetwork) => void = () => undefined;
  const networkReady = new Promise<PodNetwork>((resolve) => (ready = resolve));
  const cni = await serveCni(path.join(runDir, AGENT_SOCKET_NAME), async (request) => (await networkReady).serve(request), metrics, log);

  const host: PodHost = { ...datapath, rtnl: Rtnl.open() };
  const ipam = new Ipam(stateDir, host.podCIDRs);
  const network = new PodNetwork({ host, ipam, podMtu, notReady });
  const reconciled = await reconcilePods(host, ipam, stateDir, (attachment) => network.release(attachment), log);
  // The DELs the runtime sent while the agent was down are counted as they complete.
  metrics.cniOperations.inc({ command: 'DEL', result: 'success' }, reconciled.pendingReleases);
  ready(network);
  return {
    socketPath: cni.socketPath,
    reconciled,
    close: () => {
      cni.server.close();
      host.rtnl.close();
    },
  };
}
