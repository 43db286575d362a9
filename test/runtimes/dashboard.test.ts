/**
 * The admin dashboard (core/admin/dashboard.ts) in real headless Chromium.
 *
 * - Against the REAL tandem process (Bun under `bun test`, Deno under `deno test`): the admin
 *   listener serves the page, a minted admin token signs in, live members are listed (one of them
 *   down by its health check) with their totals, check counters and downtime; the charts draw the
 *   requests and 5xx answers a counted burst made; the CSV and JSON exports hold the API's figures;
 *   Drain + Confirm reaches the real API, and draining or stopping the last usable member asks a
 *   different question (dismissing it changes nothing). A wall display opens the page with a
 *   30-day read token minted by `tandem token` in the address's fragment: it sees everything, has
 *   no controls, and the API refuses a drain with that token. Writes test/artifacts/dashboard.png.
 *   Without `vrrp` and `cluster` (their API answers 404) there is no Failover panel and no error.
 * - The real tandem with `vrrp` (unicast on 127.0.0.1, no virtual address, so no command runs) and
 *   `cluster` (one peer that never answers): the Failover panel shows the instance taking over,
 *   the wait for the session table timing out, and the peer in backoff. Writes
 *   test/artifacts/dashboard-failover.png.
 * - Against a fake admin API served from node:http, for what a small farm cannot show: a
 *   StatusDocument with three pools (one of 50 members, one whose members are all drained) whose
 *   counters grow on every poll, rates, latencies, 15 minutes of history, hostile text, a token
 *   whose scope shrinks and a token revoked mid-session. Writes
 *   test/artifacts/dashboard-50-members.png. Also failover states a lone node cannot reach
 *   (fault, synced, a peer up), hostile text in them, and VRRP without replication.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Locator, Page } from "playwright-core";
import { mintToken } from "../../core/admin/auth.ts";
import { dashboardHtml } from "../../core/admin/dashboard.ts";
import type { MemberChange, MemberStatus, StatusDocument } from "../../core/admin/model.ts";
import type { HistoryDocument } from "../../core/metrics/traffic-history.ts";
import type { ClusterStatus } from "../../core/cluster/replication/replication-node.ts";
import type { VrrpStatus } from "../../core/cluster/vrrp/agent.ts";
import type { RateLimitStatus } from "../../core/rules/rate-limit-status.ts";
import { type Backend, startBackend } from "../support/backends.ts";
import { browserSkipReason, withPage } from "../support/browser.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { call } from "../support/admin-call.ts";
import { runtime, runTandem, startTandem, type TandemProcess } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const ADMIN_TOKEN = "admin-token";
const VIEWER_TOKEN = "viewer-token";
const EVIL = `<img src=x onerror="window.__xss=1">`;
const SCREENSHOT = new URL("../artifacts/dashboard.png", import.meta.url);
const SCREENSHOT_50 = new URL("../artifacts/dashboard-50-members.png", import.meta.url);
const SCREENSHOT_FAILOVER = new URL("../artifacts/dashboard-failover.png", import.meta.url);
const SCREENSHOT_RATE_LIMITS = new URL("../artifacts/dashboard-rate-limits.png", import.meta.url);

const skip = requireTool("dashboard.test.ts", browserSkipReason());

type Member = MemberStatus;
type FakeStatus = StatusDocument;

function member(name: string, i: number, extra: Partial<Member> = {}): Member {
  const now = Date.now();
  return {
    name, url: `http://10.0.${Math.floor(i / 100)}.${i % 100}:8080`, state: "up", stateReason: "3/3 checks passed",
    since: new Date(now - 3_600_000).toISOString(), transitions: 1, downtimeMs: 0, activation: "active", activationSince: null, usable: true,
    weight: 1, effectiveWeight: 1, route: name, domain: null, distance: 0, maxconn: 0, active: i % 4, requests: 1000 * i, failures: 0,
    responses: { "1xx": 0, "2xx": 1000 * i, "3xx": 0, "4xx": 0, "5xx": 0 }, bytesIn: 0, bytesOut: 2048 * i, retries: 0, redispatches: 0,
    checks: 900, failedChecks: 0, p50Ms: null, p99Ms: null,
    lastCheck: { ok: true, at: new Date(now - 4_000).toISOString(), durationMs: 2, reason: "HTTP 200" },
    ...extra,
  };
}

function fakeStatus(): FakeStatus {
  const shop = Array.from({ length: 50 }, (_, k) => {
    const i = k + 1;
    const name = `tc${String(i).padStart(2, "0")}`;
    const extra: Partial<Member> = i % 2 === 0 ? { p50Ms: 3 + i / 10, p99Ms: 40 + i } : { p50Ms: null, p99Ms: null };
    if (i % 17 === 0) {
      Object.assign(extra, {
        state: "down", stateReason: "3/3 checks failed: connection refused",
        lastCheck: { ok: false, at: new Date().toISOString(), durationMs: 1, reason: "connection refused" },
      });
    }
    if (i % 17 === 0) extra.usable = false;
    if (i === 20) Object.assign(extra, { activation: "stopped", usable: false });
    if (i === 33) Object.assign(extra, { activation: "disabled", active: 5, usable: false });
    if (i === 12) Object.assign(extra, { weight: 4, effectiveWeight: 2, maxconn: 100 });
    return member(name, i, extra);
  });
  const api = [
    member("api1", 1, { p50Ms: 12.5, p99Ms: 180, weight: 2, effectiveWeight: 2 }),
    member("api2", 2, { p50Ms: 9.1, p99Ms: 1400 }),
    member("api/3 <b>x</b>", 3, { state: "down", stateReason: EVIL, lastCheck: null, usable: false, downtimeMs: 125_000, checks: 0 }),
  ];
  // Healthy but all drained: no usable member, whatever their health says.
  const batch = [1, 2].map((i) => member(`b${i}`, i, { activation: "disabled", usable: false }));
  return {
    runtime: "bun 1.4.5", startedAt: new Date(Date.now() - 93 * 60_000).toISOString(), reloads: 2,
    pools: [
      { name: "api", strategy: "leastconn", stickyMode: "learn", stickyEntries: 1234, queueLength: 3, usable: true, usableMembers: 2, members: api },
      { name: "shop", strategy: "roundrobin", stickyMode: "route", stickyEntries: null, queueLength: 0, usable: true, usableMembers: 46, members: shop },
      { name: "batch", strategy: "roundrobin", stickyMode: "none", stickyEntries: null, queueLength: 0, usable: false, usableMembers: 0, members: batch },
    ],
  };
}

/**
 * 15 minutes of history: shop's requests climb to 390 in the 120th interval, with 10 quiet
 * intervals (no error rate, no p99) and 5xx answers in every 45th; api is steady with a slow
 * spell; batch (every member drained) is quiet throughout.
 */
