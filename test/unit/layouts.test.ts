// The layouts TypeScript uses come from bpf/layouts.generated.ts, which the build writes
// from the BTF of the compiled datapath (bpf/generate-layouts.mjs): its check refuses a
// stale copy, and the counters map keeps its shape.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { COUNTER_SLOTS, DIRECTION_COUNT, FAMILY_COUNT, MAPS, REASON_COUNT } from '../../bpf/layouts';
import { repoRoot } from '../helpers/kernel';

const GENERATOR = path.join(repoRoot, 'bpf', 'generate-layouts.mjs');

describe('the layouts generated from the BTF of the compiled datapath', () => {
  test('the generator refuses a layouts file that differs from the BTF (a CI build fails on it), and accepts a fresh one', () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-layouts-'));
    const file = path.join(scratch, 'layouts.generated.ts');
    const generate = (...args: string[]) => spawnSync(process.execPath, [GENERATOR, ...args, file], { encoding: 'utf8' });
    try {
      assert.equal(generate().status, 0);
      assert.equal(generate('--check').status, 0);
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('size: 24', 'size: 28'));
      const edited = generate('--check');
      assert.equal(edited.status, 1);
      assert.match(edited.stderr, /differs from what the compiled datapath's BTF gives/);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('the counters map has its fixed shape, with a slot for every reason, family and direction', () => {
    assert.equal(MAPS.counters.maxEntries, COUNTER_SLOTS.TWILL_REASON_SLOTS * COUNTER_SLOTS.TWILL_FAMILY_SLOTS * COUNTER_SLOTS.TWILL_DIRECTION_SLOTS);
    assert.equal(MAPS.counters.maxEntries, 64 * 8, 'the size of the builds before the family, so their pinned map is re-adopted');
    assert.ok(REASON_COUNT <= COUNTER_SLOTS.TWILL_REASON_SLOTS && FAMILY_COUNT <= COUNTER_SLOTS.TWILL_FAMILY_SLOTS && DIRECTION_COUNT <= COUNTER_SLOTS.TWILL_DIRECTION_SLOTS);
  });
});
