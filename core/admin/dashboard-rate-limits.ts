/**
 * The dashboard's Rate limits panel (part of the page in `dashboard.ts`), HAProxy's stick-table
 * counters on its stats page: per limit of `rateLimits` its settings, keys held of its size,
 * evictions, the requests its rules admitted and refused, and its 10 busiest keys with their
 * sliding rate and requests in flight, from `GET api/v1/rate-limits?top=10` on every poll. The
 * panel is hidden while the config has no `rateLimits` (the API lists none).
 *
 * Keys are client input (a header or cookie value): like all API text they only ever reach the
 * page through textContent.
 *
 * @module
 */

/** How many keys each limit lists. */
export const RATE_LIMIT_TOP = 10;

/** The panel's markup, placed among the page's other panels. */
export const rateLimitsHtml = `<section id="ratelimits" class="card failover" aria-labelledby="ratelimits-title" hidden>
<div class="pool-head"><h2 id="ratelimits-title">Rate limits</h2><span class="sub">the ${RATE_LIMIT_TOP} busiest keys of each</span></div>
<div id="ratelimit-parts"></div>
</section>`;

/** CSS of the panel, inserted into the page's style sheet. */
export const rateLimitsCss = `
#ratelimits th.num{width:180px}
#ratelimits th.key{max-width:520px;overflow:hidden;text-overflow:ellipsis;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-weight:400}
`;

/**
 * Script of the panel, inserted into the page's script where `el`, `put`, `show`, `keyed`, `$`
 * and `DASH` are in scope: `renderRateLimits(doc)` draws `{ limits }` (null: the panel hidden).
 */
export const rateLimitsScript = `
  const RATE_LIMIT_PATH = "rate-limits?top=${RATE_LIMIT_TOP}";
  const limits = new Map();
  function duration(ms) {
    if (ms % 3600000 === 0) return ms / 3600000 + "h";
    if (ms % 60000 === 0) return ms / 60000 + "m";
    if (ms % 1000 === 0) return ms / 1000 + "s";
    return ms + "ms";
  }
  const keyOf = (key) => key === "ip" ? "client address" : key.header !== undefined ? "header " + key.header : "cookie " + key.cookie;
  // Values over 256 characters all count as one key (core/rules/rate-limit.ts), named by a NUL.
  const shownKey = (key) => key === "\\u0000oversized" ? "(values over 256 characters)" : key;

  function makeLimit(name) {
    const part = el("div", "part"), head = el("div", "pool-head"), h = el("h3", "", name);
    h.id = "limit-" + (++seq);
    const facts = el("dl", "facts"), dd = {};
    for (const [key, label] of [["key", "key"], ["requests", "requests"], ["concurrent", "concurrent"], ["keys", "keys"],
      ["evictions", "evictions"], ["admitted", "admitted"], ["refused", "refused"]]) {
      const d = el("div"); d.append(el("dt", "", label), dd[key] = el("dd")); facts.append(d);
    }
    head.append(h, facts);
    const table = el("table"), tr = el("tr"), tbody = el("tbody");
    table.setAttribute("aria-labelledby", h.id);
    for (const [text, cls] of [["Key", ""], ["Rate (last window)", "num"], ["In flight", "num"]]) { const th = el("th", cls, text); th.scope = "col"; tr.append(th); }
    table.append(el("thead"), tbody); table.tHead.append(tr);
    const wrap = el("div", "table-wrap");
    wrap.append(table);
    part.append(head, wrap);
    return { part, dd, tbody, rows: new Map() };
  }
  function makeKeyRow() {
    const tr = el("tr"), cells = { key: el("th", "key"), rate: el("td", "num"), inFlight: el("td", "num") };
    cells.key.scope = "row";
    tr.append(cells.key, cells.rate, cells.inFlight);
    return { tr, cells };
  }
  function updateKeyRow(c, k, limit) {
    put(c.key, shownKey(k.key)); c.key.title = shownKey(k.key);
    put(c.rate, k.rate, "num" + (limit.requests !== null && k.rate >= limit.requests ? " bad" : ""));
    put(c.inFlight, k.inFlight, "num" + (limit.concurrent !== null && k.inFlight >= limit.concurrent ? " bad" : ""));
  }
  function updateLimit(view, l) {
    put(view.dd.key, keyOf(l.key));
    put(view.dd.requests, l.requests === null ? DASH : l.requests + " / " + duration(l.perMs));
    put(view.dd.concurrent, l.concurrent ?? DASH);
    put(view.dd.keys, l.keys + " / " + l.size, l.keys >= l.size ? "warn" : "");
    put(view.dd.evictions, l.evictions, l.evictions > 0 ? "warn" : "");
    put(view.dd.admitted, l.admitted);
    put(view.dd.refused, l.refused, l.refused > 0 ? "bad" : "");
    keyed(view.rows, view.tbody, l.top, (k) => k.key, makeKeyRow, (c, k) => updateKeyRow(c, k, l));
  }
  function renderRateLimits(doc) {
    const list = doc ? doc.limits : [];
    show($("ratelimits"), list.length > 0);
    const seen = new Set();
    let before = $("ratelimit-parts").firstChild;
    for (const l of list) {
      let view = limits.get(l.name);
      if (!view) { view = makeLimit(l.name); limits.set(l.name, view); }
      if (view.part !== before) $("ratelimit-parts").insertBefore(view.part, before);
      before = view.part.nextSibling;
      seen.add(l.name);
      updateLimit(view, l);
    }
    for (const [name, view] of limits) if (!seen.has(name)) { view.part.remove(); limits.delete(name); }
  }
`;
