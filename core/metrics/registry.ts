/**
 * A small Prometheus registry rendering the text exposition format 0.0.4.
 *
 * Label values are passed as an array in the order of the metric's label names, so recording a
 * sample costs one join and one Map lookup. Series appear on first use; a metric without labels
 * shows 0 from the start.
 *
 * With `workers: N` every worker records into its own registry, and worker 0 renders the process
 * by merging the others' {@link RegistrySnapshot}s into its own. Each family says how
 * ({@link MergeRule}): counters and histograms add up by default; gauges show worker 0's value
 * unless registered with `merge: "sum"`, because most gauges are state worker 0 decides (member
 * up/down, weights) and adding them up would multiply it by the number of workers.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const requests = registry.counter("tandem_requests_total", "Requests answered.", ["pool", "code"]);
 * requests.inc(["shop", "2xx"]);
 * registry.render(); // "# HELP tandem_requests_total Requests answered.\n# TYPE ...\n..."
 * registry.render([otherWorkerRegistry.snapshot()]); // the same, with the other worker's requests added
 * ```
 * @module
 */

export type LabelValues = readonly string[];

/**
 * How worker 0 merges a family with the other workers': `sum` adds values of the same label set
 * (histograms bucket by bucket) and keeps series only another worker has; `lead` shows worker 0's
 * own series and ignores the others.
 */
export type MergeRule = "sum" | "lead";

export interface MetricOptions {
  /** Default: `sum` for counters and histograms, `lead` for gauges. */
  merge?: MergeRule;
}

export interface Counter {
  inc(labels: LabelValues, by?: number): void;
}

export interface Gauge {
  set(labels: LabelValues, value: number): void;
}

export interface Histogram {
  observe(labels: LabelValues, value: number): void;
}

export interface HistogramValue {
  /** Per bucket, not cumulative (cheaper to record); the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

type Value = number | HistogramValue;

/** A series as rendered: its label set (`{a="x",b="y"}`, or empty) and value. */
type Entry = [labels: string, value: Value];

/**
 * The `sum` families of a registry as plain data (it crosses between threads as a structured
 * clone): `[family name, [label set, value][]]`. `lead` families are not in it: worker 0 has them.
 */
export type RegistrySnapshot = [family: string, series: Entry[]][];

interface Series<T> {
  /** The rendered label set, `{a="x",b="y"}` or empty, built once when the series appears. */
  labels: string;
  value: T;
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  merge: MergeRule;
  collect(): Entry[];
  /** A series with nothing recorded, to merge a series only another worker has into. */
  zero(): Value;
  write(out: string[], labels: string, value: Value): void;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Cannot occur in the label values tandem records (pool, member and status names). */
const KEY_SEPARATOR = "\u0000";

export class Registry {
  #families: Family[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = [], options: MetricOptions = {}): Counter {
    const series = this.#family(name, help, "counter", labelNames, options.merge ?? "sum", (): number => 0, _writeNumber(name));
    return {
      inc(labels, by = 1) {
        if (!(by >= 0)) throw new RangeError(`${name}: a counter only goes up (got ${by})`);
        series(labels).value += by;
      },
    };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], options: MetricOptions = {}): Gauge {
    const series = this.#family(name, help, "gauge", labelNames, options.merge ?? "lead", (): number => 0, _writeNumber(name));
    return {
      set(labels, value) {
        series(labels).value = value;
      },
    };
  }

  /** A gauge read when rendering, for values the balancer already holds (queue length, member state). */
  gaugeFn(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect: () => [LabelValues, number][],
    options: MetricOptions = {},
  ): void {
    this.#register(name, help, "gauge", labelNames, options.merge ?? "lead", _collectFn(name, labelNames, collect), () => 0, _writeNumber(name));
  }

