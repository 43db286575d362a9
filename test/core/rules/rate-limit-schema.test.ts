import { test } from "node:test";
import assert from "node:assert/strict";
import { formatProblem, validateConfig } from "../../../core/config/load.ts";

const base = { listeners: [{ address: "127.0.0.1:0" }], pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:1" }] } } };

test("rateLimits: defaults filled in, keys by address, header or cookie", () => {
  const result = validateConfig({
    ...base,
    rateLimits: { perClient: { requests: 100 }, perKey: { key: { header: "X-Api-Key" }, requests: 5, per: "1m", size: 10 }, inFlight: { key: { cookie: "JSESSIONID" }, concurrent: 3 } },
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.deepEqual(result.config.rateLimits, {
    perClient: { key: "ip", requests: 100, per: 1_000, size: 100_000 },
    perKey: { key: { header: "X-Api-Key" }, requests: 5, per: 60_000, size: 10 },
    inFlight: { key: { cookie: "JSESSIONID" }, concurrent: 3, per: 1_000, size: 100_000 },
  });
  const none = validateConfig(base);
  assert.ok(none.ok);
  assert.deepEqual(none.config.rateLimits, {});
});

test("rateLimits: every problem named by its path", () => {
  const result = validateConfig({
    ...base,
    rateLimits: { empty: { per: "1s" }, "bad name": { requests: 1 }, typos: { requests: 0, key: { header: "a b" }, size: 1e9, per: "0", burst: 3 }, key: { requests: 1, key: "address" } },
  });
  assert.ok(!result.ok);
  const problems = result.problems.map(formatProblem);
  for (const expected of [
    /^rateLimits\.empty: a rate limit needs requests, concurrent or both/,
    /^rateLimits\.bad name: a name of letters/,
    /^rateLimits\.typos\.requests: at least 1/,
    /^rateLimits\.typos\.key\.header: a header or cookie name/,
    /^rateLimits\.typos\.size: at most 10000000/,
    /^rateLimits\.typos\.per: a duration/,
    /^rateLimits\.typos\.burst: /,
    /^rateLimits\.key\.key: the key of a rate limit/,
  ]) {
    assert.ok(problems.some((problem) => expected.test(problem)), `${expected} in ${JSON.stringify(problems, null, 1)}`);
  }
});
