// Renders charts/twill with test/chart/render (a `helm template` stand-in built from
// Debian's Go, sprig and sigs.k8s.io/yaml) and parses the output into objects.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import YAML from 'yaml';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const CHART_DIR = path.join(repoRoot, 'charts', 'twill');
const SOURCE_DIR = path.join(repoRoot, 'test', 'chart', 'render');
const RENDERER = path.join(repoRoot, 'dist', 'test', 'chart-render');

function newestSource(): number {
  return Math.max(...fs.readdirSync(SOURCE_DIR).map((name) => fs.statSync(path.join(SOURCE_DIR, name)).mtimeMs));
}

/** Builds the renderer unless dist/test/chart-render is newer than its source. */
export function buildRenderer(): string {
  const built = fs.existsSync(RENDERER) ? fs.statSync(RENDERER).mtimeMs : 0;
  if (built < newestSource()) {
    execFileSync('bash', [path.join(repoRoot, 'test', 'chart', 'build-renderer.sh'), RENDERER], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return RENDERER;
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

export class RenderError extends Error {
  override readonly name = 'RenderError';
}

/** `helm template <releaseName> charts/twill --namespace <namespace> ...` as text. */
export function renderChart(options: RenderOptions = {}): string {
  const args = ['--name', options.releaseName ?? 'twill', '--namespace', options.namespace ?? 'kube-system'];
  if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
  for (const file of options.values ?? []) args.push('-f', file);
  for (const expression of options.set ?? []) args.push('--set', expression);
  const result = spawnSync(buildRenderer(), [...args, options.chartDir ?? CHART_DIR], { encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new RenderError(result.stderr.trim());
  return result.stdout;
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
