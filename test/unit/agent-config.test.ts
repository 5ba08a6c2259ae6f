// twill-agent configuration: file (YAML or JSON), flags over it, defaults, and errors
// that name the setting.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { ConfigError, readConfigFile, resolveConfig } from '../../agent/lib/config';
import { chooseAttachMode } from '../../bpf/device-hooks';
import { parseFlags } from '../../agent/lib/flags';

const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-config-'));
let files = 0;

function writeTemp(name: string, text: string): string {
  const file = path.join(directory, `${files++}-${name}`);
  fs.writeFileSync(file, text);
  return file;
}

describe('agent configuration', () => {
  after(() => fs.rmSync(directory, { recursive: true, force: true }));

  test('YAML and JSON files read alike; flags override the file; defaults fill the rest', () => {
    const yaml = readConfigFile(writeTemp('agent.yaml', 'nodeName: n1\npodCIDR: 10.244.1.0/24\nclusterCIDR: 10.244.0.0/16\nmode: vxlan\n'));
    const json = readConfigFile(writeTemp('agent.json', '{"nodeName": "n1", "podCIDR": "10.244.1.0/24", "clusterCIDR": "10.244.0.0/16", "mode": "vxlan"}'));
    assert.deepEqual(yaml, json);
    const flags = parseFlags(['--pod-cidr', '10.244.2.0/24', '--mtu', '1450'], {});
    const config = resolveConfig(yaml, flags.overrides);
    assert.equal(config.podCIDR, '10.244.2.0/24');
    assert.equal(config.nodeName, 'n1');
    assert.equal(config.mode, 'vxlan');
    assert.equal(config.mtu, 1450);
    assert.equal(config.bpffsRoot, '/sys/fs/bpf/twill');
    assert.equal(config.stateDir, '/var/lib/twill');
    assert.equal(config.procSysNet, '/proc/sys/net');
    assert.equal(config.attach, 'auto');
    assert.equal(resolveConfig(yaml, parseFlags(['--attach', 'tc'], {}).overrides).attach, 'tc');
    assert.equal(resolveConfig(readConfigFile(writeTemp('agent.yaml', 'nodeName: n1\nattach: tcx\n')), {}).attach, 'tcx');
  });

  test('--attach: auto takes TCX where the kernel has it and clsact filters where not; tcx is refused without it', () => {
    assert.deepEqual(chooseAttachMode('auto', true), { mode: 'tcx', why: 'the kernel has TCX (Linux 6.6+)' });
    assert.deepEqual(chooseAttachMode('auto', false), { mode: 'tc', why: 'the kernel has no TCX (before Linux 6.6): clsact filters' });
    assert.deepEqual(chooseAttachMode('tc', true), { mode: 'tc', why: 'asked for (--attach tc)' });
    assert.deepEqual(chooseAttachMode('tcx', true), { mode: 'tcx', why: 'asked for (--attach tcx)' });
    assert.throws(() => chooseAttachMode('tcx', false), /--attach tcx: this kernel has no TCX \(it came in Linux 6\.6\); use --attach auto or tc/);
  });

  test('NODE_NAME from the downward API names the node when no flag does', () => {
    assert.equal(parseFlags([], { NODE_NAME: 'worker-3' }).overrides.nodeName, 'worker-3');
    assert.equal(parseFlags(['--node-name', 'x'], { NODE_NAME: 'worker-3' }).overrides.nodeName, 'x');
  });

  const errors: Array<[string, () => unknown, RegExp]> = [
    ['missing node name', () => resolveConfig({ podCIDR: '10.0.0.0/24' }, {}), /nodeName is required/],
    ['bad cluster CIDR', () => resolveConfig({ nodeName: 'n', clusterCIDR: '10.244.0.0' }, {}), /clusterCIDR "10.244.0.0" is not a CIDR such as 10.244.1.0\/24, nor one of each family.*has no prefix length/],
    ['two IPv4 pod CIDRs', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24,10.1.0.0/24' }, {}), /has two IPv4 CIDRs: give one of each family/],
    ['a bad IPv6 pod CIDR', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24,fd00::1::/64' }, {}), /"fd00::1::\/64" is not an IPv6 prefix/],
    ['an IPv6 pod CIDR in an IPv4 cluster', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24,fd00::/64', clusterCIDR: '10.0.0.0/16' }, {}), /podCIDR 10.0.0.0\/24,fd00::\/64 \(ipv4 and ipv6\) and clusterCIDR 10.0.0.0\/16 \(ipv4\) differ in IP families/],
    ['an IPv4 node in a dual-stack cluster', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24', clusterCIDR: '10.0.0.0/16,fd00::/56' }, {}), /differ in IP families: give the node a pod CIDR of each family the cluster has/],
    ['VNI out of range', () => resolveConfig({ nodeName: 'n' }, { vni: 1 << 24 }), /vni 16777216 must be an integer from 1 to 16777215/],
    ['bad pod CIDR', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/40' }, {}), /podCIDR "10.0.0.0\/40" is not a CIDR/],
    ['tiny pod CIDR', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/31' }, {}), /too small/],
    ['vxlan without a cluster CIDR', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24', mode: 'vxlan' }, {}), /mode vxlan needs clusterCIDR/],
    ['bad attach', () => resolveConfig({ nodeName: 'n' }, { attach: 'clsact' as 'tc' }), /attach "clsact" must be one of auto, tcx, tc/],
    ['bad mode', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24', mode: 'gre' as 'native' }, {}), /mode "gre" must be native or vxlan/],
    ['bad node IP', () => resolveConfig({ nodeName: 'n', podCIDR: '10.0.0.0/24', nodeIP: '1.2.3' }, {}), /nodeIP "1.2.3"/],
    ['unknown file setting', () => readConfigFile(writeTemp('a.yaml', 'podCidr: 10.0.0.0/24\n')), /unknown setting "podCidr"/],
    ['wrongly typed file setting', () => readConfigFile(writeTemp('a.yaml', 'mtu: "1500"\n')), /mtu must be a number/],
    ['unparsable file', () => readConfigFile(writeTemp('a.yaml', 'a: [\n')), /config file .*a.yaml/],
    ['unknown flag', () => parseFlags(['--pod-cdir', 'x'], {}), /Unknown option '--pod-cdir'/],
    ['non-numeric flag', () => parseFlags(['--mtu', 'big'], {}), /--mtu must be a whole number/],
  ];
  for (const [name, call, message] of errors) {
    test(`${name} is a ConfigError naming it`, () => {
      assert.throws(call, (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }
});
