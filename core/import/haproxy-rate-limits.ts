/**
 * HAProxy's stick-table rate limiting as tandem rate limits. The classic lines
 *
 * ```
 * stick-table type ip size 100k expire 30s store http_req_rate(10s),conn_cur
 * http-request track-sc0 src
 * http-request deny deny_status 429 if { sc_http_req_rate(0) gt 20 }
 * ```
 *
 * say what is counted (the tracked fetch: `src`, `req.hdr(X)`, `req.cook(X)`), over which period
 * and for how many keys (the proxy's stick-table), and the budget (the comparison of the deny or
 * tarpit line): one `rateLimits` entry and a `rateLimit` rule in the deny's place. A counter
 * compared with `gt N` admits N per period, `ge N` admits N − 1. `conn_cur` (connections at once)
 * becomes `concurrent` (requests in flight: a kept-alive connection between requests is not
 * counted). A condition with anything besides the one comparison is not carried: tandem's rule
 * counts every request it sees, while HAProxy counts every tracked request and refuses only
 * where the rest of the condition holds.
 *
 * @module
 */
import { formatDuration, parseSize, parseTime, type Use } from "./haproxy-lex.ts";
import type { RuleDraft } from "./haproxy-rules.ts";

type RateKeyDraft = "ip" | { header: string } | { cookie: string };

export type RateLimitLine =
  | { name: string; limit: Record<string, unknown>; rule: RuleDraft; notes: string[] }
  | { why: string }
  /** A track line: its outcome is known once every line was read (see {@link RateLimitLines.settle}). */
  | { tracked: true };

/** What the proxy's stick-table stores, as far as rate limits go. */
interface _Table {
  use: Use;
  size: number;
  /** `http_req_rate(<period>)`. */
  requestPeriod?: number;
  connections: boolean;
}

/** One proxy's rate limit lines, read in order (a counter is tracked before it is compared). */
export class RateLimitLines {
  readonly #proxy: string;
  readonly #table: _Table | undefined;
  readonly #tarpitMs: number;
  readonly #tracked = new Map<number, { use: Use; key: RateKeyDraft; used: boolean }>();
  #tableUsed = false;

  constructor(proxy: string, table: Use | undefined, tarpitMs: number) {
    this.#proxy = proxy.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]/, "p");
    this.#table = table === undefined ? undefined : _table(table);
    this.#tarpitMs = tarpitMs;
  }

  /** The line as a rate limit; undefined when it is none (another part of the import reads it). */
  read(use: Use): RateLimitLine | undefined {
    const { words } = use.directive;
    if (words[0] !== "http-request") return undefined;
    const track = /^track-sc(\d)$/.exec(words[1] ?? "");
    if (track !== null) return this.#track(use, Number(track[1]), words.slice(2));
    const counter = words.map((word) => _counterFetch(word)).find((fetch) => fetch !== undefined);
    if (counter === undefined) return undefined;
    return this.#limit(words, counter);
  }

