/**
 * A regex engine whose time is linear in the input, for patterns that match client input.
 *
 * The pattern compiles to a Thompson NFA, and `test` runs every thread of it in lockstep over
 * the input: each code unit is looked at once, against at most every state once, so a test
 * costs O(input length × states) whatever the pattern and the input; there is no backtracking
 * to explode (`(a+)+$` on `aaaa…!` costs what `a$` costs). The sets of threads met are kept as
 * the states of a DFA built lazily (RE2's approach), so a step the cache knows costs one array
 * read; the cache is bounded and starts afresh when full. Counted repetition is unrolled and the
 * program capped at {@link MAX_STATES}, which bounds the constant. JavaScript's RegExp is never
 * used on client input.
 *
 * @example
 * ```ts
 * const compiled = compileRegex("^/(?:api|rest)/v[0-9]+/");
 * if ("test" in compiled) compiled.test("/api/v2/orders"); // true
 * ```
 * @module
 */
import { parseRegex, type Ranges, type RegexNode } from "./parse.ts";

/** Largest program a pattern may compile to: keeps the per-character cost bounded. */
export const MAX_STATES = 10_000;

/** What a state does: wait for a code unit in its ranges, fork, assert an end of the input, or accept. */
const _Op = { Chars: 0, Split: 1, Start: 2, End: 3, Match: 4 } as const;
type _Op = (typeof _Op)[keyof typeof _Op];

/** Why `source` cannot run on the linear-time engine, or undefined when it can. */
export function regexProblem(source: string): string | undefined {
  const compiled = compileRegex(source);
  return "problem" in compiled ? compiled.problem : undefined;
}

export function compileRegex(source: string): LinearRegex | { problem: string } {
  const parsed = parseRegex(source);
  if (!parsed.ok) return { problem: parsed.problem };
  const builder = new _Builder();
  const match = builder.add(_Op.Match, -1, -1);
  const start = builder.compile(parsed.node, match);
  if (builder.overflow) return { problem: `the pattern compiles to more than ${MAX_STATES} states (lower its repetition counts)` };
  return new LinearRegex(builder, start, _anchoredAtStart(parsed.node));
}

/** A set of NFA threads, the DFA state a lazily built DFA is made of. */
interface _DfaState {
  /** NFA states waiting for a code unit (Chars) or for the input's end (End), ascending. */
  readonly threads: Int32Array;
  /** A thread reached the end of the pattern: the input matches. */
  readonly matched: boolean;
  /** The state after each ASCII code unit, filled in as inputs need them. */
  readonly next: (_DfaState | undefined)[];
  acceptsAtEnd: boolean | undefined;
}

/**
 * The most DFA states kept per pattern. Past it the cache starts afresh (as RE2 does): memory
 * stays bounded, and a step that misses the cache costs what a step of the NFA simulation costs.
 */
const MAX_DFA_STATES = 256;
const ASCII = 128;

export class LinearRegex {
  readonly #op: Uint8Array;
  readonly #next: Int32Array;
  readonly #alternative: Int32Array;
  readonly #ranges: (Ranges | undefined)[];
  readonly #start: number;
  /** Begins with `^`: no thread starts after the first position. */
  readonly #anchored: boolean;
  readonly #states = new Map<string, _DfaState>();
  #initial: _DfaState | undefined;
  // Scratch space of the closures (tests are synchronous, so never interleaved).
  readonly #marks: Uint32Array;
  readonly #stack: Int32Array;
  readonly #found: Int32Array;
  #foundCount = 0;
  #foundMatch = false;
  #generation = 0;

  /** @internal Made by {@link compileRegex}. */
  constructor(builder: _Builder, start: number, anchored: boolean) {
    const size = builder.op.length;
    this.#op = Uint8Array.from(builder.op);
    this.#next = Int32Array.from(builder.next);
    this.#alternative = Int32Array.from(builder.alternative);
    this.#ranges = builder.ranges;
    this.#start = start;
    this.#anchored = anchored;
    this.#marks = new Uint32Array(size);
    this.#stack = new Int32Array(2 * size + 2);
    this.#found = new Int32Array(size);
  }

