/**
 * Config text (YAML or JSON) to a typed, defaulted {@link Config}, or every problem found.
 *
 * Problems read `path.to.field: what was expected (got X)` so an operator can fix a whole file in
 * one pass instead of one error per attempt.
 *
 * @example
 * ```ts
 * const result = parseConfig("listeners: [{address: ':8080'}]\npools: {app: {members: [{name: a, url: 'http://127.0.0.1:9000'}]}}");
 * if (!result.ok) console.error(result.problems.map(formatProblem).join("\n"));
 * ```
 * @module
 */
import * as v from "valibot";
import { parseDocument } from "yaml";
import { type Config, ConfigSchema, type ListenerConfig, MAX_WORKERS } from "./schema.ts";
import { checkRules } from "../rules/check.ts";

export interface Problem {
  /** Dotted path with array indices in brackets, e.g. `pools.app.members[0].url`. */
  path: string;
  expected: string;
  received: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: Problem[] };

export function formatProblem(problem: Problem): string {
  return `${problem.path || "(top level)"}: ${problem.expected} (got ${problem.received})`;
}

/** Parses and validates config text. Never throws. */
export function parseConfig(text: string): ConfigResult {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      ok: false,
      problems: document.errors.map((error) => ({
        path: error.linePos ? `line ${error.linePos[0].line}` : "",
        expected: "valid YAML or JSON",
        received: error.message.split("\n")[0],
      })),
    };
  }
  return validateConfig(document.toJS());
}

/** Validates an already-parsed value (for callers that build config objects in code). */
export function validateConfig(input: unknown): ConfigResult {
  const parsed = v.safeParse(ConfigSchema, input);
  if (!parsed.success) return { ok: false, problems: parsed.issues.map(_problemOfIssue) };
  const config = { ...parsed.output, workers: parsed.output.workers ?? defaultWorkers(parsed.output.listeners) };
  const problems = _crossCheck(config);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}

/**
 * `workers` when the config leaves it out: one per core (at most {@link MAX_WORKERS}; 1 where the
 * runtime does not say), but 1 when a listener asks for port 0: the kernel would give each worker
 * a port of its own, and clients could not reach all of them at one address.
 */
export function defaultWorkers(listeners: readonly Pick<ListenerConfig, "address">[], cores: number | null = _cores()): number {
  if (listeners.some(asksForPortZero)) return 1;
  return typeof cores === "number" && Number.isInteger(cores) && cores >= 1 ? Math.min(cores, MAX_WORKERS) : 1;
}

/** A listener whose port the kernel picks: every worker would get a different one. */
export function asksForPortZero(listener: Pick<ListenerConfig, "address">): boolean {
  return listener.address.endsWith(":0");
}

/** `navigator.hardwareConcurrency` (web standard on Bun, Deno and workerd), null where there is none. */
function _cores(): number | null {
  return typeof navigator === "undefined" ? null : navigator.hardwareConcurrency ?? null;
}

function _problemOfIssue(issue: v.BaseIssue<unknown>): Problem {
  const path = _pathOf(issue.path?.map((item) => item.key) ?? []);
  if (issue.received === "undefined") return { path, expected: "a value (required)", received: "nothing" };
  if (issue.type === "strict_object") {
    return { path, expected: "no such key (misspelt?)", received: `key ${issue.received}` };
  }
  // valibot's own `expected` is terse ("(\"a\" | \"b\")", ">=16"); our custom messages say more.
  const custom = !issue.message.startsWith("Invalid ");
  let expected = custom ? issue.message : issue.expected ?? issue.message;
  if (!custom && issue.type === "picklist") expected = `one of ${expected.replace(/^\((.*)\)$/, "$1")}`;
  const received = issue.kind === "validation" && /length/.test(issue.type) ? `length ${issue.received}` : issue.received;
  return { path, expected, received };
}

