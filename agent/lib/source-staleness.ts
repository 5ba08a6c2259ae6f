// How a node source that cannot be read says so, and when it tries again: since when
// the list in force may be stale and why, and a retry delay that doubles from `firstMs`
// up to `maxMs`. One per source; recovered() starts it over.
export class SourceStaleness {
  readonly #firstMs: number;
  readonly #maxMs: number;
  #failures = 0;
  #stale: { since: number; message: string } | undefined;

  constructor(firstMs: number, maxMs: number) {
    this.#firstMs = firstMs;
    this.#maxMs = maxMs;
  }

  get stale(): boolean {
    return this.#stale !== undefined;
  }

  /** The last failure's message, if the source is failing now. */
  get message(): string | undefined {
    return this.#stale?.message;
  }

  /** Records a failure; returns how long to wait before the next try. */
  failed(message: string): number {
    this.#stale = { since: this.#stale?.since ?? Date.now(), message };
    return Math.min(this.#firstMs * 2 ** this.#failures++, this.#maxMs);
  }

  recovered(): void {
    this.#failures = 0;
    this.#stale = undefined;
  }

  /** "<what> for N s (<message>); the last good list is in force", while failing. */
  problem(what: string): string | undefined {
    if (!this.#stale) return undefined;
    return `${what} for ${Math.round((Date.now() - this.#stale.since) / 1000)} s (${this.#stale.message}); the last good list is in force`;
  }
}
