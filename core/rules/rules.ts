/**
 * The rules engine: a listener's and a pool's `rules`, compiled once per config and evaluated in
 * order for each request (HAProxy's `http-request` lines, with `use_backend` as `route`).
 *
 * A rule whose `when` holds acts: `deny`, `redirect`, `return`, `tarpit` and a `rateLimit` over
 * budget end the request with tandem's own answer; `allow` and `route` end the list (the request
 * goes on); header edits and an admitted `rateLimit` go on to the next rule. Response header edits
 * are kept in the request's {@link RuleEffects} and applied to its answer. A config without rules
 * compiles to nothing, and the balancer then does no work for them at all.
 *
 * @example
 * ```ts
 * const rules = compileTrafficRules(config, { clock, rateLimiters });
 * const list = rules?.listener(conn.listener);
 * const effects = new RuleEffects();
 * const stop = await list?.apply({ request, path, clientAddress, conn }, effects);
 * ```
 * @module
 */
import type { Config } from "../config/schema.ts";
import { type Fields, hostnameOf } from "../http/message.ts";
import type { Termination } from "../log/access-record.ts";
import type { Clock, ConnInfo } from "../ports.ts";
import { compileCidrs } from "../proxy/ip.ts";
import { clientAddressOf } from "./client-address.ts";
import { compileMatcher, type RequestTest, type RuleRequest } from "./matcher.ts";
import type { RateLimiter, RateLimitVerdict } from "./rate-limit.ts";
import type { HeaderEdits, OverConfig, RuleConfig } from "./schema.ts";

export interface RulePorts {
  clock: Clock;
  rateLimiters: ReadonlyMap<string, RateLimiter>;
}

/** tandem's own answer to a request a rule ended. */
export interface RuleAnswer {
  status: number;
  /** The rule's body; undefined: tandem's page for the status (the operator's `errorPages` one when set). */
  body?: string;
  /** More fields of the answer: name, value, name, value, … (lower-case names). */
  fields: string[];
  /** Which rule and why, for the access line. */
  reason: string;
  termination: Termination;
}

/** What the rules of one request leave for later: the pool a rule chose, edits of the answer, budgets to give back. */
export class RuleEffects {
  route: string | undefined;
  #responseEdits: HeaderEdits[] | undefined;
  #releases: { release(): void }[] | undefined;

  editResponse(edits: HeaderEdits): void {
    (this.#responseEdits ??= []).push(edits);
  }

  /** `held.release()` is called when the exchange ends (a `concurrent` budget's slot). */
  onEnd(held: { release(): void }): void {
    (this.#releases ??= []).push(held);
  }

  applyToResponse(fields: Fields): void {
    if (this.#responseEdits !== undefined) for (const edits of this.#responseEdits) applyHeaderEdits(fields, edits);
  }

  end(): void {
    const releases = this.#releases;
    this.#releases = undefined;
    if (releases !== undefined) for (const held of releases) held.release();
  }
}

/** del, then set, then add: `set` after `del` of the same name puts back one line. */
export function applyHeaderEdits(fields: Fields, edits: HeaderEdits): void {
  if (edits.del !== undefined) for (const name of edits.del) fields.delete(name);
  if (edits.set !== undefined) for (const name in edits.set) fields.set(name, edits.set[name]);
  if (edits.add !== undefined) for (const name in edits.add) fields.append(name, edits.add[name]);
}

/** A rule's action: go on with the next rule, end the list and go on, or answer. */
type _Result = typeof NEXT | typeof END_LIST | RuleAnswer;
type _Action = (view: RuleRequest, effects: RuleEffects) => _Result | Promise<_Result>;
const NEXT = 0;
const END_LIST = 1;

interface _CompiledRule {
  test: RequestTest;
  act: _Action;
}

export class RuleList {
  readonly #rules: _CompiledRule[];

  /** `where` names the list in the config (`listeners[0].rules`), for the access line. */
  constructor(rules: readonly RuleConfig[], where: string, ports: RulePorts) {
    this.#rules = rules.map((rule, index) => ({
      test: rule.when === undefined ? _always : compileMatcher(rule.when),
      act: _action(rule, `${where}[${index}]`, ports),
    }));
  }

  /** Runs the rules in order; a RuleAnswer when one ended the request. A Promise only when a rule must wait (tarpit, a shared budget). */
  apply(view: RuleRequest, effects: RuleEffects): RuleAnswer | undefined | Promise<RuleAnswer | undefined> {
    return this.#applyFrom(0, view, effects);
  }

