/**
 * A small Prometheus registry rendering the text exposition format 0.0.4.
 *
 * Label values are passed as an array in the order of the metric's label names, so recording a
 * sample costs one join and one Map lookup. Series appear on first use; a metric without labels
 * shows 0 from the start.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const requests = registry.counter("tandem_requests_total", "Requests answered.", ["pool", "code"]);
 * requests.inc(["shop", "2xx"]);
 * registry.render(); // "# HELP tandem_requests_total Requests answered.\n# TYPE ...\n..."
 * ```
 * @module
 */

export type LabelValues = readonly string[];

export interface Counter {
  inc(labels: LabelValues, by?: number): void;
}

export interface Gauge {
  set(labels: LabelValues, value: number): void;
}

export interface Histogram {
  observe(labels: LabelValues, value: number): void;
}

interface Series<T> {
  /** The rendered label set, `{a="x",b="y"}` or empty, built once when the series appears. */
  labels: string;
  value: T;
}

interface HistogramValue {
  /** Per bucket, not cumulative (cheaper to record); the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Cannot occur in the label values tandem records (pool, member and status names). */
const KEY_SEPARATOR = "\u0000";

export class Registry {
  #families: { name: string; help: string; type: string; lines: (out: string[]) => void }[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const series = this.#family(name, help, "counter", labelNames, () => 0, (out, { labels, value }) => {
      out.push(`${name}${labels} ${_number(value)}`);
    });
    return {
      inc(labels, by = 1) {
        if (!(by >= 0)) throw new RangeError(`${name}: a counter only goes up (got ${by})`);
        series(labels).value += by;
      },
    };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const series = this.#family(name, help, "gauge", labelNames, () => 0, (out, { labels, value }) => {
      out.push(`${name}${labels} ${_number(value)}`);
    });
    return {
      set(labels, value) {
        series(labels).value = value;
      },
    };
  }

  /** A gauge read when rendering, for values the balancer already holds (queue length, member state). */
  gaugeFn(name: string, help: string, labelNames: readonly string[], collect: () => [LabelValues, number][]): void {
    this.#register(name, help, "gauge", labelNames, (out) => {
      for (const [labels, value] of collect()) out.push(`${name}${_labelSet(name, labelNames, labels)} ${_number(value)}`);
    });
  }

  /** A counter read when rendering, for totals another part already keeps (VRRP transitions, drops). */
  counterFn(name: string, help: string, labelNames: readonly string[], collect: () => [LabelValues, number][]): void {
    this.#register(name, help, "counter", labelNames, (out) => {
      for (const [labels, value] of collect()) out.push(`${name}${_labelSet(name, labelNames, labels)} ${_number(value)}`);
    });
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    if (labelNames.includes("le")) throw new Error(`${name}: "le" is the bucket label`);
    buckets.forEach((bound, index) => {
      if (!Number.isFinite(bound) || (index > 0 && bound <= buckets[index - 1])) {
        throw new Error(`${name}: buckets must be finite and strictly increasing`);
      }
    });
    const bounds = [...buckets];
    const series = this.#family(
      name,
      help,
      "histogram",
      labelNames,
      (): HistogramValue => ({ counts: new Array(bounds.length + 1).fill(0), sum: 0, count: 0 }),
      (out, { labels, value }) => {
        // `le` goes last inside the braces: `{pool="a",le="0.5"}`, or `{le="0.5"}` without labels.
        const open = labels === "" ? "{" : `${labels.slice(0, -1)},`;
        let cumulative = 0;
        bounds.forEach((bound, index) => {
          cumulative += value.counts[index];
          out.push(`${name}_bucket${open}le="${_number(bound)}"} ${cumulative}`);
        });
        out.push(`${name}_bucket${open}le="+Inf"} ${value.count}`);
        out.push(`${name}_sum${labels} ${_number(value.sum)}`);
        out.push(`${name}_count${labels} ${value.count}`);
      },
    );
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

  /** Every metric, in registration order, as Prometheus text (content type `text/plain; version=0.0.4`). */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families) {
      out.push(`# HELP ${family.name} ${family.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${family.name} ${family.type}`);
      family.lines(out);
    }
    return out.length === 0 ? "" : `${out.join("\n")}\n`;
  }

  /** Registers a family of series keyed by label values; returns the lookup used on the hot path. */
  #family<T>(
    name: string,
    help: string,
    type: string,
    labelNames: readonly string[],
    initial: () => T,
    render: (out: string[], series: Series<T>) => void,
  ): (labels: LabelValues) => Series<T> {
    const all = new Map<string, Series<T>>();
    this.#register(name, help, type, labelNames, (out) => {
      for (const series of all.values()) render(out, series);
    });
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

  #register(name: string, help: string, type: string, labelNames: readonly string[], lines: (out: string[]) => void): void {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    if (this.#families.some((family) => family.name === name)) throw new Error(`metric ${name} is registered twice`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) throw new Error(`${name}: label name ${JSON.stringify(label)} is not valid`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${name}: a label name is repeated`);
    this.#families.push({ name, help, type, lines });
  }
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
