/**
 * HAProxy conditions and `http-request` / `http-response` actions as tandem traffic rules: a
 * condition (`if`/`unless`, named and anonymous ACLs, `!`, `||`) becomes a matcher of
 * `all`/`any`/`not`, and an action the rule of the same effect. What a rule cannot say
 * (log-format values, fetches tandem does not match on, regex features the linear-time engine
 * refuses) is a reason, which the import report shows on the line.
 *
 * @example
 * ```ts
 * ruleOf(["http-request", "deny", "deny_status", "429", "if", "{", "src", "10.0.0.0/8", "}"], "request", new Map(), { tarpitMs: 5000 });
 * // { rule: { when: { clientIp: ["10.0.0.0/8"] }, deny: { status: 429 } }, acls: [], notes: [] }
 * ```
 * @module
 */
import { aclLineOf, type ConditionTerm, conditionOf } from "./haproxy-condition.ts";
import { formatDuration, type Use } from "./haproxy-lex.ts";
import { regexProblem } from "../rules/regex/nfa.ts";
import { type Matcher, PROXY_OWNED_FIELDS } from "../rules/schema.ts";

type Converted<T> = { value: T; acls: Use[]; notes: string[] } | { why: string };

const PREDEFINED: Record<string, Matcher> = {
  TRUE: {},
  HTTP: {},
  LOCALHOST: { clientIp: ["127.0.0.0/8", "::1"] },
  METH_GET: { method: ["GET", "HEAD"] },
  METH_HEAD: { method: "HEAD" },
  METH_POST: { method: "POST" },
  METH_PUT: { method: "PUT" },
  METH_DELETE: { method: "DELETE" },
  METH_OPTIONS: { method: "OPTIONS" },
  METH_TRACE: { method: "TRACE" },
  METH_CONNECT: { method: "CONNECT" },
};

/** The matcher of `words` (from `if` or `unless` on), with the named ACLs it used. */
export function matcherOf(words: string[], acls: Map<string, Use[]>): Converted<Matcher> {
  const condition = conditionOf(words, acls);
  if ("why" in condition) return condition;
  const used: Use[] = [];
  const notes = new Set<string>();
  const alternatives: Matcher[][] = [];
  for (const terms of condition.alternatives) {
    const all: Matcher[] = [];
    for (const term of terms) {
      const read = _termMatcher(term);
      if ("why" in read) return read;
      read.notes.forEach((note) => notes.add(note));
      used.push(...read.acls);
      all.push(term.negated ? { not: read.value } : read.value);
    }
    alternatives.push(all);
  }
  if (alternatives.some((terms) => terms.length === 0)) return { why: "an empty condition" };
  const joined = alternatives.map((terms) => (terms.length === 1 ? terms[0] : { all: terms }));
  const matcher = joined.length === 1 ? joined[0] : { any: joined };
  return { value: condition.unless ? { not: matcher } : matcher, acls: used, notes: [...notes] };
}

/** One term's matcher, before its negation; a named ACL written on several lines matches when any line does. */
function _termMatcher(term: ConditionTerm): Converted<Matcher> {
  if ("undeclared" in term) {
    const predefined = PREDEFINED[term.undeclared];
    return predefined === undefined ? { why: `no acl named ${term.undeclared} in this proxy, nor a predefined one tandem has` } : _value(predefined);
  }
  const options: Matcher[] = [];
  const notes: string[] = [];
  for (const line of term.lines) {
    const read = _criterion(line);
    if ("why" in read) return read;
    notes.push(...read.notes);
    options.push(read.value);
  }
  return { value: options.length === 1 ? options[0] : { any: options }, acls: term.acls, notes };
}

