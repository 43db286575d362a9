/**
 * The VRRP agent as one role of a running tandem: started from the config once the listeners are
 * up, changed by reloads (added, reloaded or stopped with the `vrrp` key), stopped first on
 * shutdown so the address moves before the listeners drain.
 *
 * @example
 * ```ts
 * const role = createVrrpRole({ ...ports, ready: () => control.ready(), log, env: platform.env });
 * const problems = await role.apply(config.vrrp); // [] when running (or when there is no vrrp key)
 * await role.stop();
 * ```
 * @module
 */
import type { BindDatagram, Clock, LogSink, RunCommand } from "../../ports.ts";
import { type ReplicationSync, startVrrpAgent, type VrrpAgent, type VrrpStatus } from "./agent.ts";
import type { VrrpConfig } from "./schema.ts";

export interface VrrpRoleOptions {
  clock: Clock;
  bindDatagram: BindDatagram;
  runCommand: RunCommand;
  ready: () => boolean;
  /** Replication's state, for the wait after a start (`vrrp.syncTimeout`). */
  replication: () => ReplicationSync;
  log: LogSink;
  /** Environment lookup (TANDEM_VRRP_KEY). */
  env: (name: string) => string | undefined;
}

export interface VrrpRole {
  /** Undefined while no agent runs. */
  status(): VrrpStatus | undefined;
  /** Brings the agent in line with `config` (undefined = none); returns problems, empty when done. */
  apply(config: VrrpConfig | undefined): Promise<string[]>;
  /** Resigns and removes the addresses; a no-op without an agent. */
  stop(): Promise<void>;
}

/** The key in force: TANDEM_VRRP_KEY wins over `vrrp.key`. */
export function vrrpKey(config: VrrpConfig, env: (name: string) => string | undefined): { key: string } | { problem: string } {
  const fromEnv = env("TANDEM_VRRP_KEY");
  if (fromEnv !== undefined) {
    return fromEnv.length >= 16 ? { key: fromEnv } : { problem: "TANDEM_VRRP_KEY: a key of at least 16 characters" };
  }
  return config.key !== undefined ? { key: config.key } : { problem: "vrrp.key: a shared key of at least 16 characters (or TANDEM_VRRP_KEY)" };
}

export function createVrrpRole(options: VrrpRoleOptions): VrrpRole {
  let agent: VrrpAgent | undefined;
  return {
    status: () => agent?.status(),
    async apply(config) {
      if (config === undefined) {
        await agent?.stop();
        agent = undefined;
        return [];
      }
      const key = vrrpKey(config, options.env);
      if ("problem" in key) return [key.problem];
      if (agent !== undefined) {
        await agent.reload(config, key.key);
        return [];
      }
      try {
        agent = await startVrrpAgent({ ...options, config, key: key.key });
      } catch (error) {
        return [`vrrp: cannot bind UDP ${config.peers === undefined ? `${config.multicast}` : config.address}:${config.port}: ${(error as Error).message}`];
      }
      return [];
    },
    async stop() {
      await agent?.stop();
      agent = undefined;
    },
  };
}
