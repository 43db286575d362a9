/**
 * The benchmark scripts are run by hand, never by the suite, so nothing else notices when one of
 * them stops parsing (it happened). They run on Bun whichever runner runs this test: the harness
 * loads every module of the race with `--help`, and every script is transpiled.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BUN = join(REPO, "node_modules/.bin/bun");
const BENCH = join(REPO, "test/bench");

test("the benchmark harness loads and prints its usage", () => {
  const result = spawnSync(BUN, ["test/bench/run.ts", "--help"], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^usage: bun test\/bench\/run\.ts/);
  assert.match(result.stdout, /--only/);
});

test("every benchmark script transpiles", () => {
  const scripts = readdirSync(BENCH).filter((name) => name.endsWith(".ts"));
  assert.ok(scripts.length >= 5, `only ${scripts.length} scripts in ${BENCH}`);
  for (const script of scripts) {
    const result = spawnSync(BUN, ["build", "--no-bundle", join(BENCH, script)], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
    assert.equal(result.status, 0, `${script}: ${result.stderr}`);
  }
});
