/**
 * The stdout of a spawned program as JSON lines (tandem logs one object per line), with a bounded
 * wait for the line a test expects. Shared by the tandem launcher and the namespace labs.
 */
export type Line = Record<string, unknown>;

export interface JsonLines {
  /** Every line so far, parsed as JSON where possible, else `{ text }`. */
  readonly lines: Line[];
  /** Feeds a chunk of stdout. */
  push(chunk: string): void;
  /** Waits until a line satisfies `match`; rejects after `timeoutMs`, or when the program exits first. */
  waitForLine(match: (line: Line) => boolean, timeoutMs?: number): Promise<Line>;
}

/**
 * `name` and `context()` (e.g. the stderr so far) go into the errors; `onTimeout` runs before a
 * timed-out wait rejects (the tandem launcher kills the program then).
 */
export function jsonLines(options: { name: string; exited: Promise<number | null>; context: () => string; onTimeout?: () => void }): JsonLines {
  const lines: Line[] = [];
  const waiters: { match: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  let buffered = "";
  return {
    lines,
    push(chunk) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) !== -1) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let line: Line;
        try {
          line = JSON.parse(text);
        } catch {
          line = { text };
        }
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (!waiter.match(line)) continue;
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    },
    waitForLine(match, timeoutMs = 15_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          options.onTimeout?.();
          reject(new Error(`${options.name} did not log the expected line within ${timeoutMs} ms.\n${options.context()}`));
        }, timeoutMs);
        waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void options.exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${options.name} exited with ${code} before logging the expected line.\n${options.context()}`));
        });
      });
    },
  };
}
