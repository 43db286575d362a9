/**
 * Health checking in the real process (Bun under `bun test`, Deno under `deno test`): active HTTP
 * checks (rise/fall, HTTP status and timeout failures), passive ejection with its growing backoff,
 * and two real Tomcat 10 nodes, one killed and restarted on the same port.
 *
 * Every test prints its measured detection and recovery times, taken from the `time` of tandem's
 * `health` lines against the moment the test broke or fixed the backend. They are figures, not
 * checks: a busy machine delays checks, so only lower bounds (no transition before `fall` checks
 * or a backoff could have passed) and orderings are asserted; every wait has a generous deadline.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mintToken } from "../../core/admin/auth.ts";
import type { MemberStatus, StatusDocument } from "../../core/admin/model.ts";
import { startSwitchableBackend } from "../support/backends.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";
import { startTomcat, type TomcatInstance, tomcatAvailable } from "../support/tomcat.ts";
import { requireTool } from "../support/tools.ts";

const LIMIT = { timeout: 30_000 };
const SECRET = "tandem-health-test-secret-0123456789-abcdef";

const tomcatSkip = requireTool("health.test.ts: the Tomcat test", tomcatAvailable() ? false : "tomcat10 not installed: apt-get install tomcat10");

type Line = Record<string, unknown>;

/** Starts tandem with an authenticated admin listener; returns it and a status reader. */
async function startWithAdmin(config: Record<string, unknown>) {
  const address = `127.0.0.1:${await freePort()}`;
  const tandem = await startTandem({ ...config, admin: { address, auth: { secret: SECRET } } });
  const read = await mintToken({ secret: SECRET, audience: "tandem-admin", subject: "health-test", scope: "read", ttlSeconds: 600 });
  const call = async (path: string) => {
    const response = await fetch(`http://${address}${path}`, { headers: { authorization: `Bearer ${read}` } });
    const text = await response.text();
    assert.equal(response.status, 200, `${path}: ${text}`);
    return text;
  };
  try {
    await tandem.waitForLine((l) => l.event === "admin-listening");
  } catch (error) {
    await tandem.stop();
    throw error;
  }
  return {
    tandem,
    admin: `http://${address}`,
    status: async () => JSON.parse(await call("/api/v1/status")) as StatusDocument,
    metrics: () => call("/metrics"),
  };
}

function member(doc: StatusDocument, name: string): MemberStatus {
  const found = doc.pools[0].members.find((m) => m.name === name);
  assert.ok(found, `member ${name}`);
  return found;
}

/** The next `health` line about `name` going `up`/down, among lines logged after `from`. */
function healthLine(tandem: TandemProcess, name: string, up: boolean, from: number, timeoutMs = 10_000): Promise<Line> {
  return tandem.waitForLine((l) => l.event === "health" && l.member === name && l.up === up && tandem.lines.indexOf(l) >= from, timeoutMs);
}

/** Milliseconds from `since` (Date.now() in the test) to the `time` of a tandem log line. */
const after = (line: Line, since: number) => Date.parse(String(line.time)) - since;

/** Sends `n` sequential GETs; returns who answered (or the status when not 200). */
async function traffic(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const response = await fetch(url);
    const text = await response.text();
    out.push(response.status === 200 ? JSON.parse(text).backend : String(response.status));
  }
  return out;
}

const count = (items: string[], item: string) => items.filter((x) => x === item).length;

function report(text: string): void {
  console.log(`[health on ${runtime}] ${text}`);
}

