import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, type ReplicaRecord } from "../../../core/cluster/replication/frames.ts";
import { ReplicaStore } from "../../../core/cluster/replication/replica-store.ts";
import { createRateLimiters, type RateLimitVerdict } from "../../../core/rules/rate-limit.ts";
import { RateLimitSharing } from "../../../core/rules/rate-limit-sharing.ts";
import { FakeClock } from "../../support/fake-clock.ts";

/** A node as serve.ts wires one: limiters over a sharing whose counts go out through the replica store. */
function node(name: string, clock: FakeClock, limits = { perClient: { key: "ip" as const, requests: 6, per: 60_000, size: 100 } }) {
  const shipped: ReplicaRecord[] = [];
  let store: ReplicaStore | undefined;
  const share = new RateLimitSharing({ clock, publisher: () => (count) => store!.rateCounted(count) });
  store = new ReplicaStore({ node: name, pools: () => new Map(), clock, rateCount: (record) => share.peerCount(record.origin, record) });
  store.subscribe((record, source) => {
    if (source === "local") shipped.push(record);
  });
  return { store, shipped, limiter: createRateLimiters(limits, { clock, share }).get("perClient")! };
}

/** What the peer receives: the records as an updates frame, through the codec. */
function deliver(from: ReturnType<typeof node>, to: ReturnType<typeof node>): void {
  const frame = decodeFrame(encodeFrame({ type: "updates", firstId: 1, records: from.shipped.splice(0) }));
  if (frame.type !== "updates") throw new Error("not an updates frame");
  for (const record of frame.records) to.store.apply(record, "peers");
}

test("counts cross through the replica store and the wire format: two nodes spend one budget", () => {
  const clock = new FakeClock(1_700_000_000_000);
  const lb1 = node("lb1", clock);
  const lb2 = node("lb2", clock);
  const admitted = (verdicts: RateLimitVerdict[]) => verdicts.filter((verdict) => verdict.admitted).length;
  const a = admitted(Array.from({ length: 4 }, () => lb1.limiter.admit("192.0.2.7") as RateLimitVerdict));
  clock.advance(0);
  // One record per key per turn, however many requests it counted.
  assert.deepEqual(lb1.shipped.map((record) => record.kind === "rate" && record.count), [4]);
  deliver(lb1, lb2);
  const b = admitted(Array.from({ length: 4 }, () => lb2.limiter.admit("192.0.2.7") as RateLimitVerdict));
  clock.advance(0);
  deliver(lb2, lb1);
  assert.deepEqual([a, b], [4, 2]);
  assert.equal((lb1.limiter.admit("192.0.2.7") as RateLimitVerdict).admitted, false);
  // A record that comes back to its origin, or twice, changes nothing.
  lb1.store.apply({ kind: "rate", limit: "perClient", key: "192.0.2.7", windowStart: clock.now(), count: 0, origin: "lb1" }, "peers");
  lb1.store.apply({ kind: "rate", limit: "perClient", key: "192.0.2.7", windowStart: clock.now(), count: 2, origin: "lb2" }, "peers");
  assert.equal((lb1.limiter.admit("192.0.2.7") as RateLimitVerdict).admitted, false);
});

test("a count for a limit this node does not have is dropped and counted", () => {
  const clock = new FakeClock();
  const lb1 = node("lb1", clock);
  assert.equal(lb1.store.apply({ kind: "rate", limit: "other", key: "k", windowStart: 0, count: 1, origin: "lb2" }, "peers"), false);
  assert.equal(lb1.store.dropped.get("unknown-rate-limit"), 1);
});
