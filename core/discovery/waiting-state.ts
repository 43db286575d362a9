/**
 * Saved run-time changes of members from DNS, waiting for their member: at start the state file
 * is read before the first answer, when those members are not there yet. Each entry is applied when
 * its member first appears, and dropped (`gone`) once its pool's first good answer came without it,
 * or its pool no longer has a `discover` block.
 *
 * ```ts
 * applyOverrides(balancer.pools, waiting.hold(balancer.pools, saved));    // at start
 * waiting.settle(balancer.pools, (pool) => answeredOnce(pool));           // whenever pools are rebuilt
 * encodeState([...runtimeOverrides(balancer.pools), ...waiting.entries()], now);
 * ```
 *
 * @module
 */
import { applyOverrides, type MemberOverride, type OverrideOutcome } from "../balancer/runtime-state.ts";
import type { Pool } from "../balancer/pool.ts";

export class WaitingOverrides {
  #waiting: MemberOverride[] = [];

  /** Keeps the entries of members a `discover` pool may still bring; returns the others, to apply now. */
  hold(pools: ReadonlyMap<string, Pool>, saved: readonly MemberOverride[]): MemberOverride[] {
    const now: MemberOverride[] = [];
    for (const entry of saved) {
      const pool = pools.get(entry.pool);
      if (pool?.config.discover !== undefined && pool.member(entry.member) === undefined) this.#waiting.push(entry);
      else now.push(entry);
    }
    return now;
  }

  /**
   * After the pools were rebuilt: applies the entries whose member came, drops those its pool will
   * not bring (`answered`: the pool had a good answer). Undefined when no entry was settled.
   */
  settle(pools: ReadonlyMap<string, Pool>, answered: (pool: string) => boolean): OverrideOutcome | undefined {
    const came: MemberOverride[] = [];
    const gone: string[] = [];
    this.#waiting = this.#waiting.filter((entry) => {
      const pool = pools.get(entry.pool);
      if (pool?.member(entry.member) !== undefined) came.push(entry);
      else if (pool?.config.discover === undefined || answered(entry.pool)) gone.push(`${entry.pool}/${entry.member}`);
      else return true;
      return false;
    });
    if (came.length === 0 && gone.length === 0) return undefined;
    const outcome = applyOverrides(pools, came);
    return { ...outcome, gone: [...outcome.gone, ...gone] };
  }

  /** The entries still waiting: saved with the others, so a save before the first answer keeps them. */
  entries(): readonly MemberOverride[] {
    return this.#waiting;
  }

  /** `pool/member` of each entry still waiting, for the log. */
  names(): string[] {
    return this.#waiting.map((entry) => `${entry.pool}/${entry.member}`);
  }
}
