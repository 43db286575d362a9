/**
 * Load-balancing strategies: given the usable members of a pool, pick one for a new request.
 *
 * @module
 */
import { ConsistentHash } from "./hash.ts";
import { LeastConn } from "./leastconn.ts";
import { PowerOfTwoChoices } from "./p2c.ts";
import { RoundRobin } from "./roundrobin.ts";
import type { Strategy } from "./strategy.ts";

export { ConsistentHash, hash32 } from "./hash.ts";
export { LeastConn } from "./leastconn.ts";
export { PowerOfTwoChoices } from "./p2c.ts";
export { RoundRobin } from "./roundrobin.ts";
export type { Candidate, Strategy } from "./strategy.ts";

export type StrategyName = "roundrobin" | "leastconn" | "p2c" | "hash";

export interface StrategyOptions {
  /** Uniform in [0, 1) like Math.random (the default); tests pass a seeded one. p2c only. */
  random?: () => number;
  /** Hash only: bounded-load factor, e.g. 1.25; 0 (the default) = unbounded. */
  boundedLoad?: number;
}

export function createStrategy(
  name: StrategyName,
  members: readonly { name: string; weight: number }[],
  options: StrategyOptions = {},
): Strategy {
  let strategy: Strategy;
  switch (name) {
    case "roundrobin":
      strategy = new RoundRobin();
      break;
    case "leastconn":
      strategy = new LeastConn();
      break;
    case "p2c":
      strategy = new PowerOfTwoChoices(options.random ?? Math.random);
      break;
    case "hash":
      strategy = new ConsistentHash(options.boundedLoad ?? 0);
      break;
    default:
      throw new Error(`unknown strategy: ${name satisfies never}`);
  }
  strategy.update(members);
  return strategy;
}