function fakeHistory(): HistoryDocument {
  const n = 180, intervalMs = 5000;
  const requests = Array.from({ length: n }, (_, i) => (i >= 100 && i < 110 ? 0 : i === 120 ? 390 : 100 + (i % 30) * 5));
  return {
    intervalMs, start: Date.now() - n * intervalMs,
    pools: [
      {
        name: "api", requests: Array.from({ length: n }, (_, i) => 500 + Math.round(80 * Math.sin(i / 9))),
        errors: Array.from({ length: n }, (_, i) => (i > 140 && i < 150 ? 40 : 0)),
        p99Ms: Array.from({ length: n }, (_, i) => (i > 140 && i < 150 ? 1400 : 180 + (i % 20))),
      },
      { name: "shop", requests, errors: requests.map((r, i) => (i % 45 === 0 ? r / 4 : 0)), p99Ms: requests.map((r, i) => (r === 0 ? null : 20 + (i % 60))) },
      { name: "batch", requests: new Array(n).fill(0), errors: new Array(n).fill(0), p99Ms: new Array(n).fill(null) },
    ],
  };
}

/** Member i (1-based in its pool) serves this many requests per second. */
const rateOf = (i: number) => 5 + (i * 37) % 60;

/** Counters as they stand `seconds` after the fake started; every 10th member fails 10 %. */
function advance(doc: FakeStatus, seconds: number) {
  for (const pool of doc.pools) {
    pool.members.forEach((m, k) => {
      const i = k + 1, served = Math.floor(rateOf(i) * seconds);
      m.requests = 1000 * i + served;
      m.responses["2xx"] = m.requests;
      m.failures = i % 10 === 0 ? Math.floor(served / 10) : 0;
    });
  }
}

