/**
 * `insert` mode: tandem owns a cookie (default `SERVERID`) naming the member by opaque id, strips
 * it before the request reaches the application, and marks responses that set it private so no
 * shared cache hands one client's cookie to another (HAProxy `insert indirect nocache`).
 *
 * Value: `<id>.<issued>.<lastSeen>[.<mac>]`, times in base-36 seconds. The times enforce `maxLife`
 * and `maxIdle` (HAProxy's cookie `maxlife`/`maxidle`); the MAC (HMAC-SHA256, 128 bits) makes the
 * cookie tamper-proof when a key is configured, so a client cannot pick its own member.
 *
 * Without a key, a bare `<id>` is taken too: what HAProxy's `cookie SERVERID insert` writes for a
 * `server … cookie A`, so clients keep their member when a farm moves to tandem with the same
 * `cookie` values. The answer replaces it with tandem's dated form. With a key it is refused: a
 * value without a MAC is one a client could have chosen.
 *
 * @module
 */
import type { StickyConfig } from "../config/schema.ts";
import type { FieldMap } from "../http/message.ts";
import type { Clock } from "../ports.ts";
import { buildSetCookie, parseCookieHeader, setCookieHeader } from "./cookies.ts";
import { stickyCookieName, type StickyLookup, type StickyMember, type StickyMode } from "./mode.ts";

const MAC_BYTES = 16;

interface InsertLookup extends StickyLookup {
  issued?: number;
  lastSeen?: number;
  /** A bare `<id>` (HAProxy's form): rewritten in tandem's on the answer. */
  bare?: boolean;
}

export function createInsertMode(config: StickyConfig, members: readonly StickyMember[], clock: Clock): StickyMode {
  const cookieName = stickyCookieName(config);
  const byId = new Map(members.map((member) => [member.id, member.name]));
  const idOf = new Map(members.map((member) => [member.name, member.id]));
  const key = config.key === undefined ? undefined : crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(config.key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = async (text: string): Promise<string> => {
    const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await key!, new TextEncoder().encode(text)));
    return _base64url(signature.subarray(0, MAC_BYTES));
  };
  const seconds = () => Math.floor(clock.now() / 1000);

  /** The cookie's session when it is well-formed, in date and (with a key) genuine: at once without a key. */
  const parse = (value: string): InsertLookup | Promise<InsertLookup> => {
    const parts = value.split(".");
    if (parts.length === 1 && !key) {
      const member = byId.get(value);
      return member === undefined ? {} : { member, issued: seconds(), lastSeen: seconds(), bare: true };
    }
    if (parts.length !== (key ? 4 : 3)) return {};
    const [id, issuedText, lastText] = parts;
    const member = byId.get(id);
    const issued = _parseBase36(issuedText);
    const lastSeen = _parseBase36(lastText);
    if (!member || issued === undefined || lastSeen === undefined) return {};
    const fresh = (): InsertLookup => {
      const now = seconds();
      if (config.maxLife > 0 && now - issued > config.maxLife / 1000) return {};
      if (config.maxIdle > 0 && now - lastSeen > config.maxIdle / 1000) return {};
      return { member, issued, lastSeen };
    };
    if (!key) return fresh();
    return mac(`${id}.${issuedText}.${lastText}`).then((expected) => _equal(parts[3], expected) ? fresh() : {});
  };

  const setCookie = (headers: FieldMap, value: string, secure: boolean) => {
    headers.append("set-cookie", buildSetCookie(cookieName, value, {
      path: config.path,
      httpOnly: config.httpOnly,
      secure: config.secure ?? secure,
      sameSite: config.sameSite,
    }));
    if (!headers.has("cache-control")) headers.set("cache-control", 'private, no-cache="set-cookie"');
  };

  return {
    read(_path, headers) {
      const cookie = headers.get("cookie");
      if (cookie === null) return {};
      const pairs = parseCookieHeader(cookie);
      const kept = pairs.filter(([name]) => name !== cookieName);
      if (kept.length === pairs.length) return {};
      // indirect: the application never sees tandem's cookie.
      setCookieHeader(headers, kept);
      const values = pairs.filter(([name]) => name === cookieName).map(([, value]) => value);
      if (!key) return values.map((value) => parse(value) as InsertLookup).find((lookup) => lookup.member) ?? {};
      return (async () => {
        for (const value of values) {
          const lookup = await parse(value);
          if (lookup.member) return lookup;
        }
        return {};
      })();
    },
    write(headers, lookup: InsertLookup, member, secure) {
      const now = seconds();
      const moved = lookup.member !== member;
      // Refreshing last-seen on every response would send Set-Cookie every time; a quarter of
      // maxIdle keeps the idle check accurate enough at a fraction of the traffic.
      const refresh = !moved && config.maxIdle > 0 && now - lookup.lastSeen! >= config.maxIdle / 4000;
      if (!moved && !refresh && !lookup.bare) return;
      const id = idOf.get(member)!;
      const issued = moved ? now : lookup.issued!;
      const value = `${id}.${issued.toString(36)}.${now.toString(36)}`;
      if (!key) return setCookie(headers, value, secure);
      return mac(value).then((signature) => setCookie(headers, `${value}.${signature}`, secure));
    },
  };
}

function _parseBase36(text: string): number | undefined {
  if (!/^[0-9a-z]{1,8}$/.test(text)) return undefined;
  return parseInt(text, 36);
}

function _base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Length-independent comparison, so response timing does not reveal how much of a forged MAC matched. */
function _equal(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i) || 0) ^ b.charCodeAt(i);
  return diff === 0;
}
