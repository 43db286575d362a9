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
  tls?: {
    serverName: string;
    caCerts?: string[];
    verify: boolean;
    /** Mutual TLS: the certificate chain (PEM) and key this side presents (replication peers). */
    clientCertificate?: { cert: string; key: string };
  };
  /** Aborts the connect attempt (connect timeout). */
  signal?: AbortSignal;
}

/** Opens outgoing connections. Rejects with an Error when the connection cannot be made. */
export type Connect = (options: ConnectOptions) => Promise<StreamConnection>;

/** Where a datagram or connection came from. */
export interface RemoteAddress {
  address: string;
  port: number;
  /** A connection a TLS listener accepted: what its handshake agreed on, for the access log. */
  tls?: TlsSession;
}

/** What a finished TLS handshake agreed on, as far as the runtime tells it. */
export interface TlsSession {
  /** `TLSv1.2`, `TLSv1.3`; undefined where the runtime does not say (Deno). */
  version?: string;
  /** The SNI name the client sent; undefined when it sent none or the runtime does not say (Deno). */
  serverName?: string;
}

/** A bound UDP socket (the VRRP agent's transport). */
export interface DatagramSocket {
  /** The local port (the one the system chose when 0 was asked). */
  readonly port: number;
  /**
   * Sends one datagram; best effort, like UDP itself: false when the system reported a datagram
   * lost (Bun reports the ICMP port unreachable of an earlier datagram on the next send, which the
   * adapter then sends again); it never throws (after `close`, the datagram is dropped).
   * Datagrams may arrive in another order than sent.
   */
  send(data: Uint8Array, address: string, port: number): boolean;
  close(): void;
}

export interface DatagramOptions {
  /** Local address to bind ("0.0.0.0" for all). */
  hostname: string;
  port: number;
  /**
   * Join `group` and send multicast out of the interface owning `interfaceAddress`, with TTL `ttl`.
   * Bind `hostname` "0.0.0.0": on Linux a socket bound to a unicast address never receives group
   * datagrams. Multicast loopback is on, so a member socket on the port sent to receives its own
   * datagrams back (from its interface address); the receiver must recognise and skip them.
   */
  multicast?: { group: string; interfaceAddress: string; ttl: number };
}

/** Binds a UDP socket; `onMessage` gets every datagram received. Rejects when the address cannot be bound. */
export type BindDatagram = (
  options: DatagramOptions,
  onMessage: (data: Uint8Array, from: RemoteAddress) => void,
) => Promise<DatagramSocket>;

/** A TCP (or TLS) server accepting byte-stream connections (the replication peer's listener). */
export interface StreamListener {
  readonly hostname: string;
  readonly port: number;
  /**
   * Stops accepting; resolves once the address is free to listen on again (Deno frees it only when
   * the pending accept has ended). Connections already handed out stay open until closed by their owner.
   */
  close(): Promise<void>;
}

export interface StreamListenOptions {
  hostname: string;
  port: number;
  /**
   * Mutual TLS: present `cert`/`key` and accept only clients whose certificate chains to `caCerts`
   * (the handshake fails otherwise, before any byte reaches `onConnection`). Under TLS 1.3 the
   * client finishes its side of the handshake first, so a refused client's connect may succeed
   * and the refusal arrive as an error (or null) on its first read.
   */
  tls?: { cert: string; key: string; caCerts: string[] };
}

export type ListenStream = (
  options: StreamListenOptions,
  onConnection: (connection: StreamConnection, remote: RemoteAddress) => void,
) => Promise<StreamListener>;

/** Result of a finished command. */
export interface CommandResult {
  /** Exit code; null when the command was killed (timeout) or could not start. */
  code: number | null;
  /** stdout and stderr, interleaved, cut to the first 4 KiB (for logs). */
  output: string;
  /** Set when the program could not be started at all (not installed, not executable). */
  cannotStart?: true;
}

/**
 * Runs a program (no shell) with extra environment variables, killing it after `timeoutMs`.
 * Never rejects: a program that cannot start gives code null and the reason in `output`.
 */
export type RunCommand = (
  argv: readonly string[],
  options: { env?: Record<string, string>; timeoutMs: number },
) => Promise<CommandResult>;

/** What the listener knows about the client connection. */
export interface ConnInfo {
  /** Client address as seen on the socket (no port). */
  remoteAddress: string;
  /** True when the listener terminated TLS. */
  tls: boolean;
  /** The socket front end: the client's port, its listener's address and its TLS handshake, for the access log. */
  remotePort?: number;
  listener?: string;
  /** Client connections open on the listener as the request came. */
  listenerConnections?: number;
  tlsSession?: TlsSession;
  /** The socket front end: when the request's first byte came (Clock time; the connection's start for its first request). */
  received?: number;
  /** Edge platforms: keeps the isolate alive for work that outlives the response (a due health check). */
  waitUntil?: (task: Promise<unknown>) => void;
  /**
   * The socket front end: true for the first request of a client connection. It never goes out on
   * a pooled member connection (HAProxy's `http-reuse safe`), since the client could not retry it.
   */
  firstRequest?: boolean;
  /**
   * The socket front end: hands the client connection over for a protocol switch (after a 101),
   * with the bytes already read past the request head. The front end neither reads nor writes
   * it afterwards; the taker relays and closes it. Only valid while the request is being handled.
   */
  takeOver?: () => { connection: StreamConnection; buffered: Uint8Array };
}

/** One line of structured log output (`{event, ...}` or an access record); the sink adds the time (see core/log.ts) and decides where it goes. */
export type LogSink = (record: Record<string, unknown>) => void;
