// An in-process Kubernetes API serving list and watch of Nodes the way the real one
// does: resourceVersions, ADDED/MODIFIED/DELETED from a version, BOOKMARK events,
// 410 Gone for a version older than the kept history, and watches that can break.
// Listens on 127.0.0.1 only.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A Node as the agent sees it: a pod CIDR and an InternalIP of each family, comma-separated. */
export interface FakeNode {
  name: string;
  podCIDR?: string;
  internalIP?: string;
  /** metadata.creationTimestamp (RFC 3339); by default the time of the first upsert, kept by later ones. */
  created?: string;
}

interface Event {
  resourceVersion: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Record<string, unknown>;
}

function nodeObject(node: FakeNode, resourceVersion: number, created: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node.name, resourceVersion: String(resourceVersion), uid: `uid-${node.name}`, creationTimestamp: created },
    spec: node.podCIDR ? { podCIDR: node.podCIDR.split(',')[0], podCIDRs: node.podCIDR.split(',') } : {},
    status: { addresses: [...(node.internalIP?.split(',') ?? []).map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: node.name }] },
  };
}

export class FakeKubeApi {
  readonly #server = http.createServer((request, response) => this.#handle(request, response));
  readonly #nodes = new Map<string, Record<string, unknown>>();
  #port = 0;
  readonly #history: Event[] = [];
  readonly #watchers = new Set<http.ServerResponse>();
  #resourceVersion = 1;
  #oldestKept = 1;
  #directory = '';
  lists = 0;
  watches = 0;

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#directory = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-kubeapi-'));
  }

  /** A kubeconfig pointing at this server, without credentials. */
  kubeconfig(): string {
    const { port } = this.#server.address() as AddressInfo;
    const file = path.join(this.#directory, 'kubeconfig');
    fs.writeFileSync(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      clusters: [{ name: 'test', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
      users: [{ name: 'test', user: {} }],
    }));
    return file;
  }

  upsert(node: FakeNode): void {
    const existing = this.#nodes.get(node.name)?.metadata as { creationTimestamp: string } | undefined;
    // As an API server does: to the second, set once.
    const created = node.created ?? existing?.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.#record(existing ? 'MODIFIED' : 'ADDED', nodeObject(node, ++this.#resourceVersion, created));
  }

  remove(name: string): void {
    const object = this.#nodes.get(name);
    if (!object) return;
    this.#record('DELETED', { ...object, metadata: { ...(object.metadata as object), resourceVersion: String(++this.#resourceVersion) } });
  }

  /** Forgets the history, as etcd compaction does: resuming from an older version is 410 Gone. */
  compact(): void {
    this.#history.length = 0;
    this.#oldestKept = this.#resourceVersion;
  }

  /** Cuts every open watch mid-stream. */
  breakWatches(): void {
    for (const watcher of this.#watchers) watcher.destroy();
    this.#watchers.clear();
  }

  bookmark(): void {
    this.#send({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.#resourceVersion) } } });
  }

  /** Stops answering, as an API server that is down; the kubeconfig stays. */
  async stopServing(): Promise<void> {
    this.breakWatches();
    if (this.#server.listening) await new Promise((resolve) => this.#server.close(resolve));
  }

  /** Answers again on the port it had, as an API server back from an outage. */
  async resumeServing(): Promise<void> {
    if (this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.listen(this.#port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    await this.stopServing();
    fs.rmSync(this.#directory, { recursive: true, force: true });
  }

  #record(type: Event['type'], object: Record<string, unknown>): void {
    const name = (object.metadata as { name: string }).name;
    if (type === 'DELETED') this.#nodes.delete(name);
    else this.#nodes.set(name, object);
    const event = { resourceVersion: this.#resourceVersion, type, object };
    this.#history.push(event);
    this.#send({ type, object });
  }

  #send(event: { type: string; object: unknown }): void {
    for (const watcher of this.#watchers) watcher.write(JSON.stringify(event) + '\n');
  }

  #handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api/v1/nodes') {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404 }));
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      this.lists++;
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion: String(this.#resourceVersion) }, items: [...this.#nodes.values()] }),
      );
      return;
    }
    this.watches++;
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (from < this.#oldestKept) {
      response.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${this.#oldestKept})` } }) + '\n');
      return;
    }
    for (const event of this.#history) if (event.resourceVersion > from) response.write(JSON.stringify({ type: event.type, object: event.object }) + '\n');
    this.#watchers.add(response);
    response.on('close', () => this.#watchers.delete(response));
  }
}