async function startFakeAdmin() {
  const doc = fakeStatus(), started = Date.now();
  const patches: { pool: string; member: string; body: MemberChange }[] = [];
  const urls: string[] = [];
  const state = { revoked: false, demoted: false, vrrp: null as VrrpStatus | null, cluster: null as ClusterStatus | null };
  const history = fakeHistory();
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": typeof body === "string" ? "text/html; charset=utf-8" : "application/json" });
    res.end(text);
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (text += chunk));
      req.on("end", () => resolve(text));
      req.on("error", reject);
    });
  const server = createServer(async (req, res) => {
    urls.push(req.url ?? "");
    const path = new URL(req.url ?? "/", "http://fake").pathname;
    if (req.method === "GET" && path === "/") return send(res, 200, dashboardHtml);
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (state.revoked || (token !== ADMIN_TOKEN && token !== VIEWER_TOKEN)) {
      return send(res, 401, { error: "invalid or missing token", code: "UNAUTHORIZED" });
    }
    if (req.method === "GET" && path === "/api/v1/status") {
      advance(doc, (Date.now() - started) / 1000);
      return send(res, 200, doc);
    }
    if (req.method === "GET" && path === "/api/v1/whoami") {
      return send(res, 200, token === ADMIN_TOKEN ? { subject: "alice", scope: "admin" } : { subject: "wall", scope: "read" });
    }
    if (req.method === "GET" && path === "/api/v1/history") return send(res, 200, history);
    if (req.method === "GET" && (path === "/api/v1/vrrp" || path === "/api/v1/cluster")) {
      const body = path.endsWith("vrrp") ? state.vrrp : state.cluster;
      return body ? send(res, 200, body) : send(res, 404, { error: `no ${path.slice(8)} configured`, code: "NOT_FOUND" });
    }
    const match = /^\/api\/v1\/pools\/([^/]+)\/members\/([^/]+)$/.exec(path);
    if (req.method === "PATCH" && match) {
      const body = JSON.parse(await readBody(req)) as MemberChange;
      if (token !== ADMIN_TOKEN || state.demoted) return send(res, 403, { error: "token is read-only", code: "FORBIDDEN" });
      const [pool, name] = [decodeURIComponent(match[1]), decodeURIComponent(match[2])];
      const target = doc.pools.find((p) => p.name === pool)?.members.find((m) => m.name === name);
      if (!target) return send(res, 404, { error: `no member ${name} in pool ${pool}`, code: "NOT_FOUND" });
      if (body.weight !== undefined && !(Number.isInteger(body.weight) && body.weight >= 0 && body.weight <= 256)) {
        return send(res, 400, { error: "weight must be 0-256", code: "INVALID" });
      }
      patches.push({ pool, member: name, body });
      if (body.activation) target.activation = body.activation;
      if (body.weight !== undefined) target.weight = target.effectiveWeight = body.weight;
      return send(res, 200, target);
    }
    send(res, 404, { error: "not found", code: "NOT_FOUND" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`, doc, history, patches, urls, state,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** The table row of a member, found by the first line of its row header. */
function row(page: Page, pool: string, name: string): Locator {
  return page.getByRole("table", { name: pool }).locator("tbody tr")
    .filter({ has: page.locator("th > span:first-child").getByText(name, { exact: true }) });
}

const cells = (r: Locator) => r.locator("td").allInnerTexts();

/** Neither vrrp nor cluster (both 404): no Failover panel, no error banner. */
async function assertNoFailoverPanel(page: Page) {
  assert.equal(await page.getByRole("region", { name: "Failover" }).count(), 0);
  assert.ok(await page.locator("#failover").isHidden());
  assert.equal(await page.locator("#failover tbody tr").count(), 0);
  assert.ok(await page.locator("#banner").isHidden(), "no error for the 404s");
}

/** Without `rateLimits` (the API lists none): no Rate limits panel. */
async function assertNoRateLimitsPanel(page: Page) {
  assert.equal(await page.getByRole("region", { name: "Rate limits" }).count(), 0);
  assert.ok(await page.locator("#ratelimits").isHidden());
  assert.equal(await page.locator("#ratelimits tbody tr").count(), 0);
}

async function signIn(page: Page, token: string) {
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("the page is self-contained and never uses innerHTML", () => {
  assert.ok(dashboardHtml.startsWith("<!doctype html>"));
  // The SVG namespace is a name, not an address anything is fetched from.
  const page = dashboardHtml.replaceAll("http://www.w3.org/2000/svg", "");
  assert.doesNotMatch(page, /<script[^>]+src|<link|@import|\burl\(|https?:\/\/|\$\{/i);
  assert.doesNotMatch(page, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
});

const SECRET = "tandem-dashboard-test-secret-0123456789";

/** A backend whose /health can be made to fail; /fail answers 500. */
async function farmBackend(name: string, healthy = true): Promise<Backend> {
  return await startBackend(name, (request, response) => {
    if (request.url === "/health") {
      response.statusCode = healthy ? 200 : 503;
      return void response.end(healthy ? "OK" : "maintenance");
    }
    if (request.url === "/fail") response.statusCode = 500;
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ backend: name }));
  });
}

/** The figures a chart draws, read back from its bars: one value per bar, by the figure's peak. */
async function drawn(page: Page, label: string): Promise<{ values: number[]; peak: number; now: string; peakText: string }> {
  const figure = page.getByRole("figure", { name: label });
  const d = await figure.locator("path.bars").getAttribute("d") ?? "";
  const peak = Number(await figure.getAttribute("data-peak"));
  // A bar is "M<x> 116V<top>h<width>V116Z": its top runs from 116 (0) to 4 (the peak) in the 600 x 120 view box.
  const values = [...d.matchAll(/M[\d.]+ 116V([\d.]+)h/g)].map((m) => (116 - Number(m[1])) / 112 * peak);
  return { values, peak, now: await figure.locator(".now").innerText(), peakText: await figure.locator(".axis span").last().innerText() };
}

test(`dashboard on the real admin API (${runtime}): totals, charts of a counted burst, exports, drain and the last-member warning, a wall display's read token, screenshot`, { skip, timeout: 120_000 }, async () => {
  const backends = [await farmBackend("tc1"), await farmBackend("tc2"), await farmBackend("tc3", false)];
  const address = `127.0.0.1:${await freePort()}`;
  const base = `http://${address}/`;
  let tandem: TandemProcess | undefined;
  let stopTraffic = false;
  let traffic: Promise<void> | undefined;
  try {
    tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      admin: { address, auth: { secret: SECRET } },
      pools: {
        shop: {
          sticky: { mode: "route" },
          health: { check: { path: "/health", interval: "300ms", fall: 1, rise: 1 } },
          members: backends.map((b, i) => ({ name: b.name, url: b.url, ...(i === 1 ? { weight: 2 } : {}) })),
        },
      },
    });
    const { url: proxy, configPath } = tandem;
    await tandem.waitForLine((l) => l.event === "admin-listening");
    await tandem.waitForLine((l) => l.event === "health" && l.member === "tc3" && l.up === false);
    const adminToken = await mintToken({ secret: SECRET, audience: "tandem-admin", subject: "dashboard-admin", scope: "admin", ttlSeconds: 600 });
    const status = async () => (await call(`${base}api/v1/status`, { token: adminToken })).json as StatusDocument;
    const apiMember = async (name: string) => (await status()).pools[0].members.find((m) => m.name === name)!;
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

    // A counted burst: every 6th request is answered 500 by its member (spread out, so no member
    // sees the 10 errors in a row that would eject it).
    const BURST = 60, FAILING = 10;
    for (let i = 0; i < BURST; i++) {
      const response = await fetch(`${proxy}/${i % 6 === 5 ? "fail" : ""}`);
      await response.arrayBuffer();
      assert.equal(response.status, i % 6 === 5 ? 500 : 200);
    }
    let history: HistoryDocument | undefined;
    await waitFor(async () => {
      history = (await call(`${base}api/v1/history`, { token: adminToken })).json as HistoryDocument;
      return sum(history.pools[0].requests) === BURST;
    }, 20_000, "the burst in the history once its intervals ended");
    assert.equal(sum(history!.pools[0].errors), FAILING);

    await withPage(async (page) => {
      const served = await page.goto(base);
      assert.equal(served?.status(), 200);
      assert.match(served?.headers()["content-type"] ?? "", /^text\/html/);
      assert.equal(served?.headers()["x-frame-options"], "DENY");
      assert.equal(served?.headers()["cache-control"], "no-store");

      // Not a token: the real API's 401 message, and the form stays.
      await signIn(page, "not-a-token");
      await page.getByText("Token rejected: invalid token").waitFor();

      await signIn(page, adminToken);
      await page.waitForFunction("document.querySelectorAll('section.pool tbody tr').length === 3");
      assert.match(await page.locator("#runtime").innerText(), new RegExp(`^${runtime} \\d`));
      assert.equal(await page.locator("#who").innerText(), "signed in as dashboard-admin");
      const facts = (await page.getByRole("region", { name: "shop" }).locator("dl.facts").innerText()).replace(/\s+/g, " ");
      assert.match(facts, /^strategy roundrobin sticky route queue 0 usable 2\/3 req\/s/, "no sessions in route mode; tc3 is not usable");
      assert.ok(await page.getByRole("region", { name: "shop" }).locator(".badge").isHidden());

      // Totals: the burst went to tc1 and tc2 (tc3 is down), its 500s counted as 5xx.
      const [tc1cells, tc2cells, tc3cells] = [await cells(row(page, "shop", "tc1")), await cells(row(page, "shop", "tc2")), await cells(row(page, "shop", "tc3"))];
      assert.deepEqual([tc2cells[0], tc2cells[2], tc2cells[3]], ["up", "active", "2"]);
      const classes = (text: string) => text.split(" / ").map(Number);
      assert.equal(Number(tc1cells[6]) + Number(tc2cells[6]), BURST);
      assert.equal(classes(tc1cells[7])[1] + classes(tc2cells[7])[1], FAILING);
      assert.deepEqual([classes(tc1cells[7])[0], classes(tc2cells[7])[0], Number(tc3cells[6])], [0, 0, 0]);
      assert.match(tc2cells[10], /^0 B \/ \d+(\.\d)? (B|KiB)$/);
      assert.notEqual(tc2cells[10], "0 B / 0 B");
      assert.match(tc1cells[1], /^\d+s · no change$/);
      assert.match(tc3cells[1], /^\d+s · \d/);
      // Checks: tc3 failed every one it had, tc1 none; tc3 has been down since its first.
      const [tc3checks, tc3failed] = /^(\d+) \((\d+)\)$/.exec(tc3cells[13])!.slice(1).map(Number);
      assert.ok(tc3checks >= 1 && tc3failed === tc3checks, tc3cells[13]);
      assert.match(tc1cells[13], /^[1-9]\d* \(0\)$/);
      assert.match(tc3cells[14], /^\d+s$/);
      assert.equal(tc1cells[14], "none");
      assert.match(tc2cells[15], /^✓ HTTP 200 · \d+s ago$/);
      assert.match(tc3cells[0], /^down\n1\/1 checks failed: HTTP 503/);
      assert.match(tc3cells[15], /^✗ HTTP 503/);
      assert.equal(await row(page, "shop", "tc1").locator("th .sub").innerText(), backends[0].url.replace("http://", ""));
      await assertNoFailoverPanel(page);
      assert.deepEqual((await call(`${base}api/v1/rate-limits`, { token: adminToken })).json, { limits: [] });
      await assertNoRateLimitsPanel(page);

      // The charts draw the burst: its requests, read back from the drawn line, and its 5xx share.
      const rps = await drawn(page, "shop Requests/s");
      assert.equal(rps.values.length, 180);
      assert.ok(rps.peak > 0 && Math.max(...rps.values) === rps.peak, `peak ${rps.peak}`);
      assert.equal(rps.peakText.startsWith("peak "), true);
      const drawnRequests = sum(rps.values) * 5;
      assert.ok(Math.abs(drawnRequests - BURST) < 1, `the line draws ${drawnRequests} requests`);
      const busy = rps.values.filter((v) => v > 0).length;
      const errors = await drawn(page, "shop 5xx error rate");
      assert.ok(errors.peak > 0 && errors.peak <= 100, `5xx peak ${errors.peak}`);
      assert.equal(errors.values.length, busy, "an error rate for every interval with requests, none for the others");
      const p99 = await drawn(page, "shop p99 latency");
      assert.ok(p99.peak > 0 && p99.values.length === busy);

      // Exports: one row per member with the API's figures (no traffic now: the counters stand still).
      const doc = await status();
      const exported = async (format: "CSV" | "JSON") => {
        const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: `Export ${format}` }).click()]);
        assert.match(download.suggestedFilename(), new RegExp(`^tandem-members-[\\dT-]+Z\\.${format.toLowerCase()}$`));
        return await readFile((await download.path())!, "utf8");
      };
      const csv = (await exported("CSV")).split("\r\n");
      assert.equal(csv.pop(), "", "ends with a line break");
      const header = csv[0].split(",");
      const csvRows = csv.slice(1).map((line) => Object.fromEntries(line.split(",").map((value, i) => [header[i], value])));
      const json = JSON.parse(await exported("JSON")) as Record<string, unknown>[];
      assert.deepEqual(Object.keys(json[0]), header);
      assert.deepEqual(json.map((r) => r.member), ["tc1", "tc2", "tc3"]);
      for (const [i, m] of doc.pools[0].members.entries()) {
        const want = { pool: "shop", member: m.name, state: m.state, activation: m.activation, requests: m.requests, responses5xx: m.responses["5xx"], bytesOut: m.bytesOut };
        assert.deepEqual(Object.fromEntries(Object.keys(want).map((key) => [key, json[i][key]])), want);
        assert.deepEqual(Object.fromEntries(Object.keys(want).map((key) => [key, csvRows[i][key]])), Object.fromEntries(Object.entries(want).map(([k, v]) => [k, String(v)])));
      }
      assert.equal(sum(json.map((r) => r.requests as number)), BURST);

      // Drain tc1: tc2 still takes requests, so the ordinary confirmation, naming it; Confirm sends the PATCH.
      const tc1 = row(page, "shop", "tc1");
      await tc1.getByRole("button", { name: "Drain" }).click();
      await page.getByRole("dialog").getByText("Drain tc1 in pool shop (activation disabled)?").waitFor();
      assert.equal(await page.locator("#confirm-title").innerText(), "Confirm change");
      assert.equal((await apiMember("tc1")).activation, "active", "nothing is sent before Confirm");
      await page.getByRole("button", { name: "Confirm" }).click();
      await waitFor(async () => (await apiMember("tc1")).activation === "disabled", 5000, "the real API to show tc1 disabled");
      await page.getByRole("status").getByText("tc1 in shop: activation disabled, weight 1.").waitFor();
      await page.waitForFunction(`[...document.querySelectorAll("tbody tr")].some((tr) =>
        tr.querySelector("th span").textContent === "tc1" && tr.cells[3].textContent === "disabled" && tr.cells[1].textContent.startsWith("draining"))`);
      assert.ok(await tc1.getByRole("button", { name: "Drain" }).isDisabled());
      assert.match((await cells(tc1))[1], /^\d+s · \d/, "the drain is its last change");
      const logged = await tandem!.waitForLine((l) => l.event === "admin" && l.action === "set-member");
      assert.deepEqual([logged.actor, logged.member, logged.status], ["dashboard-admin", "tc1", 200]);
      assert.deepEqual(logged.change, { activation: "disabled" });
      await waitFor(async () => /usable\s*1\/3/.test(await page.getByRole("region", { name: "shop" }).locator("dl.facts").innerText()), 5000, "usable 1/3");

      // tc2 is now the last usable member: Drain and Stop ask differently, each naming what follows;
      // dismissing (Cancel, Escape) sends nothing.
      const tc2 = row(page, "shop", "tc2");
      await tc2.getByRole("button", { name: "Drain" }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByRole("heading", { name: "Last usable member of shop" }).waitFor();
      const drainText = await page.locator("#confirm-text").innerText();
      assert.equal(drainText, "tc2 is the last usable member of pool shop. Drain tc2? Then pool shop has no usable member: " +
        "new requests and new sessions get 503 until a member is enabled; sessions already on tc2 are still served.");
      assert.equal(await dialog.getByRole("button", { name: "Confirm" }).count(), 0);
      assert.ok(await dialog.getByRole("button", { name: "Drain anyway" }).isVisible());
      await dialog.getByRole("button", { name: "Cancel" }).click();
      await dialog.waitFor({ state: "hidden" });
      await tc2.getByRole("button", { name: "Stop" }).click();
      await dialog.getByRole("heading", { name: "Last usable member of shop" }).waitFor();
      assert.match(await page.locator("#confirm-text").innerText(), /^tc2 is the last usable member of pool shop\. Stop tc2\? .*every request to the pool gets 503/);
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      assert.equal((await apiMember("tc2")).activation, "active");
      assert.equal(tandem!.lines.filter((l) => l.event === "admin" && l.action === "set-member").length, 1, "only tc1's drain was sent");

      // Steady traffic, so that req/s has something to show in the screenshot.
      traffic = (async () => {
        for (let i = 0; i < 2000 && !stopTraffic; i++) {
          await fetch(`${proxy}/`).then((r) => r.arrayBuffer()).catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
      })();
      await waitFor(async () => /^\d/.test((await cells(row(page, "shop", "tc2")))[5]), 8000, "a req/s figure for tc2");
      // As on a wall display: wide enough for the whole table, nothing focused or scrolled.
      await page.setViewportSize({ width: 1920, height: 1080 });
      await page.evaluate(`document.activeElement.blur(); document.querySelectorAll(".table-wrap").forEach((e) => { e.scrollLeft = 0; })`);
      await page.mouse.move(0, 0);
      await mkdir(new URL(".", SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT.pathname });
    });
    stopTraffic = true;
    await traffic;

    // A wall display: a 30-day read token minted on purpose, in the address's fragment.
    const minted = await runTandem(["token", "--scope", "read", "--ttl", "30d", "--sub", "wall", "--config", configPath!]);
    assert.equal(minted.code, 0, minted.stderr);
    const wallToken = minted.stdout.trim();
    const longAdmin = await runTandem(["token", "--scope", "admin", "--ttl", "30d", "--config", configPath!]);
    assert.equal(longAdmin.code, 2, "an admin token may not live that long");
    await withPage(async (page) => {
      await page.goto(`${base}#token=${wallToken}`);
      await page.waitForFunction("document.querySelectorAll('section.pool tbody tr').length === 3");
      assert.equal(new URL(page.url()).hash, "", "the token left the address");
      assert.equal(await page.locator("#who").innerText(), "signed in as wall (read-only)");
      assert.ok(await page.getByLabel("Admin token").isHidden());
      assert.equal(await page.getByRole("button", { name: /^(Drain|Stop|Enable|Set weight) / }).count(), 0);
      assert.equal((await drawn(page, "shop Requests/s")).values.length, 180);
      assert.match((await cells(row(page, "shop", "tc1")))[0], /^draining/);
    });
    const refused = await call(`${base}api/v1/pools/shop/members/tc2`, { token: wallToken, method: "PATCH", body: { activation: "disabled" } });
    assert.equal(refused.status, 403);
    assert.equal((await call(`${base}api/v1/reload`, { token: wallToken, method: "POST" })).status, 403);
    assert.equal((await apiMember("tc2")).activation, "active", "the read token changed nothing");
  } finally {
    stopTraffic = true;
    await traffic;
    await tandem?.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
});

