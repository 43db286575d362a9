/**
 * The last N samples in a ring, with percentiles computed on demand: the dashboard wants "p99 of
 * recent traffic", which a cumulative histogram cannot give, and a ring costs one store per sample.
 *
 * @example
 * ```ts
 * const window = new LatencyWindow(4);
 * for (const ms of [5, 1, 3, 9, 7]) window.record(ms);
 * window.percentile(0.5); // 5 (of 1, 3, 9, 7... the last four)
 * ```
 * @module
 */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #count = 0;

  constructor(size: number) {
    this.#samples = new Float64Array(size);
  }

  record(value: number): void {
    this.#samples[this.#count % this.#samples.length] = value;
    this.#count++;
  }

  /** Nearest-rank percentile (`q` in 0..1) of the samples held, or null when there are none. */
  percentile(q: number): number | null {
    const held = Math.min(this.#count, this.#samples.length);
    if (held === 0) return null;
    const sorted = this.#samples.slice(0, held).sort();
    return sorted[Math.min(held - 1, Math.max(0, Math.ceil(q * held) - 1))];
  }
}
