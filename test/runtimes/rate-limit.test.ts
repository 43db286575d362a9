/**
 * Rate limits end to end on the real program (README "Rate limits"): concurrent clients get
 * exactly their budget and 429 with Retry-After beyond it, each key its own; requests in flight
 * capped per key; `workers: 2` spend one budget (the second worker leases from worker 0); two
 * clustered nodes spend one budget for a client that alternates between them.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { get, type IncomingHttpHeaders } from "node:http";
import { describe, test } from "node:test";
import { type Backend, startBackend } from "../support/backends.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { startTandem, type TandemProcess } from "../support/tandem.ts";

const LIMIT = { timeout: 120_000 };
const CLUSTER_KEY = "the cluster's shared key, 32+ characters long";

/** One GET on a connection of its own (no keep-alive), so `workers: N` spreads them as the kernel does. */
function fetchFresh(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, headers }, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers }));
    });
    request.on("error", reject);
    request.setTimeout(30_000, () => request.destroy(new Error(`no answer from ${url} within 30 s`)));
  });
}

/** `clients` clients at once, each sending `each` requests one after another; every answer. */
async function burst(url: string, clients: number, each: number, headers: (client: number) => Record<string, string> = () => ({})) {
  const answers = await Promise.all(Array.from({ length: clients }, async (_, client) => {
    const mine: { status: number; headers: IncomingHttpHeaders }[] = [];
    for (let i = 0; i < each; i++) mine.push(await fetchFresh(url, headers(client)));
    return mine;
  }));
  return answers.flat();
}

const count = (answers: { status: number }[], status: number) => answers.filter((answer) => answer.status === status).length;

async function adminJson(tandem: { admin: string }, path: string) {
  const response = await fetch(`${tandem.admin}${path}`);
  assert.equal(response.status, 200, path);
  return await response.json();
}

function metric(text: string, line: string): number {
  const found = text.split("\n").find((candidate) => candidate.startsWith(`${line} `));
  return found === undefined ? NaN : Number(found.slice(line.length + 1));
}

/** Starts tandem and waits until every worker listens: one that starts late would leave the others all the traffic. */
async function start(config: Record<string, unknown>): Promise<{ process: TandemProcess; admin: string }> {
  const process = await startTandem({ accessLog: false, admin: { address: "127.0.0.1:0" }, ...config });
  const line = await process.waitForLine((l) => l.event === "admin-listening");
  for (let worker = 1; worker < ((config.workers as number | undefined) ?? 1); worker++) {
    await process.waitForLine((l) => l.event === "listening" && l.worker === worker);
  }
  return { process, admin: `http://${line.address}` };
}

