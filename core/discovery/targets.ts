/**
 * From a discover block's lookup to the servers it names: addresses with port, weight and
 * priority, and the lowest TTL among the records that gave them (when to look again).
 *
 * @module
 */
import type { DnsRecord } from "./dns-message.ts";
import { canonicalName } from "./dns-message.ts";
import type { LookupOutcome, Resolve } from "./resolver.ts";
import type { DiscoverConfig } from "./schema.ts";

export interface Target {
  address: string;
  port: number;
  /** Share of new sessions (tandem's 1..256). */
  weight: number;
  /** SRV priority: lower is preferred, as mod_jk's distance. */
  priority: number;
}

export type TargetLookup =
  | { outcome: "ok"; targets: Target[]; ttl: number }
  | { outcome: Exclude<LookupOutcome, "ok">; reason: string };

/** SRV weights run to 65535, tandem's to 256; 0 (RFC 2782: "very small chance") is kept at 1, since 0 here would mean no new sessions. */
export function srvWeight(weight: number): number {
  return Math.min(256, Math.max(1, weight));
}

export async function lookupTargets(resolve: Resolve, config: DiscoverConfig): Promise<TargetLookup> {
  const lookup = await resolve(config.name, config.type);
  if (lookup.outcome !== "ok") return lookup;
  const ttl = Math.min(...lookup.records.map((record) => record.ttl));
  if (config.type !== "srv") {
    const targets = (lookup.records as _AddressRecord[]).map((record) => ({ address: record.address, port: config.port!, weight: config.weight, priority: 0 }));
    return { outcome: "ok", targets, ttl };
  }
  return await _srvTargets(resolve, lookup.records, lookup.additional, ttl);
}

/**
 * Each SRV target's addresses: those the server added to its answer, else a lookup of their own
 * (A, then AAAA). A target "." says the service is not offered there (RFC 2782); a target that
 * does not exist is left out, and none left is the same as no records. A target's lookup that
 * fails fails the whole: the last good answer then stands for `hold.valid`.
 */
async function _srvTargets(resolve: Resolve, records: DnsRecord[], additional: DnsRecord[], srvTtl: number): Promise<TargetLookup> {
  let ttl = srvTtl;
  const targets: Target[] = [];
  const addressesOf = new Map<string, _Addresses>();
  for (const record of records) {
    if (record.type !== "srv" || record.target === "") continue;
    const name = canonicalName(record.target);
    if (!addressesOf.has(name)) addressesOf.set(name, await _addresses(resolve, name, additional));
    const found = addressesOf.get(name)!;
    if ("outcome" in found) return found;
    ttl = Math.min(ttl, found.ttl);
    for (const address of found.addresses) targets.push({ address, port: record.port, weight: srvWeight(record.weight), priority: record.priority });
  }
  if (targets.length === 0) return { outcome: "nx", reason: "no SRV target has an address" };
  return { outcome: "ok", targets, ttl };
}

type _Addresses = { addresses: string[]; ttl: number } | Extract<TargetLookup, { reason: string }>;

async function _addresses(resolve: Resolve, name: string, additional: DnsRecord[]): Promise<_Addresses> {
  const given = additional.filter((record) => (record.type === "a" || record.type === "aaaa") && record.name === name) as _AddressRecord[];
  if (given.length > 0) return { addresses: given.map((record) => record.address), ttl: Math.min(...given.map((record) => record.ttl)) };
  for (const type of ["a", "aaaa"] as const) {
    const lookup = await resolve(name, type);
    if (lookup.outcome === "ok") {
      const records = lookup.records as _AddressRecord[];
      return { addresses: records.map((record) => record.address), ttl: Math.min(...records.map((record) => record.ttl)) };
    }
    if (lookup.outcome !== "nx") return lookup;
  }
  return { addresses: [], ttl: Infinity };
}

type _AddressRecord = Extract<DnsRecord, { address: string }>;
