/**
 * Members from DNS against a real nameserver (Debian's unbound on loopback, records changed with
 * unbound-control): A records added and removed under load, drain with sticky sessions, NXDOMAIN
 * and a silent server within and past their hold, TTL-driven re-resolution, SRV weight and port.
 * Members listen on 127.0.0.2, .3 and .4 (all loopback on Linux) on one port, as A records give.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Backend, startBackend } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { runtime, runTandem, startTandem, type TandemProcess, writeConfig } from "../support/tandem.ts";
import { browserSkipReason, withPage } from "../support/browser.ts";
import { requireTool } from "../support/tools.ts";
import { eventually } from "../support/waiting.ts";
import { startUnbound, type Unbound, unboundMissing } from "../support/unbound.ts";

const skip = requireTool("discovery.test.ts", unboundMissing());
const LIMIT = { timeout: 120_000, skip };
type Line = Record<string, unknown>;

/** The first line after index `from` that matches; the index goes with it, for the next wait. */
async function lineAfter(tandem: TandemProcess, from: number, match: (line: Line) => boolean, timeoutMs = 20_000): Promise<number> {
  const line = await tandem.waitForLine((l) => tandem.lines.indexOf(l) > from && match(l), timeoutMs);
  return tandem.lines.indexOf(line);
}

const membersLine = (pool: string, field: "added" | "draining" | "removed" | "changed", name: string) => (line: Line) =>
  line.event === "dns-members" && line.pool === pool && (line[field] as string[]).includes(name);

async function get(url: string, cookie?: string): Promise<{ status: number; backend: string | undefined; setCookie: string | null }> {
  const response = await fetch(url, { headers: cookie ? { cookie } : {} });
  const text = await response.text();
  return { status: response.status, backend: response.status === 200 ? JSON.parse(text).backend : undefined, setCookie: response.headers.get("set-cookie") };
}

/**
 * Four clients sending GETs one after another, each a millisecond apart (a steady load that
 * leaves the machine's other work its CPU, with requests in flight whenever the pools change),
 * until stopped, at most `limit` in all or for 90 s: who answered the requests that started after
 * the last `mark()`, and every failure.
 */
