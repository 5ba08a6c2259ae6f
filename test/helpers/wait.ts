// Bounded waiting for something the system does asynchronously (an agent's sync).

/** Polls `predicate` until it holds; throws after `timeoutMs`. Returns the ms it took. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs: number, state: () => string = () => ''): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms ${state()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
}
