/**
 * ACME in an HA pair, core side: who orders, the `acme` replication records on the wire and in
 * the store (last write wins, part of a resync), and the delivery wait before the CA looks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { acmeReplication, isOrderingNode } from "../../../core/acme/cluster.ts";
import { decodeFrame, encodeFrame, type ReplicaRecord } from "../../../core/cluster/replication/frames.ts";
import { ReplicaStore } from "../../../core/cluster/replication/replica-store.ts";
import type { ClusterStatus, PeerStatus } from "../../../core/cluster/replication/replication-node.ts";
import type { VrrpStatus } from "../../../core/cluster/vrrp/agent.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const peer = (name: string, state: PeerStatus["state"] = "up", lag = 0) => ({ name, state, lag }) as PeerStatus;
const cluster = (node: string, ...peers: PeerStatus[]) => ({ cluster: "pair", node, peers }) as unknown as ClusterStatus;
/** Lets promise chains resolved by the fake clock run (delivered waits on peers and workers together). */
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
const vrrp = (...states: string[]) => ({ instances: states.map((state) => ({ state })) }) as unknown as VrrpStatus;

test("standalone orders; with VRRP the master orders; without it the lowest node name, reached or not", () => {
  assert.equal(isOrderingNode(undefined, undefined), true);
  assert.equal(isOrderingNode(cluster("lb2", peer("lb1")), vrrp("master")), true);
  assert.equal(isOrderingNode(cluster("lb1", peer("lb2")), vrrp("backup")), false);
  assert.equal(isOrderingNode(cluster("lb1", peer("lb2")), vrrp("backup", "master")), true, "master of any instance");
  assert.equal(isOrderingNode(cluster("lb1", peer("lb2")), undefined), true);
  assert.equal(isOrderingNode(cluster("lb2", peer("lb1")), undefined), false);
  assert.equal(isOrderingNode(cluster("lb2", peer("lb1", "backoff")), undefined), false, "not while lb1 is merely unreached (every node starts alone)");
  assert.equal(isOrderingNode(cluster("lb1", peer("lb2")), vrrp()), true, "vrrp without instances counts as none");
});

test("an acme record crosses the wire as it was, a certificate-sized value included", () => {
  const certificate = JSON.stringify({ certPem: "-----BEGIN CERTIFICATE-----\n" + "A".repeat(6000) + "\n-----END CERTIFICATE-----\n", keyPem: "k" });
  const records: ReplicaRecord[] = [
    { kind: "acme", key: "certificate https://ca.test/dir shop.test", value: certificate, at: 1_700_000_000_123.5, origin: "lb1" },
    { kind: "acme", key: "http-01 tok", value: "", at: 1, origin: "lb2" },
    { kind: "stick", pool: "app", key: "s", member: "m", expiresAt: 5, origin: "lb1" },
  ];
  assert.deepEqual(decodeFrame(encodeFrame({ type: "updates", firstId: 7, records })), { type: "updates", firstId: 7, records });
  const oversized: ReplicaRecord = { kind: "acme", key: "k", value: "x".repeat(70_000), at: 1, origin: "lb1" };
  assert.throws(() => encodeFrame({ type: "updates", firstId: 1, records: [oversized] }), RangeError);
});

test("the store keeps the latest acme value per key, emits applied ones, and ships them in a resync", () => {
  const clock = new FakeClock(1000);
  const store = new ReplicaStore({ node: "lb1", pools: () => new Map(), clock });
  const heard: [string, string][] = [];
  const replication = acmeReplication({ store, cluster: () => undefined, vrrp: () => undefined, clock });
  replication.subscribe((key, value) => heard.push([key, value]));
  replication.publish("account x", "mine");
  assert.deepEqual(heard, [], "a node does not hear its own values back");
  assert.equal(store.apply({ kind: "acme", key: "account x", value: "older", at: 999, origin: "lb2" }, "peers"), false);
  assert.equal(store.apply({ kind: "acme", key: "account x", value: "newer", at: 1001, origin: "lb2" }, "peers"), true);
  assert.equal(store.apply({ kind: "acme", key: "http-01 t", value: "t.k", at: 5, origin: "lb2" }, "peers"), true);
  assert.deepEqual(heard, [["account x", "newer"], ["http-01 t", "t.k"]]);
  const acmeInSnapshot = () => [...store.snapshot()].flatMap((record) => (record.kind === "acme" ? [[record.key, record.value]] : []));
  assert.deepEqual(acmeInSnapshot(), [["account x", "newer"], ["http-01 t", "t.k"]]);
  assert.equal(store.apply({ kind: "acme", key: "http-01 t", value: "", at: 6, origin: "lb2" }, "peers"), true);
  assert.deepEqual(heard.at(-1), ["http-01 t", ""], "the withdrawal is passed on");
  assert.deepEqual(acmeInSnapshot(), [["account x", "newer"]], "and then forgotten: no tombstones in resyncs");
  assert.equal(store.acmeValue("http-01 t"), undefined);
  assert.equal(store.acmeValue("account x"), "newer");
});

test("delivered waits until every peer is up and acknowledged, or for the bound", async () => {
  const clock = new FakeClock(0);
  let peers = [peer("lb2", "connecting")];
  const replication = acmeReplication({ store: new ReplicaStore({ node: "lb1", pools: () => new Map(), clock }), cluster: () => cluster("lb1", ...peers), vrrp: () => undefined, clock });
  let done = false;
  void replication.delivered(5000).then(() => (done = true));
  clock.advance(100);
  peers = [peer("lb2", "up", 3)];
  clock.advance(100);
  await settled();
  assert.equal(done, false, "connected, not yet acknowledged");
  peers = [peer("lb2", "up", 0)];
  clock.advance(20);
  await settled();
  assert.equal(done, true);

  let bounded = false;
  peers = [peer("lb2", "backoff")];
  void replication.delivered(1000).then(() => (bounded = true));
  clock.advance(999);
  await settled();
  assert.equal(bounded, false);
  clock.advance(21);
  await settled();
  assert.equal(bounded, true, "a peer that stays away holds it up for the bound only");
});

test("with workers: only worker 0 may order, and delivered waits for the other workers' flush as well as the peers", async () => {
  const clock = new FakeClock(0);
  const store = new ReplicaStore({ node: "lb1", pools: () => new Map(), clock });
  const flushes: (() => void)[] = [];
  const flushed = () => new Promise<void>((resolve) => flushes.push(resolve));
  const lead = acmeReplication({ store, cluster: () => undefined, vrrp: () => undefined, clock, workers: { lead: true, flushed } });
  const follower = acmeReplication({ store, cluster: () => undefined, vrrp: () => undefined, clock, workers: { lead: false, flushed } });
  assert.deepEqual([lead.follower, lead.ordering()], [false, true]);
  assert.deepEqual([follower.follower, follower.ordering()], [true, false], "standalone to its eyes (no cluster runs in it), yet it does not order");
  assert.equal(isOrderingNode(undefined, undefined), true, "control: what a follower would answer by itself");

  let done = false;
  void lead.delivered(5000).then(() => (done = true));
  clock.advance(100);
  await settled();
  assert.equal(done, false, "no peers to wait for, but the workers have not answered");
  assert.equal(flushes.length, 1);
  flushes[0]();
  await settled();
  assert.equal(done, true);
});
