/**
 * Just enough cookie handling for a proxy: read and rewrite the request's Cookie header without
 * disturbing cookies it does not own, and read or build Set-Cookie lines.
 *
 * @module
 */
import type { FieldMap } from "../http/message.ts";

export type CookiePair = [name: string, value: string];

/** Cookie header → pairs in order; duplicates kept (browsers send one per matching path). */
export function parseCookieHeader(header: string | null): CookiePair[] {
  if (!header) return [];
  const pairs: CookiePair[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name) pairs.push([name, part.slice(eq + 1).trim()]);
  }
  return pairs;
}

export function serializeCookieHeader(pairs: readonly CookiePair[]): string {
  return pairs.map(([name, value]) => `${name}=${value}`).join("; ");
}

/** Writes `pairs` back as the Cookie header, removing it when nothing is left. */
export function setCookieHeader(headers: FieldMap, pairs: readonly CookiePair[]): void {
  if (pairs.length === 0) headers.delete("cookie");
  else headers.set("cookie", serializeCookieHeader(pairs));
}

/** Name and value of a Set-Cookie line, or undefined when it has none. */
export function parseSetCookie(line: string): { name: string; value: string; rest: string } | undefined {
  const semicolon = line.indexOf(";");
  const pair = semicolon === -1 ? line : line.slice(0, semicolon);
  const eq = pair.indexOf("=");
  if (eq === -1) return undefined;
  const name = pair.slice(0, eq).trim();
  if (!name) return undefined;
  return { name, value: pair.slice(eq + 1).trim(), rest: semicolon === -1 ? "" : line.slice(semicolon) };
}

export interface CookieAttributes {
  path: string;
  httpOnly: boolean;
  secure: boolean;
  sameSite: "Strict" | "Lax" | "None";
}

export function buildSetCookie(name: string, value: string, attributes: CookieAttributes): string {
  let line = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.httpOnly) line += "; HttpOnly";
  // Browsers reject SameSite=None without Secure, so None forces Secure.
  if (attributes.secure || attributes.sameSite === "None") line += "; Secure";
  return `${line}; SameSite=${attributes.sameSite}`;
}

/** Replaces every Set-Cookie line (neither Headers nor Fields edit one in place). */
export function replaceSetCookies(headers: FieldMap, lines: readonly string[]): void {
  headers.delete("set-cookie");
  for (const line of lines) headers.append("set-cookie", line);
}
