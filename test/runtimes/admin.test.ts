/**
 * The admin plane of the real process (Bun under `bun test`, Deno under `deno test`): probes,
 * JWT auth on the wire, the status document and its counters, live member changes with sticky
 * sessions, the learn-mode session table, reload through the API, /metrics as strict Prometheus
 * text, the `token` command, and the refusal to serve an open admin API off loopback.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { SignJWT } from "jose";
import { mintToken, type Scope } from "../../core/admin/auth.ts";
import type { MemberStatus, StatusDocument, StickyEntry } from "../../core/admin/model.ts";
import type { HistoryDocument } from "../../core/metrics/traffic-history.ts";
import { type Backend, type BackendHandler, startBackend } from "../support/backends.ts";
import { call, type Reply } from "../support/admin-call.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { rawExchange } from "../support/raw-http.ts";
import { runTandem, runtime, startTandem, tandemCommand, type TandemProcess, writeConfig } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const LIMIT = { timeout: 30_000 };
/** Debian's `prometheus` package (in .ci/run); under CI=true a missing one fails rather than skips. */
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((path) => existsSync(path));
requireTool("admin.test.ts: promtool check metrics", promtool ? false : "promtool is not installed (Debian package prometheus)");
const SECRET = "tandem-admin-test-secret-0123456789-abcdef";
const AUDIENCE = "tandem-admin";

// ---------------------------------------------------------------------------------------------
// Helpers

const token = (scope: Scope, extra: { secret?: string; audience?: string; clock?: () => number; ttlSeconds?: number } = {}) =>
  mintToken({ secret: extra.secret ?? SECRET, audience: extra.audience ?? AUDIENCE, subject: `test-${scope}`, scope, ttlSeconds: extra.ttlSeconds ?? 600, clock: extra.clock });

interface Admin {
  tandem: TandemProcess;
  /** `http://127.0.0.1:<admin port>` */
  base: string;
  address: string;
}

/** Starts tandem with `config` plus an admin listener on a free loopback port with HS256 auth. */
async function startAdmin(config: Record<string, unknown>, admin: Record<string, unknown> = {}): Promise<Admin> {
  const address = `127.0.0.1:${await freePort()}`;
  const tandem = await startTandem({ ...config, admin: { address, auth: { secret: SECRET }, ...admin } });
  try {
    const line = await tandem.waitForLine((l) => l.event === "admin-listening");
    assert.equal(line.address, address);
    assert.equal(line.auth, true);
  } catch (error) {
    await tandem.stop();
    throw error;
  }
  return { tandem, base: `http://${address}`, address };
}

/** Starts tandem on an existing config file (a restart), with its admin listener as `config` says. */
async function startAdminAt(configPath: string): Promise<Admin> {
  const { admin } = JSON.parse(readFileSync(configPath, "utf8")) as { admin: { address: string } };
  const tandem = await startTandem(undefined, { args: ["--config", configPath] });
  await tandem.waitForLine((l) => l.event === "admin-listening");
  return { tandem, base: `http://${admin.address}`, address: admin.address };
}

/** Waits (bounded) until the file at `path` exists. */
async function waitUntilFile(path: string): Promise<void> {
  for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(existsSync(path), `${path} was written`);
}

/** Asserts a JSON error reply with `code`, and the headers every admin reply carries. */
function assertError(reply: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(reply.json?.code, code, reply.text);
  assert.equal(typeof reply.json?.error, "string");
  if (message) assert.match(reply.json.error, message);
  assertNoStore(reply);
}

function assertNoStore(reply: Reply): void {
  assert.equal(reply.headers.get("cache-control"), "no-store", `Cache-Control of a ${reply.status} reply`);
}

async function status(admin: Admin, tokenText: string): Promise<StatusDocument> {
  const reply = await call(`${admin.base}/api/v1/status`, { token: tokenText });
  assert.equal(reply.status, 200, reply.text);
  assertNoStore(reply);
  return reply.json as StatusDocument;
}

function memberOf(doc: StatusDocument, pool: string, name: string): MemberStatus {
  const member = doc.pools.find((p) => p.name === pool)?.members.find((m) => m.name === name);
  assert.ok(member, `member ${pool}/${name} in ${JSON.stringify(doc.pools.map((p) => [p.name, p.members.map((m) => m.name)]))}`);
  return member;
}

const patch = (admin: Admin, tokenText: string, pool: string, member: string, body: unknown) =>
  call(`${admin.base}/api/v1/pools/${encodeURIComponent(pool)}/members/${encodeURIComponent(member)}`, { method: "PATCH", token: tokenText, body });

/** One proxied GET; returns the status, the backend that answered (from JSON) and a new JSESSIONID. */
async function get(url: string, cookie?: string): Promise<{ status: number; backend?: string; setCookie?: string }> {
  const response = await fetch(url, { headers: cookie ? { cookie: `JSESSIONID=${cookie}` } : {} });
  const text = await response.text();
  const setCookie = /JSESSIONID=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
  let backend: string | undefined;
  try {
    backend = JSON.parse(text).backend;
  } catch {
    backend = undefined;
  }
  return { status: response.status, backend, setCookie };
}

async function servedBy(url: string, times: number, cookie?: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < times; i++) {
    const reply = await get(url, cookie);
    assert.equal(reply.status, 200);
    out.push(reply.backend!);
  }
  return out;
}