test(`dashboard on the real admin API (${runtime}): the Failover panel with vrrp and cluster`, { skip, timeout: 60_000 }, async () => {
  const backend = await farmBackend("tc1");
  const address = `127.0.0.1:${await freePort()}`;
  const deadPeer = `127.0.0.1:${await freePort()}`;
  let tandem: TandemProcess | undefined;
  try {
    // The browser starts first: the 3 s wait for the session table must still be on at sign-in.
    await withPage(async (page) => {
      tandem = await startTandem({
        listeners: [{ address: "127.0.0.1:0" }],
        accessLog: false,
        admin: { address, auth: { secret: SECRET } },
        pools: { shop: { members: [{ name: backend.name, url: backend.url }] } },
        vrrp: {
          key: "the dashboard test's vrrp key",
          address: "127.0.0.1",
          port: await freePort(),
          peers: ["127.0.0.2"],
          syncTimeout: "3s",
          // No virtual address: no `ip addr` (root) runs when the instance becomes master.
          instances: [{ name: "web", vrid: 51, interface: "lo", advertInterval: "100ms", virtualAddresses: [] }],
        },
        cluster: {
          name: "shop-lb",
          node: "lb1",
          listen: `127.0.0.1:${await freePort()}`,
          peers: [{ name: "lb2", address: deadPeer }],
          key: "the dashboard test cluster's key, 32+ characters",
        },
      });
      await tandem.waitForLine((l) => l.event === "admin-listening");
      const token = await mintToken({ secret: SECRET, audience: "tandem-admin", subject: "dashboard-failover", scope: "admin", ttlSeconds: 600 });
      await page.goto(`http://${address}/`);
      await signIn(page, token);

      const panel = page.getByRole("region", { name: "Failover" });
      await panel.waitFor();
      const sync = page.locator("#vrrp-sync");
      // Held at priority 1 while waiting: the lone node still takes over (no master speaks).
      assert.match(await sync.innerText(), /^waiting for the session table from a peer… \(\d+(\.\d)? s of 3 s\)$/);
      assert.equal(await sync.getAttribute("class"), "warn");
      const web = row(page, "VRRP instances", "web");
      await waitFor(async () => (await cells(web))[1] === "master", 5000, "web shown as master");
      let webCells = await cells(web);
      assert.deepEqual(webCells.slice(0, 6), ["51", "master", "127.0.0.1", "100 (1)", "–", "–"]);
      assert.match(webCells[6], /^backup → master · \d+s ago\nno advertisement for Master_Down_Interval$/);
      assert.equal(await web.locator("th .sub").innerText(), "lo");
      assert.equal(await page.evaluate(`getComputedStyle(document.querySelector("#vrrp-rows .pill")).backgroundColor`), "rgb(30, 142, 62)");
      assert.match(await panel.innerText(), /transport\s*unicast 127\.0\.0\.1:\d+ → 127\.0\.0\.2[\s\S]*send errors\s*\d+/);

      // The peer never answers: backoff, nothing inbound, no contact, why the connect failed.
      const lb2 = row(page, "Replication peers", "lb2");
      await waitFor(async () => (await cells(lb2))[0] === "backoff", 5000, "lb2 shown in backoff");
      const lb2cells = await cells(lb2);
      assert.deepEqual(lb2cells.slice(0, 5), ["backoff", "no", "never", "0", "0 / 0"]);
      assert.match(lb2cells[5], /^cannot connect: /);
      assert.equal(await lb2.locator("th .sub").innerText(), deadPeer);
      assert.match(await panel.innerText(), /cluster\s*shop-lb[\s\S]*node\s*lb1[\s\S]*updates\s*\d+/);

      // No resync can come: the wait times out after 3 s and the configured priority returns.
      await waitFor(async () => /^timed out after 3\d{3} ms$/.test(await sync.innerText()), 8000, "the sync wait shown as timed out");
      assert.equal(await sync.getAttribute("class"), "bad");
      const logged = await tandem.waitForLine((l) => l.event === "vrrp-sync");
      assert.equal(logged.state, "timed-out");
      await waitFor(async () => (webCells = await cells(web))[3] === "100", 5000, "priority 100 after the wait");
      assert.equal(webCells[1], "master");
      assert.ok(await page.locator("#banner").isHidden());

      await page.mouse.move(0, 0);
      await mkdir(new URL(".", SCREENSHOT_FAILOVER), { recursive: true });
      await page.screenshot({ path: SCREENSHOT_FAILOVER.pathname });
    });
  } finally {
    await tandem?.stop();
    await backend.close();
  }
});

