/**
 * Matchers compiled once per config into predicates over a request: a request pays for the
 * tests its rules name and nothing else (cookies and the query are parsed only by a rule that
 * looks at them). Regexes run on the linear-time engine of `regex/nfa.ts`.
 *
 * @example
 * ```ts
 * const isAdmin = compileMatcher({ path: { prefix: "/admin" }, not: { clientIp: "10.0.0.0/8" } });
 * isAdmin({ request, path: "/admin/users", clientAddress: "192.0.2.7", conn }); // true
 * ```
 * @module
 */
import type { ClientRequest } from "../http/message.ts";
import { hostnameOf } from "../http/message.ts";
import type { ConnInfo } from "../ports.ts";
import { compileCidrs } from "../proxy/ip.ts";
import { parseCookieHeader } from "../sticky/cookies.ts";
import { hasPathPrefix } from "../balancer/router.ts";
import { compileRegex } from "./regex/nfa.ts";
import type { Matcher, ValueTest } from "./schema.ts";

/** What matchers look at. */
export interface RuleRequest {
  readonly request: ClientRequest;
  /** The target's path, without the query. */
  readonly path: string;
  /** The client's address after trusted proxies (the socket's peer when it is not one). */
  readonly clientAddress: string;
  readonly conn: ConnInfo;
}

export type RequestTest = (view: RuleRequest) => boolean;

const always: RequestTest = () => true;

export function compileMatcher(matcher: Matcher): RequestTest {
  const tests: RequestTest[] = [];
  if (matcher.clientIp !== undefined) {
    const inRanges = compileCidrs(_list(matcher.clientIp));
    tests.push((view) => inRanges(view.clientAddress));
  }
  if (matcher.method !== undefined) {
    const methods = new Set(_list(matcher.method));
    tests.push((view) => methods.has(view.request.method));
  }
  if (matcher.host !== undefined) {
    const isHost = _hostTest(_list(matcher.host));
    tests.push((view) => isHost(hostnameOf(view.request.host).toLowerCase()));
  }
  if (matcher.path !== undefined) tests.push(_pathTest(matcher.path));
  if (matcher.query !== undefined) tests.push(_queryTest(matcher.query));
  if (matcher.header !== undefined) {
    const { name } = matcher.header;
    const test = _valueTest(matcher.header);
    tests.push((view) => test(view.request.fields.get(name)));
  }
  if (matcher.cookie !== undefined) {
    const { name } = matcher.cookie;
    const test = _valueTest(matcher.cookie);
    tests.push((view) => test(parseCookieHeader(view.request.fields.get("cookie")).find(([cookie]) => cookie === name)?.[1] ?? null));
  }
  if (matcher.sni !== undefined) {
    const isName = _hostTest(_list(matcher.sni));
    tests.push((view) => {
      const name = view.conn.tlsSession?.serverName;
      return name !== undefined && isName(name.toLowerCase());
    });
  }
  if (matcher.tlsVersion !== undefined) {
    const versions = new Set(_list(matcher.tlsVersion).map((version) => `TLSv${version}`));
    tests.push((view) => versions.has(view.conn.tlsSession?.version ?? ""));
  }
  if (matcher.all !== undefined) tests.push(..._nonTrivial(matcher.all.map(compileMatcher)));
  if (matcher.any !== undefined) {
    const options = matcher.any.map(compileMatcher);
    tests.push(options.includes(always) ? always : (view) => options.some((option) => option(view)));
  }
  if (matcher.not !== undefined) {
    const inner = compileMatcher(matcher.not);
    tests.push((view) => !inner(view));
  }
  const needed = _nonTrivial(tests);
  if (needed.length === 0) return always;
  if (needed.length === 1) return needed[0];
  return (view) => needed.every((test) => test(view));
}

/** A matcher that holds for every request (none of its tests can fail). */
export function matchesEverything(matcher: Matcher | undefined): boolean {
  return matcher === undefined || compileMatcher(matcher) === always;
}

function _nonTrivial(tests: RequestTest[]): RequestTest[] {
  return tests.filter((test) => test !== always);
}

function _list<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

/** Exact names, and `*.example.com` for any subdomain of example.com. */
function _hostTest(patterns: string[]): (host: string) => boolean {
  const exact = new Set(patterns.filter((pattern) => !pattern.startsWith("*.")).map((pattern) => pattern.toLowerCase()));
  const suffixes = patterns.filter((pattern) => pattern.startsWith("*.")).map((pattern) => pattern.slice(1).toLowerCase());
  return (host) => exact.has(host) || suffixes.some((suffix) => host.endsWith(suffix) && host.length > suffix.length);
}

function _pathTest(path: NonNullable<Matcher["path"]>): RequestTest {
  if (path.exact !== undefined) {
    const exact = path.exact;
    return (view) => view.path === exact;
  }
  if (path.prefix !== undefined) {
    if (path.prefix === "/") return always;
    const prefix = path.prefix.replace(/\/$/, "");
    return (view) => hasPathPrefix(view.path, prefix);
  }
  const regex = _regex(path.regex!);
  return (view) => regex(view.path);
}

/** Any of the parameter's values (`?a=1&a=2`) passing the test matches; `present: false` when there is none. */
function _queryTest(query: ValueTest): RequestTest {
  const { name } = query;
  const test = _valueTest(query);
  return (view) => {
    const { target } = view.request;
    const mark = target.indexOf("?");
    if (mark === -1) return test(null);
    // As a server reads it: `+` is a space, percent escapes decoded (malformed ones kept as sent).
    const values = new URLSearchParams(target.slice(mark + 1)).getAll(name);
    if (values.length === 0) return test(null);
    return query.present === false ? false : values.some((value) => test(value));
  };
}

/** A field's value (null when absent) against one of present / equals / prefix / regex. */
function _valueTest(test: ValueTest): (value: string | null) => boolean {
  if (test.present !== undefined) {
    const present = test.present;
    return (value) => (value !== null) === present;
  }
  if (test.equals !== undefined) {
    const equals = test.equals;
    return (value) => value === equals;
  }
  if (test.prefix !== undefined) {
    const prefix = test.prefix;
    return (value) => value !== null && value.startsWith(prefix);
  }
  const regex = _regex(test.regex!);
  return (value) => value !== null && regex(value);
}

function _regex(source: string): (text: string) => boolean {
  const compiled = compileRegex(source);
  // The schema refused every pattern the engine cannot run.
  if ("problem" in compiled) throw new Error(`regex ${source}: ${compiled.problem}`);
  return (text) => compiled.test(text);
}
