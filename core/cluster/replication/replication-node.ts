/**
 * The replication peer: connects to every peer and accepts their connections, over any
 * {@link StreamConnection} (TCP, TLS, or in-memory in tests), timed by the {@link Clock}.
 *
 * Each node ships its own changes over the connection it opened to a peer (the peer acknowledges
 * them on it) and applies a peer's changes from the connection that peer opened: two one-way
 * streams per pair, so neither side has to win a tie-break over which connection to keep.
 *
 * - Updates are numbered per sender process (its `bootId`); the receiver remembers the last one it
 *   applied and says so in its hello, and the sender resumes after it while its {@link SendLog}
 *   still holds the rest. Otherwise (first contact, the sender restarted, the receiver lost its
 *   memory, the peer fell `sendQueue` updates behind) the sender streams every live entry: a
 *   full resync, after which numbered updates continue.
 * - Heartbeats every `heartbeat` both ways; a connection silent for `deadAfter` is closed and
 *   re-opened after a jittered, growing delay.
 * - A frame that fails its MAC, is malformed, oversized or out of place closes the connection;
 *   nothing in it is applied and it is counted by reason.
 *
 * @example
 * ```ts
 * const store = new ReplicaStore({ node: "lb1", pools: () => balancer.pools, clock });
 * const node = await ReplicationNode.create({ cluster, key, store, ports: { clock, connect, log } });
 * const listener = await platform.listenStream({ hostname, port }, (connection) => node.accept(connection));
 * node.start();
 * ```
 * @module
 */
import type { Clock, LogSink, StreamConnection } from "../../ports.ts";
import { deriveSessionKey, FROM_INITIATOR, FROM_RESPONDER, importClusterKey } from "./frame-auth.ts";
import { FramedConnection } from "./framed-connection.ts";
import { FrameError, type Hello, NONCE_BYTES, PROTOCOL_VERSION, type ReplicaRecord } from "./frames.ts";
import type { ReplicaStore } from "./replica-store.ts";
import type { ClusterConfig } from "./schema.ts";
import { SendLog } from "./send-log.ts";

/** Records per updates frame or resync chunk: large enough to amortise a MAC, far below the frame cap. */
const BATCH_RECORDS = 512;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** How often {@link ReplicationNode.flush} looks at the peers' acknowledgements. */
const FLUSH_CHECK_MS = 10;
/** Connections accepted at once; more are closed at once (real peers need one each). */
const MAX_INBOUND = 64;

export type FrameDropReason = FrameError["reason"] | "wrong-version" | "wrong-cluster" | "unknown-node";

export interface ReplicationPorts {
  clock: Clock;
  /** Opens a connection to a peer's `host:port` (TLS and client certificate are the caller's choice). */
  connect: (address: string, signal: AbortSignal) => Promise<StreamConnection>;
  log: LogSink;
  /** In [0, 1): the reconnect jitter. */
  random?: () => number;
}

export interface ReplicationOptions {
  cluster: ClusterConfig;
  /** The shared key in force (config or TANDEM_CLUSTER_KEY); undefined with mutual TLS only. */
  key: string | undefined;
  store: ReplicaStore;
  ports: ReplicationPorts;
}

export type PeerState = "connecting" | "handshake" | "resync" | "up" | "backoff" | "stopped";

export interface PeerStatus {
  name: string;
  address: string;
  /** Of the connection this node ships its changes on. */
  state: PeerState;
  /** The peer's own connection (its changes to this node) is open. */
  inbound: boolean;
  /** ISO time of the last frame from the peer on either connection, null before any. */
  lastContact: string | null;
  /** This node's updates the peer has not acknowledged. */
  lag: number;
  /** The peer fell out of the send log: it gets a full resync on its next connection. */
  resyncPending: boolean;
  /** Full resyncs sent to the peer (completed) and received from it. */
  resyncsSent: number;
  resyncsReceived: number;
  /** Connections closed for silence longer than deadAfter. */
  timeouts: number;
  /** Why the last connection ended or failed, null when none did. */
  lastError: string | null;
}

export interface ClusterStatus {
  cluster: string;
  node: string;
  /** Updates this node numbered since it started. */
  updates: number;
  peers: PeerStatus[];
  /** Frames refused, by reason (unauthenticated connections included). */
  droppedFrames: Record<string, number>;
  /** Authentic records not applied, by reason (unknown pool or member). */
  droppedRecords: Record<string, number>;
}

