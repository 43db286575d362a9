/**
 * One report entry per directive line, however many proxies a line reaches: a `defaults` line is
 * read by every proxy that inherits it, and each may carry it, approximate it or have no use for
 * it. The ledger gathers those outcomes per line and writes one entry each at the end.
 *
 * @module
 */
import type { ImportReport, Origin } from "./report.ts";

type Outcome = { kind: "carried" | "approximated" | "not carried" | "overridden"; detail: string };

export class Ledger {
  readonly #lines = new Map<string, { origin: Origin; fallback: string; outcomes: Outcome[] }>();

  /** Every directive line is registered first; `fallback` says why when nothing used it. */
  register(origin: Origin, fallback: string): void {
    this.#lines.set(_key(origin), { origin, fallback, outcomes: [] });
  }

  carried(origin: Origin, key: string): void {
    this.#add(origin, { kind: "carried", detail: key });
  }

  approximated(origin: Origin, how: string): void {
    this.#add(origin, { kind: "approximated", detail: how });
  }

  notCarried(origin: Origin, why: string): void {
    this.#add(origin, { kind: "not carried", detail: why });
  }

  /** An inherited or earlier setting that a later line replaced, in one proxy. */
  overridden(origin: Origin, by: Origin): void {
    this.#add(origin, { kind: "overridden", detail: `overridden by line ${by.line}${by.file === origin.file ? "" : ` of ${by.file}`}` });
  }

  /** Whether anything was recorded for the line yet. */
  has(origin: Origin): boolean {
    return (this.#lines.get(_key(origin))?.outcomes.length ?? 0) > 0;
  }

  /**
   * One entry per line: carried when every use carried it, not carried when none did (an
   * override counts as not carried when nothing else happened), approximated when the uses differ.
   */
  flush(report: ImportReport): void {
    for (const { origin, fallback, outcomes } of this.#lines.values()) {
      const details = (kinds: Outcome["kind"][]) => [...new Set(outcomes.filter((o) => kinds.includes(o.kind)).map((o) => o.detail))];
      const carried = details(["carried"]);
      const approximated = details(["approximated"]);
      const notCarried = details(["not carried"]);
      const overridden = details(["overridden"]);
      if (carried.length + approximated.length + notCarried.length === 0) {
        report.notCarried(origin, overridden.length > 0 ? overridden.join("; ") : fallback);
      } else if (approximated.length === 0 && notCarried.length === 0) {
        report.carried(origin, carried.join(", "));
      } else if (carried.length === 0 && approximated.length === 0) {
        report.notCarried(origin, notCarried.join("; "));
      } else {
        report.approximated(origin, [...carried, ...approximated, ...notCarried.map((why) => `elsewhere not carried: ${why}`)].join("; "));
      }
    }
  }

  #add(origin: Origin, outcome: Outcome): void {
    const line = this.#lines.get(_key(origin));
    if (!line) throw new Error(`Ledger: ${_key(origin)} was never registered`);
    line.outcomes.push(outcome);
  }
}

function _key(origin: Origin): string {
  return `${origin.file}\u0000${origin.line}`;
}
