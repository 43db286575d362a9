/**
 * Replication as one role of a running tandem: started from the `cluster` key once the listeners
 * are up, kept running by reloads that leave the section and its files unchanged (the store
 * follows the reloaded pools itself), restarted by reloads that change them, stopped on shutdown
 * once the peers have the last changes. Restarting costs the peers one full resync each.
 *
 * @example
 * ```ts
 * const role = createReplicationRole({ clock, connect, listenStream, log, env, store });
 * const problems = await role.apply(config.cluster, files.clusterTls); // [] when running or absent
 * await role.stop();
 * ```
 * @module
 */
import type { Clock, Connect, ListenStream, LogSink, StreamListener } from "../../ports.ts";
import { splitAddress } from "../../config/fields.ts";
import type { ReplicaStore } from "./replica-store.ts";
import { type ClusterStatus, ReplicationNode } from "./replication-node.ts";
import type { ClusterConfig } from "./schema.ts";

/** The longest a shutdown waits for the peers to acknowledge the last changes. */
const SHUTDOWN_FLUSH_MS = 2_000;

export interface ClusterTlsFiles {
  cert: string;
  key: string;
  caCerts: string[];
}

export interface ReplicationRoleOptions {
  clock: Clock;
  connect: Connect;
  listenStream: ListenStream;
  log: LogSink;
  /** Environment lookup (TANDEM_CLUSTER_KEY). */
  env: (name: string) => string | undefined;
  /** The process's replicated state, shared with the other workers (see worker-sync.ts). */
  store: ReplicaStore;
}

export interface ReplicationRole {
  /** Undefined while replication is off. */
  status(): ClusterStatus | undefined;
  /** Brings replication in line with `config` (undefined = off); returns problems, empty when done. */
  apply(config: ClusterConfig | undefined, tls: ClusterTlsFiles | undefined): Promise<string[]>;
  /** Waits (briefly) for the peers to acknowledge the last changes, then stops. */
  stop(): Promise<void>;
}

/** The key in force: TANDEM_CLUSTER_KEY wins over `cluster.key`; without either, TLS must be set. */
export function clusterKey(
  config: ClusterConfig,
  env: (name: string) => string | undefined,
): { key: string | undefined } | { problem: string } {
  const fromEnv = env("TANDEM_CLUSTER_KEY");
  if (fromEnv !== undefined) {
    return fromEnv.length >= 32 ? { key: fromEnv } : { problem: "TANDEM_CLUSTER_KEY: a key of at least 32 characters" };
  }
  if (config.key === undefined && config.tls === undefined) {
    return { problem: "cluster: a shared key (cluster.key or TANDEM_CLUSTER_KEY) or mutual TLS (cluster.tls) is required" };
  }
  return { key: config.key };
}

export function createReplicationRole(options: ReplicationRoleOptions): ReplicationRole {
  const { store } = options;
  let running: { node: ReplicationNode; listener: StreamListener; fingerprint: string } | undefined;
  /** Resolves once the listening address is free again: a restart listens on it at once. */
  const stopNow = async () => {
    const stopping = running;
    running = undefined;
    if (stopping === undefined) return;
    const closing = stopping.listener.close();
    stopping.node.stop();
    await closing;
  };
  return {
    status: () => running?.node.status(),
    async stop() {
      await running?.node.flush(SHUTDOWN_FLUSH_MS);
      await stopNow();
    },
    async apply(config, tls) {
      if (config === undefined) {
        await stopNow();
        return [];
      }
      const key = clusterKey(config, options.env);
      if ("problem" in key) return [key.problem];
      const fingerprint = JSON.stringify([config, key.key, tls]);
      if (running?.fingerprint === fingerprint) return [];
      await stopNow();
      store.node = config.node;
      const node = await ReplicationNode.create({
        cluster: config,
        key: key.key,
        store,
        ports: {
          clock: options.clock,
          log: options.log,
          connect: (address, signal) => {
            const { hostname, port } = splitAddress(address);
            return options.connect({
              hostname,
              port,
              signal,
              tls: tls && { serverName: hostname, caCerts: tls.caCerts, verify: true, clientCertificate: { cert: tls.cert, key: tls.key } },
            });
          },
        },
      });
      const { hostname, port } = splitAddress(config.listen);
      let listener: StreamListener;
      try {
        listener = await options.listenStream(
          { hostname, port, tls: tls && { cert: tls.cert, key: tls.key, caCerts: tls.caCerts } },
          (connection) => node.accept(connection),
        );
      } catch (error) {
        return [`cluster.listen: cannot listen on ${config.listen}: ${(error as Error).message}`];
      }
      node.start();
      running = { node, listener, fingerprint };
      options.log({
        event: "replication-listening",
        address: `${listener.hostname}:${listener.port}`,
        node: config.node,
        peers: config.peers.map((peer) => peer.name),
        tls: tls !== undefined,
      });
      return [];
    },
  };
}
