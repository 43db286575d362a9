import { test } from "node:test";
import assert from "node:assert/strict";
import { createAdminControl, workerStats } from "../../core/admin/control.ts";
import type { AdminControl, MemberStatus } from "../../core/admin/model.ts";
import { type Balancer, createBalancer } from "../../core/balancer/balancer.ts";
import { type BalancerMetrics, createBalancerMetrics } from "../../core/balancer/metrics.ts";
import { ReplicaStore } from "../../core/cluster/replication/replica-store.ts";
import { Registry } from "../../core/metrics/registry.ts";
import { type HistoryDocument, mergeHistory } from "../../core/metrics/traffic-history.ts";
import { createWorkerSync, DRAINED_GRACE_MS, STATS_TIMEOUT_MS, type SyncMessage, type WorkerSync } from "../../core/worker-sync.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { MemoryBroadcastHub } from "../support/memory-broadcast.ts";
import { fakeFarm, poolConfig } from "../support/fake-upstream.ts";

interface Worker {
  balancer: Balancer;
  store: ReplicaStore;
  sync: WorkerSync;
  registry: Registry;
  metrics: BalancerMetrics;
  clock: FakeClock;
  reloads: string[];
}

/** Worker `index` of `count` (worker 0 is the lead), wired as serve.ts wires one. */
function startWorker(hub: MemoryBroadcastHub<SyncMessage>, clock: FakeClock, lead: boolean, count = 2, index = lead ? 0 : 1): Worker {
  const config = poolConfig([{ name: "a" }, { name: "b", maxconn: 1 }], { sticky: { mode: "learn" } });
  let sync: WorkerSync | undefined;
  const registry = new Registry();
  const metrics = createBalancerMetrics(registry, () => balancer.pools, clock);
  const balancer: Balancer = createBalancer(config, {
    clock,
    upstream: fakeFarm(["a", "b"]).upstream,
    log: () => {},
    onHealth: (pool, member, transition) => sync?.healthChanged(pool, member, transition.up, transition.reason),
    metrics,
  });
  const store = new ReplicaStore({ node: "lb1", pools: () => balancer.pools, clock });
  store.attach();
  const reloads: string[] = [];
  sync = createWorkerSync({
    worker: { index, count },
    clock,
    store,
    balancer,
    reload: (trigger) => reloads.push(trigger),
    channel: hub.open(),
    stats: (want) => workerStats(want, { registry, balancer, history: metrics.history }),
  });
  return { balancer, store, sync, registry, metrics, clock, reloads };
}

/** Worker 0's admin control over the process (`withWorkers` false: as a process without workers builds it). */
function controlOf(lead: Worker, withWorkers = true): AdminControl {
  return createAdminControl({
    balancer: lead.balancer,
    registry: lead.registry,
    history: lead.metrics.history,
    clock: lead.clock,
    runtime: "test",
    startedAt: 0,
    reloads: () => 0,
    reload: () => Promise.resolve({ ok: true, summary: "" }),
    log: () => {},
    workers: withWorkers ? lead.sync : undefined,
  });
}

async function historyOf(control: AdminControl): Promise<HistoryDocument> {
  const history = await control.history?.();
  assert.ok(history, "the control keeps a history");
  return history;
}

/** `times` requests through a worker; with sticky learn and no cookie they go round robin, a then b. */
async function serveRequests(worker: Worker, times: number, path = "/"): Promise<void> {
  const conn = { remoteAddress: "192.0.2.1", tls: false };
  for (let i = 0; i < times; i++) await (await worker.balancer.fetch(new Request(`http://tandem.test${path}`), conn))!.arrayBuffer();
}

