#!/usr/bin/env node
// twill-agent: loads Twill's datapath on this node, keeps the node-subnet map and host
// routes in step with the cluster, and owns the node's pod network: the CNI plugin is
// its thin client. Stopping the agent leaves the datapath and every pod in place.
//
//   api/cni.ts                    the contract with the plugin: requests, answers, codes
//
//   lib/flags.ts, config.ts       command line, config file, validation
//   lib/node-source.ts            static file or Kubernetes Node informer
//   lib/datapath.ts               load, pin, re-adopt, attach to devices
//   lib/node-claims.ts            which nodes' claims to act on; refused-nodes.ts says which not
//   lib/node-sync.ts              node subnets map + host routes, diffed
//   lib/host-network.ts           forwarding, masquerade, VXLAN device, the pod CIDR unreachable
//   lib/uplink-mtu.ts             the uplink's MTU followed while running
//   lib/metrics.ts, health.ts     Prometheus metrics, /healthz and /readyz
//   lib/pods/pod-service.ts       the pod network started: socket, IPAM, reconcile, serving
//   lib/pods/cni-server.ts        the plugin's requests, over a root-only unix socket
//   lib/pods/pod-network.ts       ADD, DEL, CHECK, GC, STATUS; ipam.ts, pod-wiring.ts
//   lib/pods/pod-reconcile.ts     at start: pending DELs, pods that are gone, strays
import fs from 'node:fs';

import pino from 'pino';

import { podCidrProblem } from '../bpf/endpoints';
import { entryCount } from '../bpf/map-entries';
import { Rtnl, type Link } from './netlink';
import { addressesByFamily, cidrsByFamily, type AddressesByFamily, type IpFamily } from '../bpf/addresses';
import { writeNodeSettings } from './lib/node-settings';
import { HOOK_DIRECTION, chooseAttachMode } from '../bpf/device-hooks';
import type { ProgramName } from '../bpf/datapath';
import type { ClusterNode } from './lib/cluster-nodes';
import { ConfigError, readConfigFile, requireCidrs, requireSameFamilies, resolveConfig } from './lib/config';
import { loadDatapath } from './lib/datapath';
import { USAGE, parseFlags } from './lib/flags';
import { Health } from './lib/health';
import { VXLAN_OVERHEAD, enableForwarding, ensureMasquerade, ensurePodCidrUnreachable, ensureTunnelDevice, findUplink, underlayFamily } from './lib/host-network';
import { serveHttp } from './lib/http-endpoints';
import { AgentMetrics } from './lib/metrics';
import { judgeClaims, type ClaimRules } from './lib/node-claims';
import { NodeSync } from './lib/node-sync';
import { startPodService } from './lib/pods/pod-service';
import { createNodeSource } from './lib/node-source';
import { RefusedNodes } from './lib/refused-nodes';
import { followUplinkMtu, podMtuFor } from './lib/uplink-mtu';
import { VERSION } from './lib/version';

const DEFAULT_MTU = 1500;
/** A failed node sync is retried with the latest list after this long, change or not. */
const SYNC_RETRY_MS = 5000;

/** A program this agent attached to a device hook, which readiness checks is still there. */
interface DeviceHook {
  device: Link;
  name: ProgramName;
}

