/**
 * The balancer's Prometheus metrics. Counters and the latency histogram are recorded on the
 * request path; everything that is state (in flight, queue, up/down, sticky entries, last check)
 * is read from the live pools when scraped, so it always follows the config in force.
 *
 * @module
 */
import { ACTIVATIONS } from "../config/schema.ts";
import type { Registry } from "../metrics/registry.ts";
import { TrafficHistory } from "../metrics/traffic-history.ts";
import { systemClock } from "../clock.ts";
import type { Clock } from "../ports.ts";
import { UPSTREAM_ERROR_KINDS } from "../proxy/http1-client.ts";
import type { Pool } from "./pool.ts";

export interface BalancerMetrics {
  /** One answered request; `member` is "" when none was chosen. */
  request(pool: string, member: string, status: number, seconds: number): void;
  upstreamError(pool: string, member: string, kind: string): void;
  /**
   * Puts every pool's and member's request and error series at 0 (at start and on each reload):
   * a rate over a series that appears at its first increment misses that increment.
   */
  declare(pools: ReadonlyMap<string, Pool>): void;
  reload(result: "ok" | "invalid"): void;
  /** The last minutes of each pool's requests, errors and latency, for the dashboard's charts. */
  readonly history: TrafficHistory;
}

const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createBalancerMetrics(registry: Registry, pools: () => ReadonlyMap<string, Pool>, clock: Clock = systemClock): BalancerMetrics {
  const history = new TrafficHistory(clock);
  const requests = registry.counter("tandem_requests_total", "Requests answered, by pool, member and status class.", ["pool", "member", "code"]);
  const duration = registry.histogram("tandem_request_duration_seconds", "Time from request to the end of the response.", ["pool"], LATENCY_BUCKETS);
  const errors = registry.counter("tandem_upstream_errors_total", "Failed upstream attempts by kind.", ["pool", "member", "kind"]);
  // Every worker reloads on each reload: worker 0's count is the process's.
  const reloads = registry.counter("tandem_reloads_total", "Config reloads by result.", ["result"], { merge: "lead" });
  // Present from the start: a rate over a series that appears only at the first reload misses it.
  for (const result of ["ok", "invalid"]) reloads.inc([result], 0);
  const perMember = (value: (pool: Pool, member: Pool["members"][number]) => number) => () =>
    [...pools().values()].flatMap((pool) => pool.members.map((member) => [[pool.name, member.name], value(pool, member)] as [string[], number]));
  registry.gaugeFn("tandem_active_requests", "Requests in flight per member.", ["pool", "member"], perMember((_, m) => m.active), { merge: "sum" });
  registry.gaugeFn("tandem_member_up", "1 when the member is up (health), else 0.", ["pool", "member"], perMember((pool, m) => (pool.isUp(m) ? 1 : 0)));
  registry.gaugeFn(
    "tandem_member_activation",
    "1 for the member's activation (active, disabled = draining, stopped), else 0: a drain left behind shows here.",
    ["pool", "member", "state"],
    () => [...pools().values()].flatMap((pool) =>
      pool.members.flatMap((member) => ACTIVATIONS.map((state) => [[pool.name, member.name, state], member.effectiveActivation === state ? 1 : 0] as [string[], number]))
    ),
  );
  const perMemberTotal = (name: string, help: string, value: (member: Pool["members"][number]) => number) =>
    registry.counterFn(name, help, ["pool", "member"], perMember((_, m) => value(m)));
  perMemberTotal("tandem_member_bytes_in_total", "Request body bytes the member received (HAProxy bin).", (m) => m.bytesIn);
  perMemberTotal("tandem_member_bytes_out_total", "Response body bytes the member sent (HAProxy bout).", (m) => m.bytesOut);
  perMemberTotal("tandem_member_retries_total", "Attempts on the member that were tried again (HAProxy wretr).", (m) => m.retries);
  perMemberTotal("tandem_member_redispatches_total", "Attempts on the member that were tried again on another member (HAProxy wredis).", (m) => m.redispatches);
  registry.counterFn(
    "tandem_sticky_decisions_total",
    "Answered requests by how their session was decided: new (a new session), hit (stuck to its member), moved (its member could not serve).",
    ["pool", "member", "decision"],
    () => [...pools().values()].flatMap((pool) =>
      pool.members.flatMap((member) => (["new", "hit", "moved"] as const).map((decision) => [[pool.name, member.name, decision], member.sessions[decision]] as [string[], number]))
    ),
  );
  registry.gaugeFn("tandem_member_effective_weight", "Weight after slow start.", ["pool", "member"], perMember((_, m) => m.weight));
  registry.gaugeFn(
    "tandem_health_check_duration_seconds",
    "Duration of the last active check.",
    ["pool", "member"],
    () => [...pools().values()].flatMap((pool) =>
      pool.members.flatMap((member) => member.health.lastCheck ? [[[pool.name, member.name], member.health.lastCheck.durationMs / 1000] as [string[], number]] : [])
    ),
  );
  registry.gaugeFn("tandem_queue_length", "Requests waiting for a connection slot.", ["pool"], () =>
    [...pools().values()].map((pool) => [[pool.name], pool.queueLength]), { merge: "sum" });
  registry.gaugeFn("tandem_sticky_entries", "Learned sticky sessions (learn mode).", ["pool"], () =>
    [...pools().values()].map((pool) => [[pool.name], pool.sticky?.table?.size ?? 0]));
  return {
    request(pool, member, status, seconds) {
      requests.inc([pool, member, `${Math.floor(status / 100)}xx`]);
      duration.observe([pool], seconds);
      history.record(pool, status, seconds * 1000);
    },
    upstreamError: (pool, member, kind) => errors.inc([pool, member, kind]),
    declare(pools) {
      for (const pool of pools.values()) {
        // "": tandem's own answers, when no member was chosen.
        for (const member of ["", ...pool.members.map((m) => m.name)]) {
          for (const code of STATUS_CLASSES) requests.inc([pool.name, member, code], 0);
        }
        for (const member of pool.members) {
          for (const kind of UPSTREAM_ERROR_KINDS) errors.inc([pool.name, member.name, kind], 0);
        }
      }
    },
    reload: (result) => reloads.inc([result]),
    history,
  };
}