function _pathOf(keys: readonly unknown[]): string {
  let path = "";
  for (const key of keys) {
    if (typeof key === "number") path += `[${key}]`;
    else path += path ? `.${String(key)}` : String(key);
  }
  return path;
}

/** Rules that span fields, which a per-field schema cannot express. */
function _crossCheck(config: Config): Problem[] {
  const problems: Problem[] = [];
  const poolNames = Object.keys(config.pools);
  const quoted = (names: string[]) => names.map((name) => `"${name}"`).join(" | ");

  const addresses = new Set<string>();
  config.listeners.forEach((listener, index) => {
    if (addresses.has(listener.address)) {
      problems.push({ path: `listeners[${index}].address`, expected: "an address no other listener uses", received: `"${listener.address}" again` });
    }
    addresses.add(listener.address);
    if (listener.hsts && !listener.tls) {
      problems.push({ path: `listeners[${index}].hsts`, expected: "hsts only on a listener with tls (browsers ignore it over plain HTTP)", received: "a plain listener" });
    }
    if (config.workers > 1 && asksForPortZero(listener)) {
      problems.push({ path: `listeners[${index}].address`, expected: `a fixed port: with workers: ${config.workers} each worker would get a different one for port 0`, received: `"${listener.address}"` });
    }
    if (listener.redirectToHttps !== undefined && listener.tls) {
      problems.push({ path: `listeners[${index}].redirectToHttps`, expected: "redirectToHttps only on a plain listener", received: "a listener with tls" });
    }
  });

  config.routes.forEach((route, index) => {
    if (!config.pools[route.pool]) {
      problems.push({ path: `routes[${index}].pool`, expected: `one of the pools ${quoted(poolNames)}`, received: `"${route.pool}"` });
    }
    if (route.host === undefined && route.path === undefined) {
      problems.push({ path: `routes[${index}]`, expected: "a host, a path or both", received: "neither" });
    }
  });
  if (config.defaultPool !== undefined && !config.pools[config.defaultPool]) {
    problems.push({ path: "defaultPool", expected: `one of the pools ${quoted(poolNames)}`, received: `"${config.defaultPool}"` });
  }

  for (const [poolName, pool] of Object.entries(config.pools)) {
    if (pool.members.length === 0 && pool.discover === undefined) {
      problems.push({ path: `pools.${poolName}.members`, expected: "at least one member (or a discover block)", received: "none" });
    }
    const names = pool.members.map((member) => member.name);
    const seenNames = new Set<string>();
    const seenRoutes = new Set<string>();
    const seenCookies = new Set<string>();
    pool.members.forEach((member, index) => {
      const path = `pools.${poolName}.members[${index}]`;
      if (seenNames.has(member.name)) {
        problems.push({ path: `${path}.name`, expected: "a name unique in the pool", received: `"${member.name}" again` });
      }
      seenNames.add(member.name);
      const route = member.route ?? member.name;
      if (seenRoutes.has(route)) {
        problems.push({ path: `${path}.route`, expected: "a route unique in the pool (it decides where sessions go)", received: `"${route}" again` });
      }
      seenRoutes.add(route);
      if (member.cookie !== undefined && seenCookies.has(member.cookie)) {
        problems.push({ path: `${path}.cookie`, expected: "a cookie value unique in the pool (it decides where sessions go)", received: `"${member.cookie}" again` });
      }
      if (member.cookie !== undefined) seenCookies.add(member.cookie);
      if (member.redirect !== undefined && (member.redirect === member.name || !names.includes(member.redirect))) {
        problems.push({ path: `${path}.redirect`, expected: `another member of pool "${poolName}": ${quoted(names.filter((n) => n !== member.name))}`, received: `"${member.redirect}"` });
      }
    });
    if ((pool.hash.key === "header" || pool.hash.key === "cookie") && pool.hash.name === undefined) {
      problems.push({ path: `pools.${poolName}.hash.name`, expected: `the ${pool.hash.key} name to hash on`, received: "nothing" });
    }
  }
  problems.push(...checkRules(config));
  return problems;
}
