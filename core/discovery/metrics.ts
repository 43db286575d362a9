/**
 * Discovery's Prometheus metrics, read from its state when scraped: lookups by outcome, and the
 * members each discover block holds, serving or draining.
 *
 * @module
 */
import type { Registry } from "../metrics/registry.ts";
import type { Discovery } from "./discovery.ts";

export function registerDiscoveryMetrics(registry: Registry, discovery: Discovery): void {
  registry.counterFn(
    "tandem_dns_lookups_total",
    "DNS lookups of discover blocks, by pool and outcome (ok, nx, timeout, servfail, refused, error).",
    ["pool", "outcome"],
    () => [...discovery.lookups].flatMap(([pool, byOutcome]) => [...byOutcome].map(([outcome, count]) => [[pool, outcome], count] as [string[], number])),
  );
  registry.gaugeFn(
    "tandem_dns_members",
    "Members from DNS, by pool and state (serving, draining).",
    ["pool", "state"],
    () => discovery.pools().flatMap((pool) => {
      const members = discovery.status(pool)?.members ?? [];
      const draining = members.filter((member) => member.draining).length;
      return [[[pool, "serving"], members.length - draining], [[pool, "draining"], draining]] as [string[], number][];
    }),
  );
}