/** One ACL line's criterion, flags and values; several values match when any does. */
function _criterion(words: string[]): Converted<Matcher> {
  const line = aclLineOf(words);
  if ("valuesFile" in line) return { why: `the values of ${words[0]} are in a file (${line.valuesFile}): write them into the rule` };
  const { criterion, method, caseless, values } = line;
  const notes: string[] = [];
  const field = /^(?:req\.)?(?:f?hdr|cook|url_param|urlp)(_[a-z]+)?\(([^),]+)\)$/.exec(criterion);
  if (criterion === "src") return values.length > 0 ? _value({ clientIp: values }) : { why: "src without addresses" };
  if (criterion === "method") {
    if (caseless) notes.push("tandem matches methods case-sensitively");
    return { value: { method: values }, acls: [], notes };
  }
  if (criterion === "ssl_fc_sni" || criterion === "ssl_fc_sni_end") {
    const names: string[] = [];
    for (const value of values) {
      if (criterion === "ssl_fc_sni" && (method === undefined || method === "str")) names.push(value);
      else if ((criterion === "ssl_fc_sni_end" || method === "end") && value.startsWith(".")) names.push(`*${value}`);
      else return { why: `${criterion} ${value}: tandem matches an SNI name exactly or as *.suffix` };
    }
    notes.push("tandem matches SNI names case-insensitively");
    return { value: { sni: names }, acls: [], notes };
  }
  if (criterion === "ssl_fc_protocol") {
    const versions = values.map((value) => /^TLSv(1\.[23])$/.exec(value)?.[1]);
    if (versions.some((version) => version === undefined)) return { why: `ssl_fc_protocol ${values.join(" ")}: tandem's listeners speak TLSv1.2 and TLSv1.3 only` };
    return _value({ tlsVersion: versions as ("1.2" | "1.3")[] });
  }
  const kind = (suffix: string | undefined) => suffix?.slice(1) ?? method ?? "str";
  if (/^(?:req\.)?hdr(_[a-z]+)?\(host\)$/i.test(criterion)) return _host(kind(/^(?:req\.)?hdr(_[a-z]+)?\(/i.exec(criterion)![1]), values);
  const pathFetch = /^(path|url)(_(?:beg|end|reg|sub))?$/.exec(criterion);
  if (pathFetch !== null) {
    const [, fetch, suffix] = pathFetch;
    if (fetch === "url") notes.push(`${criterion} read as a path test (tandem's path matcher sees the path without the query)`);
    return _path(kind(suffix), values, caseless, notes);
  }
  if (field !== null) {
    const [, suffix, name] = field;
    const which = criterion.includes("cook") ? "cookie" : criterion.includes("url") ? "query" : "header";
    if (which === "header" && (PROXY_OWNED_FIELDS as readonly string[]).includes(name.toLowerCase())) return { why: `${criterion}: tandem frames and routes by ${name}; a rule cannot test it` };
    const tests = _valueTests(kind(suffix), values, caseless);
    if ("why" in tests) return { why: `${criterion}: ${tests.why}` };
    const options = tests.map((test) => ({ [which]: { name, ...test } }) as Matcher);
    return _value(options.length === 1 ? options[0] : { any: options });
  }
  return { why: `${criterion}${method ? ` -m ${method}` : ""}: a fetch tandem's rules do not match on (they match src, method, host, path, url_param, hdr, cook, ssl_fc_sni, ssl_fc_protocol)` };
}

function _value(value: Matcher): Converted<Matcher> {
  return { value, acls: [], notes: [] };
}

function _host(kind: string, values: string[]): Converted<Matcher> {
  const hosts: string[] = [];
  for (const value of values) {
    const host = value.replace(/:\d+$/, "");
    if (kind === "str") hosts.push(host);
    else if (kind === "dom") hosts.push(host, `*.${host}`);
    else if (kind === "end" && host.startsWith(".")) hosts.push(`*${host}`);
    else return { why: `hdr(host) -m ${kind} ${value}: tandem matches a host exactly or as *.suffix` };
  }
  return { value: { host: hosts }, acls: [], notes: ["tandem matches the host without its port and case-insensitively"] };
}

function _path(kind: string, values: string[], caseless: boolean, notes: string[]): Converted<Matcher> {
  const options: Matcher[] = [];
  for (const value of values) {
    if (kind === "beg" && !caseless) {
      options.push({ path: { prefix: value } });
      if (!value.endsWith("/")) notes.push(`tandem matches ${value} on segment boundaries (${value} and ${value}/…, not ${value}x)`);
      continue;
    }
    if (kind === "str" && !caseless) {
      options.push({ path: { exact: value } });
      continue;
    }
    const regex = _regexOf(kind, value, caseless);
    if ("why" in regex) return { why: `path ${value}: ${regex.why}` };
    options.push({ path: { regex: regex.source } });
  }
  return { value: options.length === 1 ? options[0] : { any: options }, acls: [], notes };
}

