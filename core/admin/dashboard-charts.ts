/**
 * The dashboard's charts (part of the page in `dashboard.ts`): requests/s, 5xx error rate and p99
 * latency per pool over the last 15 minutes, drawn as plain SVG by the page's own script from
 * `GET api/v1/history` (one value per 5 s interval, every worker's traffic). Made to be read from
 * across a room: the figure now and the peak in large type, dark lines on white, no legend (each
 * chart has one series, named in its title).
 *
 * One bar per interval (a line would hide an interval alone between quiet ones): the vertical
 * scale runs from 0 to the peak of the 15 minutes, so the highest bar touches the top; an interval
 * without requests has no error rate and no p99, and no bar. Each figure carries its peak
 * (`data-peak`) so a test can read the drawn bars back as numbers.
 *
 * @module
 */

/** CSS of the charts, inserted into the page's style sheet. */
export const chartsCss = `
.charts{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:14px;padding:12px 14px;border-bottom:1px solid var(--line)}
figure.chart{margin:0;padding:10px 12px 8px;border:1px solid #c9d1dc;border-radius:8px;background:#fff}
figure.chart figcaption{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
figure.chart .title{font-size:18px;font-weight:700;color:#10161f}
figure.chart .now{font-size:34px;font-weight:800;color:#10161f;font-variant-numeric:tabular-nums;margin-left:auto}
figure.chart svg{display:block;width:100%;height:120px;margin-top:4px}
figure.chart .bars{stroke:none}
figure.chart .base{stroke:#5d6b7e;stroke-width:1;vector-effect:non-scaling-stroke}
figure.chart .axis{display:flex;justify-content:space-between;font-size:16px;color:#2b3644;font-weight:600;margin-top:4px}
.c-rps .bars{fill:#0b3d91}.c-errors .bars{fill:#b3261e}.c-p99 .bars{fill:#7a4100}
`;

/**
 * Script of the charts, inserted into the page's script where `el`, `put`, `rate` and `ms` are in
 * scope: `makeCharts(poolName)` returns `{ box, charts }`, `drawCharts(view, poolHistory, intervalMs)`
 * draws a pool's history into it.
 */
export const chartsScript = `
  const SVG = "http://www.w3.org/2000/svg", W = 600, H = 120, PAD = 4;
  const CHARTS = [
    { key: "rps", title: "Requests/s", show: (v) => rate(v) + "/s",
      value: (p, i, seconds) => p.requests[i] / seconds },
    { key: "errors", title: "5xx error rate", show: (v) => (v < 10 ? v.toFixed(1) : Math.round(v)) + "%",
      value: (p, i) => (p.requests[i] > 0 ? 100 * p.errors[i] / p.requests[i] : null) },
    { key: "p99", title: "p99 latency", show: (v) => ms(v),
      value: (p, i) => p.p99Ms[i] },
  ];
  function svg(tag, cls) {
    const e = document.createElementNS(SVG, tag);
    if (cls) e.setAttribute("class", cls);
    return e;
  }
  function makeCharts(pool) {
    const box = el("div", "charts"), charts = {};
    for (const spec of CHARTS) {
      const figure = el("figure", "chart c-" + spec.key), caption = el("figcaption");
      figure.setAttribute("aria-label", pool + " " + spec.title);
      const now = el("span", "now");
      caption.append(el("span", "title", spec.title), now);
      const plot = svg("svg"), bars = svg("path", "bars"), base = svg("line", "base");
      plot.setAttribute("viewBox", "0 0 " + W + " " + H);
      plot.setAttribute("preserveAspectRatio", "none");
      plot.setAttribute("aria-hidden", "true");
      base.setAttribute("x1", "0"); base.setAttribute("x2", String(W));
      base.setAttribute("y1", String(H - PAD)); base.setAttribute("y2", String(H - PAD));
      plot.append(bars, base);
      const axis = el("div", "axis"), peak = el("span"), span = el("span");
      axis.append(span, peak);
      figure.append(caption, plot, axis);
      box.append(figure);
      charts[spec.key] = { spec, figure, now, bars, peak, span };
    }
    return { box, charts };
  }
  // Bar i spans 80 % of the i-th of n slots; its height runs from 0 (bottom) to the peak (top).
  function drawCharts(view, p, intervalMs) {
    const seconds = intervalMs / 1000, n = p.requests.length, slot = W / n, bottom = H - PAD;
    for (const spec of CHARTS) {
      const c = view.charts[spec.key], values = [];
      for (let i = 0; i < n; i++) values.push(spec.value(p, i, seconds));
      const known = values.filter((v) => v !== null && isFinite(v));
      const peak = known.length ? Math.max(...known) : 0;
      let d = "";
      values.forEach((v, i) => {
        if (v === null || !isFinite(v)) return;
        const top = (bottom - (peak > 0 ? v / peak : 0) * (H - 2 * PAD)).toFixed(1);
        d += "M" + (i * slot + slot * 0.1).toFixed(1) + " " + bottom + "V" + top + "h" + (slot * 0.8).toFixed(2) + "V" + bottom + "Z";
      });
      c.bars.setAttribute("d", d);
      c.figure.dataset.peak = String(peak);
      const last = values[n - 1];
      put(c.now, last === null || last === undefined || !isFinite(last) ? "\\u2013" : spec.show(last));
      put(c.span, "last " + Math.round(n * seconds / 60) + " min");
      put(c.peak, known.length ? "peak " + spec.show(peak) : "no requests");
    }
  }
`;
