/**
 * The failover agent: one UDP socket, one state machine per configured virtual router, their
 * trackers and the commands that move the addresses. It is the only part that knows about
 * sockets and processes, and it knows them only as ports.
 *
 * @example
 * ```ts
 * const agent = await startVrrpAgent({ config: config.vrrp, key, clock: platform.clock,
 *   bindDatagram: platform.bindDatagram, runCommand: platform.runCommand, ready: () => true, log });
 * agent.status().instances[0].state; // "backup"
 * await agent.stop(); // a Master resigns (priority 0) and its addresses are removed
 * ```
 * @module
 */
import type { BindDatagram, Clock, DatagramSocket, LogSink, RemoteAddress, RunCommand } from "../../ports.ts";
import { type Arping, createArping, createInstanceActions, type InstanceActions } from "./actions.ts";
import { encodeAdvertisement, importVrrpKey } from "./packet.ts";
import { type AdvertReceiver, createAdvertReceiver, DROP_REASONS, type DropReason } from "./receiver.ts";
import { createVirtualRouter, type Transition, type VirtualRouter, type VrrpState } from "./router.ts";
import type { VrrpConfig, VrrpInstanceConfig } from "./schema.ts";
import { commandCheck, startTracker, type Tracker } from "./tracker.ts";

/** Datagrams waiting for their MAC check; beyond this a flood is dropped unhashed. */
const MAX_PENDING = 256;
/**
 * Each advertisement goes out twice, back to back, each copy signed with its own counter: over
 * UDP one lost datagram then no longer counts as a missed advertisement, so random loss that
 * would make a backup take over for an instant (three in a row lost) must now hit six. Receivers
 * reset their timer on the second copy within a millisecond of the first: the RFC's timings hold.
 */
const COPIES = 2;
/** How often a node waiting for its first resync looks at replication. */
const SYNC_POLL_MS = 50;

/**
 * Replication as the agent sees it: `off` (no `cluster`, nothing to wait for), `waiting` (no full
 * resync from any peer yet), `synced` (one was applied).
 */
export type ReplicationSync = "off" | "waiting" | "synced";

/** Where the wait for the session table stands after a start (see `vrrp.syncTimeout`). */
export interface SyncStatus {
  state: "off" | "waiting" | "synced" | "timed-out";
  timeoutMs: number;
  /** How long the wait took (so far, while waiting); null when there was none. */
  waitedMs: number | null;
}

export interface VrrpAgentOptions {
  config: VrrpConfig;
  /** The shared secret (TANDEM_VRRP_KEY or vrrp.key). */
  key: string;
  clock: Clock;
  bindDatagram: BindDatagram;
  runCommand: RunCommand;
  /** The balancer's readiness (every pool has a usable member). */
  ready: () => boolean;
  log: LogSink;
  /** Per-boot epoch; defaults to the clock's time, which grows from one boot to the next. */
  epoch?: number;
  /** Replication's state: a node that starts waits for its first resync before it may preempt. */
  replication?: () => ReplicationSync;
}

export interface TrackerStatus {
  name: string;
  passing: boolean;
  /** Null: a failure sends the instance to Fault. */
  weight: number | null;
}

export interface VrrpInstanceStatus {
  name: string;
  vrid: number;
  state: VrrpState;
  masterAddress: string | null;
  priority: number;
  effectivePriority: number;
  advertIntervalMs: number;
  interface: string;
  virtualAddresses: string[];
  transitions: number;
  lastTransition: { from: VrrpState; to: VrrpState; reason: string; at: string } | null;
  trackers: TrackerStatus[];
  /** Drops of datagrams for this VRID, by reason. */
  drops: Record<DropReason, number>;
}

export interface VrrpStatus {
  address: string;
  port: number;
  transport: "multicast" | "unicast";
  /** Multicast group, or the unicast peers. */
  destinations: string[];
  /** Every drop, including those no instance could be told of (unknown VRID, garbage), by reason. */
  drops: Record<DropReason, number>;
  /** Datagrams the system refused at the send (a dead unicast peer, on Bun): lost, nothing skipped. */
  sendErrors: number;
  sync: SyncStatus;
  instances: VrrpInstanceStatus[];
}

