import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../core/metrics/registry.ts";

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
});
