/**
 * `learn` mode: the session id the backend hands out in Set-Cookie is recorded against the member
 * in a stick table, and later requests carrying it go back there (HAProxy `stick store-response`,
 * the old `appsession`). The table's change feed is what replication ships to the peer.
 *
 * @module
 */
import type { StickyConfig } from "../config/schema.ts";
import type { StickTable } from "../stick-table/stick-table.ts";
import { parseCookieHeader, parseSetCookie } from "./cookies.ts";
import { pathParameterValue, stickyCookieName, type StickyMode } from "./mode.ts";

/** Longer values are not session ids; refusing them keeps a client from bloating the table. */
const MAX_SESSION_LENGTH = 256;

export function createLearnMode(config: StickyConfig, table: StickTable): StickyMode {
  const cookieName = stickyCookieName(config);
  return {
    table,
    read(path, headers) {
      const candidates = [pathParameterValue(path, config.pathParameter)];
      for (const [name, value] of parseCookieHeader(headers.get("cookie"))) {
        if (name === cookieName) candidates.push(value);
      }
      for (const session of candidates) {
        if (!session || session.length > MAX_SESSION_LENGTH) continue;
        const member = table.get(session);
        if (member) return { member, session };
      }
      return {};
    },
    write(headers, lookup, member) {
      let learned = false;
      for (const line of headers.getSetCookie()) {
        const cookie = parseSetCookie(line);
        if (cookie?.name !== cookieName || !cookie.value || cookie.value.length > MAX_SESSION_LENGTH) continue;
        table.set(cookie.value, member);
        learned = true;
      }
      // A session that failed over and was not re-issued now lives on the new member.
      if (!learned && lookup.session && lookup.member !== member) table.set(lookup.session, member);
    },
  };
}