test(`dashboard on the real admin API (${runtime}): the Rate limits panel, a hostile key shown as text`, { skip, timeout: 60_000 }, async () => {
  const backend = await farmBackend("tc1");
  const address = `127.0.0.1:${await freePort()}`;
  const base = `http://${address}/`;
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0", rules: [{ rateLimit: "per-client" }, { rateLimit: "per-api-key" }] }],
      accessLog: false,
      admin: { address, auth: { secret: SECRET } },
      rateLimits: {
        "per-client": { requests: 1000, per: "1m", concurrent: 20, size: 500 },
        "per-api-key": { key: { header: "X-Api-Key" }, requests: 5, per: "1m", size: 100 },
      },
      pools: { shop: { members: [{ name: backend.name, url: backend.url }] } },
    });
    await tandem.waitForLine((l) => l.event === "admin-listening");
    const token = await mintToken({ secret: SECRET, audience: "tandem-admin", subject: "dashboard-limits", scope: "admin", ttlSeconds: 600 });
    const send = async (key: string | null, times: number) => {
      const statuses: number[] = [];
      for (let i = 0; i < times; i++) {
        const response = await fetch(`${tandem!.url}/`, { headers: key === null ? {} : { "X-Api-Key": key } });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      return statuses;
    };
    // alice goes 3 over her budget of 5; the hostile key stays within it; values over 256
    // characters count as one key; 3 requests carry no key.
    assert.deepEqual(await send("alice", 8), [200, 200, 200, 200, 200, 429, 429, 429]);
    assert.deepEqual(await send(EVIL, 2), [200, 200]);
    assert.deepEqual(await send("x".repeat(300), 1), [200]);
    assert.deepEqual(await send(null, 3), [200, 200, 200]);
    const apiLimit = async (name: string) =>
      ((await call(`${base}api/v1/rate-limits?top=10`, { token })).json as { limits: RateLimitStatus[] }).limits.find((l) => l.name === name)!;
    const perKey = await apiLimit("per-api-key");
    assert.deepEqual([perKey.admitted, perKey.refused, perKey.keys], [8, 3, 3]);
    assert.deepEqual(perKey.key, { header: "X-Api-Key" });

    await withPage(async (page) => {
      await page.goto(base);
      await signIn(page, token);
      const panel = page.getByRole("region", { name: "Rate limits" });
      await panel.waitFor();
      const facts = async (name: string) =>
        (await panel.locator(".part").filter({ has: page.getByRole("heading", { name, exact: true }) }).locator("dl.facts").innerText()).replace(/\s+/g, " ");
      assert.equal(await facts("per-api-key"), "key header X-Api-Key requests 5 / 1m concurrent – keys 3 / 100 evictions 0 admitted 8 refused 3");
      assert.equal(await facts("per-client"), "key client address requests 1000 / 1m concurrent 20 keys 1 / 500 evictions 0 admitted 14 refused 0");
      const keyRows = (name: string) => page.getByRole("table", { name }).locator("tbody tr");
      const rowsOf = async (name: string) =>
        await Promise.all((await keyRows(name).all()).map((r) => r.locator("th, td").allInnerTexts()));
      assert.deepEqual(await rowsOf("per-api-key"), [["alice", "5", "0"], [EVIL, "2", "0"], ["(values over 256 characters)", "1", "0"]]);
      assert.deepEqual(await rowsOf("per-client"), [["127.0.0.1", "14", "0"]]);
      // The hostile key is text: no element came from it, and its onerror never ran.
      assert.equal(await panel.locator("img").count(), 0);
      assert.equal(await page.evaluate("window.__xss"), undefined);
      assert.equal(await keyRows("per-api-key").nth(1).locator("th").innerText(), EVIL);
      // A key at its budget is marked.
      assert.equal(await keyRows("per-api-key").first().locator("td").first().getAttribute("class"), "num bad");

      // Refreshed with the page: alice's next two are refused, and the panel follows the API.
      assert.deepEqual(await send("alice", 2), [429, 429]);
      assert.equal((await apiLimit("per-api-key")).refused, 5);
      await waitFor(async () => /refused 5$/.test(await facts("per-api-key")), 8000, "the panel to show 5 refused");
      assert.ok(await page.locator("#banner").isHidden());

      await page.setViewportSize({ width: 1440, height: 760 });
      await page.mouse.move(0, 0);
      await mkdir(new URL(".", SCREENSHOT_RATE_LIMITS), { recursive: true });
      await panel.scrollIntoViewIfNeeded();
      await page.screenshot({ path: SCREENSHOT_RATE_LIMITS.pathname });
    });
  } finally {
    await tandem?.stop();
    await backend.close();
  }
});

