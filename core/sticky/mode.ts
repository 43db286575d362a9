/**
 * What every sticky mode implements, and the helpers they share; `sticky.ts` builds one by name.
 *
 * @module
 */
import type { StickyConfig } from "../config/schema.ts";
import type { FieldMap } from "../http/message.ts";
import type { StickTable } from "../stick-table/stick-table.ts";

/** What the request said about its session. */
export interface StickyLookup {
  /** Member name the session lives on; undefined when there is no (valid) session. */
  member?: string;
  /** The session value (learn: the session id; prefix: the app's own cookie value). */
  session?: string;
}

export interface StickyMode {
  /** Reads the session from the request (`path` without its query) and rewrites `headers` (what goes to the member) when the mode owns a cookie. */
  read(path: string, headers: FieldMap): StickyLookup | Promise<StickyLookup>;
  /** Sets or rewrites cookies on the response of `member`, which may differ from lookup.member after a failover. */
  write(headers: FieldMap, lookup: StickyLookup, member: string, secure: boolean): void | Promise<void>;
  /** The learned sessions, for modes that keep a table. */
  readonly table?: StickTable;
}

export interface StickyMember {
  name: string;
  /** Opaque id for cookies. */
  id: string;
  route: string;
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
