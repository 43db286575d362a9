/**
 * The routes a `use_backend <pool> if <condition>` stands for: host and path-prefix ACLs
 * (`hdr(host) -i`, `hdr_dom(host)`, `hdr_end(host)`, `path_beg`, `-m beg|dom|end`), named or
 * anonymous, joined by AND (one route holds a host and a path) and OR (one route each). What a
 * tandem route cannot say (negations, `unless`, other fetches, patterns from files) is a reason.
 *
 * @example
 * ```ts
 * routesOf(["if", "{", "path_beg", "/api", "/v2", "}"], new Map(), origin);
 * // { routes: [{ path: "/api" }, { path: "/v2" }], acls: [], notes: [...] }
 * ```
 * @module
 */
import { aclLineOf, conditionOf } from "./haproxy-condition.ts";
import type { Use } from "./haproxy-lex.ts";
import { ImportError, type Origin } from "./report.ts";

export interface Route {
  host?: string;
  path?: string;
}

/**
 * The routes a `use_backend … if <condition>` stands for, when the condition is host and path
 * prefix matches joined by AND and OR: one route per combination. Anything else: why not.
 */
export function routesOf(words: string[], acls: Map<string, Use[]>, origin: Origin): { routes: Route[]; acls: Use[]; notes: string[] } | { why: string } {
  if (words[0] === "unless") return { why: "tandem's routes match, they do not exclude (unless)" };
  const condition = conditionOf(words, acls);
  if ("why" in condition) {
    // After "if", the reader refuses only a brace left open: a broken line, not a route tandem cannot say, so it stops the import.
    if (words[0] !== "if") return condition;
    throw new ImportError(origin.file, origin.line, condition.why);
  }
  const routes: Route[] = [];
  const used: Use[] = [];
  const notes = new Set<string>();
  for (const terms of condition.alternatives) {
    let combinations: Route[] = [{}];
    for (const term of terms) {
      if ("undeclared" in term) {
        const name = term.undeclared;
        return { why: _HAPROXY_PREDEFINED_ACLS.includes(name) ? `the predefined ACL ${name} is not a host or path match` : `no acl named ${name} in this proxy` };
      }
      if (term.negated) return { why: "a negated ACL: tandem's routes match, they do not exclude" };
      // A named ACL written on several lines matches when any line does: each line adds options.
      const options: Route[] = [];
      for (const matcher of term.lines) {
        const read = _matcher(matcher);
        if ("why" in read) return read;
        read.notes.forEach((note) => notes.add(note));
        options.push(...read.routes);
      }
      const next: Route[] = [];
      for (const combination of combinations) {
        for (const option of options) {
          if ((option.host && combination.host) || (option.path && combination.path)) return { why: "two host or two path matches that must both hold: a tandem route has one of each" };
          next.push({ ...combination, ...option });
        }
      }
      combinations = next;
      used.push(...term.acls);
    }
    if (combinations.some((route) => !route.host && !route.path)) return { why: "an empty condition" };
    routes.push(...combinations);
  }
  return { routes, acls: used, notes: [...notes] };
}

const _HAPROXY_PREDEFINED_ACLS = ["TRUE", "FALSE", "HTTP", "LOCALHOST", "METH_GET", "HTTP_1.1", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_URL_STAR", "RDP_COOKIE", "REQ_CONTENT", "WAIT_END", "METH_CONNECT", "METH_DELETE", "METH_HEAD", "METH_OPTIONS", "METH_POST", "METH_PUT", "METH_TRACE", "HTTP_1.0", "HTTP_2.0"];

/** One ACL's criterion, flags and values as routes (each value one route), or why not. */
function _matcher(words: string[]): { routes: Route[]; notes: string[] } | { why: string } {
  const line = aclLineOf(words);
  if ("valuesFile" in line) return { why: `the values of ${words[0]} are in a file (${line.valuesFile}): write them as routes` };
  const { criterion, method, caseless, values } = line;
  const notes: string[] = [];
  const hostHeader = /^(?:req\.)?hdr\((host)\)$|^(?:req\.)?(hdr_(?:dom|end|beg|reg|sub|str|len|dir))\(host\)$/i.exec(criterion);
  if (/^(?:req\.)?hdr\(host\)$/i.test(criterion) || (hostHeader && hostHeader[2])) {
    const kind = hostHeader?.[2]?.slice(4).toLowerCase() ?? method ?? "str";
    const routes: Route[] = [];
    for (const value of values) {
      const host = value.replace(/:\d+$/, "");
      if (host !== value) notes.push(`${value}: tandem matches the host without its port`);
      if (kind === "str") routes.push({ host });
      else if (kind === "dom") {
        routes.push({ host }, { host: `*.${host}` });
        notes.push(`hdr_dom(host) ${value} -> ${host} and *.${host}`);
      } else if (kind === "end" && value.startsWith(".")) routes.push({ host: `*${value}` });
      else return { why: `${criterion}${method ? ` -m ${method}` : ""} ${value}: tandem matches a host exactly or as *.suffix` };
    }
    if (!caseless) notes.push("tandem matches hosts case-insensitively (HAProxy without -i did not)");
    notes.push("tandem matches the host without its port (HAProxy's hdr(host) saw host:port)");
    return { routes, notes: [...new Set(notes)] };
  }
  const pathPrefix = /^(path_beg|url_beg)$/.test(criterion) || ((criterion === "path" || criterion === "url") && method === "beg");
  if (pathPrefix) {
    const routes: Route[] = [];
    for (const value of values) {
      if (!value.startsWith("/")) return { why: `${criterion} ${value}: a path prefix starts with '/'` };
      routes.push({ path: value });
      if (!value.endsWith("/")) notes.push(`tandem matches ${value} on segment boundaries (${value} and ${value}/…, not ${value}x)`);
    }
    if (criterion.startsWith("url")) notes.push("url_beg read as a path prefix (tandem's routes see the path)");
    if (caseless) notes.push("tandem matches paths case-sensitively");
    return { routes, notes };
  }
  return { why: `${criterion}${method ? ` -m ${method}` : ""}: tandem's routes match a host (hdr(host), hdr_dom, hdr_end) or a path prefix (path_beg)` };
}
