/**
 * `route` mode: the backend chose the route itself (Tomcat `jvmRoute`), as `<id><sep><route>` in
 * the session cookie or in the `;jsessionid=` path parameter. Nothing is rewritten.
 *
 * @module
 */
import type { StickyConfig } from "../config/schema.ts";
import { parseCookieHeader } from "./cookies.ts";
import { pathParameterValue, stickyCookieName, type StickyLookup, type StickyMember, type StickyMode } from "./mode.ts";

export function createRouteMode(config: StickyConfig, members: readonly StickyMember[]): StickyMode {
  const cookieName = stickyCookieName(config);
  const byRoute = new Map(members.map((member) => [member.route, member.name]));
  const memberOf = (value: string | undefined): StickyLookup => {
    if (!value) return {};
    const separator = value.lastIndexOf(config.separator);
    if (separator === -1) return {};
    const member = byRoute.get(value.slice(separator + 1));
    return member ? { member, session: value } : {};
  };
  return {
    read(path, headers) {
      // The path parameter wins over the cookie, as in mod_proxy_balancer: a client with
      // cookies off still carries an older cookie for the same site.
      const fromPath = memberOf(pathParameterValue(path, config.pathParameter));
      if (fromPath.member) return fromPath;
      for (const [name, value] of parseCookieHeader(headers.get("cookie"))) {
        if (name !== cookieName) continue;
        const found = memberOf(value);
        if (found.member) return found;
      }
      return {};
    },
    write() {},
  };
}