  #applyFrom(first: number, view: RuleRequest, effects: RuleEffects): RuleAnswer | undefined | Promise<RuleAnswer | undefined> {
    const rules = this.#rules;
    for (let index = first; index < rules.length; index++) {
      const rule = rules[index];
      if (!rule.test(view)) continue;
      const result = rule.act(view, effects);
      if (result instanceof Promise) {
        return result.then((settled) => (settled === NEXT ? this.#applyFrom(index + 1, view, effects) : settled === END_LIST ? undefined : settled));
      }
      if (result === NEXT) continue;
      return result === END_LIST ? undefined : result;
    }
    return undefined;
  }
}

const _always: RequestTest = () => true;

/** Every listener's and pool's rule list, and who the client is behind trusted proxies. */
export interface TrafficRules {
  /** The rules of the listener at `address` (the configured one); the first listener's where the front end has none (edge). */
  listener(address: string | undefined): RuleList | undefined;
  pool(name: string): RuleList | undefined;
  clientAddress(conn: ConnInfo, fields: Fields): string;
}

/** Undefined when the config has no rules: the balancer then skips every rule step. */
export function compileTrafficRules(config: Config, ports: RulePorts): TrafficRules | undefined {
  const listeners = new Map<string, RuleList>();
  config.listeners.forEach((listener, index) => {
    if (listener.rules.length > 0) listeners.set(listener.address, new RuleList(listener.rules, `listeners[${index}].rules`, ports));
  });
  const pools = new Map<string, RuleList>();
  for (const [name, pool] of Object.entries(config.pools)) {
    if (pool.rules.length > 0) pools.set(name, new RuleList(pool.rules, `pools.${name}.rules`, ports));
  }
  if (listeners.size === 0 && pools.size === 0) return undefined;
  // Rules run before a pool is chosen (listener rules), so a proxy any pool trusts is believed.
  const trusted = compileCidrs(Object.values(config.pools).flatMap((pool) => pool.forwarding.trustedProxies));
  const firstListener = config.listeners[0].address;
  return {
    listener: (address) => listeners.get(address ?? firstListener),
    pool: (name) => pools.get(name),
    clientAddress: (conn, fields) => clientAddressOf(conn.remoteAddress, fields.get("x-forwarded-for"), trusted),
  };
}

function _action(rule: RuleConfig, where: string, ports: RulePorts): _Action {
  if (rule.deny !== undefined) {
    const { status, body } = rule.deny;
    const fields = body === undefined ? [] : ["content-type", "text/plain; charset=utf-8"];
    const answer: RuleAnswer = { status, body, fields, reason: `denied by ${where}`, termination: "PR" };
    return () => answer;
  }
  if (rule.allow !== undefined) return () => END_LIST;
  if (rule.route !== undefined) {
    const pool = rule.route;
    return (_view, effects) => {
      effects.route = pool;
      return END_LIST;
    };
  }
  if (rule.redirect !== undefined) {
    const { location, code } = rule.redirect;
    const reason = `redirected by ${where}`;
    return (view) => ({ status: code, body: "", fields: ["location", _expandLocation(location, view)], reason, termination: "LR" });
  }
  if (rule.return !== undefined) {
    const { status, body, contentType, headers } = rule.return;
    const fields = ["content-type", contentType, ...Object.entries(headers).flatMap(([name, value]) => [name.toLowerCase(), value])];
    const answer: RuleAnswer = { status, body, fields, reason: `answered by ${where}`, termination: "LR" };
    return () => answer;
  }
  if (rule.tarpit !== undefined) {
    const { delay, status } = rule.tarpit;
    const answer: RuleAnswer = { status, fields: [], reason: `tarpitted by ${where}`, termination: "PT" };
    return (view) => _hold(ports.clock, delay, view).then(() => answer);
  }
  if (rule.requestHeaders !== undefined) {
    const edits = rule.requestHeaders;
    return (view) => {
      applyHeaderEdits(view.request.fields, edits);
      return NEXT;
    };
  }
  if (rule.responseHeaders !== undefined) {
    const edits = rule.responseHeaders;
    return (_view, effects) => {
      effects.editResponse(edits);
      return NEXT;
    };
  }
  return _rateLimitAction(rule.rateLimit!, rule.over ?? { status: 429 }, where, ports);
}

function _rateLimitAction(name: string, over: OverConfig, where: string, ports: RulePorts): _Action {
  // The config check refused a rule naming an unknown limit.
  const limiter = ports.rateLimiters.get(name)!;
  const reason = `over rate limit ${name} (${where})`;
  const refuse = (view: RuleRequest, verdict: RateLimitVerdict): _Result | Promise<_Result> => {
    const retryAfter = ["retry-after", String(verdict.retryAfterSeconds)];
    if ("deny" in over) return { status: over.deny, fields: [], reason, termination: "PR" };
    if ("tarpit" in over) {
      const answer: RuleAnswer = { status: 429, fields: retryAfter, reason, termination: "PT" };
      return _hold(ports.clock, over.tarpit, view).then(() => answer);
    }
    return { status: over.status, fields: retryAfter, reason, termination: "PR" };
  };
  const settle = (view: RuleRequest, effects: RuleEffects, verdict: RateLimitVerdict): _Result | Promise<_Result> => {
    if (!verdict.admitted) return refuse(view, verdict);
    effects.onEnd(verdict);
    return NEXT;
  };
  return (view, effects) => {
    const key = limiter.keyOf(view.request, view.clientAddress);
    if (key === null) return NEXT;
    const verdict = limiter.admit(key);
    return verdict instanceof Promise ? verdict.then((settled) => settle(view, effects, settled)) : settle(view, effects, verdict);
  };
}

/** Waits `ms` (HAProxy's `timeout tarpit`), or less when the client leaves first. */
function _hold(clock: Clock, ms: number, view: RuleRequest): Promise<void> {
  const { signal } = view.request;
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      cancel();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const cancel = clock.setTimer(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** `{host}` (as the client sent it, port included), `{path}`, `{query}` (with its `?`, or empty). */
function _expandLocation(template: string, view: RuleRequest): string {
  const { target, host } = view.request;
  const mark = target.indexOf("?");
  return template.replace(/\{(host|path|query)\}/g, (_, name: string) =>
    name === "host" ? host : name === "path" ? view.path : mark === -1 ? "" : target.slice(mark));
}
