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
import type { StickyMember, StickyMode } from "./mode.ts";

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
