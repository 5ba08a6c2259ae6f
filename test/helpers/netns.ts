// Network namespaces for tests, the bench and the lab: making and deleting one by name,
// and TestNetns, one owned by this test process, deleted by delete() and again by an
// exit hook if a test died before its cleanup ran. Deleting a namespace deletes the
// devices in it.
import { execFileSync } from 'node:child_process';

import { inNetns, run } from './kernel';

/** Every test namespace name starts with this, so leftovers can be found. */
export const TEST_NETNS_PREFIX = 'twt-';

const created = new Set<string>();
let counter = 0;

/** A name no other test namespace has: the leak-checked prefix, this process, a counter, `tag`. */
export function testNetnsName(tag: string): string {
  return `${TEST_NETNS_PREFIX}${process.pid}-${counter++}-${tag}`.slice(0, 40);
}

/** Makes a namespace with its loopback up. */
export function addNamespace(name: string): void {
  run('ip', ['netns', 'add', name]);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Deletes a namespace if it is there. */
export function deleteNamespace(name: string): void {
  try {
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // Never created, or already gone.
  }
}

/** A device's ifindex inside a namespace (`ip netns exec` mounts the namespace's own /sys). */
export function ifindexIn(ns: string, device: string): number {
  return Number(inNetns(ns, 'cat', [`/sys/class/net/${device}/ifindex`]).trim());
}

function deleteQuietly(name: string): void {
  deleteNamespace(name);
  created.delete(name);
}

process.on('exit', () => created.forEach(deleteQuietly));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    created.forEach(deleteQuietly);
    process.kill(process.pid, signal);
  });
}

export class TestNetns {
  readonly name: string;
  readonly path: string;

  constructor(tag: string) {
    this.name = testNetnsName(tag);
    created.add(this.name);
    addNamespace(this.name);
    this.path = `/run/netns/${this.name}`;
  }

  /** Runs a command inside this namespace. */
  exec(command: string, args: string[]): string {
    return inNetns(this.name, command, args);
  }

  ifindex(device: string): number {
    return ifindexIn(this.name, device);
  }

  delete(): void {
    deleteQuietly(this.name);
  }
}

/**
 * Two namespaces joined by a veth pair with addresses 192.168.77.1/24 (in `a`, device
 * va) and 192.168.77.2/24 (in `b`, device vb): the smallest wire to send traffic over.
 */
export function wiredPair(tag: string): { a: TestNetns; b: TestNetns; cleanup: () => void } {
  const a = new TestNetns(`${tag}a`);
  const b = new TestNetns(`${tag}b`);
  a.exec('ip', ['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name]);
  a.exec('ip', ['addr', 'add', '192.168.77.1/24', 'dev', 'va']);
  b.exec('ip', ['addr', 'add', '192.168.77.2/24', 'dev', 'vb']);
  a.exec('ip', ['link', 'set', 'va', 'up']);
  b.exec('ip', ['link', 'set', 'vb', 'up']);
  return {
    a,
    b,
    cleanup: () => {
      a.delete();
      b.delete();
    },
  };
}
