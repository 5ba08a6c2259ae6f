// Malformed CNI input and the answer each must get: the spec's error code and a message
// naming the field at fault. The rows change a well-formed ADD (environment and config)
// so the same table serves the in-process protocol test and the kernel test, which
// runs the built plugin against a live node and checks that nothing changed.
export interface BadInput {
  name: string;
  /** Merged over the well-formed environment; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Merged over the well-formed config; undefined removes a field. */
  config?: Record<string, unknown>;
  /** Replaces stdin altogether. */
  stdin?: string | Buffer;
  code: number;
  msg: RegExp;
}

export const BAD_INPUTS: BadInput[] = [
  // The environment.
  { name: 'no CNI_COMMAND', env: { CNI_COMMAND: undefined }, code: 4, msg: /CNI_COMMAND is not set/ },
  { name: 'unknown CNI_COMMAND', env: { CNI_COMMAND: 'UPDATE' }, code: 4, msg: /CNI_COMMAND "UPDATE"/ },
  { name: 'CNI_COMMAND in lower case', env: { CNI_COMMAND: 'add' }, code: 4, msg: /CNI_COMMAND "add"/ },
  { name: 'ADD without CNI_NETNS', env: { CNI_NETNS: undefined }, code: 4, msg: /missing for ADD: CNI_NETNS/ },
  { name: 'ADD without CNI_CONTAINERID and CNI_IFNAME', env: { CNI_CONTAINERID: undefined, CNI_IFNAME: undefined }, code: 4, msg: /CNI_CONTAINERID, CNI_IFNAME/ },
  { name: 'ADD without CNI_PATH', env: { CNI_PATH: undefined }, code: 4, msg: /missing for ADD: CNI_PATH/ },
  { name: 'container ID with a slash', env: { CNI_CONTAINERID: 'a/b' }, code: 4, msg: /CNI_CONTAINERID "a\/b"/ },
  { name: 'container ID starting with a dot', env: { CNI_CONTAINERID: '.hidden' }, code: 4, msg: /CNI_CONTAINERID "\.hidden"/ },
  { name: 'interface name too long', env: { CNI_IFNAME: 'eth0123456789012' }, code: 4, msg: /CNI_IFNAME "eth0123456789012" is not a valid interface name/ },
  { name: 'interface name with a slash', env: { CNI_IFNAME: 'eth/0' }, code: 4, msg: /CNI_IFNAME "eth\/0"/ },
  { name: 'interface name with a space', env: { CNI_IFNAME: 'eth 0' }, code: 4, msg: /CNI_IFNAME "eth 0"/ },
  { name: 'interface name ..', env: { CNI_IFNAME: '..' }, code: 4, msg: /CNI_IFNAME "\.\."/ },
  { name: 'relative netns path', env: { CNI_NETNS: 'netns/x' }, code: 4, msg: /CNI_NETNS "netns\/x" must be an absolute path/ },
  { name: 'CNI_ARGS pair without =', env: { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME' }, code: 4, msg: /CNI_ARGS: "K8S_POD_NAME" is not KEY=VALUE/ },
  { name: 'CNI_ARGS pair with an empty key', env: { CNI_ARGS: '=x' }, code: 4, msg: /CNI_ARGS: "=x" is not KEY=VALUE/ },
  { name: 'unknown CNI_ARGS without IgnoreUnknown', env: { CNI_ARGS: 'FOO=bar' }, code: 2, msg: /unknown argument FOO/ },
  // stdin as a whole.
  { name: 'stdin empty', stdin: '', code: 6, msg: /not JSON/ },
  { name: 'stdin not JSON', stdin: '{"cniVersion": ', code: 6, msg: /not JSON/ },
  { name: 'stdin a JSON array', stdin: '[]', code: 6, msg: /must be a JSON object/ },
  { name: 'stdin a JSON string', stdin: '"twill"', code: 6, msg: /must be a JSON object/ },
  { name: 'stdin null', stdin: 'null', code: 6, msg: /must be a JSON object/ },
  { name: 'stdin over 1 MiB', stdin: Buffer.alloc((1 << 20) + 1, 0x20), code: 6, msg: /more than the 1048576 allowed/ },
  // The network config's fields.
  { name: 'cniVersion missing', config: { cniVersion: undefined }, code: 7, msg: /cniVersion is required/ },
  { name: 'cniVersion a number', config: { cniVersion: 1 }, code: 7, msg: /cniVersion is required and must be a string/ },
  { name: 'cniVersion empty', config: { cniVersion: '' }, code: 7, msg: /cniVersion is required/ },
  { name: 'cniVersion unsupported', config: { cniVersion: '0.2.0' }, code: 1, msg: /cniVersion "0.2.0" is not supported/ },
  { name: 'cniVersion from the future', config: { cniVersion: '9.9.9' }, code: 1, msg: /cniVersion "9.9.9" is not supported/ },
  { name: 'name missing', config: { name: undefined }, code: 7, msg: /network config: name is required/ },
  { name: 'name with a space', config: { name: 'my net' }, code: 7, msg: /network config: name is required: letters/ },
  { name: 'name a number', config: { name: 7 }, code: 7, msg: /network config: name is required/ },
  { name: 'type missing', config: { type: undefined }, code: 7, msg: /type is required and must be a string/ },
  { name: 'type a number', config: { type: 3 }, code: 7, msg: /type is required and must be a string/ },
  { name: 'mtu too small', config: { mtu: 100 }, code: 7, msg: /mtu must be an integer from 576/ },
  { name: 'mtu too large', config: { mtu: 70000 }, code: 7, msg: /mtu must be an integer from 576 to 65535/ },
  { name: 'mtu a fraction', config: { mtu: 1500.5 }, code: 7, msg: /mtu must be an integer/ },
  { name: 'mtu a string', config: { mtu: '1500' }, code: 7, msg: /mtu must be an integer/ },
  { name: 'agentSocket relative', config: { agentSocket: 'run/twill/cni.sock' }, code: 7, msg: /agentSocket must be an absolute path/ },
  { name: 'agentSocket empty', config: { agentSocket: '' }, code: 7, msg: /agentSocket must be a non-empty string/ },
  { name: 'stateDir a number', config: { stateDir: 5 }, code: 7, msg: /stateDir must be a non-empty string/ },
  { name: 'an ipam section', config: { ipam: { type: 'host-local' } }, code: 2, msg: /ipam is not supported/ },
  { name: 'prevResult.ips not a list', config: { prevResult: { ips: 'x' } }, code: 7, msg: /prevResult.ips must be a list/ },
  { name: 'prevResult address missing', config: { prevResult: { ips: [{ gateway: '1.2.3.4' }] } }, code: 7, msg: /prevResult.ips\[0\].address must be a string/ },
  { name: 'runtimeConfig a string', config: { runtimeConfig: 'x' }, code: 7, msg: /runtimeConfig must be an object/ },
  { name: 'runtimeConfig a list', config: { runtimeConfig: [{ portMappings: [] }] }, code: 7, msg: /runtimeConfig must be an object/ },
  { name: 'runtimeConfig null', config: { runtimeConfig: null }, code: 7, msg: /runtimeConfig must be an object/ },
  // Bandwidth limits (runtimeConfig.bandwidth), as containerd spells them or as the CNI conventions do.
  { name: 'a negative rate', config: { runtimeConfig: { bandwidth: { ingressRate: -1, ingressBurst: 8000 } } }, code: 7, msg: /runtimeConfig.bandwidth.ingressRate must be a whole number of bits per second, 0 or more/ },
  { name: 'a fractional burst', config: { runtimeConfig: { bandwidth: { EgressRate: 1e6, EgressBurst: 0.5 } } }, code: 7, msg: /runtimeConfig.bandwidth.EgressBurst must be a whole number of bits/ },
  { name: 'a rate as a string', config: { runtimeConfig: { bandwidth: { egressRate: '10M', egressBurst: 8000 } } }, code: 7, msg: /runtimeConfig.bandwidth.egressRate must be a whole number/ },
  { name: 'a rate with a zero burst', config: { runtimeConfig: { bandwidth: { IngressRate: 1e7, IngressBurst: 0 } } }, code: 7, msg: /runtimeConfig.bandwidth.IngressBurst must be set with IngressRate, and not be 0/ },
  { name: 'a burst without a rate', config: { runtimeConfig: { bandwidth: { egressBurst: 8000 } } }, code: 7, msg: /runtimeConfig.bandwidth.egressBurst is set without egressRate/ },
  { name: 'a rate below 1 kbit/s', config: { runtimeConfig: { bandwidth: { ingressRate: 999, ingressBurst: 8000 } } }, code: 7, msg: /ingressRate is 999 bits per second, less than the 1000/ },
  { name: 'an absurdly large rate', config: { runtimeConfig: { bandwidth: { IngressRate: 1e16, IngressBurst: 8000 } } }, code: 7, msg: /IngressRate is 10000000000000000 bits per second, more than/ },
  { name: 'an absurdly large burst', config: { runtimeConfig: { bandwidth: { egressRate: 1e6, egressBurst: 2 ** 40 } } }, code: 7, msg: /egressBurst is 1099511627776 bits, more than/ },
  { name: 'a rate spelt twice', config: { runtimeConfig: { bandwidth: { ingressRate: 1e6, IngressRate: 2e6, ingressBurst: 8000 } } }, code: 7, msg: /ingressRate is given twice/ },
  { name: 'bandwidth a list', config: { runtimeConfig: { bandwidth: [] } }, code: 7, msg: /runtimeConfig.bandwidth must be an object/ },
  { name: 'shaped subnets', config: { runtimeConfig: { bandwidth: { ingressRate: 1e6, ingressBurst: 8000, shapedSubnets: ['10.0.0.0/8'] } } }, code: 2, msg: /shapedSubnets is not supported/ },
  // Commands their config's version does not have.
  { name: 'CHECK on a 0.3.1 config', env: { CNI_COMMAND: 'CHECK' }, config: { cniVersion: '0.3.1' }, code: 1, msg: /CHECK needs cniVersion 0.4.0/ },
  { name: 'CHECK without prevResult', env: { CNI_COMMAND: 'CHECK' }, code: 7, msg: /prevResult is required for CHECK/ },
  { name: 'GC without valid attachments', env: { CNI_COMMAND: 'GC' }, config: { cniVersion: '1.1.0' }, code: 7, msg: /cni.dev\/valid-attachments is required/ },
  { name: 'STATUS on a 1.0.0 config', env: { CNI_COMMAND: 'STATUS' }, code: 1, msg: /STATUS needs cniVersion 1.1.0/ },
];

/** The row applied to a well-formed ADD: its environment and stdin. */
export function applyBadInput(row: BadInput, env: Record<string, string>, config: Record<string, unknown>): { env: Record<string, string>; stdin: Buffer } {
  const mergedEnv: Record<string, string | undefined> = { ...env, ...row.env };
  const mergedConfig: Record<string, unknown> = { ...config, ...row.config };
  for (const key of Object.keys(mergedEnv)) if (mergedEnv[key] === undefined) delete mergedEnv[key];
  for (const key of Object.keys(mergedConfig)) if (mergedConfig[key] === undefined) delete mergedConfig[key];
  const stdin = row.stdin === undefined ? Buffer.from(JSON.stringify(mergedConfig)) : Buffer.isBuffer(row.stdin) ? row.stdin : Buffer.from(row.stdin);
  return { env: mergedEnv as Record<string, string>, stdin };
}
