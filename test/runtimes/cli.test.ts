/** The program's commands on the runtime running the test: check, schema, serve errors, the demo. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runTandem, runtime, startTandem, writeConfig } from "../support/tandem.ts";

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