describe("rate limits", () => {
  test("concurrent clients get exactly the budget within the window, then 429 with Retry-After; the admin API and metrics count them", LIMIT, async () => {
    const backend = await startBackend("m1");
    const tandem = await start({
      listeners: [{ address: "127.0.0.1:0", rules: [{ rateLimit: "per-client" }] }],
      rateLimits: { "per-client": { requests: 50, per: "1m" } },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    });
    try {
      // 10 clients × 15 requests = 150 against a budget of 50 per minute.
      const answers = await burst(`${tandem.process.url}/`, 10, 15);
      assert.equal(count(answers, 200), 50);
      assert.equal(count(answers, 429), 100);
      for (const answer of answers.filter((answer) => answer.status === 429)) {
        const retryAfter = Number(answer.headers["retry-after"]);
        assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 120, `Retry-After ${answer.headers["retry-after"]}`);
      }
      const status = await adminJson(tandem, "/api/v1/rate-limits?top=5");
      const perClient = status.limits.find((limit: { name: string }) => limit.name === "per-client");
      assert.deepEqual(perClient.top, [{ key: "127.0.0.1", rate: 50, inFlight: 0 }]);
      const metrics = await (await fetch(`${tandem.admin}/metrics`)).text();
      assert.equal(metric(metrics, 'tandem_ratelimit_requests_total{limit="per-client",outcome="admitted"}'), 50);
      assert.equal(metric(metrics, 'tandem_ratelimit_requests_total{limit="per-client",outcome="refused"}'), 100);
      assert.equal(metric(metrics, 'tandem_ratelimit_keys{limit="per-client"}'), 1);
      assert.equal(metric(metrics, 'tandem_ratelimit_evictions_total{limit="per-client"}'), 0);
      assert.equal((await fetch(`${tandem.admin}/api/v1/rate-limits?top=0`)).status, 400);
    } finally {
      await tandem.process.stop();
      await backend.close();
    }
  });

  test("a header key gives each key its own budget; over: deny answers as configured", LIMIT, async () => {
    const backend = await startBackend("m1");
    const tandem = await start({
      listeners: [{ address: "127.0.0.1:0" }],
      rateLimits: { "per-key": { key: { header: "X-Api-Key" }, requests: 7, per: "1m" } },
      pools: { app: { members: [{ name: "m1", url: backend.url }], rules: [{ rateLimit: "per-key", over: { deny: 403 } }] } },
    });
    try {
      const keyed = await burst(`${tandem.process.url}/`, 4, 10, (client) => ({ "x-api-key": `key-${client % 2}` }));
      assert.equal(count(keyed, 200), 14);
      assert.equal(count(keyed, 403), 26);
      // No key, no limit.
      assert.equal(count(await burst(`${tandem.process.url}/`, 2, 10), 200), 20);
    } finally {
      await tandem.process.stop();
      await backend.close();
    }
  });

  test("a reload keeps a limit's counts while its settings stay, and starts afresh when they change", LIMIT, async () => {
    const backend = await startBackend("m1");
    const config = {
      listeners: [{ address: "127.0.0.1:0", rules: [{ rateLimit: "per-client" }] }],
      rateLimits: { "per-client": { requests: 3, per: "1m" } },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    };
    const tandem = await start(config);
    const reload = async (change: () => void) => {
      change();
      writeFileSync(tandem.process.configPath!, JSON.stringify({ accessLog: false, admin: { address: "127.0.0.1:0" }, ...config }));
      const reloads = tandem.process.lines.filter((line) => line.event === "reloaded").length;
      tandem.process.signal("SIGHUP");
      await tandem.process.waitForLine((line) => line.event === "reloaded" && line.reloads === reloads + 1);
    };
    try {
      assert.deepEqual((await burst(`${tandem.process.url}/`, 1, 4)).map((answer) => answer.status), [200, 200, 200, 429]);
      // Another change (a second pool) reloads; the limit is the same, so is its count.
      await reload(() => Object.assign(config.pools, { other: { members: [{ name: "m1", url: backend.url }] } }));
      assert.equal((await fetchFresh(`${tandem.process.url}/`)).status, 429);
      await reload(() => (config.rateLimits["per-client"].requests = 5));
      assert.deepEqual((await burst(`${tandem.process.url}/`, 1, 6)).map((answer) => answer.status), [200, 200, 200, 200, 200, 429]);
    } finally {
      await tandem.process.stop();
      await backend.close();
    }
  });

  test("concurrent: requests in flight per key are capped until one ends", LIMIT, async () => {
    const held: (() => void)[] = [];
    const backend: Backend = await startBackend("m1", (request, response) => {
      if (request.url === "/held") held.push(() => response.end("done"));
      else response.end("ok");
    });
    const tandem = await start({
      listeners: [{ address: "127.0.0.1:0", rules: [{ rateLimit: "in-flight" }] }],
      rateLimits: { "in-flight": { concurrent: 2 } },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    });
    try {
      const first = [fetchFresh(`${tandem.process.url}/held`), fetchFresh(`${tandem.process.url}/held`)];
      await waitFor(async () => held.length === 2, 20_000, "two requests held at the member");
      assert.equal((await fetchFresh(`${tandem.process.url}/`)).status, 429);
      held.shift()!();
      assert.equal((await first[0]).status, 200);
      // The ended request freed its place (its release may come a moment after the answer's last byte).
      await waitFor(async () => (await fetchFresh(`${tandem.process.url}/`)).status === 200, 20_000, "a place freed by the ended request");
      held.shift()!();
      assert.equal((await first[1]).status, 200);
    } finally {
      for (const answer of held) answer();
      await tandem.process.stop();
      await backend.close();
    }
  });

  test("workers: 2 count requests in flight together: two held on any worker leave no place on either", LIMIT, async () => {
    const held: (() => void)[] = [];
    const backend: Backend = await startBackend("m1", (request, response) => {
      if (request.url === "/held") held.push(() => response.end("done"));
      else response.end("ok");
    });
    const port = await freePort();
    const tandem = await start({
      workers: 2,
      listeners: [{ address: `127.0.0.1:${port}`, rules: [{ rateLimit: "in-flight" }] }],
      rateLimits: { "in-flight": { concurrent: 2 } },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      const first = [fetchFresh(`${url}/held`), fetchFresh(`${url}/held`)];
      await waitFor(async () => held.length === 2, 20_000, "two requests held at the member");
      // Ten fresh connections: the kernel spreads them over both workers, and each is refused.
      const refused = await Promise.all(Array.from({ length: 10 }, () => fetchFresh(`${url}/`)));
      assert.deepEqual(refused.map((answer) => answer.status), Array(10).fill(429));
      // Control: worker 1 served some of them (it asked worker 0 for places).
      const metrics = await (await fetch(`${tandem.admin}/metrics`)).text();
      assert.ok(metric(metrics, "tandem_ratelimit_lease_requests_total") > 0, "worker 1 asked worker 0");
      for (const answer of held.splice(0)) answer();
      assert.deepEqual((await Promise.all(first)).map((answer) => answer.status), [200, 200]);
      await waitFor(async () => (await fetchFresh(`${url}/`)).status === 200, 20_000, "places freed by the ended requests");
    } finally {
      for (const answer of held) answer();
      await tandem.process.stop();
      await backend.close();
    }
  });

  test("workers: 2 spend one budget: no over-admission under racing clients, and the budget is spent to the last request", LIMIT, async () => {
    const backend = await startBackend("m1");
    const port = await freePort();
    const tandem = await start({
      workers: 2,
      listeners: [{ address: `127.0.0.1:${port}`, rules: [{ rateLimit: "per-client" }] }],
      rateLimits: { "per-client": { requests: 60, per: "1m" } },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    });
    try {
      const answers = await burst(`http://127.0.0.1:${port}/`, 12, 15);
      assert.equal(count(answers, 200), 60);
      assert.equal(count(answers, 429), 120);
      // Control: the second worker served some of them (it asked worker 0 for tokens), so two
      // budgets would have shown as up to 120 admitted.
      const metrics = await (await fetch(`${tandem.admin}/metrics`)).text();
      assert.ok(metric(metrics, "tandem_ratelimit_lease_requests_total") > 0, `worker 1 leased tokens: ${metrics.split("\n").filter((line) => line.includes("ratelimit") || line.includes("worker")).join("\n")}`);
      assert.equal(metric(metrics, 'tandem_ratelimit_requests_total{limit="per-client",outcome="admitted"}'), 60);
      // The API's totals are every worker's, as the metric's are (worker 0's alone would miss what worker 1 answered).
      const perClient = (await adminJson(tandem, "/api/v1/rate-limits")).limits[0];
      assert.deepEqual([perClient.admitted, perClient.refused], [60, 120]);
    } finally {
      await tandem.process.stop();
      await backend.close();
    }
  });

  test("two clustered nodes share one budget: a client alternating between them gets the same total", LIMIT, async () => {
    const backend = await startBackend("m1");
    const [portA, portB] = [await freePort(), await freePort()];
    const node = (name: string, port: number, peer: string, peerPort: number) => start({
      listeners: [{ address: "127.0.0.1:0", rules: [{ rateLimit: "per-client" }] }],
      rateLimits: { "per-client": { requests: 20, per: "1m" } },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
      cluster: { name: "lab", node: name, listen: `127.0.0.1:${port}`, peers: [{ name: peer, address: `127.0.0.1:${peerPort}` }], key: CLUSTER_KEY, heartbeat: "500ms" },
    });
    const nodes = await Promise.all([node("lb1", portA, "lb2", portB), node("lb2", portB, "lb1", portA)]);
    try {
      for (const one of nodes) {
        await waitFor(async () => (await adminJson(one, "/api/v1/cluster")).peers.every((peer: { state: string }) => peer.state === "up"), 20_000, "peers up");
      }
      const rateOn = async (one: { admin: string }) =>
        (await adminJson(one, "/api/v1/rate-limits")).limits[0].top.find((key: { key: string }) => key.key === "127.0.0.1")?.rate ?? 0;
      // 60 requests alternating: unshared, each node would admit 20 of its 30.
      let admitted = 0;
      let refused = 0;
      for (let i = 0; i < 60; i++) {
        const here = nodes[i % 2];
        const status = (await fetchFresh(`${here.process.url}/`)).status;
        if (status === 200) admitted++;
        else if (status === 429) refused++;
        // The client switches nodes once its count has crossed: an event, not a sleep.
        const total = admitted;
        await waitFor(async () => (await rateOn(nodes[(i + 1) % 2])) >= total, 20_000, `the other node counting ${total}`);
      }
      assert.equal(admitted, 20);
      assert.equal(refused, 40);
    } finally {
      await Promise.all(nodes.map((one) => one.process.stop()));
      await backend.close();
    }
  });
});
