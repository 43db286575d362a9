/**
 * Prometheus series of the replication peer, read from its status when /metrics is rendered.
 *
 * @module
 */
import type { Registry } from "../../metrics/registry.ts";
import type { ClusterStatus } from "./replication-node.ts";

export function registerReplicationMetrics(registry: Registry, status: () => ClusterStatus | undefined): void {
  const peers = () => status()?.peers ?? [];
  registry.gaugeFn(
    "tandem_replication_peer_up",
    "1 while this node's connection to the peer is up (handshake done), else 0.",
    ["peer"],
    () => peers().map((peer) => [[peer.name], peer.state === "up" || peer.state === "resync" ? 1 : 0]),
  );
  registry.gaugeFn(
    "tandem_replication_peer_lag_updates",
    "This node's updates the peer has not acknowledged.",
    ["peer"],
    () => peers().map((peer) => [[peer.name], peer.lag]),
  );
  registry.counterFn(
    "tandem_replication_resyncs_total",
    "Full resyncs, by peer and direction (sent to it or received from it).",
    ["peer", "direction"],
    () => peers().flatMap((peer) => [[[peer.name, "sent"], peer.resyncsSent], [[peer.name, "received"], peer.resyncsReceived]]),
  );
  registry.counterFn(
    "tandem_replication_updates_total",
    "Local changes numbered for the peers since start.",
    [],
    () => {
      const current = status();
      return current === undefined ? [] : [[[], current.updates]];
    },
  );
  registry.counterFn(
    "tandem_replication_dropped_frames_total",
    "Replication frames refused, by reason (the connection is closed and nothing in them applied).",
    ["reason"],
    () => Object.entries(status()?.droppedFrames ?? {}).map(([reason, count]) => [[reason], count]),
  );
  registry.counterFn(
    "tandem_replication_dropped_records_total",
    "Authentic replicated records not applied, by reason (unknown pool or member).",
    ["reason"],
    () => Object.entries(status()?.droppedRecords ?? {}).map(([reason, count]) => [[reason], count]),
  );
}
