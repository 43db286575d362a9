/**
 * The last N samples in a ring, with percentiles computed on demand: the dashboard wants "p99 of
 * recent traffic", which a cumulative histogram cannot give, and a ring costs one store per sample.
 * Windows of several threads (`workers: N`) merge by pooling their samples: a percentile of
 * percentiles would be wrong whenever the threads saw different traffic.
 *
 * @example
 * ```ts
 * const window = new LatencyWindow(4);
 * for (const ms of [5, 1, 3, 9, 7]) window.record(ms);
 * window.percentile(0.5); // 5 (of 1, 3, 9, 7... the last four)
 * percentile([...window.samples(), ...otherThreadSamples], 0.99); // p99 over both windows
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
    return percentile(this.#held(), q);
  }

  /** The samples held, in no particular order, as a plain array (it crosses between threads). */
  samples(): number[] {
    return Array.from(this.#held());
  }

  #held(): Float64Array {
    return this.#samples.subarray(0, Math.min(this.#count, this.#samples.length));
  }
}

/** Nearest-rank percentile (`q` in 0..1) of `samples`, or null when there are none. */
export function percentile(samples: ArrayLike<number>, q: number): number | null {
  const held = samples.length;
  if (held === 0) return null;
  // A Float64Array sorts numerically; a plain array would sort as strings.
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(held - 1, Math.max(0, Math.ceil(q * held) - 1))];
}
