import { test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { applyOverrides, runtimeOverrides } from "../../../core/balancer/runtime-state.ts";
import { validateConfig } from "../../../core/config/load.ts";
import type { Config } from "../../../core/config/schema.ts";
import { Discovery } from "../../../core/discovery/discovery.ts";
import type { DnsRecord } from "../../../core/discovery/dns-message.ts";
import type { Lookup, Resolve } from "../../../core/discovery/resolver.ts";
import type { RecordType } from "../../../core/discovery/schema.ts";
import { lookupTargets } from "../../../core/discovery/targets.ts";
import { Fields } from "../../../core/http/message.ts";
import { FakeClock } from "../../support/fake-clock.ts";

/** A resolver answering from a table the test edits: name/type -> lookup; every question is recorded. */
function fakeDns() {
  const table = new Map<string, Lookup>();
  const asked: string[] = [];
  const resolve: Resolve = (name, type) => {
    asked.push(`${name} ${type}`);
    return Promise.resolve(table.get(`${name} ${type}`) ?? { outcome: "nx", reason: "NXDOMAIN" });
  };
  const set = (name: string, type: RecordType, records: DnsRecord[], additional: DnsRecord[] = []) =>
    table.set(`${name} ${type}`, records.length === 0 ? { outcome: "nx", reason: "NXDOMAIN" } : { outcome: "ok", records, additional });
  return { resolve, table, asked, set };
}

const a = (address: string, ttl = 60): DnsRecord => ({ type: "a", name: "app.internal", ttl, address });
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function config(discover: Record<string, unknown>, pool: Record<string, unknown> = {}): Config {
  const result = validateConfig({ listeners: [{ address: "127.0.0.1:0" }], accessLog: false, pools: { app: { discover, ...pool } } });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

test("SRV targets take their addresses from the additional section, else from lookups of their own; a failing one fails the lookup", async () => {
  const dns = fakeDns();
  const srv = (target: string, port: number, weight: number, priority = 0): DnsRecord => ({ type: "srv", name: "_http._tcp.app", ttl: 30, priority, weight, port, target });
  dns.set("_http._tcp.app", "srv", [srv("tc1.internal", 8080, 10), srv("tc2.internal", 8081, 0, 1), srv("", 1, 1), srv("gone.internal", 9, 1)], [
    { type: "a", name: "tc1.internal", ttl: 5, address: "10.0.0.1" },
  ]);
  dns.set("tc2.internal", "aaaa", [{ type: "aaaa", name: "tc2.internal", ttl: 20, address: "fd00::2" }]);
  const discover = config({ name: "_http._tcp.app", type: "srv" }).pools.app.discover!;
  assert.deepEqual(await lookupTargets(dns.resolve, discover), {
    outcome: "ok",
    ttl: 5,
    targets: [
      { address: "10.0.0.1", port: 8080, weight: 10, priority: 0 },
      { address: "fd00::2", port: 8081, weight: 1, priority: 1 },
    ],
  });
  assert.ok(!dns.asked.includes("tc1.internal a"), "the additional section spared a lookup");
  dns.table.set("tc2.internal a", { outcome: "timeout", reason: "no answer" });
  assert.deepEqual(await lookupTargets(dns.resolve, discover), { outcome: "timeout", reason: "no answer" });
});

test("lookups follow the TTL under the interval, members change the pools, and a reload or stop ends the old timers", async () => {
  const clock = new FakeClock();
  const dns = fakeDns();
  dns.set("app.internal", "a", [a("10.0.0.5", 2)]);
  const logged: Record<string, unknown>[] = [];
  let changes = 0;
  const discovery = new Discovery({ clock, resolverFor: () => dns.resolve, log: (line) => logged.push(line), onChange: () => changes++ });
  discovery.apply(config({ name: "app.internal", port: 8080, interval: "10s", removeAfter: "5s" }));
  await settle();
  assert.deepEqual(discovery.members("app").map((member) => member.name), ["app-10-0-0-5-8080"]);
  assert.equal(changes, 1);
  assert.deepEqual(logged.at(-1), { event: "dns-members", pool: "app", name: "app.internal", added: ["app-10-0-0-5-8080"], draining: [], removed: [], changed: [] });

  dns.set("app.internal", "a", [a("10.0.0.6", 2)]);
  clock.advance(1999);
  await settle();
  assert.equal(dns.asked.length, 1, "not before the TTL");
  clock.advance(1);
  await settle();
  assert.equal(dns.asked.length, 2);
  assert.deepEqual(logged.at(-1), { event: "dns-members", pool: "app", name: "app.internal", added: ["app-10-0-0-6-8080"], draining: ["app-10-0-0-5-8080"], removed: [], changed: [] });
  // The drained member leaves at removeAfter, between lookups.
  for (let step = 0; step < 5; step++) {
    clock.advance(1000);
    await settle();
  }
  assert.deepEqual(discovery.members("app").map((member) => member.name), ["app-10-0-0-6-8080"]);
  assert.ok(logged.some((line) => (line.removed as string[] | undefined)?.includes("app-10-0-0-5-8080")));

  dns.table.set("app.internal a", { outcome: "timeout", reason: "no answer from 10.0.0.2:53 within 2000 ms" });
  clock.advance(2000);
  await settle();
  assert.deepEqual(logged.at(-1), { event: "dns-lookup", pool: "app", name: "app.internal", outcome: "timeout", reason: "no answer from 10.0.0.2:53 within 2000 ms" });
  assert.equal(discovery.status("app")!.lastOutcome, "timeout");
  assert.equal(discovery.lookups.get("app")!.get("timeout"), 1);

  // A reload with another name starts over, keeping the members until its first answer.
  dns.set("other.internal", "a", [{ ...a("10.0.0.7"), name: "other.internal" }]);
  discovery.apply(config({ name: "other.internal", port: 8080 }));
  await settle();
  assert.deepEqual(discovery.members("app").map((member) => member.name), ["app-10-0-0-6-8080", "app-10-0-0-7-8080"]);
  const asked = dns.asked.length;
  discovery.apply(config({ name: "other.internal", port: 8080 }));
  await settle();
  assert.equal(dns.asked.length, asked, "an unchanged block is left alone");
  discovery.stop();
  assert.equal(clock.pending, 0);
});

test("the balancer's pools take discovered members; a member that stays keeps its state, a drained one its sessions", async () => {
  const clock = new FakeClock();
  const served: string[] = [];
  let discovered = [{ name: "app-10-0-0-5-80", url: "http://10.0.0.5:80", weight: 1, distance: 0, activation: "active" as const, maxconn: 0 }];
  let draining = new Set<string>();
  const cfg = config({ name: "app.internal", port: 80 }, { sticky: { mode: "insert" }, health: { slowStart: "30s" } });
  const balancer = createBalancer(cfg, {
    clock,
    log: () => {},
    discovered: () => discovered,
    dnsDraining: () => draining,
    upstream: (origin) => {
      served.push(origin.hostname);
      return Promise.resolve({ status: 200, fields: new Fields([]), body: new Uint8Array(0) });
    },
  });
  const conn = { remoteAddress: "192.0.2.1", tls: false };
  const first = await balancer.fetch(new Request("http://app/"), conn);
  const cookie = first!.headers.get("set-cookie")!.split(";")[0];
  const kept = balancer.pools.get("app")!.member("app-10-0-0-5-80")!;
  assert.equal(kept.requests, 1);

  discovered = [discovered[0], { name: "app-10-0-0-6-80", url: "http://10.0.0.6:80", weight: 1, distance: 0, activation: "active", maxconn: 0 }];
  draining = new Set(["app-10-0-0-5-80"]);
  balancer.reload(balancer.config);
  assert.equal(balancer.pools.get("app")!.member("app-10-0-0-5-80"), kept, "the same member, counters and all");
  assert.deepEqual([kept.activation, kept.effectiveActivation], ["active", "disabled"], "drained by DNS, its own activation untouched");
  const joined = balancer.pools.get("app")!.member("app-10-0-0-6-80")!;
  assert.equal(joined.weight, 0.1, "a member joining a running pool slow-starts");
  assert.equal(kept.weight, 1, "one that was there from the start does not");
  clock.advance(30_000);
  assert.equal(joined.weight, 1);
  await balancer.fetch(new Request("http://app/", { headers: { cookie } }), conn);
  await balancer.fetch(new Request("http://app/"), conn);
  await balancer.fetch(new Request("http://app/"), conn);
  assert.deepEqual(served, ["10.0.0.5", "10.0.0.5", "10.0.0.6", "10.0.0.6"]);
  assert.equal(kept.requests, 2);
  balancer.close();
});

test("learned sessions survive the pools being rebuilt for a new member, and go with a member that leaves", async () => {
  const clock = new FakeClock();
  const member = (host: number) => ({ name: `app-10-0-0-${host}-80`, url: `http://10.0.0.${host}:80`, weight: 1, distance: 0, activation: "active" as const, maxconn: 0 });
  let discovered = [member(5)];
  const served: string[] = [];
  const balancer = createBalancer(config({ name: "app.internal", port: 80 }, { sticky: { mode: "learn" } }), {
    clock,
    log: () => {},
    discovered: () => discovered,
    upstream: (origin) => {
      served.push(origin.hostname);
      return Promise.resolve({ status: 200, fields: new Fields(["set-cookie", `JSESSIONID=s-${origin.hostname}; Path=/`]), body: new Uint8Array(0) });
    },
  });
  const conn = { remoteAddress: "192.0.2.1", tls: false };
  await balancer.fetch(new Request("http://app/"), conn);
  discovered = [member(5), member(6)];
  balancer.reload(balancer.config);
  assert.equal(balancer.pools.get("app")!.sticky!.table!.size, 1);
  for (let i = 0; i < 4; i++) await balancer.fetch(new Request("http://app/", { headers: { cookie: "JSESSIONID=s-10.0.0.5" } }), conn);
  assert.deepEqual(served, ["10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5"]);
  discovered = [member(6)];
  balancer.reload(balancer.config);
  assert.equal(balancer.pools.get("app")!.sticky!.table!.size, 0, "the entries of a member that left are dropped");
  balancer.close();
});

test("check: a pool needs members or a discover block; a discover block is checked field by field", () => {
  const problems = (pool: Record<string, unknown>) => {
    const result = validateConfig({ listeners: [{ address: "127.0.0.1:0" }], pools: { app: pool } });
    return result.ok ? [] : result.problems.map((problem) => problem.path);
  };
  assert.deepEqual(problems({}), ["pools.app.members"]);
  assert.deepEqual(problems({ discover: { name: "app.internal" } }), ["pools.app.discover.port"]);
  assert.deepEqual(problems({ discover: { name: "_x._tcp.app", type: "srv", port: 80 } }), ["pools.app.discover.port"]);
  assert.deepEqual(problems({ discover: { name: "bad name!", port: 80, nameservers: ["dns.example"], type: "mx", interval: "10ms" } }).sort(), [
    "pools.app.discover.interval",
    "pools.app.discover.name",
    "pools.app.discover.nameservers[0]",
    "pools.app.discover.type",
  ]);
  assert.deepEqual(problems({ discover: { name: "app.internal", port: 80, nameservers: ["10.0.0.2:5353", "[fd00::2]:53", "fd00::3"] } }), []);
});

test("a pool of only a discover block, before any answer: every strategy answers 503, not a crash", async () => {
  for (const strategy of ["roundrobin", "leastconn", "p2c", "hash"]) {
    const balancer = createBalancer(config({ name: "app.internal", port: 80 }, { strategy }), {
      clock: new FakeClock(),
      log: () => {},
      discovered: () => [],
      upstream: () => Promise.reject(new Error("no member to send to")),
    });
    const answer = await balancer.fetch(new Request("http://app/"), { remoteAddress: "192.0.2.1", tls: false });
    assert.equal(answer!.status, 503, strategy);
    balancer.close();
  }
});

/** What serve.ts does when DNS changes the members: pools rebuilt as by a reload, run-time changes put back. */
function followedByBalancer(dns: ReturnType<typeof fakeDns>, clock: FakeClock, cfg: Config) {
  const logged: Record<string, unknown>[] = [];
  const discovery = new Discovery({
    clock,
    resolverFor: () => dns.resolve,
    log: (line) => logged.push(line),
    onChange: () => {
      const overrides = runtimeOverrides(balancer.pools);
      balancer.reload(balancer.config);
      logged.push({ event: "overrides", ...applyOverrides(balancer.pools, overrides) });
    },
  });
  const balancer = createBalancer(cfg, {
    clock,
    log: () => {},
    discovered: (pool) => discovery.members(pool),
    dnsDraining: (pool) => discovery.draining(pool),
    upstream: () => Promise.reject(new Error("not asked")),
  });
  discovery.apply(cfg);
  return { balancer, discovery, logged, member: (name: string) => balancer.pools.get("app")!.member(name)! };
}

test("a DNS drain and revival leave the operator's activation and weight in force; a member left alone is active again", async () => {
  const clock = new FakeClock();
  const dns = fakeDns();
  dns.set("app.internal", "a", [a("10.0.0.5"), a("10.0.0.6"), a("10.0.0.7")]);
  const { balancer, discovery, logged, member } = followedByBalancer(dns, clock, config({ name: "app.internal", port: 80, interval: "1s", removeAfter: "60s" }));
  await settle();
  const pool = balancer.pools.get("app")!;
  const [drained, weighted, leftAlone] = ["app-10-0-0-5-80", "app-10-0-0-6-80", "app-10-0-0-7-80"];
  pool.change(member(drained), { activation: "disabled" });
  pool.change(member(weighted), { weight: 5 });

  dns.set("app.internal", "a", []);
  for (let step = 0; step < 40 && discovery.draining("app").size < 3; step++) {
    clock.advance(1000);
    await settle();
  }
  assert.deepEqual([...discovery.draining("app")].sort(), [drained, weighted, leftAlone], "every record gone (NXDOMAIN past hold.nx)");
  for (const name of [drained, weighted, leftAlone]) assert.equal(pool.takesNew(member(name)), false, `${name} drains`);
  assert.equal(member(leftAlone).effectiveActivation, "disabled", "the API shows the DNS drain");

  dns.set("app.internal", "a", [a("10.0.0.5"), a("10.0.0.6"), a("10.0.0.7")]);
  clock.advance(1000);
  await settle();
  assert.equal(discovery.draining("app").size, 0, "the records are back");
  const now = balancer.pools.get("app")!;
  assert.deepEqual([member(drained).activation, member(drained).effectiveActivation, now.takesNew(member(drained))], ["disabled", "disabled", false], "still drained by the operator");
  assert.equal(member(weighted).configuredWeight, 5, "the operator's weight stands");
  assert.deepEqual([member(leftAlone).effectiveActivation, now.takesNew(member(leftAlone))], ["active", true], "control: no operator drain, active again");
  assert.ok(!logged.some((line) => line.event === "overrides" && (line.fileWins as string[]).length > 0), "a DNS drain is never taken for a file change");
  discovery.stop();
  balancer.close();
});

test("an SRV weight change is the source's change: it wins over the operator's weight, as a file change does", async () => {
  const clock = new FakeClock();
  const dns = fakeDns();
  const srv = (weight: number): DnsRecord => ({ type: "srv", name: "_http._tcp.app", ttl: 60, priority: 0, weight, port: 8080, target: "tc1.internal" });
  const additional = [{ type: "a" as const, name: "tc1.internal", ttl: 60, address: "10.0.0.1" }];
  dns.set("_http._tcp.app", "srv", [srv(10)], additional);
  const { balancer, discovery, logged, member } = followedByBalancer(dns, clock, config({ name: "_http._tcp.app", type: "srv", interval: "1s" }));
  await settle();
  balancer.pools.get("app")!.change(member("app-10-0-0-1-8080"), { weight: 3 });
  dns.set("_http._tcp.app", "srv", [srv(20)], additional);
  clock.advance(1000);
  await settle();
  assert.equal(member("app-10-0-0-1-8080").configuredWeight, 20);
  assert.deepEqual(logged.filter((line) => line.event === "overrides").at(-1), { event: "overrides", applied: [], gone: [], fileWins: ["app/app-10-0-0-1-8080: weight"] });
  discovery.stop();
  balancer.close();
});