type _ValueTest = { present: true } | { equals: string } | { prefix: string } | { regex: string };

function _valueTests(kind: string, values: string[], caseless: boolean): _ValueTest[] | { why: string } {
  if (kind === "found") return [{ present: true }];
  const tests: _ValueTest[] = [];
  for (const value of values) {
    if (kind === "str" && !caseless) tests.push({ equals: value });
    else if (kind === "beg" && !caseless) tests.push({ prefix: value });
    else {
      const regex = _regexOf(kind, value, caseless);
      if ("why" in regex) return regex;
      tests.push({ regex: regex.source });
    }
  }
  return tests.length > 0 ? tests : { why: "no value to match" };
}

/** A match method as a regex for the linear-time engine: `-i` spelt out as character classes. */
function _regexOf(kind: string, value: string, caseless: boolean): { source: string } | { why: string } {
  if (kind === "reg") {
    if (caseless) return { why: "a case-insensitive regex (-i): tandem's regexes have no flags; spell the cases out ([Aa])" };
    const problem = regexProblem(value);
    return problem === undefined ? { source: value } : { why: `the regex ${value}: ${problem}` };
  }
  const literal = [...value].map((char) => {
    const escaped = char.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    return caseless && char.toLowerCase() !== char.toUpperCase() ? `[${char.toLowerCase()}${char.toUpperCase()}]` : escaped;
  }).join("");
  const anchored = { str: `^${literal}$`, beg: `^${literal}`, end: `${literal}$`, sub: literal }[kind];
  return anchored === undefined ? { why: `the match method -m ${kind}: tandem matches str, beg, end, sub, reg and found` } : { source: anchored };
}

/** A rule as the config writes it (checked by the schema when the draft is validated). */
export type RuleDraft = Record<string, unknown>;

/**
 * The rule of one `http-request` / `http-response` / `http-after-response` line; undefined when another part of the
 * import carries it (`redirect scheme https`, a Strict-Transport-Security header).
 */
export function ruleOf(words: string[], acls: Map<string, Use[]>, options: { tarpitMs: number }): Converted<RuleDraft> | undefined {
  const conditionAt = words.findIndex((word) => word === "if" || word === "unless");
  const action = conditionAt < 0 ? words.slice(1) : words.slice(1, conditionAt);
  const response = words[0] !== "http-request";
  const made = response ? _responseAction(action) : _requestAction(action, options);
  if (made === undefined || "why" in made) return made;
  // tandem's response edits are HAProxy's http-after-response: its own answers get them too.
  if (words[0] === "http-response") made.notes.push("tandem edits its own answers (deny, redirect, errors) too, as http-after-response does");
  if (conditionAt < 0) return { value: made.value, acls: [], notes: made.notes };
  const when = matcherOf(words.slice(conditionAt), acls);
  if ("why" in when) return when;
  return { value: { when: when.value, ...made.value }, acls: when.acls, notes: [...when.notes, ...made.notes] };
}

type _Action = { value: RuleDraft; notes: string[] } | { why: string } | undefined;

