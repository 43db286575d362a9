/**
 * What every load-balancing strategy implements; `index.ts` builds one by name.
 *
 * @module
 */

export interface Candidate {
  /** Unique member name. */
  readonly name: string;
  /** Effective weight, > 0 (members with weight 0 are never candidates for new sessions). */
  readonly weight: number;
  /** Requests in flight on this member right now. */
  readonly active: number;
}

export interface Strategy {
  /** Chooses among `candidates` (a subset of the members given to create/update, never empty). `key` is the hash key (hash strategy only). */
  select(candidates: readonly Candidate[], key?: string): Candidate;
  /** Called when the pool's member list or weights change (config reload, admin weight change). */
  update(members: readonly { name: string; weight: number }[]): void;
}
