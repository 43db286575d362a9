import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { DiscoveredMembers } from "../../../core/discovery/discovered-members.ts";
import { DiscoverSchema } from "../../../core/discovery/schema.ts";
import type { Target, TargetLookup } from "../../../core/discovery/targets.ts";

const config = (extra: Record<string, unknown> = {}) =>
  v.parse(DiscoverSchema, { name: "app.internal", port: 8080, hold: { valid: "10s", nx: "30s" }, removeAfter: "20s", ...extra });
const target = (address: string, extra: Partial<Target> = {}): Target => ({ address, port: 8080, weight: 1, priority: 0, ...extra });
const ok = (targets: Target[], ttl = 60): TargetLookup => ({ outcome: "ok", targets, ttl });
/** A drain is the draining() set's, never the member's activation (that one is the operator's). */
const summary = (discovered: DiscoveredMembers) =>
  discovered.members().map((member) => {
    assert.equal(member.activation, "active", member.name);
    return `${member.name} ${member.url} w${member.weight} d${member.distance} ${discovered.draining().has(member.name) ? "draining" : "active"}`;
  });

test("records become members named by address and port; the same answer again changes nothing", () => {
  const discovered = new DiscoveredMembers("app", config());
  assert.equal(discovered.record(ok([target("10.0.0.6"), target("10.0.0.5")]), 0), true);
  assert.deepEqual(summary(discovered), [
    "app-10-0-0-5-8080 http://10.0.0.5:8080 w1 d0 active",
    "app-10-0-0-6-8080 http://10.0.0.6:8080 w1 d0 active",
  ]);
  const before = discovered.members();
  assert.equal(discovered.record(ok([target("10.0.0.5"), target("10.0.0.6")]), 5000), false);
  assert.equal(discovered.members(), before);
});

test("a vanished record drains, comes back if it returns, and leaves after removeAfter", () => {
  const discovered = new DiscoveredMembers("app", config());
  discovered.record(ok([target("10.0.0.5"), target("10.0.0.6")]), 0);
  assert.equal(discovered.record(ok([target("10.0.0.5")]), 1000), true);
  assert.deepEqual(summary(discovered).map((line) => line.split(" ").at(-1)), ["active", "draining"]);
  assert.equal(discovered.nextExpiry, 21_000);
  assert.equal(discovered.record(ok([target("10.0.0.5"), target("10.0.0.6")]), 2000), true, "back while draining");
  assert.deepEqual(summary(discovered).map((line) => line.split(" ").at(-1)), ["active", "active"]);
  discovered.record(ok([target("10.0.0.5")]), 3000);
  assert.equal(discovered.expire(22_999), false);
  assert.equal(discovered.expire(23_000), true);
  assert.deepEqual(summary(discovered), ["app-10-0-0-5-8080 http://10.0.0.5:8080 w1 d0 active"]);
  assert.equal(discovered.nextExpiry, undefined);
});

test("failed lookups keep the last good answer for hold.valid, NXDOMAIN for hold.nx", () => {
  const failing = new DiscoveredMembers("app", config());
  failing.record(ok([target("10.0.0.5")]), 0);
  assert.equal(failing.record({ outcome: "timeout", reason: "no answer" }, 9_999), false);
  assert.equal(failing.record({ outcome: "servfail", reason: "SERVFAIL" }, 10_000), true);
  assert.deepEqual(summary(failing).map((line) => line.split(" ").at(-1)), ["draining"]);
  assert.equal(failing.status().lastOutcome, "servfail");
  assert.equal(failing.status().lastReason, "SERVFAIL");

  const gone = new DiscoveredMembers("app", config());
  gone.record(ok([target("10.0.0.5")]), 0);
  assert.equal(gone.record({ outcome: "nx", reason: "NXDOMAIN" }, 29_999), false);
  assert.equal(gone.record({ outcome: "nx", reason: "NXDOMAIN" }, 30_000), true);
  assert.deepEqual(summary(gone).map((line) => line.split(" ").at(-1)), ["draining"]);
  assert.equal(gone.record({ outcome: "nx", reason: "NXDOMAIN" }, 50_000), true, "removed after removeAfter");
  assert.deepEqual(summary(gone), []);

  const never = new DiscoveredMembers("app", config());
  assert.equal(never.record({ outcome: "timeout", reason: "no answer" }, 100_000), false);
});

test("servers caps the members; those serving keep their slots when the answer grows", () => {
  const discovered = new DiscoveredMembers("app", config({ servers: 2 }));
  discovered.record(ok([target("10.0.0.9"), target("10.0.0.8")]), 0);
  discovered.record(ok([target("10.0.0.1"), target("10.0.0.8"), target("10.0.0.9")]), 1000);
  assert.deepEqual(summary(discovered).map((line) => line.split(" ")[0]), ["app-10-0-0-8-8080", "app-10-0-0-9-8080"]);
  discovered.record(ok([target("10.0.0.1"), target("10.0.0.9")]), 2000);
  assert.deepEqual(summary(discovered).map((line) => line.split(" ").slice(0, 1).concat(line.split(" ").at(-1)!).join(" ")), [
    "app-10-0-0-1-8080 active",
    "app-10-0-0-8-8080 draining",
    "app-10-0-0-9-8080 active",
  ]);
});

test("SRV weight, priority and port: a weight change keeps the member, a port change is another member; IPv6 names and URLs", () => {
  const discovered = new DiscoveredMembers("svc", config({ type: "srv", port: undefined, scheme: "https" }));
  discovered.record(ok([target("2001:db8::5", { port: 8443, weight: 10, priority: 1 })]), 0);
  assert.deepEqual(summary(discovered), ["svc-2001-db8--5-8443 https://[2001:db8::5]:8443 w10 d1 active"]);
  assert.equal(discovered.record(ok([target("2001:db8::5", { port: 8443, weight: 30, priority: 1 })]), 1000), true);
  assert.deepEqual(summary(discovered), ["svc-2001-db8--5-8443 https://[2001:db8::5]:8443 w30 d1 active"]);
  discovered.record(ok([target("2001:db8::5", { port: 9443, weight: 30, priority: 1 })]), 2000);
  assert.deepEqual(summary(discovered).map((line) => line.split(" ").slice(0, 1).concat(line.split(" ").at(-1)!).join(" ")), [
    "svc-2001-db8--5-8443 draining",
    "svc-2001-db8--5-9443 active",
  ]);
});

test("the next lookup comes after the interval, or the TTL when lower, never under a second", () => {
  const discovered = new DiscoveredMembers("app", config({ interval: "5s" }));
  assert.equal(discovered.nextLookupIn(), 5000);
  discovered.record(ok([target("10.0.0.5")], 2), 0);
  assert.equal(discovered.nextLookupIn(), 2000);
  discovered.record(ok([target("10.0.0.5")], 0), 1);
  assert.equal(discovered.nextLookupIn(), 1000);
  discovered.record(ok([target("10.0.0.5")], 300), 2);
  assert.equal(discovered.nextLookupIn(), 5000);
  discovered.record({ outcome: "timeout", reason: "x" }, 3);
  assert.equal(discovered.nextLookupIn(), 5000);
});

test("a reload's new block takes over the members of the old one", () => {
  const before = new DiscoveredMembers("app", config());
  before.record(ok([target("10.0.0.5")]), 0);
  const after = new DiscoveredMembers("app", config({ interval: "2s" }), before);
  assert.deepEqual(summary(after), ["app-10-0-0-5-8080 http://10.0.0.5:8080 w1 d0 active"]);
});
