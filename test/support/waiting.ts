/** Bounded waits for tests: nothing waits forever, and a timeout says what it waited for. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with what `condition` returns once it is defined, polling every `pollMs` for at most `timeoutMs`. */
export async function eventually<T>(condition: () => T | undefined, timeoutMs: number, what: string, pollMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
