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

/**
 * Resolves with the values of `progress` once none has changed for half a second (polled every
 * 100 ms), or one has reached `total`: where writers held back by a reader that does not read come
 * to rest, however long a busy machine takes to get there. One that was never held back reaches
 * `total`, which the caller's check then sees.
 */
export async function progressStopped(progress: (() => number)[], total: number, what: string): Promise<number[]> {
  let last = progress.map((read) => read());
  let unchanged = 0;
  return await eventually(() => {
    const now = progress.map((read) => read());
    unchanged = now.every((value, i) => value === last[i]) ? unchanged + 1 : 0;
    last = now;
    return unchanged >= 5 || now.some((value) => value >= total) ? now : undefined;
  }, 30_000, what, 100);
}
