import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";
import { eventually } from "../../support/waiting.ts";

function setup(pool: Record<string, unknown> = {}, names = ["a", "b"]) {
  const clock = new FakeClock(1_000);
  const farm = fakeFarm(names);
  const balancer = createBalancer(poolConfig(names.map((name) => ({ name })), pool), { clock, upstream: farm.upstream, log: () => {} });
  const send = async (init: RequestInit & { path?: string; host?: string; from?: string; tls?: boolean } = {}) => {
    // As a runtime builds it: the URL's authority is the Host field (or an absolute-form target's).
    const request = new Request(`http://${init.host ?? "tandem.test"}${init.path ?? "/"}`, init);
    return (await balancer.fetch(request, { remoteAddress: init.from ?? "192.0.2.7", tls: init.tls ?? false }))!;
  };
  const lastHeaders = () => farm.requests.at(-1)!.fields;
  return { clock, farm, balancer, send, lastHeaders };
}

describe("hop-by-hop headers", () => {
  test("are removed on the way in, with every field Connection names; TE keeps only trailers", async () => {
    const { send, lastHeaders } = setup();
    const response = await send({
      headers: {
        connection: "keep-alive, x-secret",
        "keep-alive": "timeout=5",
        "x-secret": "1",
        "proxy-connection": "keep-alive",
        "proxy-authorization": "Basic Zm9v",
        te: "trailers, deflate",
        trailer: "x",
        upgrade: "TLS/1.2",
        "http2-settings": "AAA",
        "x-kept": "yes",
      },
    });
    assert.equal(response.status, 200);
    const seen = lastHeaders();
    for (const name of ["connection", "keep-alive", "x-secret", "proxy-connection", "proxy-authorization", "trailer", "upgrade", "http2-settings"]) {
      assert.equal(seen.get(name), null, name);
    }
    assert.equal(seen.get("te"), "trailers");
    assert.equal(seen.get("x-kept"), "yes");
  });

  test("are removed on the way out", async () => {
    const { send, farm } = setup();
    farm.behave("a", () => new Response("x", { headers: { connection: "close, x-internal", "x-internal": "1", "keep-alive": "5", "x-app": "1" } }));
    farm.behave("b", () => new Response("x", { headers: { connection: "close, x-internal", "x-internal": "1", "keep-alive": "5", "x-app": "1" } }));
    const response = await send();
    assert.equal(response.headers.get("x-internal"), null);
    assert.equal(response.headers.get("keep-alive"), null);
    assert.equal(response.headers.get("connection"), null);
    assert.equal(response.headers.get("x-app"), "1");
  });

  for (const named of ["host", "content-length", "transfer-encoding", "x-forwarded-for", "forwarded", "X-Forwarded-Proto"]) {
    test(`Connection naming ${named} gets 400`, async () => {
      const { send, farm } = setup();
      const response = await send({ headers: { connection: `close, ${named}` } });
      assert.equal(response.status, 400);
      assert.equal(farm.served.length, 0);
    });
  }
});