/** A sample's value in Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Lets promise chains settled by the fake clock or a delivery run. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

const memberIn = (status: { pools: { members: MemberStatus[] }[] }, name: string) => status.pools[0].members.find((m) => m.name === name)!;

const table = (worker: Worker) => worker.balancer.pools.get("app")!.sticky!.table!;
const member = (worker: Worker, name: string) => worker.balancer.pools.get("app")!.member(name)!;

test("worker sync: a session learned or deleted in one worker holds in the others, without echo", () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  let posted = 0;
  for (const channel of hub.channels) {
    const post = channel.postMessage.bind(channel);
    channel.postMessage = (message) => (posted++, post(message));
  }
  table(other).set("s1", "b");
  assert.equal(table(lead).peek("s1")?.member, "b");
  assert.equal(table(lead).peek("s1")?.expiresAt, table(other).peek("s1")?.expiresAt, "the same expiry everywhere");
  assert.equal(posted, 1, "applied records are not sent back");
  table(lead).delete("s1");
  assert.equal(table(other).peek("s1"), undefined);
});

test("worker sync: admin changes made on worker 0 apply in every worker", () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  lead.balancer.pools.get("app")!.change(member(lead, "a"), { activation: "disabled" });
  lead.store.adminChanged("app", "a", { activation: "disabled" }, "alice");
  assert.equal(member(other, "a").activation, "disabled");
});

test("worker sync: worker 0's health verdicts are followed; a follower's are not broadcast", () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  lead.sync.healthChanged("app", "b", false, "3/3 checks failed: connection refused");
  assert.equal(member(other, "b").health.up, false);
  assert.match(member(other, "b").health.reason, /connection refused/);
  other.sync.healthChanged("app", "a", false, "passive");
  assert.equal(member(lead, "a").health.up, true);
});

test("worker sync: a (re)started worker says hello and gets every session, admin change and health state", () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const lead = startWorker(hub, clock, true);
  for (let i = 0; i < 2_500; i++) table(lead).set(`s${i}`, i % 2 ? "a" : "b");
  lead.balancer.pools.get("app")!.change(member(lead, "b"), { weight: 7 });
  lead.store.adminChanged("app", "b", { weight: 7 }, "alice");
  member(lead, "a").health.follow(false, "checks failed");
  const late = startWorker(hub, clock, false);
  assert.equal(table(late).size, 2_500);
  assert.equal(table(late).peek("s7")?.member, "a");
  assert.equal(member(late, "b").configuredWeight, 7);
  assert.equal(member(late, "a").health.up, false);
});

test("worker sync: an admin-API reload on worker 0 reloads the others; close stops both directions", () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  lead.sync.reloaded("admin API (alice)");
  assert.deepEqual(other.reloads, ["admin API (alice)"]);
  assert.deepEqual(lead.reloads, []);
  other.sync.close();
  table(lead).set("s9", "a");
  assert.equal(table(other).peek("s9"), undefined);
});

test("worker sync, flush: it resolves once every other worker applied what worker 0 sent before (an http-01 answer); a silent one holds it for the bound only", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, one] = [startWorker(hub, clock, true, 3), startWorker(hub, clock, false, 3, 1)];
  hub.held = [];
  lead.store.acmeChanged("http-01 tok", "tok.thumbprint");
  let done = false;
  void lead.sync.flushed(5000).then(() => (done = true));
  await settled();
  assert.equal(one.store.acmeValue("http-01 tok"), undefined, "not delivered yet");
  assert.equal(done, false);
  hub.release();
  assert.equal(one.store.acmeValue("http-01 tok"), "tok.thumbprint");
  await settled();
  assert.equal(done, false, "worker 2 never answers");
  clock.advance(5000);
  await settled();
  assert.equal(done, true);

  const pairHub = new MemoryBroadcastHub<SyncMessage>();
  const [pairLead, pairOther] = [startWorker(pairHub, clock, true), startWorker(pairHub, clock, false)];
  pairHub.held = [];
  let pairDone = false;
  void pairLead.sync.flushed(5000).then(() => (pairDone = true));
  await settled();
  assert.equal(pairDone, false, "control: held until the other worker gets it");
  pairHub.release();
  await settled();
  assert.equal(pairDone, true, "every other worker answered: no wait for the bound");
  assert.equal(clock.pending, 0, "no bound timer left behind");
  let followerDone = false;
  void pairOther.sync.flushed(5000).then(() => (followerDone = true));
  await settled();
  assert.equal(followerDone, true, "only worker 0 waits");
});

test("worker sync: worker 0 hears which workers still serve an ACME placeholder, again after it restarts; a restarted worker corrects its predecessor", () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  let lead = startWorker(hub, clock, true);
  let other = startWorker(hub, clock, false);
  assert.equal(lead.sync.othersServeCertificates(), true, "nothing said: nothing to wait for");
  other.sync.certificatesServed(false);
  assert.equal(lead.sync.othersServeCertificates(), false);
  lead.sync.certificatesServed(false);
  lead.sync.close();
  lead = startWorker(hub, clock, true);
  assert.equal(lead.sync.othersServeCertificates(), false, "said again to the restarted worker 0");
  other.sync.certificatesServed(true);
  assert.equal(lead.sync.othersServeCertificates(), true);
  other.sync.certificatesServed(false);
  other.sync.close();
  other = startWorker(hub, clock, false);
  assert.equal(lead.sync.othersServeCertificates(), false, "control: the crashed worker's word stands until its successor speaks");
  other.sync.certificatesServed(true);
  assert.equal(lead.sync.othersServeCertificates(), true, "the restarted worker's first word is sent although it says \"serving\"");
});

test("worker sync: worker 0 gathers every other worker's stats, at once when all answered", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, one] = [startWorker(hub, clock, true, 3), startWorker(hub, clock, false, 3, 1), startWorker(hub, clock, false, 3, 2)];
  await serveRequests(one, 2);
  const answers = await lead.sync.gather("status");
  assert.deepEqual(answers.map((answer) => answer.worker), [1, 2]);
  assert.deepEqual(answers[0].stats.pools?.[0].members.map((m) => m.requests), [1, 1]);
  assert.equal(answers[0].stats.metrics, undefined, "a status request carries no registry");
  assert.ok((await lead.sync.gather("metrics")).every((answer) => Array.isArray(answer.stats.metrics)));
  assert.deepEqual(await one.sync.gather("status"), [], "only worker 0 gathers");
  assert.equal(clock.pending, 0, "no bound timer left behind");
});

test("worker sync: a worker that does not answer is left out after the bound, never waited for longer", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const lead = startWorker(hub, clock, true, 3);
  startWorker(hub, clock, false, 3, 1);
  // Worker 2 is restarting: nothing answers for it. Answers from no worker of this process, or a
  // second one from worker 1, do not make up for it.
  const impostor = hub.open();
  impostor.addEventListener("message", ({ data }) => {
    if (data.type !== "stats-request") return;
    impostor.postMessage({ type: "stats", id: data.id, worker: 7, stats: {} });
    impostor.postMessage({ type: "stats", id: data.id, worker: 0, stats: {} });
    impostor.postMessage({ type: "stats", id: data.id, worker: 1, stats: {} });
  });
  let settled = false;
  const gathering = lead.sync.gather("metrics").then((answers) => ((settled = true), answers));
  clock.advance(STATS_TIMEOUT_MS - 1);
  await Promise.resolve();
  assert.equal(settled, false, "still within the bound");
  clock.advance(1);
  assert.deepEqual((await gathering).map((answer) => answer.worker), [1]);
  assert.equal(clock.pending, 0);
});

test("worker sync, shutdown: worker 0 waits for every other worker's drain, whose last sessions came first; a silent one only until the deadline", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, one, two] = [startWorker(hub, clock, true, 3), startWorker(hub, clock, false, 3, 1), startWorker(hub, clock, false, 3, 2)];
  const drainDeadline = clock.now() + 1_000;
  const waitOf = (worker: Worker) => {
    const outcome = { done: false, sessionsThen: [] as string[] };
    void worker.sync.drained(drainDeadline).then(() => {
      outcome.done = true;
      outcome.sessionsThen = ["last-of-one", "last-of-two"].filter((key) => table(lead).peek(key) !== undefined);
    });
    return outcome;
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  const lead0 = waitOf(lead);
  table(one).set("last-of-one", "a");
  await one.sync.drained(drainDeadline);
  await settle();
  assert.equal(lead0.done, false, "worker 2 is still draining");
  table(two).set("last-of-two", "b");
  await two.sync.drained(drainDeadline);
  await settle();
  assert.deepEqual(lead0, { done: true, sessionsThen: ["last-of-one", "last-of-two"] }, "done once both said so, their sessions already in");

  // The control: a worker that never says it drained (it crashed) holds worker 0 until the deadline and the grace.
  const hub2 = new MemoryBroadcastHub<SyncMessage>();
  const lead2 = startWorker(hub2, clock, true, 2);
  startWorker(hub2, clock, false, 2, 1);
  const waiting = waitOf(lead2);
  clock.advance(drainDeadline + DRAINED_GRACE_MS - clock.now() - 1);
  await settle();
  assert.equal(waiting.done, false);
  clock.advance(1);
  await settle();
  assert.equal(waiting.done, true);
});

test("admin control with workers: /metrics adds counters, histograms and in-flight counts up; state is worker 0's", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const workers = [startWorker(hub, clock, true, 3), startWorker(hub, clock, false, 3, 1), startWorker(hub, clock, false, 3, 2)];
  const [lead, one, two] = workers;
  await serveRequests(lead, 2);
  await serveRequests(one, 4);
  await serveRequests(two, 6);
  // Worker 1 holds a slot on b (maxconn 1) and queues a second request; worker 2 holds one too.
  const poolOf = (worker: Worker) => worker.balancer.pools.get("app")!;
  poolOf(one).acquire(member(one, "b"), false);
  void poolOf(one).acquire(member(one, "b"), false);
  poolOf(two).acquire(member(two, "b"), false);
  // Worker 1's own view of b differs from worker 0's (it has not heard of the checks yet); worker 0's counts.
  member(one, "b").health.follow(false, "passive");
  member(two, "b").configuredWeight = 9;
  for (const worker of workers) worker.registry.counter("tandem_test_reloads", "test", [], { merge: "lead" }).inc([], 1);

  const text = await controlOf(lead).metrics();
  assert.equal(sample(text, 'tandem_requests_total{pool="app",member="a",code="2xx"}'), 6);
  assert.equal(sample(text, 'tandem_requests_total{pool="app",member="b",code="2xx"}'), 6);
  assert.equal(sample(text, 'tandem_request_duration_seconds_count{pool="app"}'), 12);
  assert.equal(sample(text, 'tandem_request_duration_seconds_bucket{pool="app",le="0.005"}'), 12);
  assert.equal(sample(text, 'tandem_active_requests{pool="app",member="b"}'), 2);
  assert.equal(sample(text, 'tandem_queue_length{pool="app"}'), 1);
  assert.equal(sample(text, 'tandem_member_up{pool="app",member="b"}'), 1, "worker 0 decides health");
  assert.equal(sample(text, 'tandem_member_effective_weight{pool="app",member="b"}'), 1);
  assert.equal(sample(text, "tandem_test_reloads"), 1, "a lead counter is not multiplied by the workers");
  assert.equal(sample(text, "tandem_workers"), 3);
  assert.equal(sample(text, "tandem_workers_reporting"), 3);
});

test("admin control with workers: the status document sums member counters and pools latency samples", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, one] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  // Round robin in each worker: a and b get 1 request in worker 0 and 2 in worker 1, each 0 ms (the clock stands still).
  await serveRequests(lead, 2);
  await serveRequests(one, 4);
  member(one, "a").failures = 2;
  member(one, "b").active = 4;
  // a's samples: 0, 10, 10, 10 in worker 0; 0, 0 and six of 100 in worker 1. Pooled, the median is
  // 10 and p99 100; the mean of the workers' medians (10 and 100) would say 55.
  for (let i = 0; i < 3; i++) member(lead, "a").latency.record(10);
  for (let i = 0; i < 6; i++) member(one, "a").latency.record(100);
  member(one, "b").health.follow(false, "passive");
  member(one, "a").activation = "stopped";
  const control = controlOf(lead);

  const status = await control.status();
  assert.deepEqual(status.workers, { count: 2, reporting: 2, missing: [] });
  const a = memberIn(status, "a");
  assert.deepEqual([a.requests, a.failures, a.responses["2xx"]], [3, 2, 3]);
  assert.equal(a.p50Ms, 10);
  assert.equal(a.p99Ms, 100);
  assert.equal(a.activation, "active", "activation is worker 0's");
  const b = memberIn(status, "b");
  assert.deepEqual([b.requests, b.active, b.state], [3, 4, "up"]);

  const patched = await control.setMember("app", "b", { weight: 5 }, "alice");
  assert.deepEqual([patched.requests, patched.active, patched.weight], [3, 4, 5], "the PATCH answer shows the process too");
});

test("admin control with workers: the charts' history holds every worker's requests, interval by interval", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  // 1 s into an interval, so each burst lands in one interval.
  const clock = new FakeClock(1_700_000_001_000);
  const [lead, one] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  const control = controlOf(lead);
  await serveRequests(lead, 2);
  await serveRequests(one, 5);
  const running = (await historyOf(control)).pools[0];
  assert.equal(running.requests.reduce((sum, n) => sum + n, 0), 0, "the interval still running is not shown");
  clock.advance(5_000);
  await serveRequests(one, 3);
  clock.advance(5_000);
  const history = await historyOf(control);
  const app = history.pools[0];
  assert.equal(app.name, "app");
  assert.deepEqual(app.requests.slice(-2), [7, 3], "worker 0's 2 and worker 1's 5, then worker 1's 3");
  assert.equal(app.requests.reduce((sum, n) => sum + n, 0), 10);
  assert.equal(history.start + app.requests.length * history.intervalMs, Math.floor(clock.now() / history.intervalMs) * history.intervalMs);
  assert.ok(app.p99Ms.at(-1) !== null && app.p99Ms.at(-3) === null);

  // Without worker 1's answer its requests are missing: the control above is not vacuous.
  const alone = mergeHistory(["app"], clock.now(), [lead.metrics.history.snapshot()]);
  assert.equal(alone.pools[0].requests.reduce((sum, n) => sum + n, 0), 2);
});

test("admin control with workers: a silent worker is left out and the answer says so", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, one] = [startWorker(hub, clock, true, 3), startWorker(hub, clock, false, 3, 1)];
  await serveRequests(lead, 2);
  await serveRequests(one, 2);
  const control = controlOf(lead);
  const metrics = control.metrics();
  const status = control.status();
  clock.advance(STATS_TIMEOUT_MS);
  const text = await metrics;
  assert.equal(sample(text, "tandem_workers"), 3);
  assert.equal(sample(text, "tandem_workers_reporting"), 2);
  assert.equal(sample(text, 'tandem_requests_total{pool="app",member="a",code="2xx"}'), 2);
  const document = await status;
  assert.deepEqual(document.workers, { count: 3, reporting: 2, missing: [2] });
  assert.equal(memberIn(document, "a").requests, 2);
});

test("admin control without workers: the process is this thread", async () => {
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const clock = new FakeClock(1_700_000_000_000);
  const lead = startWorker(hub, clock, true, 1);
  await serveRequests(lead, 2);
  const control = controlOf(lead, false);
  assert.deepEqual((await control.status()).workers, { count: 1, reporting: 1, missing: [] });
  const text = await control.metrics();
  assert.equal(sample(text, "tandem_workers_reporting"), 1);
  assert.equal(sample(text, 'tandem_requests_total{pool="app",member="a",code="2xx"}'), 1);
  assert.equal(clock.pending, 0);
});
