/**
 * haproxy.cfg as HAProxy reads it, before any meaning is given to it: lines cut into words with
 * its quoting and escaping rules (configuration.txt 2.2), `.if`/`.elif`/`.else`/`.endif` blocks
 * (2.4), and sections, which run from their keyword to the next section keyword or the end of the
 * file. HAProxy has no line continuation and no include: several files are given one after the
 * other (`-f a.cfg -f b.cfg`), and a section never spans two of them.
 *
 * @example
 * ```ts
 * lexLine('bind :443 ssl crt "/etc/ssl/my site.pem" # TLS', origin).words; // ["bind", ":443", "ssl", "crt", "/etc/ssl/my site.pem"]
 * ```
 * @module
 */
import { ImportError, type Origin } from "./report.ts";

/** One directive line, cut into words; `environment` names the `"${VAR}"` it refers to. */
export interface Directive {
  origin: Origin;
  words: string[];
  environment: string[];
}

/** A directive as a proxy sees it: its own, or taken from its defaults. */
export interface Use {
  directive: Directive;
  inherited: boolean;
}

export const PROXY_SECTIONS = ["defaults", "frontend", "backend", "listen"] as const;
export type ProxyKind = typeof PROXY_SECTIONS[number];

/** Every section keyword HAProxy 2.x knows; anything else is a directive of the current section. */
export const SECTION_KEYWORDS = new Set<string>([
  "global", ...PROXY_SECTIONS, "peers", "resolvers", "userlist", "mailers", "cache", "program", "http-errors",
  "ring", "log-forward", "fcgi-app", "crt-store", "traces",
]);

export interface Section {
  keyword: string;
  /** The section line itself. */
  header: Directive;
  name?: string;
  /** `from <defaults>` on a proxy or defaults line (HAProxy 2.6 named defaults). */
  from?: string;
  directives: Directive[];
}

/**
 * Cuts one line into words. Outside quotes a backslash escapes space, `#`, `\`, `'`, `"` and
 * writes `\n \r \t \xNN`; double quotes keep spaces and `#` and allow escapes and `$VAR`;
 * single quotes keep everything as written. An unescaped `#` outside quotes starts a comment.
 */
export function lexLine(text: string, origin: Origin): { words: string[]; environment: string[] } {
  const words: string[] = [];
  const environment: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "" | "'" | '"' = "";
  const end = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quote === "'") {
      if (char === "'") quote = "";
      else word += char;
      continue;
    }
    if (char === "\\" && index + 1 < text.length) {
      const next = text[index + 1];
      inWord = true;
      index++;
      if (next === "n") word += "\n";
      else if (next === "r") word += "\r";
      else if (next === "t") word += "\t";
      else if (next === "x" && /^[0-9A-Fa-f]{2}$/.test(text.slice(index + 1, index + 3))) {
        word += String.fromCharCode(parseInt(text.slice(index + 1, index + 3), 16));
        index += 2;
      } else if (" \t#\\'\"".includes(next) || (next === "$" && quote === '"')) word += next;
      // Any other backslash stays, as HAProxy leaves it for the regex or sample parser (`\.`).
      else word += `\\${next}`;
      continue;
    }
    if (quote === '"') {
      if (char === '"') quote = "";
      else if (char === "$") {
        const reference = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(text.slice(index));
        if (reference) environment.push(reference[1] ?? reference[2]);
        word += char;
      } else word += char;
      continue;
    }
    if (char === " " || char === "\t") end();
    else if (char === "#") break;
    else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw new ImportError(origin.file, origin.line, `unmatched ${quote === '"' ? "double" : "single"} quote`);
  end();
  return { words, environment };
}

/** What became of the lines that are not directives of a section: conditions and skipped blocks. */
export interface Aside {
  origin: Origin;
  disposition: "carried" | "approximated" | "not carried";
  detail: string;
}

/**
 * The files' sections, in order. `.if` conditions HAProxy decides from its build or environment
 * (`defined()`, `feature()`) cannot be decided here: they count as false, and `asides` says so.
 */
export function readSections(files: readonly { path: string; text: string }[]): { sections: Section[]; asides: Aside[] } {
  const sections: Section[] = [];
  const asides: Aside[] = [];
  for (const file of files) {
    let current: Section | undefined;
    // Per open .if: whether a branch was taken already, and whether the present one is active.
    const blocks: { taken: boolean; active: boolean; origin: Origin }[] = [];
    const active = () => blocks.every((block) => block.active);
    file.text.split("\n").forEach((raw, index) => {
      const text = raw.replace(/\r$/, "");
      const origin: Origin = { file: file.path, line: index + 1, text };
      const { words, environment } = lexLine(text, origin);
      if (words.length === 0) return;
      const keyword = words[0];
      if (keyword.startsWith(".")) {
        _conditional(keyword, words, origin, blocks, asides, active);
        return;
      }
      if (!active()) {
        asides.push({ origin, disposition: "not carried", detail: "inside a .if block whose condition is false" });
        return;
      }
      const directive: Directive = { origin, words, environment };
      if (SECTION_KEYWORDS.has(keyword)) {
        const fromAt = words.indexOf("from");
        current = {
          keyword,
          header: directive,
          name: keyword === "global" || words[1] === "from" ? undefined : words[1],
          from: fromAt > 0 && PROXY_SECTIONS.includes(keyword as ProxyKind) ? words[fromAt + 1] : undefined,
          directives: [],
        };
        if (keyword !== "global" && keyword !== "defaults" && !current.name) {
          throw new ImportError(file.path, origin.line, `${keyword}: a name is required`);
        }
        if (fromAt > 0 && current.from === undefined) throw new ImportError(file.path, origin.line, `${keyword}: "from" without a defaults section name`);
        sections.push(current);
        return;
      }
      if (!current) throw new ImportError(file.path, origin.line, `"${keyword}" outside any section (HAProxy: unknown keyword out of section)`);
      current.directives.push(directive);
    });
    if (blocks.length > 0) {
      const open = blocks[blocks.length - 1].origin;
      throw new ImportError(file.path, open.line, ".if without .endif before the end of the file");
    }
  }
  return { sections, asides };
}

