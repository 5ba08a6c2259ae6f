// Bounded waiting for something the system does asynchronously (an agent's sync).

/** Polls `predicate` every `pollMs` until it holds; throws after `timeoutMs`. Returns the ms it took. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs: number, state: () => string = () => '', pollMs = 20): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms ${state()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return Date.now() - started;
}