/** One GET on a connection of its own (no pooling), so that the kernel picks a worker for each: its status. */
function getOnNewConnection(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" } }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Waits until exactly `n` stdout lines match (bounded); fails if more do. */
async function waitCount(tandem: TandemProcess, match: (line: Record<string, unknown>) => boolean, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (tandem.lines.filter(match).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(tandem.lines.filter(match).length, n, `lines matching ${match}`);
}

const count = (items: string[], item: string) => items.filter((x) => x === item).length;

/**
 * A Tomcat-like backend: a request without a session of this node gets `JSESSIONID=<id><suffix>`
 * (route mode: suffix `.<name>`, as jvmRoute does; learn mode: no suffix).
 */
function sessionHandler(suffix: (name: string) => string): BackendHandler {
  let issued = 0;
  return (request, response, backend) => {
    const cookie = /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(request.headers.cookie ?? "")?.[1];
    let session = cookie;
    if (!cookie || (suffix(backend.name) !== "" && !cookie.endsWith(suffix(backend.name)))) {
      session = `${backend.name}-${(++issued).toString(16).padStart(6, "0")}${suffix(backend.name)}`;
      response.setHeader("set-cookie", `JSESSIONID=${session}; Path=/; HttpOnly`);
    }
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ backend: backend.name, session, path: request.url }));
  };
}

async function startSessionBackends(names: string[], suffix: (name: string) => string): Promise<Backend[]> {
  const handler = sessionHandler(suffix);
  return await Promise.all(names.map((name) => startBackend(name, handler)));
}

const poolOf = (backends: { name: string; url: string }[], pool: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  listeners: [{ address: "127.0.0.1:0" }],
  ...top,
  pools: { app: { ...pool, members: backends.map((b) => ({ name: b.name, url: b.url })) } },
});

// ---------------------------------------------------------------------------------------------
// Prometheus text format 0.0.4, parsed strictly.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)";
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? (${VALUE})(?: -?\\d+)?$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;

/**
 * Every line must be `# HELP`, `# TYPE` or a sample; a family's HELP and TYPE come once, before its
 * samples, which are contiguous; sample names belong to the family (`_bucket`/`_sum`/`_count` for
 * histograms); no series repeats; histogram buckets are cumulative and end in `+Inf` = `_count`.
 */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  const samples: Sample[] = [];
  let current: string | undefined;
  const enter = (family: string, where: string) => {
    if (family === current) return;
    assert.ok(!finished.has(family), `${where}: family ${family} is not contiguous`);
    if (current !== undefined) finished.add(current);
    current = family;
  };
  text.slice(0, -1).split("\n").forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    let match: RegExpExecArray | null;
    if ((match = HELP_LINE.exec(line))) {
      enter(match[1], where);
      assert.ok(!helps.has(match[1]), `${where}: a second HELP`);
      assert.ok(!types.has(match[1]), `${where}: HELP after TYPE`);
      helps.add(match[1]);
    } else if ((match = TYPE_LINE.exec(line))) {
      enter(match[1], where);
      assert.ok(!types.has(match[1]), `${where}: a second TYPE`);
      types.set(match[1], match[2]);
    } else if ((match = SAMPLE_LINE.exec(line))) {
      const [, name, labelText = "", valueText] = match;
      const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
      assert.ok(types.has(family), `${where}: sample without a TYPE`);
      assert.ok(family === name || types.get(family) === "histogram", `${where}: suffixed sample of a ${types.get(family)}`);
      enter(family, where);
      const labels: Record<string, string> = {};
      for (const [, key, value] of labelText.matchAll(LABEL_PAIR)) {
        assert.ok(!(key in labels), `${where}: label ${key} twice`);
        labels[key] = value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      }
      const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      assert.ok(!seen.has(key), `${where}: series repeated`);
      seen.add(key);
      if (types.get(family) === "counter") assert.ok(value >= 0, `${where}: negative counter`);
      samples.push({ name, labels, value });
    } else {
      assert.fail(`${where}: neither a HELP/TYPE comment nor a sample`);
    }
  });
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const byLabels = new Map<string, Sample[]>();
    for (const sample of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = sample.labels;
      assert.ok(le !== undefined, `${family}_bucket without le`);
      const key = JSON.stringify(Object.entries(rest).sort());
      byLabels.set(key, [...(byLabels.get(key) ?? []), sample]);
    }
    for (const [key, buckets] of byLabels) {
      const bounds = buckets.map((b) => (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)));
      assert.equal(bounds.at(-1), Infinity, `${family}${key}: last bucket is +Inf`);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(bounds[i] > bounds[i - 1] && buckets[i].value >= buckets[i - 1].value, `${family}${key}: buckets cumulative`);
      }
      const total = samples.find((s) => s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key);
      assert.equal(total?.value, buckets.at(-1)!.value, `${family}${key}: +Inf bucket = _count`);
    }
  }
  return { types, samples };
}

const seriesOf = (samples: Sample[], name: string) => samples.filter((s) => s.name === name);

// ---------------------------------------------------------------------------------------------

