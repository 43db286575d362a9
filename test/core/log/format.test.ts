import { test } from "node:test";
import assert from "node:assert/strict";
import { type AccessRecord, refusedRecord } from "../../../core/log/access-record.ts";
import { combinedLine, formatAccessLine, httplogLine } from "../../../core/log/format.ts";
import { syslogMessage } from "../../../core/log/syslog.ts";

const RECORD: AccessRecord = {
  time: "2026-12-05T07:45:16.756Z",
  client: "10.0.0.7",
  clientPort: 51234,
  listener: "0.0.0.0:8080",
  tls: false,
  tlsVersion: null,
  sni: null,
  method: "GET",
  path: "/cart;jsessionid=A1.web1?id=7&x=1",
  httpVersion: "HTTP/1.1",
  host: "shop.example",
  userAgent: "curl/8.5.0",
  referer: "https://shop.example/",
  status: 200,
  pool: "app",
  member: "web1",
  sticky: "hit",
  retries: 0,
  redispatched: false,
  errorKind: null,
  error: undefined,
  termination: "--",
  bytesIn: 0,
  bytesOut: 512,
  requestMs: 0.2,
  queueMs: 0,
  connectMs: 1.4,
  responseMs: 4.6,
  totalMs: 6.3,
  processInFlight: 3,
  listenerConnections: 1,
  poolInFlight: 2,
  memberInFlight: 1,
  memberQueuePosition: 0,
  poolQueuePosition: 0,
  requestId: "5e0c5b4e-2f1d-4b55-9d4e-1f2a3b4c5d6e",
  traceId: "0af7651916cd43dd8448eb211c80319c",
};

test("httplog: HAProxy's option httplog layout, field by field", () => {
  assert.equal(
    httplogLine(RECORD),
    '10.0.0.7:51234 [05/Dec/2026:07:45:16.756] 0.0.0.0:8080 app/web1 0/0/1/5/6 200 512 - - --VN 3/1/2/1/0 0/0 ' +
      '{5e0c5b4e-2f1d-4b55-9d4e-1f2a3b4c5d6e|0af7651916cd43dd8448eb211c80319c} "GET /cart;jsessionid=A1.web1?id=7&x=1 HTTP/1.1"',
  );
});

test("httplog: no member is <NOSRV>, phases not reached are -1, a redispatch marks the retries with +, TLS marks the frontend with ~", () => {
  const line = httplogLine({
    ...RECORD,
    member: null,
    status: 503,
    bytesOut: 20,
    termination: "SC",
    sticky: "none",
    queueMs: null,
    connectMs: null,
    responseMs: null,
    requestMs: null,
    totalMs: 3010.4,
    retries: 3,
    redispatched: true,
    tls: true,
    tlsVersion: "TLSv1.3",
    requestId: null,
    traceId: null,
  });
  assert.equal(line, '10.0.0.7:51234 [05/Dec/2026:07:45:16.756] 0.0.0.0:8080~ app/<NOSRV> -1/-1/-1/-1/3010 503 20 - - SC-- 3/1/2/1/+3 0/0 {|} "GET /cart;jsessionid=A1.web1?id=7&x=1 HTTP/1.1"');
});

