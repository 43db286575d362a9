import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { MemberHealth } from "../../../core/health/member-health.ts";
import { HealthSchema } from "../../../core/health/schema.ts";
import { FakeClock } from "../../support/fake-clock.ts";

/** A member without active checks: passive observation and re-admission only, all synchronous. */
function member(health: unknown) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const state = new MemberHealth({
    name: "tc1",
    config: v.parse(HealthSchema, health),
    clock,
    onTransition: (event) => lines.push(`${event.at} ${event.line}${event.followed ? " (followed)" : ""}`),
  });
  return { clock, state, lines };
}

describe("health: passive observation", () => {
  test("errorLimit consecutive errors take a member down; a success resets the streak", () => {
    const { state, lines } = member({});
    for (let i = 0; i < 9; i++) state.observe("5xx");
    state.observe("success");
    for (let i = 0; i < 9; i++) state.observe("connect");
    assert.equal(state.up, true);
    state.observe("timeout");
    assert.equal(state.up, false);
    assert.equal(state.reason, "10 consecutive errors (last: timeout)");
    assert.deepEqual(lines, ["0 tc1 DOWN: 10 consecutive errors (last: timeout)"]);
  });

  test("outcomes not listed in `on` reset the streak; errorLimit 0 turns observation off", () => {
    const only = member({ passive: { errorLimit: 2, on: ["connect"] } }).state;
    only.observe("connect");
    only.observe("5xx");
    only.observe("connect");
    assert.equal(only.up, true);
    only.observe("connect");
    assert.equal(only.up, false);
    const off = member({ passive: { errorLimit: 0 } }).state;
    for (let i = 0; i < 100; i++) off.observe("connect");
    assert.equal(off.up, true);
  });

  test("re-admission after backoff × 2^(ejections − 1), capped, reset after staying up maxBackoff", () => {
    const { clock, state, lines } = member({ passive: { errorLimit: 1, backoff: "10s", maxBackoff: "30s" } });
    state.start();
    const ejectAndWait = (ms: number) => {
      state.observe("connect");
      clock.advance(ms - 1);
      assert.equal(state.up, false);
      clock.advance(1);
      assert.equal(state.up, true);
    };
    ejectAndWait(10_000);
    ejectAndWait(20_000);
    ejectAndWait(30_000);
    clock.advance(30_000);
    ejectAndWait(10_000);
    assert.deepEqual(lines.filter((line) => line.includes("UP")), [
      "10000 tc1 UP: re-admitted after 10 s backoff",
      "30000 tc1 UP: re-admitted after 20 s backoff",
      "60000 tc1 UP: re-admitted after 30 s backoff",
      "100000 tc1 UP: re-admitted after 10 s backoff",
    ]);
    assert.equal(state.transitions, 8);
    assert.equal(clock.pending, 0);
    state.stop();
  });

  test("a backoff longer than a web timer can wait (2^31 - 1 ms) still ends on time", () => {
    const { clock, state } = member({ passive: { errorLimit: 1, backoff: "30d", maxBackoff: "30d" } });
    state.start();
    state.observe("connect");
    clock.advance(2 ** 31);
    assert.equal(state.up, false);
    assert.equal(clock.pending, 1);
    clock.advance(30 * 86_400_000 - 2 ** 31);
    assert.equal(state.up, true);
    state.stop();
  });

  test("maybeProbe() re-admits a passively ejected member once its backoff has passed", () => {
    const { clock, state, lines } = member({ passive: { errorLimit: 2 } });
    state.observe("connect");
    state.observe("connect");
    assert.equal(state.up, false);
    assert.equal(clock.pending, 0);
    clock.advance(9999);
    assert.equal(state.maybeProbe(), undefined);
    assert.equal(state.up, false);
    clock.advance(1);
    assert.equal(state.maybeProbe(), undefined);
    assert.equal(state.up, true);
    assert.deepEqual(lines, ["0 tc1 DOWN: 2 consecutive errors (last: connect error)", "10000 tc1 UP: re-admitted after 10 s backoff"]);
  });
});

describe("health: slow start", () => {
  test("weight factor ramps 0.1 → 1 over slowStart after coming back, not at startup", () => {
    const { clock, state } = member({ passive: { errorLimit: 1 }, slowStart: "10s" });
    state.start();
    assert.equal(state.weightFactor(), 1, "members start at full weight");
    state.observe("timeout");
    clock.advance(10_000);
    assert.equal(state.up, true);
    assert.equal(state.weightFactor(), 0.1);
    clock.advance(5000);
    assert.equal(state.weightFactor(), 0.55);
    clock.advance(5000);
    assert.equal(state.weightFactor(), 1);
    state.stop();
  });

  test("slowStart 0 means full weight at once", () => {
    const { clock, state } = member({ passive: { errorLimit: 1 } });
    state.start();
    state.observe("timeout");
    clock.advance(10_000);
    assert.equal(state.up, true);
    assert.equal(state.weightFactor(), 1);
    state.stop();
  });

  test("a verdict followed from worker 0 is a transition marked followed (worker 0 logged it); its own ejection is not", () => {
    const { clock, state, lines } = member({ passive: { errorLimit: 1 } });
    state.follow(false, "1/1 checks failed: connection refused");
    state.follow(false, "1/1 checks failed: connection refused");
    clock.advance(5);
    state.follow(true, "1/1 checks passed (200)");
    clock.advance(5);
    state.observe("connect");
    assert.deepEqual(lines, [
      "0 tc1 DOWN: 1/1 checks failed: connection refused (followed)",
      "5 tc1 UP: 1/1 checks passed (200) (followed)",
      "10 tc1 DOWN: 1 consecutive errors (last: connect error)",
    ]);
  });
});
