import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { type HealthTransition, MemberHealth, type Probe } from "../../../core/health/member-health.ts";
import { HealthSchema } from "../../../core/health/schema.ts";
import { FakeClock } from "../../support/fake-clock.ts";

/** Lets settled probes' continuations run (they are promise callbacks, not clock timers). */
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * A member whose probe passes or fails as `script(n)` says for the n-th check (from 0), unless
 * `probe` makes another one. Random is 0.5 by default: the first check comes at interval / 2 and
 * every later one exactly one interval (fastInterval, downInterval) after the previous ended.
 */
function member(
  health: unknown,
  { script = () => true, random = () => 0.5, probe }: {
    script?: (n: number) => boolean;
    random?: () => number;
    probe?: (clock: FakeClock) => Probe;
  } = {},
) {
  const clock = new FakeClock();
  const checks: number[] = [];
  const lines: string[] = [];
  const scripted: Probe = () => {
    const ok = script(checks.length);
    checks.push(clock.now());
    return Promise.resolve({ ok, reason: ok ? "HTTP 200" : "connection refused", durationMs: 0 });
  };
  const config = v.parse(HealthSchema, health);
  const onTransition = (event: HealthTransition) => lines.push(`${event.at} ${event.line}`);
  const state = new MemberHealth({
    name: "tc1",
    config,
    clock,
    probe: probe ? probe(clock) : scripted,
    random,
    onTransition,
  });
  /** Advances to clock time `to` in steps of 100 ms, letting each check settle where it started. */
  const runTo = async (to: number) => {
    while (clock.now() < to) {
      clock.advance(Math.min(100, to - clock.now()));
      await flush();
    }
  };
  return { clock, state, checks, lines, runTo };
}

const CHECK = { interval: "2s", fastInterval: "500ms", downInterval: "5s", rise: 2, fall: 3 };

