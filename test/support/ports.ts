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
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, chosen below the kernel's ephemeral range:
 * a port from that range can be handed to any socket that binds port 0 (another server of the
 * same test, started meanwhile) before the caller binds it. Another process can still take it,
 * so a caller that spawns a server should be ready to retry with a new port.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = _ephemeralRange();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FIXED_PORTS_FROM + Math.floor(Math.random() * (ephemeralLow - FIXED_PORTS_FROM));
    if (await _bindable(port)) return port;
  }
  throw new Error(`freePort: no free port in ${FIXED_PORTS_FROM}-${ephemeralLow - 1} after 50 tries`);
}

/** Above the well-known and most registered service ports. */
const FIXED_PORTS_FROM = 20_000;

function _ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low > FIXED_PORTS_FROM + 1000) return [low, high];
  } catch {
    // Not Linux: the usual default.
  }
  return [32768, 60999];
}

function _bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
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
