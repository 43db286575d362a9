/**
 * What an operator sees of the rate limits: the admin API's per-limit summary with its top keys
 * (`GET /api/v1/rate-limits`), and the `tandem_ratelimit_*` metrics.
 *
 * The API shows worker 0's tables, which hold the counts of every worker and (with `cluster`) the
 * peers' counts; requests in flight are each worker's own, so with `workers: N` the API shows
 * worker 0's. The admitted and refused totals are the counters the metrics read, every worker's
 * added ({@link withOtherWorkers}). The dashboard's Rate limits panel shows this status.
 *
 * @module
 */
import { type Registry, type RegistrySnapshot, snapshotValue } from "../metrics/registry.ts";
import type { RateLimitConfig, RateLimitsConfig } from "./rate-limit-schema.ts";
import type { RateLimitSharing } from "./rate-limit-sharing.ts";
import type { RateKeyView } from "./busiest.ts";
import type { RateTable } from "./sliding-window.ts";

export interface RateLimitStatus {
  name: string;
  /** What is counted per, as configured: "ip", { header } or { cookie }. */
  key: RateLimitConfig["key"];
  requests: number | null;
  perMs: number;
  concurrent: number | null;
  size: number;
  /** Keys in the table now. */
  keys: number;
  evictions: number;
  /** Requests the limit's rules admitted and refused: `tandem_ratelimit_requests_total`. */
  admitted: number;
  refused: number;
  /** The busiest keys: the sliding estimate of their requests per window, and requests in flight. */
  top: RateKeyView[];
}

export function rateLimitStatus(share: RateLimitSharing, config: RateLimitsConfig, now: number, top: number): RateLimitStatus[] {
  return [...share.tables()].map(([name, table]) => ({
    name,
    key: config[name]?.key ?? "ip",
    requests: table.settings.requests ?? null,
    perMs: table.settings.per,
    concurrent: table.settings.concurrent ?? null,
    size: table.settings.size,
    keys: table.size,
    evictions: table.evictions,
    admitted: table.outcomes.admitted,
    refused: table.outcomes.refused,
    top: table.top(top, now),
  }));
}

const REQUESTS_FAMILY = "tandem_ratelimit_requests_total";
const REQUESTS_LABELS = ["limit", "outcome"];

/** `status` (worker 0's) with the admitted and refused requests of the other workers' metrics snapshots added. */
export function withOtherWorkers(status: RateLimitStatus[], others: readonly RegistrySnapshot[]): RateLimitStatus[] {
  const theirs = (limit: string, outcome: string) =>
    others.reduce((sum, snapshot) => sum + snapshotValue(snapshot, REQUESTS_FAMILY, REQUESTS_LABELS, [limit, outcome]), 0);
  return status.map((limit) => ({ ...limit, admitted: limit.admitted + theirs(limit.name, "admitted"), refused: limit.refused + theirs(limit.name, "refused") }));
}

export function registerRateLimitMetrics(registry: Registry, share: RateLimitSharing): void {
  const each = (value: (table: RateTable) => number) => () =>
    [...share.tables()].map(([name, table]) => [[name], value(table)] as [string[], number]);
  registry.counterFn(
    REQUESTS_FAMILY,
    "Requests a rate limit rule looked at, by limit and outcome (admitted, refused), every worker's.",
    REQUESTS_LABELS,
    () => [...share.tables()].flatMap(([name, table]) => [
      [[name, "admitted"], table.outcomes.admitted] as [string[], number],
      [[name, "refused"], table.outcomes.refused] as [string[], number],
    ]),
  );
  registry.counterFn("tandem_ratelimit_evictions_total", "Keys dropped from a full rate limit table (least recently seen first).", ["limit"], each((table) => table.evictions));
  registry.counterFn(
    "tandem_ratelimit_lease_requests_total",
    "Times a worker other than worker 0 asked it for rate limit tokens (one ask per batch of requests) or for a place in flight (one per request) (workers: N).",
    [],
    () => [[[], share.leaseRequests + (share.inFlightAtLead?.asks ?? 0)]],
  );
  registry.gaugeFn("tandem_ratelimit_keys", "Keys in a rate limit's table (worker 0's, which counts for every worker).", ["limit"], each((table) => table.size));
}