describe("health: active checks", () => {
  test("fall: down after exactly `fall` failures, at interval then fastInterval", async () => {
    const { state, checks, lines, runTo } = member({ check: CHECK }, { script: () => false });
    state.start();
    await runTo(1999);
    assert.deepEqual(checks, [1000, 1500]);
    assert.equal(state.up, true, "2 of 3 failures: still up");
    await runTo(2000);
    assert.equal(state.up, false);
    assert.equal(state.since, 2000);
    assert.equal(state.transitions, 1);
    assert.equal(state.reason, "3/3 checks failed: connection refused");
    assert.deepEqual(lines, ["2000 tc1 DOWN: 3/3 checks failed: connection refused"]);
    assert.deepEqual(state.lastCheck, { ok: false, reason: "connection refused", durationMs: 0, at: 2000 });
    await runTo(12_000);
    assert.deepEqual(checks, [1000, 1500, 2000, 7000, 12_000], "downInterval while down");
    state.stop();
  });

  test("rise: up after `rise` passes, at downInterval then fastInterval; then interval", async () => {
    const { state, checks, lines, runTo } = member({ check: CHECK }, { script: (n) => n >= 3 });
    state.start();
    await runTo(7500);
    assert.deepEqual(checks, [1000, 1500, 2000, 7000, 7500]);
    assert.equal(state.up, true);
    assert.deepEqual(lines, [
      "2000 tc1 DOWN: 3/3 checks failed: connection refused",
      "7500 tc1 UP: 2/2 checks passed (HTTP 200)",
    ]);
    assert.equal(state.transitions, 2);
    await runTo(9500);
    assert.deepEqual(checks.slice(5), [9500]);
    state.stop();
  });

  test("a pass in between resets the failure streak, a failure the pass streak", async () => {
    // fail fail PASS fail fail fail (down) pass FAIL pass pass (up)
    const results = [false, false, true, false, false, false, true, false, true, true];
    const { state, checks, lines, runTo } = member({ check: CHECK }, { script: (n) => results[n] ?? true });
    state.start();
    await runTo(5000);
    assert.deepEqual(checks, [1000, 1500, 2000, 4000, 4500, 5000]);
    assert.deepEqual(lines, ["5000 tc1 DOWN: 3/3 checks failed: connection refused"]);
    await runTo(16_000);
    assert.deepEqual(checks.slice(6), [10_000, 10_500, 15_500, 16_000]);
    assert.deepEqual(lines.slice(1), ["16000 tc1 UP: 2/2 checks passed (HTTP 200)"]);
    state.stop();
  });

  test("jitter: first checks spread over the interval, later ones within ±10 %", async () => {
    const firsts = [0, 0.25, 0.75].map((r) => {
      const { clock, state, checks } = member({ check: { interval: "2s" } }, { random: () => r });
      state.start();
      clock.advance(2000);
      state.stop();
      return checks[0];
    });
    assert.deepEqual(firsts, [0, 500, 1500]);
    const randoms = [0.25, 0, 0.75, 0.999];
    let n = 0;
    const { state, checks, runTo } = member({ check: { interval: "2s" } }, { random: () => randoms[n++ % 4] });
    state.start();
    await runTo(6600);
    // 500, then 0.9 × 2000 later, then 1.05 × 2000, then 1.0998 × 2000 (rounded).
    assert.deepEqual(checks, [500, 2300, 4400, 6600]);
    state.stop();
  });

  test("a probe slower than the timeout fails the check at the timeout; its late result is ignored", async () => {
    const signals: AbortSignal[] = [];
    const { state, runTo } = member({ check: { interval: "2s", timeout: "1s" } }, {
      probe: (clock) => (signal) => {
        signals.push(signal!);
        return new Promise((resolve) => {
          clock.setTimer(() => resolve({ ok: true, reason: "HTTP 200", durationMs: 1500 }), 1500);
        });
      },
    });
    state.start();
    await runTo(1999);
    assert.equal(state.lastCheck?.ok, undefined, "no check has ended yet");
    assert.equal(signals[0].aborted, false);
    await runTo(2000);
    assert.deepEqual(state.lastCheck, { ok: false, reason: "timeout after 1000 ms", durationMs: 1000, at: 2000 });
    assert.equal(signals[0].aborted, true, "the probe is told to give up");
    await runTo(3999);
    assert.equal(state.lastCheck?.at, 2000, "the result at 2500 came too late to count");
    assert.equal(signals.length, 1);
    await runTo(4000);
    assert.equal(signals.length, 2, "next check one interval after the timeout");
    state.stop();
  });

  test("a probe that rejects or throws counts as a failed check", async () => {
    const { clock, state } = member({ check: { fall: 1 } }, {
      random: () => 0,
      probe: (clock) => () => {
        if (clock.now() === 0) throw new Error("boom");
        return Promise.reject(new Error("bust"));
      },
    });
    await state.maybeProbe();
    assert.equal(state.reason, "1/1 checks failed: boom");
    assert.deepEqual(state.lastCheck, { ok: false, reason: "boom", durationMs: 0, at: 0 });
    clock.advance(2000);
    await state.maybeProbe();
    assert.deepEqual(state.lastCheck, { ok: false, reason: "bust", durationMs: 0, at: 2000 });
  });

  test("stop() cancels timers and the check in flight; nothing is reported afterwards", async () => {
    const idle = member({ check: CHECK, passive: { errorLimit: 1 } });
    idle.state.start();
    assert.equal(idle.clock.pending, 1);
    idle.state.stop();
    assert.equal(idle.clock.pending, 0);
    idle.state.observe("connect");
    idle.clock.advance(60_000);
    await flush();
    assert.deepEqual(idle.lines, []);
    assert.deepEqual(idle.checks, []);
    assert.equal(idle.state.maybeProbe(), undefined);

    let aborted = false;
    const busy = member({ check: CHECK }, {
      random: () => 0,
      probe: () => (signal) => new Promise(() => signal!.addEventListener("abort", () => aborted = true)),
    });
    busy.state.start();
    busy.clock.advance(0);
    assert.equal(busy.clock.pending, 1, "the check's timeout");
    busy.state.stop();
    assert.equal(busy.clock.pending, 0);
    assert.equal(aborted, true);
  });

  test("requires a probe when checks are configured", () => {
    const config = v.parse(HealthSchema, { check: {} });
    assert.throws(() => new MemberHealth({ name: "tc1", config, clock: new FakeClock() }), TypeError);
  });

  test("with active checks, `rise` passed checks clear a passive ejection (no backoff)", async () => {
    const { clock, state, lines, runTo } = member({ check: CHECK, passive: { errorLimit: 3 } });
    state.start();
    for (let i = 0; i < 3; i++) state.observe("connect");
    assert.equal(state.up, false);
    assert.equal(clock.pending, 1, "only the check timer");
    await runTo(1500);
    assert.deepEqual(lines, [
      "0 tc1 DOWN: 3 consecutive errors (last: connect error)",
      "1500 tc1 UP: 2/2 checks passed (HTTP 200)",
    ]);
    state.stop();
  });
});

describe("health: lazy mode (no timers)", () => {
  test("maybeProbe() runs a check only when one is due, and one at a time", async () => {
    const { clock, state, checks } = member({ check: { interval: "2s" } });
    assert.equal(state.maybeProbe(), undefined, "first check due at 1000");
    clock.advance(1000);
    const running = state.maybeProbe();
    assert.ok(running instanceof Promise);
    assert.equal(state.maybeProbe(), undefined, "already checking");
    await running;
    assert.deepEqual(checks, [1000]);
    assert.equal(state.lastCheck?.at, 1000);
    clock.advance(1999);
    assert.equal(state.maybeProbe(), undefined);
    clock.advance(1);
    await state.maybeProbe();
    assert.deepEqual(checks, [1000, 3000]);
    assert.equal(clock.pending, 0, "no timers in lazy mode");
  });
});
