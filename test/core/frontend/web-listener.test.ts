import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { ListenerSchema } from "../../../core/config/schema.ts";
import { listenWeb } from "../../../core/frontend/web-listener.ts";
import { type Answer, type ClientRequest, Fields } from "../../../core/http/message.ts";
import type { Platform, ServeWebOptions, WebClient } from "../../../core/platform.ts";
import type { ConnInfo } from "../../../core/ports.ts";
import type { RefusedRequest } from "../../../core/log/access-record.ts";
import { FakeClock } from "../../support/fake-clock.ts";

type Serve = (request: Request, client: WebClient) => Promise<Response>;

/** A platform whose runtime server is the test: it keeps the handler and options it was given. */
function fakePlatform() {
  const served: { serve?: Serve; options?: ServeWebOptions; lines: string[] } = { lines: [] };
  const platform = {
    clock: new FakeClock(1_000),
    stdout: (line: string) => served.lines.push(line),
    serveWeb(_hostname: string, _port: number, serve: Serve, options: ServeWebOptions) {
      Object.assign(served, { serve, options });
      return Promise.resolve({ hostname: "127.0.0.1", port: 8443, connections: 3, stopAccepting: () => Promise.resolve(), shutdown: () => Promise.resolve() });
    },
  } as Partial<Platform> as Platform;
  return { platform, served };
}

const config = v.parse(ListenerSchema, { address: "127.0.0.1:8443", protocols: ["http/1.1", "h2"], limits: { headBytes: 1024, fields: 5 } });
const client: WebClient = { address: "192.0.2.7", port: 50_000, protocol: "HTTP/2" };

async function setup(answer?: Answer) {
  const { platform, served } = fakePlatform();
  const seen: { request: ClientRequest; conn: ConnInfo }[] = [];
  const refusals: RefusedRequest[] = [];
  const events = { accepted: [] as number[], refused: [] as number[], requests: [] as string[] };
  const handler = (request: ClientRequest, conn: ConnInfo): Promise<Answer> => {
    seen.push({ request, conn });
    return Promise.resolve(answer ?? { status: 200, fields: new Fields(["content-type", "text/plain", "connection", "close"]), body: new TextEncoder().encode("hi") });
  };
  const listener = await listenWeb(platform, "127.0.0.1", 8443, handler, {
    config,
    reusePort: true,
    onBadRequest: (refusal) => refusals.push(refusal),
    events: {
      accepted: () => events.accepted.push(1),
      timeout: () => {},
      refused: (status) => events.refused.push(status),
      request: (protocol) => events.requests.push(protocol),
    },
  });
  return { listener, served, seen, refusals, events };
}

test("the runtime's server gets the listener's protocols, idle timeout and SO_REUSEPORT", async () => {
  const { served, listener } = await setup();
  assert.deepEqual(served.options?.protocols, ["http/1.1", "h2"]);
  assert.equal(served.options?.idleTimeout, 60);
  assert.equal(served.options?.reusePort, true);
  assert.equal(listener.connections, 3);
});

test("a request reaches the handler with its protocol and client, and its answer loses connection-specific fields", async () => {
  const { served, seen, events } = await setup();
  const response = await served.serve!(new Request("https://a.test:8443/x?y=1", { headers: { cookie: "a=1; b=2" } }), client);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("connection"), null);
  assert.equal(await response.text(), "hi");
  assert.equal(seen.length, 1);
  const [{ request, conn }] = seen;
  assert.equal(request.version, "HTTP/2");
  assert.equal(request.target, "/x?y=1");
  assert.equal(request.host, "a.test:8443");
  assert.deepEqual([conn.remoteAddress, conn.remotePort, conn.listener, conn.tls, conn.received, conn.listenerConnections, conn.firstRequest], ["192.0.2.7", 50_000, "127.0.0.1:8443", false, 1_000, 3, undefined]);
  assert.deepEqual(events.requests, ["HTTP/2"]);
  // Where the runtime says which request is a connection's first, the balancer hears it.
  await served.serve!(new Request("https://a.test:8443/"), { ...client, firstRequest: true });
  assert.equal(seen[1].conn.firstRequest, true);
});

test("the listener's limits, a WebSocket handshake and an h2c upgrade are refused before the handler, counted and logged", async () => {
  const { served, seen, refusals, events } = await setup();
  const cases: [RequestInit & { url?: string }, number][] = [
    [{ headers: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x-${i}`, "1"])) }, 431],
    [{ headers: { "x-long": "a".repeat(1100) } }, 431],
    [{ url: `https://a.test/${"p".repeat(9000)}` }, 414],
    [{ headers: { upgrade: "websocket", connection: "upgrade" } }, 501],
    [{ headers: { upgrade: "h2c", connection: "Upgrade, HTTP2-Settings" } }, 400],
  ];
  for (const [init, status] of cases) {
    const response = await served.serve!(new Request(init.url ?? "https://a.test/", init), { ...client, protocol: undefined });
    assert.equal(response.status, status, JSON.stringify(init).slice(0, 80));
  }
  assert.equal(seen.length, 0);
  assert.deepEqual(events.refused, [431, 431, 414, 501, 400]);
  assert.deepEqual(refusals.map((refusal) => [refusal.status, refusal.listener, refusal.client]), cases.map(([, status]) => [status, "127.0.0.1:8443", "192.0.2.7"]));
  // Control: a request within the limits passes, counted as of an unknown protocol.
  const ok = await served.serve!(new Request("https://a.test/", { headers: { "x-1": "1" } }), { ...client, protocol: undefined });
  assert.equal(ok.status, 200);
  assert.deepEqual(events.requests, ["unknown"]);
});

test("an answer a web Response cannot carry is a plain 500 and an error line, not the runtime's error page", async () => {
  const { served } = await setup({ status: 200, fields: new Fields(["x-broken", "a\nb"]), body: null });
  const response = await served.serve!(new Request("https://a.test/"), client);
  assert.equal(response.status, 500);
  assert.equal(await response.text(), "500 internal error\n");
  assert.equal(served.lines.length, 1);
  assert.equal(JSON.parse(served.lines[0]).event, "error");
});