/** The node's addresses by family, from --node-ip or its entry in the node source. */
function nodeAddresses(nodeIp: string | undefined): AddressesByFamily {
  try {
    return nodeIp ? addressesByFamily(nodeIp) : {};
  } catch (error) {
    throw new ConfigError(`this node's internalIP ${JSON.stringify(nodeIp)} in the node source: ${(error as Error).message}`);
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), process.env);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const config = resolveConfig(flags.configFile ? readConfigFile(flags.configFile) : {}, flags.overrides);
  const log = pino({ level: config.logLevel, base: { node: config.nodeName } });
  const attachMode = chooseAttachMode(config.attach);
  log.info({ attach: attachMode.mode }, `programs attach to devices with ${attachMode.mode}: ${attachMode.why}`);

  // Probes and metrics answer from the start, so a slow start-up reads as not ready
  // rather than dead.
  const metrics = new AgentMetrics();
  metrics.info.set({ version: VERSION, mode: config.mode, attach: attachMode.mode }, 1);
  const health = new Health();
  let started = false;
  health.ready('startup', () => (started ? undefined : 'loading the datapath and listing nodes'));
  metrics.watchReadiness(() => health.readiness().ok);
  const http = serveHttp(config.metricsPort, metrics, health, log, { onRefused: (cap) => metrics.httpConnectionsRefused.inc({ cap }) });

  const source = await createNodeSource(config, log, (kind) => metrics.nodeSourceObserver(kind));
  let sync: NodeSync | undefined;
  let syncProblem: string | undefined;
  let retry: NodeJS.Timeout | undefined;
  let latest: ClusterNode[] = [];
  let claimRules: ClaimRules | undefined;
  let ownClaimWarned: string | undefined;
  const refusedNodes = new RefusedNodes(config.stateDir, log);
  const syncNodes = async (nodes: ClusterNode[]): Promise<void> => {
    const received = performance.now();
    latest = nodes;
    metrics.nodes.set(nodes.length);
    clearTimeout(retry);
    const ownClaim = nodes.find((node) => node.name === config.nodeName)?.podCIDR;
    if (ownClaim && ownClaim !== claimRules?.podCIDR && ownClaim !== ownClaimWarned) {
      ownClaimWarned = ownClaim;
      log.warn({ podCIDR: claimRules?.podCIDR, listed: ownClaim }, `the node source now gives this node the pod CIDR ${ownClaim}; it keeps ${claimRules?.podCIDR} until the agent restarts, and pods created before then keep their addresses`);
    }
    try {
      const judgement = judgeClaims(nodes, claimRules as ClaimRules);
      refusedNodes.update(judgement.refused);
      metrics.recordRefusals(judgement.refused);
      const summary = await (sync as NodeSync).apply(judgement.admitted);
      metrics.syncDuration.observe(summary.durationMs / 1000);
      metrics.syncLag.observe((performance.now() - received) / 1000);
      metrics.syncLastSuccess.set(Date.now() / 1000);
      syncProblem = undefined;
    } catch (error) {
      metrics.syncErrors.inc();
      syncProblem = `node sync failed: ${(error as Error).message}`;
      log.error(`${syncProblem}; retrying in ${SYNC_RETRY_MS / 1000} s`);
      if (nodes === latest) retry = setTimeout(() => void syncNodes(latest), SYNC_RETRY_MS);
    }
  };
  // Changes that arrive before the datapath is up are kept; the first sync applies them.
  const onNodes = (nodes: ClusterNode[]): void => {
    if (sync) void syncNodes(nodes);
    else latest = nodes;
  };
  latest = source ? await source.start(onNodes) : [];
  const self = latest.find((node) => node.name === config.nodeName);
  if (self?.problem) throw new ConfigError(self.problem);
  const podCIDR = config.podCIDR ?? self?.podCIDR;
  const nodeIp = config.nodeIP ?? self?.internalIP;
  if (!podCIDR) throw new ConfigError(`no pod CIDR for node ${config.nodeName}: pass --pod-cidr, or list the node with a podCIDR in the node source`);
  if (config.clusterCIDR) requireSameFamilies(podCIDR, config.clusterCIDR);
  const podCIDRs = requireCidrs('podCIDR', podCIDR);
  const clusterCIDRs = config.clusterCIDR ? cidrsByFamily(config.clusterCIDR) : {};
  const podCidrRefused = podCidrProblem(podCIDRs);
  if (podCidrRefused) throw new ConfigError(`node ${config.nodeName}: ${podCidrRefused}`);
  const nodeIps = nodeAddresses(nodeIp);
  const underlay = underlayFamily(podCIDRs);
  if ((source || config.mode === 'vxlan') && !nodeIp) throw new ConfigError(`no address for node ${config.nodeName}: pass --node-ip, or list the node with an internalIP`);
  for (const family of Object.keys(podCIDRs) as IpFamily[]) {
    if (source && config.mode === 'native' && !nodeIps[family]) log.warn({ nodeIp }, `no ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address for node ${config.nodeName} (${nodeIp}): other nodes refuse to route its ${podCIDRs[family]} pods (missing_family); give it one (--node-ip, or an InternalIP of that family)`);
  }
  if (config.mode === 'vxlan' && !nodeIps[underlay]) {
    const why = underlay === 'ipv4' ? 'VXLAN runs over IPv4 wherever pods have IPv4' : 'VXLAN runs over IPv6 where pods have only IPv6';
    throw new ConfigError(`mode vxlan needs an ${underlay === 'ipv4' ? 'IPv4' : 'IPv6'} address of node ${config.nodeName}, the tunnel's end (${why}); ${nodeIp} has none`);
  }

  const rtnl = Rtnl.open();
  let uplink: Link | undefined;
  if (config.uplink) {
    uplink = await rtnl.link(config.uplink);
    if (!uplink) throw new ConfigError(`uplink ${config.uplink} does not exist in this network namespace`);
  } else if (nodeIps.ipv4 ?? nodeIps.ipv6) {
    uplink = await findUplink(rtnl, (nodeIps.ipv4 ?? nodeIps.ipv6) as string);
  }
  if (source && config.mode === 'native' && !uplink) throw new ConfigError(`native routing to other nodes needs an uplink: no device holds ${nodeIp}; pass --uplink`);
  const uplinkMtu = uplink?.mtu ?? DEFAULT_MTU;
  const overhead = config.mode === 'vxlan' ? VXLAN_OVERHEAD[underlay] : 0;
  const tunnel = config.mode === 'vxlan' ? await ensureTunnelDevice(rtnl, nodeIps[underlay] as string, podCIDRs, podMtuFor(uplinkMtu, overhead), config.vxlanPort) : undefined;
  // The programs send wrapped pod packets straight out of the uplink, where a larger
  // one would be dropped without the ICMP "fragmentation needed" the VXLAN device sends.
  if (tunnel && config.mtu !== undefined && config.mtu > tunnel.mtu) {
    throw new ConfigError(`mtu ${config.mtu} is too large for vxlan: the uplink${uplink ? ` ${uplink.name}` : ''} carries ${uplinkMtu} bytes, so pods get at most ${tunnel.mtu} after the ${overhead} bytes of VXLAN headers`);
  }

  const datapath = loadDatapath(config.bpffsRoot, { uplinkIfindex: uplink?.index ?? 0, tunnelIfindex: tunnel?.index ?? 0, vni: config.vni, vxlanPort: config.vxlanPort, nodeIp: nodeIps[underlay], podCIDRs, clusterCIDR: config.clusterCIDR }, attachMode.mode, log);
  const { program, pins, hooks } = datapath;
  const deviceHooks: DeviceHook[] = [];
  if (uplink) deviceHooks.push({ device: uplink, name: 'from_netdev' });
  if (tunnel) deviceHooks.push({ device: tunnel, name: 'from_netdev' }, { device: tunnel, name: 'to_tunnel' });
  for (const { device, name } of deviceHooks) hooks.attach(name, program(name), device);
  const attachedProblem = ({ device, name }: DeviceHook): string | undefined =>
    hooks.runs(name, program(name), device) ? undefined : `${name} is not attached to ${device.name} ${HOOK_DIRECTION[name]} (${hooks.mode})`;
  let podMtu = config.mtu ?? podMtuFor(uplinkMtu, overhead);
  const pods = await startPodService({
    runDir: config.runDir,
    stateDir: config.stateDir,
    hooks,
    fromPod: program('from_pod'),
    toPod: program('to_pod'),
    endpoints: datapath.maps.endpoints,
    podLimits: datapath.maps.podLimits,
    podCIDRs,
    procSysNet: config.procSysNet,
    podMtu: () => podMtu,
    notReady: () => Object.values(health.liveness().problems)[0],
    metrics,
    log,
  });
  metrics.watchDatapath(datapath.maps);
  const pinned = [pins.map('endpoints'), pins.map('node_subnets'), pins.program('from_pod')];
  health.live('pins', () => {
    const missing = pinned.filter((pin) => !fs.existsSync(pin));
    return missing.length ? `${missing.join(', ')} no longer pinned (bpffs unmounted or cleared?): a restart pins them again` : undefined;
  });
  health.ready('datapath', () => deviceHooks.map(attachedProblem).find((problem) => problem !== undefined));
  health.ready('node sync', () => syncProblem);
  health.ready('node source', () => source?.problem());

  enableForwarding(Object.keys(podCIDRs) as IpFamily[]);
  const unmasqueraded = ensureMasquerade(podCIDRs, clusterCIDRs);
  if (unmasqueraded.length > 0) log.warn(`no --cluster-cidr of ${unmasqueraded.join(' or ')}: pod traffic of that family leaving the cluster is not masqueraded`);

  await ensurePodCidrUnreachable(rtnl, podCIDRs);

  claimRules = { self: config.nodeName, podCIDR, nodeIp, clusterCIDR: config.clusterCIDR, underlay: config.mode === 'vxlan' ? underlay : undefined };
  sync = new NodeSync({ mode: config.mode, routeDevice: (tunnel ?? uplink)?.index ?? 0, maps: datapath.maps, slotLayouts: datapath.slotLayouts, rtnl, log });
  if (source) await syncNodes(latest);

  const settings = { nodeName: config.nodeName, podCIDR, bpffsRoot: config.bpffsRoot, agentSocket: pods.socketPath };
  const stopFollowingMtu = uplink
    ? followUplinkMtu({
        rtnl,
        uplink,
        tunnel,
        overhead,
        configuredMtu: config.mtu,
        podCount: () => entryCount('endpoints', datapath.maps.endpoints),
        onPodMtu: (mtu) => {
          podMtu = mtu;
          writeNodeSettings(config.stateDir, { ...settings, mtu });
        },
        log,
      })
    : () => undefined;
  writeNodeSettings(config.stateDir, { ...settings, mtu: podMtu });
  started = true;
  log.info({ podCIDR, nodeIp, mode: config.mode, mtu: podMtu, uplink: uplink?.name, nodes: latest.length, pods: pods.reconciled.live, freed: pods.reconciled.freed.length, stateDir: config.stateDir, version: VERSION }, 'node ready for pods');

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'stopping; the datapath stays loaded and attached');
      source?.stop();
      stopFollowingMtu();
      clearTimeout(retry);
      http.close();
      pods.close();
      rtnl.close();
      datapath.close();
    });
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`twill-agent: ${message}\n`);
  // The endpoints and the node source would keep a failed start-up running.
  process.exit(error instanceof ConfigError ? 2 : 1);
});
