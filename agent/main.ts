#!/usr/bin/env node
// twill-agent: loads Twill's datapath on this node, pins it, and publishes the node's
// settings for the CNI plugin. Stopping the agent leaves the datapath in place.
//
//   lib/flags.ts     command line
//   lib/config.ts    config file, defaults, validation
//   lib/datapath.ts  load, pin, re-adopt, uplink attachment
import pino from 'pino';

import { writeNodeSettings } from '../bpf/node-settings';
import { ConfigError, readConfigFile, resolveConfig } from './lib/config';
import { attachUplink, loadDatapath } from './lib/datapath';
import { USAGE, parseFlags } from './lib/flags';

const DEFAULT_MTU = 1500;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), process.env);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const config = resolveConfig(flags.configFile ? readConfigFile(flags.configFile) : {}, flags.overrides);
  const log = pino({ level: config.logLevel, base: { node: config.nodeName } });

  const datapath = loadDatapath(config.bpffsRoot, log);
  const uplink = config.uplink ? await attachUplink(datapath, config.uplink) : undefined;
  const mtu = config.mtu ?? uplink?.mtu ?? DEFAULT_MTU;
  writeNodeSettings(config.stateDir, { nodeName: config.nodeName, podCIDR: config.podCIDR, bpffsRoot: config.bpffsRoot, mtu });
  log.info({ podCIDR: config.podCIDR, mtu, uplink: config.uplink, stateDir: config.stateDir }, 'node ready for pods');

  // Until node sync and metrics arrive, the agent's work is done once the datapath is
  // pinned; it stays up so the DaemonSet sees it running, and exits on a signal.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'stopping; the datapath stays loaded and attached');
      clearInterval(keepAlive);
      datapath.close();
    });
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`twill-agent: ${message}\n`);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
