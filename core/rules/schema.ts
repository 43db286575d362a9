/**
 * Traffic rules: `rules:` on a listener or a pool, each `{ when?: <matcher>, <one action> }`,
 * evaluated in order (HAProxy's `acl` + `http-request` / `http-response` / `use_backend` lines).
 *
 * A matcher object's keys must all hold (`all`, `any` and `not` compose them); a rule without
 * `when` applies to every request. Regexes are checked here for the subset the linear-time engine
 * of `regex/` runs: no backreferences, no lookaround.
 *
 * @example
 * ```yaml
 * rules:
 *   - { when: { clientIp: [10.0.0.0/8], not: { method: [GET, HEAD] } }, deny: { status: 403 } }
 *   - { when: { path: { prefix: /api } }, rateLimit: per-client, over: { status: 429 } }
 *   - responseHeaders: { del: [Server], set: { X-Frame-Options: DENY } }
 * ```
 * @module
 */
import * as v from "valibot";
import { duration, durationValue } from "../config/fields.ts";
import { regexProblem } from "./regex/nfa.ts";
import { parseIp } from "../proxy/ip.ts";

const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const headerName = v.pipe(v.string(), v.regex(token, "a header name"));
const cookieName = v.pipe(v.string(), v.regex(token, "a cookie name (RFC 6265 token)"));
const poolName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a name of letters, digits, '.', '_' or '-'"));
/** Field values go to the wire as written: no line breaks or NUL that would split a header. */
const fieldValue = v.pipe(v.string(), v.regex(/^[^\r\n\0]*$/, "a header value without CR, LF or NUL"));

const regex = v.pipe(
  v.string(),
  v.check((source) => regexProblem(source) === undefined, (issue) => `a regex the linear-time engine runs: ${regexProblem(issue.input as string)}`),
);

const oneOrMore = <T extends v.GenericSchema<string>>(item: T) =>
  v.union([item, v.pipe(v.array(item), v.minLength(1, "at least one entry"))], "a value or a non-empty list of values");

/** An address or range that parses, with a prefix length the family allows: a typo never silently matches nobody. */
const cidr = v.pipe(
  v.string(),
  v.check((text) => {
    const [address, bits, extra] = text.split("/");
    if (extra !== undefined || parseIp(address) === undefined) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (address.includes(":") ? 128 : 32));
  }, 'an IP address or CIDR such as "10.0.0.0/8" or "2001:db8::/32"'),
);
const method = v.pipe(v.string(), v.regex(token, "an HTTP method such as GET"));
const hostPattern = v.pipe(v.string(), v.regex(/^(?:\*\.)?[A-Za-z0-9_.-]+$/, 'a host name, or "*.example.com" for any subdomain'));

/** How a text (header, cookie, query parameter) is tested: exactly one of these. */
const valueTestEntries = {
  /** `true`: the field is there (with any value); `false`: it is not. */
  present: v.optional(v.boolean()),
  equals: v.optional(v.string()),
  prefix: v.optional(v.string()),
  regex: v.optional(regex),
};
const VALUE_TESTS = ["present", "equals", "prefix", "regex"] as const;
const namedValueTest = (name: v.GenericSchema<string>) =>
  v.pipe(
    v.strictObject({ name, ...valueTestEntries }),
    v.check((input: ValueTest) => VALUE_TESTS.filter((test) => input[test] !== undefined).length === 1, "a name and exactly one of present, equals, prefix, regex"),
  );

export const PathTestSchema = v.pipe(
  v.strictObject({
    /** On a segment boundary, as routes: `/api` matches `/api` and `/api/x`, not `/apix`. */
    prefix: v.optional(v.pipe(v.string(), v.startsWith("/", "a path starting with '/'"))),
    exact: v.optional(v.pipe(v.string(), v.startsWith("/", "a path starting with '/'"))),
    /** Searched in the path (no query); anchor with `^` and `$`. */
    regex: v.optional(regex),
  }),
  v.check((input) => [input.prefix, input.exact, input.regex].filter((test) => test !== undefined).length === 1, "exactly one of prefix, exact, regex"),
);

export const TLS_RULE_VERSIONS = ["1.2", "1.3"] as const;

/** What a request must look like for a rule to apply; every key given must hold. */
export interface Matcher {
  clientIp?: string | string[];
  method?: string | string[];
  host?: string | string[];
  path?: { prefix?: string; exact?: string; regex?: string };
  query?: ValueTest;
  header?: ValueTest;
  cookie?: ValueTest;
  sni?: string | string[];
  tlsVersion?: (typeof TLS_RULE_VERSIONS)[number] | (typeof TLS_RULE_VERSIONS)[number][];
  all?: Matcher[];
  any?: Matcher[];
  not?: Matcher;
}

export interface ValueTest {
  name: string;
  present?: boolean;
  equals?: string;
  prefix?: string;
  regex?: string;
}

