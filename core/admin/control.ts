/**
 * The {@link AdminControl} of a running balancer: turns live pool state into the status document
 * and applies the admin API's changes. The HTTP side (auth, validation) is in `app.ts`.
 *
 * @module
 */
import type { Balancer } from "../balancer/balancer.ts";
import type { VrrpStatus } from "../cluster/vrrp/agent.ts";
import type { ClusterStatus } from "../cluster/replication/replication-node.ts";
import type { Member, Pool } from "../balancer/pool.ts";
import type { Registry } from "../metrics/registry.ts";
import type { LogSink } from "../ports.ts";
import { type AdminControl, AdminError, type MemberChange, type MemberStatus, type ReloadResult } from "./model.ts";

export interface AdminControlOptions {
  balancer: Balancer;
  registry: Registry;
  runtime: string;
  /** Wall-clock ms of the process start. */
  startedAt: number;
  reloads: () => number;
  reload: (actor: string) => Promise<ReloadResult>;
  log: LogSink;
  /** The VRRP agent's status, undefined while none runs. */
  vrrp?: () => VrrpStatus | undefined;
  /** The replication peer's status, undefined while replication is off. */
  cluster?: () => ClusterStatus | undefined;
  /** Called after an API change was applied (replication ships it to the peers). */
  memberChanged?: (pool: string, member: string, change: MemberChange, actor: string) => void;
}

/** Every pool has a member that takes new requests (what /readyz and the VRRP readiness tracker ask). */
export function balancerReady(balancer: Balancer): boolean {
  return [...balancer.pools.values()].every((pool) => pool.members.some((member) => pool.takesNew(member)));
}

export function createAdminControl(options: AdminControlOptions): AdminControl {
  const { balancer } = options;
  const poolNamed = (name: string): Pool => {
    const pool = balancer.pools.get(name);
    if (!pool) throw new AdminError("NOT_FOUND", `no pool "${name}"`);
    return pool;
  };
  const memberNamed = (pool: Pool, name: string): Member => {
    const member = pool.member(name);
    if (!member) throw new AdminError("NOT_FOUND", `no member "${name}" in pool "${pool.name}"`);
    return member;
  };
  return {
    status: () => ({
      runtime: options.runtime,
      startedAt: new Date(options.startedAt).toISOString(),
      reloads: options.reloads(),
      pools: [...balancer.pools.values()].map((pool) => ({
        name: pool.name,
        strategy: pool.config.strategy,
        stickyMode: pool.config.sticky.mode,
        stickyEntries: pool.sticky?.table?.size ?? 0,
        queueLength: pool.queueLength,
        usable: pool.members.some((member) => pool.takesNew(member)),
        members: pool.members.map((member) => _memberStatus(pool, member)),
      })),
    }),
    ready: () => balancerReady(balancer),
    setMember(poolName, memberName, change, actor) {
      const pool = poolNamed(poolName);
      const member = memberNamed(pool, memberName);
      const before = { activation: member.activation, weight: member.configuredWeight };
      pool.change(member, change);
      options.memberChanged?.(pool.name, member.name, change, actor);
      options.log({
        time: new Date().toISOString(),
        event: "member-changed",
        actor,
        pool: pool.name,
        member: member.name,
        before,
        after: { activation: member.activation, weight: member.configuredWeight },
      });
      return _memberStatus(pool, member);
    },
    sessions(poolName, offset, limit) {
      const table = poolNamed(poolName).sticky?.table;
      if (!table) return { total: 0, entries: [] };
      return {
        total: table.size,
        entries: table.entries(offset, limit).map((entry) => ({ ...entry, expiresAt: new Date(entry.expiresAt).toISOString() })),
      };
    },
    deleteSession(poolName, key) {
      return poolNamed(poolName).sticky?.table?.delete(key) ?? false;
    },
    reload: (actor) => options.reload(`admin API (${actor})`),
    metrics: () => options.registry.render(),
    vrrp: () => options.vrrp?.() ?? null,
    cluster: () => options.cluster?.() ?? null,
  };
}

function _memberStatus(pool: Pool, member: Member): MemberStatus {
  const { health } = member;
  const check = health.lastCheck;
  return {
    name: member.name,
    url: member.url.origin,
    state: pool.isUp(member) ? "up" : "down",
    stateReason: pool.isUp(member) || !health.up ? health.reason : "refused a connection: resting for recoverTime",
    since: new Date(health.since).toISOString(),
    activation: member.activation,
    weight: member.configuredWeight,
    effectiveWeight: member.weight,
    route: member.route,
    domain: member.domain ?? null,
    distance: member.distance,
    maxconn: member.maxconn,
    active: member.active,
    requests: member.requests,
    failures: member.failures,
    responses: { ...member.responses },
    p50Ms: member.latency.percentile(0.5),
    p99Ms: member.latency.percentile(0.99),
    lastCheck: check
      ? { ok: check.ok, at: new Date(check.at).toISOString(), durationMs: check.durationMs, reason: check.reason }
      : null,
  };
}