describe(`health checks on ${runtime}`, () => {
  test("active checks: 503 and timeouts take a member DOWN after `fall` checks, `rise` passes bring it UP", LIMIT, async () => {
    const [a, b] = [await startSwitchableBackend("a"), await startSwitchableBackend("b")];
    const interval = 200, fall = 2, rise = 2;
    const { tandem, status, metrics, admin } = await startWithAdmin({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: {
        app: {
          health: { check: { path: "/health", interval: `${interval}ms`, rise, fall, timeout: "150ms" } },
          members: [a, b].map(({ backend }) => ({ name: backend.name, url: backend.url })),
        },
      },
    });
    try {
      // Checks run from the start, before any traffic.
      await waitFor(async () => (await status()).pools[0].members.every((m) => m.lastCheck?.ok === true), 10_000, "a first passed check of a and b");
      const first = member(await status(), "b").lastCheck!;
      assert.equal(first.reason, "HTTP 200");
      assert.deepEqual(new Set(await traffic(tandem.url, 4)), new Set(["a", "b"]));

      // /health answers 503.
      let from = tandem.lines.length;
      const broke = Date.now();
      b.state.health = "503";
      const down = await healthLine(tandem, "b", false, from);
      const detect503 = after(down, broke);
      assert.equal(down.pool, "app");
      assert.match(String(down.reason), /^b DOWN: 2\/2 checks failed: HTTP 503 \(expected 200-399\)$/);
      assert.ok(detect503 >= (fall - 1) * interval * 0.9 - 20, `DOWN after one failed check only (${detect503} ms)`);

      assert.deepEqual(await traffic(tandem.url, 8), Array(8).fill("a"), "traffic avoids the down member");
      const doc = await status();
      const downB = member(doc, "b");
      assert.equal(downB.state, "down");
      assert.match(downB.stateReason, /^2\/2 checks failed: HTTP 503/);
      assert.equal(downB.lastCheck?.ok, false);
      assert.match(downB.lastCheck!.reason, /HTTP 503/);
      assert.ok(Date.parse(downB.lastCheck!.at) >= broke, `lastCheck.at ${downB.lastCheck!.at} is a check made after /health broke`);
      assert.ok(Math.abs(Date.parse(downB.since) - Date.parse(String(down.time))) < 50, "since = the DOWN transition");
      assert.equal(member(doc, "a").state, "up");
      assert.equal(doc.pools[0].usable, true);
      assert.match(await metrics(), /^tandem_member_up\{pool="app",member="b"\} 0$/m);
      assert.equal((await fetch(`${admin}/readyz`).then((r) => r.text())), "ready");

      // Healthy again.
      from = tandem.lines.length;
      const fixed = Date.now();
      b.state.health = "ok";
      const up = await healthLine(tandem, "b", true, from);
      const recover503 = after(up, fixed);
      assert.match(String(up.reason), /^b UP: 2\/2 checks passed \(HTTP 200\)$/);
      assert.ok(recover503 >= (rise - 1) * interval * 0.9 - 20, `UP after one passed check only (${recover503} ms)`);
      const back = await traffic(tandem.url, 8);
      assert.ok(count(back, "b") >= 3, `traffic returns to b: ${back.join(" ")}`);
      assert.equal(member(await status(), "b").state, "up");
      assert.match(await metrics(), /^tandem_member_up\{pool="app",member="b"\} 1$/m);

      // /health hangs: the 150 ms check timeout fails it.
      from = tandem.lines.length;
      const hung = Date.now();
      b.state.health = "hang";
      const timedOut = await healthLine(tandem, "b", false, from);
      const detectTimeout = after(timedOut, hung);
      assert.match(String(timedOut.reason), /^b DOWN: 2\/2 checks failed: timeout after 150 ms$/);
      from = tandem.lines.length;
      b.state.health = "ok";
      await healthLine(tandem, "b", true, from);

      const transitions = tandem.lines.filter((l) => l.event === "health");
      assert.deepEqual(transitions.map((l) => `${l.member} ${l.up}`), ["b false", "b true", "b false", "b true"], "no flapping, a never changed");
      report(`active (interval ${interval} ms, fall ${fall}, rise ${rise}, timeout 150 ms): ` +
        `DOWN ${detect503} ms after /health → 503, UP ${recover503} ms after it answered 200 again, DOWN ${detectTimeout} ms after it started hanging`);
    } finally {
      await tandem.stop();
      await Promise.all([a, b].map(({ backend }) => backend.close()));
    }
  });

  test("passive only: 3 errors in a row eject a member, re-admitted after the backoff, which doubles", LIMIT, async () => {
    const [a, c] = [await startSwitchableBackend("a"), await startSwitchableBackend("c")];
    const { tandem, status } = await startWithAdmin({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: {
        app: {
          health: { passive: { errorLimit: 3, backoff: "500ms" } },
          members: [a, c].map(({ backend }) => ({ name: backend.name, url: backend.url })),
        },
      },
    });
    try {
      assert.deepEqual(new Set(await traffic(tandem.url, 4)), new Set(["a", "c"]));
      assert.equal(member(await status(), "c").lastCheck, null, "no active checks");

      let from = tandem.lines.length;
      const broke = Date.now();
      c.state.status = 500;
      const answers = await traffic(tandem.url, 12);
      assert.equal(count(answers, "500"), 3, `c answers 500 three times, then gets nothing: ${answers.join(" ")}`);
      assert.equal(count(answers, "a"), 9);
      const down = await healthLine(tandem, "c", false, from);
      const detect = after(down, broke);
      assert.equal(down.reason, "c DOWN: 3 consecutive errors (last: HTTP 5xx)");
      const ejected = member(await status(), "c");
      assert.deepEqual([ejected.state, ejected.stateReason], ["down", "3 consecutive errors (last: HTTP 5xx)"]);

      // Back after the 500 ms backoff, still broken: ejected again, now for 1 s.
      const up = await healthLine(tandem, "c", true, from);
      const firstBackoff = after(up, Date.parse(String(down.time)));
      assert.equal(up.reason, "c UP: re-admitted after 500 ms backoff");
      assert.ok(firstBackoff >= 450, `re-admitted ${firstBackoff} ms after the ejection (backoff 500 ms)`);
      from = tandem.lines.length;
      const again = await traffic(tandem.url, 8);
      assert.equal(count(again, "500"), 3, again.join(" "));
      const down2 = await healthLine(tandem, "c", false, from);
      const up2 = await healthLine(tandem, "c", true, from);
      const secondBackoff = after(up2, Date.parse(String(down2.time)));
      assert.equal(up2.reason, "c UP: re-admitted after 1 s backoff");
      assert.ok(secondBackoff >= 950, `re-admitted ${secondBackoff} ms after the second ejection (backoff 1 s, doubled)`);

      // Fixed: it serves again and stays up.
      c.state.status = 200;
      const healed = await traffic(tandem.url, 6);
      assert.deepEqual([count(healed, "a"), count(healed, "c")], [3, 3], healed.join(" "));
      assert.equal(member(await status(), "c").state, "up");
      report(`passive (errorLimit 3, backoff 500 ms): DOWN ${detect} ms after the backend started answering 500 ` +
        `(3 failed client requests), re-admitted after ${firstBackoff} ms, then ${secondBackoff} ms after the second ejection`);
    } finally {
      await tandem.stop();
      await Promise.all([a, c].map(({ backend }) => backend.close()));
    }
  });

  test("slow start: a member back UP ramps from 10 % of its weight", LIMIT, async () => {
    const [a, b] = [await startSwitchableBackend("a"), await startSwitchableBackend("b")];
    const slowStart = 3000;
    const { tandem, status, metrics } = await startWithAdmin({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: {
        app: {
          health: { check: { path: "/health", interval: "100ms", rise: 1, fall: 1 }, slowStart: `${slowStart}ms` },
          members: [a, b].map(({ backend }) => ({ name: backend.name, url: backend.url })),
        },
      },
    });
    try {
      assert.equal(member(await status(), "b").effectiveWeight, 1, "no slow start when tandem starts");
      let from = tandem.lines.length;
      b.state.health = "503";
      await healthLine(tandem, "b", false, from);
      from = tandem.lines.length;
      b.state.health = "ok";
      const up = await healthLine(tandem, "b", true, from);
      const upAt = Date.parse(String(up.time));
      // The weight ramps linearly from 10 % over slowStart: bracketed by the ramp at the moments
      // before and after each reading, however long the machine took to get there.
      const ramp = (at: number) => Math.min(1, (1 + (9 * Math.max(0, at - upAt)) / slowStart) / 10);
      const early = await traffic(tandem.url, 20);
      const trafficEnded = Date.now();
      const ramping = member(await status(), "b");
      const [lowest, highest] = [ramp(trafficEnded) - 0.01, ramp(Date.now()) + 0.01];
      assert.ok(ramping.effectiveWeight >= lowest && ramping.effectiveWeight <= highest, `effective weight ${ramping.effectiveWeight}, ${lowest.toFixed(3)}-${highest.toFixed(3)} on the ramp`);
      assert.ok(ramping.effectiveWeight < 1, `still ramping: effective weight ${ramping.effectiveWeight}`);
      assert.equal(ramping.weight, 1);
      // b's share of the 20 requests is at most what its heaviest weight meanwhile earns, one or two more for the rounding.
      const share = ramp(trafficEnded) / (1 + ramp(trafficEnded));
      assert.ok(count(early, "b") >= 1 && count(early, "b") <= Math.floor(20 * share) + 2, `b gets a small share while ramping (at most ${(100 * share).toFixed(0)} %): ${early.join(" ")}`);
      const scraping = Date.now();
      const gauge = Number(/^tandem_member_effective_weight\{pool="app",member="b"\} (\S+)$/m.exec(await metrics())?.[1]);
      assert.ok(gauge >= ramp(scraping) - 0.01 && gauge <= ramp(Date.now()) + 0.01, `tandem_member_effective_weight ${gauge} on the ramp`);

      await new Promise((resolve) => setTimeout(resolve, Math.max(0, upAt + slowStart + 50 - Date.now())));
      assert.equal(member(await status(), "b").effectiveWeight, 1, "full weight after slowStart");
      const later = await traffic(tandem.url, 20);
      assert.ok(count(later, "b") >= 9 && count(later, "a") >= 9, `an even share at full weight: ${later.join(" ")}`);
    } finally {
      await tandem.stop();
      await Promise.all([a, b].map(({ backend }) => backend.close()));
    }
  });

  // A member that refused a connection rests for recoverTime (10 s by default), but checks that
  // pass end the rest: the checks saw it answer, which outweighs an older refusal.
  test("a member whose checks bring it back UP takes traffic at once, even if it refused a connection before (recoverTime)", LIMIT, async () => {
    const a = await startSwitchableBackend("a");
    const port = await freePort();
    const listen = async () => {
      const server = createServer((_, response) => response.end(JSON.stringify({ backend: "b" })));
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
      return server;
    };
    let b: Server | undefined = await listen();
    const { tandem, status } = await startWithAdmin({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: {
        app: {
          health: { check: { path: "/", interval: "200ms", rise: 2, fall: 2 } },
          members: [{ name: "a", url: a.backend.url }, { name: "b", url: `http://127.0.0.1:${port}` }],
        },
      },
    });
    try {
      assert.deepEqual(new Set(await traffic(tandem.url, 2)), new Set(["a", "b"]));
      // b goes away; the next requests are sent before the checks notice, so one is refused by b
      // (and retried on a): b now rests for recoverTime.
      await new Promise<void>((resolve) => b!.close(() => resolve()));
      b.closeAllConnections();
      b = undefined;
      let from = tandem.lines.length;
      assert.deepEqual(await traffic(tandem.url, 2), ["a", "a"]);
      assert.ok(member(await status(), "b").failures >= 1, "b refused a connection");
      await healthLine(tandem, "b", false, from);

      b = await listen();
      from = tandem.lines.length;
      const up = await healthLine(tandem, "b", true, from);
      assert.match(String(up.reason), /^b UP: 2\/2 checks passed/);
      const doc = member(await status(), "b");
      assert.equal(doc.state, "up", `tandem logged "${up.reason}" but the status API says ${doc.state}: ${doc.stateReason}`);
      const back = await traffic(tandem.url, 6);
      assert.ok(count(back, "b") >= 2, `b takes traffic again once UP: ${back.join(" ")}`);
    } finally {
      await tandem.stop();
      await a.backend.close();
      if (b) {
        b.closeAllConnections();
        await new Promise<void>((resolve) => b!.close(() => resolve()));
      }
    }
  });

  test("real Tomcat: a killed node goes DOWN, traffic moves to the other; restarted on its port it comes back UP", { skip: tomcatSkip, timeout: 90_000 }, async () => {
    const interval = 500, fall = 3, rise = 2;
    const nodes: TomcatInstance[] = [];
    let running: Awaited<ReturnType<typeof startWithAdmin>> | undefined;
    try {
      nodes.push(...(await Promise.all([startTomcat("tc1"), startTomcat("tc2")])));
      const [tc1] = nodes;
      running = await startWithAdmin({
        listeners: [{ address: "127.0.0.1:0" }],
        pools: {
          tomcat: {
            sticky: { mode: "route" },
            // recoverTime is the default 10 s: tc1 refuses connections of the traffic below, and
            // its passing checks end that rest (see the recoverTime test above).
            // A GET in flight on tc1 when it is killed ends without a response byte: retry it on tc2.
            retryOn: ["conn-failure", "empty-response"],
            health: { check: { path: "/", interval: `${interval}ms`, fall, rise } },
            members: nodes.map((node) => ({ name: node.jvmRoute, url: node.url.replace(/\/$/, "") })),
          },
        },
      });
      const { tandem, status } = running;
      const get = async (cookie?: string) => {
        const response = await fetch(`${tandem.url}/`, { headers: cookie ? { cookie: `JSESSIONID=${cookie}` } : {} });
        assert.equal(response.status, 200);
        const setCookie = /JSESSIONID=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
        return { ...(await response.json()) as { backend: string; session: string; count: number }, setCookie };
      };
      const fresh = async (n: number) => {
        const out: string[] = [];
        for (let i = 0; i < n; i++) out.push((await get()).backend);
        return out;
      };
      await waitFor(async () => (await status()).pools[0].members.every((m) => m.lastCheck?.ok === true), 5000, "passed checks of tc1 and tc2");

      // A session on tc1, and new clients spread over both.
      let session: string | undefined;
      for (let i = 0; i < 4 && session === undefined; i++) {
        const reply = await get();
        if (reply.backend === "tc1") session = reply.setCookie;
      }
      assert.ok(session?.endsWith(".tc1"), `a tc1 session (${session})`);
      assert.deepEqual(new Set(await fresh(6)), new Set(["tc1", "tc2"]));

      // Clients keep coming while tc1 dies: a refused connection, or a GET cut off by the kill, is
      // retried on tc2.
      let from = tandem.lines.length;
      let dying = true;
      const outcomes: string[] = [];
      const load = (async () => {
        for (let i = 0; i < 500 && dying; i++) {
          const response = await fetch(`${tandem.url}/`).catch((error) => ({ status: String(error), text: async () => "" }));
          const body = await response.text();
          outcomes.push(response.status === 200 ? JSON.parse(body).backend : `${response.status} ${body}`.trim());
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killed = Date.now();
      await tc1.stop();
      const down = await healthLine(tandem, "tc1", false, from, 15_000).finally(() => (dying = false));
      await load;
      const detect = after(down, killed);
      const failed = outcomes.filter((o) => o !== "tc1" && o !== "tc2");
      assert.deepEqual(failed, [], `no client request fails while tc1 dies (${outcomes.length} sent)`);
      assert.match(String(down.reason), /^tc1 DOWN: 3\/3 checks failed: connection refused$/);
      assert.ok(detect >= (fall - 1) * interval * 0.9 - 20, `DOWN before ${fall} checks could fail (${detect} ms)`);
      assert.deepEqual(await fresh(8), Array(8).fill("tc2"), "all new traffic goes to tc2");
      const moved = await get(session);
      assert.equal(moved.backend, "tc2", "the tc1 session fails over to tc2");
      await tandem.waitForLine((l) => l.sticky === "moved" && l.member === "tc2");
      const downDoc = member(await status(), "tc1");
      assert.equal(downDoc.state, "down");
      assert.equal(downDoc.lastCheck?.reason, "connection refused");

      from = tandem.lines.length;
      const restarting = Date.now();
      await tc1.restart();
      const ready = Date.now();
      const up = await healthLine(tandem, "tc1", true, from, 15_000);
      const recover = after(up, ready);
      assert.match(String(up.reason), /^tc1 UP: 2\/2 checks passed \(HTTP 200\)$/);
      assert.ok(after(up, restarting) > 0, "UP only after the restart began");
      assert.equal(tc1.port, Number(new URL(tc1.url).port), "the same port");
      report(`Tomcat (interval ${interval} ms, fall ${fall}, rise ${rise}): tc1 DOWN ${detect} ms after SIGKILL ` +
        `(${outcomes.length} client requests meanwhile, none failed); restart took ${ready - restarting} ms until Tomcat answered, ` +
        `UP ${recover} ms after that (${after(up, restarting)} ms after the restart began)`);
      const spread = await fresh(10);
      assert.ok(count(spread, "tc1") >= 3 && count(spread, "tc2") >= 3, `new clients are spread again: ${spread.join(" ")}`);
      assert.equal(member(await status(), "tc1").state, "up");
    } finally {
      await running?.tandem.stop();
      await Promise.all(nodes.map((node) => node.stop()));
    }
  });
});
