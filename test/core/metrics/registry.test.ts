import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LatencyWindow, percentile } from "../../../core/metrics/latency-window.ts";
import { Registry, type RegistrySnapshot, snapshotValue } from "../../../core/metrics/registry.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const VALUE = /^(?:[+-]?Inf|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;

/**
 * A strict reader of the text exposition format 0.0.4: every line is a HELP or TYPE comment, another
 * comment, blank, or `name{label="value",...} value`. A family's HELP and TYPE come once, before its
 * samples, and its samples are contiguous. Throws on anything else.
 */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text === "" || text.endsWith("\n"), "the text ends with a newline");
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const familyOf = (sampleName: string) => {
    for (const suffix of ["", "_bucket", "_sum", "_count"]) {
      if (!sampleName.endsWith(suffix)) continue;
      const family = families.get(sampleName.slice(0, sampleName.length - suffix.length));
      if (family && (suffix === "" || family.type === "histogram")) return family;
    }
    throw new Error(`sample ${sampleName} has no TYPE line before it`);
  };
  for (const line of text.slice(0, -1).split("\n")) {
    let match: RegExpExecArray | null;
    if (line === "") continue;
    if ((match = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line))) {
      const [, kind, name, rest] = match;
      const family = families.get(name) ?? { name, samples: [] };
      assert.equal(family.samples.length, 0, `${kind} of ${name} after its samples`);
      if (kind === "HELP") {
        assert.equal(family.help, undefined, `second HELP for ${name}`);
        assert.match(rest, /^(?:[^\\]|\\\\|\\n)*$/, `HELP escapes: ${line}`);
        family.help = rest.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      } else {
        assert.equal(family.type, undefined, `second TYPE for ${name}`);
        assert.match(rest, /^(?:counter|gauge|histogram|summary|untyped)$/);
        family.type = rest;
      }
      families.set(name, family);
      current = family;
      continue;
    }
    if (line.startsWith("#")) continue;
    match = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = match;
    assert.match(valueText, VALUE, `value of ${line}`);
    const family = familyOf(name);
    assert.equal(family, current, `samples of ${family.name} are not contiguous`);
    const labels: Record<string, string> = {};
    let rest = labelText ?? "";
    while (rest !== "") {
      const pair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/.exec(rest);
      if (!pair) throw new Error(`bad label set in ${JSON.stringify(line)}`);
      assert.equal(labels[pair[1]], undefined, `label ${pair[1]} repeated in ${line}`);
      labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      rest = rest.slice(pair[0].length);
      if (pair[3] === "," && rest === "") throw new Error(`trailing comma in ${line}`);
    }
    family.samples.push({ name, labels, value: Number(valueText.replace("Inf", "Infinity")) });
  }
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

/** Buckets per label set: cumulative, ascending `le`, ending at +Inf equal to _count, with a _sum. */
function checkHistogram(family: Family): void {
  const groups = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const { le: _le, ...rest } = sample.labels;
    const key = JSON.stringify(rest);
    groups.set(key, [...(groups.get(key) ?? []), sample]);
  }
  for (const [key, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
    const count = samples.filter((s) => s.name === `${family.name}_count`);
    const sum = samples.filter((s) => s.name === `${family.name}_sum`);
    assert.equal(count.length, 1, `${family.name}${key}: one _count`);
    assert.equal(sum.length, 1, `${family.name}${key}: one _sum`);
    assert.ok(buckets.length >= 1, `${family.name}${key}: buckets`);
    assert.equal(buckets.at(-1)!.labels.le, "+Inf");
    assert.equal(buckets.at(-1)!.value, count[0].value, `${family.name}${key}: +Inf bucket equals _count`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(Number(buckets[i].labels.le.replace("Inf", "Infinity")) > Number(buckets[i - 1].labels.le), "le ascending");
      assert.ok(buckets[i].value >= buckets[i - 1].value, "buckets cumulative");
    }
  }
}

const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) => {
  const family = families.get(name.replace(/_(bucket|sum|count)$/, "")) ?? families.get(name);
  return family?.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
};