function _requestAction(action: string[], options: { tarpitMs: number }): _Action {
  const [verb, ...rest] = action;
  const argument = (name: string) => {
    const at = rest.indexOf(name);
    return at < 0 ? undefined : rest[at + 1];
  };
  switch (verb) {
    case "allow":
      return { value: { allow: true }, notes: [] };
    case "deny": {
      const status = Number(argument("deny_status") ?? argument("status") ?? 403);
      const body = argument("string");
      if (rest.some((word) => ["lf-string", "errorfile", "file", "lf-file", "errorfiles", "hdr"].includes(word))) return { why: `deny ${rest.join(" ")}: tandem's deny has a status and a plain body` };
      return { value: { deny: body === undefined ? { status } : { status, body } }, notes: [] };
    }
    case "tarpit": {
      const status = Number(argument("deny_status") ?? 500);
      return { value: { tarpit: { delay: formatDuration(options.tarpitMs), status } }, notes: [] };
    }
    case "redirect":
      return _redirect(rest);
    case "return": {
      if (rest.some((word) => ["lf-string", "errorfile", "file", "lf-file", "errorfiles"].includes(word))) return { why: `return ${rest.join(" ")}: tandem returns a plain string (string "…")` };
      const value: Record<string, unknown> = { status: Number(argument("status") ?? 200) };
      const contentType = argument("content-type");
      if (contentType !== undefined) value.contentType = contentType;
      const body = argument("string");
      if (body !== undefined) value.body = body;
      const headers: Record<string, string> = {};
      rest.forEach((word, index) => {
        if (word === "hdr") headers[rest[index + 1]] = rest[index + 2];
      });
      if (Object.keys(headers).length > 0) value.headers = headers;
      if (Object.values(headers).some(_isLogFormat)) return { why: "a header value computed per request (log-format): tandem's values are static" };
      return { value: { return: value }, notes: [] };
    }
    default:
      return _headerEdit("requestHeaders", verb, rest);
  }
}

function _responseAction(action: string[]): _Action {
  const [verb, ...rest] = action;
  if ((verb === "set-header" || verb === "add-header") && rest[0]?.toLowerCase() === "strict-transport-security") return undefined;
  return _headerEdit("responseHeaders", verb, rest);
}

function _headerEdit(side: "requestHeaders" | "responseHeaders", verb: string, rest: string[]): _Action {
  const edit = { "set-header": "set", "add-header": "add", "del-header": "del" }[verb];
  if (edit === undefined) return { why: `${verb}: an action tandem's ${side === "requestHeaders" ? "request" : "response"} rules do not have (they deny, allow, redirect, return, tarpit and set, add or delete headers)` };
  const [name, value] = rest;
  if (name === undefined) return { why: `${verb} without a header name` };
  if ((PROXY_OWNED_FIELDS as readonly string[]).includes(name.toLowerCase())) return { why: `${name}: tandem frames and routes by it; rules may not edit it` };
  if (edit === "del") {
    if (rest.length > 1) return { why: `del-header ${rest.join(" ")}: tandem deletes a header by its name only` };
    return { value: { [side]: { del: [name] } }, notes: [] };
  }
  if (value === undefined) return { why: `${verb} ${name} without a value` };
  if (_isLogFormat(value)) return { why: `${name}: a value computed per request (log-format ${value}): tandem's values are static` };
  return { value: { [side]: { [edit]: { [name]: value.replaceAll("%%", "%") } } }, notes: [] };
}

/** `redirect location|prefix`; `scheme` is the listener's redirectToHttps, carried elsewhere. */
function _redirect(rest: string[]): _Action {
  const [type, target] = rest;
  if (type === "scheme") return undefined;
  if (target === undefined || (type !== "location" && type !== "prefix")) return { why: `redirect ${rest.join(" ")}: tandem redirects to a location or a prefix` };
  if (_isLogFormat(target)) return { why: `redirect ${type} ${target}: a location computed per request (log-format); tandem's templates are {host}, {path} and {query}` };
  const codeAt = rest.indexOf("code");
  const code = codeAt < 0 ? 302 : Number(rest[codeAt + 1]);
  const notes: string[] = [];
  const options = rest.slice(2).filter((word, index, all) => word !== "code" && all[index - 1] !== "code");
  for (const option of options) {
    if (option !== "drop-query") notes.push(`${option} not carried`);
  }
  const location = type === "prefix" ? `${target.replace(/\/$/, "")}{path}${options.includes("drop-query") ? "" : "{query}"}` : target;
  return { value: { redirect: { location, code } }, notes };
}

/** HAProxy log-format (`%[…]`, `%ci`, …): computed per request. A lone `%%` is a literal percent. */
function _isLogFormat(text: string): boolean {
  return /%(?!%)/.test(text.replaceAll("%%", ""));
}
