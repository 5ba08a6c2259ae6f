// cni/install-cni.sh, the file of the image the chart's install-cni init container runs,
// run here against scratch directories with the host bundle made from this build as the
// Dockerfile makes it. The chart test checks the arguments the chart passes it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { repoRoot } from '../helpers/kernel';

const SCRIPT = path.join(repoRoot, 'cni', 'install-cni.sh');
const CONFLIST = '{"cniVersion":"1.0.0","name":"twill","plugins":[{"type":"twill"},{"type":"portmap"}]}\n';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-install-cni-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const bundle = path.join(scratch, 'image', 'host-cni');
const conflist = path.join(scratch, 'image', 'cni-config', '10-twill.conflist');
let id = '';

/** A node's CNI directories, empty, for one test. */
function node(name: string): { bin: string; conf: string } {
  const bin = path.join(scratch, name, 'opt', 'cni', 'bin');
  const conf = path.join(scratch, name, 'etc', 'cni', 'net.d');
  fs.mkdirSync(bin, { recursive: true });
  return { bin, conf };
}

function install(places: { bin: string; conf: string }, extra: string[] = ['--requires', 'portmap']): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(SCRIPT, ['--bundle', bundle, '--conflist', conflist, '--bin-dir', places.bin, '--conf-dir', places.conf, ...extra], { encoding: 'utf8' });
}

/** Every file and directory under `directory`, relative, sorted. */
function tree(directory: string): string[] {
  return (fs.readdirSync(directory, { recursive: true }) as string[]).sort();
}

describe('install-cni', () => {
  before(() => {
    const bundled = spawnSync('bash', [path.join(repoRoot, 'cni', 'host-bundle.sh'), bundle], { encoding: 'utf8' });
    assert.equal(bundled.status, 0, bundled.stderr);
    id = fs.readFileSync(path.join(bundle, 'ID'), 'utf8').trim();
    fs.mkdirSync(path.dirname(conflist), { recursive: true });
    fs.writeFileSync(conflist, CONFLIST);
  });

  test('installs the plugin under its build ID, the wrapper, and the conflist; again, the same; older builds go', () => {
    const places = node('fresh');
    fs.writeFileSync(path.join(places.bin, 'portmap'), '', { mode: 0o755 });
    fs.writeFileSync(path.join(places.bin, 'twill'), 'an older plugin', { mode: 0o755 });
    fs.mkdirSync(path.join(places.bin, 'twill.d', 'an-older-build'), { recursive: true });
    for (const run of ['first', 'again']) {
      const installed = install(places);
      assert.equal(installed.status, 0, `${run}: ${installed.stderr}`);
      assert.equal(installed.stdout, `install-cni: installed ${places.bin}/twill (build ${id}) and ${places.conf}/10-twill.conflist\n`);
      assert.deepEqual(fs.readdirSync(places.bin).sort(), ['portmap', 'twill', 'twill.d'], `${run}: no temporary file left`);
      assert.deepEqual(fs.readdirSync(path.join(places.bin, 'twill.d')), [id], `${run}: this build only`);
      assert.deepEqual(fs.readdirSync(places.conf), ['10-twill.conflist'], `${run}: no temporary file left`);
    }
    assert.deepEqual(tree(path.join(places.bin, 'twill.d', id)), tree(path.join(bundle, 'files')));
    assert.ok(!fs.readdirSync(path.join(places.bin, 'twill.d', id, 'lib')).includes('libbpf.so.1'), 'the plugin loads no native code: libbpf stays with the agent');
    assert.equal(fs.readFileSync(path.join(places.bin, 'twill'), 'utf8'), fs.readFileSync(path.join(bundle, 'twill'), 'utf8'));
    assert.equal(fs.statSync(path.join(places.bin, 'twill')).mode & 0o777, 0o755);
    assert.equal(fs.readFileSync(path.join(places.conf, '10-twill.conflist'), 'utf8'), CONFLIST);
    assert.equal(fs.statSync(path.join(places.conf, '10-twill.conflist')).mode & 0o777, 0o644);
  });

  test('the installed plugin runs as a runtime runs it: by path, with no node on PATH', () => {
    const places = node('runs');
    assert.equal(install(places, []).status, 0);
    const plugin = path.join(places.bin, 'twill');
    const version = spawnSync(plugin, [], { env: { CNI_COMMAND: 'VERSION' }, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(JSON.parse(version.stdout).cniVersion, '1.1.0');
    // DEL with no agent to ask succeeds, and leaves the attachment for the agent's next start.
    const stateDir = path.join(scratch, 'plugin-state');
    const del = spawnSync(plugin, [], {
      env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: places.bin, TMPDIR: scratch },
      input: JSON.stringify({ cniVersion: '1.1.0', name: 'twill', type: 'twill', stateDir, agentSocket: path.join(scratch, 'no-agent.sock') }),
      encoding: 'utf8',
    });
    assert.equal(del.status, 0, `${del.stdout} ${del.stderr}`);
    assert.equal(fs.readdirSync(path.join(stateDir, 'pending-release')).length, 1);
  });

  test('refuses, installing nothing, when a chained plugin is missing from the node', () => {
    const places = node('no-portmap');
    const refused = install(places);
    assert.equal(refused.status, 1);
    assert.equal(refused.stderr, `install-cni: the conflist chains portmap, but the node's CNI bin directory (mounted at ${places.bin}) has no portmap: install the CNI reference plugins on the node, or stop chaining it (cni.portmap=false)\n`);
    assert.deepEqual(tree(path.join(scratch, 'no-portmap')), ['opt', 'opt/cni', 'opt/cni/bin']);
  });

  test('refuses a missing option, an unknown one, or an image without the bundle, naming it', () => {
    const places = node('usage');
    for (const args of [[], ['--bundle', bundle], ['--bundle', bundle, '--conflist', conflist, '--bin-dir', places.bin, '--conf-dir'], ['--bin', places.bin]]) {
      const refused = spawnSync(SCRIPT, args, { encoding: 'utf8' });
      assert.equal(refused.status, 2, args.join(' '));
      assert.match(refused.stderr, /^usage: install-cni\.sh --bundle DIR/);
    }
    const noBundle = spawnSync(SCRIPT, ['--bundle', path.join(scratch, 'nowhere'), '--conflist', conflist, '--bin-dir', places.bin, '--conf-dir', places.conf], { encoding: 'utf8' });
    assert.equal(noBundle.status, 1);
    assert.equal(noBundle.stderr, `install-cni: ${path.join(scratch, 'nowhere')}/ID is missing: this image was not built by agent/Dockerfile\n`);
    assert.deepEqual(tree(path.join(scratch, 'usage')), ['opt', 'opt/cni', 'opt/cni/bin']);
  });
});
