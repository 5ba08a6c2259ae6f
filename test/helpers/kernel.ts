// Kernel e2e tests need root. Outside CI a non-root run skips them and says why; in
// CI (CI=true) they must run, so a non-root CI run fails instead of skipping.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
/** Where bpf/build.sh writes the test fixtures' BPF objects. */
export const testObjects = path.join(repoRoot, 'dist', 'test', 'fixtures');

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === 'true') {
  throw new Error('kernel e2e tests must run as root in CI (CI=true); run the test command with sudo');
}

/** Options for describe()/test() of a kernel e2e test. */
export const needsRoot = { skip: isRoot ? false : 'kernel e2e test: needs root (run with sudo)' } as const;

/** Runs a command (iproute2, ping, tc) for test set-up and checks; never used by library code. */
export function run(command: string, args: string[], timeout = 20_000): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
}

/** Runs a command inside the network namespace `ns` (with its own /sys). */
export function inNetns(ns: string, command: string, args: string[], timeout = 20_000): string {
  return run('ip', ['netns', 'exec', ns, command, ...args], timeout);
}
