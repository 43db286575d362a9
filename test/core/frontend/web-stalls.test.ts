import { test } from "node:test";
import assert from "node:assert/strict";
import { StallWatch } from "../../../core/frontend/web-stalls.ts";
import { ClientTimeout } from "../../../core/http/client-timeout.ts";
import type { BodyReader } from "../../../core/http/message.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const LIMIT_MS = 1_000;
const bytes = (text: string) => new TextEncoder().encode(text);
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A body fed by the test: each `push` answers one pending read; `cancelled` records why it was stopped. */
function feed() {
  const queue: (Uint8Array | null)[] = [];
  let wake: (() => void) | undefined;
  const state = { cancelled: undefined as unknown, cancels: 0 };
  const body: BodyReader = {
    async read() {
      while (queue.length === 0 && state.cancels === 0) await new Promise<void>((resolve) => (wake = resolve));
      // A cancelled web stream ends its pending read as if the body ended.
      return queue.length > 0 ? queue.shift()! : null;
    },
    cancel(reason) {
      state.cancels++;
      state.cancelled = reason;
      wake?.();
    },
  };
  const push = (piece: Uint8Array | null) => {
    queue.push(piece);
    wake?.();
  };
  return { body, push, state };
}

function setup() {
  const clock = new FakeClock(5_000);
  const expired: number[] = [];
  const stalls = new StallWatch(clock, () => LIMIT_MS, () => expired.push(clock.now()));
  return { clock, stalls, expired };
}

test("a request body silent for the body timeout fails its read with ClientTimeout and cancels the client's stream", async () => {
  const { clock, stalls, expired } = setup();
  const { body, push, state } = feed();
  const watched = stalls.requestBody(body);
  const first = watched.read();
  clock.advance(LIMIT_MS - 1);
  push(bytes("abc"));
  assert.deepEqual(await first, bytes("abc"));
  assert.equal(stalls.waiting, 0, "nothing waits between reads");
  // The silence is counted from the read's start, not the body's.
  const second = watched.read();
  clock.advance(LIMIT_MS - 1);
  await settle();
  assert.deepEqual(expired, []);
  clock.advance(LIMIT_MS / 2);
  await assert.rejects(second, ClientTimeout);
  assert.equal(expired.length, 1);
  assert.ok(state.cancelled instanceof ClientTimeout);
  await assert.rejects(watched.read(), ClientTimeout, "a later read never looks like the body's end");
  assert.equal(clock.pending, 0, "no sweep left armed");
});

test("a request body read while its client keeps sending is never cut", async () => {
  const { clock, stalls, expired } = setup();
  const { body, push } = feed();
  const watched = stalls.requestBody(body);
  for (let i = 0; i < 20; i++) {
    const reading = watched.read();
    clock.advance(LIMIT_MS / 2);
    push(bytes(`${i}`));
    assert.deepEqual(await reading, bytes(`${i}`));
  }
  const last = watched.read();
  push(null);
  assert.equal(await last, null);
  assert.deepEqual(expired, []);
  clock.advance(LIMIT_MS * 10);
  assert.equal(clock.pending, 0);
});

test("an answer the runtime stops pulling is errored and its body cancelled with ClientTimeout", async () => {
  const { clock, stalls, expired } = setup();
  const { body, push, state } = feed();
  const reader = stalls.responseStream(body).getReader();
  push(bytes("one"));
  assert.deepEqual((await reader.read()).value, bytes("one"));
  push(bytes("two"));
  await settle();
  // The stream now holds "two" and the runtime does not pull it: the client's turn.
  assert.equal(stalls.waiting, 1);
  clock.advance(LIMIT_MS - 1);
  assert.deepEqual(expired, []);
  clock.advance(LIMIT_MS / 2);
  assert.equal(expired.length, 1);
  assert.ok(state.cancelled instanceof ClientTimeout);
  await assert.rejects(reader.read(), ClientTimeout);
});

test("an answer whose member is slow is not the client's stall; one pulled on time completes", async () => {
  const { clock, stalls, expired } = setup();
  const { body, push, state } = feed();
  const reader = stalls.responseStream(body).getReader();
  const pending = reader.read();
  // The runtime waits on the member's next piece for longer than the limit.
  clock.advance(LIMIT_MS * 3);
  push(bytes("late"));
  assert.deepEqual((await pending).value, bytes("late"));
  push(null);
  assert.equal((await reader.read()).done, true);
  assert.deepEqual(expired, []);
  assert.equal(state.cancels, 0);
  assert.equal(stalls.waiting, 0);
});

test("a runtime that cancels the answer (the client reset its stream) cancels the body with its reason", async () => {
  const { stalls } = setup();
  const { body, push, state } = feed();
  const stream = stalls.responseStream(body);
  push(bytes("x"));
  await settle();
  await stream.cancel("reset");
  assert.equal(state.cancelled, "reset");
  assert.equal(stalls.waiting, 0);
});
