import { test } from "node:test";
import assert from "node:assert/strict";
import { SlotQueue } from "../../../core/balancer/queue.ts";
import { FakeClock } from "../../support/fake-clock.ts";

test("waiters get slots oldest first, by member or any; the timeout and a client's abort end a wait", async () => {
  const clock = new FakeClock();
  const queue = new SlotQueue<string>(clock, { size: 3, timeout: 1000 });
  const first = queue.wait("a");
  const any = queue.wait(null);
  const leaving = new AbortController();
  const third = queue.wait("a", leaving.signal);
  assert.equal(queue.length, 3);
  assert.equal(await queue.wait("a"), undefined, "over size: refused at once");
  assert.equal(queue.handOver("b", false), false, "b takes no new sessions and no one waits for b");
  assert.equal(queue.handOver("a", true), true);
  assert.equal(await first, "a");
  assert.equal(queue.handOver("b", true), true);
  assert.equal(await any, "b");
  leaving.abort();
  assert.equal(await third, undefined);
  assert.equal(queue.length, 0);
  const late = queue.wait("a");
  clock.advance(1000);
  assert.equal(await late, undefined, "the timeout ends the wait");
});

test("a client that is already gone takes no place in the queue", async () => {
  const queue = new SlotQueue<string>(new FakeClock(), { size: 1, timeout: 1000 });
  const gone = new AbortController();
  gone.abort();
  assert.equal(await queue.wait("a", gone.signal), undefined);
  assert.equal(queue.length, 0);
  const next = queue.wait("a");
  assert.equal(queue.handOver("a", true), true);
  assert.equal(await next, "a");
});
