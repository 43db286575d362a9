/**
 * What the rules schema cannot see field by field: names of pools and rate limits, `route` where
 * it cannot apply, and rules that can never act (a matcher nothing satisfies, or a rule after
 * one that ends every request). Each problem names the rule by its path in the config. Also what
 * an edge worker does not apply (`tandem check --edge`).
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { compileRegex } from "./regex/nfa.ts";
import type { Matcher, RuleConfig } from "./schema.ts";
import { matchesEverything } from "./matcher.ts";

export interface RuleProblem {
  path: string;
  expected: string;
  received: string;
}

/** Actions that end the list for every request they see. */
const ENDING_ACTIONS = ["deny", "allow", "redirect", "route", "return", "tarpit"] as const;

export function checkRules(config: Config): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const poolNames = Object.keys(config.pools);
  const limitNames = Object.keys(config.rateLimits);
  const quoted = (names: string[]) => (names.length === 0 ? "none defined" : names.map((name) => `"${name}"`).join(" | "));
  const checkList = (rules: readonly RuleConfig[], where: string, scope: { plainListener: boolean; pool: boolean }) => {
    let endedBy: string | undefined;
    rules.forEach((rule, index) => {
      const path = `${where}[${index}]`;
      if (endedBy !== undefined) {
        problems.push({ path, expected: `a rule that can act: ${endedBy} applies to every request and ends the list first`, received: "an unreachable rule" });
      }
      if (rule.route !== undefined && scope.pool) {
        problems.push({ path: `${path}.route`, expected: "route only in a listener's rules (a pool's rules run once its pool is chosen)", received: `"${rule.route}"` });
      } else if (rule.route !== undefined && !poolNames.includes(rule.route)) {
        problems.push({ path: `${path}.route`, expected: `one of the pools ${quoted(poolNames)}`, received: `"${rule.route}"` });
      }
      if (rule.rateLimit !== undefined && !limitNames.includes(rule.rateLimit)) {
        problems.push({ path: `${path}.rateLimit`, expected: `one of the rateLimits ${quoted(limitNames)}`, received: `"${rule.rateLimit}"` });
      }
      if (rule.when !== undefined) _neverMatching(rule.when, `${path}.when`, scope.plainListener, problems);
      const ending = ENDING_ACTIONS.find((action) => rule[action] !== undefined);
      if (endedBy === undefined && ending !== undefined && matchesEverything(rule.when)) endedBy = `${path} (${ending})`;
    });
  };
  config.listeners.forEach((listener, index) => checkList(listener.rules, `listeners[${index}].rules`, { plainListener: listener.tls === undefined, pool: false }));
  for (const [name, pool] of Object.entries(config.pools)) checkList(pool.rules, `pools.${name}.rules`, { plainListener: false, pool: true });
  return problems;
}

/** Matchers no request can satisfy, each named by its path. */
function _neverMatching(matcher: Matcher, path: string, plainListener: boolean, problems: RuleProblem[]): void {
  const never = (key: string, expected: string, received: string) => problems.push({ path: `${path}.${key}`, expected, received });
  const regexes: [string, string | undefined][] = [
    ["path.regex", matcher.path?.regex],
    ["query.regex", matcher.query?.regex],
    ["header.regex", matcher.header?.regex],
    ["cookie.regex", matcher.cookie?.regex],
  ];
  for (const [key, source] of regexes) {
    if (source === undefined) continue;
    const compiled = compileRegex(source);
    if (!("problem" in compiled) && !compiled.canMatch()) never(key, "a regex some text can match", `"${source}", which matches nothing`);
  }
  if (plainListener && matcher.sni !== undefined) never("sni", "sni only on a listener with tls", "a plain listener, where no request has one");
  if (plainListener && matcher.tlsVersion !== undefined) never("tlsVersion", "tlsVersion only on a listener with tls", "a plain listener, where no request has one");
  if (matcher.not !== undefined && matchesEverything(matcher.not)) never("not", "a matcher some request fails", "one every request passes, so not never matches");
  matcher.all?.forEach((inner, index) => _neverMatching(inner, `${path}.all[${index}]`, plainListener, problems));
  matcher.any?.forEach((inner, index) => _neverMatching(inner, `${path}.any[${index}]`, plainListener, problems));
  if (matcher.not !== undefined) _neverMatching(matcher.not, `${path}.not`, plainListener, problems);
}

/** Rules an edge worker ignores: it has one front end (the first listener's rules), and the platform terminates TLS. */
export function edgeRuleWarnings(config: Config): { path: string; message: string }[] {
  const warnings: { path: string; message: string }[] = [];
  config.listeners.forEach((listener, index) => {
    if (index > 0 && listener.rules.length > 0) {
      warnings.push({ path: `listeners[${index}].rules`, message: "the edge worker serves as the first listener: only listeners[0].rules apply" });
    }
  });
  const lists: [string, readonly RuleConfig[]][] = [
    ...config.listeners.map((listener, index): [string, readonly RuleConfig[]] => [`listeners[${index}].rules`, listener.rules]),
    ...Object.entries(config.pools).map(([name, pool]): [string, readonly RuleConfig[]] => [`pools.${name}.rules`, pool.rules]),
  ];
  for (const [where, rules] of lists) {
    rules.forEach((rule, index) => {
      if (rule.when !== undefined && _testsTls(rule.when)) {
        warnings.push({ path: `${where}[${index}].when`, message: "the platform terminates TLS: sni and tlsVersion never match on the edge" });
      }
    });
  }
  return warnings;
}

function _testsTls(matcher: Matcher): boolean {
  if (matcher.sni !== undefined || matcher.tlsVersion !== undefined) return true;
  return [...(matcher.all ?? []), ...(matcher.any ?? []), ...(matcher.not ? [matcher.not] : [])].some(_testsTls);
}
