/**
 * The interfaces a runtime implements for the core. The core never touches a runtime API
 * directly: Bun, Deno, an edge platform or a test hands these in as arguments.
 *
 * @module
 */

/** Time source. Tests pass a fake clock so state machines can be replayed in milliseconds. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch; only differences matter. */
  now(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/**
 * A duplex byte stream (a TCP or TLS connection), pull-style: no web streams per connection, so a
 * proxied request costs a few promises rather than a stream pipeline. One read and one write at a
 * time.
 */
export interface StreamConnection {
  /** The next bytes received; null once the peer ended or `close` was called. Rejects on a network error. */
  read(): Promise<Uint8Array | null>;
  /**
   * Sends `data`: undefined when the runtime took every byte at once, else a promise that settles
   * when the rest is written (wait for it before the next write). Throws or rejects once closed.
   */
  write(data: Uint8Array): Promise<void> | undefined;
  /** Closes both directions at once, releases the socket and settles a pending read with null; safe to call twice. */
  close(): void;
}

export interface ConnectOptions {
  hostname: string;
  port: number;
  /** Present for `https://` members: connect with TLS and verify against `caCerts` (or the system store). */
  tls?: { serverName: string; caCerts?: string[]; verify: boolean };
  /** Aborts the connect attempt (connect timeout). */
  signal?: AbortSignal;
}

/** Opens outgoing connections. Rejects with an Error when the connection cannot be made. */
export type Connect = (options: ConnectOptions) => Promise<StreamConnection>;

/** What the listener knows about the client connection. */
export interface ConnInfo {
  /** Client address as seen on the socket (no port). */
  remoteAddress: string;
  /** True when the listener terminated TLS. */
  tls: boolean;
}

/**
 * Connects to `target` (a ws:// or wss:// URL) first, then upgrades the client with the
 * subprotocol the member chose, and relays messages both ways until either side closes.
 * Resolves with the Response the listener must give back, or undefined when the runtime has
 * answered the request itself (Bun's server.upgrade). Rejects when the member refuses.
 */
export type WebSocketProxy = (
  request: Request,
  target: { url: string; headers: Headers; protocols: string[] },
) => Promise<Response | undefined>;

/** One line of structured log output; the runtime decides where it goes (stdout by default). */
export type LogSink = (record: Record<string, unknown>) => void;
