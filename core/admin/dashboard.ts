/**
 * The admin dashboard: one self-contained HTML page (inline CSS and JS, no external assets) that
 * the admin app serves at `GET /` without auth. The page asks for a token once (kept in
 * sessionStorage, sent only as `Authorization: Bearer`), or takes it from the address's fragment
 * (`/#token=…`, for a wall display: a fragment never reaches a server or a Referer, and the page
 * removes it from the address at once). It asks `api/v1/whoami` once: a read-scope token gets no
 * controls. It polls `api/v1/status` and `api/v1/history` every 2 s and after each change, and
 * PATCHes `api/v1/pools/{pool}/members/{member}` (all relative to the page, so the app may be
 * mounted under a prefix ending in `/`).
 *
 * Per pool: facts (the `usable` count agrees with the "no usable member" badge by construction:
 * both come from the members' `usable`), the charts of `dashboard-charts.ts`, and the member
 * table: state and time in it (since the later of the last health transition and activation
 * change), totals (requests, 4xx, 5xx, failures, retries / redispatches, bytes), check counters,
 * downtime. Draining, stopping or zeroing the weight of a pool's last usable member asks a
 * different question, naming the consequence. The table exports as CSV or JSON (one row per
 * member, the same columns).
 *
 * Each poll also asks `api/v1/vrrp` and `api/v1/cluster`; they answer 404 when `vrrp` / `cluster`
 * is not configured, and then their part of the Failover panel is hidden (the panel too, when
 * both are). The panel shows each VRRP instance (state, master, priority and the effective one,
 * virtual addresses, trackers, last transition), the wait for the session table after a start
 * (`sync`), and each replication peer (state, inbound, last contact, lag, resyncs, last error).
 * It also asks `api/v1/rate-limits` for the Rate limits panel (`dashboard-rate-limits.ts`).
 *
 * A member's req/s is computed in the browser from two consecutive polls, Δrequests / Δt (`–` on
 * the first poll or when the counter went backwards). Latency comes from `p50Ms` / `p99Ms` (null:
 * `–`). All API text goes through textContent; the script never uses
 * innerHTML. The page has an inline script, so a Content-Security-Policy must allow it.
 *
 * @module
 */
import { chartsCss, chartsScript } from "./dashboard-charts.ts";
import { rateLimitsCss, rateLimitsHtml, rateLimitsScript } from "./dashboard-rate-limits.ts";

