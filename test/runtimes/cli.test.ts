/** The program's commands on the runtime running the test: check, schema, serve errors, the demo. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort, waitFor } from "../support/ports.ts";
import { runTandem, runtime, startTandem, tandemCommand, writeConfig } from "../support/tandem.ts";

const root = new URL("../../", import.meta.url).pathname;
const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };

/** Runs a program to completion (killed after 30 s), with `env` added to the environment. */
function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd ?? root, env: { ...process.env, NO_COLOR: "1", ...options.env } });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const valid = {
  listeners: [{ address: "127.0.0.1:0" }],
  pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }, { name: "b", url: "http://127.0.0.1:10" }] } },
};

describe(`cli on ${runtime}`, () => {
  test("check accepts a valid config with a one-line summary", async () => {
    const result = await runTandem(["check", "--config", writeConfig(valid)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.trim(), /: OK \(1 listener\(s\), 1 pool\(s\), 2 member\(s\), 0 route\(s\)\)$/);
  });

  test("check lists every problem and exits non-zero", async () => {
    const path = writeConfig("listeners: [{address: nope}]\npools:\n  app:\n    strategy: fastest\n    members: [{name: a, url: 'ftp://x'}]\n");
    const result = await runTandem(["check", "--config", path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /3 problem\(s\)/);
    assert.match(result.stderr, /listeners\[0\]\.address: an address "host:port".*\(got "nope"\)/);
    assert.match(result.stderr, /pools\.app\.strategy: one of .*\(got "fastest"\)/);
    assert.match(result.stderr, /pools\.app\.members\[0\]\.url: an origin URL.*\(got "ftp:\/\/x"\)/);
  });

  test("serve refuses an invalid config before listening", async () => {
    const result = await runTandem(["serve", "--config", writeConfig({ listeners: [] })]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /listeners: .*at least one listener/);
    assert.match(result.stderr, /pools: a value \(required\)/);
  });

  test("check and serve agree: every config serve refuses at start, check refuses with the same problem", async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["an open admin API off loopback", { admin: { address: "0.0.0.0:0" } }, /admin\.address: 0\.0\.0\.0:0 is not loopback and no auth is configured/],
      ["a JWKS file that is missing", { admin: { address: "127.0.0.1:0", auth: { jwksFile: "no-such-jwks.json" } } }, /admin\.auth\.jwksFile: cannot read no-such-jwks\.json/],
      ["a certificate file that is missing", { listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: "gone.pem", key: "gone.key" }] } }] }, /gone\.pem/],
      ["a JWKS file without a usable key", { admin: { address: "127.0.0.1:0", auth: { jwksFile: "bogus-jwks.json" } } }, /admin\.auth: /],
    ];
    for (const [what, change, problem] of cases) {
      const path = writeConfig({ ...valid, ...change });
      writeFileSync(join(dirname(path), "bogus-jwks.json"), JSON.stringify({ keys: [{ kty: "bogus", kid: "k" }] }));
      const checked = await runTandem(["check", "--config", path]);
      const served = await runTandem(["serve", "--config", path]);
      assert.equal(served.code, 1, `${what}: serve refuses it`);
      assert.match(served.stderr, problem, `${what}: serve names it`);
      assert.equal(checked.code, 1, `${what}: check refuses what serve refuses (${checked.stdout})`);
      assert.match(checked.stderr, problem, `${what}: check names it`);
      const fatal = served.stdout.split("\n").filter((line) => line.includes('"event":"fatal"'));
      assert.equal(fatal.length, 1, `${what}: one fatal line`);
    }
  });

  test("schema prints the JSON Schema", async () => {
    const result = await runTandem(["schema"]);
    assert.equal(result.code, 0);
    const schema = JSON.parse(result.stdout);
    assert.equal(schema.type, "object");
    assert.ok(schema.properties.pools);
  });

  test("unknown arguments are refused with usage", async () => {
    const result = await runTandem(["serve", "--frobnicate"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown argument: --frobnicate[\s\S]*usage:/);
  });

  test("version and --version print the package's version and the runtime's", async () => {
    const expected = new RegExp(`^tandem ${packageJson.version.replaceAll(".", "\\.")} \\(${runtime} \\d+\\.\\d+\\.\\d+[^)]*\\)\n$`);
    for (const args of [["version"], ["--version"], ["-v"]]) {
      const result = await runTandem(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, expected, args.join(" "));
    }
  });

  test("--help: the global usage lists every command; after a command, that command's own usage", async () => {
    const global = await runTandem(["--help"]);
    assert.equal(global.code, 0);
    for (const command of ["serve", "check", "schema", "token", "ctl", "import", "version", "help"]) assert.match(global.stdout, new RegExp(`^  ${command} `, "m"));
    const usages: Record<string, RegExp> = {
      serve: /^usage: tandem \[serve\] \[--config FILE\]\n[\s\S]*--port PORT/,
      check: /^usage: tandem check \[--edge\] \[--config FILE\]\n[\s\S]*--edge/,
      schema: /^usage: tandem schema\n/,
      token: /^usage: tandem token --scope read\|admin[\s\S]*--ttl DURATION/,
      ctl: /^usage: tandem ctl SUBCOMMAND[\s\S]*drain POOL\/MEMBER[\s\S]*exit status: /,
      import: /^usage: tandem import \[--from haproxy\|keepalived\|modjk\|httpd\] FILE\.\.\.[\s\S]*--report FILE/,
      version: /^usage: tandem version/,
    };
    for (const [command, usage] of Object.entries(usages)) {
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const result = await runTandem(args);
        assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stdout, usage, args.join(" "));
        assert.doesNotMatch(result.stdout, /^commands:/m, `${args.join(" ")} is not the global usage`);
      }
    }
    const ctlSubcommand = await runTandem(["ctl", "drain", "--help"]);
    assert.equal(ctlSubcommand.code, 0);
    assert.match(ctlSubcommand.stdout, /^usage: tandem ctl /);
  });

  test("an unknown command, or an option of another command, is refused with exit 2 and the right usage", async () => {
    const unknown = await runTandem(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^unknown command: frobnicate\nusage: tandem \[COMMAND\]/);
    const foreign = await runTandem(["check", "--scope", "admin"]);
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /^unknown argument: --scope \(check does not take it\)\nusage: tandem check /);
    const extra = await runTandem(["schema", "extra"]);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /^unexpected argument: extra\nusage: tandem schema/);
    const helpOf = await runTandem(["help", "frobnicate"]);
    assert.equal(helpOf.code, 2);
    assert.match(helpOf.stderr, /^unknown command: frobnicate/);
    // Options may still come before the command.
    const before = await runTandem(["--config", writeConfig(valid), "check"]);
    assert.equal(before.code, 0, before.stderr);
  });

  test("the demo moves with --port and --admin-port, and ctl status works with the token it prints", { timeout: 30_000 }, async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const tandem = await startTandem(undefined, { args: ["--port", String(port), "--admin-port", String(adminPort)], cwd: mkdtempSync(join(tmpdir(), "tandem-demo-")) });
    try {
      assert.equal(tandem.url, `http://127.0.0.1:${port}`);
      const reply = await fetch(tandem.url, { headers: { accept: "application/json" } });
      assert.equal(reply.status, 200);
      assert.match(((await reply.json()) as { backend: string }).backend, /^backend-demo[12]$/);
      await waitFor(async () => /TANDEM_TOKEN=\S+/.test(tandem.stderr()), 10_000, "the demo's instructions");
      assert.match(tandem.stderr(), new RegExp(`balancer http://127\\.0\\.0\\.1:${port}/`));
      assert.match(tandem.stderr(), new RegExp(`curl .*127\\.0\\.0\\.1:${port}/`));
      assert.match(tandem.stderr(), new RegExp(`tandem ctl status --admin 127\\.0\\.0\\.1:${adminPort}`));
      assert.doesNotMatch(tandem.stderr(), /:8080|:8404/);
      const token = /TANDEM_TOKEN=(\S+)/.exec(tandem.stderr())![1];
      const [command, ...args] = tandemCommand(["ctl", "status", "--admin", `127.0.0.1:${adminPort}`]);
      const status = await run(command, args, { env: { TANDEM_TOKEN: token } });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^demo {2}demo1 /m);
      assert.match(status.stdout, /^demo {2}demo2 /m);
    } finally {
      assert.equal(await tandem.stop(), 0);
    }
  });

  test("--port is for the demo: refused with a config, and refused when it is not a port", async () => {
    const withConfig = await runTandem(["serve", "--port", "9000", "--config", writeConfig(valid)]);
    assert.equal(withConfig.code, 2);
    assert.match(withConfig.stderr, /--port and --admin-port are for the demo/);
    for (const port of ["0", "65536", "http"]) {
      const bad = await runTandem(["serve", "--port", port], mkdtempSync(join(tmpdir(), "tandem-demo-")));
      assert.equal(bad.code, 2, `--port ${port}`);
      assert.match(bad.stderr, /--port must be a port from 1 to 65535/);
    }
  });

  test("package.json bin: the tandem launcher runs tandem on Bun through npm's symlink and passes the exit status on", async () => {
    assert.deepEqual(packageJson.bin, { tandem: "bin/tandem" });
    // npm links bin/tandem into node_modules/.bin or the global bin directory; it must find the project from there.
    const linked = join(mkdtempSync(join(tmpdir(), "tandem-bin-")), "tandem");
    symlinkSync(join(root, "bin/tandem"), linked);
    const elsewhere = mkdtempSync(join(tmpdir(), "tandem-cwd-"));
    const version = await run(linked, ["--version"], { cwd: elsewhere });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, new RegExp(`^tandem ${packageJson.version.replaceAll(".", "\\.")} \\(bun `));
    // Relative paths are the caller's.
    writeFileSync(join(elsewhere, "broken.yaml"), "listeners: []\n");
    const check = await run(linked, ["check", "--config", "broken.yaml"], { cwd: elsewhere });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /^broken\.yaml: \d+ problem\(s\)/);
    assert.equal((await run(linked, ["--frobnicate"], { cwd: elsewhere })).code, 2);
  });

  test("deno.json has a task for every command, and they run with Deno from node_modules", async () => {
    const { tasks } = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as { tasks: Record<string, string> };
    for (const command of ["serve", "check", "schema", "token", "ctl", "import", "version"]) {
      assert.match(tasks[command] ?? "", new RegExp(`^\\./node_modules/\\.bin/deno run .* runtimes/deno/main\\.ts ${command}$`), `deno task ${command}`);
    }
    const deno = join(root, "node_modules/.bin/deno");
    const elsewhere = mkdtempSync(join(tmpdir(), "tandem-cwd-"));
    const version = await run(deno, ["task", "-q", "--config", join(root, "deno.json"), "version"], { cwd: elsewhere });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^tandem \S+ \(deno \d/);
    const help = await run(deno, ["task", "-q", "--config", join(root, "deno.json"), "check", "--help"], { cwd: elsewhere });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: tandem check /);
    const ctl = await run(deno, ["task", "-q", "--config", join(root, "deno.json"), "ctl", "status", "--admin", `127.0.0.1:${await freePort()}`], { cwd: elsewhere });
    assert.equal(ctl.code, 3, `ctl reaches for the network with its permissions: ${ctl.stderr}`);
    assert.match(ctl.stderr, /cannot reach the admin API/);
  });

  test("without a config the embedded demo is sticky on 127.0.0.1:8080 and spreads new clients", async () => {
    const tandem = await startTandem(undefined, { cwd: mkdtempSync(join(tmpdir(), "tandem-demo-")) });
    try {
      assert.equal(tandem.url, "http://127.0.0.1:8080");
      const get = async (cookie?: string) => {
        const response = await fetch(tandem.url, { headers: { accept: "application/json", ...(cookie ? { cookie } : {}) } });
        const setCookie = response.headers.get("set-cookie")?.split(";")[0];
        return { ...(await response.json()) as { backend: string; session: string; count: number }, setCookie };
      };
      const first = await get();
      assert.ok(first.setCookie);
      for (let count = 2; count <= 5; count++) {
        const again = await get(first.setCookie);
        assert.deepEqual([again.backend, again.count], [first.backend, count]);
      }
      const backends = new Set<string>();
      for (let i = 0; i < 4; i++) backends.add((await get()).backend);
      assert.deepEqual([...backends].sort(), ["backend-demo1", "backend-demo2"]);
      assert.match(tandem.stderr(), /curl .*127\.0\.0\.1:8080/);
    } finally {
      assert.equal(await tandem.stop(), 0);
    }
  });
});
