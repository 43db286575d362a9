/**
 * The core's upstream port on an edge platform: the platform's `fetch` (Workers and Deno Deploy
 * have no raw sockets), with the pool's timeouts enforced through AbortSignal and failures mapped
 * to the {@link UpstreamError} kinds the balancer retries and counts by.
 *
 * `fetch` cannot tell a refused connection from one lost later, so a failure of a request without
 * a body counts as a connect failure (retried elsewhere, the member rested for `recoverTime`), and
 * a failure of a request with a body as an empty response: its body may be partly sent and cannot
 * be replayed.
 *
 * @example
 * ```ts
 * const upstream = fetchUpstream(fetch, systemClock);
 * const answer = await upstream({ hostname: "10.0.0.5", port: 8080 }, { method: "GET", target: "/", fields, body: null, framing: null }, timeouts);
 * ```
 * @module
 */
import type { Upstream } from "../../core/balancer/balancer.ts";
import type { Clock } from "../../core/ports.ts";
import { Fields } from "../../core/http/message.ts";
import { readerOf, streamOf } from "../../core/http/web.ts";
import { type Origin, UpstreamError } from "../../core/proxy/http1-client.ts";

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

export function fetchUpstream(fetchFunction: FetchFunction, clock: Clock): Upstream {
  return async (origin, request, timeouts) => {
    const controller = new AbortController();
    const onClientAbort = () => controller.abort();
    request.signal?.addEventListener("abort", onClientAbort, { once: true });
    // One deadline for connect and head together: fetch does not say when it has connected.
    const headTimeout = timeouts.connect + timeouts.response;
    let timedOut = false;
    const cancelTimer = clock.setTimer(() => {
      timedOut = true;
      controller.abort();
    }, headTimeout);
    // fetch frames the body itself.
    const headers = new Headers();
    for (const [name, value] of request.fields) if (name !== "content-length" && name !== "transfer-encoding") headers.append(name, value);
    const init: RequestInit & { duplex?: "half" } = {
      method: request.method,
      headers,
      body: request.body && streamOf(request.body),
      redirect: "manual",
      signal: controller.signal,
    };
    // A streamed request body must be declared half-duplex (Fetch standard; Deno insists).
    if (request.body) init.duplex = "half";
    let response: Response;
    try {
      response = await fetchFunction(_urlOf(origin) + request.target, init);
    } catch (error) {
      request.signal?.removeEventListener("abort", onClientAbort);
      if (request.signal?.aborted) throw new UpstreamError("aborted", true, "client closed the request", { cause: error });
      if (timedOut) throw new UpstreamError("response-timeout", true, `no response within ${headTimeout} ms`, { cause: error });
      const message = String((error as Error)?.message ?? error);
      if (request.body) throw new UpstreamError("empty-response", true, message, { cause: error });
      throw new UpstreamError("connect-failure", false, message, { cause: error });
    } finally {
      cancelTimer();
    }
    const fields = Fields.of(response.headers);
    if (!response.body) {
      request.signal?.removeEventListener("abort", onClientAbort);
      return { status: response.status, fields, body: null };
    }
    const body = _withIdleTimeout(response.body, timeouts.idle, clock, controller, () =>
      request.signal?.removeEventListener("abort", onClientAbort));
    return { status: response.status, fields, body: readerOf(body) };
  };
}

/** The member's base URL; IPv6 literals go back into brackets. */
function _urlOf(origin: Origin): string {
  const host = origin.hostname.includes(":") ? `[${origin.hostname}]` : origin.hostname;
  return `${origin.tls ? "https" : "http"}://${host}:${origin.port}`;
}

/** Passes the body through, failing it with a body-error when the member stays silent for `idleMs`. */
function _withIdleTimeout(
  source: ReadableStream<Uint8Array>,
  idleMs: number,
  clock: Clock,
  controller: AbortController,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(output) {
      let cancelTimer = () => {};
      const silence = new Promise<never>((_, reject) => {
        cancelTimer = clock.setTimer(() => {
          controller.abort();
          reject(new UpstreamError("body-error", true, `member silent for ${idleMs} ms`));
        }, idleMs);
      });
      try {
        const { done, value } = await Promise.race([reader.read(), silence]);
        if (done) {
          onEnd();
          output.close();
        } else {
          output.enqueue(value);
        }
      } catch (error) {
        onEnd();
        output.error(error instanceof UpstreamError ? error : new UpstreamError("body-error", true, String((error as Error)?.message ?? error), { cause: error }));
      } finally {
        cancelTimer();
      }
    },
    cancel(reason) {
      onEnd();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
