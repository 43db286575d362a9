/**
 * The access log's line formats: `json` (one object per line, every field), `httplog` (HAProxy's
 * `option httplog` line) and `combined` (Apache's and nginx's combined log format). Each takes
 * an {@link AccessRecord} and gives the line without its newline.
 *
 * ```ts
 * import { formatAccessLine } from "./format.ts";
 * formatAccessLine("httplog", record);
 * // 10.0.0.7:51234 [05/Dec/2026:07:45:16.756] 0.0.0.0:8080 app/web1 0/0/1/4/6 200 512 - - --VN 3/1/2/1/0 0/0 {5e0c…|0af7…} "GET /cart?id=7 HTTP/1.1"
 * ```
 *
 * @module
 */
import type { AccessLogFormat } from "../config/schema.ts";
import type { AccessRecord, StickyDecision } from "./access-record.ts";

export function formatAccessLine(format: AccessLogFormat, record: AccessRecord, worker?: number): string {
  switch (format) {
    case "json":
      return JSON.stringify(worker === undefined ? record : { ...record, worker });
    case "httplog":
      return httplogLine(record);
    case "combined":
      return combinedLine(record);
  }
}

/**
 * HAProxy's `option httplog` line as HAProxy 2.6 prints it (its `log-format`
 * `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %{+Q}r`)
 * with two request captures, the request id and the trace id, where HAProxy prints
 * `capture request header` values. The frontend is the listener's address (`~` after it for
 * TLS), the times are UTC, and a field that has no meaning here is `-` or -1 as in HAProxy.
 */
export function httplogLine(r: AccessRecord): string {
  const frontend = r.listener === null ? "-" : r.tls ? `${r.listener}~` : r.listener;
  const timers = `${_ms(r.requestMs)}/${_ms(r.queueMs)}/${_ms(r.connectMs)}/${_ms(r.responseMs)}/${Math.round(r.totalMs)}`;
  const counts = `${r.processInFlight}/${r.listenerConnections ?? "-"}/${r.poolInFlight}/${r.memberInFlight}/${r.redispatched ? "+" : ""}${r.retries}`;
  // HAProxy prints no captures for a request it could not read.
  const captures = r.method === null ? "" : ` {${_hash(r.requestId ?? "", CAPTURE_ESCAPES)}|${r.traceId ?? ""}}`;
  const request = r.method === null ? "<BADREQ>" : _hash(`${r.method} ${r.path} ${r.httpVersion ?? "-"}`, REQUEST_LINE_ESCAPES);
  // A request refused before routing has no backend: HAProxy names the frontend there.
  const backend = r.pool ?? frontend;
  return `${r.client}:${r.clientPort ?? 0} [${_haproxyDate(r.time)}] ${frontend} ${backend}/${r.member ?? "<NOSRV>"} ${timers} ${r.status} ${r.bytesOut} - - ` +
    `${r.termination}${PERSISTENCE[r.sticky]} ${counts} ${r.memberQueuePosition}/${r.poolQueuePosition}${captures} "${request}"`;
}

/**
 * `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`, escaped as Apache escapes them
 * (`\"`, `\\`, `\xhh` for control and non-ASCII bytes); `%b` is `-` for an empty body.
 */
export function combinedLine(r: AccessRecord): string {
  // Apache logs a request it could not read as "-".
  const request = r.method === null ? "-" : `${r.method} ${r.path} ${r.httpVersion ?? "-"}`;
  return `${r.client} - - [${_clfDate(r.time)}] "${_backslash(request)}" ${r.status} ${r.bytesOut === 0 ? "-" : r.bytesOut} ` +
    `"${r.referer === null ? "-" : _backslash(r.referer)}" "${r.userAgent === null ? "-" : _backslash(r.userAgent)}"`;
}

/**
 * The third and fourth characters of HAProxy's termination state, its persistence cookie
 * status and what was done with it, from the sticky decision whatever the sticky mode: no
 * session (`--`), none yet so one is set (`NI`), the client's session kept (`VN`), the session's
 * member unusable so it moved (`DI`).
 */
const PERSISTENCE: Record<StickyDecision, string> = { none: "--", new: "NI", hit: "VN", moved: "DI" };

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `2026-12-05T07:45:16.756Z` → `05/Dec/2026:07:45:16.756` */
function _haproxyDate(iso: string): string {
  return `${iso.slice(8, 10)}/${MONTHS[Number(iso.slice(5, 7)) - 1]}/${iso.slice(0, 4)}:${iso.slice(11, 23)}`;
}

/** `2026-12-05T07:45:16.756Z` → `05/Dec/2026:07:45:16 +0000` */
function _clfDate(iso: string): string {
  return `${iso.slice(8, 10)}/${MONTHS[Number(iso.slice(5, 7)) - 1]}/${iso.slice(0, 4)}:${iso.slice(11, 19)} +0000`;
}

function _ms(value: number | null): number {
  return value === null ? -1 : Math.round(value);
}

/** HAProxy's log escapes: `#` and two hex digits for control, non-ASCII and the listed characters. */
const REQUEST_LINE_ESCAPES = /[\x00-\x1f\x7f-\uffff"#]/;
const CAPTURE_ESCAPES = /[\x00-\x1f\x7f-\uffff"#{|}]/;

function _hash(text: string, escapes: RegExp): string {
  if (!escapes.test(text)) return text;
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const char = String.fromCharCode(byte);
    out += !escapes.test(char) ? char : `#${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const BACKSLASH_ESCAPES = /[\x00-\x1f\x7f-\uffff"\\]/;

function _backslash(text: string): string {
  if (!BACKSLASH_ESCAPES.test(text)) return text;
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += "\\\\";
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}
