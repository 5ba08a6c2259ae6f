// npm run bench: builds every topology in network namespaces, measures the suites in
// turns for N repetitions, and prints a Markdown report and one JSON line with the
// medians and the ratios within this run. Both are saved under bench-results/ with
// the machine's description; --update also rewrites BENCHMARKS.md.
//   --repetitions N  (5)   --seconds S per traffic measure (3)
//   --only a,b       only these suites (program, paths, cni, bursts, nodes, bandwidth,
//                    ipv6, previous)
//   --previous REV   also build the commit REV and measure its unlimited pod paths beside
//                    this build's (the `previous` suite)
//   --results-dir D  where the run is saved (bench-results/)
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { repoRoot } from '../helpers/kernel';
import { bandwidthSuite } from './bandwidth';
import { cniBurstSuite } from './cni-bursts';
import { cniLatencySuite } from './cni-latency';
import { describeEnvironment } from './environment';
import { markdownReport } from './markdown';
import { nodeScaleSuite } from './node-scale';
import { podPathsSuite } from './pod-paths';
import { previousBuildSuite } from './previous-build';
import { ipv6PathsSuite } from './ipv6-paths';
import { programCostSuite } from './program-cost';
import { summarise } from './results';
import { resolveRevision } from './revision-build';
import type { Observation, Suite } from './suite';
import { evaluateTargets } from './targets';

const { values } = parseArgs({
  options: {
    repetitions: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    only: { type: 'string' },
    previous: { type: 'string' },
    update: { type: 'boolean', default: false },
    'results-dir': { type: 'string', default: path.join(repoRoot, 'bench-results') },
  },
});
const repetitions = Number(values.repetitions);
const seconds = Number(values.seconds);
if (!Number.isInteger(repetitions) || repetitions < 1) throw new Error(`--repetitions ${values.repetitions}: must be a whole number from 1`);
if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`--seconds ${values.seconds}: must be a whole number of seconds from 1`);
if (process.getuid?.() !== 0) throw new Error('the benchmark builds network namespaces and loads BPF programs: run it as root');

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const previousCommit = values.previous === undefined ? undefined : resolveRevision(values.previous);

const available: Record<string, () => Suite> = {
  program: () => programCostSuite({ calls: 400 }),
  paths: () => podPathsSuite({ seconds }),
  cni: () => cniLatencySuite({ operations: 20 }),
  bursts: () => cniBurstSuite({ pods: 128, churnSeconds: 20, inFlight: 16 }),
  nodes: () => nodeScaleSuite(),
  bandwidth: () => bandwidthSuite({ seconds }),
  ipv6: () => ipv6PathsSuite({ seconds }),
  ...(previousCommit ? { previous: () => previousBuildSuite({ commit: previousCommit, seconds, log }) } : {}),
};
const chosen = values.only ? values.only.split(',') : Object.keys(available);
if (chosen.includes('previous') && !previousCommit) throw new Error('--only previous: name the build to compare with, --previous REV');
const unknown = chosen.filter((name) => !(name in available));
if (unknown.length > 0) throw new Error(`--only ${unknown.join(',')}: the suites are ${Object.keys(available).join(', ')}`);
const suites = chosen.map((name) => available[name]());

let tornDown = false;
function tearDownAll(): void {
  if (tornDown) return;
  tornDown = true;
  for (const suite of [...suites].reverse()) {
    try {
      suite.tearDown();
    } catch (error) {
      log(`tearing down ${suite.name} failed: ${(error as Error).message}`);
    }
  }
}
process.on('exit', tearDownAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    tearDownAll();
    process.exit(130);
  });
}

async function main(): Promise<void> {
  const environment = describeEnvironment(repetitions, seconds, previousCommit);
  const observations: Observation[] = [];
  try {
    for (const suite of suites) {
      log(`setting up ${suite.name}`);
      await suite.setUp();
    }
    for (let repetition = 1; repetition <= repetitions; repetition++) {
      for (const suite of suites) {
        log(`repetition ${repetition}/${repetitions}: ${suite.name}`);
        observations.push(...(await suite.measure()));
      }
    }
  } finally {
    tearDownAll();
  }
  const baselines = Object.assign({}, ...suites.map((suite) => suite.baselines)) as Record<string, string>;
  const results = summarise(observations, baselines);
  const targets = evaluateTargets(results);
  const markdown = markdownReport(environment, results, baselines, targets);
  const json = JSON.stringify({ environment, results, targets });
  process.stdout.write(`${markdown}\n\n${json}\n`);

  const directory = values['results-dir'];
  fs.mkdirSync(directory, { recursive: true });
  const stem = path.join(directory, environment.date.replace(/[:.]/g, '-'));
  fs.writeFileSync(`${stem}.md`, `${markdown}\n`);
  fs.writeFileSync(`${stem}.json`, `${json}\n`);
  log(`saved ${stem}.md and .json`);
  if (values.update) {
    const document = path.join(repoRoot, 'BENCHMARKS.md');
    const introduction = fs.readFileSync(document, 'utf8').split('<!-- results -->')[0];
    fs.writeFileSync(document, `${introduction}<!-- results -->\n\n${markdown}\n`);
    log('updated BENCHMARKS.md');
  }
}

main().catch((error: unknown) => {
  log((error as Error).stack ?? String(error));
  process.exitCode = 1;
});
