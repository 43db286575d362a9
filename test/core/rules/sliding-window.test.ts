import { test } from "node:test";
import assert from "node:assert/strict";
import { RateTable } from "../../../core/rules/sliding-window.ts";

test("a fresh key gets exactly its budget within its first window, wherever that falls against the clock", () => {
  for (const firstAt of [0, 999, 123_456]) {
    const table = new RateTable({ requests: 10, per: 1_000, size: 100 });
    let admitted = 0;
    for (let i = 0; i < 30; i++) admitted += table.take("k", 1, firstAt + i * 33);
    assert.equal(admitted, 10, `first request at ${firstAt}`);
  }
});

test("the previous window weighs in by its overlap: half a window later, half its count is still spent", () => {
  const table = new RateTable({ requests: 10, per: 1_000, size: 100 });
  for (let i = 0; i < 10; i++) table.take("k", 1, 0);
  assert.equal(table.take("k", 1, 999), 0);
  assert.equal(table.available("k", 1_500), 5);
  assert.equal(table.take("k", 10, 1_500), 5);
  // Two windows on, nothing of the first is left.
  assert.equal(table.available("k", 3_000), 10);
});

test("retryAfterMs says when the next request is admitted, and it is admitted then, not before", () => {
  const table = new RateTable({ requests: 4, per: 1_000, size: 100 });
  for (let i = 0; i < 4; i++) table.take("k", 1, 200);
  const wait = table.retryAfterMs("k", 600);
  // Next window starts at 1200; 4 × (1 − f) ≤ 3 from f = 1/4 on: 1450.
  assert.equal(wait, 850);
  assert.equal(table.take("k", 1, 600 + wait - 1), 0);
  assert.equal(table.take("k", 1, 600 + wait), 1);
  assert.equal(table.retryAfterMs("other", 600), 0);
});

test("the table keeps at most size keys, dropping the least recently used, and counts each eviction", () => {
  const table = new RateTable({ requests: 1, per: 60_000, size: 3 });
  for (const key of ["a", "b", "c"]) table.take(key, 1, 0);
  table.take("a", 1, 1); // refused, but used: b is now the oldest
  table.take("d", 1, 2);
  assert.equal(table.size, 3);
  assert.equal(table.evictions, 1);
  assert.deepEqual(table.top(10, 3).map((view) => view.key).sort(), ["a", "c", "d"]);
  // b comes back with a fresh budget: eviction forgets, which is why it is counted.
  assert.equal(table.take("b", 1, 4), 1);
  assert.equal(table.evictions, 2);
});

test("requests in flight: at most concurrent per key, each leave frees one, and an evicted key's leave touches nothing new", () => {
  const table = new RateTable({ concurrent: 2, per: 1_000, size: 1 });
  const first = table.enter("a", 0)!;
  const second = table.enter("a", 0)!;
  assert.equal(table.enter("a", 0), undefined);
  table.leave(first);
  assert.ok(table.enter("a", 0));
  table.leave(second);
  // "b" evicts "a"; a's request ending later must not free one of b's.
  const b = table.enter("b", 1)!;
  table.enter("b", 1);
  table.leave(first);
  assert.equal(table.enter("b", 1), undefined);
  table.leave(b);
  assert.ok(table.enter("b", 1));
});

test("peers' counts add up per node, and a record that comes twice or late adds nothing more", () => {
  const table = new RateTable({ requests: 10, per: 1_000, size: 100 });
  table.take("k", 3, 100);
  table.peerCount("k", "lb2", 100, 4, 110);
  table.peerCount("k", "lb2", 100, 4, 120);
  table.peerCount("k", "lb2", 100, 2, 130);
  assert.equal(table.available("k", 140), 3);
  table.peerCount("k", "lb3", 100, 1, 150);
  assert.equal(table.available("k", 150), 2);
  // A key first seen through a peer takes the peer's window grid.
  table.peerCount("new", "lb2", 50, 10, 150);
  assert.equal(table.available("new", 150), 0);
  assert.equal(table.windowEnd("new", 150), 1_050);
  // The next window: the peer's count weighs in as the previous one.
  assert.equal(table.available("new", 1_550), 5);
});

test("top lists the busiest keys first", () => {
  const table = new RateTable({ requests: 100, per: 1_000, size: 100 });
  table.take("quiet", 1, 0);
  table.take("busy", 7, 0);
  table.take("middle", 3, 0);
  assert.deepEqual(table.top(2, 0), [{ key: "busy", rate: 7, inFlight: 0 }, { key: "middle", rate: 3, inFlight: 0 }]);
});
