/**
 * Exponential backoff with full jitter for retries against the identity server: the n-th delay is
 * uniform in [base·2ⁿ/2, base·2ⁿ], capped at `maxMs`. {@link Backoff.reset} after a success.
 */
export class Backoff {
  #attempt = 0;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;

  constructor(options: { baseMs?: number; maxMs?: number; random?: () => number } = {}) {
    this.#baseMs = options.baseMs ?? 500;
    this.#maxMs = options.maxMs ?? 10_000;
    this.#random = options.random ?? Math.random;
  }

  /** The next delay in ms. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return ceiling / 2 + (this.#random() * ceiling) / 2;
  }

  /** Starts over from the base delay. */
  reset(): void {
    this.#attempt = 0;
  }
}
