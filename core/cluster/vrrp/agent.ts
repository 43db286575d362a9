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
import { createInstanceActions, type InstanceActions } from "./actions.ts";
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

export async function startVrrpAgent(options: VrrpAgentOptions): Promise<VrrpAgent> {
  const { clock, log } = options;
  let epoch = options.epoch ?? Math.floor(clock.now());
  let counter = 0;
  let sending: Promise<void> = Promise.resolve();
  let pending = 0;
  let processing: Promise<void> = Promise.resolve();
  const instances = new Map<number, RunningInstance>();
  const event = (name: string, fields: Record<string, unknown>) => log({ time: new Date().toISOString(), event: name, ...fields });

  const openTransport = async (config: VrrpConfig, key: string): Promise<Transport> => {
    const cryptoKey = await importVrrpKey(key);
    const receiver = createAdvertReceiver({
      key: cryptoKey,
      ownAddress: config.address,
      peers: config.peers,
      knownVrid: (vrid) => instances.has(vrid),
      clock,
      log,
    });
    const onMessage = (data: Uint8Array, from: RemoteAddress) => {
      if (pending >= MAX_PENDING) return void receiver.refuse("overload", from);
      pending++;
      // One at a time, in arrival order: a counter overtaken by the one after it would read as a replay.
      processing = processing.then(async () => {
        pending--;
        const admission = await receiver.admit(data, from);
        if (admission.ok) {
          const { advert, trailer } = admission;
          instances.get(advert.vrid)?.router.received({ priority: advert.priority, interval: advert.maxAdvertInterval * 10, sender: trailer.sender });
        } else if (admission.reason !== "own" && "vrid" in admission && admission.vrid !== undefined) {
          const instance = instances.get(admission.vrid);
          if (instance) instance.drops[admission.reason]++;
        }
      }).catch((error) => event("error", { message: `vrrp: ${String((error as Error)?.stack ?? error)}` }));
    };
    const socket = await options.bindDatagram(
      config.peers === undefined
        ? { hostname: "0.0.0.0", port: config.port, multicast: { group: config.multicast, interfaceAddress: config.address, ttl: 255 } }
        : { hostname: config.address, port: config.port },
      onMessage,
    );
    return { config, key, cryptoKey, socket, receiver };
  };

  let transport = await openTransport(options.config, options.key);

  const send = (instance: VrrpInstanceConfig, priority: number) => {
    const current = transport;
    const counters = Array.from({ length: COPIES }, () => ++counter);
    const advert = {
      vrid: instance.vrid,
      priority,
      maxAdvertInterval: instance.advertInterval / 10,
      addresses: instance.virtualAddresses.map((vip) => vip.split("/")[0]),
    };
    // Signing is asynchronous: chained so datagrams leave in counter order.
    sending = sending.then(async () => {
      const destinations = current.config.peers ?? [current.config.multicast];
      for (const copy of counters) {
        const bytes = await encodeAdvertisement(advert, { sender: current.config.address, epoch, counter: copy }, current.cryptoKey);
        for (const destination of destinations) current.socket.send(bytes, destination, current.config.port);
      }
    }).catch((error) => event("vrrp-send-failed", { instance: instance.name, message: (error as Error)?.message ?? String(error) }));
  };

  const startInstance = (config: VrrpInstanceConfig) => {
    const actions = createInstanceActions(config, options.runCommand, log, () => running.router.state === "master");
    const running: RunningInstance = {
      config,
      actions,
      trackers: [],
      drops: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>,
      last: undefined,
      router: createVirtualRouter({
        clock,
        vrid: config.vrid,
        address: transport.config.address,
        priority: config.priority,
        advertInterval: config.advertInterval,
        preempt: config.preempt,
        preemptDelay: config.preemptDelay,
        send: (priority) => send(config, priority),
        onLowerMaster: () => actions.reannounce(),
        onTransition(transition) {
          running.last = transition;
          event("vrrp-transition", { instance: config.name, vrid: config.vrid, from: transition.from, to: transition.to, reason: transition.reason });
          const priority = running.router.effectivePriority;
          if (transition.to === "master") actions.becameMaster(priority);
          else if (transition.to !== "initialize" || transition.from === "master") {
            actions.leftMaster(transition.to === "initialize" ? undefined : transition.to, priority);
          }
        },
      }),
    };
    const applyTrackers = () => {
      let penalty = 0;
      let fault = false;
      for (const { status, tracker } of running.trackers) {
        if (tracker.passing) continue;
        if (status.weight === null) fault = true;
        else penalty += status.weight;
      }
      running.router.setPenalty(penalty);
      running.router.setFault(fault);
    };
    const onChange = (name: string) => (passing: boolean) => {
      event("vrrp-tracker", { instance: config.name, tracker: name, passing });
      applyTrackers();
    };
    const { readiness, commands } = config.track;
    if (readiness) {
      const status = { name: "readiness", weight: readiness.weight ?? null };
      running.trackers.push({ status, tracker: startTracker({ clock, check: options.ready, interval: readiness.interval, rise: 1, fall: 1, onChange: onChange("readiness") }) });
    }
    for (const command of commands) {
      const name = command.argv.join(" ");
      const check = commandCheck(options.runCommand, command.argv, command.timeout);
      running.trackers.push({
        status: { name, weight: command.weight ?? null },
        tracker: startTracker({ clock, check, interval: command.interval, rise: command.rise, fall: command.fall, onChange: onChange(name) }),
      });
    }
    instances.set(config.vrid, running);
    running.router.start();
  };

  const stopInstance = async (running: RunningInstance) => {
    for (const { tracker } of running.trackers) tracker.stop();
    running.router.stop();
    if (instances.get(running.config.vrid) === running) instances.delete(running.config.vrid);
    await Promise.all([sending, running.actions.settled()]);
  };

  const stopAll = async () => {
    await Promise.all([...instances.values()].map(stopInstance));
    transport.socket.close();
  };

  for (const instance of options.config.instances) startInstance(instance);

  return {
    status() {
      const { config, receiver } = transport;
      return {
        address: config.address,
        port: transport.socket.port,
        transport: config.peers === undefined ? "multicast" : "unicast",
        destinations: config.peers ?? [config.multicast],
        drops: { ...receiver.drops },
        instances: [...instances.values()].map(_instanceStatus),
      };
    },
    async reload(config, key) {
      const old = transport.config;
      const sameTransport = key === transport.key && config.address === old.address && config.port === old.port &&
        config.multicast === old.multicast && JSON.stringify(config.peers) === JSON.stringify(old.peers);
      if (!sameTransport) {
        await stopAll();
        // Receivers remember this sender's (epoch, counter): a new epoch must sort after the old one.
        epoch = Math.max(epoch + 1, Math.floor(clock.now()));
        counter = 0;
        transport = await openTransport(config, key);
        for (const instance of config.instances) startInstance(instance);
        event("vrrp-reloaded", { restarted: "all" });
        return;
      }
      transport = { ...transport, config };
      const wanted = new Map(config.instances.map((instance) => [instance.vrid, instance]));
      const changed = [...instances.values()].filter((running) => JSON.stringify(running.config) !== JSON.stringify(wanted.get(running.config.vrid)));
      await Promise.all(changed.map(stopInstance));
      const started = [...wanted.values()].filter((instance) => !instances.has(instance.vrid));
      for (const instance of started) startInstance(instance);
      event("vrrp-reloaded", { stopped: changed.map((running) => running.config.name), started: started.map((instance) => instance.name) });
    },
    stop: stopAll,
  };
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
