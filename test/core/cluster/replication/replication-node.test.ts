import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { deriveSessionKey, FROM_INITIATOR, importClusterKey } from "../../../../core/cluster/replication/frame-auth.ts";
import { FramedConnection } from "../../../../core/cluster/replication/framed-connection.ts";
import { type Frame, PROTOCOL_VERSION } from "../../../../core/cluster/replication/frames.ts";
import { reconnectDelay } from "../../../../core/cluster/replication/replication-node.ts";
import { streamPair } from "../../../support/memory-stream.ts";
import { CLUSTER_KEY, TestCluster } from "../../../support/replication-cluster.ts";

async function withCluster(names: string[], run: (cluster: TestCluster) => Promise<void>, options = {}) {
  const cluster = await TestCluster.start(names, options);
  try {
    await run(cluster);
  } finally {
    cluster.stop();
  }
}

const peerOf = (cluster: TestCluster, node: string, peer: string) =>
  cluster.nodes.get(node)!.node.status().peers.find((status) => status.name === peer)!;
const allUp = (cluster: TestCluster) =>
  [...cluster.nodes.values()].every((n) => !n.running || n.node.status().peers.every((p) => p.state === "up" || !cluster.nodes.get(p.name)!.running));
const memberOf = (cluster: TestCluster, node: string, key: string) => cluster.nodes.get(node)!.table.peek(key)?.member;