export const dashboardHtml: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tandem · dashboard</title>
<style>
:root{--bg:#f4f6f9;--card:#fff;--ink:#1c2430;--muted:#5d6b7e;--line:#e1e6ed;--accent:#2457c5;
--up:#1e8e3e;--down:#d0312d;--drain:#c77700;--stop:#7b8594;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink)}
header{display:flex;gap:20px;align-items:center;padding:10px 20px;background:#1c2430;color:#e8edf3;flex-wrap:wrap}
header h1{font-size:17px;margin:0;letter-spacing:.02em}
header .meta{display:flex;gap:16px;color:#b7c2d0;font-size:13px;flex:1;flex-wrap:wrap}
header .meta b{color:#fff;font-weight:600}
main{padding:16px 20px;max-width:1900px;margin:auto}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;box-shadow:0 1px 2px rgba(20,30,50,.05)}
.login{max-width:360px;margin:60px auto;padding:24px;display:grid;gap:10px}
.login h2{margin:0 0 4px;font-size:18px}
input{font:inherit;padding:6px 8px;border:1px solid #b9c3d0;border-radius:5px;background:#fff;color:inherit}
input[type=number]{width:48px;padding:3px 4px}
input:disabled{background:#eef1f5;color:var(--muted)}
button{font:inherit;font-size:13px;padding:4px 10px;border:1px solid #b9c3d0;border-radius:5px;background:#fff;color:var(--ink);cursor:pointer}
button:hover:not(:disabled){background:#eef2f8}
button:disabled{opacity:.45;cursor:default}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.primary:hover:not(:disabled){background:#1b46a3}
header button{background:transparent;color:#e8edf3;border-color:#4a5668}
header button:hover:not(:disabled){background:#2c3745}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.error{color:var(--down);margin:0;min-height:1.2em}
.banner{padding:8px 12px;margin-bottom:12px;border-radius:6px;background:#fdecea;color:#8a1c17;border:1px solid #f3c2bf}
.notice{padding:8px 12px;margin-bottom:12px;border-radius:6px;background:#eef3fd;border:1px solid #c9d7f5}
.notice.bad{background:#fdecea;border-color:#f3c2bf;color:#8a1c17}
section.pool,section.failover{margin-bottom:18px}section.failover,.table-wrap{overflow-x:auto}
.pool-head{display:flex;align-items:baseline;gap:18px;padding:10px 14px;border-bottom:1px solid var(--line);flex-wrap:wrap}
.pool-head h2{margin:0;font-size:16px}.pool-head h3{margin:0;font-size:14px}
.failover .part+.part{border-top:1px solid var(--line)}
dl.facts{display:flex;gap:16px;margin:0;color:var(--muted);font-size:13px;flex-wrap:wrap}
dl.facts div{display:flex;gap:5px}dl.facts dd{margin:0;color:var(--ink);font-weight:600;font-variant-numeric:tabular-nums}
.failover dd.warn{color:var(--drain)}.failover dd.bad{color:var(--down)}.failover dd.ok{color:var(--up)}
.badge{font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;background:#fdecea;color:var(--down)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 6px;text-align:left;border-bottom:1px solid var(--line);white-space:nowrap;vertical-align:middle}
thead th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:#f8fafc;font-weight:600;white-space:normal}
tbody tr:hover{background:#f7f9fc}
tbody th{font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
.sub{color:var(--muted);font-size:12px;font-weight:400;margin-left:8px}section.pool tbody th .sub{display:block;margin:0}
.why{display:block;color:var(--down);font-size:11px;max-width:150px;overflow:hidden;text-overflow:ellipsis}
td.check{max-width:170px;overflow:hidden;text-overflow:ellipsis}td.clip{max-width:360px;overflow:hidden;text-overflow:ellipsis}
.note{display:block;color:var(--muted);font-size:11px;max-width:260px;overflow:hidden;text-overflow:ellipsis}
.pill{display:inline-block;min-width:64px;text-align:center;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.s-up{background:var(--up)}.s-down{background:var(--down)}.s-draining{background:var(--drain)}.s-stopped{background:var(--stop)}
.s-master{background:var(--up)}.s-fault{background:var(--down)}.s-backup,.s-initialize{background:var(--stop)}
.warn{color:var(--drain);font-weight:600}.muted{color:var(--stop);font-weight:600}.bad{color:var(--down);font-weight:600}.ok{color:var(--up)}
td.actions>*+*{margin-left:4px}td.actions button{padding:3px 7px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
dialog{border:1px solid var(--line);border-radius:8px;padding:20px;max-width:420px;box-shadow:0 10px 30px rgba(0,0,0,.2)}
dialog::backdrop{background:rgba(20,30,45,.35)}
dialog h2{margin:0 0 8px;font-size:16px}
dialog .btns{display:flex;justify-content:flex-end;gap:8px;margin-top:16px}
dialog.danger{border:3px solid var(--down)}dialog.danger h2{color:var(--down)}
dialog.danger button.primary{background:var(--down);border-color:var(--down)}
.toolbar{display:flex;gap:8px;align-items:center;margin-bottom:12px}.toolbar .who{flex:1;color:var(--muted)}
.readonly .actions{display:none}
dl.facts dd.bad{color:var(--down)}dl.facts dd.warn{color:var(--drain)}
${chartsCss}${rateLimitsCss}</style>
</head>
<body>
<header>
<h1>tandem</h1>
<div class="meta" id="meta" hidden>
<span>runtime <b id="runtime"></b></span><span>up <b id="uptime"></b></span>
<span>reloads <b id="reloads"></b></span><span id="updated" aria-live="off"></span>
</div>
<button type="button" id="signout" hidden>Sign out</button>
</header>
<main>
<form id="login" class="card login" hidden>
<h2>Sign in</h2>
<label for="token">Admin token</label>
<input id="token" type="password" autocomplete="off" spellcheck="false" required>
<button type="submit" class="primary">Sign in</button>
<p id="login-error" class="error" role="alert"></p>
</form>
<div id="dash" hidden>
<div id="banner" class="banner" role="alert" hidden></div>
<div id="readonly" class="notice bad" hidden>This token is read-only: changes are not allowed.</div>
<div class="toolbar"><span id="who" class="who"></span>
<button type="button" id="export-csv">Export CSV</button><button type="button" id="export-json">Export JSON</button></div>
<div id="status" class="notice" role="status" hidden></div>
<p id="loading">Loading…</p>
<section id="failover" class="card failover" aria-labelledby="failover-title" hidden>
<div class="pool-head"><h2 id="failover-title">Failover</h2></div>
<div id="vrrp" class="part" hidden>
<div class="pool-head"><h3 id="vrrp-title">VRRP instances</h3><dl class="facts"><div><dt>transport</dt><dd id="vrrp-transport"></dd></div>
<div><dt>send errors</dt><dd id="vrrp-send-errors"></dd></div><div id="vrrp-sync-fact"><dt>session sync</dt><dd id="vrrp-sync"></dd></div></dl></div>
<table aria-labelledby="vrrp-title"><thead><tr><th scope="col">Instance</th><th scope="col" class="num">VRID</th><th scope="col">State</th><th scope="col">Master</th>
<th scope="col" class="num">Priority (eff.)</th><th scope="col">Virtual addresses</th><th scope="col">Trackers</th><th scope="col">Last transition</th></tr></thead><tbody id="vrrp-rows"></tbody></table>
</div>
<div id="peers" class="part" hidden>
<div class="pool-head"><h3 id="peers-title">Replication peers</h3><dl class="facts"><div><dt>cluster</dt><dd id="cluster-name"></dd></div>
<div><dt>node</dt><dd id="cluster-node"></dd></div><div><dt>updates</dt><dd id="cluster-updates"></dd></div></dl></div>
<table aria-labelledby="peers-title"><thead><tr><th scope="col">Peer</th><th scope="col">State</th><th scope="col">Inbound</th><th scope="col">Last contact</th>
<th scope="col" class="num">Lag</th><th scope="col" class="num">Resyncs (recv/sent)</th><th scope="col">Last error</th></tr></thead><tbody id="peer-rows"></tbody></table>
</div>
</section>
<section id="acme" class="card failover" aria-labelledby="acme-title" hidden>
<div class="pool-head"><h2 id="acme-title">Certificates (ACME)</h2></div>
<table aria-labelledby="acme-title"><thead><tr><th scope="col">Domains</th><th scope="col">State</th><th scope="col">Expires</th><th scope="col">Next attempt</th>
<th scope="col" class="num">Failures</th><th scope="col">Last error</th></tr></thead><tbody id="acme-rows"></tbody></table>
</section>
${rateLimitsHtml}
<div id="pools"></div>
</div>
</main>
<dialog id="confirm" aria-labelledby="confirm-title">
<form method="dialog">
<h2 id="confirm-title">Confirm change</h2>
<p id="confirm-text"></p>
<div class="btns"><button value="cancel" id="confirm-cancel">Cancel</button><button value="ok" class="primary" id="confirm-ok">Confirm</button></div>
</form>
</dialog>
<script>
"use strict";
(() => {
  const API = "api/v1/", TOKEN_KEY = "tandem.adminToken", POLL_MS = 2000, DASH = "\\u2013";
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY) || "", timer = 0, polling = false, again = false;
  let readOnly = false, pending = null, seq = 0, lastDoc = null;
  const pools = new Map(), samples = new Map(), instances = new Map(), peers = new Map(), certificates = new Map();

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function put(e, text, cls) {
    text = String(text);
    if (e.textContent !== text) e.textContent = text;
    if (cls !== undefined && e.className !== cls) e.className = cls;
  }
  function show(e, on) { e.hidden = !on; }
  function age(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return s + "s";
    if (s < 5400) return Math.round(s / 60) + "m";
    if (s < 172800) return Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor(s % 86400 / 3600) + "h";
  }
  function ms(v) {
    if (typeof v !== "number" || !isFinite(v)) return DASH;
    return v >= 1000 ? (v / 1000).toFixed(2) + " s" : v < 10 ? v.toFixed(1) + " ms" : Math.round(v) + " ms";
  }
  const rate = (v) => v < 10 ? v.toFixed(1) : String(Math.round(v));
  function bytes(v) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 || v >= 10 ? Math.round(v) : v.toFixed(1)) + " " + units[i];
  }
  const clockTime = (iso) => new Date(iso).toLocaleTimeString();
${chartsScript}${rateLimitsScript}
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    const res = await fetch(API + path, { method, headers, cache: "no-store", body: body ? JSON.stringify(body) : undefined });
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error(data && typeof data.error === "string" ? data.error : "HTTP " + res.status);
      err.status = res.status;
      throw err;
    }
    return data;
  }
  // Answers 404 when its part (vrrp, cluster) is not configured: null, and that part is hidden.
  const optional = (path) => api("GET", path).catch((e) => { if (e.status === 404) return null; throw e; });

  function signOut(message) {
    token = ""; readOnly = false; lastDoc = null;
    document.body.classList.remove("readonly");
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(timer);
    pools.forEach((p) => p.section.remove()); pools.clear(); samples.clear(); renderFailover(null, null); renderAcme(null); renderRateLimits(null);
    show($("dash"), false); show($("meta"), false); show($("signout"), false); show($("login"), true);
    put($("login-error"), message ? "Token rejected: " + message : "");
    $("token").focus();
  }

  async function poll() {
    clearTimeout(timer);
    if (!token) return;
    if (polling) { again = true; return; }
    polling = true;
    try {
      const [doc, history, vrrp, cluster, acme, rateLimits] = await Promise.all([api("GET", "status"), optional("history"), optional("vrrp"),
        optional("cluster"), optional("acme"), optional(RATE_LIMIT_PATH)]);
      if (!token) return;
      lastDoc = doc;
      render(doc, history, performance.now());
      renderFailover(vrrp, cluster);
      renderAcme(acme);
      renderRateLimits(rateLimits);
      show($("banner"), false);
    } catch (e) {
      if (e.status === 401) return signOut(e.message);
      put($("banner"), e.status ? "Status failed: " + e.message : "Cannot reach the admin API (" + e.message + "); retrying.");
      show($("banner"), true);
    } finally {
      polling = false;
      if (token) timer = setTimeout(poll, again ? 0 : POLL_MS);
      again = false;
    }
  }

  function render(doc, history, now) {
    show($("loading"), false); show($("meta"), true);
    put($("runtime"), doc.runtime);
    put($("uptime"), age(Date.now() - Date.parse(doc.startedAt)));
    put($("reloads"), doc.reloads);
    put($("updated"), "updated " + new Date().toLocaleTimeString());
    const seen = new Set();
    let before = $("pools").firstChild;
    for (const p of doc.pools) {
      let view = pools.get(p.name);
      if (!view) { view = makePool(p.name); pools.set(p.name, view); }
      if (view.section !== before) $("pools").insertBefore(view.section, before);
      before = view.section.nextSibling;
      seen.add(p.name);
      updatePool(view, p, now);
      const h = history && history.pools.find((x) => x.name === p.name);
      show(view.charts.box, Boolean(h));
      if (h) drawCharts(view.charts, h, history.intervalMs);
    }
    for (const [name, view] of pools) if (!seen.has(name)) { view.section.remove(); pools.delete(name); }
  }

  // Brings the rows of tbody in line with items (by key), in order.
  function keyed(views, tbody, items, key, make, update) {
    const seen = new Set();
    let before = tbody.firstChild;
    for (const item of items) {
      const k = key(item);
      let view = views.get(k);
      if (!view) { view = make(); views.set(k, view); }
      if (view.tr !== before) tbody.insertBefore(view.tr, before);
      before = view.tr.nextSibling;
      seen.add(k);
      update(view.cells, item);
    }
    for (const [k, view] of views) if (!seen.has(k)) { view.tr.remove(); views.delete(k); }
  }

  // A row: a header cell (name, then a grey second part) and one cell per key; a pill in state.
  function plainRow(keys, numeric) {
    const tr = el("tr"), th = el("th"), cells = {};
    th.scope = "row";
    th.append(cells.name = el("span"), cells.sub = el("span", "sub"));
    tr.append(th);
    for (const key of keys) tr.append(cells[key] = el("td", numeric.includes(key) ? "num" : ""));
    cells.state.append(cells.pill = el("span"));
    return { tr, cells };
  }
  const makeInstance = () => {
    const row = plainRow(["vrid", "state", "master", "priority", "vips", "trackers", "transition"], ["vrid", "priority"]);
    row.cells.transition.append(row.cells.change = el("span"), row.cells.reason = el("span", "note"));
    return row;
  };
  const makePeer = () => plainRow(["state", "inbound", "contact", "lag", "resyncs", "error"], ["lag", "resyncs"]);

  function updateInstance(c, i) {
    const t = i.lastTransition;
    put(c.name, i.name); put(c.sub, i.interface);
    put(c.vrid, i.vrid);
    put(c.pill, i.state, "pill s-" + i.state);
    put(c.master, i.masterAddress ?? DASH);
    put(c.priority, i.priority === i.effectivePriority ? i.priority : i.priority + " (" + i.effectivePriority + ")",
      "num" + (i.effectivePriority < i.priority ? " warn" : ""));
    put(c.vips, i.virtualAddresses.join(", ") || DASH);
    put(c.trackers, i.trackers.map((k) => (k.passing ? "\\u2713 " : "\\u2717 ") + k.name).join(", ") || DASH,
      i.trackers.some((k) => !k.passing) ? "bad" : "");
    put(c.change, t ? t.from + " \\u2192 " + t.to + " \\u00b7 " + age(Date.now() - Date.parse(t.at)) + " ago" : DASH);
    put(c.reason, t ? t.reason : "");
    c.transition.title = t ? t.reason + " at " + t.at : "";
  }

  const PEER_PILL = { up: "s-up", backoff: "s-down", stopped: "s-stopped" };
  function updatePeer(c, p) {
    put(c.name, p.name); put(c.sub, p.address);
    put(c.pill, p.state, "pill " + (PEER_PILL[p.state] ?? "s-draining"));
    put(c.inbound, p.inbound ? "yes" : "no", p.inbound ? "ok" : "warn");
    put(c.contact, p.lastContact ? age(Date.now() - Date.parse(p.lastContact)) + " ago" : "never");
    c.contact.title = p.lastContact ?? "no frame from this peer yet";
    put(c.lag, p.lag, "num" + (p.lag > 0 ? " warn" : ""));
    put(c.resyncs, p.resyncsReceived + " / " + p.resyncsSent);
    put(c.error, p.lastError ?? DASH, "clip" + (p.lastError ? " bad" : ""));
    c.error.title = p.lastError ?? "";
  }

  function renderFailover(vrrp, cluster) {
    show($("failover"), Boolean(vrrp || cluster)); show($("vrrp"), Boolean(vrrp)); show($("peers"), Boolean(cluster));
    if (vrrp) {
      put($("vrrp-transport"), vrrp.transport + " " + vrrp.address + ":" + vrrp.port + " \\u2192 " + vrrp.destinations.join(", "));
      put($("vrrp-send-errors"), vrrp.sendErrors ?? 0, vrrp.sendErrors > 0 ? "warn" : "");
      const sync = vrrp.sync || { state: "off" }, secs = (v) => Math.floor(v / 100) / 10 + " s";
      show($("vrrp-sync-fact"), sync.state !== "off");
      put($("vrrp-sync"), sync.state === "waiting"
        ? "waiting for the session table from a peer\\u2026 (" + secs(sync.waitedMs) + " of " + secs(sync.timeoutMs) + ")"
        : (sync.state === "synced" ? "synced" : "timed out") + " after " + Math.round(sync.waitedMs) + " ms",
        { waiting: "warn", synced: "ok", "timed-out": "bad" }[sync.state] ?? "");
    }
    keyed(instances, $("vrrp-rows"), vrrp ? vrrp.instances : [], (i) => i.name, makeInstance, updateInstance);
    if (cluster) {
      put($("cluster-name"), cluster.cluster); put($("cluster-node"), cluster.node); put($("cluster-updates"), cluster.updates);
    }
    keyed(peers, $("peer-rows"), cluster ? cluster.peers : [], (p) => p.name, makePeer, updatePeer);
  }

  const makeCertificate = () => plainRow(["state", "expires", "next", "failures", "error"], ["failures"]);
  const CERTIFICATE_PILL = { valid: "s-up", files: "s-draining", placeholder: "s-draining", expired: "s-down" };
  const WEEK_MS = 7 * 86400000;
  function updateCertificate(c, a) {
    put(c.name, a.domains.join(", ")); put(c.sub, a.listener);
    put(c.pill, a.state, "pill " + CERTIFICATE_PILL[a.state]);
    const left = a.notAfter === undefined ? undefined : a.notAfter - Date.now();
    put(c.expires, left === undefined ? DASH : left > 0 ? "in " + age(left) : age(-left) + " ago", left !== undefined && left < WEEK_MS ? "bad" : "");
    c.expires.title = a.notAfter === undefined ? "" : new Date(a.notAfter).toISOString();
    put(c.next, a.nextAttempt === undefined ? DASH : "in " + age(a.nextAttempt - Date.now()));
    put(c.failures, a.failures, "num" + (a.failures > 0 ? " warn" : ""));
    const error = a.lastError ? a.lastError.code + ": " + a.lastError.message : "";
    put(c.error, error || DASH, "clip" + (error ? " bad" : ""));
    c.error.title = error;
  }
  function renderAcme(acme) {
    show($("acme"), Boolean(acme));
    keyed(certificates, $("acme-rows"), acme ?? [], (a) => a.listener, makeCertificate, updateCertificate);
  }

  // Header, cell class; the cells of a row follow this order (see makeRow).
  const COLUMNS = [["Member", ""], ["State", ""], ["In state", ""], ["Activation", ""], ["Weight (eff.)", "num"], ["Active", "num"],
    ["Req/s", "num"], ["Requests", "num"], ["4xx / 5xx", "num"], ["Failures", "num"], ["Retr / redisp", "num"], ["Bytes in / out", "num"],
    ["p50", "num"], ["p99", "num"], ["Checks (fail)", "num"], ["Downtime", "num"], ["Last check", ""], ["Actions", "actions"]];
  const CELLS = ["state", "since", "activation", "weight", "active", "rps", "requests", "classes", "failures", "retries", "bytes",
    "p50", "p99", "checks", "downtime", "check"];

  function makePool(name) {
    const section = el("section", "card pool"), head = el("div", "pool-head"), h = el("h2", "", name);
    h.id = "pool-" + (++seq);
    section.setAttribute("aria-labelledby", h.id);
    const facts = el("dl", "facts"), dd = {};
    const fact = {};
    for (const [key, label] of [["strategy", "strategy"], ["sticky", "sticky"], ["sessions", "sessions"], ["queue", "queue"], ["usable", "usable"], ["rps", "req/s"], ["dns", "DNS"]]) {
      const d = fact[key] = el("div"); d.append(el("dt", "", label), dd[key] = el("dd")); facts.append(d);
    }
    const badge = el("span", "badge", "no usable member");
    head.append(h, facts, badge);
    const table = el("table"), tr = el("tr"), tbody = el("tbody");
    table.setAttribute("aria-labelledby", h.id);
    for (const [c, cls] of COLUMNS) { const th = el("th", cls, c); th.scope = "col"; tr.append(th); }
    table.append(el("thead"), tbody); table.tHead.append(tr);
    const charts = makeCharts(name), wrap = el("div", "table-wrap");
    wrap.append(table);
    section.append(head, charts.box, wrap);
    return { name, section, dd, fact, badge, charts, tbody, rows: new Map(), usableMembers: 0 };
  }

  function updatePool(view, p, now) {
    put(view.dd.strategy, p.strategy); put(view.dd.sticky, p.stickyMode);
    // Only a mode with a table (learn) has sessions to count.
    show(view.fact.sessions, p.stickyEntries !== null);
    put(view.dd.sessions, p.stickyEntries ?? ""); put(view.dd.queue, p.queueLength, p.queueLength > 0 ? "warn" : "");
    view.usableMembers = p.members.filter((m) => m.usable).length;
    show(view.badge, view.usableMembers === 0);
    put(view.dd.usable, view.usableMembers + "/" + p.members.length, view.usableMembers === 0 ? "bad" : view.usableMembers < p.members.length ? "warn" : "");
    const seen = new Set();
    let before = view.tbody.firstChild, total = 0, known = false;
    for (const m of p.members) {
      let row = view.rows.get(m.name);
      if (!row) { row = makeRow(view, m.name); view.rows.set(m.name, row); }
      if (row.tr !== before) view.tbody.insertBefore(row.tr, before);
      before = row.tr.nextSibling;
      seen.add(m.name);
      const rps = updateRow(row, p.name, m, now);
      if (rps !== null) { total += rps; known = true; }
    }
    for (const [name, row] of view.rows) if (!seen.has(name)) { row.tr.remove(); view.rows.delete(name); samples.delete(p.name + "\\u0000" + name); }
    put(view.dd.rps, known ? rate(total) : DASH);
    // Members from DNS: the name, its last lookup's outcome, and how many of its members drain.
    const dns = p.discovery;
    show(view.fact.dns, dns !== undefined);
    if (dns) {
      const draining = dns.members.filter((m) => m.draining).length;
      put(view.dd.dns, dns.name + " " + dns.type.toUpperCase() + ": " + (dns.lastOutcome ?? "waiting") + (draining > 0 ? ", " + draining + " draining" : ""),
        dns.lastOutcome === "ok" ? "" : "warn");
    }
  }

  function makeRow(view, member) {
    const pool = view.name, tr = el("tr"), name = el("th"), cells = {};
    name.scope = "row";
    name.append(el("span", "", member), cells.url = el("span", "sub"));
    tr.append(name);
    CELLS.forEach((key, i) => { tr.append(cells[key] = el("td", COLUMNS[i + 1][1] || key)); });
    cells.pill = el("span"); cells.reason = el("span", "why");
    cells.state.append(cells.pill, cells.reason);
    const actions = el("td", "actions"), buttons = [];
    const button = (text, act, label) => {
      const b = el("button", "", text); b.type = "button"; b.setAttribute("aria-label", label + " " + member);
      b.addEventListener("click", act); buttons.push(b); actions.append(b); return b;
    };
    // Taking the last usable member out leaves the pool with nothing for new requests: say so, and ask differently.
    const last = () => row.usable && view.usableMembers === 1;
    const setActivation = (activation, verb, consequence) => () => {
      const act = () => change(pool, member, { activation }, verb + " " + member);
      if (last() && consequence) return warn(verb, member, pool, consequence, act);
      ask(verb + " " + member + " in pool " + pool + " (activation " + activation + ")?", act);
    };
    const drain = button("Drain", setActivation("disabled", "Drain",
      "new requests and new sessions get 503 until a member is enabled; sessions already on " + member + " are still served."), "Drain");
    const stop = button("Stop", setActivation("stopped", "Stop",
      "every request to the pool gets 503, sessions on " + member + " included, until a member is enabled."), "Stop");
    const enable = button("Enable", setActivation("active", "Enable"), "Enable");
    const input = el("input"), label = el("label", "sr", "Weight for " + member);
    input.type = "number"; input.min = "0"; input.max = "256"; input.step = "1"; input.id = "w" + (++seq); label.htmlFor = input.id;
    actions.append(label, input);
    const row = { tr, cells, input, buttons, drain, stop, enable, dirty: false, activation: "", usable: false };
    input.addEventListener("input", () => { row.dirty = true; });
    input.addEventListener("keydown", (event) => { if (event.key === "Enter") setWeight.click(); });
    const setWeight = button("Set weight", () => {
      const weight = Number(input.value);
      if (input.value === "" || !Number.isInteger(weight) || weight < 0 || weight > 256) return status("Weight must be a whole number from 0 to 256.", true);
      const act = () => change(pool, member, { weight }, "Set weight of " + member).then(() => { row.dirty = false; });
      if (weight === 0 && last()) return warn("Set the weight to 0 of", member, pool, "new requests and new sessions get 503 until a member takes them again.", act);
      ask("Set the weight of " + member + " in pool " + pool + " to " + weight + "?", act);
    }, "Set weight of");
    tr.append(actions);
    return row;
  }

  function updateRow(row, pool, m, now) {
    // Rates over the interval since the last sample at least 1 s old (an immediate re-poll after
    // a change keeps the previous rates rather than dividing a few requests by a few ms).
    const c = row.cells, key = pool + "\\u0000" + m.name, prev = samples.get(key);
    let rps = null;
    if (prev && now - prev.t < 1000 && m.requests >= prev.requests) rps = prev.rps;
    else {
      if (prev && m.requests >= prev.requests) rps = (m.requests - prev.requests) / ((now - prev.t) / 1000);
      samples.set(key, { t: now, requests: m.requests, rps });
    }
    const shown = m.activation === "stopped" ? "stopped" : m.state === "down" ? "down" : m.activation === "disabled" ? "draining" : "up";
    put(c.url, String(m.url).replace(/^http:\\/\\//, ""));
    put(c.pill, shown, "pill s-" + shown);
    put(c.reason, m.state === "up" ? "" : m.stateReason || "");
    show(c.reason, m.state !== "up");
    c.state.title = (m.stateReason || m.state) + " since " + m.since;
    // The shown state changes with health and with activation: its age is from the later of the two.
    const changed = [m.transitions > 0 ? m.since : null, m.activationSince].filter(Boolean).sort().pop();
    put(c.since, age(Date.now() - Date.parse(changed || m.since)) + " \\u00b7 " + (changed ? clockTime(changed) : "no change"));
    c.since.title = changed ? "last change " + changed : "as at the start, " + m.since;
    put(c.activation, m.activation, { active: "", disabled: "warn" }[m.activation] ?? "muted");
    put(c.weight, m.weight === m.effectiveWeight ? String(m.weight) : m.weight + " (" + m.effectiveWeight + ")");
    put(c.active, m.maxconn > 0 ? m.active + "/" + m.maxconn : m.active);
    put(c.rps, rps === null ? DASH : rate(rps));
    put(c.requests, m.requests);
    put(c.classes, m.responses["4xx"] + " / " + m.responses["5xx"], "num" + (m.responses["5xx"] > 0 ? " bad" : m.responses["4xx"] > 0 ? " warn" : ""));
    put(c.failures, m.failures, "num" + (m.failures > 0 ? " bad" : ""));
    put(c.retries, m.retries + " / " + m.redispatches);
    put(c.bytes, bytes(m.bytesIn) + " / " + bytes(m.bytesOut));
    put(c.p50, ms(m.p50Ms));
    put(c.p99, ms(m.p99Ms));
    put(c.checks, m.lastCheck || m.checks > 0 ? m.checks + " (" + m.failedChecks + ")" : DASH, "num" + (m.failedChecks > 0 ? " warn" : ""));
    put(c.downtime, m.downtimeMs > 0 ? age(m.downtimeMs) : "none", "num" + (m.downtimeMs > 0 ? " warn" : ""));
    const lc = m.lastCheck;
    put(c.check, lc ? (lc.ok ? "\\u2713 " : "\\u2717 ") + lc.reason + " \\u00b7 " + age(Date.now() - Date.parse(lc.at)) + " ago" : DASH,
      "check" + (lc ? (lc.ok ? " ok" : " bad") : ""));
    c.check.title = lc ? lc.reason + " at " + lc.at + " (" + lc.durationMs + " ms)" : "no check yet";
    row.activation = m.activation;
    row.usable = m.usable;
    if (row.input.value === String(m.weight)) row.dirty = false;
    else if (!row.dirty && document.activeElement !== row.input) row.input.value = String(m.weight);
    lock(row);
    return rps;
  }

  function lock(row) {
    row.buttons.forEach((b) => { b.disabled = readOnly; });
    row.input.disabled = readOnly;
    if (readOnly) return;
    row.drain.disabled = row.activation === "disabled";
    row.stop.disabled = row.activation === "stopped";
    row.enable.disabled = row.activation === "active";
  }

  function status(text, bad) {
    put($("status"), text, "notice" + (bad ? " bad" : ""));
    show($("status"), true);
  }

  function ask(text, action, danger) {
    pending = action;
    const dialog = $("confirm");
    put($("confirm-title"), danger ? danger.title : "Confirm change");
    put($("confirm-ok"), danger ? danger.button : "Confirm");
    put($("confirm-text"), text);
    dialog.classList.toggle("danger", Boolean(danger));
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  }
  function warn(verb, member, pool, consequence, action) {
    ask(member + " is the last usable member of pool " + pool + ". " + verb + " " + member + "? Then pool " + pool + " has no usable member: " + consequence,
      action, { title: "Last usable member of " + pool, button: verb.split(" ")[0] + " anyway" });
  }

  async function change(pool, member, body, what) {
    status(what + "…");
    try {
      const m = await api("PATCH", "pools/" + encodeURIComponent(pool) + "/members/" + encodeURIComponent(member), body);
      status(member + " in " + pool + ": activation " + m.activation + ", weight " + m.weight + ".");
    } catch (e) {
      if (e.status === 401) return signOut(e.message);
      if (e.status === 403) {
        readOnly = true; show($("readonly"), true); show($("status"), false);
        pools.forEach((p) => p.rows.forEach(lock));
        return;
      }
      status(what + " failed: " + e.message, true);
      throw e;
    } finally {
      poll();
    }
  }

  $("confirm").addEventListener("close", () => {
    const action = pending;
    pending = null;
    if ($("confirm").returnValue === "ok" && action) action().catch(() => {});
  });
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  $("signout").addEventListener("click", () => signOut(""));

  $("export-csv").addEventListener("click", () => download("csv"));
  $("export-json").addEventListener("click", () => download("json"));

  // One row per member, the same columns in both formats.
  const EXPORTED = ["pool", "member", "url", "state", "stateReason", "since", "transitions", "downtimeMs", "activation", "activationSince",
    "usable", "weight", "effectiveWeight", "active", "maxconn", "requests", "responses1xx", "responses2xx", "responses3xx", "responses4xx",
    "responses5xx", "failures", "retries", "redispatches", "bytesIn", "bytesOut", "p50Ms", "p99Ms", "checks", "failedChecks",
    "lastCheckAt", "lastCheckOk", "lastCheckReason"];
  function exportRows(doc) {
    return doc.pools.flatMap((p) => p.members.map((m) => {
      const row = { ...m, pool: p.name, member: m.name };
      for (const family of ["1xx", "2xx", "3xx", "4xx", "5xx"]) row["responses" + family] = m.responses[family];
      row.lastCheckAt = m.lastCheck ? m.lastCheck.at : null;
      row.lastCheckOk = m.lastCheck ? m.lastCheck.ok : null;
      row.lastCheckReason = m.lastCheck ? m.lastCheck.reason : null;
      return Object.fromEntries(EXPORTED.map((key) => [key, row[key] ?? null]));
    }));
  }
  // Quoted as RFC 4180 wants; a text starting like a formula gets a ' so a spreadsheet shows it as text.
  function csvField(v) {
    let text = v === null ? "" : String(v);
    if (typeof v === "string" && /^[=+\\-@\\t\\r]/.test(text)) text = "'" + text;
    return /[",\\r\\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function download(format) {
    if (!lastDoc) return;
    const rows = exportRows(lastDoc);
    const text = format === "csv"
      ? [EXPORTED.join(","), ...rows.map((r) => EXPORTED.map((key) => csvField(r[key])).join(","))].join("\\r\\n") + "\\r\\n"
      : JSON.stringify(rows, null, 2) + "\\n";
    const a = el("a");
    a.href = URL.createObjectURL(new Blob([text], { type: format === "csv" ? "text/csv" : "application/json" }));
    a.download = "tandem-members-" + new Date().toISOString().replace(/[:.]/g, "-") + "." + format;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  async function start() {
    show($("login"), false); show($("dash"), true); show($("signout"), true);
    show($("loading"), true); show($("readonly"), false); show($("status"), false); show($("banner"), false);
    try {
      const me = await api("GET", "whoami");
      readOnly = me.scope !== "admin";
      document.body.classList.toggle("readonly", readOnly);
      put($("who"), "signed in as " + me.subject + (readOnly ? " (read-only)" : ""));
    } catch (e) {
      if (e.status === 401) return signOut(e.message);
    }
    poll();
  }
  // A wall display opens /#token=…: taken once, then gone from the address bar and the history.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    token = fragment.get("token");
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (token) start(); else signOut("");
})();
</script>
</body>
</html>
`;