/** The reconnect delay after `attempt` failures: doubling from 100 ms to 5 s, jittered into [d/2, d). */
export function reconnectDelay(attempt: number, random: () => number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + (ceiling / 2) * random();
}

interface _Peer {
  name: string;
  address: string;
  state: PeerState;
  /** Last update id the peer acknowledged, and last one written on the current connection. */
  acked: number;
  sent: number;
  resyncWanted: boolean;
  lastContact: number | undefined;
  outbound: FramedConnection | undefined;
  inbound: FramedConnection | undefined;
  /** Wakes the sending loop (new updates, a resync request, the connection closing). */
  wake: (() => void) | undefined;
  /** Ends the reconnect backoff early (the peer just connected to this node: it is back). */
  endBackoff: (() => void) | undefined;
  attempts: number;
  resyncsSent: number;
  resyncsReceived: number;
  timeouts: number;
  lastError: string | null;
}

/** What the receiver knows of a sender: its boot and the last update applied from it. */
interface _Applied {
  bootId: string;
  id: number;
}

class _Refused extends Error {}

export class ReplicationNode {
  readonly #cluster: ClusterConfig;
  readonly #key: CryptoKey | undefined;
  readonly #store: ReplicaStore;
  readonly #ports: ReplicationPorts;
  readonly #random: () => number;
  readonly #bootId = _hex(crypto.getRandomValues(new Uint8Array(8)));
  readonly #log: SendLog;
  readonly #peers = new Map<string, _Peer>();
  readonly #applied = new Map<string, _Applied>();
  readonly #droppedFrames = new Map<FrameDropReason, number>();
  readonly #timers = new Set<() => void>();
  readonly #inbound = new Set<FramedConnection>();
  #stopped = false;
  readonly #unsubscribe: () => void;