describe("replication between nodes", () => {
  test("a session learned on one node reaches every peer with the same expiry, and is not echoed", async () => {
    await withCluster(["n1", "n2", "n3"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "all links up");
      const n1 = cluster.nodes.get("n1")!;
      n1.table.set("S1", "b");
      await cluster.until(() => memberOf(cluster, "n2", "S1") === "b" && memberOf(cluster, "n3", "S1") === "b", "S1 everywhere");
      const expiry = n1.table.peek("S1")!.expiresAt;
      assert.equal(cluster.nodes.get("n2")!.table.peek("S1")!.expiresAt, expiry);
      assert.equal(cluster.nodes.get("n3")!.table.peek("S1")!.expiresAt, expiry);
      assert.equal(cluster.nodes.get("n2")!.node.status().updates, 0, "applying a peer's change announces nothing");
      await cluster.until(() => peerOf(cluster, "n1", "n2").lag === 0 && peerOf(cluster, "n1", "n3").lag === 0, "acknowledged");
      // The same expiry everywhere: at that instant the entry is gone on every node.
      cluster.clock.advance(expiry - cluster.clock.now());
      for (const name of cluster.names) assert.equal(memberOf(cluster, name, "S1"), undefined, name);
    });
  });

  test("an admin change on one node applies on its peers, with who and when", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      const { balancer, store } = cluster.nodes.get("n1")!;
      const pool = balancer.pools.get("app")!;
      pool.change(pool.member("b")!, { activation: "disabled", weight: 5 });
      store.adminChanged("app", "b", { activation: "disabled", weight: 5 }, "ops");
      const remote = cluster.nodes.get("n2")!.balancer.pools.get("app")!.member("b")!;
      await cluster.until(() => remote.activation === "disabled", "drain on n2");
      assert.equal(remote.configuredWeight, 5);
    });
  });

  test("a reconnect resumes from the last acknowledged update, without a resync", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      await cluster.until(() => peerOf(cluster, "n1", "n2").resyncsSent === 1, "first contact resync");
      cluster.cut("n1", "n2");
      for (let i = 0; i < 5; i++) cluster.nodes.get("n1")!.table.set(`S${i}`, "a");
      assert.equal(peerOf(cluster, "n1", "n2").lag, 5);
      cluster.heal("n1", "n2");
      await cluster.until(() => memberOf(cluster, "n2", "S4") === "a" && peerOf(cluster, "n1", "n2").lag === 0, "resumed");
      assert.equal(peerOf(cluster, "n1", "n2").resyncsSent, 1, "resumed, not resynced");
    });
  });

  test("a restarted node gets the whole table back by a full resync", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      for (let i = 0; i < 1500; i++) cluster.nodes.get("n1")!.table.set(`S${i}`, i % 2 ? "a" : "c");
      await cluster.until(() => cluster.nodes.get("n2")!.table.size === 1500, "n2 has everything");
      cluster.stopNode("n1");
      await cluster.startNode("n1");
      await cluster.until(() => peerOf(cluster, "n1", "n2").resyncsReceived === 1, "the new n1 got n2's resync");
      assert.equal(cluster.nodes.get("n1")!.table.size, 1500);
      assert.equal(memberOf(cluster, "n1", "S1499"), "a");
    });
  });

  test("a restarted node's first contact ends the survivor's reconnect backoff: its resync comes at once", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      for (let i = 0; i < 10; i++) cluster.nodes.get("n2")!.table.set(`S${i}`, "b");
      await cluster.until(() => cluster.nodes.get("n1")!.table.size === 10, "n1 has n2's sessions");
      cluster.stopNode("n1");
      // n2's reconnect attempts fail for a while: its backoff grows towards BACKOFF_MAX_MS (5 s).
      await cluster.until(() => peerOf(cluster, "n2", "n1").state === "backoff", "n2 backs off");
      const startedAt = cluster.clock.now();
      while (cluster.clock.now() - startedAt < 20_000) await cluster.until(() => true, "tick").then(() => cluster.clock.advance(500));
      await cluster.until(() => peerOf(cluster, "n2", "n1").state === "backoff", "n2 backs off again");
      const restartedAt = cluster.clock.now();
      await cluster.startNode("n1");
      await cluster.until(() => peerOf(cluster, "n1", "n2").resyncsReceived === 1, "the new n1 got n2's resync", 5);
      assert.ok(cluster.clock.now() - restartedAt < 200, `resync after ${cluster.clock.now() - restartedAt} ms of fake time, not after the backoff`);
      assert.equal(cluster.nodes.get("n1")!.table.size, 10);
    });
  });

  test("a peer that falls more than sendQueue updates behind gets a full resync", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      cluster.cut("n1", "n2");
      for (let i = 0; i < 50; i++) cluster.nodes.get("n1")!.table.set(`S${i}`, "b");
      assert.equal(peerOf(cluster, "n1", "n2").resyncPending, true);
      cluster.heal("n1", "n2");
      await cluster.until(() => cluster.nodes.get("n2")!.table.size === 50 && peerOf(cluster, "n1", "n2").lag === 0, "resynced");
      assert.equal(peerOf(cluster, "n1", "n2").resyncsSent, 2);
    }, { sendQueue: 10 });
  });

  test("conflicting writes during a partition converge on the later one, then the greater node name", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      cluster.cut("n1", "n2");
      const [n1, n2] = [cluster.nodes.get("n1")!, cluster.nodes.get("n2")!];
      n2.table.set("late", "a");
      n1.table.set("tie", "a");
      n2.table.set("tie", "b");
      cluster.clock.advance(10);
      n1.table.set("late", "c");
      cluster.heal("n1", "n2");
      await cluster.until(() => memberOf(cluster, "n2", "late") === "c" && memberOf(cluster, "n1", "tie") === "b", "converged");
      assert.equal(memberOf(cluster, "n1", "late"), "c");
      assert.equal(memberOf(cluster, "n2", "tie"), "b");
    });
  });

  test("a delete replicates; an entry for an unknown member is dropped and counted", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      const n1 = cluster.nodes.get("n1")!;
      n1.table.set("gone", "a");
      n1.table.set("odd", "c");
      await cluster.until(() => memberOf(cluster, "n2", "gone") === "a", "replicated");
      n1.table.delete("gone");
      await cluster.until(() => memberOf(cluster, "n2", "gone") === undefined, "deleted on n2");
      assert.equal(memberOf(cluster, "n2", "odd"), undefined);
      assert.deepEqual(cluster.nodes.get("n2")!.node.status().droppedRecords, { "unknown-member": 1 });
    }, { members: { n2: ["a", "b"] } });
  });

  test("a silent link is declared dead after deadAfter and replaced", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster), "links up");
      cluster.mute("n1", "n2");
      await cluster.until(() => peerOf(cluster, "n1", "n2").timeouts >= 1, "timed out", 500);
      cluster.nodes.get("n1")!.table.set("after", "b");
      await cluster.until(() => memberOf(cluster, "n2", "after") === "b", "new connection carries updates", 500);
    });
  });

  test("flush (a shutdown) resolves once the peers acknowledged the last change; a silent peer holds it only until the timeout", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      await cluster.until(() => allUp(cluster) && peerOf(cluster, "n1", "n2").resyncsSent === 1, "links up, first resync done");
      const n1 = cluster.nodes.get("n1")!;
      const flushOutcome = (timeoutMs: number) => {
        const outcome: { flushedAfterMs?: number } = {};
        const started = cluster.clock.now();
        void n1.node.flush(timeoutMs).then(() => (outcome.flushedAfterMs = cluster.clock.now() - started));
        return outcome;
      };

      n1.table.set("last", "b");
      const acknowledged = flushOutcome(5_000);
      await cluster.until(() => acknowledged.flushedAfterMs !== undefined, "flush resolved");
      assert.ok(acknowledged.flushedAfterMs! < 5_000, `resolved by the ack after ${acknowledged.flushedAfterMs} fake ms, not by its timeout`);
      assert.equal(peerOf(cluster, "n1", "n2").lag, 0);
      assert.equal(memberOf(cluster, "n2", "last"), "b");

      // The control: nothing comes back on a muted link, so the same flush ends at its timeout.
      cluster.mute("n1", "n2");
      n1.table.set("unheard", "c");
      const unacknowledged = flushOutcome(1_000);
      await cluster.until(() => unacknowledged.flushedAfterMs !== undefined, "flush gave up");
      assert.ok(unacknowledged.flushedAfterMs! >= 1_000, `gave up after ${unacknowledged.flushedAfterMs} fake ms`);
      assert.equal(peerOf(cluster, "n1", "n2").lag, 1, "the peer never acknowledged it");
    });
  });
});

