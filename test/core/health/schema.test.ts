import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { formatStatuses, HealthSchema, statusExpected } from "../../../core/health/schema.ts";

const parse = (input: unknown) => v.parse(HealthSchema, input);

/** The first issue's dotted path and message, or undefined when the input is valid. */
function problem(input: unknown): string | undefined {
  const result = v.safeParse(HealthSchema, input);
  if (result.success) return undefined;
  const issue = result.issues[0];
  return `${v.getDotPath(issue)}: ${issue.message}`;
}

describe("health config", () => {
  test("defaults: no active checks, passive on with HAProxy's error-limit, no slow start", () => {
    assert.deepEqual(parse({}), {
      passive: { errorLimit: 10, on: ["connect", "timeout", "5xx"], backoff: 10_000, maxBackoff: 300_000 },
      slowStart: 0,
    });
  });

  test("check defaults: GET / expecting 200-399, every 2 s, rise 2, fall 3, 1 s timeout", () => {
    assert.deepEqual(parse({ check: {} }).check, {
      path: "/",
      method: "GET",
      expect: [{ from: 200, to: 399 }],
      interval: 2000,
      fastInterval: 2000,
      downInterval: 2000,
      timeout: 1000,
      rise: 2,
      fall: 3,
    });
  });

  test("durations as text or milliseconds; fastInterval and downInterval follow the interval", () => {
    const check = parse({ check: { interval: "5s", timeout: 250, downInterval: "1m" } }).check!;
    assert.equal(check.interval, 5000);
    assert.equal(check.fastInterval, 5000);
    assert.equal(check.downInterval, 60_000);
    assert.equal(check.timeout, 250);
    assert.equal(parse({ slowStart: "30s" }).slowStart, 30_000);
  });

  test("expected statuses as codes and ranges", () => {
    const expect = parse({ check: { expect: [200, "204", "300-302"] } }).check!.expect;
    assert.equal(formatStatuses(expect), "200,204,300-302");
    assert.deepEqual([199, 200, 204, 205, 301, 303].map((status) => statusExpected(expect, status)), [
      false,
      true,
      true,
      false,
      true,
      false,
    ]);
  });

  test("refuses what cannot work, naming the field", () => {
    assert.equal(problem({ check: { interval: 0 } }), "check.interval: at least 1 ms");
    assert.equal(problem({ check: { timeout: "0s" } })?.startsWith("check.timeout: a duration"), true);
    assert.equal(problem({ check: { rise: 0 } }), "check.rise: an integer of at least 1");
    assert.equal(problem({ check: { expect: ["399-200"] } }), "check.expect.0: a range whose start is not above its end");
    assert.equal(problem({ check: { expect: [600] } }), 'check.expect.0: a status code from 100 to 599');
    assert.equal(problem({ check: { expect: ["2xx"] } }), 'check.expect.0: a status code such as "204" or a range such as "200-399"');
    assert.equal(problem({ check: { expect: [true] } }), 'check.expect.0: a status code such as 200 or a range such as "200-399"');
    assert.equal(problem({ check: { expect: [] } }), "check.expect: at least one status or range");
    assert.equal(problem({ check: { path: "health" } }), "check.path: a path starting with '/', without spaces");
    assert.equal(problem({ passive: { on: ["4xx"] } })?.startsWith("passive.on.0:"), true);
    assert.equal(problem({ check: { intervall: "2s" } })?.startsWith("check.intervall:"), true);
  });
});
