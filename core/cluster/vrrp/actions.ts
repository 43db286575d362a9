/**
 * What a state change does outside the process: the virtual addresses move with `ip addr` and
 * are announced with a gratuitous ARP (`arping -U`, when installed), and the instance's notify
 * command runs with the new state in its environment. Commands of one instance run one after
 * another, so an add never overtakes the delete before it.
 *
 * @module
 */
import type { Clock, LogSink, RunCommand } from "../../ports.ts";
import type { VrrpInstanceConfig } from "./schema.ts";

const COMMAND_TIMEOUT_MS = 5_000;

export type NotifiedState = "master" | "backup" | "fault";

export interface InstanceActions {
  /** Adds the addresses, announces them, then notifies. */
  becameMaster(priority: number): void;
  /** Announces the addresses again (gratuitous ARP), at most once per second. */
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
export function createInstanceActions(instance: VrrpInstanceConfig, runCommand: RunCommand, log: LogSink, clock: Clock, isMaster: () => boolean): InstanceActions {
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
  let arpingMissing = false;
  let lastAnnounced = -Infinity;
  const announce = async () => {
    lastAnnounced = clock.now();
    for (const vip of arpingMissing ? [] : instance.virtualAddresses) {
      const result = await run(["arping", "-U", "-c", "1", "-I", instance.interface, vip.split("/")[0]]);
      if (result.code === null && !/timed out|timeout/i.test(result.output)) arpingMissing = true;
    }
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
      if (clock.now() - lastAnnounced >= 1000) enqueue(async () => isMaster() ? await announce() : undefined);
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