describe(`admin API on ${runtime}`, () => {
  test("probes, 401/403, a status document whose counters grow, weight and readiness", LIMIT, async () => {
    const backends = [await startBackend("a"), await startBackend("b")];
    const admin = await startAdmin(poolOf(backends, {}, { accessLog: false }));
    try {
      const [read, write] = [await token("read"), await token("admin")];

      const healthz = await call(`${admin.base}/healthz`);
      assert.equal(healthz.status, 200);
      assert.equal(healthz.text, "ok");
      assertNoStore(healthz);
      const readyz = await call(`${admin.base}/readyz`);
      assert.equal(readyz.status, 200);
      assertNoStore(readyz);

      const anonymous = await call(`${admin.base}/api/v1/status`);
      assertError(anonymous, 401, "UNAUTHORIZED", /bearer token is needed/);
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Bearer /);
      assertError(await call(`${admin.base}/api/v1/status`, { authorization: "Basic dXNlcjpwYXNz" }), 401, "UNAUTHORIZED");

      const before = await status(admin, read);
      assert.match(before.runtime, new RegExp(`^${runtime} `));
      assert.ok(Date.parse(before.startedAt) <= Date.now());
      assert.equal(before.reloads, 0);
      assert.equal(before.pools.length, 1);
      const pool = before.pools[0];
      assert.deepEqual([pool.name, pool.strategy, pool.stickyMode, pool.usable, pool.usableMembers], ["app", "roundrobin", "none", true, 2]);
      assert.equal(pool.stickyEntries, null, "no table in this sticky mode");
      assert.deepEqual(pool.members.map((m) => [m.name, m.url, m.state, m.activation, m.requests]), [
        ["a", backends[0].url, "up", "active", 0],
        ["b", backends[1].url, "up", "active", 0],
      ]);

      const served = await servedBy(`${(admin.tandem).url}/`, 6);
      assert.deepEqual([count(served, "a"), count(served, "b")], [3, 3]);
      const after = await status(admin, read);
      for (const name of ["a", "b"]) {
        const member = memberOf(after, "app", name);
        assert.equal(member.requests, 3, `${name} requests`);
        assert.equal(member.responses["2xx"], 3, `${name} 2xx`);
        assert.equal(member.failures, 0);
        assert.equal(member.active, 0);
      }

      // A read token may not change anything; the member is untouched.
      assertError(await patch(admin, read, "app", "a", { weight: 3 }), 403, "FORBIDDEN", /scope "admin"/);
      assertError(await patch(admin, write, "app", "nope", { weight: 3 }), 404, "NOT_FOUND");
      assertError(await patch(admin, write, "app", "a", { weight: 999 }), 400, "INVALID", /weight/);
      assertError(await patch(admin, write, "app", "a", { wieght: 2 }), 400, "INVALID", /no such key/);
      assertError(await patch(admin, write, "app", "a", "{not json"), 400, "INVALID");
      assert.equal(memberOf(await status(admin, read), "app", "a").weight, 1);

      // Weight 3 for a: the status shows it and new requests follow it (smooth WRR: a a b a ...).
      const changed = await patch(admin, write, "app", "a", { weight: 3 });
      assert.equal(changed.status, 200, changed.text);
      assertNoStore(changed);
      assert.deepEqual([changed.json.name, changed.json.weight, changed.json.effectiveWeight], ["a", 3, 3]);
      assert.equal(memberOf(await status(admin, read), "app", "a").weight, 3);
      const weighted = await servedBy(`${admin.tandem.url}/`, 8);
      assert.ok(count(weighted, "a") >= 5 && count(weighted, "b") >= 1, `3:1 weights served ${weighted.join(" ")}`);
      const changeLine = await admin.tandem.waitForLine((l) => l.event === "member-changed" && l.member === "a");
      assert.deepEqual([changeLine.actor, changeLine.before, changeLine.after], ["test-admin", { activation: "active", weight: 1 }, { activation: "active", weight: 3 }]);

      // Every member stopped: not ready, and requests get 503; back to active: ready again.
      for (const name of ["a", "b"]) assert.equal((await patch(admin, write, "app", name, { activation: "stopped" })).status, 200);
      const notReady = await call(`${admin.base}/readyz`);
      assert.equal(notReady.status, 503);
      assertNoStore(notReady);
      const stopped = (await status(admin, read)).pools[0];
      assert.deepEqual([stopped.usable, stopped.usableMembers, stopped.members.map((m) => [m.state, m.usable])], [false, 0, [["up", false], ["up", false]]]);
      assert.match(memberOf(await status(admin, read), "app", "a").activationSince ?? "", /^\d{4}-\d\d-\d\dT/);
      assert.equal((await get(`${admin.tandem.url}/`)).status, 503);
      for (const name of ["a", "b"]) assert.equal((await patch(admin, write, "app", name, { activation: "active" })).status, 200);
      assert.equal((await call(`${admin.base}/readyz`)).status, 200);
      assert.equal((await get(`${admin.tandem.url}/`)).status, 200);

      const unknown = await call(`${admin.base}/api/v1/nothing`, { token: read });
      assertError(unknown, 404, "NOT_FOUND");
    } finally {
      await admin.tandem.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  test("drain: new clients avoid a disabled member while its sticky sessions keep going there", LIMIT, async () => {
    const backends = await startSessionBackends(["n1", "n2"], (name) => `.${name}`);
    const admin = await startAdmin(poolOf(backends, { sticky: { mode: "route" } }));
    try {
      const [read, write] = [await token("read"), await token("admin")];
      const first = await get(`${admin.tandem.url}/`);
      assert.equal(first.status, 200);
      assert.ok(first.setCookie?.endsWith(`.${first.backend}`), `route cookie ${first.setCookie}`);
      const mine = first.backend!;
      const other = mine === "n1" ? "n2" : "n1";

      const drained = await patch(admin, write, "app", mine, { activation: "disabled" });
      assert.equal(drained.status, 200, drained.text);
      assert.equal(drained.json.activation, "disabled");
      const doc = await status(admin, read);
      assert.equal(memberOf(doc, "app", mine).activation, "disabled");
      assert.equal(memberOf(doc, "app", mine).state, "up");
      assert.equal(memberOf(doc, "app", other).activation, "active");
      const requestsBefore = memberOf(doc, "app", mine).requests;

      const fresh = await servedBy(`${admin.tandem.url}/`, 6);
      assert.deepEqual(fresh, Array(6).fill(other), "new clients avoid the draining member");
      const sticky = await servedBy(`${admin.tandem.url}/`, 4, first.setCookie);
      assert.deepEqual(sticky, Array(4).fill(mine), "the existing session stays on the draining member");
      assert.equal(memberOf(await status(admin, read), "app", mine).requests, requestsBefore + 4);
      assert.equal((await call(`${admin.base}/readyz`)).status, 200, "still ready: the other member takes new sessions");
      await waitCount(admin.tandem, (l) => l.member === mine && l.sticky === "hit", 4);

      // Stopped takes nothing: the session moves.
      assert.equal((await patch(admin, write, "app", mine, { activation: "stopped" })).status, 200);
      const moved = await get(`${admin.tandem.url}/`, first.setCookie);
      assert.equal(moved.backend, other);
      await admin.tandem.waitForLine((l) => l.sticky === "moved" && l.member === other);
      const log = await admin.tandem.waitForLine((l) => l.event === "admin" && l.action === "set-member" && (l.change as { activation?: string })?.activation === "stopped");
      assert.deepEqual([log.actor, log.pool, log.member, log.status, log.client], ["test-admin", "app", mine, 200, "127.0.0.1"]);
    } finally {
      await admin.tandem.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  test("run-time changes survive a reload and a restart (state file); a change of the same setting in the file wins", LIMIT, async () => {
    const backends = await startSessionBackends(["n1", "n2"], (name) => `.${name}`);
    const config = poolOf(backends, {});
    let admin = await startAdmin(config);
    const configPath = admin.tandem.configPath!;
    const statePath = configPath.replace(/\.(ya?ml|json)$/, "") + ".state.json";
    try {
      const [read, write] = [await token("read"), await token("admin")];
      assert.equal((await patch(admin, write, "app", "n1", { activation: "disabled" })).status, 200);
      assert.equal((await patch(admin, write, "app", "n2", { weight: 7 })).status, 200);
      await waitUntilFile(statePath).catch((error) => {
        throw new Error(`${error.message}: ${JSON.stringify(admin.tandem.lines.filter((l) => String(l.event).startsWith("state") || l.event === "member-changed"))}`);
      });

      admin.tandem.signal("SIGHUP");
      const kept = await admin.tandem.waitForLine((l) => l.event === "state-kept");
      assert.deepEqual(kept.applied, ["app/n1", "app/n2"]);
      let doc = await status(admin, read);
      assert.equal(memberOf(doc, "app", "n1").activation, "disabled", "a SIGHUP with the same file keeps the drain");
      assert.equal(memberOf(doc, "app", "n2").weight, 7);

      await admin.tandem.stop();
      admin = await startAdminAt(configPath);
      const restored = await admin.tandem.waitForLine((l) => l.event === "state-restored");
      assert.deepEqual(restored.applied, ["app/n1", "app/n2"]);
      doc = await status(admin, read);
      assert.equal(memberOf(doc, "app", "n1").activation, "disabled", "a restart keeps the drain");
      assert.equal(memberOf(doc, "app", "n2").weight, 7);

      // The file now says n1 is stopped: its activation is the file's; n2's weight, untouched in the file, stays.
      const edited = structuredClone(config) as { pools: { app: { members: Record<string, unknown>[] } } };
      edited.pools.app.members[0].activation = "stopped";
      writeFileSync(configPath, JSON.stringify({ ...edited, admin: { address: admin.address, auth: { secret: SECRET } } }));
      admin.tandem.signal("SIGHUP");
      const afterEdit = await admin.tandem.waitForLine((l) => l.event === "state-kept" && Array.isArray(l.fileWins) && (l.fileWins as string[]).length > 0);
      assert.deepEqual(afterEdit.fileWins, ["app/n1: activation"]);
      doc = await status(admin, read);
      assert.equal(memberOf(doc, "app", "n1").activation, "stopped");
      assert.equal(memberOf(doc, "app", "n2").weight, 7);
    } finally {
      await admin.tandem.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  test("learn mode: sessions listed with offset/limit/total, one deleted", LIMIT, async () => {
    const backends = await startSessionBackends(["l1", "l2"], () => "");
    const admin = await startAdmin(poolOf(backends, { sticky: { mode: "learn", tableTtl: "10m" } }));
    try {
      const [read, write] = [await token("read"), await token("admin")];
      const issued = new Map<string, string>();
      for (let i = 0; i < 5; i++) {
        const reply = await get(`${admin.tandem.url}/`);
        assert.ok(reply.setCookie, "the backend issued a session");
        issued.set(reply.setCookie, reply.backend!);
      }
      assert.equal(issued.size, 5);
      assert.equal((await status(admin, read)).pools[0].stickyEntries, 5);

      const sessions = (query: string, tokenText = read) => call(`${admin.base}/api/v1/pools/app/sessions${query}`, { token: tokenText });
      const listed = new Map<string, StickyEntry>();
      for (const [offset, size] of [[0, 2], [2, 2], [4, 1], [6, 0]]) {
        const page = await sessions(`?offset=${offset}&limit=2`);
        assert.equal(page.status, 200, page.text);
        assertNoStore(page);
        assert.deepEqual([page.json.offset, page.json.limit, page.json.total, page.json.entries.length], [offset, 2, 5, size], page.text);
        for (const entry of page.json.entries as StickyEntry[]) {
          assert.ok(!listed.has(entry.key), `${entry.key} on two pages`);
          assert.ok(Date.parse(entry.expiresAt) > Date.now() + 9 * 60_000, `expiresAt ${entry.expiresAt}`);
          listed.set(entry.key, entry);
        }
      }
      assert.deepEqual(new Map([...listed].map(([key, entry]) => [key, entry.member])), issued, "every learned session, on its member");
      const all = await sessions("");
      assert.deepEqual([all.json.offset, all.json.limit, all.json.total], [0, 100, 5]);
      assertError(await sessions("?limit=0"), 400, "INVALID", /limit/);
      assertError(await sessions("?offset=-1"), 400, "INVALID", /offset/);
      assertError(await sessions("?color=red"), 400, "INVALID");
      assertError(await call(`${admin.base}/api/v1/pools/nope/sessions`, { token: read }), 404, "NOT_FOUND");
      assertError(await call(`${admin.base}/api/v1/pools/app/sessions`), 401, "UNAUTHORIZED");

      const [victim, kept] = [...issued.keys()];
      const del = (key: string, tokenText: string) =>
        call(`${admin.base}/api/v1/pools/app/sessions/${encodeURIComponent(key)}`, { method: "DELETE", token: tokenText });
      assertError(await del(victim, read), 403, "FORBIDDEN");
      const deleted = await del(victim, write);
      assert.equal(deleted.status, 204);
      assert.equal(deleted.text, "");
      const remaining = await sessions("");
      assert.equal(remaining.json.total, 4);
      assert.ok(!(remaining.json.entries as StickyEntry[]).some((e) => e.key === victim), "the deleted session is gone");
      assert.ok((remaining.json.entries as StickyEntry[]).some((e) => e.key === kept));
      assertError(await del(victim, write), 404, "NOT_FOUND");

      // The kept session still sticks; the deleted one is placed as a new session.
      await get(`${admin.tandem.url}/kept`, kept);
      await get(`${admin.tandem.url}/victim`, victim);
      const keptLine = await admin.tandem.waitForLine((l) => l.path === "/kept");
      const victimLine = await admin.tandem.waitForLine((l) => l.path === "/victim");
      assert.deepEqual([keptLine.sticky, keptLine.member], ["hit", issued.get(kept)]);
      assert.equal(victimLine.sticky, "new");
    } finally {
      await admin.tandem.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  test("POST /api/v1/reload: a valid file swaps the config, an invalid one gets 422 and changes nothing", LIMIT, async () => {
    const backends = [await startBackend("old"), await startBackend("new")];
    const admin = await startAdmin(poolOf([backends[0]], {}, { accessLog: false }));
    try {
      const [read, write] = [await token("read"), await token("admin")];
      const reload = (tokenText: string) => call(`${admin.base}/api/v1/reload`, { method: "POST", token: tokenText });
      assert.deepEqual(await servedBy(admin.tandem.url, 2), ["old", "old"]);
      const top = { accessLog: false, listeners: [{ address: `127.0.0.1:${admin.tandem.ports[0]}` }], admin: { address: admin.address, auth: { secret: SECRET } } };

      writeFileSync(admin.tandem.configPath!, JSON.stringify(poolOf(backends, {}, top)));
      assertError(await reload(read), 403, "FORBIDDEN");
      const ok = await reload(write);
      assert.equal(ok.status, 200, ok.text);
      assertNoStore(ok);
      assert.deepEqual(ok.json, { ok: true, summary: "1 listener(s), 1 pool(s), 2 member(s), 0 route(s)" });
      await admin.tandem.waitForLine((l) => l.event === "reloaded");
      const served = await servedBy(admin.tandem.url, 4);
      assert.ok(served.includes("new"), `the new member serves: ${served.join(" ")}`);
      const doc = await status(admin, read);
      assert.equal(doc.reloads, 1);
      assert.deepEqual(doc.pools[0].members.map((m) => m.name), ["old", "new"]);

      writeFileSync(admin.tandem.configPath!, JSON.stringify({ ...top, pools: { app: { strategy: "fastest", members: [{ name: "x", url: "ftp://nope" }] } } }));
      const refused = await reload(write);
      assertError(refused, 422, "INVALID_CONFIG", /invalid/);
      assert.ok(Array.isArray(refused.json.problems));
      const problems = (refused.json.problems as string[]).join("\n");
      assert.match(problems, /pools\.app\.strategy: one of/);
      assert.match(problems, /pools\.app\.members\[0\]\.url: an origin URL/);
      await admin.tandem.waitForLine((l) => l.event === "reload-failed");
      const still = await servedBy(admin.tandem.url, 4);
      assert.deepEqual([...new Set(still)].sort(), ["new", "old"], "the running config keeps serving");
      assert.equal((await status(admin, read)).reloads, 1);

      const metrics = await call(`${admin.base}/metrics`, { token: read });
      const { samples } = parsePrometheus(metrics.text);
      const reloads = Object.fromEntries(seriesOf(samples, "tandem_reloads_total").map((s) => [s.labels.result, s.value]));
      assert.deepEqual(reloads, { ok: 1, invalid: 1 });
    } finally {
      await admin.tandem.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  test("/metrics is strict Prometheus text whose series match the traffic", LIMIT, async () => {
    const handler: BackendHandler = (request, response, backend) => {
      response.statusCode = request.url === "/missing" ? 404 : 200;
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ backend: backend.name }));
    };
    const backends = [await startBackend("m1", handler), await startBackend("m2", handler)];
    // "dead" refuses connections: requests that pick it are retried elsewhere and it rests for recoverTime.
    const dead = { name: "dead", url: `http://127.0.0.1:${await freePort()}` };
    const admin = await startAdmin(poolOf([...backends, dead], { recoverTime: "60s" }));
    try {
      const read = await token("read");
      assertError(await call(`${admin.base}/metrics`), 401, "UNAUTHORIZED");
      for (const path of ["/", "/", "/", "/", "/missing", "/missing", "/", "/missing"]) await get(`${admin.tandem.url}${path}`);
      // Every member stopped: a 503 that no member answered.
      const write = await token("admin");
      for (const name of ["m1", "m2", "dead"]) await patch(admin, write, "app", name, { activation: "stopped" });
      assert.equal((await get(`${admin.tandem.url}/`)).status, 503);
      for (const name of ["m1", "m2"]) await patch(admin, write, "app", name, { activation: "active" });

      const reply = await call(`${admin.base}/metrics`, { token: read });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      assertNoStore(reply);
      const { types, samples } = parsePrometheus(reply.text);
      assert.equal(types.get("tandem_requests_total"), "counter");
      assert.equal(types.get("tandem_member_up"), "gauge");
      assert.equal(types.get("tandem_reloads_total"), "counter");
      assert.equal(types.get("tandem_request_duration_seconds"), "histogram");

      // tandem_requests_total agrees with the access log, series by series.
      await waitCount(admin.tandem, (l) => typeof l.status === "number" && l.method === "GET", 9);
      const expected = new Map<string, number>();
      for (const line of admin.tandem.lines.filter((l) => typeof l.status === "number" && l.method === "GET")) {
        const key = `app|${line.member ?? ""}|${Math.floor((line.status as number) / 100)}xx`;
        expected.set(key, (expected.get(key) ?? 0) + 1);
      }
      const requestSeries = seriesOf(samples, "tandem_requests_total");
      // Present at 0 from the start: every member, and "" (tandem's own answers), by every class.
      assert.deepEqual(new Set(requestSeries.map((s) => `${s.labels.member}|${s.labels.code}`)), new Set(["", "m1", "m2", "dead"].flatMap((m) => ["1xx", "2xx", "3xx", "4xx", "5xx"].map((c) => `${m}|${c}`))));
      const requests = new Map(requestSeries.filter((s) => s.value > 0).map((s) => [`${s.labels.pool}|${s.labels.member}|${s.labels.code}`, s.value]));
      assert.deepEqual(requests, expected);
      assert.equal([...requests.values()].reduce((a, b) => a + b, 0), 9);
      assert.equal(requests.get("app||5xx"), 1, "the 503 without a member");
      assert.ok([...requests.keys()].every((k) => !k.includes("dead")), "dead never answered");
      assert.ok(samples.every((s) => s.name !== "tandem_requests_total" || Object.keys(s.labels).sort().join() === "code,member,pool"));

      const up = Object.fromEntries(seriesOf(samples, "tandem_member_up").map((s) => [s.labels.member, s.value]));
      assert.deepEqual(up, { m1: 1, m2: 1, dead: 0 }, "dead rests after refusing a connection");
      const errors = seriesOf(samples, "tandem_upstream_errors_total");
      assert.ok(errors.some((s) => s.labels.member === "dead" && s.labels.kind === "connect-failure" && s.value >= 1), JSON.stringify(errors));
      assert.equal(errors.find((s) => s.labels.member === "m1" && s.labels.kind === "response-timeout")?.value, 0, "present at 0 from the start");
      assert.deepEqual(seriesOf(samples, "tandem_reloads_total").map((s) => [s.labels.result, s.value]), [["ok", 0], ["invalid", 0]], "present at 0 before any reload");
      const durationCount = seriesOf(samples, "tandem_request_duration_seconds_count");
      assert.deepEqual(durationCount.map((s) => [s.labels.pool, s.value]), [["app", 9]]);
      assert.deepEqual(seriesOf(samples, "tandem_queue_length").map((s) => [s.labels.pool, s.value]), [["app", 0]]);

      // Activation: the drain state an alert can see; m1 and m2 active again, dead left stopped.
      const activation = seriesOf(samples, "tandem_member_activation").filter((s) => s.value === 1).map((s) => `${s.labels.member}=${s.labels.state}`).sort();
      assert.deepEqual(activation, ["dead=stopped", "m1=active", "m2=active"]);
      // Bytes, retries, redispatches and sticky outcomes, member by member, as the access log has them.
      const lines = admin.tandem.lines.filter((l) => typeof l.status === "number" && l.method === "GET" && l.member);
      const sum = (member: string, field: string) => lines.filter((l) => l.member === member).reduce((total, l) => total + Number(l[field]), 0);
      for (const member of ["m1", "m2"]) {
        const value = (name: string) => seriesOf(samples, name).find((s) => s.labels.member === member)?.value;
        assert.equal(value("tandem_member_bytes_out_total"), sum(member, "bytesOut"), `${member} bytes out`);
        assert.ok(sum(member, "bytesOut") > 0);
      }
      const retriesOfDead = seriesOf(samples, "tandem_member_retries_total").find((s) => s.labels.member === "dead")?.value ?? 0;
      const redispatchesOfDead = seriesOf(samples, "tandem_member_redispatches_total").find((s) => s.labels.member === "dead")?.value ?? 0;
      const retriedLines = admin.tandem.lines.filter((l) => typeof l.status === "number" && Number(l.retries) > 0);
      assert.ok(retriesOfDead >= 1, "a request that picked dead was tried again");
      assert.equal(retriesOfDead, retriedLines.length, "each request retried away from dead counts once on dead");
      assert.equal(redispatchesOfDead, retriedLines.filter((l) => l.redispatched === true).length);
      const build = seriesOf(samples, "tandem_build_info");
      assert.deepEqual(build.map((s) => [s.labels.runtime.split(" ")[0], s.value]), [[runtime, 1]]);
      assert.match(build[0].labels.version, /^\d+\.\d+\.\d+/);
      const decisions = seriesOf(samples, "tandem_sticky_decisions_total").reduce((total, s) => total + s.value, 0);
      assert.equal(decisions, 0, "no sticky mode in this pool: no decision counted");

      // And the whole exposition passes Prometheus's own checker.
      if (promtool) {
        const checked = spawnSync(promtool, ["check", "metrics"], { input: reply.text, encoding: "utf8" });
        assert.equal(checked.status, 0, `promtool: ${checked.stdout}${checked.stderr}`);
      }
    } finally {
      await admin.tandem.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  test("publicMetrics serves /metrics without a token, and only /metrics", LIMIT, async () => {
    const backend = await startBackend("p");
    const admin = await startAdmin(poolOf([backend]), { publicMetrics: true });
    try {
      const metrics = await call(`${admin.base}/metrics`);
      assert.equal(metrics.status, 200);
      assertNoStore(metrics);
      const { samples } = parsePrometheus(metrics.text);
      assert.deepEqual(seriesOf(samples, "tandem_member_up").map((s) => [s.labels.pool, s.labels.member, s.value]), [["app", "p", 1]]);
      assertError(await call(`${admin.base}/api/v1/status`), 401, "UNAUTHORIZED");
    } finally {
      await admin.tandem.stop();
      await backend.close();
    }
  });

  test("bad tokens: oversized, expired, wrong audience, alg none, wrong key, issued in the future, no scope; then rate limited", LIMIT, async () => {
    const backend = await startBackend("t");
    const admin = await startAdmin(poolOf([backend]));
    try {
      const url = `${admin.base}/api/v1/status`;
      const now = Math.floor(Date.now() / 1000);
      const key = new TextEncoder().encode(SECRET);
      const claims = { scope: "read", sub: "mallory", aud: AUDIENCE, iat: now, exp: now + 600 };
      const b64 = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

      // Validly signed but over 4 KiB.
      const huge = await new SignJWT({ scope: "read", pad: "x".repeat(4200) })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject("big").setAudience(AUDIENCE).setIssuedAt(now).setExpirationTime(now + 600)
        .sign(key);
      assert.ok(huge.length > 4096);
      assertError(await call(url, { token: huge }), 401, "UNAUTHORIZED", /too large/);

      const expired = await token("read", { clock: () => Date.now() - 2 * 3600_000, ttlSeconds: 600 });
      assertError(await call(url, { token: expired }), 401, "UNAUTHORIZED", /expired/);
      const otherAudience = await token("admin", { audience: "some-other-service" });
      assertError(await call(url, { token: otherAudience }), 401, "UNAUTHORIZED", /aud/);
      const none = `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
      assertError(await call(url, { token: none }), 401, "UNAUTHORIZED");
      const otherKey = await token("admin", { secret: "another-secret-that-is-long-enough-xyz" });
      assertError(await call(url, { token: otherKey }), 401, "UNAUTHORIZED", /invalid token/);
      // A token in the URL or a cookie is not a token.
      assertError(await call(`${url}?access_token=${await token("read")}`), 401, "UNAUTHORIZED");

      const future = await token("read", { clock: () => Date.now() + 3600_000 });
      assertError(await call(url, { token: future }), 401, "UNAUTHORIZED", /future|not yet valid/);

      const noScope = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("s").setAudience(AUDIENCE).setIssuedAt(now).setExpirationTime(now + 600).sign(key);
      assertError(await call(url, { token: noScope }), 403, "FORBIDDEN", /scope/);
      const forever = await token("admin", { ttlSeconds: 400 * 86_400 });
      assertError(await call(url, { token: forever }), 401, "UNAUTHORIZED", /lifetime/);
      const both = await new SignJWT({ scope: "read admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("s").setAudience(AUDIENCE).setIssuedAt(now).setExpirationTime(now + 600).sign(key);
      assertError(await call(url, { token: both }), 403, "FORBIDDEN", /both/);
      // 7 counted failures so far; 3 more and this client's guesses are blocked, but never a good token.
      for (let i = 0; i < 3; i++) assertError(await call(url, { token: `garbage.${i}.x` }), 401, "UNAUTHORIZED");
      const blocked = await call(url, { token: "garbage.x.x" });
      assertError(blocked, 429, "RATE_LIMITED");
      assert.ok(Number(blocked.headers.get("retry-after")) >= 1, `Retry-After ${blocked.headers.get("retry-after")}`);
      assert.equal((await call(url, { token: await token("read") })).status, 200, "a valid token from the same address still works");
      assert.equal((await call(`${admin.base}/healthz`)).status, 200, "probes need no token and are never blocked");
    } finally {
      await admin.tandem.stop();
      await backend.close();
    }
  });

  test("`token --scope read` prints a JWT the API accepts; without a secret it exits 1", LIMIT, async () => {
    const backend = await startBackend("k");
    const config = { ...poolOf([backend]), admin: { address: `127.0.0.1:${await freePort()}`, auth: { secret: SECRET } } };
    const minted = await runTandem(["token", "--scope", "read", "--sub", "ci", "--config", writeConfig(config)]);
    assert.equal(minted.code, 0, minted.stderr);
    const jwt = minted.stdout.trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const payload = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    assert.deepEqual([payload.scope, payload.sub, payload.aud, payload.exp - payload.iat], ["read", "ci", AUDIENCE, 900]);

    const tandem = await startTandem(config);
    try {
      const line = await tandem.waitForLine((l) => l.event === "admin-listening");
      const base = `http://${line.address}`;
      const doc = await call(`${base}/api/v1/status`, { token: jwt });
      assert.equal(doc.status, 200, doc.text);
      assert.equal(doc.json.pools[0].members[0].name, "k");
      assertError(await call(`${base}/api/v1/pools/app/members/k`, { method: "PATCH", token: jwt, body: { weight: 2 } }), 403, "FORBIDDEN");
    } finally {
      await tandem.stop();
      await backend.close();
    }

    for (const withoutSecret of [poolOf([backend]), { ...poolOf([backend]), admin: { address: "127.0.0.1:8404" } }]) {
      const refused = await runTandem(["token", "--scope", "admin", "--config", writeConfig(withoutSecret)]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.equal(refused.stdout, "");
      assert.match(refused.stderr, /token: no secret: set admin\.auth\.secret in \S+tandem\.json or TANDEM_ADMIN_SECRET/);
    }
    const badScope = await runTandem(["token", "--scope", "root", "--config", writeConfig(config)]);
    assert.equal(badScope.code, 2);
    assert.match(badScope.stderr, /--scope must be "read" or "admin"/);
  });

  test("without auth, on loopback: open, but DNS-rebinding hosts and cross-origin writes are refused", LIMIT, async () => {
    const backend = await startBackend("o");
    const address = `127.0.0.1:${await freePort()}`;
    const tandem = await startTandem({ ...poolOf([backend]), admin: { address } });
    try {
      const line = await tandem.waitForLine((l) => l.event === "admin-listening");
      assert.equal(line.auth, false);
      const port = Number(address.split(":")[1]);
      const raw = async (request: string) => {
        const result = await rawExchange(port, request);
        assert.ok(result.response, `a response to ${JSON.stringify(request.split("\r\n")[0])}`);
        return { status: result.response.status, body: result.response.body.toString(), cacheControl: result.response.headers["cache-control"] };
      };
      const open = await raw(`GET /api/v1/status HTTP/1.1\r\nHost: ${address}\r\nConnection: close\r\n\r\n`);
      assert.equal(open.status, 200, open.body);
      assert.equal(JSON.parse(open.body).pools[0].members[0].name, "o");
      const rebound = await raw("GET /api/v1/status HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n");
      assert.equal(rebound.status, 403, rebound.body);
      assert.match(rebound.body, /"code":"FORBIDDEN"/);
      assert.equal(rebound.cacheControl, "no-store");
      const body = '{"activation":"stopped"}';
      const patchFrom = (origin: string) =>
        raw(`PATCH /api/v1/pools/app/members/o HTTP/1.1\r\nHost: ${address}\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      const crossSite = await patchFrom("http://evil.example");
      assert.equal(crossSite.status, 403, crossSite.body);
      assert.match(crossSite.body, /cross-origin/);
      assert.equal((await get(`${tandem.url}/`)).status, 200, "the member was not stopped");
      const sameOrigin = await patchFrom(`http://${address}`);
      assert.equal(sameOrigin.status, 200, sameOrigin.body);
      assert.equal(JSON.parse(sameOrigin.body).activation, "stopped");
      const logged = await tandem.waitForLine((l) => l.event === "admin" && l.action === "set-member");
      assert.equal(logged.actor, "anonymous");
    } finally {
      await tandem.stop();
      await backend.close();
    }
  });

  test("workers: 2: the status document and the charts' history count the requests every worker served", { timeout: 60_000 }, async () => {
    const backend = await startBackend("a");
    const port = await freePort();
    const admin = await startAdmin({ workers: 2, listeners: [{ address: `127.0.0.1:${port}` }], pools: { app: { members: [{ name: "a", url: backend.url }] } } });
    try {
      for (const worker of [0, 1]) await admin.tandem.waitForLine((l) => l.event === "listening" && l.worker === worker);
      const read = await token("read");
      // Each GET on a connection of its own, so that SO_REUSEPORT hands some to each worker.
      let sent = 0;
      const workers = new Set<unknown>();
      for (let round = 0; round < 10 && workers.size < 2; round++) {
        for (let i = 0; i < 20; i++) assert.equal(await getOnNewConnection(port, `/history-${++sent}`), 200);
        await waitCount(admin.tandem, (l) => String(l.path).startsWith("/history-"), sent);
        for (const line of admin.tandem.lines) if (String(line.path).startsWith("/history-")) workers.add(line.worker);
      }
      assert.deepEqual([...workers].sort(), [0, 1], `${sent} requests on new connections reached both workers`);

      // A worker that misses the 250 ms to answer (a busy machine) is left out and the document
      // says so; the next request asks again.
      let doc!: Awaited<ReturnType<typeof status>>;
      await waitFor(async () => (doc = await status(admin, read)).workers?.reporting === 2, 20_000, "a status every worker answered");
      assert.deepEqual(doc.workers, { count: 2, reporting: 2, missing: [] });
      assert.equal(memberOf(doc, "app", "a").requests, sent);
      // The charts show completed 5 s intervals: wait for the last request's to end.
      const sum = (values: number[]) => values.reduce((total, n) => total + n, 0);
      let history!: HistoryDocument;
      await waitFor(async () => {
        history = (await call(`${admin.base}/api/v1/history`, { token: read })).json as HistoryDocument;
        return sum(history.pools[0].requests) === sent;
      }, 20_000, `all ${sent} requests, from both workers, in the history`);
      assert.equal(history.pools[0].name, "app");
      assert.equal(sum(history.pools[0].errors), 0);
    } finally {
      await admin.tandem.stop();
      await backend.close();
    }
  });

  test("an admin API without auth off loopback is refused before anything is bound", LIMIT, async () => {
    const port = await freePort();
    const path = writeConfig({ listeners: [{ address: "127.0.0.1:0" }], admin: { address: `0.0.0.0:${port}` }, pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } } });
    const result = await runBounded(["serve", "--config", path], 20_000);
    assert.equal(result.code, 1, `exit code; stdout: ${result.stdout}`);
    assert.match(result.stderr, new RegExp(`admin\\.address: 0\\.0\\.0\\.0:${port} is not loopback and no auth is configured`));
    assert.doesNotMatch(result.stdout, /"event":"listening"/, "nothing was bound");
  });
});

/** Runs a tandem command, killing it if it is still running after `ms` (a regression that binds). */
function runBounded(args: string[], ms: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, ...rest] = tandemCommand(args);
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete env.TANDEM_ADMIN_SECRET;
  return new Promise((resolve) => {
    const child = spawn(command, rest, { env });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${ms} ms]`;
      child.kill("SIGKILL");
    }, ms);
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
