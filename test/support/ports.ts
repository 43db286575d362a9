/**
 * Loopback helpers for runtime tests: pick a free TCP port, poll until a condition holds.
 * Built on `node:net` so the same file works under `bun test` and `deno test`.
 *
 * @example
 * ```ts
 * const port = await freePort();
 * await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).ok, 10_000, "server on " + port);
 * ```
 */
import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process can take it before the
 * caller binds it, so a caller that spawns a server should be ready to retry with a new port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      server.close((error) => (error ? reject(error) : resolve(address.port)));
    });
  });
}

/**
 * Calls `fn` until it resolves to true, with a short growing pause between calls.
 * A throwing `fn` counts as "not yet"; its last error is quoted if the wait times out.
 * Throws `Error("timed out after <ms> ms waiting for <what>")` after `timeoutMs`.
 */
export async function waitFor(
  fn: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pause = 20;
  let attempts = 0;
  let lastError: unknown;
  for (;;) {
    attempts++;
    try {
      if (await fn()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const cause = lastError === undefined ? "" : `; last error: ${_describe(lastError)}`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (${attempts} attempts${cause})`,
        { cause: lastError },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, remaining)));
    pause = Math.min(pause * 2, 250);
  }
}

function _describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  // fetch() failures hide the useful part (ECONNREFUSED ...) in `cause`.
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
