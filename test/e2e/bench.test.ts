// The benchmark itself, run as a user runs it but short (one repetition, one second
// per traffic measure), with this commit built again as the previous build to measure
// beside: every topology builds, every subject gives a figure, Twill's paths pass their
// counter checks, every target is evaluated, and nothing is left (no worktree either).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { needsRoot, repoRoot } from '../helpers/kernel';
import { IPV6_CROSS_NODE, IPV6_SAME_NODE, IPV6_SUBJECTS, IPV6_VXLAN, IPV6_VXLAN6 } from '../bench/ipv6-paths';
import { PREVIOUS_BUILD, PREVIOUS_CROSS_NODE, PREVIOUS_SAME_NODE, THIS_BUILD } from '../bench/previous-build';
import type { Result } from '../bench/results';
import type { TargetOutcome } from '../bench/targets';

const MAIN = path.join(__dirname, '..', 'bench', 'main.js');

const worktrees = (): string => execFileSync('git', ['-C', repoRoot, 'worktree', 'list'], { encoding: 'utf8' });

test('npm run bench measures every subject and evaluates every target', { ...needsRoot, timeout: 900_000 }, () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-bench-results-'));
  const worktreesBefore = worktrees();
  try {
    const run = spawnSync(process.execPath, [MAIN, '--repetitions', '1', '--seconds', '1', '--previous', 'HEAD', '--results-dir', resultsDir], { encoding: 'utf8', timeout: 840_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    const { results, targets } = JSON.parse(lines[lines.length - 1]) as { results: Result[]; targets: TargetOutcome[] };
    assert.match(run.stdout, /^### pod to pod, same node$/m, 'the Markdown report has a table per group');

    const subjects = (group: string): string[] => [...new Set(results.filter((r) => r.group === group).map((r) => r.subject))];
    assert.deepEqual(subjects('pod to pod, same node'), ['limit: one veth between the pods', 'bridge + host-local (Flannel on a node)', 'Twill']);
    assert.deepEqual(subjects('pod to pod, across nodes').sort(), ['Flannel host-gw style', 'Flannel vxlan style', 'Twill native', 'Twill vxlan', 'limit: node to node on the wire']);
    for (const group of [PREVIOUS_SAME_NODE, PREVIOUS_CROSS_NODE]) assert.deepEqual(subjects(group), [THIS_BUILD, PREVIOUS_BUILD]);
    assert.deepEqual([IPV6_SAME_NODE, IPV6_CROSS_NODE, IPV6_VXLAN, IPV6_VXLAN6].flatMap(subjects).sort(), Object.values(IPV6_SUBJECTS).sort());
    for (const result of results) {
      assert.ok(Number.isFinite(result.median) && result.median > 0, `${result.group} / ${result.subject} / ${result.metric}: ${result.median}`);
    }
    const unmeasured = targets.filter((t) => t.measured === undefined).map((t) => t.target);
    assert.deepEqual(unmeasured, [], 'every target has a figure');

    const saved = fs.readdirSync(resultsDir).sort();
    assert.equal(saved.length, 2, `one Markdown and one JSON file: ${saved}`);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(resultsDir, saved.find((f) => f.endsWith('.json')) as string), 'utf8')).results, results);
    assert.equal(worktrees(), worktreesBefore, 'the previous build is removed with its worktree');
  } finally {
    fs.rmSync(resultsDir, { recursive: true, force: true });
  }
});
