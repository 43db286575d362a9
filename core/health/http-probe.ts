/**
 * The active HTTP check (HAProxy `option httpchk` + `http-check expect`): one request on a fresh
 * connection, judged by status and optionally by a substring of the body.
 *
 * @example
 * ```ts
 * const probe = httpProbe(client, { hostname: "127.0.0.1", port: 8080 }, health.check!, clock);
 * await probe(); // { ok: true, reason: "HTTP 200", durationMs: 3 }
 * ```
 * @module
 */
import { type BodyReader, Fields } from "../http/message.ts";
import type { Clock } from "../ports.ts";
import { type Http1Client, type Origin, UpstreamError } from "../proxy/http1-client.ts";
import type { Probe, ProbeResult } from "./member-health.ts";
import { type CheckConfig, formatStatuses, statusExpected } from "./schema.ts";

/** What a probe sends its request with: the HTTP/1 client, or an edge platform's fetch. */
export type ProbeClient = Pick<Http1Client, "request">;

/** Enough for any health page; a bigger body is judged by its start. */
const MAX_BODY = 64 * 1024;

/**
 * A probe of `origin` as `check` describes. It never rejects, and the whole check (connect,
 * head and body) ends after `check.timeout`.
 */
export function httpProbe(client: ProbeClient, origin: Origin, check: CheckConfig, clock: Clock): Probe {
  const hostname = origin.hostname.includes(":") ? `[${origin.hostname}]` : origin.hostname;
  const host = check.host ?? `${hostname}:${origin.port}`;
  const expected = formatStatuses(check.expect);
  const { timeout } = check;
  const timeouts = { connect: timeout, response: timeout, idle: timeout };

  return async (signal?: AbortSignal): Promise<ProbeResult> => {
    const started = clock.now();
    const deadline = new AbortController();
    let timedOut = false;
    const cancelTimer = clock.setTimer(() => {
      timedOut = true;
      deadline.abort();
    }, timeout);
    const onAbort = () => deadline.abort();
    signal?.addEventListener("abort", onAbort);
    const result = (ok: boolean, reason: string) => ({ ok, reason, durationMs: clock.now() - started });
    try {
      if (signal?.aborted) return result(false, "aborted");
      const response = await client.request(origin, {
        method: check.method,
        target: check.path,
        // Nothing is pooled after a check, so each one opens a new connection as HAProxy's do: a
        // kept-alive one would not show that the member stopped accepting connections.
        fields: new Fields(["host", host, "user-agent", "tandem-health", "connection", "close"]),
        body: null,
        framing: null,
        signal: deadline.signal,
      }, timeouts);
      const status = response.status;
      if (!statusExpected(check.expect, status) || check.body === undefined) {
        if (response.body !== null && !(response.body instanceof Uint8Array)) response.body.cancel();
        return statusExpected(check.expect, status) ? result(true, `HTTP ${status}`) : result(false, `HTTP ${status} (expected ${expected})`);
      }
      const text = await _readStart(response.body, MAX_BODY);
      if (!text.includes(check.body)) return result(false, `body lacks ${JSON.stringify(check.body)}`);
      return result(true, `HTTP ${status}`);
    } catch (error) {
      // Whatever failed once the deadline passed (connect, head, body) is reported as the timeout.
      if (timedOut) return result(false, `timeout after ${timeout} ms`);
      return result(false, signal?.aborted ? "aborted" : _describe(error));
    } finally {
      cancelTimer();
      signal?.removeEventListener("abort", onAbort);
    }
  };
}

async function _readStart(body: Uint8Array | BodyReader | null, limit: number): Promise<string> {
  if (!body) return "";
  if (body instanceof Uint8Array) return new TextDecoder().decode(body.subarray(0, limit));
  const bytes = new Uint8Array(limit);
  let length = 0;
  while (length < limit) {
    const piece = await body.read();
    if (piece === null) return new TextDecoder().decode(bytes.subarray(0, length));
    const take = Math.min(piece.length, limit - length);
    bytes.set(piece.subarray(0, take), length);
    length += take;
  }
  body.cancel();
  return new TextDecoder().decode(bytes);
}

function _describe(error: unknown): string {
  if (!(error instanceof UpstreamError)) return String((error as Error)?.message ?? error);
  switch (error.kind) {
    case "connect-failure": {
      // Bun says "Failed to connect" with code ECONNREFUSED, Deno "Connection refused".
      const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
      const refused = cause?.code === "ECONNREFUSED" || /refused/i.test(String(cause?.message));
      return refused ? "connection refused" : error.message;
    }
    case "empty-response":
      return "connection closed without a response";
    default:
      return error.message;
  }
}
