/**
 * What a runtime provides to run tandem as a program: files, listeners, outgoing connections,
 * signals, worker threads and output. `runtimes/bun` and `runtimes/deno` implement it; the
 * commands are shared in {@link ./cli.ts}, and serving (with reload and shutdown) in
 * {@link ./serve.ts}.
 *
 * @module
 */
import type { BindDatagram, Clock, Connect, ListenStream, RemoteAddress, RunCommand, StreamConnection, StreamListener } from "./ports.ts";
import type { ProcessStats } from "./metrics/process-metrics.ts";
import type { ListenerTls } from "./tls/certificate.ts";
import type { Protocol } from "./frontend/protocols.ts";

export type Signal = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGUSR1";

/** What the main thread tells a worker. */
export type WorkerCommand =
  | { type: "start"; index: number; count: number; args: readonly string[]; startTime: number }
  | { type: "signal"; signal: Signal };

/** What a worker tells the main thread. */
/** From a worker: it serves (`started`), or it ended, with what it printed to stderr as the reason. */
export type WorkerReport = { type: "started" } | { type: "exit"; code: number; reason?: string };

/** A worker thread as the main thread sees it (a web Worker running the runtime's worker module). */
export interface WorkerThread {
  postMessage(command: WorkerCommand): void;
  /** Registers the handler for the worker's reports. */
  onReport(handler: (report: WorkerReport) => void): void;
  /** Registers the handler for an uncaught error that ended the worker. */
  onCrash(handler: (reason: string) => void): void;
  terminate(): void;
}

/** Who this thread is, when it is one of several workers. */
export interface WorkerIdentity {
  index: number;
  count: number;
}

export interface ListenConnectionsOptions {
  tls?: ListenerTls;
  reusePort?: boolean;
  /**
   * TLS: milliseconds a client has to finish its handshake, read per connection (so a reload
   * applies); then it is closed and `onHandshakeTimeout` called. A client that connects and never
   * speaks would otherwise hold a descriptor for good, before any HTTP timeout can start.
   */
  handshakeTimeout?: () => number;
  onHandshakeTimeout?: () => void;
}

/** A client of the runtime's own HTTP server, with the HTTP version where the runtime tells it. */
export interface WebClient extends RemoteAddress {
  protocol?: "HTTP/1.1" | "HTTP/2" | "HTTP/3";
  /** The first request on its client connection, where the runtime tells it (see ConnInfo.firstRequest). */
  firstRequest?: boolean;
}

export interface ServeWebOptions {
  tls?: ListenerTls;
  /** Always includes http/1.1; h2 over TLS by ALPN, on plain TCP by prior knowledge (no `Upgrade: h2c`). */
  protocols: readonly Protocol[];
  reusePort: boolean;
  /** Seconds an idle client connection stays open. */
  idleTimeout: number;
  /** Seconds a new client connection has to complete its first request, where the runtime lets tandem see it (Deno). */
  requestTimeout: number;
  /** A client connection was accepted, where the runtime tells it. */
  onConnection?: () => void;
  /** A client connection was closed for not completing its first request within `requestTimeout`. */
  onRequestTimeout?: () => void;
}

/** The runtime's own HTTP server on one address (see {@link Platform.serveWeb}). */
export interface WebServer {
  readonly hostname: string;
  readonly port: number;
  /** Client connections open now; undefined where the runtime does not tell. */
  readonly connections: number | undefined;
  /** Stops accepting; resolves once the port hands this server no more connections. */
  stopAccepting(): Promise<void>;
  /** Stops accepting, tells every connection to go (HTTP/2 GOAWAY), resolves once requests in flight are done. */
  shutdown(): Promise<void>;
}

/** A file opened for appending (the access log's). */
export interface AppendFile {
  /** Appends `text` whole before returning; throws when the file cannot take it (disk full). */
  write(text: string): void;
  close(): void;
}

/** A datagram socket connected to a local (Unix) socket, such as syslog's `/dev/log`. */
export interface UnixDatagramSocket {
  /** Sends one datagram; false when the system refused it (the receiver's queue full, or it is gone). Never throws. */
  send(data: Uint8Array): boolean;
  close(): void;
}