test("dashboard: sign in, 50 members live, totals, charts, drain with confirmation, screenshot", { skip, timeout: 60_000 }, async () => {
  const fake = await startFakeAdmin();
  try {
    await withPage(async (page) => {
      await page.goto(fake.url);
      const tokenInput = page.getByLabel("Admin token");
      assert.equal(await tokenInput.getAttribute("type"), "password");

      // A wrong token: the login form stays, with the API's error.
      await signIn(page, "wrong-token");
      await page.getByText("invalid or missing token").waitFor();
      assert.ok(await tokenInput.isVisible());
      assert.equal(await page.evaluate("sessionStorage.getItem('tandem.adminToken')"), null);

      await signIn(page, ADMIN_TOKEN);
      await page.waitForFunction("document.querySelectorAll('section.pool tbody tr').length === 55");
      assert.equal(await page.getByRole("table", { name: "shop" }).locator("tbody tr").count(), 50);
      await assertNoFailoverPanel(page);
      assert.equal(await page.evaluate("sessionStorage.getItem('tandem.adminToken')"), ADMIN_TOKEN);
      assert.equal(await page.locator("#who").innerText(), "signed in as alice");
      assert.deepEqual(
        await page.getByRole("table", { name: "shop" }).locator("thead th").allInnerTexts().then((t) => t.map((s) => s.toLowerCase())),
        ["member", "state", "in state", "activation", "weight (eff.)", "active", "req/s", "requests", "4xx / 5xx", "failures",
          "retr / redisp", "bytes in / out", "p50", "p99", "checks (fail)", "downtime", "last check", "actions"],
      );

      // State, time in it, activation, weight (effective), totals, latency present or "–", checks, downtime, last check.
      let tc12 = await cells(row(page, "shop", "tc12"));
      assert.equal(tc12[0].split("\n")[0], "up");
      assert.match(tc12[1], /^60m · \d/);
      assert.deepEqual(tc12.slice(2, 4), ["active", "4 (2)"]);
      assert.match(tc12[4], /^0\/100$/);
      assert.deepEqual(tc12.slice(7, 15), ["0 / 0", "0", "0 / 0", "0 B / 24 KiB", "4.2 ms", "52 ms", "900 (0)", "none"]);
      assert.match(tc12[15], /^✓ HTTP 200 · \d+s ago$/);
      const tc17 = await cells(row(page, "shop", "tc17"));
      assert.deepEqual(tc17.slice(11, 13), ["–", "–"]);
      assert.match(tc17[0], /^down\n3\/3 checks failed: connection refused$/);
      assert.match(tc17[15], /^✗ connection refused/);
      assert.equal((await cells(row(page, "shop", "tc20")))[0].split("\n")[0], "stopped");
      assert.equal((await cells(row(page, "shop", "tc33")))[0].split("\n")[0], "draining");
      const colours = new Set(await page.evaluate(`[...document.querySelectorAll("table .pill")]
        .map((e) => e.textContent + "=" + getComputedStyle(e).backgroundColor)`) as string[]);
      assert.deepEqual([...colours].sort(), [
        "down=rgb(208, 49, 45)", "draining=rgb(199, 119, 0)", "stopped=rgb(123, 133, 148)", "up=rgb(30, 142, 62)",
      ]);
      const api1 = await cells(row(page, "api", "api1"));
      assert.deepEqual(api1.slice(11, 13), ["13 ms", "180 ms"]);
      const api3 = await cells(row(page, "api", "api/3 <b>x</b>"));
      assert.deepEqual(api3.slice(13, 15), ["–", "2m"], "no checks; 125 s down");

      // Facts: sessions only where the mode keeps a table; usable agrees with the badge.
      const facts = async (pool: string) => (await page.getByRole("region", { name: pool }).locator("dl.facts").innerText()).replace(/\s+/g, " ");
      assert.match(await facts("api"), /sessions 1234 queue 3 usable 2\/3/);
      assert.doesNotMatch(await facts("shop"), /sessions/);
      assert.match(await facts("shop"), /usable 46\/50/);
      assert.ok(await page.getByRole("region", { name: "shop" }).locator(".badge").isHidden());
      assert.match(await facts("batch"), /usable 0\/2/);
      assert.ok(await page.getByRole("region", { name: "batch" }).getByText("no usable member").isVisible());

      // API text is shown as text, never as markup.
      await row(page, "api", "api/3 <b>x</b>").getByText(EVIL).waitFor();
      assert.equal(await page.evaluate("(window.__xss === undefined) + ':' + document.querySelectorAll('main img, main b').length"), "true:0");

      // Charts from the 15 minutes of history: every interval drawn, the peak at the top, gaps where nothing came.
      const rps = await drawn(page, "shop Requests/s");
      assert.equal(rps.values.length, 180);
      assert.equal(rps.peak, 390 / 5);
      assert.equal(Math.max(...rps.values), rps.peak);
      assert.equal(rps.peakText, "peak 78/s");
      assert.equal(rps.now, String((100 + (179 % 30) * 5) / 5) + "/s");
      const total = rps.values.reduce((sum, v) => sum + v * 5, 0);
      const sent = fake.history.pools.find((pool) => pool.name === "shop")!.requests.reduce((sum, n) => sum + n, 0);
      assert.ok(Math.abs(total - sent) < sent * 0.01, `drawn ${total} requests, the history has ${sent}`);
      const errors = await drawn(page, "shop 5xx error rate");
      assert.equal(errors.values.length, 170, "no error rate for the 10 quiet intervals");
      assert.equal(errors.values.filter((v) => v > 0).length, 4, "5xx in every 45th interval");
      assert.equal(errors.peak, 25);
      assert.equal((await drawn(page, "shop p99 latency")).peak, 79);
      const quiet = await drawn(page, "batch Requests/s");
      assert.deepEqual([quiet.peak, Math.max(...quiet.values), quiet.peakText], [0, 0, "peak 0.0/s"]);
      assert.equal((await drawn(page, "batch p99 latency")).peakText, "no requests");
      assert.equal((await drawn(page, "api p99 latency")).peakText, "peak 1.40 s");
      const chartText = await page.evaluate(`[...document.querySelectorAll("figure.chart .title, figure.chart .now, figure.chart .axis span")]
        .map((e) => parseFloat(getComputedStyle(e).fontSize))`) as number[];
      assert.ok(Math.min(...chartText) >= 16, `chart text at least 16 px (got ${chartText.join(", ")})`);

      // Rates come from the counter deltas of two polls: tc01 serves 42 req/s, tc10 15.
      await waitFor(async () => (await cells(row(page, "shop", "tc10")))[5] !== "–", 6000, "a second poll");
      const [tc01, tc10] = [await cells(row(page, "shop", "tc01")), await cells(row(page, "shop", "tc10"))];
      assert.ok(Number(tc01[5]) >= 35 && Number(tc01[5]) <= 50, `tc01 req/s ${tc01[5]}`);
      assert.ok(Number(tc10[5]) >= 10 && Number(tc10[5]) <= 20, `tc10 req/s ${tc10[5]}`);

      // Cancel sends nothing.
      await row(page, "shop", "tc04").getByRole("button", { name: "Stop" }).click();
      await page.getByRole("dialog").getByText("Stop tc04 in pool shop").waitFor();
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.getByRole("dialog").waitFor({ state: "hidden" });

      // Drain tc03 -> Confirm -> PATCH {activation: disabled} -> the row shows it after the next poll.
      const tc03 = row(page, "shop", "tc03");
      await tc03.getByRole("button", { name: "Drain" }).click();
      await page.getByRole("dialog").getByText("Drain tc03 in pool shop").waitFor();
      assert.equal(await page.locator("#confirm-title").innerText(), "Confirm change");
      await page.getByRole("button", { name: "Confirm" }).click();
      await waitFor(async () => fake.patches.length === 1, 5000, "the PATCH");
      assert.deepEqual(fake.patches, [{ pool: "shop", member: "tc03", body: { activation: "disabled" } }]);
      await page.waitForFunction(`[...document.querySelectorAll("tbody tr")].some((tr) =>
        tr.querySelector("th span").textContent === "tc03" && tr.cells[3].textContent === "disabled" && tr.cells[1].textContent.startsWith("draining"))`);
      assert.ok(await tc03.getByRole("button", { name: "Drain" }).isDisabled());
      await page.getByRole("status").getByText("tc03 in shop: activation disabled, weight 1.").waitFor();

      // Set weight of tc12 to 7.
      const tc12row = row(page, "shop", "tc12");
      await tc12row.getByLabel("Weight for tc12").fill("7");
      await tc12row.getByRole("button", { name: "Set weight" }).click();
      await page.getByRole("dialog").getByText("Set the weight of tc12 in pool shop to 7?").waitFor();
      await page.getByRole("button", { name: "Confirm" }).click();
      await waitFor(async () => fake.patches.length === 2, 5000, "the weight PATCH");
      assert.deepEqual(fake.patches[1], { pool: "shop", member: "tc12", body: { weight: 7 } });
      await waitFor(async () => (tc12 = await cells(tc12row))[3] === "7", 5000, "weight 7 shown");

      // The token travels only in the Authorization header.
      assert.ok(fake.urls.every((u) => !u.includes(ADMIN_TOKEN)), fake.urls.join(" "));

      await page.setViewportSize({ width: 1920, height: 1080 });
      await page.evaluate(`document.activeElement.blur(); document.querySelectorAll(".table-wrap").forEach((e) => { e.scrollLeft = 0; })`);
      await page.mouse.move(0, 0);
      await page.evaluate("window.scrollTo(0, 0)");
      await mkdir(new URL(".", SCREENSHOT_50), { recursive: true });
      await page.screenshot({ path: SCREENSHOT_50.pathname });
    });
  } finally {
    await fake.close();
  }
});