function _conditional(
  keyword: string,
  words: string[],
  origin: Origin,
  blocks: { taken: boolean; active: boolean; origin: Origin }[],
  asides: Aside[],
  active: () => boolean,
): void {
  const fail = (reason: string): never => {
    throw new ImportError(origin.file, origin.line, reason);
  };
  const decide = () => {
    const verdict = evaluateCondition(words.slice(1));
    asides.push({
      origin,
      disposition: verdict.exact ? "carried" : "approximated",
      detail: verdict.exact
        ? `condition ${verdict.value ? "true" : "false"}: the lines of this branch are ${verdict.value ? "" : "not "}imported`
        : `condition not decidable at import (${verdict.why}): taken as false`,
    });
    return verdict.value;
  };
  switch (keyword) {
    case ".if": {
      const outer = active();
      const value = outer ? decide() : (asides.push({ origin, disposition: "not carried", detail: "inside a .if block whose condition is false" }), false);
      blocks.push({ taken: value, active: value, origin });
      return;
    }
    case ".elif": {
      const block = blocks[blocks.length - 1] ?? fail(".elif without .if");
      blocks.pop();
      const outer = active();
      blocks.push(block);
      if (!outer || block.taken) {
        block.active = false;
        asides.push({ origin, disposition: "not carried", detail: outer ? "an earlier branch of this .if is taken" : "inside a .if block whose condition is false" });
        return;
      }
      block.active = decide();
      block.taken = block.active;
      return;
    }
    case ".else": {
      const block = blocks[blocks.length - 1] ?? fail(".else without .if");
      block.active = !block.taken;
      block.taken = true;
      asides.push({ origin, disposition: "carried", detail: block.active ? "the lines of this branch are imported" : "an earlier branch of this .if is taken" });
      return;
    }
    case ".endif":
      if (!blocks.pop()) fail(".endif without .if");
      asides.push({ origin, disposition: "carried", detail: "end of a conditional block" });
      return;
    case ".diag":
    case ".notice":
    case ".warning":
    case ".alert":
      asides.push({ origin, disposition: "not carried", detail: "a message for haproxy -c; tandem check reports its own" });
      return;
    default:
      asides.push({ origin, disposition: "not carried", detail: "unknown directive" });
  }
}

/** The HAProxy version whose configs this import reads (Debian 12's), for `version_atleast()`. */
const READER_VERSION = [2, 6];

/**
 * A `.if` condition: integers (non-zero is true), `version_atleast(x)`, `version_before(x)`,
 * `streq(a,b)`, `strneq(a,b)`, `!`, `&&`, `||`. `defined()`, `feature()` and `enabled()` depend on
 * the environment and build of the HAProxy that would run: not decidable here.
 */
export function evaluateCondition(words: string[]): { value: boolean; exact: boolean; why?: string } {
  const text = words.join(" ");
  const terms = text.split("||").map((part) => part.split("&&").map((term) => term.trim()));
  let undecidable: string | undefined;
  const term = (raw: string): boolean => {
    const negated = raw.startsWith("!");
    const body = negated ? raw.slice(1).trim() : raw;
    let value: boolean;
    const call = /^([a-z_]+)\((.*)\)$/.exec(body);
    if (/^-?\d+$/.test(body)) value = Number(body) !== 0;
    else if (call && (call[1] === "version_atleast" || call[1] === "version_before")) {
      const wanted = call[2].split(".").map((part) => Number.parseInt(part, 10) || 0);
      const compare = _compareVersions(READER_VERSION, wanted);
      value = call[1] === "version_atleast" ? compare >= 0 : compare < 0;
    } else if (call && (call[1] === "streq" || call[1] === "strneq")) {
      const [a, b] = call[2].split(",");
      value = (a === b) === (call[1] === "streq");
    } else {
      undecidable ??= body;
      value = false;
      return false;
    }
    return negated ? !value : value;
  };
  const value = terms.some((all) => all.every(term));
  return undecidable ? { value: false, exact: false, why: undecidable } : { value, exact: true };
}

function _compareVersions(a: number[], b: number[]): number {
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** HAProxy's time format: an integer and an optional unit `us ms s m h d`; a bare number is `unit` (ms for most). */
export function parseTime(text: string, origin: Origin, what: string): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text);
  if (!match) throw new ImportError(origin.file, origin.line, `${what}: not a time ("${text}"; an integer with an optional unit us, ms, s, m, h or d)`);
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? "ms"]!;
  return Math.ceil(Number(match[1]) * factor);
}

/** HAProxy's size format: an integer with an optional `k`, `m` or `g` (powers of 1024). */
export function parseSize(text: string, origin: Origin, what: string): number {
  const match = /^(\d+)([kKmMgG])?$/.exec(text);
  if (!match) throw new ImportError(origin.file, origin.line, `${what}: not a size ("${text}"; an integer with an optional k, m or g)`);
  const factor = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? "").toLowerCase() as "k"] ?? 1;
  return Number(match[1]) * factor;
}

export function parseInteger(text: string | undefined, origin: Origin, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new ImportError(origin.file, origin.line, `${what}: not a number ("${text ?? ""}")`);
  const value = Number(text);
  if (value < min || value > max) throw new ImportError(origin.file, origin.line, `${what}: ${value} is outside ${min} to ${max}`);
  return value;
}

/** Milliseconds as tandem's config writes durations: the largest unit that divides them. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
