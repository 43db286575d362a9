/**
 * ACME in an HA pair and across workers: which node (and in it, which worker) orders, and what
 * it shares so that the others serve the same certificate and answer the CA's http-01 requests
 * that reach them. The values are records of the replica store: the replication channel
 * (core/cluster/replication) carries them to the peers, the worker channel (core/worker-sync.ts)
 * to the other workers of the process, so one mechanism moves them both ways.
 *
 * Shared, as `acme` records keyed by what they are about, last write wins:
 *   `account <directory>`                 {"url", "keyPem"}: one account per CA for the pair
 *   `certificate <directory> <domains>`   {"certPem", "keyPem"}
 *   `http-01 <token>`                     the key authorization; "" once withdrawn
 *
 * @module
 */
import type { ReplicaStore } from "../cluster/replication/replica-store.ts";
import type { ClusterStatus } from "../cluster/replication/replication-node.ts";
import type { Clock } from "../ports.ts";
import type { VrrpStatus } from "../cluster/vrrp/agent.ts";

export const accountKey = (directory: string) => `account ${directory}`;
export const certificateKey = (directory: string, domains: readonly string[]) => `certificate ${directory} ${domains.join(",")}`;
export const http01Key = (token: string) => `http-01 ${token}`;

/** What a node (a worker) shares and hears of. */
export interface AcmeReplication {
  /**
   * A worker other than worker 0 (`workers: N`): it never orders, and worker 0 keeps the files
   * and the account; this one serves what worker 0 shares.
   */
  readonly follower: boolean;
  /** Whether this node orders and renews now; the others take what it obtains. */
  ordering(): boolean;
  publish(key: string, value: string): void;
  /** The value held for `key`, shared by a peer or by this node; undefined when none. */
  current(key: string): string | undefined;
  /** Calls `listener` with every value a peer shared (and, at a resync, every value it holds). */
  subscribe(listener: (key: string, value: string) => void): void;
  /**
   * Resolves once every peer is connected and acknowledged what was published and every other
   * worker applied it, or after `timeoutMs`.
   */
  delivered(timeoutMs: number): Promise<void>;
}

/**
 * The VRRP master orders (the CA's http-01 requests reach the node holding the address); without
 * VRRP, the node with the lowest name. Not "the lowest name among the peers reached": every node
 * starts alone, and each would order once before the others connect.
 */
export function isOrderingNode(cluster: ClusterStatus | undefined, vrrp: VrrpStatus | undefined): boolean {
  if (cluster === undefined) return true;
  if (vrrp !== undefined && vrrp.instances.length > 0) return vrrp.instances.some((instance) => instance.state === "master");
  return cluster.peers.every((peer) => cluster.node < peer.name);
}

export interface AcmeReplicationPorts {
  store: Pick<ReplicaStore, "acmeChanged" | "acmeValue" | "subscribe">;
  /** Undefined while replication is off (standalone: this node orders). */
  cluster(): ClusterStatus | undefined;
  vrrp(): VrrpStatus | undefined;
  clock: Clock;
  /** With `workers: N`: which worker this is, and the other workers' word that they applied what came before. */
  workers?: { lead: boolean; flushed(timeoutMs: number): Promise<void> };
}

const DELIVERY_POLL_MS = 20;

/** {@link AcmeReplication} over the replica store (records of kind `acme`) and the cluster's status. */
export function acmeReplication(ports: AcmeReplicationPorts): AcmeReplication {
  const follower = ports.workers?.lead === false;
  const peersDelivered = (timeoutMs: number) => {
    const deadline = ports.clock.now() + timeoutMs;
    return new Promise<void>((resolve) => {
      const check = () => {
        const peers = ports.cluster()?.peers ?? [];
        // A peer still connecting would miss the answer the CA may ask it for: wait for it too, within the bound.
        if (peers.every((peer) => peer.state === "up" && peer.lag === 0) || ports.clock.now() >= deadline) return resolve();
        ports.clock.setTimer(check, DELIVERY_POLL_MS);
      };
      check();
    });
  };
  return {
    follower,
    // Replication and VRRP run in worker 0 alone: another worker would see no cluster and think itself standalone.
    ordering: () => !follower && isOrderingNode(ports.cluster(), ports.vrrp()),
    publish: (key, value) => ports.store.acmeChanged(key, value),
    current: (key) => ports.store.acmeValue(key),
    subscribe(listener) {
      ports.store.subscribe((record, source) => {
        if (record.kind === "acme" && source !== "local") listener(record.key, record.value);
      });
    },
    async delivered(timeoutMs) {
      await Promise.all([peersDelivered(timeoutMs), ports.workers?.flushed(timeoutMs)]);
    },
  };
}
