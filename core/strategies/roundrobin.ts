import type { Candidate, Strategy } from "./strategy.ts";

/**
 * Smooth weighted round robin, nginx's algorithm: every pick adds each candidate's weight to its
 * running score, takes the highest score and charges it the total. Weights 5,1,1 give
 * a,a,b,a,c,a,a instead of a burst of five a's, and every window of sum(weights) picks
 * holds each member exactly weight times.
 *
 * Scores live in a Map by name rather than by position so that a member leaving the candidate
 * set (down, draining) keeps its score frozen and the others keep their relative shares; weights
 * are read from the candidates on every call because slow start changes them between picks.
 */
export class RoundRobin implements Strategy {
  readonly #score = new Map<string, number>();

  select(candidates: readonly Candidate[]): Candidate {
    let total = 0;
    let best = candidates[0];
    let bestScore = -Infinity;
    for (const candidate of candidates) {
      const score = (this.#score.get(candidate.name) ?? 0) + candidate.weight;
      this.#score.set(candidate.name, score);
      total += candidate.weight;
      if (score > bestScore) {
        best = candidate;
        bestScore = score;
      }
    }
    this.#score.set(best.name, bestScore - total);
    return best;
  }

  update(members: readonly { name: string; weight: number }[]): void {
    const names = new Set(members.map((member) => member.name));
    for (const name of this.#score.keys()) {
      if (!names.has(name)) this.#score.delete(name);
    }
  }
}
