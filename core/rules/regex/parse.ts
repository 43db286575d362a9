/**
 * The regex syntax rules accept, parsed into a small tree the linear-time engine (`nfa.ts`)
 * compiles. It is JavaScript's syntax without what needs a backtracking engine: backreferences
 * (`\1`, `\k<name>`), lookahead and lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`) and word boundaries
 * (`\b`, `\B`) are refused with a reason, so `tandem check` names them instead of a request
 * finding them out.
 *
 * @example
 * ```ts
 * parseRegex("^/api/v[0-9]+/"); // { ok: true, node: ... }
 * parseRegex("(a)\\1");         // { ok: false, problem: "backreferences (\\1) need a backtracking engine" }
 * ```
 * @module
 */

/** Sorted, disjoint inclusive code-unit ranges as [from, to, from, to, ...]. */
export type Ranges = readonly number[];

export type RegexNode =
  | { kind: "chars"; ranges: Ranges }
  | { kind: "start" }
  | { kind: "end" }
  | { kind: "sequence"; items: RegexNode[] }
  | { kind: "alternation"; options: RegexNode[] }
  | { kind: "repeat"; item: RegexNode; min: number; max: number };

/** Counted repetition is unrolled into copies: a bound keeps the program small. */
export const MAX_REPEAT = 1000;
const MAX_CODE_UNIT = 0xffff;

export type ParsedRegex = { ok: true; node: RegexNode } | { ok: false; problem: string };

export function parseRegex(source: string): ParsedRegex {
  const parser = new _Parser(source);
  try {
    const node = parser.alternation();
    if (parser.position < source.length) parser.fail(`unmatched ')' at ${parser.position}`);
    return { ok: true, node };
  } catch (error) {
    if (error instanceof _RegexSyntaxError) return { ok: false, problem: error.message };
    throw error;
  }
}

class _RegexSyntaxError extends Error {}

const DIGITS: Ranges = [0x30, 0x39];
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
/** JavaScript's `\s`. */
const SPACE: Ranges = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f,
  0x3000, 0x3000, 0xfeff, 0xfeff,
];
/** `.` without the `s` flag: anything but line terminators. */
const DOT: Ranges = complement([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029]);
const CLASS_ESCAPES: Record<string, Ranges> = { d: DIGITS, D: complement(DIGITS), w: WORD, W: complement(WORD), s: SPACE, S: complement(SPACE) };
const CONTROL_ESCAPES: Record<string, number> = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d, "0": 0x00 };

class _Parser {
  position = 0;

  constructor(readonly source: string) {}

  fail(message: string): never {
    throw new _RegexSyntaxError(message);
  }

  alternation(): RegexNode {
    const options = [this.sequence()];
    while (this.source[this.position] === "|") {
      this.position++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: "alternation", options };
  }

  sequence(): RegexNode {
    const items: RegexNode[] = [];
    while (this.position < this.source.length && this.source[this.position] !== "|" && this.source[this.position] !== ")") {
      items.push(this.#quantified(this.#atom()));
    }
    return items.length === 1 ? items[0] : { kind: "sequence", items };
  }

  #quantified(item: RegexNode): RegexNode {
    for (;;) {
      const bounds = this.#quantifier();
      if (bounds === undefined) return item;
      if (item.kind === "start" || item.kind === "end") this.fail(`nothing to repeat before ${this.source[this.position - 1]} (an anchor)`);
      // A lazy quantifier finds the same matches; a test only asks whether there is one.
      if (this.source[this.position] === "?") this.position++;
      item = { kind: "repeat", item, ...bounds };
    }
  }