describe("metrics registry", () => {
  test("counters, gauges, collect-time gauges and histograms render as strict 0.0.4 text", () => {
    const registry = new Registry();
    const requests = registry.counter("tandem_requests_total", "Requests answered.", ["pool", "member", "code"]);
    registry.counter("tandem_reloads_total", "Successful reloads.");
    const up = registry.gauge("tandem_member_up", "1 when the member is up.", ["pool", "member"]);
    registry.gaugeFn("tandem_queue_length", "Requests waiting.", ["pool"], () => [[["shop"], 3], [["api"], 0]]);
    const duration = registry.histogram("tandem_request_duration_seconds", "Time to answer.", ["pool"], [0.005, 0.1, 1]);

    requests.inc(["shop", "tc1", "2xx"]);
    requests.inc(["shop", "tc1", "2xx"], 2);
    requests.inc(["shop", "tc2", "5xx"]);
    up.set(["shop", "tc1"], 1);
    up.set(["shop", "tc1"], 0);
    for (const seconds of [0.001, 0.005, 0.05, 0.5, 2, 30]) duration.observe(["shop"], seconds);
    duration.observe(["api"], 0.2);

    const families = parseExposition(registry.render());
    assert.deepEqual([...families.keys()], [
      "tandem_requests_total",
      "tandem_reloads_total",
      "tandem_member_up",
      "tandem_queue_length",
      "tandem_request_duration_seconds",
    ]);
    assert.equal(families.get("tandem_requests_total")!.type, "counter");
    assert.equal(families.get("tandem_requests_total")!.help, "Requests answered.");
    assert.equal(value(families, "tandem_requests_total", { pool: "shop", member: "tc1", code: "2xx" }), 3);
    assert.equal(value(families, "tandem_requests_total", { pool: "shop", member: "tc2", code: "5xx" }), 1);
    assert.equal(value(families, "tandem_reloads_total"), 0, "a metric without labels shows 0 from the start");
    assert.equal(value(families, "tandem_member_up", { pool: "shop", member: "tc1" }), 0);
    assert.equal(value(families, "tandem_queue_length", { pool: "shop" }), 3);
    assert.equal(families.get("tandem_request_duration_seconds")!.type, "histogram");
    const bucket = (le: string) => value(families, "tandem_request_duration_seconds_bucket", { pool: "shop", le });
    assert.deepEqual(["0.005", "0.1", "1", "+Inf"].map(bucket), [2, 3, 4, 6], "le is inclusive and buckets are cumulative");
    assert.equal(value(families, "tandem_request_duration_seconds_count", { pool: "shop" }), 6);
    assert.ok(Math.abs(value(families, "tandem_request_duration_seconds_sum", { pool: "shop" })! - 32.556) < 1e-9);
    assert.equal(value(families, "tandem_request_duration_seconds_bucket", { pool: "api", le: "0.1" }), 0);
    assert.equal(value(families, "tandem_request_duration_seconds_bucket", { pool: "api", le: "1" }), 1);
  });

  test("label values and help text are escaped, and read back intact", () => {
    const registry = new Registry();
    const awkward = 'back\\slash "quoted"\nnew line, {braces}=';
    registry.counter("odd_total", 'Help with \\ and\nnewline and "quotes".', ["value"]).inc([awkward]);
    registry.histogram("odd_seconds", "h", ["value"], [1]).observe([awkward], 0.5);
    const text = registry.render();
    assert.ok(text.includes('odd_total{value="back\\\\slash \\"quoted\\"\\nnew line, {braces}="} 1'), text);
    const families = parseExposition(text);
    assert.equal(families.get("odd_total")!.help, 'Help with \\ and\nnewline and "quotes".');
    assert.equal(value(families, "odd_total", { value: awkward }), 1);
    assert.equal(value(families, "odd_seconds_bucket", { value: awkward, le: "1" }), 1);
  });

  test("a histogram without labels has its zero series from the start; special values render", () => {
    const registry = new Registry();
    registry.histogram("check_seconds", "Check time.", [], [0.1, 0.25]);
    const gauge = registry.gauge("weird", "Special values.", ["kind"]);
    gauge.set(["nan"], NaN);
    gauge.set(["inf"], Infinity);
    gauge.set(["-inf"], -Infinity);
    gauge.set(["small"], 1e-7);
    const families = parseExposition(registry.render());
    assert.deepEqual(families.get("check_seconds")!.samples.map((s) => [s.name, s.labels.le, s.value]), [
      ["check_seconds_bucket", "0.1", 0],
      ["check_seconds_bucket", "0.25", 0],
      ["check_seconds_bucket", "+Inf", 0],
      ["check_seconds_sum", undefined, 0],
      ["check_seconds_count", undefined, 0],
    ]);
    assert.ok(Number.isNaN(value(families, "weird", { kind: "nan" })));
    assert.equal(value(families, "weird", { kind: "inf" }), Infinity);
    assert.equal(value(families, "weird", { kind: "-inf" }), -Infinity);
    assert.equal(value(families, "weird", { kind: "small" }), 1e-7);
  });

  test("collect-time gauges are read at each render", () => {
    const registry = new Registry();
    let depth = 1;
    registry.gaugeFn("depth", "Queue depth.", [], () => [[[], depth]]);
    assert.equal(value(parseExposition(registry.render()), "depth"), 1);
    depth = 7;
    assert.equal(value(parseExposition(registry.render()), "depth"), 7);
  });

  test("an empty registry renders nothing", () => {
    assert.equal(new Registry().render(), "");
  });

  test("mistakes are refused: bad names, duplicates, label count, bad buckets, a counter going down", () => {
    const registry = new Registry();
    const counter = registry.counter("ok_total", "x", ["a", "b"]);
    assert.throws(() => registry.counter("ok_total", "x"), /registered twice/);
    assert.throws(() => registry.gauge("9lives", "x"), /not valid/);
    assert.throws(() => registry.gauge("g", "x", ["bad-label"]), /label name/);
    assert.throws(() => registry.gauge("g2", "x", ["__reserved"]), /label name/);
    assert.throws(() => registry.gauge("g3", "x", ["a", "a"]), /repeated/);
    assert.throws(() => registry.histogram("h1", "x", ["le"], [1]), /bucket label/);
    assert.throws(() => registry.histogram("h2", "x", [], [1, 1]), /strictly increasing/);
    assert.throws(() => registry.histogram("h3", "x", [], [1, Infinity]), /finite/);
    assert.throws(() => counter.inc(["only-one"]), /2 label value\(s\) expected/);
    assert.throws(() => counter.inc(["a", "b"], -1), /only goes up/);
    assert.throws(() => counter.inc(["a", "b"], NaN), /only goes up/);
    parseExposition(registry.render());
  });

  test("merging workers: counters and histograms add up per label set, series only another worker has appear", () => {
    /** The same families as every worker registers them. */
    const worker = () => {
      const registry = new Registry();
      return {
        registry,
        requests: registry.counter("requests_total", "r", ["member"]),
        duration: registry.histogram("duration_seconds", "d", ["pool"], [0.1, 1]),
        inFlight: registry.gauge("in_flight", "f", ["member"], { merge: "sum" }),
      };
    };
    const [lead, other] = [worker(), worker()];
    lead.requests.inc(["a"], 2);
    other.requests.inc(["a"], 3);
    other.requests.inc(["b"], 1);
    lead.duration.observe(["app"], 0.05);
    other.duration.observe(["app"], 0.5);
    other.duration.observe(["app"], 5);
    lead.inFlight.set(["a"], 1);
    other.inFlight.set(["a"], 2);
    const snapshot = structuredClone(other.registry.snapshot());

    const families = parseExposition(lead.registry.render([snapshot]));
    assert.equal(value(families, "requests_total", { member: "a" }), 5);
    assert.equal(value(families, "requests_total", { member: "b" }), 1, "a member only the other worker served");
    const bucket = (le: string) => value(families, "duration_seconds_bucket", { pool: "app", le });
    assert.deepEqual(["0.1", "1", "+Inf"].map(bucket), [1, 2, 3]);
    assert.equal(value(families, "duration_seconds_sum", { pool: "app" }), 5.55);
    assert.equal(value(families, "in_flight", { member: "a" }), 3);
    assert.equal(value(parseExposition(lead.registry.render()), "requests_total", { member: "a" }), 2, "merging changes nothing of its own");
    assert.equal(value(parseExposition(lead.registry.render([snapshot, snapshot])), "requests_total", { member: "a" }), 8);
  });

  test("merging workers: gauges show worker 0's value unless declared sum; lead counters are not sent", () => {
    const make = (up: number, queued: number) => {
      const registry = new Registry();
      registry.gaugeFn("member_up", "u", ["member"], () => [[["a"], up]]);
      registry.gauge("weight", "w").set([], up * 10);
      registry.gaugeFn("queued", "q", [], () => [[[], queued]], { merge: "sum" });
      registry.counter("reloads_total", "r", [], { merge: "lead" }).inc([]);
      registry.counterFn("drops_total", "d", [], () => [[[], queued]]);
      return registry;
    };
    const [lead, other] = [make(1, 2), make(0, 5)];
    const snapshot = other.snapshot();
    assert.deepEqual(snapshot.map(([name]) => name), ["queued", "drops_total"], "only sum families cross between workers");
    const families = parseExposition(lead.render([snapshot]));
    assert.equal(value(families, "member_up", { member: "a" }), 1, "health is worker 0's, never 1 + 0");
    assert.equal(value(families, "weight"), 10);
    assert.equal(value(families, "reloads_total"), 1);
    assert.equal(value(families, "queued"), 7);
    assert.equal(value(families, "drops_total"), 7);
  });

  test("merging workers: a snapshot is a copy, and malformed series from another worker are dropped", () => {
    const registry = new Registry();
    const duration = registry.histogram("duration_seconds", "d", [], [1]);
    registry.counter("requests_total", "r", ["member"]).inc(["a"]);
    duration.observe([], 0.5);
    const snapshot = registry.snapshot();
    duration.observe([], 0.5);
    assert.deepEqual(snapshot.find(([name]) => name === "duration_seconds")![1], [["", { counts: [1, 0], sum: 0.5, count: 1 }]]);

    const junk = [
      ["duration_seconds", [["", { counts: [1], sum: 1, count: 1 }], ["", 4]]],
      ["requests_total", [['{member="a"}', "3"], ['{member="a"}', { counts: [] }], ['{member="a"}', 2]]],
      ["unknown_total", [["", 1]]],
    ] as unknown as RegistrySnapshot;
    const families = parseExposition(registry.render([junk]));
    assert.equal(value(families, "duration_seconds_count"), 2, "a histogram of other buckets or a number is not added");
    assert.equal(value(families, "requests_total", { member: "a" }), 3, "only the well-formed value is added");
    assert.equal(families.has("unknown_total"), false);
  });

  test("a series' number is read from another worker's snapshot by its label values; absent or malformed is 0", () => {
    const registry = new Registry();
    const outcomes = [["per-client", "refused"], ['odd "name"', "admitted"]];
    registry.counterFn("limit_requests_total", "r", ["limit", "outcome"], () => outcomes.map((labels, i) => [labels, 5 + i]));
    const snapshot = registry.snapshot();
    assert.equal(snapshotValue(snapshot, "limit_requests_total", ["limit", "outcome"], ["per-client", "refused"]), 5);
    assert.equal(snapshotValue(snapshot, "limit_requests_total", ["limit", "outcome"], ['odd "name"', "admitted"]), 6, "escaped as rendered");
    assert.equal(snapshotValue(snapshot, "limit_requests_total", ["limit", "outcome"], ["per-client", "admitted"]), 0);
    assert.equal(snapshotValue(snapshot, "other_total", ["limit", "outcome"], ["per-client", "refused"]), 0);
    const junk = [["limit_requests_total", [['{limit="x",outcome="refused"}', "7"]]]] as unknown as RegistrySnapshot;
    assert.equal(snapshotValue(junk, "limit_requests_total", ["limit", "outcome"], ["x", "refused"]), 0);
  });

    test("latency windows merge by pooling samples, not by averaging percentiles", () => {
    const [fast, slow] = [new LatencyWindow(8), new LatencyWindow(8)];
    for (const ms of [1, 2, 3, 4, 5, 6]) fast.record(ms);
    for (const ms of [100, 200]) slow.record(ms);
    const pooled = structuredClone([...fast.samples(), ...slow.samples()]);
    assert.equal(percentile(pooled, 0.5), 4);
    assert.equal(percentile(pooled, 0.99), 200);
    assert.equal(percentile([9, 10, 100], 0.5), 10, "numeric order, not string order");
    assert.equal(percentile([], 0.5), null);
    for (let ms = 1; ms <= 10; ms++) fast.record(ms * 1000);
    assert.equal(fast.samples().length, 8, "a window sends what it holds, no more");
  });
});
