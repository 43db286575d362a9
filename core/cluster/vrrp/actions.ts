/**
 * What a state change does outside the process: the virtual addresses move with `ip addr` and
 * are announced with a gratuitous ARP (`arping -U`, when installed), and the instance's notify
 * command runs with the new state in its environment. Commands of one instance run one after
 * another, so an add never overtakes the delete before it.
 *
 * @example
 * ```ts
 * const arping = createArping(runCommand, log); // one per agent: "arping is missing" is said once
 * const actions = createInstanceActions(instance, { runCommand, log, clock, arping }, () => router.state === "master");
 * actions.becameMaster(150);
 * await actions.settled();
 * ```
 *
 * @module
 */
import type { Clock, LogSink, RunCommand } from "../../ports.ts";
import type { VrrpInstanceConfig } from "./schema.ts";

const COMMAND_TIMEOUT_MS = 5_000;
/** Gratuitous ARP goes out at most this often per instance. */
const REANNOUNCE_PACE_MS = 1_000;

export type NotifiedState = "master" | "backup" | "fault";

export interface ActionPorts {
  runCommand: RunCommand;
  log: LogSink;
  clock: Clock;
  arping: Arping;
}

/** Gratuitous ARP for a master's addresses. */
export interface Arping {
  announce(instance: VrrpInstanceConfig): Promise<void>;
}

/**
 * `arping -U` for each address. Where arping cannot run at all (not installed: Debian
 * iputils-arping) it is said once, in one `vrrp-arping-missing` line, and skipped from then on,
 * for every instance: the addresses still move, and neighbours learn them at their next ARP.
 * An arping that ran and failed (or was killed at its timeout) is logged and tried again next time.
 */
export function createArping(runCommand: RunCommand, log: LogSink): Arping {
  let missing = false;
  return {
    async announce(instance) {
      for (const vip of instance.virtualAddresses) {
        if (missing) return;
        const argv = ["arping", "-U", "-c", "1", "-I", instance.interface, vip.split("/")[0]];
        const result = await runCommand(argv, { timeoutMs: COMMAND_TIMEOUT_MS });
        if (result.cannotStart) {
          missing = true;
          log({ event: "vrrp-arping-missing", message: "arping cannot run, gratuitous ARP is skipped (Debian package iputils-arping)", output: result.output.trim() });
        } else if (result.code !== 0) {
          log({ event: "vrrp-command-failed", instance: instance.name, argv, code: result.code, output: result.output.trim() });
        }
      }
    },
  };
}

export interface InstanceActions {
  /** Adds the addresses, announces them, then notifies. */
  becameMaster(priority: number): void;
  /**
   * Announces the addresses again (gratuitous ARP), at most once per second: a call within a
   * second of the last announcement is put off to the end of that second, not dropped (the node
   * that just lost may have answered a neighbour's ARP meanwhile).
   */
  reannounce(): void;
  /** Removes the addresses (quietly when absent: a killed master leaves them behind), then notifies. */
  leftMaster(state: NotifiedState | undefined, priority: number): void;
  /** Resolves once every queued command has finished. */
  settled(): Promise<void>;
}

/**
 * `isMaster` is asked when queued work starts: an instance that was master for an instant (lost
 * advertisements) and is no longer must not add the address or announce it after the fact.
 */
export function createInstanceActions(instance: VrrpInstanceConfig, ports: ActionPorts, isMaster: () => boolean): InstanceActions {
  const { runCommand, log, clock } = ports;
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>) => {
    queue = queue.then(work);
  };
  const run = async (argv: string[], quiet: (output: string) => boolean = () => false, timeoutMs = COMMAND_TIMEOUT_MS, env?: Record<string, string>) => {
    const result = await runCommand(argv, { timeoutMs, env });
    if (result.code !== 0 && !quiet(result.output)) {
      log({ event: "vrrp-command-failed", instance: instance.name, argv, code: result.code, output: result.output.trim() });
    }
    return result;
  };
  let lastAnnounced = -Infinity;
  let reannouncing = false;
  const announce = () => {
    lastAnnounced = clock.now();
    return ports.arping.announce(instance);
  };
  const notify = async (state: NotifiedState, priority: number) => {
    const argv = instance.notify[state];
    if (argv === undefined) return;
    await run(argv, undefined, instance.notify.timeout, {
      TANDEM_VRRP_STATE: state.toUpperCase(),
      TANDEM_VRRP_INSTANCE: instance.name,
      TANDEM_VRRP_VRID: String(instance.vrid),
      TANDEM_VRRP_PRIORITY: String(priority),
      TANDEM_VRRP_VIRTUAL_ADDRESSES: instance.virtualAddresses.join(" "),
    });
  };
  return {
    becameMaster(priority) {
      enqueue(async () => {
        if (!isMaster()) return;
        for (const vip of instance.virtualAddresses) {
          await run(["ip", "-4", "addr", "add", _withPrefix(vip), "dev", instance.interface], (output) => /exists/i.test(output));
        }
        // Neighbours cache the old master's MAC for the address; tell them now, not at their next ARP.
        if (isMaster()) await announce();
        await notify("master", priority);
      });
    },
    reannounce() {
      if (reannouncing) return;
      reannouncing = true;
      clock.setTimer(() => {
        reannouncing = false;
        enqueue(async () => isMaster() ? await announce() : undefined);
      }, Math.max(0, lastAnnounced + REANNOUNCE_PACE_MS - clock.now()));
    },
    leftMaster(state, priority) {
      enqueue(async () => {
        for (const vip of instance.virtualAddresses) {
          await run(["ip", "-4", "addr", "del", _withPrefix(vip), "dev", instance.interface], (output) => /cannot assign|not found/i.test(output));
        }
        if (state !== undefined) await notify(state, priority);
      });
    },
    settled: () => queue,
  };
}

function _withPrefix(vip: string): string {
  return vip.includes("/") ? vip : `${vip}/32`;
}
