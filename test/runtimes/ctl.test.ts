/**
 * `tandem ctl` against a real tandem on the runtime running the test (Bun under `bun test`, Deno
 * under `deno test`): every subcommand, its text and --json output, what it changed as the API
 * shows it, and every error path with its exit status (no token, a refused token, a read token
 * for a change, an unknown pool, member or session, a config without admin, a balancer that is
 * not there, bad arguments).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintToken } from "../../core/admin/auth.ts";
import type { StatusDocument, StickyEntry } from "../../core/admin/model.ts";
import { type Backend, type BackendHandler, startBackend } from "../support/backends.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { runTandem, runtime, startTandem, tandemCommand, type TandemProcess, writeConfig } from "../support/tandem.ts";

const LIMIT = { timeout: 60_000 };
const SECRET = "tandem-ctl-test-secret-0123456789-abcdefgh";
/** core/ctl.ts CTL_EXIT */
const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, unauthorized: 4, forbidden: 5, notFound: 6 };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tandem ctl ARGS` with TANDEM_TOKEN set to `token` (unset when undefined), from a
 * directory without a tandem.yaml; killed after 20 s.
 */
function ctl(args: string[], token?: string, cwd = emptyDir): Promise<Run> {
  const [command, ...rest] = tandemCommand(["ctl", ...args]);
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete env.TANDEM_TOKEN;
  delete env.TANDEM_ADMIN_SECRET;
  // `npm test` sets INIT_CWD, and tandem on Deno moves there (for `deno task`): `cwd` would not hold.
  delete env.INIT_CWD;
  if (token !== undefined) env.TANDEM_TOKEN = token;
  return new Promise((resolve) => {
    const child = spawn(command, rest, { cwd, env });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      stderr += "\n[killed after 20 s]";
      child.kill("SIGKILL");
    }, 20_000);
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const emptyDir = mkdtempSync(join(tmpdir(), "tandem-ctl-"));

/** Asserts the exit status, showing what was printed when it differs. */
function exits(run: Run, code: number): void {
  assert.equal(run.code, code, `exit status; stdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

let issuedSessions = 0;

/** Hands out sessions without a route suffix, for learn mode: `JSESSIONID=<member>-<n>`. */
const sessions: BackendHandler = (request, response, backend) => {
  const cookie = /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(request.headers.cookie ?? "")?.[1];
  if (cookie === undefined) response.setHeader("set-cookie", `JSESSIONID=${backend.name}-${++issuedSessions}; Path=/`);
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify({ backend: backend.name }));
};

