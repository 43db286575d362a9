/**
 * Request → pool by host and path prefix. Routes are tried in config order; the first match wins,
 * else the default pool.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { hostnameOf } from "../http/message.ts";

interface CompiledRoute {
  pool: string;
  host?: string;
  /** `*.example.com` stored as `.example.com`. */
  hostSuffix?: string;
  path?: string;
}

export type Router = (host: string, pathname: string) => string;

export function createRouter(config: Config): Router {
  const fallback = config.defaultPool ?? Object.keys(config.pools)[0];
  const routes: CompiledRoute[] = config.routes.map((route) => {
    const host = route.host?.toLowerCase();
    return {
      pool: route.pool,
      host: host?.startsWith("*.") ? undefined : host,
      hostSuffix: host?.startsWith("*.") ? host.slice(1) : undefined,
      path: route.path === "/" ? undefined : route.path?.replace(/\/$/, ""),
    };
  });
  if (routes.length === 0) return () => fallback;
  return (hostHeader, pathname) => {
    const host = hostnameOf(hostHeader).toLowerCase();
    for (const route of routes) {
      if (route.host !== undefined && route.host !== host) continue;
      if (route.hostSuffix !== undefined && !host.endsWith(route.hostSuffix)) continue;
      if (route.path !== undefined && !hasPathPrefix(pathname, route.path)) continue;
      return route.pool;
    }
    return fallback;
  };
}

/** Prefix on a segment boundary: `/api` matches `/api`, `/api/x`, `/api;jsessionid=..`, not `/apix`. */
export function hasPathPrefix(pathname: string, prefix: string): boolean {
  if (!pathname.startsWith(prefix)) return false;
  const next = pathname[prefix.length];
  return next === undefined || next === "/" || next === ";" || next === "?";
}