export interface VrrpAgent {
  status(): VrrpStatus;
  /**
   * Applies a new `vrrp` config: unchanged instances keep running untouched, changed and removed
   * ones resign and stop, new ones start. A changed key, address, port or transport restarts all.
   */
  reload(config: VrrpConfig, key: string): Promise<void>;
  /** Resigns every Master (priority 0), removes the addresses, closes the socket. */
  stop(): Promise<void>;
}

interface RunningInstance {
  config: VrrpInstanceConfig;
  router: VirtualRouter;
  actions: InstanceActions;
  trackers: { status: Omit<TrackerStatus, "passing">; tracker: Tracker }[];
  drops: Record<DropReason, number>;
  last: Transition | undefined;
}

interface Transport {
  config: VrrpConfig;
  key: string;
  cryptoKey: CryptoKey;
  socket: DatagramSocket;
  receiver: AdvertReceiver;
}

export function startVrrpAgent(options: VrrpAgentOptions): Promise<VrrpAgent> {
  return _VrrpAgent.start(options);
}

class _VrrpAgent implements VrrpAgent {
  readonly #options: VrrpAgentOptions;
  readonly #clock: Clock;
  readonly #log: LogSink;
  readonly #arping: Arping;
  readonly #instances = new Map<number, RunningInstance>();
  /** Assigned by start() before the agent is handed out. */
  #transport!: Transport;
  #epoch: number;
  #counter = 0;
  #sending: Promise<void> = Promise.resolve();
  #sendErrors = 0;
  #sync: { state: SyncStatus["state"]; started: number; ended: number | undefined; cancel: (() => void) | undefined } = {
    state: "off",
    started: 0,
    ended: undefined,
    cancel: undefined,
  };
  #pending = 0;
  #processing: Promise<void> = Promise.resolve();

  private constructor(options: VrrpAgentOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#arping = createArping(options.runCommand, options.log);
    this.#epoch = options.epoch ?? Math.floor(options.clock.now());
  }

  static async start(options: VrrpAgentOptions): Promise<_VrrpAgent> {
    const agent = new _VrrpAgent(options);
    agent.#transport = await agent.#openTransport(options.config, options.key);
    agent.#startSyncWait();
    for (const instance of options.config.instances) agent.#startInstance(instance);
    return agent;
  }

  status(): VrrpStatus {
    const { config, receiver } = this.#transport;
    return {
      address: config.address,
      port: this.#transport.socket.port,
      transport: config.peers === undefined ? "multicast" : "unicast",
      destinations: config.peers ?? [config.multicast],
      drops: { ...receiver.drops },
      sendErrors: this.#sendErrors,
      sync: {
        state: this.#sync.state,
        timeoutMs: config.syncTimeout,
        waitedMs: this.#sync.state === "off" ? null : (this.#sync.ended ?? this.#clock.now()) - this.#sync.started,
      },
      instances: [...this.#instances.values()].map(_instanceStatus),
    };
  }

  async reload(config: VrrpConfig, key: string): Promise<void> {
    if (!this.#sameTransport(config, key)) {
      await this.stop();
      // Receivers remember this sender's (epoch, counter): a new epoch must sort after the old one.
      this.#epoch = Math.max(this.#epoch + 1, Math.floor(this.#clock.now()));
      this.#counter = 0;
      this.#transport = await this.#openTransport(config, key);
      for (const instance of config.instances) this.#startInstance(instance);
      if (this.#sync.state === "waiting") this.#checkSync();
      this.#event("vrrp-reloaded", { restarted: "all" });
      return;
    }
    this.#transport = { ...this.#transport, config };
    const wanted = new Map(config.instances.map((instance) => [instance.vrid, instance]));
    const changed = [...this.#instances.values()].filter((running) => JSON.stringify(running.config) !== JSON.stringify(wanted.get(running.config.vrid)));
    await Promise.all(changed.map((running) => this.#stopInstance(running)));
    const started = [...wanted.values()].filter((instance) => !this.#instances.has(instance.vrid));
    for (const instance of started) this.#startInstance(instance);
    this.#event("vrrp-reloaded", { stopped: changed.map((running) => running.config.name), started: started.map((instance) => instance.name) });
  }

  async stop(): Promise<void> {
    this.#sync.cancel?.();
    await Promise.all([...this.#instances.values()].map((running) => this.#stopInstance(running)));
    this.#transport.socket.close();
  }

  /**
   * A node that starts with replication holds its routers (priority 1: no preemption) until a
   * peer's full resync has been applied, at most `syncTimeout`: taking the address back before
   * it has the session table would send the sessions it does not know yet to new members.
   */
  #startSyncWait(): void {
    const timeout = this.#transport.config.syncTimeout;
    if (timeout === 0 || (this.#options.replication?.() ?? "off") === "off") return;
    this.#sync = { state: "waiting", started: this.#clock.now(), ended: undefined, cancel: undefined };
    this.#checkSync();
  }

  #checkSync(): void {
    const timeout = this.#transport.config.syncTimeout;
    const synced = this.#options.replication?.() !== "waiting";
    const waited = this.#clock.now() - this.#sync.started;
    if (!synced && waited < timeout) {
      this.#sync.cancel = this.#clock.setTimer(() => this.#checkSync(), Math.min(SYNC_POLL_MS, timeout - waited));
      return;
    }
    this.#sync = { ...this.#sync, state: synced ? "synced" : "timed-out", ended: this.#clock.now(), cancel: undefined };
    this.#event("vrrp-sync", { state: this.#sync.state, waitedMs: waited, timeoutMs: timeout });
    for (const running of this.#instances.values()) running.router.setHold(false);
  }

  #sameTransport(config: VrrpConfig, key: string): boolean {
    const old = this.#transport.config;
    return key === this.#transport.key && config.address === old.address && config.port === old.port &&
      config.multicast === old.multicast && JSON.stringify(config.peers) === JSON.stringify(old.peers);
  }

  async #openTransport(config: VrrpConfig, key: string): Promise<Transport> {
    const cryptoKey = await importVrrpKey(key);
    const receiver = createAdvertReceiver({
      key: cryptoKey,
      ownAddress: config.address,
      peers: config.peers,
      knownVrid: (vrid) => this.#instances.has(vrid),
      clock: this.#clock,
      log: this.#log,
    });
    const socket = await this.#options.bindDatagram(
      config.peers === undefined
        ? { hostname: "0.0.0.0", port: config.port, multicast: { group: config.multicast, interfaceAddress: config.address, ttl: 255 } }
        : { hostname: config.address, port: config.port },
      (data, from) => this.#onDatagram(receiver, data, from),
    );
    return { config, key, cryptoKey, socket, receiver };
  }

  #onDatagram(receiver: AdvertReceiver, data: Uint8Array, from: RemoteAddress): void {
    if (this.#pending >= MAX_PENDING) return void receiver.refuse("overload", from);
    this.#pending++;
    // One at a time, in arrival order: a counter overtaken by the one after it would read as a replay.
    this.#processing = this.#processing.then(() => this.#receiveAdvertisement(receiver, data, from))
      .catch((error) => this.#event("error", { message: `vrrp: ${String((error as Error)?.stack ?? error)}` }));
  }

  /** Authenticated and new: to its virtual router; else counted against its VRID when it names one. */
  async #receiveAdvertisement(receiver: AdvertReceiver, data: Uint8Array, from: RemoteAddress): Promise<void> {
    this.#pending--;
    const admission = await receiver.admit(data, from);
    if (admission.ok) {
      const { advert, trailer } = admission;
      this.#instances.get(advert.vrid)?.router.received({ priority: advert.priority, interval: advert.maxAdvertInterval * 10, sender: trailer.sender });
    } else if (admission.reason !== "own" && "vrid" in admission && admission.vrid !== undefined) {
      const instance = this.#instances.get(admission.vrid);
      if (instance) instance.drops[admission.reason]++;
    }
  }

  #sendAdvertisement(instance: VrrpInstanceConfig, priority: number): void {
    const current = this.#transport;
    const counters = Array.from({ length: COPIES }, () => ++this.#counter);
    const advert = {
      vrid: instance.vrid,
      priority,
      maxAdvertInterval: instance.advertInterval / 10,
      addresses: instance.virtualAddresses.map((vip) => vip.split("/")[0]),
    };
    // Signing is asynchronous: chained so datagrams leave in counter order.
    this.#sending = this.#sending.then(async () => {
      const destinations = current.config.peers ?? [current.config.multicast];
      for (const copy of counters) {
        const bytes = await encodeAdvertisement(advert, { sender: current.config.address, epoch: this.#epoch, counter: copy }, current.cryptoKey);
        for (const destination of destinations) {
          if (!current.socket.send(bytes, destination, current.config.port)) this.#sendErrors++;
        }
      }
    }).catch((error) => this.#event("vrrp-send-failed", { instance: instance.name, message: (error as Error)?.message ?? String(error) }));
  }

  #startInstance(config: VrrpInstanceConfig): void {
    const ports = { runCommand: this.#options.runCommand, log: this.#log, clock: this.#options.clock, arping: this.#arping };
    const actions = createInstanceActions(config, ports, () => running.router.state === "master");
    const running: RunningInstance = {
      config,
      actions,
      trackers: [],
      drops: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>,
      last: undefined,
      router: createVirtualRouter({
        clock: this.#clock,
        vrid: config.vrid,
        address: this.#transport.config.address,
        priority: config.priority,
        advertInterval: config.advertInterval,
        preempt: config.preempt,
        preemptDelay: config.preemptDelay,
        send: (priority) => this.#sendAdvertisement(config, priority),
        onLowerMaster: () => actions.reannounce(),
        onTransition: (transition) => this.#onTransition(running, transition),
      }),
    };
    this.#startTrackers(running);
    this.#instances.set(config.vrid, running);
    if (this.#sync.state === "waiting") running.router.setHold(true);
    running.router.start();
  }

  async #stopInstance(running: RunningInstance): Promise<void> {
    for (const { tracker } of running.trackers) tracker.stop();
    running.router.stop();
    if (this.#instances.get(running.config.vrid) === running) this.#instances.delete(running.config.vrid);
    await Promise.all([this.#sending, running.actions.settled()]);
  }

  #onTransition(running: RunningInstance, transition: Transition): void {
    const { config, actions, router } = running;
    running.last = transition;
    this.#event("vrrp-transition", { instance: config.name, vrid: config.vrid, from: transition.from, to: transition.to, reason: transition.reason });
    const priority = router.effectivePriority;
    if (transition.to === "master") actions.becameMaster(priority);
    else if (transition.to !== "initialize" || transition.from === "master") {
      actions.leftMaster(transition.to === "initialize" ? undefined : transition.to, priority);
    }
  }

  #startTrackers(running: RunningInstance): void {
    const clock = this.#clock;
    const { readiness, commands } = running.config.track;
    if (readiness) {
      const status = { name: "readiness", weight: readiness.weight ?? null };
      const onChange = (passing: boolean) => this.#onTrackerChange(running, "readiness", passing);
      running.trackers.push({ status, tracker: startTracker({ clock, check: this.#options.ready, interval: readiness.interval, rise: 1, fall: 1, onChange }) });
    }
    for (const command of commands) {
      const name = command.argv.join(" ");
      const check = commandCheck(this.#options.runCommand, command.argv, command.timeout);
      const onChange = (passing: boolean) => this.#onTrackerChange(running, name, passing);
      running.trackers.push({
        status: { name, weight: command.weight ?? null },
        tracker: startTracker({ clock, check, interval: command.interval, rise: command.rise, fall: command.fall, onChange }),
      });
    }
  }

  /** A failing tracker with a weight lowers the priority by it; one without sends the instance to Fault. */
  #onTrackerChange(running: RunningInstance, name: string, passing: boolean): void {
    this.#event("vrrp-tracker", { instance: running.config.name, tracker: name, passing });
    let penalty = 0;
    let fault = false;
    for (const { status, tracker } of running.trackers) {
      if (tracker.passing) continue;
      if (status.weight === null) fault = true;
      else penalty += status.weight;
    }
    running.router.setPenalty(penalty);
    running.router.setFault(fault);
  }

  #event(name: string, fields: Record<string, unknown>): void {
    this.#log({ event: name, ...fields });
  }
}

function _instanceStatus(running: RunningInstance): VrrpInstanceStatus {
  const { config, router, last } = running;
  return {
    name: config.name,
    vrid: config.vrid,
    state: router.state,
    masterAddress: router.masterAddress ?? null,
    priority: config.priority,
    effectivePriority: router.effectivePriority,
    advertIntervalMs: config.advertInterval,
    interface: config.interface,
    virtualAddresses: config.virtualAddresses,
    transitions: router.transitions,
    lastTransition: last ? { from: last.from, to: last.to, reason: last.reason, at: new Date(last.at).toISOString() } : null,
    trackers: running.trackers.map(({ status, tracker }) => ({ ...status, passing: tracker.passing })),
    drops: { ...running.drops },
  };
}
