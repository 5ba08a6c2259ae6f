// Clean-ups to run when the test process exits before a test's own clean-up did: one
// 'exit' listener for all of them, so a run holding many namespaces, mounts and
// processes at once (the bench holds a dozen) stays within Node's listener limit.
const pending = new Set<() => void>();

process.on('exit', () => pending.forEach((cleanup) => cleanup()));

/** Runs `cleanup` at exit; the returned function takes it back once it has run. */
export function atExit(cleanup: () => void): () => void {
  pending.add(cleanup);
  return () => pending.delete(cleanup);
}