export interface Platform {
  readonly runtime: string;
  readonly args: readonly string[];
  readonly clock: Clock;
  readonly connect: Connect;
  /** UDP sockets for the VRRP agent. */
  readonly bindDatagram: BindDatagram;
  /** TCP/TLS listeners for the replication peer. */
  readonly listenStream: ListenStream;
  /** Runs a program: VIP management (`ip`, `arping`), VRRP trackers and notify commands. */
  readonly runCommand: RunCommand;
  /**
   * The runtime's web `fetch`, for `tandem ctl` calling a tandem's admin API. Requests to members
   * never go through it (see core/proxy/http1-client.ts).
   */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  readTextFile(path: string): Promise<string>;
  /**
   * Replaces the file at `path` whole: written beside it, then renamed over it, so a crash leaves
   * the old one or the new one. `secret`: readable by the owner only (0600), from its first byte.
   */
  writeTextFileAtomic(path: string, text: string, options?: { secret?: boolean }): Promise<void>;
  /** Creates the directory and any missing parents, for the owner only (0700); nothing when it exists. */
  makeDirectory(path: string): Promise<void>;
  /** A web `fetch` trusting `caCerts` (PEM) instead of the system store: a private ACME CA's directory. */
  fetchTrusting(caCerts: readonly string[]): (url: string, init?: RequestInit) => Promise<Response>;
  /** An environment variable (secrets such as TANDEM_ADMIN_SECRET), undefined when unset. */
  env(name: string): string | undefined;
  exists(path: string): Promise<boolean>;
  /** The names of a directory's entries (for `tandem import` following an include with a wildcard). */
  listDirectory(path: string): Promise<string[]>;
  /** CPU, memory and descriptors of this process, for the `process_*` metrics. */
  processStats(): ProcessStats;
  /** When the process started, in milliseconds since the epoch (a worker thread's is its process's). */
  readonly startTime: number;
  /** The `tls.minVersion` values this runtime's TLS listener can enforce. */
  readonly tlsMinVersions: readonly ListenerTls["minVersion"][];
  /**
   * Accepts connections for the socket-level HTTP/1.1 front end on hostname:port (0 = any free
   * port), terminating TLS when `tls` is given: SNI picks the certificate (see selectCertificate),
   * ALPN offers http/1.1 only. A connection reaches `onConnection` once its handshake is done;
   * Nagle is off. TLS listeners always bind with SO_REUSEPORT: new certificates are served by a
   * second listener bound beside the first, which then drains. `reusePort` asks for it on a plain
   * listener too (`workers: N` share each port).
   * A failed accept (out of file descriptors) never ends the listener: it pauses and accepts
   * again. `close` stops accepting; connections already handed out stay open until their owner
   * closes them. Rejects when the address cannot be bound.
   */
  listenConnections(
    hostname: string,
    port: number,
    onConnection: (connection: StreamConnection, remote: RemoteAddress) => void,
    options?: ListenConnectionsOptions,
  ): Promise<StreamListener>;
  /** The protocols besides http/1.1 that {@link serveWeb} can serve here. */
  readonly webProtocols: readonly Protocol[];
  /**
   * The web front end: the runtime's own HTTP server (HTTP/1.1, HTTP/2, HTTP/3 where it has them)
   * on hostname:port, each request handed to `handler` as a web Request. TLS as
   * {@link listenConnections} (SNI picks the certificate; SO_REUSEPORT always, so new certificates
   * come on a second server beside the first), ALPN offering h2 when asked. Rejects when the
   * address cannot be bound.
   */
  serveWeb(
    hostname: string,
    port: number,
    handler: (request: Request, client: WebClient) => Promise<Response>,
    options: ServeWebOptions,
  ): Promise<WebServer>;
  onSignal(signal: Signal, handler: () => void): void;
  /** Starts a worker thread running this runtime's worker module (`workers: N`). */
  startWorker(): WorkerThread;
  /** Set inside a worker thread: which of the `workers` this is. */
  readonly worker?: WorkerIdentity;
  /** Calls `onChange` when the file at `path` changes (events may come in bursts); returns a stop function. */
  watchFile(path: string, onChange: () => void): () => void;
  stdout(line: string): void;
  stderr(line: string): void;
  exit(code: number): never;
  /** Opens `path` for appending, creating it when missing (a reopen after logrotate moved it creates it anew). */
  openAppendFile(path: string): Promise<AppendFile>;
  /** A datagram socket connected to the local socket at `path`; rejects when nothing listens there. */
  connectUnixDatagram(path: string): Promise<UnixDatagramSocket>;
}
