/**
 * A listener of the socket-level front end: connections the runtime accepts, served by one
 * {@link Http1Server} with the listener's timeouts and limits. A reload changes them in place, for
 * the next timer and the next request of every connection.
 *
 * @module
 */
import * as v from "valibot";
import { type ListenerConfig, ListenerSchema } from "../config/schema.ts";
import type { Platform } from "../platform.ts";
import type { Handler } from "../http/web.ts";
import type { ListenerTls } from "../tls/certificate.ts";
import { Http1Server, type Http1ServerOptions, type TimeoutKind } from "./http1-server.ts";

export interface Listener {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting and resolves once in-flight requests have finished. */
  shutdown(): Promise<void>;
}

/** What the listener reports for metrics. */
export interface FrontEndEvents {
  /** A client connection was accepted (TLS: its handshake is done). */
  accepted(): void;
  timeout(kind: TimeoutKind | "handshake"): void;
  refused(status: number): void;
}

export interface Http1Listener extends Listener {
  /** Takes the timeouts, limits and connection cap of a reloaded config. */
  configure(config: ListenerConfig): void;
  /** Client connections open now. */
  readonly connections: number;
  /** Stops accepting; resolves once the port hands this listener no more connections. */
  stopAccepting(): Promise<void>;
}

export interface Http1ListenOptions {
  config: ListenerConfig;
  tls?: ListenerTls;
  reusePort?: boolean;
  events?: FrontEndEvents;
  /** Requests refused before the handler saw them, for the access log. */
  onBadRequest?: Http1ServerOptions["onBadRequest"];
}

export async function listenHttp1(
  platform: Platform,
  hostname: string,
  port: number,
  handler: Handler,
  { config, tls, reusePort, events, onBadRequest }: Http1ListenOptions,
): Promise<Http1Listener> {
  const options: Http1ServerOptions = {
    clock: platform.clock,
    handler,
    tls: tls !== undefined,
    ..._settings(config),
    onTimeout: events?.timeout,
    onRefused: events && ((status) => events.refused(status)),
    onBadRequest,
  };
  const server = new Http1Server(options);
  const sockets = await platform.listenConnections(hostname, port, (connection, remote) => {
    events?.accepted();
    server.accept(connection, remote);
  }, {
    tls,
    reusePort,
    // The handshake gets as long as a request head: HAProxy's `timeout http-request` runs from the accept.
    handshakeTimeout: () => options.timeouts.request,
    onHandshakeTimeout: events && (() => events.timeout("handshake")),
  });
  let stoppedAccepting: Promise<void> | undefined;
  const stopAccepting = () => (stoppedAccepting ??= sockets.close());
  return {
    hostname: sockets.hostname,
    port: sockets.port,
    configure: (config) => void Object.assign(options, _settings(config)),
    get connections() {
      return server.connections;
    },
    stopAccepting,
    async shutdown() {
      void stopAccepting();
      await server.shutdown();
    },
  };
}

/** A listener's config with every default, for listeners the config file does not describe (admin, demo). */
export function defaultListenerConfig(address: string): ListenerConfig {
  return v.parse(ListenerSchema, { address });
}

function _settings({ address, timeouts, limits, maxConnections }: ListenerConfig): Pick<Http1ServerOptions, "listener" | "timeouts" | "limits" | "maxConnections"> {
  return { listener: address, timeouts: { ...timeouts }, limits: { ...limits }, maxConnections };
}
