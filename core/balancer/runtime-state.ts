/**
 * Activation and weight set at run time (admin API, peers, the other workers) kept across reloads
 * and restarts, as HAProxy's `server-state-file` keeps them: a member drained for a deploy stays
 * drained when the config is reloaded or the process restarts. What the file itself changes wins:
 * each saved value carries the file's value of the time, and a file that no longer says that has
 * been edited since.
 *
 * ```ts
 * const saved = runtimeOverrides(balancer.pools);   // before a reload
 * balancer.reload(next);
 * const outcome = applyOverrides(balancer.pools, saved);
 * ```
 *
 * @module
 */
import { ACTIVATIONS, type Activation } from "../config/schema.ts";
import type { Pool } from "./pool.ts";

/** A member's run-time activation and weight, with the file's values when they were set. */
export interface MemberOverride {
  pool: string;
  member: string;
  activation: Activation;
  weight: number;
  file: { activation: Activation; weight: number };
}

/** What applying saved overrides came to, for the log. */
export interface OverrideOutcome {
  applied: string[];
  /** `pool/member` no longer in the config. */
  gone: string[];
  /** `pool/member: field`: the file changed it since, so the file's value stands. */
  fileWins: string[];
}

/** Every member whose activation or weight is not its file's: what was changed at run time. */
export function runtimeOverrides(pools: ReadonlyMap<string, Pool>): MemberOverride[] {
  const overrides: MemberOverride[] = [];
  for (const pool of pools.values()) {
    for (const config of pool.config.members) {
      const member = pool.member(config.name);
      if (!member || (member.activation === config.activation && member.configuredWeight === config.weight)) continue;
      overrides.push({
        pool: pool.name,
        member: member.name,
        activation: member.activation,
        weight: member.configuredWeight,
        file: { activation: config.activation, weight: config.weight },
      });
    }
  }
  return overrides;
}

/** Puts saved run-time values back on the members still there, field by field unless the file changed that field since. */
export function applyOverrides(pools: ReadonlyMap<string, Pool>, overrides: readonly MemberOverride[]): OverrideOutcome {
  const outcome: OverrideOutcome = { applied: [], gone: [], fileWins: [] };
  for (const saved of overrides) {
    const id = `${saved.pool}/${saved.member}`;
    const pool = pools.get(saved.pool);
    const member = pool?.member(saved.member);
    const config = pool?.config.members.find((candidate) => candidate.name === saved.member);
    if (!pool || !member || !config) {
      outcome.gone.push(id);
      continue;
    }
    const change: { activation?: Activation; weight?: number } = {};
    if (config.activation !== saved.file.activation) outcome.fileWins.push(`${id}: activation`);
    else if (saved.activation !== config.activation) change.activation = saved.activation;
    if (config.weight !== saved.file.weight) outcome.fileWins.push(`${id}: weight`);
    else if (saved.weight !== config.weight) change.weight = saved.weight;
    if (change.activation === undefined && change.weight === undefined) continue;
    pool.change(member, change);
    outcome.applied.push(id);
  }
  return outcome;
}

/** The state file's text. */
export function encodeState(overrides: readonly MemberOverride[], savedAt: number): string {
  return `${JSON.stringify({ version: 1, savedAt: new Date(savedAt).toISOString(), members: overrides }, null, 2)}\n`;
}

/** The overrides of a state file, or why it cannot be used (it is then left alone, not applied). */
export function decodeState(text: string): MemberOverride[] | { problem: string } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON: ${(error as Error).message}` };
  }
  const { version, members } = (document ?? {}) as { version?: unknown; members?: unknown };
  if (version !== 1 || !Array.isArray(members)) return { problem: "not a tandem state file (version 1 with members)" };
  const valid = members.every((entry) =>
    typeof entry?.pool === "string" && typeof entry.member === "string" && _override(entry) && _override(entry.file ?? {})
  );
  return valid ? members as MemberOverride[] : { problem: "a member entry without pool, member, activation, weight and file values" };
}

function _override(entry: { activation?: unknown; weight?: unknown }): boolean {
  return ACTIVATIONS.includes(entry.activation as Activation) && Number.isInteger(entry.weight) && (entry.weight as number) >= 0;
}
