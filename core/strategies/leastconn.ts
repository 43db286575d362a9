import type { Candidate, Strategy } from "./strategy.ts";

/**
 * Least connections relative to weight (active / weight). Among equally loaded members the one
 * picked longest ago wins, as HAProxy requeues a used server behind its equals: with short
 * requests every member sits at 0 active most of the time, and a fixed tie-break would send
 * all of that traffic to the first member.
 */
export class LeastConn implements Strategy {
  readonly #lastPick = new Map<string, number>();
  #picks = 0;

  select(candidates: readonly Candidate[]): Candidate {
    let best = candidates[0];
    let bestLast = this.#lastPick.get(best.name) ?? -1;
    for (let i = 1; i < candidates.length; i++) {
      const candidate = candidates[i];
      // Cross-multiplied so that no division happens and equal ratios compare exactly equal.
      const diff = candidate.active * best.weight - best.active * candidate.weight;
      if (diff > 0) continue;
      const last = this.#lastPick.get(candidate.name) ?? -1;
      if (diff < 0 || last < bestLast) {
        best = candidate;
        bestLast = last;
      }
    }
    this.#lastPick.set(best.name, ++this.#picks);
    return best;
  }

  update(members: readonly { name: string; weight: number }[]): void {
    const names = new Set(members.map((member) => member.name));
    for (const name of this.#lastPick.keys()) {
      if (!names.has(name)) this.#lastPick.delete(name);
    }
  }
}
