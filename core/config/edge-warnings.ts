/**
 * What a config asks for that an edge platform (Cloudflare Workers, Deno Deploy) cannot give: no
 * listeners of its own, no UDP or TCP servers, no memory shared between isolates, and outgoing
 * requests through the platform's `fetch`. `tandem check --edge` and the edge build print these;
 * the worker runs anyway and ignores them.
 *
 * @example
 * ```ts
 * for (const warning of edgeWarnings(config)) console.error(`warning: ${warning.path}: ${warning.message}`);
 * ```
 * @module
 */
import { defaultWorkers } from "./load.ts";
import type { Config } from "./schema.ts";
import { edgeRuleWarnings } from "../rules/check.ts";

export interface EdgeWarning {
  /** Dotted path of the setting, as in config problems. */
  path: string;
  message: string;
  /** Not something the edge ignores but something that cannot work there: `check --edge` and the edge build refuse the config. */
  refused?: true;
}

/** Top-level keys of the server-only cluster features; checked by name so any shape is caught. */
const _SERVER_ONLY_KEYS: Record<string, string> = {
  vrrp: "VRRP needs UDP sockets and a host whose address can move: not on the edge",
  cluster: "replication needs TCP listeners between balancers: not on the edge",
  replication: "replication needs TCP listeners between balancers: not on the edge",
};

export function edgeWarnings(config: Config): EdgeWarning[] {
  const warnings: EdgeWarning[] = [];
  config.listeners.forEach((listener, index) => {
    const path = `listeners[${index}]`;
    if (listener.tls) warnings.push({ path: `${path}.tls`, message: "the platform terminates TLS with its own certificates: ignored" });
    if (listener.hsts) warnings.push({ path: `${path}.hsts`, message: "a listener setting: not applied on the edge (set HSTS in the platform)" });
    if (listener.redirectToHttps !== undefined) {
      warnings.push({ path: `${path}.redirectToHttps`, message: "a listener setting: not applied on the edge (the platform redirects to HTTPS)" });
    }
  });
  if (config.admin) warnings.push({ path: "admin", message: "no admin listener on the edge: the API, dashboard and metrics are not served" });
  if (config.watchConfig) warnings.push({ path: "watchConfig", message: "no config file on the edge: deploy again to change the config" });
  const { accessLog } = config;
  if (accessLog && accessLog.file !== undefined) warnings.push({ path: "accessLog.file", message: "no files on the edge: access lines go to the platform's log" });
  if (accessLog && accessLog.syslog !== undefined) warnings.push({ path: "accessLog.syslog", message: "no sockets on the edge: access lines go to the platform's log" });
  if (accessLog && accessLog.format !== "json") warnings.push({ path: "accessLog.format", message: "access lines on the edge are JSON" });
  const top = config as unknown as Record<string, unknown>;
  for (const [key, message] of Object.entries(_SERVER_ONLY_KEYS)) {
    if (top[key] !== undefined) warnings.push({ path: key, message });
  }
  // The default (one per core of the machine that parsed the config) asks for nothing the platform does not do.
  if (typeof top.workers === "number" && top.workers > 1 && top.workers !== defaultWorkers(config.listeners)) {
    warnings.push({ path: "workers", message: "the platform runs as many isolates as it needs: ignored" });
  }
  for (const [name, pool] of Object.entries(config.pools)) {
    const path = `pools.${name}`;
    if (pool.sticky.mode === "learn") {
      warnings.push({
        path: `${path}.sticky.mode`,
        message: "learn keeps sessions in one isolate's memory, and requests reach many isolates: use insert (with a key), prefix or route",
      });
    }
    if (pool.tls.ca !== undefined || !pool.tls.verify) {
      warnings.push({ path: `${path}.tls`, message: "the platform's fetch verifies https members against its own trust store: ca and verify are ignored" });
    }
    if (pool.discover !== undefined) {
      warnings.push({ path: `${path}.discover`, message: "members from DNS need UDP sockets and timers between requests: not on the edge (list the members)", refused: true });
    }
    pool.members.forEach((member, index) => {
      if (member.maxconn > 0) {
        warnings.push({ path: `${path}.members[${index}].maxconn`, message: "counted per isolate, not across the platform" });
      }
    });
  }
  warnings.push(...edgeRuleWarnings(config));
  return warnings;
}

export function formatEdgeWarning(warning: EdgeWarning): string {
  return `${warning.path}: ${warning.message}`;
}
