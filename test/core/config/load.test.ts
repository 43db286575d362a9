import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { defaultWorkers, formatProblem, parseConfig } from "../../../core/config/load.ts";
import { configJsonSchema } from "../../../core/config/json-schema.ts";
import { parseDuration } from "../../../core/config/duration.ts";

const minimal = `
listeners: [{address: "127.0.0.1:8080"}]
pools:
  app:
    members:
      - {name: tc1, url: "http://127.0.0.1:8081"}
`;

describe("config", () => {
  test("defaults are the ones operators know", () => {
    const result = parseConfig(minimal);
    assert.ok(result.ok);
    const pool = result.config.pools.app;
    assert.equal(pool.strategy, "roundrobin");
    assert.equal(pool.retries, 3);
    assert.deepEqual(pool.retryOn, ["conn-failure"]);
    assert.equal(pool.redispatch, true);
    assert.equal(pool.timeouts.connect, 5000);
    assert.deepEqual(pool.members[0], {
      name: "tc1",
      url: "http://127.0.0.1:8081",
      weight: 1,
      distance: 0,
      activation: "active",
      maxconn: 0,
    });
    assert.equal(pool.sticky.mode, "none");
    assert.equal(result.config.drainTimeout, 30_000);
  });

  test("JSON is accepted too", () => {
    const result = parseConfig(JSON.stringify({ listeners: [{ address: ":80" }], pools: { p: { members: [{ name: "a", url: "https://b.test" }] } } }));
    assert.ok(result.ok);
  });

  test("every problem is named with path, expectation and what was found", () => {
    const result = parseConfig(`
listeners: [{address: "127.0.0.1:99999"}]
routes: [{path: /api, pool: nope}]
pools:
  app:
    strategy: random
    sticky: {mode: insert, key: short}
    timeouts: {connect: 5 seconds}
    members:
      - {name: a, url: "http://127.0.0.1:8081/x", weigth: 2}
      - {name: b, url: "http://127.0.0.1:8082", activation: off}
      - {url: "http://x:1"}
`);
    assert.ok(!result.ok);
    const lines = result.problems.map(formatProblem);
    const expectLine = (pattern: RegExp) => assert.ok(lines.some((line) => pattern.test(line)), `${pattern}\n${lines.join("\n")}`);
    expectLine(/^listeners\[0\]\.address: .*port from 0 to 65535.*\(got "127\.0\.0\.1:99999"\)$/);
    expectLine(/^pools\.app\.strategy: one of "roundrobin" \| "leastconn" \| "p2c" \| "hash" \(got "random"\)$/);
    expectLine(/^pools\.app\.sticky\.key: a key of at least 16 characters \(got length 5\)$/);
    expectLine(/^pools\.app\.timeouts\.connect: a duration .*\(got "5 seconds"\)$/);
    expectLine(/^pools\.app\.members\[0\]\.url: an origin URL .*\(got "http:\/\/127\.0\.0\.1:8081\/x"\)$/);
    expectLine(/^pools\.app\.members\[0\]\.weigth: no such key/);
    expectLine(/^pools\.app\.members\[1\]\.activation: one of "active" \| "disabled" \| "stopped" \(got "off"\)$/);
    expectLine(/^pools\.app\.members\[2\]\.name: a value \(required\) \(got nothing\)$/);
    assert.equal(lines.length, 8, lines.join("\n"));
  });

  test("cross-field rules: unknown pools, duplicate names, routes and cookie values, bad redirect, hash without a name", () => {
    const result = parseConfig(`
listeners: [{address: ":8080"}, {address: ":8080"}]
routes: [{path: /api, pool: nope}, {pool: app}]
defaultPool: missing
pools:
  app:
    strategy: hash
    hash: {key: header}
    members:
      - {name: a, url: "http://127.0.0.1:1", redirect: a}
      - {name: a, url: "http://127.0.0.1:2"}
      - {name: c, url: "http://127.0.0.1:3", route: a, cookie: A}
      - {name: d, url: "http://127.0.0.1:4", cookie: A}
`);
    assert.ok(!result.ok);
    const paths = result.problems.map((problem) => problem.path).sort();
    assert.deepEqual(paths, [
      "defaultPool",
      "listeners[1].address",
      "pools.app.hash.name",
      "pools.app.members[0].redirect",
      "pools.app.members[1].name",
      "pools.app.members[1].route",
      "pools.app.members[2].route",
      "pools.app.members[3].cookie",
      "routes[0].pool",
      "routes[1]",
    ]);
  });

  test("YAML syntax errors name the line", () => {
    const result = parseConfig("listeners: [\n  {address: x\npools: {");
    assert.ok(!result.ok);
    assert.match(formatProblem(result.problems[0]), /^line \d+: valid YAML or JSON/);
  });

  test("durations", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("1m30s"), 90_000);
    assert.equal(parseDuration("2"), 2);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("5 s"), undefined);
    assert.equal(parseDuration("s"), undefined);
  });

  test("the JSON Schema describes the input format", () => {
    const schema = configJsonSchema() as { properties: Record<string, { properties?: unknown }>; required: string[] };
    assert.deepEqual(schema.required.sort(), ["listeners", "pools"]);
    assert.ok(schema.properties.pools);
    assert.ok(JSON.stringify(schema).includes('"leastconn"'));
  });

  test("workers: one per core by default, 1 when a listener asks for port 0, as written when set", () => {
    const cores = Math.min(navigator.hardwareConcurrency, 64);
    const withListeners = (addresses: string[], workers?: number) =>
      parseConfig(JSON.stringify({
        listeners: addresses.map((address) => ({ address })),
        pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:8081" }] } },
        ...(workers === undefined ? {} : { workers }),
      }));
    const fixed = withListeners(["127.0.0.1:8080", ":8443"]);
    assert.ok(fixed.ok && fixed.config.workers === cores, `${cores} core(s)`);
    const kernelPort = withListeners(["127.0.0.1:8080", "127.0.0.1:0"]);
    assert.ok(kernelPort.ok && kernelPort.config.workers === 1, "a port chosen by the kernel cannot be shared by the workers");
    const one = withListeners(["127.0.0.1:0"], 1);
    assert.ok(one.ok && one.config.workers === 1);
    const three = withListeners(["127.0.0.1:8080"], 3);
    assert.ok(three.ok && three.config.workers === 3);

    const refused = withListeners(["127.0.0.1:8080", "127.0.0.1:0"], 2);
    assert.ok(!refused.ok);
    assert.deepEqual(refused.problems.map(formatProblem), [
      'listeners[1].address: a fixed port: with workers: 2 each worker would get a different one for port 0 (got "127.0.0.1:0")',
    ]);
    const tooMany = withListeners(["127.0.0.1:8080"], 65);
    assert.ok(!tooMany.ok && tooMany.problems[0].path === "workers");

    const fixedPorts = [{ address: ":80" }];
    assert.equal(defaultWorkers(fixedPorts, 8), 8);
    assert.equal(defaultWorkers(fixedPorts, 128), 64, "capped at the most a config may ask for");
    assert.equal(defaultWorkers(fixedPorts, null), 1, "a runtime that does not say");
    assert.equal(defaultWorkers(fixedPorts, 0), 1);
    assert.equal(defaultWorkers([...fixedPorts, { address: "[::1]:0" }], 8), 1);
  });
});
