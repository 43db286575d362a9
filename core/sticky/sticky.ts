/**
 * Sticky sessions: the four ways a request names the member that holds its session.
 *
 * | mode     | where the member comes from                         | classic equivalent               |
 * |----------|-----------------------------------------------------|----------------------------------|
 * | `insert` | tandem's own cookie with an opaque member id        | HAProxy `cookie SERVERID insert indirect nocache` |
 * | `prefix` | the app's cookie, prefixed with the member id       | HAProxy `cookie JSESSIONID prefix` |
 * | `route`  | `JSESSIONID=<id>.<route>` or `;jsessionid=`         | mod_jk / mod_proxy_balancer jvmRoute |
 * | `learn`  | a stick table filled from the backend's Set-Cookie  | HAProxy `stick store-response`   |
 *
 * Every reader treats a malformed, tampered, expired or unknown value as absent: a client can
 * never turn a bad cookie into an error.
 *
 * @module
 */
import type { StickyConfig } from "../config/schema.ts";
import type { Clock } from "../ports.ts";
import { StickTable } from "../stick-table/stick-table.ts";
import { createInsertMode } from "./insert.ts";
import { createLearnMode } from "./learn.ts";
import { createPrefixMode } from "./prefix.ts";
import { createRouteMode } from "./route.ts";

/** What the request said about its session. */
export interface StickyLookup {
  /** Member name the session lives on; undefined when there is no (valid) session. */
  member?: string;
  /** The session value (learn: the session id; prefix: the app's own cookie value). */
  session?: string;
}

export interface StickyMode {
  /** Reads the session from the request and rewrites `headers` (the upstream copy) when the mode owns a cookie. */
  read(url: URL, headers: Headers): StickyLookup | Promise<StickyLookup>;
  /** Sets or rewrites cookies on the response of `member`, which may differ from lookup.member after a failover. */
  write(headers: Headers, lookup: StickyLookup, member: string, secure: boolean): void | Promise<void>;
  /** The learned sessions, for modes that keep a table. */
  readonly table?: StickTable;
}

export interface StickyMember {
  name: string;
  /** Opaque id for cookies. */
  id: string;
  route: string;
}

/** `table`: a learn-mode table to keep (a reload that did not change its bounds). */
export function createStickyMode(
  config: StickyConfig,
  members: readonly StickyMember[],
  clock: Clock,
  table?: StickTable,
): StickyMode | undefined {
  switch (config.mode) {
    case "insert":
      return createInsertMode(config, members, clock);
    case "prefix":
      return createPrefixMode(config, members);
    case "route":
      return createRouteMode(config, members);
    case "learn":
      return createLearnMode(config, table ?? new StickTable({ size: config.tableSize, ttl: config.tableTtl, clock }));
    case "none":
      return undefined;
  }
}

/** The cookie a mode uses when the config names none. */
export function stickyCookieName(config: StickyConfig): string {
  return config.cookie ?? (config.mode === "insert" ? "SERVERID" : "JSESSIONID");
}

/** The session carried as a `;jsessionid=` path parameter, if any. */
export function pathParameterValue(pathname: string, parameter: string): string | undefined {
  const marker = `;${parameter}=`;
  const start = pathname.indexOf(marker);
  if (start === -1) return undefined;
  const valueStart = start + marker.length;
  let end = valueStart;
  while (end < pathname.length && pathname[end] !== ";" && pathname[end] !== "/") end++;
  return end > valueStart ? pathname.slice(valueStart, end) : undefined;
}