  /** A counter read when rendering, for totals another part already keeps (VRRP transitions, drops). */
  counterFn(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect: () => [LabelValues, number][],
    options: MetricOptions = {},
  ): void {
    this.#register(name, help, "counter", labelNames, options.merge ?? "sum", _collectFn(name, labelNames, collect), () => 0, _writeNumber(name));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    if (labelNames.includes("le")) throw new Error(`${name}: "le" is the bucket label`);
    buckets.forEach((bound, index) => {
      if (!Number.isFinite(bound) || (index > 0 && bound <= buckets[index - 1])) {
        throw new Error(`${name}: buckets must be finite and strictly increasing`);
      }
    });
    const bounds = [...buckets];
    const empty = (): HistogramValue => ({ counts: new Array(bounds.length + 1).fill(0), sum: 0, count: 0 });
    const series = this.#family<HistogramValue>(name, help, "histogram", labelNames, "sum", empty, (out, labels, value) => {
      const { counts, sum, count } = value as HistogramValue;
      // `le` goes last inside the braces: `{pool="a",le="0.5"}`, or `{le="0.5"}` without labels.
      const open = labels === "" ? "{" : `${labels.slice(0, -1)},`;
      let cumulative = 0;
      bounds.forEach((bound, index) => {
        cumulative += counts[index];
        out.push(`${name}_bucket${open}le="${_number(bound)}"} ${cumulative}`);
      });
      out.push(`${name}_bucket${open}le="+Inf"} ${count}`);
      out.push(`${name}_sum${labels} ${_number(sum)}`);
      out.push(`${name}_count${labels} ${count}`);
    });
    return {
      observe(labels, value) {
        const entry = series(labels).value;
        let index = 0;
        while (index < bounds.length && value > bounds[index]) index++;
        entry.counts[index]++;
        entry.sum += value;
        entry.count++;
      },
    };
  }

  /**
   * Every metric, in registration order, as Prometheus text (content type `text/plain; version=0.0.4`),
   * with the `sum` families of `others` (other workers' snapshots) merged in.
   */
  render(others: readonly RegistrySnapshot[] = []): string {
    const theirs = new Map<string, Entry[][]>();
    for (const snapshot of others) {
      for (const [name, series] of snapshot) theirs.set(name, [...(theirs.get(name) ?? []), series]);
    }
    const out: string[] = [];
    for (const family of this.#families) {
      out.push(`# HELP ${family.name} ${family.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${family.name} ${family.type}`);
      const more = family.merge === "sum" ? theirs.get(family.name) : undefined;
      const series = more === undefined ? family.collect() : _sum(family, more);
      for (const [labels, value] of series) family.write(out, labels, value);
    }
    return out.length === 0 ? "" : `${out.join("\n")}\n`;
  }

  /** This registry's `sum` families as plain data, for worker 0 to merge (see {@link render}). */
  snapshot(): RegistrySnapshot {
    const snapshot: RegistrySnapshot = [];
    for (const family of this.#families) {
      if (family.merge !== "sum") continue;
      const series = family.collect();
      // A copy: histogram values go on changing after this returns.
      if (series.length > 0) snapshot.push([family.name, series.map(([labels, value]) => [labels, _add(family.zero(), value) ?? 0])]);
    }
    return snapshot;
  }

  /** Registers a family of series keyed by label values; returns the lookup used on the hot path. */
  #family<T extends Value>(
    name: string,
    help: string,
    type: Family["type"],
    labelNames: readonly string[],
    merge: MergeRule,
    initial: () => T,
    write: Family["write"],
  ): (labels: LabelValues) => Series<T> {
    const all = new Map<string, Series<T>>();
    const collect = () => [...all.values()].map(({ labels, value }): Entry => [labels, value]);
    this.#register(name, help, type, labelNames, merge, collect, initial, write);
    if (labelNames.length === 0) all.set("", { labels: "", value: initial() });
    return (labels) => {
      const key = labels.length === 1 ? labels[0] : labels.join(KEY_SEPARATOR);
      let series = all.get(key);
      if (series === undefined) {
        series = { labels: _labelSet(name, labelNames, labels), value: initial() };
        all.set(key, series);
      }
      return series;
    };
  }

  #register(
    name: string,
    help: string,
    type: Family["type"],
    labelNames: readonly string[],
    merge: MergeRule,
    collect: () => Entry[],
    zero: () => Value,
    write: Family["write"],
  ): void {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    if (this.#families.some((family) => family.name === name)) throw new Error(`metric ${name} is registered twice`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) throw new Error(`${name}: label name ${JSON.stringify(label)} is not valid`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${name}: a label name is repeated`);
    this.#families.push({ name, help, type, merge, collect, zero, write });
  }
}

/**
 * The number one series of `family` holds in `snapshot` (0 when absent), for a status document
 * that shows what the metrics merge adds up (`workers: N`).
 */
export function snapshotValue(snapshot: RegistrySnapshot, family: string, labelNames: readonly string[], labels: LabelValues): number {
  const wanted = _labelSet(family, labelNames, labels);
  const value = snapshot.find(([name]) => name === family)?.[1].find(([set]) => set === wanted)?.[1];
  return typeof value === "number" ? value : 0;
}

/** The family's own series with every other worker's added; series only others have come last. */
function _sum(family: Family, others: Entry[][]): Entry[] {
  const merged = new Map<string, Value>();
  for (const [labels, value] of family.collect()) merged.set(labels, _add(family.zero(), value) ?? family.zero());
  for (const series of others) {
    for (const [labels, value] of series) {
      const sum = _add(merged.get(labels) ?? family.zero(), value);
      if (sum !== undefined) merged.set(labels, sum);
    }
  }
  return [...merged];
}

/**
 * `into` plus `value` (a histogram in place, bucket by bucket), or undefined when `value` does not
 * have the shape of `into`: what another thread sent is data, and data may be wrong.
 */
function _add(into: Value, value: unknown): Value | undefined {
  if (typeof into === "number") return typeof value === "number" ? into + value : undefined;
  const other = value as Partial<HistogramValue> | null;
  if (
    typeof other !== "object" || other === null || !Array.isArray(other.counts) || other.counts.length !== into.counts.length ||
    typeof other.sum !== "number" || typeof other.count !== "number"
  ) return undefined;
  other.counts.forEach((count, index) => (into.counts[index] += Number(count)));
  into.sum += other.sum;
  into.count += other.count;
  return into;
}

function _collectFn(name: string, labelNames: readonly string[], collect: () => [LabelValues, number][]): () => Entry[] {
  return () => collect().map(([labels, value]) => [_labelSet(name, labelNames, labels), value]);
}

function _writeNumber(name: string): Family["write"] {
  return (out, labels, value) => void out.push(`${name}${labels} ${_number(value as number)}`);
}

function _labelSet(name: string, labelNames: readonly string[], values: LabelValues): string {
  if (values.length !== labelNames.length) {
    throw new Error(`${name}: ${labelNames.length} label value(s) expected (${labelNames.join(", ")}), got ${values.length}`);
  }
  if (values.length === 0) return "";
  const pairs = labelNames.map((label, index) => `${label}="${_escape(values[index])}"`);
  return `{${pairs.join(",")}}`;
}

function _escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function _number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
