/**
 * `prefix` mode: the app's own session cookie carries the member id as a prefix (`<id>~<value>`),
 * added on the way out and removed on the way in, so the application never sees it
 * (HAProxy `cookie JSESSIONID prefix`).
 *
 * @module
 */
import type { StickyConfig } from "../config/schema.ts";
import { buildSetCookie, parseCookieHeader, parseSetCookie, replaceSetCookies, setCookieHeader } from "./cookies.ts";
import { stickyCookieName, type StickyLookup, type StickyMember, type StickyMode } from "./mode.ts";

const DELIMITER = "~";

export function createPrefixMode(config: StickyConfig, members: readonly StickyMember[]): StickyMode {
  const cookieName = stickyCookieName(config);
  const byId = new Map(members.map((member) => [member.id, member.name]));
  const idOf = new Map(members.map((member) => [member.name, member.id]));
  return {
    read(_path, headers) {
      const pairs = parseCookieHeader(headers.get("cookie"));
      let lookup: StickyLookup = {};
      let changed = false;
      for (const pair of pairs) {
        if (pair[0] !== cookieName) continue;
        const delimiter = pair[1].indexOf(DELIMITER);
        if (delimiter === -1) continue;
        const member = byId.get(pair[1].slice(0, delimiter));
        if (!member) continue;
        pair[1] = pair[1].slice(delimiter + 1);
        changed = true;
        if (!lookup.member) lookup = { member, session: pair[1] };
      }
      if (changed) setCookieHeader(headers, pairs);
      return lookup;
    },
    write(headers, lookup, member, secure) {
      const id = idOf.get(member)!;
      let issued = false;
      const lines = headers.getSetCookie().map((line) => {
        const cookie = parseSetCookie(line);
        if (cookie?.name !== cookieName || !cookie.value) return line;
        issued = true;
        return `${cookieName}=${id}${DELIMITER}${cookie.value}${cookie.rest}`;
      });
      if (issued) replaceSetCookies(headers, lines);
      else if (lookup.session && lookup.member !== member) {
        // Failover: the client must follow the session to its new member from now on.
        headers.append("set-cookie", buildSetCookie(cookieName, `${id}${DELIMITER}${lookup.session}`, {
          path: config.path,
          httpOnly: config.httpOnly,
          secure: config.secure ?? secure,
          sameSite: config.sameSite,
        }));
      }
    },
  };
}