function load(url: string, limit = 200_000) {
  const failures: string[] = [];
  let sinceMark = new Set<string>();
  let count = 0;
  let stopped = false;
  const deadline = Date.now() + 90_000;
  const client = async () => {
    while (!stopped && count < limit && Date.now() < deadline) {
      const into = sinceMark;
      count++;
      try {
        const answer = await get(url);
        if (answer.status === 200) into.add(answer.backend!);
        else failures.push(`HTTP ${answer.status}`);
      } catch (error) {
        failures.push(String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };
  const done = Promise.all([client(), client(), client(), client()]);
  return {
    failures,
    get count() {
      return count;
    },
    served: () => sinceMark,
    mark: () => void (sinceMark = new Set()),
    async stop() {
      stopped = true;
      await done;
    },
  };
}

describe(`members from DNS on ${runtime}`, () => {
  test("A records: added and removed under load with no failed request, drain keeps sessions, NXDOMAIN and a silent server held, TTL drives lookups", LIMIT, async () => {
    const { backends, port, record, name } = await appMembers();
    let dns: Unbound | undefined;
    let tandem: TandemProcess | undefined;
    try {
      dns = await startUnbound([record(2)]);
      tandem = await startTandem({
        listeners: [{ address: "127.0.0.1:0" }],
        accessLog: false,
        pools: {
          app: {
            sticky: { mode: "insert" },
            // An hour's interval: only the records' TTL (1 s) can bring the changes below in time.
            discover: { name: "app.internal", port, nameservers: [dns.nameserver], interval: "1h", timeout: "300ms", hold: { valid: "4s", nx: "4s" }, removeAfter: "3s" },
          },
        },
      });
      let at = await lineAfter(tandem, -1, membersLine("app", "added", name(2)));
      const first = await get(tandem.url);
      assert.equal(first.backend, "b2");
      const session = first.setCookie!.split(";")[0];

      const traffic = load(tandem.url);
      await dns.replace("app.internal.", [record(2), record(3)]);
      at = await lineAfter(tandem, at, membersLine("app", "added", name(3)));
      traffic.mark();
      await waitUntilServed(traffic, "b3");

      await dns.replace("app.internal.", [record(3)]);
      at = await lineAfter(tandem, at, membersLine("app", "draining", name(2)));
      traffic.mark();
      const drainedSession = await get(tandem.url, session);
      assert.equal(drainedSession.backend, "b2", "a draining member still serves its sessions");
      at = await lineAfter(tandem, at, membersLine("app", "removed", name(2)));
      assert.deepEqual([...traffic.served()], ["b3"], "no new session went to the draining member");
      const moved = await get(tandem.url, session);
      assert.deepEqual([moved.status, moved.backend], [200, "b3"], "a session of a removed member moves");
      await traffic.stop();
      assert.deepEqual(traffic.failures, [], `failed requests among ${traffic.count}`);
      assert.ok(traffic.count > 0);

      // NXDOMAIN: the last good answer stands for hold.nx, then its members drain.
      await dns.replace("app.internal.", []);
      at = await lineAfter(tandem, at, (l) => l.event === "dns-lookup" && l.outcome === "nx");
      assert.deepEqual(await get(tandem.url).then((a) => [a.status, a.backend]), [200, "b3"], "held after NXDOMAIN");
      at = await lineAfter(tandem, at, membersLine("app", "draining", name(3)));
      assert.equal((await get(tandem.url)).status, 503, "past hold.nx no member takes new sessions");
      await dns.replace("app.internal.", [record(4)]);
      at = await lineAfter(tandem, at, membersLine("app", "added", name(4)));
      assert.equal((await get(tandem.url)).backend, "b4");

      // A nameserver that stops answering: held for hold.valid, then drained; back when it answers.
      dns.pause();
      at = await lineAfter(tandem, at, (l) => l.event === "dns-lookup" && l.outcome === "timeout");
      assert.equal((await get(tandem.url)).backend, "b4", "held while the nameserver is silent");
      at = await lineAfter(tandem, at, membersLine("app", "draining", name(4)));
      assert.equal((await get(tandem.url)).status, 503);
      dns.resume();
      at = await lineAfter(tandem, at, membersLine("app", "added", name(4)));
      assert.equal((await get(tandem.url)).backend, "b4");
    } finally {
      await tandem?.stop();
      await dns?.stop();
      for (const backend of backends) await backend.close();
    }
  });

  test("SRV records: port and weight from the record; a weight change keeps the member, a port change replaces it under load", LIMIT, async () => {
    const s1 = await startBackend("s1");
    const s2 = await startBackend("s2");
    const srv = (weight: number, port: number) => `_http._tcp.svc.internal. 1 IN SRV 0 ${weight} ${port} tc.internal.`;
    const name = (port: number) => `svc-127-0-0-1-${port}`;
    let dns: Unbound | undefined;
    let tandem: TandemProcess | undefined;
    try {
      dns = await startUnbound([srv(10, s1.port), "tc.internal. 1 IN A 127.0.0.1"]);
      const admin = `http://127.0.0.1:${await freePort()}`;
      tandem = await startTandem({
        listeners: [{ address: "127.0.0.1:0" }],
        accessLog: false,
        admin: { address: admin.slice("http://".length) },
        pools: { svc: { discover: { name: "_http._tcp.svc.internal", type: "srv", nameservers: [dns.nameserver], interval: "1h", removeAfter: "2s" } } },
      });
      let at = await lineAfter(tandem, -1, membersLine("svc", "added", name(s1.port)));
      assert.equal((await get(tandem.url)).backend, "s1");
      const traffic = load(tandem.url);
      await dns.replace("_http._tcp.svc.internal.", [srv(50, s1.port)]);
      at = await lineAfter(tandem, at, membersLine("svc", "changed", name(s1.port)));
      const pool = async () => (await (await fetch(`${admin}/api/v1/status`)).json()).pools.find((p: { name: string }) => p.name === "svc");
      const weightOf = async (member: string) => (await pool()).members.find((m: { name: string }) => m.name === member).weight;
      assert.equal(await weightOf(name(s1.port)), 50, "the SRV weight is the member's");
      const discovery = (await pool()).discovery;
      assert.equal(discovery.lastOutcome, "ok");
      assert.deepEqual(discovery.members.map((m: { port: number; weight: number; draining: boolean }) => [m.port, m.weight, m.draining]), [[s1.port, 50, false]]);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      assert.match(metrics, /tandem_dns_lookups_total\{pool="svc",outcome="ok"\} [1-9]/);
      assert.match(metrics, /tandem_dns_members\{pool="svc",state="serving"\} 1/);

      // A weight set through the API outlives the pools being rebuilt for another member.
      const patched = await fetch(`${admin}/api/v1/pools/svc/members/${name(s1.port)}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ weight: 7 }) });
      assert.equal(patched.status, 200, await patched.text());
      await dns.replace("_http._tcp.svc.internal.", [srv(50, s1.port), srv(50, s2.port)]);
      at = await lineAfter(tandem, at, membersLine("svc", "added", name(s2.port)));
      assert.equal(await weightOf(name(s1.port)), 7);
      assert.equal(await weightOf(name(s2.port)), 50);

      await dns.replace("_http._tcp.svc.internal.", [srv(50, s2.port)]);
      at = await lineAfter(tandem, at, membersLine("svc", "draining", name(s1.port)));
      traffic.mark();
      await waitUntilServed(traffic, "s2");
      at = await lineAfter(tandem, at, membersLine("svc", "removed", name(s1.port)));
      assert.deepEqual([...traffic.served()], ["s2"], "no new request went to the draining member");
      traffic.mark();
      await waitUntilServed(traffic, "s2");
      await traffic.stop();
      assert.deepEqual([...traffic.served()], ["s2"]);
      assert.deepEqual(traffic.failures, [], `failed requests among ${traffic.count}`);
    } finally {
      await tandem?.stop();
      await dns?.stop();
      await s1.close();
      await s2.close();
    }
  });

  test("an operator's drain and weight on members from DNS outlive the record's absence and a restart (state file)", LIMIT, async () => {
    const { backends, port, record, name } = await appMembers();
    let dns: Unbound | undefined;
    let tandem: TandemProcess | undefined;
    try {
      dns = await startUnbound([record(2), record(3), record(4)]);
      const admin = `http://127.0.0.1:${await freePort()}`;
      tandem = await startTandem({
        listeners: [{ address: "127.0.0.1:0" }],
        accessLog: false,
        admin: { address: admin.slice("http://".length) },
        // removeAfter an hour: members whose record goes drain and stay, for the record to come back.
        pools: { app: { discover: { name: "app.internal", port, nameservers: [dns.nameserver], interval: "1h", hold: { nx: "1s" }, removeAfter: "1h" } } },
      });
      let at = await lineAfter(tandem, -1, membersLine("app", "added", name(4)));
      const members = async () => (await (await fetch(`${admin}/api/v1/status`)).json()).pools.find((p: { name: string }) => p.name === "app").members as { name: string; activation: string; weight: number }[];
      const stateOf = async (host: number) => {
        const member = (await members()).find((m) => m.name === name(host))!;
        return [member.activation, member.weight];
      };
      const patch = async (host: number, change: Record<string, unknown>) => {
        const answer = await fetch(`${admin}/api/v1/pools/app/members/${name(host)}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify(change) });
        assert.equal(answer.status, 200, await answer.text());
      };
      await patch(2, { activation: "disabled" });
      await patch(3, { weight: 7 });
      await patch(4, { weight: 3 });

      // Every record goes (NXDOMAIN past hold.nx): all three drain.
      await dns.replace("app.internal.", []);
      for (const host of [2, 3, 4]) await lineAfter(tandem, at, membersLine("app", "draining", name(host)));
      at = tandem.lines.length - 1;
      assert.deepEqual(await stateOf(3), ["disabled", 7], "a DNS drain shows as disabled");
      assert.equal((await get(tandem.url)).status, 503);

      await dns.replace("app.internal.", [record(2), record(3), record(4)]);
      for (const host of [2, 3, 4]) await lineAfter(tandem, at, membersLine("app", "added", name(host)));
      at = tandem.lines.length - 1;
      assert.deepEqual(await stateOf(2), ["disabled", 1], "the operator's drain outlives the record's absence");
      assert.deepEqual(await stateOf(3), ["active", 7], "control: no operator drain, active again, with the operator's weight");
      assert.deepEqual(await stateOf(4), ["active", 3]);
      const served = new Set<string>();
      for (let i = 0; i < 20; i++) served.add((await get(tandem.url)).backend!);
      assert.deepEqual([...served].sort(), ["b3", "b4"], "no new session goes to the drained member");

      // A restart: the state file is read before the first answer; its entries wait for their members.
      // b4's record goes first, so the first answer after the restart does not bring it.
      const statePath = tandem.configPath!.replace(/\.json$/, ".state.json");
      await eventually(() => existsSync(statePath) && [2, 3, 4].every((host) => readFileSync(statePath, "utf8").includes(name(host))) || undefined, 20_000, "the state file naming the three members", 50);
      await dns.replace("app.internal.", [record(2), record(3)]);
      await lineAfter(tandem, at, membersLine("app", "draining", name(4)));
      await tandem.stop();
      tandem = await startTandem(undefined, { args: ["--config", tandem.configPath!] });
      const restored = await tandem.waitForLine((l) => l.event === "state-restored");
      assert.deepEqual([restored.applied, restored.gone, restored.waiting], [[], [], [2, 3, 4].map((host) => `app/${name(host)}`)]);
      const late = await tandem.waitForLine((l) => l.event === "state-restored-late");
      assert.deepEqual([late.applied, late.gone, late.waiting], [[`app/${name(2)}`, `app/${name(3)}`], [`app/${name(4)}`], []]);
      // The pools are rebuilt before the dns-members line is written (a line read means the change is in force).
      const firstAnswer = await lineAfter(tandem, -1, membersLine("app", "added", name(2)));
      const [restoredAt, lateAt] = [tandem.lines.indexOf(restored), tandem.lines.indexOf(late)];
      assert.ok(restoredAt < lateAt && lateAt < firstAnswer, `applied with the first answer: state-restored ${restoredAt}, state-restored-late ${lateAt}, dns-members ${firstAnswer}`);
      assert.deepEqual(await stateOf(2), ["disabled", 1], "the drained member from DNS comes back drained");
      assert.deepEqual(await stateOf(3), ["active", 7]);
      assert.equal((await get(tandem.url)).backend, "b3");
    } finally {
      await tandem?.stop();
      await dns?.stop();
      for (const backend of backends) await backend.close();
    }
  });
});

test("AAAA records: members on IPv6 addresses, asked of a nameserver on IPv6", LIMIT, async () => {
  const backend = await startBackend("v6", undefined, { host: "::1" });
  let dns: Unbound | undefined;
  let tandem: TandemProcess | undefined;
  try {
    dns = await startUnbound(["v6.internal. 1 IN AAAA ::1", "v6.internal. 1 IN A 127.0.0.9"]);
    tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: { app: { discover: { name: "v6.internal", type: "aaaa", port: backend.port, nameservers: [dns.nameserver6] } } },
    });
    // "::1" gives "--1": every character of the address that is not a letter or digit becomes "-".
    const at = await lineAfter(tandem, -1, membersLine("app", "added", `app---1-${backend.port}`));
    assert.deepEqual(tandem.lines[at].added, [`app---1-${backend.port}`], "the AAAA record only, not the A");
    const answer = await get(tandem.url);
    assert.deepEqual([answer.status, answer.backend], [200, "v6"]);
  } finally {
    await tandem?.stop();
    await dns?.stop();
    await backend.close();
  }
});

test("an answer too big for a datagram is asked again over TCP; servers caps the members", LIMIT, async () => {
  let dns: Unbound | undefined;
  let tandem: TandemProcess | undefined;
  try {
    // 120 A records: about 2 KB, over the 1232 bytes offered for UDP.
    dns = await startUnbound(Array.from({ length: 120 }, (_, i) => `big.internal. 1 IN A 127.0.${1 + Math.floor(i / 100)}.${1 + (i % 100)}`));
    tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: { app: { discover: { name: "big.internal", port: 9, servers: 3, nameservers: [dns.nameserver] } } },
    });
    const at = await lineAfter(tandem, -1, (l) => l.event === "dns-members" && l.pool === "app");
    assert.deepEqual(tandem.lines[at].added, ["app-127-0-1-1-9", "app-127-0-1-10-9", "app-127-0-1-100-9"], "the first three in address order");
    assert.ok(await dns.tcpQueries() >= 1, "the answer came over TCP");
  } finally {
    await tandem?.stop();
    await dns?.stop();
  }
});

test("workers: 2: each worker looks up on its own and finds the same members", LIMIT, async () => {
  const backend = await startBackend("w1", undefined, { host: "127.0.0.2" });
  let dns: Unbound | undefined;
  let tandem: TandemProcess | undefined;
  try {
    dns = await startUnbound([`app.internal. 1 IN A 127.0.0.2`]);
    const name = `app-127-0-0-2-${backend.port}`;
    tandem = await startTandem({
      workers: 2,
      listeners: [{ address: `127.0.0.1:${await freePort()}` }],
      accessLog: false,
      pools: { app: { discover: { name: "app.internal", port: backend.port, nameservers: [dns.nameserver] }, health: { check: { path: "/", interval: "500ms" } } } },
    });
    for (const worker of [0, 1]) await lineAfter(tandem, -1, (l) => membersLine("app", "added", name)(l) && l.worker === worker);
    for (let i = 0; i < 20; i++) assert.equal((await get(tandem.url)).backend, "w1");
  } finally {
    await tandem?.stop();
    await dns?.stop();
    await backend.close();
  }
});

test("the dashboard shows a discover block's name, outcome and draining members", { timeout: 60_000, skip: skip || requireTool("discovery.test.ts", browserSkipReason()) }, async () => {
  const backend = await startBackend("d1", undefined, { host: "127.0.0.2" });
  let dns: Unbound | undefined;
  let tandem: TandemProcess | undefined;
  try {
    dns = await startUnbound([`shop.internal. 1 IN A 127.0.0.2`]);
    const admin = `127.0.0.1:${await freePort()}`;
    tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      admin: { address: admin },
      pools: { shop: { discover: { name: "shop.internal", port: backend.port, nameservers: [dns.nameserver], removeAfter: "1h" } } },
    });
    let at = await lineAfter(tandem, -1, membersLine("shop", "added", `shop-127-0-0-2-${backend.port}`));
    await withPage(async (page) => {
      // The API is open on loopback: any token signs in.
      await page.goto(`http://${admin}/#token=open`);
      const facts = page.getByRole("region", { name: "shop" }).locator("dl.facts");
      await page.waitForFunction(`(document.querySelector("section.pool dl.facts")?.innerText ?? "").includes("shop.internal A: ok")`);
      assert.match((await facts.innerText()).replace(/\s+/g, " "), /DNS shop\.internal A: ok/);
      await dns!.replace("shop.internal.", [`shop.internal. 1 IN A 127.0.0.3`]);
      at = await lineAfter(tandem!, at, membersLine("shop", "draining", `shop-127-0-0-2-${backend.port}`));
      await page.waitForFunction(`(document.querySelector("section.pool dl.facts")?.innerText ?? "").includes("1 draining")`);
      assert.match((await facts.innerText()).replace(/\s+/g, " "), /DNS shop\.internal A: ok, 1 draining/);
    });
  } finally {
    await tandem?.stop();
    await dns?.stop();
    await backend.close();
  }
});

test("check names what is wrong in a discover block; check --edge refuses discovery", async () => {
  const pool = (discover: Record<string, unknown>) => writeConfig({ listeners: [{ address: "127.0.0.1:0" }], pools: { app: { discover } } });
  const bad = await runTandem(["check", "--config", pool({ name: "app.internal", port: 80, hold: { nx: "soon" }, nameservers: ["dns.example"] })]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /pools\.app\.discover\.hold\.nx/);
  assert.match(bad.stderr, /pools\.app\.discover\.nameservers\[0\]/);
  const srvWithPort = await runTandem(["check", "--config", pool({ name: "_http._tcp.app.internal", type: "srv", port: 80 })]);
  assert.equal(srvWithPort.code, 1);
  assert.match(srvWithPort.stderr, /pools\.app\.discover\.port: no port with srv/);
  const good = pool({ name: "app.internal", port: 8080, nameservers: ["127.0.0.1:5353"] });
  assert.equal((await runTandem(["check", "--config", good])).code, 0);
  const edge = await runTandem(["check", "--edge", "--config", good]);
  assert.equal(edge.code, 1);
  assert.match(edge.stderr, /error: pools\.app\.discover: members from DNS need UDP sockets/);
  // The edge build (run by Bun on either runner) refuses it too, and writes nothing.
  const out = mkdtempSync(join(tmpdir(), "tandem-edge-"));
  const built = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(new URL("../../node_modules/.bin/bun", import.meta.url).pathname, ["run", new URL("../../runtimes/edge/build.ts", import.meta.url).pathname, "--config", good, "--out", out]);
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stderr }));
  });
  assert.equal(built.code, 1, built.stderr);
  assert.match(built.stderr, /not for the edge:\n {2}pools\.app\.discover: members from DNS/);
  assert.deepEqual(readdirSync(out), []);
});

/**
 * Members b2, b3, b4 on 127.0.0.2–4 (all loopback on Linux), one port, with the A record that
 * lists one of them in `app.internal` (TTL 1 s) and the name tandem gives it.
 */
async function appMembers(): Promise<{ backends: Backend[]; port: number; record: (host: number) => string; name: (host: number) => string }> {
  const b2 = await startBackend("b2", undefined, { host: "127.0.0.2" });
  const port = b2.port;
  const backends = [b2, await startBackend("b3", undefined, { host: "127.0.0.3", port }), await startBackend("b4", undefined, { host: "127.0.0.4", port })];
  return {
    backends,
    port,
    record: (host) => `app.internal. 1 IN A 127.0.0.${host}`,
    name: (host) => `app-127-0-0-${host}-${port}`,
  };
}

async function waitUntilServed(traffic: ReturnType<typeof load>, backend: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!traffic.served().has(backend)) {
    if (Date.now() > deadline) throw new Error(`no request served by ${backend} within 20 s (served: ${[...traffic.served()]})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

