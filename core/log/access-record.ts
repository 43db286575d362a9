/**
 * What the access log knows of one request: the balancer fills an {@link AccessRecord} as the
 * request goes, and the formats of `format.ts` turn it into a line. Field names are the JSON
 * format's keys.
 *
 * @module
 */

/** How the request's session was handled. */
export type StickyDecision = "none" | "new" | "hit" | "moved";

/**
 * HAProxy's session state at disconnection, its first two characters: who ended the exchange
 * (`C` client, `S` server, `P` proxy refusal, `L` answered locally (a rule's redirect or return),
 * `c`/`s` client or server timeout, `-` nobody: it ended normally), then in which phase (`R`
 * request, `Q` queue, `C` connect, `H` response head, `D` data, `T` tarpit, `-` completed).
 */
export type Termination = `${"-" | "C" | "S" | "P" | "L" | "c" | "s"}${"-" | "R" | "Q" | "C" | "H" | "D" | "T"}`;

/** What the socket front end knows of a request it refused before the balancer saw it (a malformed head, a head timeout). */
export interface RefusedRequest {
  status: number;
  reason: string;
  client: string;
  clientPort: number;
  listener: string | undefined;
  tls: boolean;
  tlsVersion: string | undefined;
  sni: string | undefined;
  /** Clock times: the request's first byte (the connection's start for its first request), and the refusal. */
  received: number;
  refused: number;
  bytesOut: number;
  listenerConnections: number;
}

/**
 * The access record of a refused request: `PR` (the proxy refused it while it was a request) or,
 * for a head that did not come in time, `cR` (a client timeout), as HAProxy logs them.
 */
export function refusedRecord(refusal: RefusedRequest, processInFlight: number): AccessRecord {
  return {
    time: new Date(refusal.received).toISOString(),
    client: refusal.client,
    clientPort: refusal.clientPort,
    listener: refusal.listener ?? null,
    tls: refusal.tls,
    tlsVersion: refusal.tlsVersion ?? null,
    sni: refusal.sni ?? null,
    method: null,
    path: null,
    httpVersion: null,
    host: null,
    userAgent: null,
    referer: null,
    status: refusal.status,
    pool: null,
    member: null,
    sticky: "none",
    retries: 0,
    redispatched: false,
    errorKind: null,
    error: refusal.reason,
    termination: refusal.status === 408 ? "cR" : "PR",
    bytesIn: 0,
    bytesOut: refusal.bytesOut,
    requestMs: null,
    queueMs: null,
    connectMs: null,
    responseMs: null,
    totalMs: Math.round((refusal.refused - refusal.received) * 10) / 10,
    processInFlight,
    listenerConnections: refusal.listenerConnections,
    poolInFlight: 0,
    memberInFlight: 0,
    memberQueuePosition: 0,
    poolQueuePosition: 0,
    requestId: null,
    traceId: null,
  };
}

/** A type, not an interface: it is also a plain record for a {@link LogSink}. */
export type AccessRecord = {
  /** When the request's first byte came (ISO 8601, UTC). */
  time: string;
  client: string;
  clientPort: number | null;
  /** The listener's address as configured; null on the web front end. */
  listener: string | null;
  /** The listener terminated TLS; its version (`TLSv1.3`…) and the SNI name where the runtime tells them. */
  tls: boolean;
  tlsVersion: string | null;
  sni: string | null;
  /** Null for a request the front end refused before it could read it (HAProxy's `<BADREQ>`), as are path, host and pool. */
  method: string | null;
  /** Path and query as the member gets them. */
  path: string | null;
  httpVersion: string | null;
  host: string | null;
  userAgent: string | null;
  referer: string | null;
  status: number;
  pool: string | null;
  member: string | null;
  sticky: StickyDecision;
  /** Attempts after the first, and whether one went to another member. */
  retries: number;
  redispatched: boolean;
  /** The last upstream failure's kind (`connect-failure`, `response-timeout`, …), if any. */
  errorKind: string | null;
  /** Why tandem answered by itself (refusal or upstream failure), for the operator. */
  error?: string;
  termination: Termination;
  /** Body bytes received from the client and sent to it (an error answer's and a streamed body's included). */
  bytesIn: number;
  bytesOut: number;
  /**
   * HAProxy's TR/Tw/Tc/Tr/Ta in ms: receiving the request head, waiting in the queue, connecting
   * to the member (0 on a kept-alive connection), waiting for its response head, and the whole
   * exchange from the first byte to the last one sent. Null: the phase was not reached.
   */
  requestMs: number | null;
  queueMs: number | null;
  connectMs: number | null;
  responseMs: number | null;
  totalMs: number;
  /** Requests in flight in the process, connections on the listener, requests in flight on the pool and on the member, when the line was written (HAProxy's ac/fc/bc/sc). */
  processInFlight: number;
  listenerConnections: number | null;
  poolInFlight: number;
  memberInFlight: number;
  /**
   * Requests ahead of this one when it joined the pool's queue, waiting for its session's own
   * member or for any member (HAProxy's sq/bq); 0 when it did not wait.
   */
  memberQueuePosition: number;
  poolQueuePosition: number;
  requestId: string | null;
  traceId: string | null;
};
