/**
 * What a language's parser gets from `tandem import` (core/import/import.ts runs them): its files,
 * the draft config to fill, the report to account for every directive in, and a way to follow
 * includes. Apart from import.ts so the parsers can name these types without importing it.
 *
 * @module
 */
import type { Draft } from "./draft.ts";
import type { ImportReport } from "./report.ts";

export interface SourceFile {
  path: string;
  text: string;
}

export interface ImportContext {
  draft: Draft;
  report: ImportReport;
  /**
   * The files an include directive names (`include /etc/keepalived/conf.d/*.conf`), a path relative
   * to `from`'s directory; a pattern may match none. Rejects when a named file cannot be read.
   */
  readInclude(pattern: string, from: string): Promise<SourceFile[]>;
}

/** A language's parser: reads its files into the draft, reporting every directive. Throws ImportError on input it cannot read. */
export type Parser = (files: SourceFile[], context: ImportContext) => Promise<void>;
