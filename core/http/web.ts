/**
 * The web front end's conversions: a web `Request` into the balancer's {@link ClientRequest} and
 * its {@link Answer} back into a `Response` (edge workers, and the runtimes' HTTP/2 and HTTP/3 servers),
 * and the other way round for the hono apps (admin, demo) served by the socket front end.
 *
 * @module
 */
import type { ConnInfo } from "../ports.ts";
import { type Answer, type BodyReader, type ClientRequest, type ClientSignal, Fields, type RequestFraming, textAnswer } from "./message.ts";

/** Answers one web request; undefined only after taking the connection over. */
export type WebHandler = (request: Request, conn: ConnInfo) => Promise<Response | undefined> | Response | undefined;

/** Answers one compact request; undefined only after taking the connection over. */
export type Handler = (request: ClientRequest, conn: ConnInfo) => Promise<Answer | undefined>;

/** A request the web front end refuses before the balancer sees it. */
export interface WebRefusal {
  status: number;
  message: string;
}

/**
 * `host[:port]` as RFC 3986 allows it in a Host field: a reg-name, an IPv4 address or a bracketed
 * IPv6 one. Anything else (spaces, `/ ? # @ \`, two Host fields joined with a comma and space) would
 * let a runtime's URL parser turn the Host into part of the path, so it is refused.
 */
const VALID_HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const DIGITS = /^[0-9]{1,15}$/;

/** A web Request as the balancer takes it, or why it cannot be taken as it is. */
export function fromWebRequest(request: Request): ClientRequest | WebRefusal {
  const { headers } = request;
  const host = headers.get("host");
  if (host !== null && !VALID_HOST.test(host)) return { status: 400, message: "invalid Host" };
  // RFC 7540's h2c upgrade through a proxy reaches the member as a tunnel (h2c smuggling).
  if (/(?:^|,)\s*h2c\s*(?:,|$)/i.test(headers.get("upgrade") ?? "")) return { status: 400, message: "h2c upgrade is not supported" };
  const codings = headers.get("transfer-encoding");
  if (codings !== null && codings.toLowerCase() !== "chunked") return { status: 501, message: "unsupported Transfer-Encoding" };
  // The runtimes hand GET and HEAD over without their body; forwarding the framing alone would
  // make the member read the next request on its connection as this one's body.
  const declared = headers.get("content-length");
  if (request.body === null && (codings !== null || (declared !== null && declared !== "0"))) {
    return { status: 400, message: `a ${request.method} request with a body` };
  }
  if (request.method === "CONNECT") return { status: 405, message: "CONNECT is not supported" };
  const url = URL.parse(request.url);
  if (!url) return { status: 400, message: "invalid request target" };
  const fields = Fields.of(headers);
  // The target's authority: the URL's, so routing and the member see the same host.
  fields.set("host", url.host);
  return {
    method: request.method,
    target: url.pathname + url.search,
    host: url.host,
    fields,
    body: request.body && readerOf(request.body),
    framing: _framing(declared, codings, request.body !== null),
    webSocket: _isWebSocket(request),
    signal: request.signal,
  };
}

/** The body alone decides: a plain declared length is kept, any other body goes chunked, none means none (bar a client's own `content-length: 0`). */
function _framing(declared: string | null, codings: string | null, hasBody: boolean): RequestFraming {
  if (!hasBody) return declared === "0" ? 0 : null;
  return declared !== null && DIGITS.test(declared) && codings === null ? Number(declared) : -1;
}

/** RFC 6455 §4.1: GET with `Upgrade: websocket` and `upgrade` among the Connection tokens. */
function _isWebSocket(request: Request): boolean {
  const { headers } = request;
  return request.method === "GET" && headers.get("upgrade")?.toLowerCase() === "websocket" &&
    (headers.get("connection") ?? "").toLowerCase().split(",").some((token) => token.trim() === "upgrade");
}

/** `stream` turns a body read piece by piece into the Response's stream (a front end may watch its pace). */
export function toWebResponse({ status, fields, body }: Answer, stream: (body: BodyReader) => ReadableStream<Uint8Array> = streamOf): Response {
  const headers = new Headers();
  for (const [name, value] of fields) headers.append(name, value);
  const init = body instanceof Uint8Array || body === null ? body as Uint8Array<ArrayBuffer> | null : stream(body);
  return new Response(init, { status, headers });
}

export function fromWebResponse(response: Response): Answer {
  return { status: response.status, fields: Fields.of(response.headers), body: response.body && readerOf(response.body) };
}

/**
 * A compact request as a web Request, for apps written against `fetch` (admin, demo). The
 * front end has already checked the target and host, so only a runtime's own refusals remain.
 */
export function toWebRequest(request: ClientRequest, tls: boolean): Request {
  const headers = new Headers();
  for (const [name, value] of request.fields) {
    if (name !== "transfer-encoding" && name !== "content-length") headers.append(name, value);
  }
  if (request.framing !== null && request.framing >= 0) headers.set("content-length", `${request.framing}`);
  return new Request(`${tls ? "https" : "http"}://${request.host}${request.target}`, {
    method: request.method,
    headers,
    body: request.body && streamOf(request.body),
    signal: _abortSignal(request.signal),
    duplex: "half",
  } as RequestInit);
}

function _abortSignal(signal: ClientSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal;
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener("abort", () => controller.abort());
  return controller.signal;
}

/** A web handler served through the compact interface. */
export function webHandler(handler: WebHandler): Handler {
  return async (request, conn) => {
    const web = toWebRequest(request, conn.tls);
    // Bun turns a method it does not know into GET: the app would run another request.
    if (web.method !== request.method && web.method !== request.method.toUpperCase()) return textAnswer(501, "501 method not supported\n");
    const response = await handler(web, conn);
    return response && fromWebResponse(response);
  };
}

/** A web stream read piece by piece; it stays unlocked until the first read. */
export function readerOf(stream: ReadableStream<Uint8Array>): BodyReader {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return {
    async read() {
      reader ??= stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return null;
        if (value.length > 0) return value;
      }
    },
    cancel: () => void (reader ?? stream).cancel().catch(() => {}),
  };
}

/** A body as a web stream that pulls only when its reader asks. */
export function streamOf(body: BodyReader): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const piece = await body.read();
      if (piece === null) controller.close();
      else controller.enqueue(piece);
    },
    cancel: (reason) => body.cancel(reason),
  }, { highWaterMark: 0 });
}
