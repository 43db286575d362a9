import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { type StickChange, StickTable } from "../../../core/stick-table/stick-table.ts";
import { FakeClock } from "../../support/fake-clock.ts";

function table(size: number, ttl: number) {
  const clock = new FakeClock(1000);
  const stick = new StickTable({ size, ttl, clock });
  const changes: StickChange[] = [];
  stick.subscribe((change) => changes.push(change));
  return { clock, stick, changes };
}

const all = (stick: StickTable) => stick.entries(0, Infinity).map((e) => `${e.key}=${e.member}`);

describe("FakeClock", () => {
  test("fires due timers in time order during advance, including ones set meanwhile", () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimer(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimer(() => {
      fired.push(`a@${clock.now()}`);
      clock.setTimer(() => fired.push(`c@${clock.now()}`), 5);
    }, 10);
    const cancel = clock.setTimer(() => fired.push("cancelled"), 15);
    clock.setTimer(() => fired.push("late"), 100);
    cancel();
    clock.advance(30);
    assert.deepEqual(fired, ["a@10", "c@15", "b@20"]);
    assert.equal(clock.now(), 30);
    assert.equal(clock.pending, 1);
  });
});

describe("StickTable", () => {
  test("rejects a size or ttl that cannot work", () => {
    const clock = new FakeClock();
    assert.throws(() => new StickTable({ size: 0, ttl: 1000, clock }), RangeError);
    assert.throws(() => new StickTable({ size: 10, ttl: 0, clock }), RangeError);
  });

  test("entries expire ttl ms after their last use", () => {
    const { clock, stick } = table(10, 100);
    stick.set("s1", "a");
    clock.advance(99);
    assert.equal(stick.get("s1"), "a");
    clock.advance(99);
    assert.equal(stick.get("s1"), "a", "get refreshed the ttl");
    clock.advance(100);
    assert.equal(stick.size, 0);
    assert.equal(stick.get("s1"), undefined);
  });

  test("evicts the least recently used entry when full", () => {
    const { stick, changes } = table(3, 1000);
    stick.set("s1", "a");
    stick.set("s2", "b");
    stick.set("s3", "c");
    stick.get("s1");
    stick.set("s2", "b2");
    stick.set("s4", "d");
    assert.deepEqual(all(stick), ["s1=a", "s2=b2", "s4=d"]);
    assert.deepEqual(changes.at(-2), { type: "delete", key: "s3", reason: "evicted" });
    assert.equal(stick.size, 3);
  });

  test("the change feed reports set, update, delete, evict and expire in order", () => {
    const { clock, stick, changes } = table(2, 100);
    stick.set("s1", "a");
    stick.set("s1", "b");
    stick.set("s2", "c");
    stick.set("s3", "d");
    assert.equal(stick.delete("s2"), true);
    assert.equal(stick.delete("s2"), false);
    clock.advance(100);
    assert.equal(stick.get("s3"), undefined);
    assert.deepEqual(changes, [
      { type: "set", key: "s1", member: "a", expiresAt: 1100 },
      { type: "set", key: "s1", member: "b", expiresAt: 1100 },
      { type: "set", key: "s2", member: "c", expiresAt: 1100 },
      { type: "delete", key: "s1", reason: "evicted" },
      { type: "set", key: "s3", member: "d", expiresAt: 1100 },
      { type: "delete", key: "s2", reason: "deleted" },
      { type: "delete", key: "s3", reason: "expired" },
    ]);
  });

  test("an expired entry is reported as expired, not evicted, when its slot is reused", () => {
    const { clock, stick, changes } = table(1, 100);
    stick.set("s1", "a");
    clock.advance(100);
    stick.set("s2", "b");
    assert.deepEqual(changes.at(-2), { type: "delete", key: "s1", reason: "expired" });
  });

  test("a refresh by get is announced once it has moved expiry by half a ttl", () => {
    const { clock, stick, changes } = table(10, 100);
    stick.set("s1", "a");
    clock.advance(40);
    stick.get("s1");
    assert.equal(changes.length, 1, "a small refresh is not worth a replication message");
    clock.advance(10);
    stick.get("s1");
    assert.deepEqual(changes.at(-1), { type: "set", key: "s1", member: "a", expiresAt: 1150 });
    clock.advance(49);
    stick.get("s1");
    assert.equal(changes.length, 2);
  });

  test("unsubscribe stops the feed", () => {
    const { stick, changes } = table(10, 100);
    const more: StickChange[] = [];
    const unsubscribe = stick.subscribe((change) => more.push(change));
    stick.set("s1", "a");
    unsubscribe();
    stick.set("s2", "b");
    assert.equal(more.length, 1);
    assert.equal(changes.length, 2);
  });

  test("deleteMember removes every entry of that member", () => {
    const { stick, changes } = table(10, 100);
    for (const [key, member] of [["s1", "a"], ["s2", "b"], ["s3", "a"], ["s4", "c"]]) stick.set(key, member);
    assert.equal(stick.deleteMember("a"), 2);
    assert.equal(stick.deleteMember("z"), 0);
    assert.deepEqual(all(stick), ["s2=b", "s4=c"]);
    assert.deepEqual(changes.slice(-2), [
      { type: "delete", key: "s1", reason: "deleted" },
      { type: "delete", key: "s3", reason: "deleted" },
    ]);
  });

  test("entries pages through live entries oldest first, skipping expired ones", () => {
    const { clock, stick } = table(100, 100);
    for (let i = 0; i < 5; i++) stick.set(`old${i}`, "a");
    clock.advance(50);
    for (let i = 0; i < 7; i++) stick.set(`new${i}`, "b");
    clock.advance(50);
    assert.equal(stick.size, 7);
    assert.deepEqual(stick.entries(0, 3).map((e) => e.key), ["new0", "new1", "new2"]);
    assert.deepEqual(stick.entries(3, 3).map((e) => e.key), ["new3", "new4", "new5"]);
    assert.deepEqual(stick.entries(6, 3), [{ key: "new6", member: "b", expiresAt: 1150 }]);
    assert.deepEqual(stick.entries(9, 3), []);
  });

  test("sweep drops expired entries and reports each", () => {
    const { clock, stick, changes } = table(100, 100);
    stick.set("s1", "a");
    stick.set("s2", "a");
    clock.advance(60);
    stick.set("s3", "b");
    clock.advance(40);
    assert.equal(stick.sweep(), 2);
    assert.equal(stick.sweep(), 0);
    assert.deepEqual(all(stick), ["s3=b"]);
    assert.deepEqual(changes.slice(-2).map((c) => c.type === "delete" && c.reason), ["expired", "expired"]);
  });

  test("property: behaves like a reference model, and a replica fed by the change feed agrees", () => {
    const key = fc.constantFrom("k1", "k2", "k3", "k4", "k5", "k6");
    const member = fc.constantFrom("a", "b", "c");
    const op = fc.oneof(
      { arbitrary: fc.record({ op: fc.constant("set" as const), key, member }), weight: 3 },
      { arbitrary: fc.record({ op: fc.constant("get" as const), key }), weight: 3 },
      fc.record({ op: fc.constant("delete" as const), key }),
      fc.record({ op: fc.constant("deleteMember" as const), member }),
      fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 70 }) }),
      fc.record({ op: fc.constant("sweep" as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 80, size: "max" }), (size, ops) => {
        const ttl = 100;
        const { clock, stick, changes } = table(size, ttl);
        // Reference: an array in least-recently-used order, searched linearly.
        let model: { key: string; member: string; expiresAt: number }[] = [];
        const live = () => model.filter((e) => e.expiresAt > clock.now());
        for (const step of ops) {
          const now = clock.now();
          const found = "key" in step ? model.find((e) => e.key === step.key) : undefined;
          if (step.op === "set") {
            if (found) model = model.filter((e) => e !== found);
            else if (model.length >= size) model.shift();
            model.push({ key: step.key, member: step.member, expiresAt: now + ttl });
            stick.set(step.key, step.member);
          } else if (step.op === "get") {
            let expected: string | undefined;
            if (found) {
              model = model.filter((e) => e !== found);
              if (found.expiresAt > now) {
                expected = found.member;
                model.push({ ...found, expiresAt: now + ttl });
              }
            }
            assert.equal(stick.get(step.key), expected);
          } else if (step.op === "delete") {
            model = model.filter((e) => e !== found);
            assert.equal(stick.delete(step.key), found !== undefined && found.expiresAt > now);
          } else if (step.op === "deleteMember") {
            const kept = model.filter((e) => e.member !== step.member);
            assert.equal(stick.deleteMember(step.member), model.length - kept.length);
            model = kept;
          } else if (step.op === "advance") {
            clock.advance(step.ms);
          } else {
            const kept = live();
            assert.equal(stick.sweep(), model.length - kept.length);
            model = kept;
          }
          assert.equal(stick.size, live().length);
          assert.deepEqual(stick.entries(0, Infinity), live());
        }
        stick.sweep();
        const replica = new Map<string, { member: string; expiresAt: number }>();
        for (const change of changes) {
          if (change.type === "set") replica.set(change.key, change);
          else replica.delete(change.key);
        }
        assert.deepEqual([...replica.keys()].sort(), live().map((e) => e.key).sort());
        for (const entry of live()) {
          const copy = replica.get(entry.key)!;
          assert.equal(copy.member, entry.member);
          assert.ok(copy.expiresAt > entry.expiresAt - ttl / 2, "replica expiry lags by less than ttl/2");
        }
      }),
      { numRuns: 200 },
    );
  });
});