test("dashboard: failover states, hostile text in them, and VRRP without replication (fake API)", { skip, timeout: 60_000 }, async () => {
  const fake = await startFakeAdmin();
  const now = Date.now(), ago = (ms: number) => new Date(now - ms).toISOString();
  const instance = (name: string, vrid: number, state: "master" | "backup" | "fault", extra: object = {}) => ({
    name, vrid, state, masterAddress: state === "fault" ? null : "10.0.0.11", priority: 150, effectivePriority: state === "fault" ? 0 : 150,
    advertIntervalMs: 1000, interface: "eth0", virtualAddresses: ["10.0.0.100/24", "10.0.0.101/24"], transitions: 2,
    lastTransition: { from: "backup" as const, to: state, reason: EVIL, at: ago(65_000) },
    trackers: [{ name: "readiness", passing: state !== "fault", weight: null }], drops: {} as VrrpStatus["drops"], ...extra,
  });
  fake.state.vrrp = {
    address: "10.0.0.11", port: 5798, transport: "unicast", destinations: ["10.0.0.12"], drops: {} as VrrpStatus["drops"], sendErrors: 3,
    sync: { state: "synced", timeoutMs: 5000, waitedMs: 42 },
    instances: [instance("web", 51, "master"), instance("db", 52, "fault"), instance("api", 53, "backup", { masterAddress: "10.0.0.12" })],
  };
  fake.state.cluster = {
    cluster: "shop", node: "lb1", updates: 1200, droppedFrames: {}, droppedRecords: {},
    peers: [{
      name: "lb2", address: "10.0.0.12:7400", state: "up", inbound: true, lastContact: ago(1000), lag: 4, resyncPending: false,
      resyncsSent: 1, resyncsReceived: 2, timeouts: 0, lastError: EVIL,
    }],
  };
  try {
    await withPage(async (page) => {
      await page.goto(fake.url);
      await signIn(page, VIEWER_TOKEN);
      await page.getByRole("region", { name: "Failover" }).waitFor();
      assert.equal(await page.locator("#vrrp-sync").innerText(), "synced after 42 ms");
      assert.match(await page.getByRole("region", { name: "Failover" }).innerText(), /send errors\s*3/);
      const web = await cells(row(page, "VRRP instances", "web"));
      assert.deepEqual(web.slice(0, 6), ["51", "master", "10.0.0.11", "150", "10.0.0.100/24, 10.0.0.101/24", "✓ readiness"]);
      assert.match(web[6], /^backup → master · 6\ds ago\n/);
      assert.equal(web[6].split("\n")[1], EVIL);
      const db = await cells(row(page, "VRRP instances", "db"));
      assert.deepEqual(db.slice(0, 6), ["52", "fault", "–", "150 (0)", "10.0.0.100/24, 10.0.0.101/24", "✗ readiness"]);
      assert.equal((await cells(row(page, "VRRP instances", "api")))[2], "10.0.0.12");
      const colours = await page.evaluate(`[...document.querySelectorAll("#vrrp-rows .pill")]
        .map((e) => e.textContent + "=" + getComputedStyle(e).backgroundColor)`) as string[];
      assert.deepEqual(colours, ["master=rgb(30, 142, 62)", "fault=rgb(208, 49, 45)", "backup=rgb(123, 133, 148)"]);
      const lb2 = await cells(row(page, "Replication peers", "lb2"));
      assert.deepEqual([...lb2.slice(0, 2), ...lb2.slice(3)], ["up", "yes", "4", "2 / 1", EVIL]);
      assert.match(lb2[2], /^\ds ago$/);
      assert.equal(await page.evaluate("(window.__xss === undefined) + ':' + document.querySelectorAll('main img').length"), "true:0");

      // Replication goes away (404): its part is hidden, VRRP stays, nothing errors.
      fake.state.cluster = null;
      await page.locator("#peers").waitFor({ state: "hidden" });
      assert.equal(await page.locator("#peer-rows tr").count(), 0);
      assert.ok(await page.getByRole("table", { name: "VRRP instances" }).isVisible());
      assert.ok(await page.locator("#banner").isHidden());
      // And VRRP too: the whole panel goes.
      fake.state.vrrp = null;
      await page.locator("#failover").waitFor({ state: "hidden" });
      await assertNoFailoverPanel(page);
    });
  } finally {
    await fake.close();
  }
});

