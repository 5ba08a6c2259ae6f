#!/usr/bin/env node
// twill-agent: loads Twill's datapath on this node, keeps the node-subnet map and host
// routes in step with the cluster, and publishes the node's settings for the CNI
// plugin. Stopping the agent leaves the datapath in place.
//
//   lib/flags.ts, config.ts       command line, config file, validation
//   lib/node-source.ts            static file or Kubernetes Node informer
//   lib/datapath.ts               load, pin, re-adopt, attach to devices
//   lib/node-sync.ts              node subnets map + host routes, diffed
//   lib/host-network.ts           forwarding, masquerade, VXLAN device
import pino from 'pino';

import { Rtnl, type Link } from '../bpf/netlink';
import { writeNodeSettings } from '../bpf/node-settings';
import { ConfigError, readConfigFile, resolveConfig } from './lib/config';
import { attachPinned, loadDatapath } from './lib/datapath';
import { USAGE, parseFlags } from './lib/flags';
import { VXLAN_OVERHEAD, enableForwarding, ensureMasquerade, ensureTunnelDevice } from './lib/host-network';
import type { ClusterNode } from './lib/cluster-nodes';
import { NodeSync } from './lib/node-sync';
import { createNodeSource } from './lib/node-source';

const DEFAULT_MTU = 1500;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), process.env);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const config = resolveConfig(flags.configFile ? readConfigFile(flags.configFile) : {}, flags.overrides);
  const log = pino({ level: config.logLevel, base: { node: config.nodeName } });

  const source = await createNodeSource(config, log);
  let sync: NodeSync | undefined;
  const onNodes = (nodes: ClusterNode[]): void => {
    latest = nodes;
    sync?.apply(nodes).catch((error: Error) => log.error(`node sync failed, will retry on the next change: ${error.message}`));
  };
  let latest = source ? await source.start(onNodes) : [];
  const self = latest.find((node) => node.name === config.nodeName);
  const podCIDR = config.podCIDR ?? self?.podCIDR;
  const nodeIp = config.nodeIP ?? self?.internalIP;
  if (!podCIDR) throw new ConfigError(`no pod CIDR for node ${config.nodeName}: pass --pod-cidr, or list the node with a podCIDR in the node source`);
  if ((source || config.mode === 'vxlan') && !nodeIp) throw new ConfigError(`no address for node ${config.nodeName}: pass --node-ip, or list the node with an internalIP`);

  const rtnl = Rtnl.open();
  const uplink: Link | undefined = config.uplink ? await rtnl.link(config.uplink) : undefined;
  if (config.uplink && !uplink) throw new ConfigError(`uplink ${config.uplink} does not exist in this network namespace`);
  if (source && config.mode === 'native' && !uplink) throw new ConfigError('native routing to other nodes needs --uplink');
  const uplinkMtu = uplink?.mtu ?? DEFAULT_MTU;
  const tunnel = config.mode === 'vxlan' ? await ensureTunnelDevice(rtnl, nodeIp as string, uplinkMtu - VXLAN_OVERHEAD) : undefined;

  const datapath = loadDatapath(config.bpffsRoot, { uplinkIfindex: uplink?.index ?? 0, tunnelIfindex: tunnel?.index ?? 0, vni: config.vni, nodeIp }, log);
  const { program } = datapath;
  if (uplink) attachPinned(program('from_netdev'), uplink.index, 'ingress', datapath.pins.netdevLink(uplink.name));
  if (tunnel) {
    attachPinned(program('from_netdev'), tunnel.index, 'ingress', datapath.pins.netdevLink(tunnel.name));
    attachPinned(program('to_tunnel'), tunnel.index, 'egress', datapath.pins.tunnelLink(tunnel.name));
  }
  enableForwarding();
  if (config.clusterCIDR) ensureMasquerade(podCIDR, config.clusterCIDR);
  else log.warn('no --cluster-cidr: pod traffic leaving the cluster is not masqueraded');

  sync = new NodeSync({ self: config.nodeName, mode: config.mode, routeDevice: (tunnel ?? uplink)?.index ?? 0, nodeSubnets: datapath.nodeSubnets, rtnl, log });
  if (source) await sync.apply(latest);

  const mtu = config.mtu ?? (tunnel ? tunnel.mtu : uplinkMtu);
  writeNodeSettings(config.stateDir, { nodeName: config.nodeName, podCIDR, bpffsRoot: config.bpffsRoot, mtu });
  log.info({ podCIDR, nodeIp, mode: config.mode, mtu, uplink: config.uplink, nodes: latest.length, stateDir: config.stateDir }, 'node ready for pods');

  // The node source keeps the process alive; without one, a timer does.
  const keepAlive = source ? undefined : setInterval(() => undefined, 1 << 30);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'stopping; the datapath stays loaded and attached');
      source?.stop();
      if (keepAlive) clearInterval(keepAlive);
      rtnl.close();
      datapath.close();
    });
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`twill-agent: ${message}\n`);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