test("httplog: the sticky decision is the persistence cookie state, queue positions are sq/bq", () => {
  const cookie = (sticky: AccessRecord["sticky"]) => httplogLine({ ...RECORD, sticky }).split(" ")[9];
  assert.deepEqual(["none", "new", "hit", "moved"].map((sticky) => cookie(sticky as AccessRecord["sticky"])), ["----", "--NI", "--VN", "--DI"]);
  assert.match(httplogLine({ ...RECORD, memberQueuePosition: 4, poolQueuePosition: 0 }), / 4\/0 \{/);
  assert.match(httplogLine({ ...RECORD, memberQueuePosition: 0, poolQueuePosition: 7 }), / 0\/7 \{/);
});

test("httplog: HAProxy's # escapes in the request line and captures", () => {
  const line = httplogLine({ ...RECORD, path: '/a"b#c/é', requestId: "x|y{z}" });
  assert.ok(line.endsWith('{x#7Cy#7Bz#7D|0af7651916cd43dd8448eb211c80319c} "GET /a#22b#23c/#C3#A9 HTTP/1.1"'), line);
});

test("combined: Apache's combined layout, - for an empty body and for missing Referer and User-Agent, backslash escapes", () => {
  assert.equal(
    combinedLine(RECORD),
    '10.0.0.7 - - [05/Dec/2026:07:45:16 +0000] "GET /cart;jsessionid=A1.web1?id=7&x=1 HTTP/1.1" 200 512 "https://shop.example/" "curl/8.5.0"',
  );
  assert.equal(
    combinedLine({ ...RECORD, bytesOut: 0, status: 304, referer: null, userAgent: 'agent "x"\\\u0001', httpVersion: "HTTP/1.0" }),
    '10.0.0.7 - - [05/Dec/2026:07:45:16 +0000] "GET /cart;jsessionid=A1.web1?id=7&x=1 HTTP/1.0" 304 - "-" "agent \\"x\\"\\\\\\x01"',
  );
});

test("json: every field of the record, the worker added with workers", () => {
  assert.deepEqual(JSON.parse(formatAccessLine("json", RECORD)), JSON.parse(JSON.stringify(RECORD)));
  assert.deepEqual(JSON.parse(formatAccessLine("json", RECORD, 2)), { ...JSON.parse(JSON.stringify(RECORD)), worker: 2 });
  assert.equal(Object.keys(JSON.parse(formatAccessLine("json", RECORD)))[0], "time");
  assert.equal(formatAccessLine("httplog", RECORD), httplogLine(RECORD));
  assert.equal(formatAccessLine("combined", RECORD), combinedLine(RECORD));
});

test("syslog: RFC 5424 with the facility's priority at severity info, the tag as APP-NAME", () => {
  const time = Date.UTC(2026, 11, 5, 7, 45, 16, 756);
  assert.equal(syslogMessage({ facility: "local0", tag: "tandem" }, time, "line"), "<134>1 2026-12-05T07:45:16.756Z - tandem - - - line");
  assert.equal(syslogMessage({ facility: "user", tag: "lb-1" }, time, "x"), "<14>1 2026-12-05T07:45:16.756Z - lb-1 - - - x");
  assert.equal(syslogMessage({ facility: "local7", tag: "t" }, time, "x").slice(0, 5), "<190>");
});

test("a request refused before it could be read: <BADREQ> with the frontend as backend and no captures in httplog (as HAProxy 2.6 prints it), \"-\" in combined, nulls in json", () => {
  const refusal = {
    status: 400,
    reason: "malformed request line",
    client: "10.0.0.7",
    clientPort: 51234,
    listener: "0.0.0.0:8080",
    tls: false,
    tlsVersion: undefined,
    sni: undefined,
    received: Date.UTC(2026, 11, 5, 7, 45, 16, 756),
    refused: Date.UTC(2026, 11, 5, 7, 45, 16, 758),
    bytesOut: 41,
    listenerConnections: 2,
  };
  const record = refusedRecord(refusal, 3);
  assert.equal(httplogLine(record), '10.0.0.7:51234 [05/Dec/2026:07:45:16.756] 0.0.0.0:8080 0.0.0.0:8080/<NOSRV> -1/-1/-1/-1/2 400 41 - - PR-- 3/2/0/0/0 0/0 "<BADREQ>"');
  assert.equal(combinedLine(record), '10.0.0.7 - - [05/Dec/2026:07:45:16 +0000] "-" 400 41 "-" "-"');
  assert.deepEqual(
    [record.method, record.path, record.host, record.pool, record.member, record.termination, record.error, record.totalMs],
    [null, null, null, null, null, "PR", "malformed request line", 2],
  );
  assert.equal(refusedRecord({ ...refusal, status: 408 }, 0).termination, "cR", "a head that did not come in time is a client timeout");
});