describe(`ctl on ${runtime}`, () => {
  let tandem: TandemProcess;
  let backends: Backend[];
  let admin: string;
  let adminToken: string;
  let readToken: string;
  let config: Record<string, unknown>;

  before(async () => {
    backends = [await startBackend("a"), await startBackend("b"), await startBackend("l1", sessions), await startBackend("l2", sessions)];
    admin = `127.0.0.1:${await freePort()}`;
    config = {
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      routes: [{ path: "/s", pool: "sess" }],
      defaultPool: "app",
      pools: {
        app: {
          health: { check: { path: "/", interval: "200ms", rise: 1, fall: 1 } },
          members: [{ name: "a", url: backends[0].url }, { name: "b", url: backends[1].url }],
        },
        sess: {
          sticky: { mode: "learn", tableTtl: "10m" },
          members: [{ name: "l1", url: backends[2].url }, { name: "l2", url: backends[3].url }],
        },
      },
      admin: { address: admin, auth: { secret: SECRET } },
    };
    tandem = await startTandem(config);
    await tandem.waitForLine((l) => l.event === "admin-listening");
    // The tokens come from the token command, as an operator gets them.
    const minted = await Promise.all(["admin", "read"].map((scope) => runTandem(["token", "--scope", scope, "--sub", `ctl-${scope}`, "--config", tandem.configPath!])));
    for (const result of minted) assert.equal(result.code, 0, result.stderr);
    [adminToken, readToken] = minted.map((result) => result.stdout.trim());
  });

  after(async () => {
    assert.equal(await tandem?.stop(), 0);
    await Promise.all((backends ?? []).map((backend) => backend.close()));
  });

  /** The status document as ctl status --json prints it. */
  async function statusJson(): Promise<StatusDocument> {
    const run = await ctl(["status", "--json", "--admin", admin], readToken);
    exits(run, EXIT.ok);
    return JSON.parse(run.stdout) as StatusDocument;
  }

  const memberOf = (document: StatusDocument, pool: string, name: string) => document.pools.find((p) => p.name === pool)!.members.find((m) => m.name === name)!;

  test("status: a table of every member (show stat), found through the config's admin.address; --json prints the document", LIMIT, async () => {
    for (let i = 0; i < 4; i++) assert.equal((await fetch(`${tandem.url}/`)).status, 200);
    await waitFor(async () => (await statusJson()).pools[0].members.every((m) => m.lastCheck !== null), 10_000, "a health check of each app member");

    const run = await ctl(["status", "--config", tandem.configPath!], readToken);
    exits(run, EXIT.ok);
    const [header, ...rows] = run.stdout.trimEnd().split("\n");
    assert.deepEqual(header.split(/\s{2,}/), ["POOL", "MEMBER", "STATE", "ACTIVATION", "WEIGHT", "ACTIVE", "REQUESTS", "ERRORS", "LAST CHECK"]);
    const cells = rows.map((row) => row.split(/\s{2,}/).map((cell) => cell.trim()));
    assert.deepEqual(cells.map((row) => row.slice(0, 5)), [
      ["app", "a", "up", "active", "1"],
      ["app", "b", "up", "active", "1"],
      ["sess", "l1", "up", "active", "1"],
      ["sess", "l2", "up", "active", "1"],
    ]);
    assert.equal(cells.slice(0, 2).reduce((sum, row) => sum + Number(row[6]), 0), 4, "the app pool's requests");
    for (const row of cells.slice(0, 2)) assert.match(row[8], /^ok: HTTP 200.*, \d+s ago$/, "last check");
    for (const row of cells.slice(2)) assert.equal(row[8], "-", "no check configured");
    // The columns line up: each header title starts where its cells start (numbers end there).
    assert.equal(rows[0].indexOf("active"), header.indexOf("ACTIVATION"));

    const document = await statusJson();
    assert.deepEqual(document.pools.map((pool) => [pool.name, pool.members.map((m) => m.name)]), [["app", ["a", "b"]], ["sess", ["l1", "l2"]]]);
    assert.equal(document.runtime.split(" ")[0], runtime);
  });

  test("drain, stop, enable and weight change the member, as status then shows; the token may come from a file", LIMIT, async () => {
    const tokenFile = join(mkdtempSync(join(tmpdir(), "tandem-ctl-token-")), "token");
    writeFileSync(tokenFile, `${adminToken}\n`, { mode: 0o600 });
    const change = async (args: string[]) => {
      const run = await ctl([...args, "--admin", `http://${admin}/`, "--token-file", tokenFile]);
      exits(run, EXIT.ok);
      return run.stdout.trim();
    };
    try {
      assert.equal(await change(["drain", "app/a"]), "app/a: activation disabled, weight 1, state up");
      assert.equal(memberOf(await statusJson(), "app", "a").activation, "disabled");
      assert.equal(await change(["stop", "app/a"]), "app/a: activation stopped, weight 1, state up");
      assert.equal(memberOf(await statusJson(), "app", "a").activation, "stopped");
      // A stopped member gets no requests at all.
      for (let i = 0; i < 4; i++) assert.equal(((await (await fetch(`${tandem.url}/`)).json()) as { backend: string }).backend, "b");
      assert.equal(await change(["enable", "app/a"]), "app/a: activation active, weight 1, state up");
      assert.equal(await change(["weight", "app/b", "7"]), "app/b: activation active, weight 7, state up");
      const document = await statusJson();
      assert.deepEqual([memberOf(document, "app", "a").activation, memberOf(document, "app", "b").weight], ["active", 7]);
      const json = await ctl(["weight", "app/b", "0", "--json", "--admin", admin], adminToken);
      exits(json, EXIT.ok);
      assert.deepEqual([JSON.parse(json.stdout).name, JSON.parse(json.stdout).weight], ["b", 0]);
      const logged = await tandem.waitForLine((l) => l.event === "admin" && l.action === "set-member" && l.member === "b" && (l.change as { weight?: number })?.weight === 0);
      assert.equal(logged.actor, "ctl-admin", "the change is logged with the token's subject");
    } finally {
      await ctl(["weight", "app/b", "1", "--admin", admin], adminToken);
      await ctl(["enable", "app/a", "--admin", admin], adminToken);
    }
  });

  test("sessions lists the learned sessions (show table), forget removes one, and a forgotten key is not found", LIMIT, async () => {
    const issued = new Map<string, string>();
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${tandem.url}/s`);
      const key = /JSESSIONID=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
      assert.ok(key, "the member issued a session");
      issued.set(key, ((await response.json()) as { backend: string }).backend);
    }

    const listed = await ctl(["sessions", "sess", "--admin", admin], readToken);
    exits(listed, EXIT.ok);
    const [title, header, ...rows] = listed.stdout.trimEnd().split("\n");
    assert.equal(title, "# pool sess: 3 learned session(s)");
    assert.deepEqual(header.split(/\s+/), ["KEY", "MEMBER", "EXPIRES"]);
    const seen = new Map(rows.map((row) => row.split(/\s+/)).map(([key, member, expires]) => {
      assert.ok(Date.parse(expires) > Date.now() + 9 * 60_000, `expires ${expires}`);
      return [key, member];
    }));
    assert.deepEqual(seen, issued);

    const json = await ctl(["sessions", "sess", "--json", "--admin", admin], readToken);
    exits(json, EXIT.ok);
    const document = JSON.parse(json.stdout) as { pool: string; total: number; entries: StickyEntry[] };
    assert.deepEqual([document.pool, document.total, document.entries.map((e) => e.key).sort()], ["sess", 3, [...issued.keys()].sort()]);

    const [victim] = issued.keys();
    const forgotten = await ctl(["forget", "sess", victim, "--admin", admin], adminToken);
    exits(forgotten, EXIT.ok);
    assert.equal(forgotten.stdout.trim(), `sess: session "${victim}" forgotten`);
    const remaining = await ctl(["sessions", "sess", "--admin", admin], readToken);
    assert.match(remaining.stdout, /^# pool sess: 2 learned session\(s\)/);
    assert.doesNotMatch(remaining.stdout, new RegExp(victim));

    const again = await ctl(["forget", "sess", victim, "--admin", admin], adminToken);
    exits(again, EXIT.notFound);
    assert.match(again.stderr, new RegExp(`not found \\(404\\): no session "${victim}" in pool "sess"`));
    const empty = await ctl(["sessions", "app", "--admin", admin], readToken);
    exits(empty, EXIT.ok);
    assert.equal(empty.stdout.trim(), "# pool app: 0 learned session(s)");
  });

  test("reload: a valid file is reloaded; an invalid one exits 1 with its problems and the old config keeps serving", LIMIT, async () => {
    const path = tandem.configPath!;
    const original = readFileSync(path, "utf8");
    const reloaded = await ctl(["reload", "--config", path], adminToken);
    exits(reloaded, EXIT.ok);
    assert.match(reloaded.stdout, /^reloaded \(1 listener\(s\), 2 pool\(s\), 4 member\(s\), 1 route\(s\)\)$/m);
    try {
      writeFileSync(path, JSON.stringify({ ...config, pools: { app: { strategy: "fastest", members: [] } } }));
      const refused = await ctl(["reload", "--admin", admin], adminToken);
      exits(refused, EXIT.refused);
      assert.match(refused.stderr, /reload refused: the new config is invalid; the running one is kept; \d+ problem\(s\):/);
      assert.match(refused.stderr, /\n {2}pools\.app\.strategy: one of .*\(got "fastest"\)/);
      const json = await ctl(["reload", "--json", "--admin", admin], adminToken);
      exits(json, EXIT.refused);
      assert.equal(JSON.parse(json.stdout).code, "INVALID_CONFIG");
      assert.equal((await fetch(`${tandem.url}/`)).status, 200, "the old config still serves");
      assert.equal((await statusJson()).pools.length, 2);
    } finally {
      writeFileSync(path, original);
    }
  });

  test("no token, a refused token and a read token for a change: exit 4, 4 and 5 with what to do", LIMIT, async () => {
    const none = await ctl(["status", "--admin", admin]);
    exits(none, EXIT.unauthorized);
    assert.match(none.stderr, /^ctl: no token: the admin API at http:\/\/127\.0\.0\.1:\d+ needs one; set TANDEM_TOKEN or pass --token-file FILE/);

    const foreign = await mintToken({ secret: "another-secret-another-secret-another-secret", audience: "tandem-admin", subject: "x", scope: "admin", ttlSeconds: 60 });
    const refused = await ctl(["status", "--admin", admin], foreign);
    exits(refused, EXIT.unauthorized);
    assert.match(refused.stderr, /the admin API refused the token \(401\): /);

    const readOnly = await ctl(["drain", "app/a", "--admin", admin], readToken);
    exits(readOnly, EXIT.forbidden);
    assert.match(readOnly.stderr, /forbidden \(403\): this call needs a token with scope "admin"; a change needs a token minted with tandem token --scope admin/);
    assert.equal(memberOf(await statusJson(), "app", "a").activation, "active", "nothing changed");
    for (const args of [["forget", "sess", "x"], ["reload"], ["weight", "app/a", "2"]]) {
      exits(await ctl([...args, "--admin", admin], readToken), EXIT.forbidden);
    }

    const missingFile = await ctl(["status", "--admin", admin, "--token-file", join(emptyDir, "no-such-token")], readToken);
    exits(missingFile, EXIT.unauthorized);
    assert.match(missingFile.stderr, /cannot read the token file .*no-such-token/);
  });

  test("an unknown pool or member: exit 6 naming it", LIMIT, async () => {
    const member = await ctl(["drain", "app/nope", "--admin", admin], adminToken);
    exits(member, EXIT.notFound);
    assert.match(member.stderr, /not found \(404\): .*nope/);
    const pool = await ctl(["weight", "nope/a", "2", "--admin", admin], adminToken);
    exits(pool, EXIT.notFound);
    assert.match(pool.stderr, /not found \(404\): .*nope/);
    exits(await ctl(["sessions", "nope", "--admin", admin], readToken), EXIT.notFound);
    exits(await ctl(["forget", "nope", "k", "--admin", admin], adminToken), EXIT.notFound);
  });

  test("no balancer at the address: exit 3; a config without admin and bad arguments: exit 2 with the usage", LIMIT, async () => {
    const port = await freePort();
    const unreachable = await ctl(["status", "--admin", `127.0.0.1:${port}`], readToken);
    exits(unreachable, EXIT.unreachable);
    assert.match(unreachable.stderr, new RegExp(`^ctl: cannot reach the admin API at http://127\\.0\\.0\\.1:${port}: .+`));

    const { admin: _, ...withoutAdmin } = config;
    const noAdmin = await ctl(["status", "--config", writeConfig(withoutAdmin)], readToken);
    exits(noAdmin, EXIT.usage);
    assert.match(noAdmin.stderr, /has no admin section/);

    // The config file of the working directory is where the admin API is looked for by default.
    const here = mkdtempSync(join(tmpdir(), "tandem-ctl-cwd-"));
    writeFileSync(join(here, "tandem.yaml"), JSON.stringify(config));
    exits(await ctl(["status"], readToken, here), EXIT.ok);

    const bad = [[], ["frobnicate"], ["drain"], ["drain", "app"], ["drain", "app/a", "extra"], ["weight", "app/a", "x"], ["weight", "app/a", "257"], ["status", "--timeout", "soon"]];
    for (const args of [...bad.map((args) => [...args, "--admin", admin]), ["status", "--admin", "ftp://x"], ["status", "--admin", "not a host"]]) {
      const run = await ctl(args, adminToken);
      exits(run, EXIT.usage);
      assert.match(run.stderr, /^ctl: .+\nusage: tandem ctl SUBCOMMAND/, `ctl ${args.join(" ")}`);
    }
    const option = await ctl(["status", "--edge"], readToken);
    exits(option, EXIT.usage);
    assert.match(option.stderr, /unknown argument: --edge \(ctl does not take it\)\nusage: tandem ctl/);
    assert.equal(memberOf(await statusJson(), "app", "a").weight, 1, "a refused weight changed nothing");
  });
});
