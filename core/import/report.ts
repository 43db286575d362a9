/**
 * What `tandem import` did with every directive of the files it read: carried (the tandem key it
 * became), approximated (how), or not carried (why). Nothing is dropped silently: a parser reports
 * each directive it meets, including the ones it has no use for.
 *
 * @example
 * ```ts
 * const report = new ImportReport();
 * report.carried(origin, "pools.app.strategy");
 * report.notCarried(origin, "the admin API replaces the stats socket");
 * console.error(report.format());
 * ```
 * @module
 */

/** Where a directive was written: the file, its line (from 1) and the line's text as written. */
export interface Origin {
  file: string;
  line: number;
  text: string;
}

export type Disposition = "carried" | "approximated" | "not carried";

export interface ReportEntry {
  origin: Origin;
  disposition: Disposition;
  /** carried: the tandem key(s); approximated: how; not carried: why. */
  detail: string;
}

/** Input that cannot be read as its language at all: the import stops and names the place. */
export class ImportError extends Error {
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = "ImportError";
  }
}

export class ImportReport {
  readonly entries: ReportEntry[] = [];

  carried(origin: Origin, key: string): void {
    this.entries.push({ origin, disposition: "carried", detail: key });
  }

  approximated(origin: Origin, how: string): void {
    this.entries.push({ origin, disposition: "approximated", detail: how });
  }

  notCarried(origin: Origin, why: string): void {
    this.entries.push({ origin, disposition: "not carried", detail: why });
  }

  /** One line per directive, in file and line order, then the counts. */
  format(): string {
    const sorted = [...this.entries].sort((a, b) => a.origin.file.localeCompare(b.origin.file) || a.origin.line - b.origin.line);
    const lines = sorted.map(({ origin, disposition, detail }) =>
      `${origin.file}:${origin.line}: ${disposition}: ${origin.text.trim()}${detail ? ` -> ${detail}` : ""}`
    );
    const count = (disposition: Disposition) => this.entries.filter((entry) => entry.disposition === disposition).length;
    lines.push(`${this.entries.length} directives: ${count("carried")} carried, ${count("approximated")} approximated, ${count("not carried")} not carried`);
    return `${lines.join("\n")}\n`;
  }
}
