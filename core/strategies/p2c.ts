import type { Candidate, Strategy } from "./strategy.ts";

/**
 * Power of two random choices: sample two distinct candidates and keep the less loaded
 * (active / weight). Nearly as even as least-conn, but several balancers sharing the same
 * backends do not all stampede the single least-loaded member at once.
 */
export class PowerOfTwoChoices implements Strategy {
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
  }

  select(candidates: readonly Candidate[]): Candidate {
    const n = candidates.length;
    if (n === 1) return candidates[0];
    const i = Math.floor(this.#random() * n);
    // Drawing from n - 1 and skipping over i yields a second index that is distinct yet uniform.
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++;
    const first = candidates[i];
    const second = candidates[j];
    return second.active * first.weight < first.active * second.weight ? second : first;
  }

  update(): void {}
}