test("dashboard: a read token gets no controls; a token whose scope shrinks locks them; a revoked token goes back to the login form", { skip, timeout: 60_000 }, async () => {
  const fake = await startFakeAdmin();
  try {
    await withPage(async (page) => {
      await page.goto(fake.url);
      await signIn(page, VIEWER_TOKEN);
      await row(page, "shop", "tc20").waitFor();
      assert.equal(await page.locator("#who").innerText(), "signed in as wall (read-only)");
      const shopActions = page.getByRole("region", { name: "shop" }).locator("thead th.actions");
      assert.equal(await page.getByRole("button", { name: /^(Drain|Stop|Enable|Set weight) / }).count(), 0);
      assert.ok(await shopActions.isHidden());
      await page.getByRole("button", { name: "Sign out" }).click();

      // An admin token the API stops honouring for changes: the refusal locks the controls.
      await signIn(page, ADMIN_TOKEN);
      const tc20 = row(page, "shop", "tc20");
      await tc20.getByRole("button", { name: "Enable" }).waitFor();
      assert.ok(await shopActions.isVisible(), "the same column is there for an admin token");
      fake.state.demoted = true;
      await tc20.getByRole("button", { name: "Enable" }).click();
      await page.getByRole("button", { name: "Confirm" }).click();
      await page.getByText(/this token is read-only/i).waitFor();
      assert.ok(await tc20.getByRole("button", { name: "Enable" }).isDisabled());
      assert.ok(await row(page, "shop", "tc01").getByRole("button", { name: "Drain" }).isDisabled());
      assert.equal(fake.patches.length, 0);

      fake.state.revoked = true;
      await page.getByText("Token rejected: invalid or missing token").waitFor();
      assert.ok(await page.getByLabel("Admin token").isVisible());
      assert.equal(await page.evaluate("sessionStorage.getItem('tandem.adminToken')"), null);
      assert.equal(await page.locator("section.pool").count(), 0);
    });
  } finally {
    await fake.close();
  }
});
