/**
 * The `cluster` section: this node, its peers and how they authenticate each other. Replication
 * needs a shared key (HMAC per frame) or mutual TLS with a private CA, or both.
 *
 * @example
 * ```yaml
 * cluster:
 *   name: shop
 *   node: lb1
 *   listen: "10.0.0.1:7400"
 *   peers: [{ name: lb2, address: "10.0.0.2:7400" }]
 *   key: "at least 32 characters of shared secret..."
 * ```
 * @module
 */
import * as v from "valibot";
import { address, duration } from "../../config/fields.ts";

const nodeName = v.pipe(
  v.string(),
  v.maxLength(64, "at most 64 characters"),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a name of letters, digits, '.', '_' or '-'"),
);
const filePath = v.pipe(v.string(), v.minLength(1, "a file path"));

export const ClusterPeerSchema = v.strictObject({ name: nodeName, address });

export const ClusterTlsSchema = v.strictObject({
  /** This node's certificate chain and key, presented to peers both as server and as client. */
  cert: filePath,
  key: filePath,
  /** The private CA every peer's certificate must chain to. */
  ca: filePath,
});

export const ClusterSchema = v.pipe(
  v.strictObject({
    /** Peers of another cluster name are refused: two clusters on one network stay apart. */
    name: nodeName,
    /** This node's name, as the other nodes list it under `peers`. */
    node: nodeName,
    listen: address,
    peers: v.pipe(v.array(ClusterPeerSchema), v.minLength(1, "at least one peer")),
    /** Shared HMAC key; TANDEM_CLUSTER_KEY overrides it. */
    key: v.optional(v.pipe(v.string(), v.minLength(32, "a key of at least 32 characters"))),
    tls: v.optional(ClusterTlsSchema),
    heartbeat: duration("3s", 10),
    /** Silence after which a peer's connection is given up and re-opened. */
    deadAfter: duration("10s", 20),
    /** Updates kept for a peer that has not acknowledged them; past this it gets a full resync. */
    sendQueue: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000_000)), 100_000),
  }),
  v.forward(
    v.check((cluster) => !cluster.peers.some((peer) => peer.name === cluster.node), "a peer list without this node itself"),
    ["peers"],
  ),
  v.forward(
    v.check((cluster) => new Set(cluster.peers.map((peer) => peer.name)).size === cluster.peers.length, "peers with distinct names"),
    ["peers"],
  ),
  v.forward(v.check((cluster) => cluster.deadAfter > cluster.heartbeat, "longer than heartbeat"), ["deadAfter"]),
);

export type ClusterConfig = v.InferOutput<typeof ClusterSchema>;