  /** Reports the track lines and the stick-table: carried when a limit used them. */
  settle(carried: (use: Use, detail: string) => void, notCarried: (use: Use, why: string) => void): void {
    for (const [counter, { use, used }] of this.#tracked) {
      if (used) carried(use, `(the key of the rate limits on sc${counter})`);
      else notCarried(use, `no deny or tarpit line tandem carries compares sc${counter}'s counters`);
    }
    if (this.#table !== undefined && this.#tableUsed) carried(this.#table.use, "(the period and size of the rate limits; tandem drops the least recently seen key when full, whatever expire says)");
  }

  #track(use: Use, counter: number, rest: string[]): RateLimitLine {
    if (rest.includes("table")) return { why: `a counter in another proxy's table: tandem's rate limits keep their own counts; track in this ${this.#proxy}'s stick-table` };
    const conditionAt = rest.findIndex((word) => word === "if" || word === "unless");
    if (conditionAt >= 0) return { why: "a condition on tracking: tandem counts every request a rateLimit rule sees" };
    const fetch = rest[0] ?? "";
    const field = /^(?:req\.)?(hdr|cook)\(([^),]+)\)$/.exec(fetch);
    let key: RateKeyDraft;
    if (fetch === "src") key = "ip";
    else if (field !== null) key = field[1] === "hdr" ? { header: field[2] } : { cookie: field[2] };
    else return { why: `track-sc${counter} ${fetch}: tandem counts per client address (src), header (req.hdr) or cookie (req.cook)` };
    this.#tracked.set(counter, { use, key, used: false });
    return { tracked: true };
  }

  #limit(words: string[], fetch: { counter: number; what: "rate" | "connections" }): RateLimitLine {
    const conditionAt = words.findIndex((word) => word === "if" || word === "unless");
    const action = words[1];
    const condition = words.slice(conditionAt);
    const comparison = /^(gt|ge)$/.exec(condition[3] ?? "")?.[1];
    const bound = Number(condition[4]);
    if (conditionAt < 0 || condition[0] !== "if" || condition[1] !== "{" || condition[5] !== "}" || condition.length !== 6 || comparison === undefined || !Number.isInteger(bound)) {
      return { why: "a counter compared in anything but `if { sc_… gt|ge N }` alone: tandem's rateLimit rule counts every request it sees and refuses those over the budget" };
    }
    if (action !== "deny" && action !== "tarpit") return { why: `${action} on a counter: tandem's rate limits deny or tarpit` };
    const tracked = this.#tracked.get(fetch.counter);
    if (tracked === undefined) return { why: `sc${fetch.counter} is not tracked (http-request track-sc${fetch.counter}) before this line` };
    const table = this.#table;
    const budget = comparison === "gt" ? bound : bound - 1;
    if (budget < 1) return { why: `a budget of ${budget}: tandem's rate limits admit at least one request` };
    if (table === undefined) return { why: "no stick-table in this proxy stores the counter" };
    const name = `${this.#proxy}-sc${fetch.counter}-${fetch.what === "rate" ? "requests" : "in-flight"}`;
    const notes = [`rateLimits.${name}`];
    const limit: Record<string, unknown> = { key: tracked.key };
    if (table.size > 0) limit.size = table.size;
    if (fetch.what === "rate") {
      if (table.requestPeriod === undefined) return { why: "the stick-table stores no http_req_rate(<period>)" };
      Object.assign(limit, { requests: budget, per: formatDuration(table.requestPeriod) });
      notes.push("tandem counts in a sliding window that starts at a key's first request, as HAProxy's rate counter slides, and counts the requests it admits: HAProxy's counter also counts those it refused, so a client that keeps sending stays refused there, while tandem lets it through at the budget's rate");
    } else {
      if (!table.connections) return { why: "the stick-table stores no conn_cur" };
      limit.concurrent = budget;
      notes.push("tandem counts requests in flight, not connections: an idle kept-alive connection takes no place");
    }
    const over = _over(words.slice(1, conditionAt), this.#tarpitMs, notes);
    tracked.used = true;
    this.#tableUsed = true;
    return { name, limit, rule: { rateLimit: name, over }, notes };
  }
}

/** `sc_http_req_rate(0)`, `sc0_http_req_rate`, `sc_conn_cur(1)`, `sc1_conn_cur`. */
function _counterFetch(word: string): { counter: number; what: "rate" | "connections" } | undefined {
  const match = /^sc(?:_(http_req_rate|conn_cur)\((\d)\)|(\d)_(http_req_rate|conn_cur))$/.exec(word);
  if (match === null) return undefined;
  const fetch = match[1] ?? match[4];
  return { counter: Number(match[2] ?? match[3]), what: fetch === "http_req_rate" ? "rate" : "connections" };
}

function _table(use: Use): _Table {
  const { words, origin } = use.directive;
  const table: _Table = { use, size: 0, connections: false };
  for (let index = 1; index < words.length; index++) {
    if (words[index] === "size") table.size = parseSize(words[++index] ?? "", origin, "stick-table size");
    else if (words[index] === "store") {
      for (const stored of (words[++index] ?? "").split(",")) {
        const rate = /^http_req_rate\((\w+)\)$/.exec(stored);
        if (rate !== null) table.requestPeriod = parseTime(rate[1], origin, "http_req_rate period");
        if (stored === "conn_cur") table.connections = true;
      }
    }
  }
  return table;
}

function _over(action: string[], tarpitMs: number, notes: string[]): Record<string, unknown> {
  if (action[0] === "tarpit") {
    notes.push("tandem's tarpit answers 429 with Retry-After (HAProxy's 500)");
    return { tarpit: formatDuration(tarpitMs) };
  }
  const at = action.findIndex((word) => word === "deny_status" || word === "status");
  const status = at < 0 ? 403 : Number(action[at + 1]);
  return status === 429 ? { status: 429 } : { deny: status };
}