describe("forwarding headers", () => {
  test("client-sent copies are replaced for untrusted clients", async () => {
    const { send, lastHeaders } = setup({ forwarding: { forwarded: true, via: true } });
    await send({ host: "shop.test", headers: { "x-forwarded-for": "6.6.6.6", forwarded: "for=6.6.6.6", "x-forwarded-proto": "https", host: "shop.test" }, from: "192.0.2.7" });
    const seen = lastHeaders();
    assert.equal(seen.get("x-forwarded-for"), "192.0.2.7");
    assert.equal(seen.get("x-forwarded-proto"), "http");
    assert.equal(seen.get("x-forwarded-host"), "shop.test");
    assert.equal(seen.get("forwarded"), 'for=192.0.2.7;proto=http;host="shop.test"');
    assert.equal(seen.get("via"), "1.1 tandem");
    assert.equal(seen.get("host"), "shop.test");
  });

  test("trusted proxies' values are kept and extended", async () => {
    const { send, lastHeaders } = setup({ forwarding: { trustedProxies: ["10.0.0.0/8", "2001:db8::/32"], forwarded: true } });
    await send({ headers: { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", forwarded: "for=203.0.113.9" }, from: "10.1.2.3" });
    assert.equal(lastHeaders().get("x-forwarded-for"), "203.0.113.9, 10.1.2.3");
    assert.equal(lastHeaders().get("x-forwarded-proto"), "https");
    assert.equal(lastHeaders().get("forwarded"), "for=203.0.113.9, for=10.1.2.3;proto=http;host=\"tandem.test\"");
    await send({ headers: { "x-forwarded-for": "203.0.113.9" }, from: "2001:db8::1" });
    assert.equal(lastHeaders().get("x-forwarded-for"), "203.0.113.9, 2001:db8::1");
    await send({ headers: { "x-forwarded-for": "203.0.113.9" }, from: "::ffff:11.0.0.1" });
    assert.equal(lastHeaders().get("x-forwarded-for"), "11.0.0.1");
  });

  test("the target's authority wins over a different Host field (absolute-form, RFC 9112 §3.2.2)", async () => {
    const { send, lastHeaders } = setup({ forwarding: { forwarded: true } });
    await send({ host: "evil.example", path: "/abs", headers: { host: "a" } });
    assert.equal(lastHeaders().get("host"), "evil.example");
    assert.equal(lastHeaders().get("x-forwarded-host"), "evil.example");
  });

  test("a Host that is not host[:port], a Transfer-Encoding other than chunked, or a GET body that the runtime dropped is refused before any member sees it", async () => {
    const { send, farm } = setup();
    for (const host of ["a/ins/admin#", "a b", "victim.com, y.example.com", "a@b", ""]) {
      assert.equal((await send({ headers: { host } })).status, 400, host);
    }
    assert.equal((await send({ method: "POST", body: "x", headers: { "transfer-encoding": "gzip, chunked" } })).status, 501);
    assert.equal((await send({ headers: { "content-length": "128" } })).status, 400);
    assert.deepEqual(farm.served, []);
  });

  test("preserveHost false sends the member's host:port", async () => {
    const { send, lastHeaders } = setup({ forwarding: { preserveHost: false } });
    await send({ headers: { host: "shop.test" } });
    assert.match(lastHeaders().get("host")!, /^127\.0\.0\.1:900\d$/);
  });
});

describe("failures", () => {
  test("connect refused: retried on another member, the refuser rests for recoverTime", async () => {
    const { send, farm, clock } = setup({ recoverTime: "10s" });
    farm.behave("a", "refuse");
    for (let i = 0; i < 4; i++) assert.equal((await send()).status, 200);
    assert.deepEqual(farm.served, ["b", "b", "b", "b"]);
    farm.behave("a", "ok");
    clock.advance(10_001);
    await send();
    await send();
    assert.ok(farm.served.slice(4).includes("a"));
  });

  test("connect refused everywhere: 502 after the retries", async () => {
    const { send, farm } = setup();
    farm.behave("a", "refuse");
    farm.behave("b", "refuse");
    const response = await send();
    assert.equal(response.status, 502);
    assert.equal(await response.text(), "502 Bad Gateway\n", "the body names no address or error of the farm");
  });

  test("after the request was sent, only idempotent requests are retried, and only for retryOn conditions", async () => {
    const { send, farm } = setup({ retryOn: ["conn-failure", "junk-response"] });
    farm.behave("a", "junk");
    let response = await send();
    assert.equal(response.status, 200);
    assert.deepEqual(farm.served, ["b"]);
    // POST with a body: not retried, 502.
    response = await send({ method: "POST", body: "x" });
    const postServed = farm.served.length;
    if (response.status !== 200) assert.equal(response.status, 502);
    assert.ok(postServed <= 2);
  });

  test("default retryOn does not retry junk even for GET", async () => {
    const { send, farm } = setup({ strategy: "roundrobin" }, ["a"]);
    farm.behave("a", "junk");
    assert.equal((await send()).status, 502);
    assert.equal(farm.received.get("a")!.length, 1);
  });

  test("response timeout: 504", async () => {
    const { send, farm } = setup({}, ["a"]);
    farm.behave("a", "timeout");
    assert.equal((await send()).status, 504);
  });

  test("retry on a configured status moves an idempotent request", async () => {
    const { send, farm } = setup({ retryOn: ["503"] });
    farm.behave("a", () => new Response("busy", { status: 503 }));
    assert.equal((await send()).status, 200);
    assert.ok(farm.received.get("a")!.length >= 1 && farm.served.at(-1) === "b");
  });
});

describe("maxconn queue", () => {
  test("waits FIFO for a slot, and 503s when the queue timeout expires", async () => {
    const clock = new FakeClock(0);
    const farm = fakeFarm(["a"]);
    const release: (() => void)[] = [];
    farm.behave("a", () => new Response(new ReadableStream({ start: (c) => void release.push(() => c.close()) })));
    const balancer = createBalancer(poolConfig([{ name: "a", maxconn: 1 }], { queue: { timeout: "2s" } }), { clock, upstream: farm.upstream, log: () => {} });
    const conn = { remoteAddress: "192.0.2.7", tls: false };
    const first = (await balancer.fetch(new Request("http://t/1"), conn))!;
    const second = balancer.fetch(new Request("http://t/2"), conn);
    await eventually(() => (balancer.pools.get("app")!.queueLength === 1 ? true : undefined), 10_000, "the second request in the queue");
    release[0]();
    await first.text();
    const secondResponse = (await second)!;
    assert.equal(secondResponse.status, 200);
    const third = balancer.fetch(new Request("http://t/3"), conn);
    await eventually(() => (balancer.pools.get("app")!.queueLength === 1 ? true : undefined), 10_000, "the third request in the queue");
    clock.advance(2_001);
    assert.equal((await third)!.status, 503);
    release[1]();
    await secondResponse.text();
    assert.equal(balancer.pools.get("app")!.member("a")!.active, 0);
  });
});