  #quantifier(): { min: number; max: number } | undefined {
    const char = this.source[this.position];
    if (char === "*" || char === "+" || char === "?") {
      this.position++;
      return { min: char === "+" ? 1 : 0, max: char === "?" ? 1 : Infinity };
    }
    if (char !== "{") return undefined;
    const counted = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.position));
    if (counted === null) return undefined;
    const min = Number(counted[1]);
    const max = counted[2] === undefined ? min : counted[3] === "" ? Infinity : Number(counted[3]);
    if (max < min) this.fail(`repetition {${min},${max}} has its bounds out of order`);
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) this.fail(`repetition bounds above ${MAX_REPEAT}`);
    this.position += counted[0].length;
    return { min, max };
  }

  #atom(): RegexNode {
    const char = this.source[this.position++];
    switch (char) {
      case "^":
        return { kind: "start" };
      case "$":
        return { kind: "end" };
      case ".":
        return { kind: "chars", ranges: DOT };
      case "[":
        return { kind: "chars", ranges: this.#charClass() };
      case "(":
        return this.#group();
      case "\\":
        return { kind: "chars", ranges: this.#escape(false) };
      case "*":
      case "+":
      case "?":
        return this.fail(`nothing to repeat before '${char}' at ${this.position - 1}`);
      default: {
        if (char === "{" && /^\d+(,\d*)?\}/.test(this.source.slice(this.position))) this.fail(`nothing to repeat before '{' at ${this.position - 1}`);
        const unit = char.charCodeAt(0);
        return { kind: "chars", ranges: [unit, unit] };
      }
    }
  }

  #group(): RegexNode {
    const rest = this.source.slice(this.position);
    if (rest.startsWith("?=") || rest.startsWith("?!")) this.fail("lookahead ((?= or (?!) needs a backtracking engine");
    if (rest.startsWith("?<=") || rest.startsWith("?<!")) this.fail("lookbehind ((?<= or (?<!) needs a backtracking engine");
    const named = /^\?<[A-Za-z_$][\w$]*>/.exec(rest);
    if (named) this.position += named[0].length;
    else if (rest.startsWith("?:")) this.position += 2;
    else if (rest.startsWith("?")) this.fail(`unknown group syntax '(${rest.slice(0, 3)}'`);
    const inner = this.alternation();
    if (this.source[this.position] !== ")") this.fail("unterminated group: missing ')'");
    this.position++;
    return inner;
  }

  #charClass(): Ranges {
    const negated = this.source[this.position] === "^";
    if (negated) this.position++;
    const pieces: number[] = [];
    // As in JavaScript, `[]` matches nothing and `[^]` any code unit.
    for (;;) {
      if (this.position >= this.source.length) this.fail("unterminated character class: missing ']'");
      if (this.source[this.position] === "]") break;
      const low = this.#classMember();
      if (typeof low !== "number") {
        pieces.push(...low);
        continue;
      }
      if (this.source[this.position] === "-" && this.position + 1 < this.source.length && this.source[this.position + 1] !== "]") {
        this.position++;
        const high = this.#classMember();
        if (typeof high !== "number") this.fail("a class escape such as \\d cannot end a range");
        if (high < low) this.fail(`range out of order in character class at ${this.position - 1}`);
        pieces.push(low, high);
      } else {
        pieces.push(low, low);
      }
    }
    this.position++;
    const ranges = normalize(pieces);
    return negated ? complement(ranges) : ranges;
  }

  /** One code unit, or the ranges of a class escape such as `\d`. */
  #classMember(): number | Ranges {
    const char = this.source[this.position++];
    if (char !== "\\") return char.charCodeAt(0);
    const ranges = this.#escape(true);
    return ranges.length === 2 && ranges[0] === ranges[1] ? ranges[0] : ranges;
  }

  #escape(inClass: boolean): Ranges {
    const char = this.source[this.position++];
    if (char === undefined) this.fail("a '\\' at the end");
    if (/[1-9]/.test(char) || char === "k") this.fail(`backreferences (\\${char}) need a backtracking engine`);
    if (char === "b" && inClass) return [0x08, 0x08];
    if (char === "b" || char === "B") this.fail(`word boundaries (\\${char}) are lookaround and need a backtracking engine`);
    if (char === "p" || char === "P") this.fail(`Unicode property escapes (\\${char}) are not supported`);
    if (char in CLASS_ESCAPES) return CLASS_ESCAPES[char];
    if (char in CONTROL_ESCAPES) return [CONTROL_ESCAPES[char], CONTROL_ESCAPES[char]];
    if (char === "x" || char === "u") {
      const digits = char === "x" ? 2 : 4;
      const hex = this.source.slice(this.position, this.position + digits);
      if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) this.fail(`\\${char} needs ${digits} hex digits`);
      this.position += digits;
      const unit = parseInt(hex, 16);
      return [unit, unit];
    }
    if (/[A-Za-z0-9]/.test(char)) this.fail(`unknown escape \\${char}`);
    const unit = char.charCodeAt(0);
    return [unit, unit];
  }
}

/** Sorts and merges [from, to] pairs. */
export function normalize(pieces: readonly number[]): Ranges {
  const pairs: [number, number][] = [];
  for (let index = 0; index < pieces.length; index += 2) pairs.push([pieces[index], pieces[index + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [from, to] of pairs) {
    const last = merged.length - 1;
    if (last > 0 && from <= merged[last] + 1) merged[last] = Math.max(merged[last], to);
    else merged.push(from, to);
  }
  return merged;
}

export function complement(ranges: Ranges): Ranges {
  const result: number[] = [];
  let next = 0;
  for (let index = 0; index < ranges.length; index += 2) {
    if (ranges[index] > next) result.push(next, ranges[index] - 1);
    next = ranges[index + 1] + 1;
  }
  if (next <= MAX_CODE_UNIT) result.push(next, MAX_CODE_UNIT);
  return result;
}
