/**
 * A listener of the web front end: the runtime's own HTTP server (HTTP/2, HTTP/3 and HTTP/1.1 on
 * one port, see {@link Platform.serveWeb}) handing web Requests over, each taken by
 * core/http/web.ts into the balancer's compact request and answered through the same handler as
 * on the socket front end. What the runtime's server does not check, this does: the listener's
 * head limits, the body timeout (see web-stalls.ts), and requests tandem will not forward (h2c
 * upgrade, WebSocket).
 *
 * @module
 */
import type { ListenerConfig } from "../config/schema.ts";
import type { RefusedRequest } from "../log/access-record.ts";
import type { Platform, WebClient } from "../platform.ts";
import type { ConnInfo } from "../ports.ts";
import { logEvent } from "../log.ts";
import { type Answer, type BodyReader, textAnswer } from "../http/message.ts";
import { fromWebRequest, type Handler, toWebResponse, type WebRefusal } from "../http/web.ts";
import type { FrontEndEvents, Http1ListenOptions, Listener } from "./http1-listener.ts";
import { StallWatch } from "./web-stalls.ts";

export interface WebListener extends Listener {
  configure(config: ListenerConfig): void;
  /** Client connections open now; undefined where the runtime does not tell. */
  readonly connections: number | undefined;
  stopAccepting(): Promise<void>;
}

export interface WebListenOptions extends Http1ListenOptions {
  events?: FrontEndEvents & { request(protocol: string): void };
}

export async function listenWeb(
  platform: Platform,
  hostname: string,
  port: number,
  handler: Handler,
  { config, tls, reusePort, events, onBadRequest }: WebListenOptions,
): Promise<WebListener> {
  const clock = platform.clock;
  let current = config;
  let server: Awaited<ReturnType<Platform["serveWeb"]>> | undefined;
  const stalls = new StallWatch(clock, () => current.timeouts.body, () => events?.timeout("body"));
  const watchedStream = (body: BodyReader) => stalls.responseStream(body);
  const refuse = (client: WebClient, received: number, { status, message }: WebRefusal): Response => {
    events?.refused(status);
    const answer = textAnswer(status, `${status} ${message}\n`);
    onBadRequest?.(_refusal(current, client, tls !== undefined, received, clock.now(), status, message, answer, server?.connections ?? 0));
    return toWebResponse(answer);
  };
  const answer = async (request: Request, client: WebClient): Promise<Response> => {
    const received = clock.now();
    const taken = fromWebRequest(request);
    if (!("fields" in taken)) return refuse(client, received, taken);
    const refusal = _limitRefusal(current, taken.fields.list, taken.target) ??
      (taken.webSocket ? { status: 501, message: 'WebSocket is served on listeners with protocols ["http/1.1"] only' } : undefined);
    if (refusal) return refuse(client, received, refusal);
    taken.version = client.protocol;
    if (taken.body) taken.body = stalls.requestBody(taken.body);
    events?.request(client.protocol ?? "unknown");
    const conn: ConnInfo = {
      remoteAddress: client.address,
      remotePort: client.port,
      listener: current.address,
      tls: tls !== undefined,
      received,
      listenerConnections: server?.connections,
      firstRequest: client.firstRequest,
    };
    const answered: Answer | undefined = await handler(taken, conn);
    if (answered === undefined) return toWebResponse(textAnswer(500, "500 internal error\n"));
    // Connection-specific fields are not allowed in HTTP/2 and HTTP/3; a draining listener's
    // clients are sent away by the server itself (GOAWAY, or `Connection: close` on HTTP/1.1).
    answered.fields.delete("connection");
    return toWebResponse(answered, watchedStream);
  };
  // A member's answer the web Response cannot carry (a field value Headers refuses) costs that
  // request, never a runtime error page.
  const serve = async (request: Request, client: WebClient): Promise<Response> => {
    try {
      return await answer(request, client);
    } catch (error) {
      logEvent(platform, "error", { message: String((error as Error)?.stack ?? error) });
      return toWebResponse(textAnswer(500, "500 internal error\n"));
    }
  };
  server = await platform.serveWeb(hostname, port, serve, {
    tls,
    protocols: config.protocols,
    reusePort: reusePort ?? false,
    idleTimeout: config.timeouts.keepAlive / 1000,
    requestTimeout: config.timeouts.request / 1000,
    onConnection: events && (() => events.accepted()),
    onRequestTimeout: events && (() => events.timeout("request")),
  });
  const bound = server;
  return {
    hostname: bound.hostname,
    port: bound.port,
    configure: (config) => void (current = config),
    get connections() {
      return bound.connections;
    },
    stopAccepting: () => bound.stopAccepting(),
    shutdown: () => bound.shutdown().finally(() => stalls.close()),
  };
}

/**
 * The socket front end's head limits, as near as a parsed request allows: the field lines'
 * length as HTTP/1.1 would write them. The runtime has already taken the whole head (its own
 * HTTP/2 limits bound it: see README, HTTP/2 and HTTP/3).
 */
function _limitRefusal({ limits }: ListenerConfig, fields: readonly string[], target: string): WebRefusal | undefined {
  if (target.length > limits.targetBytes) return { status: 414, message: "request target too long" };
  if (fields.length / 2 > limits.fields) return { status: 431, message: "too many header fields" };
  let bytes = target.length;
  for (const part of fields) bytes += part.length + 2;
  return bytes > limits.headBytes ? { status: 431, message: "request head too large" } : undefined;
}

function _refusal(
  config: ListenerConfig,
  client: WebClient,
  tls: boolean,
  received: number,
  refused: number,
  status: number,
  reason: string,
  answer: Answer,
  listenerConnections: number,
): RefusedRequest {
  return {
    status,
    reason,
    client: client.address,
    clientPort: client.port,
    listener: config.address,
    tls,
    tlsVersion: undefined,
    sni: undefined,
    received,
    refused,
    bytesOut: (answer.body as Uint8Array).length,
    listenerConnections,
  };
}
