import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ClientRequest, Fields } from "../../../core/http/message.ts";
import { fromWebRequest, fromWebResponse, readerOf, streamOf, toWebRequest, toWebResponse, webHandler } from "../../../core/http/web.ts";

const conn = { remoteAddress: "192.0.2.7", tls: false };

async function readAll(request: ClientRequest): Promise<string> {
  let text = "";
  for (let piece = await request.body?.read(); piece; piece = await request.body!.read()) text += new TextDecoder().decode(piece);
  return text;
}

describe("web front end conversions", () => {
  test("a web Request becomes the compact request: URL's target and host, fields, body and its framing", async () => {
    const request = fromWebRequest(new Request("http://App.Example/a/../b?x=1", {
      method: "POST",
      headers: { "x-one": "1", "content-length": "5" },
      body: "hello",
    }));
    assert.ok("fields" in request);
    assert.equal(request.method, "POST");
    assert.equal(request.target, "/b?x=1");
    assert.equal(request.host, "app.example");
    assert.equal(request.fields.get("x-one"), "1");
    assert.equal(request.fields.get("host"), "app.example");
    assert.equal(request.framing, 5);
    assert.equal(request.webSocket, false);
    assert.equal(await readAll(request), "hello");
  });

  test("framing: none without a body (bar content-length: 0), chunked for a body of unknown length", () => {
    const framing = (init: RequestInit) => {
      const request = fromWebRequest(new Request("http://a/", init));
      return "fields" in request ? request.framing : request.status;
    };
    assert.equal(framing({}), null);
    assert.equal(framing({ method: "POST", headers: { "content-length": "0" } }), 0);
    const stream = new ReadableStream({ start: (controller) => controller.close() });
    assert.equal(framing({ method: "POST", body: stream, duplex: "half" } as RequestInit), -1);
  });

  test("refusals: a Host a URL parser would read as a path, other codings, a bodiless GET claiming a body, CONNECT", () => {
    const refusal = (headers: Record<string, string>, method = "GET") => {
      const request = fromWebRequest(new Request("http://a/", { method, headers }));
      return "fields" in request ? undefined : request.status;
    };
    assert.equal(refusal({ host: "a/b" }), 400);
    assert.equal(refusal({ "transfer-encoding": "gzip" }, "POST"), 501);
    assert.equal(refusal({ "content-length": "5" }), 400);
    assert.equal(refusal({}), undefined);
  });

  test("an h2c upgrade is refused (h2c smuggling), a WebSocket or TLS upgrade is not", () => {
    const refusal = (upgrade: string) => {
      const request = fromWebRequest(new Request("http://a/", { headers: { upgrade, connection: "Upgrade, HTTP2-Settings" } }));
      return "fields" in request ? undefined : request.status;
    };
    assert.equal(refusal("h2c"), 400);
    assert.equal(refusal("websocket, H2C"), 400);
    assert.equal(refusal("websocket"), undefined);
    assert.equal(refusal("TLS/1.2, h2c-ish"), undefined);
  });

  test("a WebSocket handshake is recognised by its Upgrade and Connection tokens", () => {
    const request = fromWebRequest(new Request("http://a/ws", { headers: { upgrade: "WebSocket", connection: "keep-alive, Upgrade" } }));
    assert.ok("fields" in request);
    assert.equal(request.webSocket, true);
  });

  test("answers go both ways with every Set-Cookie line and the body", async () => {
    const answer = fromWebResponse(new Response("body", { status: 201, headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-a", "1"]] }));
    assert.equal(answer.status, 201);
    assert.deepEqual(answer.fields.getSetCookie(), ["a=1", "b=2"]);
    const response = toWebResponse(answer);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(await response.text(), "body");
    const bytes = toWebResponse({ status: 200, fields: new Fields(["x-b", "2"]), body: new TextEncoder().encode("raw") });
    assert.equal(bytes.headers.get("x-b"), "2");
    assert.equal(await bytes.text(), "raw");
  });

  test("a compact request as a web Request: framing fields from the framing, URL from host and target", async () => {
    const pieces = [new TextEncoder().encode("abc")];
    const request = toWebRequest({
      method: "PUT",
      target: "/p?q=1",
      host: "app:8080",
      fields: new Fields(["host", "app:8080", "transfer-encoding", "chunked", "x-a", "1"]),
      body: { read: () => Promise.resolve(pieces.shift() ?? null), cancel: () => {} },
      framing: 3,
      webSocket: false,
      signal: new AbortController().signal,
    }, true);
    assert.equal(request.url, "https://app:8080/p?q=1");
    assert.equal(request.headers.get("transfer-encoding"), null);
    assert.equal(request.headers.get("content-length"), "3");
    assert.equal(await request.text(), "abc");
  });

  test("webHandler serves a fetch-style app through the compact interface", async () => {
    const handler = webHandler(async (request, info) => new Response(`${request.method} ${new URL(request.url).pathname} from ${info.remoteAddress}`));
    const answer = await handler({
      method: "GET",
      target: "/x",
      host: "a",
      fields: new Fields(["host", "a"]),
      body: null,
      framing: null,
      webSocket: false,
      signal: new AbortController().signal,
    }, conn);
    assert.ok(answer && answer.body && !(answer.body instanceof Uint8Array));
    assert.equal(new TextDecoder().decode((await answer.body.read())!), "GET /x from 192.0.2.7");
  });

  test("readerOf and streamOf carry every piece and the end; a reader is taken only at the first read", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1]));
        controller.enqueue(new Uint8Array(0));
        controller.enqueue(new Uint8Array([2, 3]));
        controller.close();
      },
    });
    const reader = readerOf(stream);
    assert.equal(stream.locked, false);
    const back = new Uint8Array(await new Response(streamOf(reader)).arrayBuffer());
    assert.deepEqual([...back], [1, 2, 3]);
  });
});
