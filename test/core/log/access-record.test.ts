/**
 * The balancer's access records with a fake clock and in-memory members: queue wait and
 * positions, HAProxy's termination codes for the ends that are hard to stage over sockets
 * (queue timeout, a client leaving while queued or mid-body, a refused Connection header), the
 * request id and trace context as the member gets them, and nothing done with the log off.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import type { AccessRecord } from "../../../core/log/access-record.ts";
import { ClientTimeout } from "../../../core/http/client-timeout.ts";
import { UpstreamError } from "../../../core/proxy/http1-client.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";

const CONN = { remoteAddress: "192.0.2.7", tls: false };

function setup(pool: Record<string, unknown>, members: ({ name: string } & Record<string, unknown>)[], accessLog: unknown = { format: "json" }) {
  const clock = new FakeClock(Date.UTC(2026, 11, 5, 8, 0, 0));
  const farm = fakeFarm(members.map((member) => member.name));
  const records: AccessRecord[] = [];
  const logged: Record<string, unknown>[] = [];
  const config = poolConfig(members, pool, { accessLog });
  const balancer = createBalancer(config, { clock, upstream: farm.upstream, log: (record) => logged.push(record), accessLog: (record) => records.push(record) });
  return { clock, farm, records, logged, balancer };
}

/** Lets every pending promise settle (the fake members answer in microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

test("queued requests: the wait (Tw) and how many were ahead; a queue timeout is sQ, a client leaving the queue CQ", async () => {
  const { clock, farm, records, balancer } = setup({ queue: { size: 10, timeout: "1s" } }, [{ name: "a", maxconn: 1 }]);
  let release!: () => void;
  farm.behave("a", () => new Promise<Response>((resolve) => (release = () => resolve(new Response("held")))));
  const held = balancer.fetch(new Request("http://shop.test/held"), CONN);
  await settle();
  farm.behave("a", "ok");
  const second = balancer.fetch(new Request("http://shop.test/second"), CONN);
  const third = balancer.fetch(new Request("http://shop.test/third"), CONN);
  const leaving = new AbortController();
  const fourth = balancer.fetch(new Request("http://shop.test/fourth", { signal: leaving.signal }), CONN);
  await settle();
  clock.advance(30);
  leaving.abort();
  await settle();
  clock.advance(20);
  release();
  await (await held)!.text();
  assert.equal((await second)!.status, 200);
  assert.equal((await third)!.status, 200);
  assert.equal((await fourth)!.status, 503);
  const byPath = new Map(records.map((record) => [record.path, record]));
  assert.deepEqual(
    ["/held", "/second", "/third", "/fourth"].map((path) => {
      const { queueMs, poolQueuePosition, memberQueuePosition, termination, status } = byPath.get(path)!;
      return { path, queueMs, poolQueuePosition, memberQueuePosition, termination, status };
    }),
    [
      { path: "/held", queueMs: 0, poolQueuePosition: 0, memberQueuePosition: 0, termination: "--", status: 200 },
      { path: "/second", queueMs: 50, poolQueuePosition: 0, memberQueuePosition: 0, termination: "--", status: 200 },
      { path: "/third", queueMs: 50, poolQueuePosition: 1, memberQueuePosition: 0, termination: "--", status: 200 },
      { path: "/fourth", queueMs: 30, poolQueuePosition: 2, memberQueuePosition: 0, termination: "CQ", status: 503 },
    ],
  );

  farm.behave("a", () => new Promise<Response>((resolve) => (release = () => resolve(new Response("held")))));
  const blocking = balancer.fetch(new Request("http://shop.test/blocking"), CONN);
  await settle();
  const timedOut = balancer.fetch(new Request("http://shop.test/timed-out"), CONN);
  await settle();
  clock.advance(1000);
  assert.equal((await timedOut)!.status, 503);
  const timedOutLine = records.find((record) => record.path === "/timed-out")!;
  // No member took it: HAProxy's <NOSRV> for a request that timed out in the backend queue.
  assert.deepEqual([timedOutLine.termination, timedOutLine.queueMs, timedOutLine.connectMs, timedOutLine.responseMs, timedOutLine.member], ["sQ", 1000, null, null, null]);
  release();
  await (await blocking)!.text();
});

test("a client that stops reading a streamed body is CD with the bytes it got; a Connection header naming a forwarding field is PR", async () => {
  const { records, farm, balancer } = setup({}, [{ name: "a" }]);
  farm.behave("a", () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 100) controller.enqueue(new Uint8Array(1000));
      },
    });
    return new Response(body, { headers: { "content-length": "1000000" } });
  });
  const response = (await balancer.fetch(new Request("http://shop.test/stream"), CONN))!;
  const reader = response.body!.getReader();
  let got = 0;
  while (got < 3000) got += (await reader.read()).value!.length;
  await reader.cancel();
  await settle();
  const [streamed] = records;
  assert.equal(streamed.termination, "CD");
  assert.ok(streamed.bytesOut >= got && streamed.bytesOut < 100_000, `bytesOut ${streamed.bytesOut} counts what went out, not the declared length`);

  const refused = (await balancer.fetch(new Request("http://shop.test/x", { headers: { connection: "x-forwarded-for" } }), CONN))!;
  assert.equal(refused.status, 400);
  assert.deepEqual([records[1].termination, records[1].member, records[1].queueMs, records[1].bytesOut], ["PR", null, null, (await refused.arrayBuffer()).byteLength]);
});

test("a client silent past its body timeout is cD: inside its request body (408), or not taking the answer", async () => {
  const { records, farm, balancer } = setup({}, [{ name: "a" }]);
  // What the HTTP/1 client raises when the request body it uploads fails with the front end's timeout.
  farm.behave("a", () => {
    throw new UpstreamError("aborted", true, "request body failed", { cause: new ClientTimeout("client sent no request body bytes for 1000 ms") });
  });
  const upload = (await balancer.fetch(new Request("http://shop.test/upload", { method: "POST", body: "abc" }), CONN))!;
  assert.equal(upload.status, 408);
  assert.deepEqual([records[0].termination, records[0].error], ["cD", "client sent no request body bytes for 1000 ms"]);

  farm.behave("a", () => new Response(new ReadableStream({ pull: (controller) => controller.enqueue(new Uint8Array(1000)) }), { headers: { "content-length": "1000000" } }));
  const reader = (await balancer.fetch(new Request("http://shop.test/stream"), CONN))!.body!.getReader();
  await reader.read();
  await reader.cancel(new ClientTimeout("client took no answer bytes for 1000 ms"));
  await settle();
  assert.equal(records[1].termination, "cD");
});

test("request id: replaced for an untrusted client, kept for a trusted one, sent to the member and echoed; tracing starts a trace for a missing or invalid traceparent", async () => {
  const { records, farm, balancer } = setup({}, [{ name: "a" }], { requestId: { trustedClients: ["198.51.100.0/24"] }, tracing: { start: true } });
  const headers = { "x-request-id": "theirs", traceparent: "00-ffffffffffffffffffffffffffffffff-0000000000000000-01", tracestate: "k=v" };
  const untrusted = (await balancer.fetch(new Request("http://shop.test/u", { headers }), CONN))!;
  const trusted = (await balancer.fetch(new Request("http://shop.test/t", { headers }), { remoteAddress: "198.51.100.9", tls: false }))!;
  const [seenUntrusted, seenTrusted] = farm.requests.map((request) => request.fields);
  assert.notEqual(untrusted.headers.get("x-request-id"), "theirs");
  assert.equal(seenUntrusted.get("x-request-id"), untrusted.headers.get("x-request-id"));
  assert.equal(records[0].requestId, untrusted.headers.get("x-request-id"));
  assert.deepEqual([trusted.headers.get("x-request-id"), seenTrusted.get("x-request-id"), records[1].requestId], ["theirs", "theirs", "theirs"]);
  // The invalid parent id (all zeros) makes the traceparent invalid: a new trace, its tracestate dropped.
  for (const [index, fields] of [seenUntrusted, seenTrusted].entries()) {
    const traceparent = fields.get("traceparent")!;
    assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(fields.get("tracestate"), null);
    assert.equal(records[index].traceId, traceparent.slice(3, 35));
  }
});

test("with the access log off: no record, no request id, no trace started, fields as the client sent them", async () => {
  const { records, logged, farm, balancer } = setup({}, [{ name: "a" }], false);
  const response = (await balancer.fetch(new Request("http://shop.test/q?x=1", { headers: { "x-request-id": "theirs" } }), CONN))!;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-request-id"), null);
  assert.equal(farm.requests[0].fields.get("x-request-id"), "theirs");
  assert.equal(farm.requests[0].fields.get("traceparent"), null);
  assert.deepEqual([records.length, logged.length], [0, 0]);
  // The control: the same request with the log on is recorded.
  const on = setup({}, [{ name: "a" }]);
  await (await on.balancer.fetch(new Request("http://shop.test/q?x=1"), CONN))!.text();
  assert.deepEqual(on.records.map((record) => [record.path, record.status]), [["/q?x=1", 200]]);
});