  private constructor(options: ReplicationOptions, key: CryptoKey | undefined) {
    this.#cluster = options.cluster;
    this.#key = key;
    this.#store = options.store;
    this.#ports = options.ports;
    this.#random = options.ports.random ?? Math.random;
    this.#log = new SendLog(options.cluster.sendQueue);
    for (const { name, address } of options.cluster.peers) {
      this.#peers.set(name, {
        name,
        address,
        state: "connecting",
        acked: 0,
        sent: 0,
        resyncWanted: false,
        lastContact: undefined,
        outbound: undefined,
        inbound: undefined,
        wake: undefined,
        endBackoff: undefined,
        attempts: 0,
        resyncsSent: 0,
        resyncsReceived: 0,
        timeouts: 0,
        lastError: null,
      });
    }
    // This node's changes, made here or by another worker of the process; a peer's reach every
    // other peer directly (full mesh), so they are not passed on.
    this.#unsubscribe = this.#store.subscribe((record, source) => {
      if (source !== "peers") this.#publish(record);
    });
  }

  static async create(options: ReplicationOptions): Promise<ReplicationNode> {
    const key = options.key === undefined ? undefined : await importClusterKey(options.key);
    return new ReplicationNode(options, key);
  }

  /** Starts connecting to every peer (accepting is the listener's: see {@link accept}). */
  start(): void {
    this.#store.attach();
    for (const peer of this.#peers.values()) void this.#runOutbound(peer);
  }

  /**
   * Resolves once every connected peer has acknowledged every update made so far, or after
   * `timeoutMs`, so that a peer that is slow or half gone cannot hold up a shutdown: the last
   * changes go out before {@link stop} closes the connections.
   */
  async flush(timeoutMs: number): Promise<void> {
    const last = this.#log.lastId;
    const deadline = this.#ports.clock.now() + timeoutMs;
    const unacknowledged = () => [...this.#peers.values()].some((peer) => (peer.state === "up" || peer.state === "resync") && peer.acked < last);
    while (!this.#stopped && unacknowledged() && this.#ports.clock.now() < deadline) await this.#sleep(FLUSH_CHECK_MS);
  }

  /** Closes every connection and stops reconnecting; local changes are no longer recorded. */
  stop(): void {
    this.#stopped = true;
    this.#unsubscribe();
    for (const cancel of this.#timers) cancel();
    this.#timers.clear();
    for (const connection of this.#inbound) connection.close();
    for (const peer of this.#peers.values()) {
      peer.state = "stopped";
      peer.outbound?.close();
      peer.wake?.();
    }
  }

  status(): ClusterStatus {
    return {
      cluster: this.#cluster.name,
      node: this.#cluster.node,
      updates: this.#log.lastId,
      peers: [...this.#peers.values()].map((peer) => ({
        name: peer.name,
        address: peer.address,
        state: peer.state,
        inbound: peer.inbound !== undefined,
        lastContact: peer.lastContact === undefined ? null : new Date(peer.lastContact).toISOString(),
        lag: this.#log.lastId - peer.acked,
        resyncPending: peer.resyncWanted || !this.#log.holdsAfter(peer.acked),
        resyncsSent: peer.resyncsSent,
        resyncsReceived: peer.resyncsReceived,
        timeouts: peer.timeouts,
        lastError: peer.lastError,
      })),
      droppedFrames: Object.fromEntries(this.#droppedFrames),
      droppedRecords: Object.fromEntries(this.#store.dropped),
    };
  }

  #publish(record: ReplicaRecord): void {
    this.#log.push(record);
    for (const peer of this.#peers.values()) peer.wake?.();
  }

  #drop(reason: FrameDropReason): void {
    this.#droppedFrames.set(reason, (this.#droppedFrames.get(reason) ?? 0) + 1);
  }

  /** Waits `ms`; `early` receives a function that ends the wait at once. */
  #sleep(ms: number, early?: (end: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.#ports.clock.setTimer(() => {
        this.#timers.delete(done);
        resolve();
      }, ms);
      const done = () => {
        cancel();
        this.#timers.delete(done);
        resolve();
      };
      this.#timers.add(done);
      early?.(done);
    });
  }

  /**
   * Sends a heartbeat every `heartbeat` and closes the connection once nothing came for
   * `deadAfter`; `touched()` returns when the peer was last heard on it.
   */
  #watch(peer: _Peer | undefined, connection: FramedConnection, touched: () => number): void {
    const { heartbeat, deadAfter } = this.#cluster;
    const tick = () => {
      this.#timers.delete(cancel);
      if (connection.closed) return;
      if (this.#ports.clock.now() - touched() > deadAfter) {
        if (peer) {
          peer.timeouts++;
          peer.lastError = `no frame for ${deadAfter} ms`;
        }
        connection.close();
        return;
      }
      connection.send({ type: "heartbeat" }).catch(() => connection.close());
      cancel = this.#ports.clock.setTimer(tick, heartbeat);
      this.#timers.add(cancel);
    };
    let cancel = this.#ports.clock.setTimer(tick, heartbeat);
    this.#timers.add(cancel);
    connection.onClose(() => {
      cancel();
      this.#timers.delete(cancel);
    });
  }

  // ---- sending side: the connection this node opens to each peer ----

  async #runOutbound(peer: _Peer): Promise<void> {
    while (!this.#stopped) {
      peer.state = "connecting";
      const abort = new AbortController();
      const cancelTimeout = this.#ports.clock.setTimer(() => abort.abort(), this.#cluster.deadAfter);
      let connection: StreamConnection | undefined;
      try {
        connection = await this.#ports.connect(peer.address, abort.signal);
      } catch (error) {
        peer.lastError = `cannot connect: ${(error as Error).message}`;
      } finally {
        cancelTimeout();
      }
      if (connection !== undefined) {
        if (this.#stopped) {
          connection.close();
          return;
        }
        const framed = new FramedConnection(connection, FROM_INITIATOR, this.#key);
        peer.outbound = framed;
        try {
          await this.#ship(peer, framed);
        } catch (error) {
          if (error instanceof FrameError) this.#drop(error.reason);
          if (!framed.closed || error instanceof FrameError || error instanceof _Refused) {
            peer.lastError = (error as Error).message;
          }
        } finally {
          framed.close();
          peer.outbound = undefined;
        }
        // The state was changed by #ship meanwhile, which TypeScript cannot see.
        if ((peer.state as PeerState) === "up" || (peer.state as PeerState) === "resync") {
          this.#ports.log({ event: "replication-peer-down", peer: peer.name, reason: peer.lastError ?? "the connection closed" });
        }
      }
      if (this.#stopped) return;
      peer.state = "backoff";
      await this.#sleep(reconnectDelay(peer.attempts++, this.#random), (end) => (peer.endBackoff = end));
      peer.endBackoff = undefined;
    }
  }

  async #ship(peer: _Peer, framed: FramedConnection): Promise<void> {
    peer.state = "handshake";
    let heard = this.#ports.clock.now();
    this.#watch(peer, framed, () => heard);
    framed.onClose(() => peer.wake?.());
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    await framed.send(this.#hello(nonce, "", 0));
    framed.bind(nonce);
    const reply = await framed.read();
    if (reply === null) throw new Error("closed during the handshake");
    if (reply.type === "refuse") throw new _Refused(`refused by ${peer.name}: ${reply.reason}`);
    if (reply.type !== "hello") throw new FrameError("unexpected");
    const problem = this.#helloProblem(reply, peer.name);
    if (problem) {
      this.#drop(problem.reason);
      throw new _Refused(`${peer.name} answered: ${problem.message}`);
    }
    if (this.#key) framed.useKey(await deriveSessionKey(this.#key, nonce, reply.nonce));
    heard = peer.lastContact = this.#ports.clock.now();

    const resumable = reply.resumeBootId === this.#bootId && this.#log.holdsAfter(reply.resumeId) && !peer.resyncWanted;
    // An id from another boot of this node means nothing now: the resync starts from zero.
    peer.acked = peer.sent = resumable ? reply.resumeId : 0;
    if (!resumable) peer.resyncWanted = true;
    peer.attempts = 0;
    peer.state = "up";
    peer.lastError = null;
    this.#ports.log({ event: "replication-peer-up", peer: peer.name, resync: !resumable });

    const reading = this.#readAcks(peer, framed, () => {
      heard = peer.lastContact = this.#ports.clock.now();
    });
    while (!framed.closed && !this.#stopped) {
      if (peer.resyncWanted || !this.#log.holdsAfter(peer.sent)) {
        await this.#resync(peer, framed);
      } else if (peer.sent < this.#log.lastId) {
        const records = this.#log.after(peer.sent, BATCH_RECORDS);
        const firstId = peer.sent + 1;
        // Counted as sent before the write settles: the ack can overtake a slow drain.
        peer.sent += records.length;
        await framed.send({ type: "updates", firstId, records });
      } else {
        await new Promise<void>((resolve) => (peer.wake = resolve));
        peer.wake = undefined;
      }
    }
    await reading;
  }

  async #resync(peer: _Peer, framed: FramedConnection): Promise<void> {
    peer.state = "resync";
    peer.resyncWanted = false;
    // Updates made during the resync are sent after it (last-write-wins makes the overlap harmless).
    const upTo = this.#log.lastId;
    let chunk: ReplicaRecord[] = [];
    for (const record of this.#store.snapshot()) {
      chunk.push(record);
      if (chunk.length < BATCH_RECORDS) continue;
      await framed.send({ type: "resync-chunk", records: chunk });
      chunk = [];
      if (framed.closed) return;
    }
    if (chunk.length > 0) await framed.send({ type: "resync-chunk", records: chunk });
    peer.sent = upTo;
    await framed.send({ type: "resync-end", id: upTo });
    peer.resyncsSent++;
    peer.state = "up";
  }

  /** The receiver's side of the sending connection: acks, heartbeats and resync requests. */
  async #readAcks(peer: _Peer, framed: FramedConnection, heard: () => void): Promise<void> {
    try {
      for (;;) {
        const frame = await framed.read();
        if (frame === null) break;
        heard();
        if (frame.type === "ack") {
          if (frame.id > peer.sent) throw new FrameError("unexpected");
          peer.acked = Math.max(peer.acked, frame.id);
        } else if (frame.type === "resync-request") {
          peer.resyncWanted = true;
          peer.wake?.();
        } else if (frame.type === "refuse") {
          peer.lastError = `refused by ${peer.name}: ${frame.reason}`;
          break;
        } else if (frame.type !== "heartbeat") {
          throw new FrameError("unexpected");
        }
      }
    } catch (error) {
      if (error instanceof FrameError) {
        this.#drop(error.reason);
        peer.lastError = `${error.reason} frame from ${peer.name}`;
      } else if (!framed.closed) {
        peer.lastError = (error as Error).message;
      }
    } finally {
      framed.close();
    }
  }

  #hello(nonce: Uint8Array, resumeBootId: string, resumeId: number): Hello {
    return {
      type: "hello",
      version: PROTOCOL_VERSION,
      cluster: this.#cluster.name,
      node: this.#cluster.node,
      nonce,
      bootId: this.#bootId,
      resumeBootId,
      resumeId,
    };
  }

  #helloProblem(hello: Hello, expected?: string): { reason: FrameDropReason; message: string } | undefined {
    if (hello.version !== PROTOCOL_VERSION) {
      return { reason: "wrong-version", message: `protocol version ${hello.version} (this node speaks ${PROTOCOL_VERSION})` };
    }
    if (hello.cluster !== this.#cluster.name) {
      return { reason: "wrong-cluster", message: `cluster "${hello.cluster}" (this node is in "${this.#cluster.name}")` };
    }
    const known = expected === undefined ? this.#peers.has(hello.node) : hello.node === expected;
    if (!known) return { reason: "unknown-node", message: `node "${hello.node}" is not a peer of "${this.#cluster.node}"` };
    return undefined;
  }

  // ---- receiving side: connections peers open to this node ----

  /** Takes a connection a peer opened (from the listener); it is closed on stop. */
  accept(connection: StreamConnection): void {
    const framed = new FramedConnection(connection, FROM_RESPONDER, this.#key);
    if (this.#stopped || this.#inbound.size >= MAX_INBOUND) return framed.close();
    this.#inbound.add(framed);
    framed.onClose(() => this.#inbound.delete(framed));
    void this.#receive(framed);
  }

  async #receive(framed: FramedConnection): Promise<void> {
    let heard = this.#ports.clock.now();
    let peer: _Peer | undefined;
    this.#watch(undefined, framed, () => heard);
    try {
      const hello = await framed.read();
      if (hello === null) return;
      if (hello.type !== "hello") throw new FrameError("unexpected");
      framed.bind(hello.nonce);
      const problem = this.#helloProblem(hello);
      if (problem) {
        this.#drop(problem.reason);
        await framed.send({ type: "refuse", reason: problem.message }).catch(() => {});
        return;
      }
      peer = this.#peers.get(hello.node)!;
      const applied = this.#applied.get(peer.name);
      const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
      await framed.send(this.#hello(nonce, applied?.bootId ?? "", applied?.id ?? 0));
      if (this.#key) framed.useKey(await deriveSessionKey(this.#key, hello.nonce, nonce));
      heard = peer.lastContact = this.#ports.clock.now();
      await this.#applyStream(peer, framed, hello.bootId, () => {
        heard = peer!.lastContact = this.#ports.clock.now();
      }, () => this.#contact(peer!));
    } catch (error) {
      if (error instanceof FrameError) {
        this.#drop(error.reason);
        if (peer) peer.lastError = `${error.reason} frame from ${peer.name}`;
      }
    } finally {
      framed.close();
      if (peer?.inbound === framed) peer.inbound = undefined;
    }
  }

  /**
   * The peer spoke to this node on a connection authenticated by the session key: it is back, so
   * a reconnect backoff towards it ends now and this node's changes (a full resync for a peer
   * that restarted) reach it at once instead of after up to BACKOFF_MAX_MS.
   */
  #contact(peer: _Peer): void {
    if (peer.state !== "backoff") return;
    peer.attempts = 0;
    peer.endBackoff?.();
  }

  async #applyStream(peer: _Peer, framed: FramedConnection, bootId: string, heard: () => void, authenticated: () => void): Promise<void> {
    let askedResync = false;
    const askResync = async () => {
      if (askedResync) return;
      askedResync = true;
      await framed.send({ type: "resync-request" });
    };
    for (;;) {
      const frame = await framed.read();
      if (frame === null) return;
      heard();
      if (peer.inbound !== framed) {
        // Authenticated on the session key: the peer's older connection is dead, noticed or not. Not
        // before, or a replayed hello could cut the real peer off.
        peer.inbound?.close();
        peer.inbound = framed;
        authenticated();
      }
      switch (frame.type) {
        case "updates": {
          const applied = this.#applied.get(peer.name);
          // Updates numbered by a boot this node never synced with, or with a gap: only a resync helps.
          if (applied?.bootId !== bootId || frame.firstId > applied.id + 1) {
            await askResync();
            break;
          }
          for (let i = applied.id + 1 - frame.firstId; i < frame.records.length; i++) this.#store.apply(frame.records[i], "peers");
          applied.id = Math.max(applied.id, frame.firstId + frame.records.length - 1);
          await framed.send({ type: "ack", id: applied.id });
          break;
        }
        case "resync-chunk":
          for (const record of frame.records) this.#store.apply(record, "peers");
          break;
        case "resync-end":
          this.#applied.set(peer.name, { bootId, id: frame.id });
          peer.resyncsReceived++;
          askedResync = false;
          await framed.send({ type: "ack", id: frame.id });
          break;
        case "heartbeat":
          break;
        default:
          throw new FrameError("unexpected");
      }
    }
  }
}

function _hex(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