  /** Whether the pattern matches anywhere in `input` (as RegExp.prototype.test without flags). */
  test(input: string): boolean {
    const length = input.length;
    const anchored = this.#anchored;
    let state = this.#initial ??= this.#closureOfStart();
    for (let position = 0; position < length; position++) {
      if (state.matched) return true;
      if (anchored && state.threads.length === 0) return false;
      const unit = input.charCodeAt(position);
      let next = unit < ASCII ? state.next[unit] : undefined;
      if (next === undefined) {
        next = this.#step(state, unit);
        if (unit < ASCII) state.next[unit] = next;
      }
      state = next;
    }
    return state.matched || this.#acceptsAtEnd(state, length === 0);
  }

  /** Whether some input can match: false for patterns such as `[]` or `[^\s\S]`. */
  canMatch(): boolean {
    const seen = new Uint8Array(this.#op.length);
    const pending = [this.#start];
    while (pending.length > 0) {
      const state = pending.pop()!;
      if (seen[state]) continue;
      seen[state] = 1;
      switch (this.#op[state]) {
        case _Op.Match:
          return true;
        case _Op.Chars:
          if (this.#ranges[state]!.length > 0) pending.push(this.#next[state]);
          break;
        case _Op.Split:
          pending.push(this.#next[state], this.#alternative[state]);
          break;
        default:
          pending.push(this.#next[state]);
      }
    }
    return false;
  }

  #closureOfStart(): _DfaState {
    this.#beginClosure();
    this.#follow(this.#start, true);
    return this.#intern();
  }

  /** Every thread waiting for a code unit that `unit` is in moves on; a new thread starts unless anchored. */
  #step(state: _DfaState, unit: number): _DfaState {
    this.#beginClosure();
    const { threads } = state;
    for (let index = 0; index < threads.length; index++) {
      const thread = threads[index];
      if (this.#op[thread] === _Op.Chars && _contains(this.#ranges[thread]!, unit)) this.#follow(this.#next[thread], false);
    }
    if (!this.#anchored) this.#follow(this.#start, false);
    return this.#intern();
  }

  /** At the input's end the `$` assertions hold: does a thread waiting at one reach the end of the pattern? */
  #acceptsAtEnd(state: _DfaState, atStart: boolean): boolean {
    if (!atStart && state.acceptsAtEnd !== undefined) return state.acceptsAtEnd;
    const op = this.#op, marks = this.#marks, stack = this.#stack;
    const generation = this.#nextGeneration();
    let accepts = false;
    let top = 0;
    for (const thread of state.threads) if (op[thread] === _Op.End) stack[top++] = this.#next[thread];
    while (top > 0 && !accepts) {
      const at = stack[--top];
      if (marks[at] === generation) continue;
      marks[at] = generation;
      const kind = op[at];
      if (kind === _Op.Match) accepts = true;
      else if (kind === _Op.Split) {
        stack[top++] = this.#alternative[at];
        stack[top++] = this.#next[at];
      } else if (kind === _Op.End || (kind === _Op.Start && atStart)) stack[top++] = this.#next[at];
    }
    if (!atStart) state.acceptsAtEnd = accepts;
    return accepts;
  }

  #beginClosure(): void {
    this.#nextGeneration();
    this.#foundCount = 0;
    this.#foundMatch = false;
  }

  /** Follows the empty moves from `state`, collecting the threads that wait (for a code unit, or for the end). */
  #follow(state: number, atStart: boolean): void {
    const op = this.#op, marks = this.#marks, stack = this.#stack, found = this.#found, generation = this.#generation;
    let top = 0;
    stack[top++] = state;
    while (top > 0) {
      const at = stack[--top];
      if (marks[at] === generation) continue;
      marks[at] = generation;
      switch (op[at]) {
        case _Op.Chars:
        case _Op.End:
          found[this.#foundCount++] = at;
          break;
        case _Op.Match:
          this.#foundMatch = true;
          break;
        case _Op.Split:
          stack[top++] = this.#alternative[at];
          stack[top++] = this.#next[at];
          break;
        case _Op.Start:
          if (atStart) stack[top++] = this.#next[at];
          break;
      }
    }
  }

  /** The DFA state of the threads just collected: the cached one, or a new one. */
  #intern(): _DfaState {
    const threads = this.#found.slice(0, this.#foundCount).sort();
    const key = `${this.#foundMatch ? "!" : ""}${threads.join(",")}`;
    const known = this.#states.get(key);
    if (known !== undefined) return known;
    if (this.#states.size >= MAX_DFA_STATES) {
      this.#states.clear();
      this.#initial = undefined;
    }
    const state: _DfaState = { threads, matched: this.#foundMatch, next: new Array<_DfaState | undefined>(ASCII).fill(undefined), acceptsAtEnd: undefined };
    this.#states.set(key, state);
    return state;
  }

  #nextGeneration(): number {
    this.#generation++;
    if (this.#generation === 0xffffffff) {
      this.#marks.fill(0);
      this.#generation = 1;
    }
    return this.#generation;
  }
}

/** Builds the program back to front: each piece is compiled knowing the state that follows it. */
class _Builder {
  readonly op: number[] = [];
  readonly next: number[] = [];
  readonly alternative: number[] = [];
  readonly ranges: (Ranges | undefined)[] = [];
  overflow = false;

  add(op: _Op, next: number, alternative: number, ranges?: Ranges): number {
    if (this.op.length >= MAX_STATES) {
      this.overflow = true;
      return next;
    }
    this.op.push(op);
    this.next.push(next);
    this.alternative.push(alternative);
    this.ranges.push(ranges);
    return this.op.length - 1;
  }

  compile(node: RegexNode, next: number): number {
    if (this.overflow) return next;
    switch (node.kind) {
      case "chars":
        return this.add(_Op.Chars, next, -1, node.ranges);
      case "start":
        return this.add(_Op.Start, next, -1);
      case "end":
        return this.add(_Op.End, next, -1);
      case "sequence": {
        let entry = next;
        for (let index = node.items.length - 1; index >= 0; index--) entry = this.compile(node.items[index], entry);
        return entry;
      }
      case "alternation": {
        let entry = this.compile(node.options[node.options.length - 1], next);
        for (let index = node.options.length - 2; index >= 0; index--) entry = this.add(_Op.Split, this.compile(node.options[index], next), entry);
        return entry;
      }
      case "repeat":
        return this.#repeat(node.item, node.min, node.max, next);
    }
  }

  #repeat(item: RegexNode, min: number, max: number, next: number): number {
    let entry = next;
    if (max === Infinity) {
      // A loop: the split either enters the item (which comes back to the split) or leaves.
      const loop = this.add(_Op.Split, -1, next);
      if (this.overflow) return next;
      this.next[loop] = this.compile(item, loop);
      entry = loop;
    } else {
      for (let copy = min; copy < max; copy++) entry = this.add(_Op.Split, this.compile(item, entry), next);
    }
    for (let copy = 0; copy < min; copy++) entry = this.compile(item, entry);
    return entry;
  }
}

function _anchoredAtStart(node: RegexNode): boolean {
  if (node.kind === "start") return true;
  if (node.kind === "sequence") return node.items.length > 0 && _anchoredAtStart(node.items[0]);
  if (node.kind === "alternation") return node.options.every(_anchoredAtStart);
  return false;
}

function _contains(ranges: Ranges, unit: number): boolean {
  let low = 0;
  let high = (ranges.length >> 1) - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (unit < ranges[middle * 2]) high = middle - 1;
    else if (unit > ranges[middle * 2 + 1]) low = middle + 1;
    else return true;
  }
  return false;
}
