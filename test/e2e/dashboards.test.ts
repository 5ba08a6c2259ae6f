// Every query of the chart's Grafana dashboards, evaluated by a real Prometheus
// (Debian's) scraping the agents of a two-node lab that has carried traffic, in each
// mode: each returns at least one series. A panel with no series shows "No data",
// which an operator reads as broken; a reason or a result that has not happened yet
// must show as 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { dashboardQueries, substituteVariables } from '../chart/dashboard-queries';
import { atExit } from '../helpers/exit';
import { needsRoot } from '../helpers/kernel';
import { TEST_NETNS_PREFIX } from '../helpers/netns';
import { METRICS_PORT, agentGet } from '../helpers/prometheus';
import { ping } from '../helpers/traffic';
import { waitFor } from '../helpers/wait';
import { labDown, labUp, type Lab } from '../lab/cluster';

const PROMETHEUS_PORT = 9090;
const SCRAPE_SECONDS = 1;
// rate() over the dashboards' interval needs two scrapes of every target in it.
const SCRAPES_BEFORE_QUERYING = 4;

interface QueryAnswer {
  status: string;
  error?: string;
  data?: { result: unknown[] };
}

for (const mode of ['native', 'vxlan'] as const) {
  describe(`the dashboards on a ${mode} lab scraped by Prometheus`, needsRoot, () => {
    let lab: Lab;
    let prometheus: ChildProcess | undefined;
    let forgetPrometheus: () => void = () => undefined;
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-prometheus-'));

    /** Prometheus' HTTP API, from the node it runs in. */
    const query = (expr: string): QueryAnswer => {
      const { status, body } = agentGet(lab.nodes[0].ns, `/api/v1/query?query=${encodeURIComponent(expr)}`, PROMETHEUS_PORT);
      return status === 200 || status === 400 || status === 422 ? (JSON.parse(body) as QueryAnswer) : { status: `HTTP ${status}`, error: body };
    };
    const series = (expr: string): number => query(expr).data?.result.length ?? 0;

    before(async () => {
      lab = await labUp({ nodes: 2, podsPerNode: 2, mode, prefix: `${TEST_NETNS_PREFIX}${process.pid}-d${mode[0]}`, directory: path.join(directory, 'lab') });
      const [pod1, pod2, pod3] = lab.pods;
      assert.equal(ping(pod1.ns, pod2.ip), 3, 'same node');
      assert.equal(ping(pod1.ns, pod3.ip), 3, 'across nodes');

      const config = path.join(directory, 'prometheus.yml');
      const targets = lab.nodes.map((node) => `${node.ip}:${METRICS_PORT}`);
      fs.writeFileSync(config, JSON.stringify({ global: { scrape_interval: `${SCRAPE_SECONDS}s` }, scrape_configs: [{ job_name: 'twill', static_configs: [{ targets }] }] }));
      const stop = (): void => void prometheus?.kill('SIGKILL');
      forgetPrometheus = atExit(stop);
      const args = ['--config.file', config, '--storage.tsdb.path', path.join(directory, 'data'), '--web.listen-address', `127.0.0.1:${PROMETHEUS_PORT}`, '--log.level', 'warn'];
      prometheus = spawn('ip', ['netns', 'exec', lab.nodes[0].ns, 'prometheus', ...args], { stdio: 'ignore' });
      const upTargets = (): number => {
        try {
          return series('up == 1');
        } catch {
          return 0; // not listening yet
        }
      };
      await waitFor('Prometheus to scrape both agents', () => upTargets() === targets.length, 30_000, () => '', 250);
      await new Promise((resolve) => setTimeout(resolve, SCRAPES_BEFORE_QUERYING * SCRAPE_SECONDS * 1000));
    });

    after(() => {
      prometheus?.kill('SIGKILL');
      forgetPrometheus();
      if (lab) labDown(lab);
      fs.rmSync(directory, { recursive: true, force: true });
    });

    test('every panel and variable query returns at least one series', () => {
      const queries = dashboardQueries();
      assert.ok(queries.length > 20, `${queries.length} dashboard queries`);
      const empty = queries.flatMap(({ title, expr }) => {
        const answer = query(substituteVariables(expr));
        if (answer.status !== 'success') return [`${title}: ${answer.error ?? answer.status}`];
        return answer.data?.result.length ? [] : [`${title}: no series for ${expr}`];
      });
      assert.deepEqual(empty, []);
    });
  });
}