export const MatcherSchema: v.GenericSchema<Matcher> = v.strictObject({
  /** The client's address (after `forwarding.trustedProxies`) in any of these addresses or CIDRs. */
  clientIp: v.optional(oneOrMore(cidr)),
  /** Any of these methods (exact, case-sensitive as HTTP methods are). */
  method: v.optional(oneOrMore(method)),
  /** Any of these hosts (without port, case-insensitive); `*.example.com` any subdomain. */
  host: v.optional(oneOrMore(hostPattern)),
  path: v.optional(PathTestSchema),
  query: v.optional(namedValueTest(v.pipe(v.string(), v.minLength(1, "a query parameter name")))),
  /** A request header; a field sent several times is tested on its values joined by ", ". */
  header: v.optional(namedValueTest(headerName)),
  cookie: v.optional(namedValueTest(cookieName)),
  /** TLS listeners: the server name the client asked for (SNI), `*.example.com` any subdomain. */
  sni: v.optional(oneOrMore(hostPattern)),
  tlsVersion: v.optional(v.union([v.picklist(TLS_RULE_VERSIONS), v.pipe(v.array(v.picklist(TLS_RULE_VERSIONS)), v.minLength(1, "at least one entry"))], 'one of "1.2", "1.3" or a list of them')),
  all: v.optional(v.pipe(v.array(v.lazy(() => MatcherSchema)), v.minLength(1, "at least one matcher"))),
  any: v.optional(v.pipe(v.array(v.lazy(() => MatcherSchema)), v.minLength(1, "at least one matcher"))),
  not: v.optional(v.lazy(() => MatcherSchema)),
});

const status = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

/**
 * Fields the proxy itself owns: editing them would change how a message is framed or where it
 * goes (a request smuggled past the member), so rules may not.
 */
export const PROXY_OWNED_FIELDS = ["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection", "host"] as const;
const editableHeader = v.pipe(
  headerName,
  v.check((name) => !(PROXY_OWNED_FIELDS as readonly string[]).includes(name.toLowerCase()), `a header other than ${PROXY_OWNED_FIELDS.join(", ")} (tandem frames and routes by them; Host follows forwarding.preserveHost)`),
);

/** Header edits, applied in this order: del, set (replace), add (one more field). */
export const HeaderEditsSchema = v.pipe(
  v.strictObject({
    del: v.optional(v.array(editableHeader)),
    set: v.optional(v.record(editableHeader, fieldValue)),
    add: v.optional(v.record(editableHeader, fieldValue)),
  }),
  v.check((edits) => edits.del !== undefined || edits.set !== undefined || edits.add !== undefined, "at least one of del, set, add"),
);

/** `{host}`, `{path}` and `{query}` (with its `?`, or empty) are the request's. */
const REDIRECT_TEMPLATE = /\{([^}]*)\}/g;
export const REDIRECT_PLACEHOLDERS = ["host", "path", "query"] as const;
const location = v.pipe(
  v.string(),
  v.minLength(1, "a location"),
  v.regex(/^[^\r\n\0]*$/, "a location without CR, LF or NUL"),
  v.check(
    (text) => [...text.matchAll(REDIRECT_TEMPLATE)].every(([, name]) => (REDIRECT_PLACEHOLDERS as readonly string[]).includes(name)),
    "a location whose placeholders are {host}, {path} or {query}",
  ),
);

/** What a `rateLimit` rule does to a request over its budget: 429 with Retry-After by default. */
export const OverSchema = v.union([
  v.strictObject({ status: v.optional(status(400, 599), 429) }),
  v.strictObject({ deny: status(400, 599) }),
  v.strictObject({ tarpit: durationValue() }),
], "{status: 429}, {deny: 403} or {tarpit: 5s}");

export const RULE_ACTIONS = ["deny", "allow", "redirect", "route", "return", "tarpit", "requestHeaders", "responseHeaders", "rateLimit"] as const;

export const RuleSchema = v.pipe(
  v.strictObject({
    when: v.optional(MatcherSchema),
    /** Refuse (HAProxy `http-request deny`). */
    deny: v.optional(v.strictObject({ status: v.optional(status(400, 599), 403), body: v.optional(v.string()) })),
    /** Stop evaluating this list's rules and let the request through (HAProxy `http-request allow`). */
    allow: v.optional(v.literal(true)),
    redirect: v.optional(v.strictObject({ location, code: v.optional(v.picklist([301, 302, 303, 307, 308]), 302) })),
    /** Listener rules only: the pool that serves the request (HAProxy `use_backend`). */
    route: v.optional(poolName),
    /** A static answer of tandem's own (HAProxy `http-request return`). */
    return: v.optional(v.strictObject({
      status: v.optional(status(200, 599), 200),
      body: v.optional(v.string(), ""),
      contentType: v.optional(fieldValue, "text/plain; charset=utf-8"),
      headers: v.optional(v.record(editableHeader, fieldValue), {}),
    })),
    /** Hold the request, then refuse it (HAProxy `http-request tarpit` with `timeout tarpit`). */
    tarpit: v.optional(v.strictObject({ delay: duration("5s"), status: v.optional(status(400, 599), 500) })),
    /** Edit the fields going to the member (HAProxy `http-request set-header/add-header/del-header`). */
    requestHeaders: v.optional(HeaderEditsSchema),
    /** Edit the fields going to the client (HAProxy `http-response set-header/del-header`). */
    responseHeaders: v.optional(HeaderEditsSchema),
    /** Spend one request of this `rateLimits` entry's budget. */
    rateLimit: v.optional(poolName),
    over: v.optional(OverSchema),
  }),
  v.check((rule) => RULE_ACTIONS.filter((action) => rule[action] !== undefined).length === 1, `exactly one action of ${RULE_ACTIONS.join(", ")}`),
  v.check((rule) => rule.over === undefined || rule.rateLimit !== undefined, "over only with rateLimit"),
);

export const RulesSchema = v.optional(v.array(RuleSchema), []);

export type RuleConfig = v.InferOutput<typeof RuleSchema>;
export type HeaderEdits = v.InferOutput<typeof HeaderEditsSchema>;
export type OverConfig = v.InferOutput<typeof OverSchema>;
export { RateLimitsSchema, type RateLimitConfig } from "./rate-limit-schema.ts";