describe("handshake and hostile input", () => {
  function dial(cluster: TestCluster, target: string) {
    const [mine, theirs] = streamPair();
    cluster.nodes.get(target)!.node.accept(theirs);
    return mine;
  }

  async function hello(overrides: Partial<Extract<Frame, { type: "hello" }>>, key = CLUSTER_KEY) {
    const nonce = crypto.getRandomValues(new Uint8Array(16));
    return {
      nonce,
      key: await importClusterKey(key),
      frame: { type: "hello", version: PROTOCOL_VERSION, cluster: "test", node: "n2", nonce, bootId: "x", resumeBootId: "", resumeId: 0, ...overrides } as Frame,
    };
  }

  test("wrong version, cluster or node is refused with a reason and counted", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      const cases: [Partial<Extract<Frame, { type: "hello" }>>, string, RegExp][] = [
        [{ version: 9 }, "wrong-version", /protocol version 9/],
        [{ cluster: "other" }, "wrong-cluster", /cluster "other"/],
        [{ node: "intruder" }, "unknown-node", /not a peer/],
        [{ node: "n1" }, "unknown-node", /not a peer/],
      ];
      for (const [override, reason, message] of cases) {
        const { key, nonce, frame } = await hello(override);
        const framed = new FramedConnection(dial(cluster, "n1"), FROM_INITIATOR, key);
        await framed.send(frame);
        framed.bind(nonce);
        const answer = await framed.read();
        assert.equal(answer?.type, "refuse");
        assert.match((answer as { reason: string }).reason, message);
        assert.equal(await framed.read(), null, "closed after refusing");
        assert.ok(cluster.nodes.get("n1")!.node.status().droppedFrames[reason]! >= 1, reason);
      }
    });
  });

  test("garbage, truncated, oversized, replayed and wrongly signed frames apply nothing and are counted", async () => {
    await withCluster(["n1", "n2"], async (cluster) => {
      cluster.stopNode("n2");
      const n1 = cluster.nodes.get("n1")!;
      const dropped = (reason: string) => n1.node.status().droppedFrames[reason] ?? 0;
      /** Writes `bytes` on a new connection to n1 and waits until n1 has closed it. */
      const refused = async (bytes: Uint8Array, end = false) => {
        const socket = dial(cluster, "n1");
        socket.write(bytes);
        if (end) socket.close();
        let closed = false;
        void (async () => {
          while ((await socket.read()) !== null);
          closed = true;
        })();
        await cluster.until(() => closed, "n1 closes the connection");
      };
      await refused(new Uint8Array([0, 0, 0, 5, 99, 1, 2, 3, 4]));
      assert.equal(dropped("malformed"), 1);
      await refused(new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
      assert.equal(dropped("oversized"), 1);
      await refused(new Uint8Array([0, 0, 1, 0, 1, 2]), true);
      assert.equal(dropped("truncated"), 1);
      const wrong = await hello({}, "a wrong key that is long enough....");
      const [x, y] = streamPair();
      await new FramedConnection(x, FROM_INITIATOR, wrong.key).send(wrong.frame);
      await refused((await y.read())!);
      assert.equal(dropped("bad-mac"), 1);

      // A real session whose update frame is recorded and written again: refused, applied once.
      const good = await hello({});
      const socket = dial(cluster, "n1");
      const written: Uint8Array[] = [];
      const recording = { ...socket, read: () => socket.read(), close: () => socket.close(), write: (data: Uint8Array) => (written.push(data.slice()), socket.write(data)) };
      const framed = new FramedConnection(recording, FROM_INITIATOR, good.key);
      await framed.send(good.frame);
      framed.bind(good.nonce);
      const reply = (await framed.read()) as Extract<Frame, { type: "hello" }>;
      framed.useKey(await deriveSessionKey(good.key, good.nonce, reply.nonce));
      await framed.send({ type: "resync-end", id: 0 });
      assert.deepEqual(await framed.read(), { type: "ack", id: 0 });
      const expiresAt = cluster.clock.now() + 60_000;
      await framed.send({ type: "updates", firstId: 1, records: [{ kind: "stick", pool: "app", key: "S", member: "a", expiresAt, origin: "n2" }] });
      assert.deepEqual(await framed.read(), { type: "ack", id: 1 });
      assert.equal(n1.table.peek("S")?.member, "a");
      n1.table.delete("S");
      socket.write(written.at(-1)!);
      await cluster.until(() => dropped("bad-mac") === 2, "replay refused");
      assert.equal(await framed.read(), null, "the connection is closed");
      assert.equal(n1.table.peek("S"), undefined, "the replay applied nothing");
    });
  });
});

describe("reconnect delay", () => {
  test("doubles from 100 ms to a 5 s ceiling and is jittered into its upper half", () => {
    for (const [attempt, ceiling] of [[0, 100], [1, 200], [3, 800], [6, 5000], [60, 5000]]) {
      assert.equal(reconnectDelay(attempt, () => 0), ceiling / 2);
      assert.ok(reconnectDelay(attempt, () => 0.999999) < ceiling);
      assert.ok(reconnectDelay(attempt, () => 0.999999) > ceiling * 0.99);
    }
  });
});
