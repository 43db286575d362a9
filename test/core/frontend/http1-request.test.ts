import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Fields } from "../../../core/http/message.ts";
import {
  encodeResponseHead,
  parseRequestHead,
  reasonPhrase,
  RequestError,
  type RequestHead,
  type RequestLimits,
} from "../../../core/frontend/http1-request.ts";

/** Fields from anything `Headers` takes (names lower-cased and sorted, as Headers gives them). */
const fieldsOf = (init: HeadersInit = []) => Fields.of(new Headers(init));

const LIMITS: RequestLimits = { headBytes: 8192, fields: 20, targetBytes: 512 };
const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const text = (data: Uint8Array) => Array.from(data, (b) => String.fromCharCode(b)).join("");

/** Parses `lines` joined by CRLF (a head without its final blank line). */
const parse = (lines: string[], limits = LIMITS): RequestHead => parseRequestHead(bytes(lines.join("\r\n")), limits);

function refusal(lines: string[], limits = LIMITS): { status: number; reason: string } | undefined {
  try {
    parse(lines, limits);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RequestError, `not a RequestError: ${error}`);
    return { status: error.status, reason: error.reason };
  }
}

const get = (...fields: string[]) => ["GET / HTTP/1.1", "Host: app", ...fields];
const post = (...fields: string[]) => ["POST /upload HTTP/1.1", "Host: app", ...fields];

describe("request head: accepted forms", () => {
  test("origin-form: method, target, path, host, version, and fields as sent with lower-case names", () => {
    const head = parse(["GET /a/b?x=1&y=%20 HTTP/1.1", "Host: app.example:8080", "X-Thing:  padded\t ", "x-other:"]);
    assert.equal(head.method, "GET");
    assert.equal(head.target, "/a/b?x=1&y=%20");
    assert.equal(head.path, "/a/b?x=1&y=%20");
    assert.equal(head.host, "app.example:8080");
    assert.equal(head.version, "HTTP/1.1");
    assert.deepEqual([...head.fields], [["host", "app.example:8080"], ["x-thing", "padded"], ["x-other", ""]]);
    assert.deepEqual(head.framing, { type: "none" });
    assert.equal(head.keepAlive, true);
    assert.equal(head.expectContinue, false);
    assert.equal(head.upgrade, false);
  });

  test("absolute-form: the authority is the host and wins over the Host field", () => {
    const head = parse(["GET http://origin.example:81/p?q HTTP/1.1", "Host: other"]);
    assert.equal(head.host, "origin.example:81");
    assert.equal(head.path, "/p?q");
    assert.equal(head.target, "http://origin.example:81/p?q");
    assert.equal(parse(["GET HTTPS://a.example HTTP/1.1", "Host: a.example"]).path, "/");
    assert.equal(parse(["GET http://a.example?x=1 HTTP/1.1", "Host: a.example"]).path, "/?x=1");
  });

  test("hosts: names, IPv4, IPv6 literals, percent-encoding, sub-delims and ports", () => {
    for (const host of ["a", "app.example", "192.0.2.1:80", "[::1]", "[2001:db8::1]:8443", "a%41b", "a_b-c~d", "x!$&'()*+,;=y:65535"]) {
      assert.equal(parse(["GET / HTTP/1.1", `Host: ${host}`]).host, host);
    }
  });

  test("methods are tokens in any case, unknown ones included; HTTP/1.0 is accepted", () => {
    for (const method of ["get", "PURGE", "M-SEARCH", "X_Custom!"]) {
      assert.equal(parse([`${method} / HTTP/1.1`, "Host: a"]).method, method);
    }
    assert.equal(parse(["GET / HTTP/1.0", "Host: a"]).version, "HTTP/1.0");
  });

  test("field values keep HTAB inside and obs-text bytes", () => {
    const head = parse(get("X-A: one\ttwo", "X-B: caf\xe9"));
    assert.deepEqual([...head.fields].slice(1), [["x-a", "one\ttwo"], ["x-b", "caf\xe9"]]);
  });

  test("framing: Content-Length, repeated identical lengths, chunked in any case", () => {
    assert.deepEqual(parse(post("Content-Length: 12")).framing, { type: "length", length: 12 });
    assert.deepEqual(parse(post("Content-Length: 0")).framing, { type: "none" });
    assert.deepEqual(parse(post("Content-Length: 5", "content-length: 5")).framing, { type: "length", length: 5 });
    assert.deepEqual(parse(post("Content-Length: 5 , 5")).framing, { type: "length", length: 5 });
    assert.deepEqual(parse(post("Transfer-Encoding: chunked")).framing, { type: "chunked" });
    assert.deepEqual(parse(post("transfer-encoding:\tChunked ")).framing, { type: "chunked" });
    assert.deepEqual(parse(get("Content-Length: 0")).framing, { type: "none" });
  });

  test("keep-alive follows version and Connection", () => {
    assert.equal(parse(get()).keepAlive, true);
    assert.equal(parse(get("Connection: Close")).keepAlive, false);
    assert.equal(parse(get("Connection: foo, close")).keepAlive, false);
    assert.equal(parse(["GET / HTTP/1.0", "Host: a"]).keepAlive, false);
    assert.equal(parse(["GET / HTTP/1.0", "Host: a", "Connection: Keep-Alive"]).keepAlive, true);
    assert.equal(parse(["GET / HTTP/1.0", "Host: a", "Connection: keep-alive, close"]).keepAlive, false);
  });

  test("Expect: 100-continue on HTTP/1.1; ignored on HTTP/1.0", () => {
    assert.equal(parse(post("Content-Length: 3", "Expect: 100-Continue")).expectContinue, true);
    assert.equal(parse(["POST / HTTP/1.0", "Host: a", "Content-Length: 3", "Expect: 100-continue"]).expectContinue, false);
  });

  test("WebSocket upgrade needs GET, HTTP/1.1, Upgrade: websocket and Connection: upgrade", () => {
    assert.equal(parse(get("Upgrade: WebSocket", "Connection: keep-alive, Upgrade")).upgrade, true);
    assert.equal(parse(get("Upgrade: websocket")).upgrade, false);
    assert.equal(parse(get("Connection: upgrade", "Upgrade: TLS/1.2")).upgrade, false);
    assert.equal(parse(["POST / HTTP/1.1", "Host: a", "Upgrade: websocket", "Connection: upgrade"]).upgrade, false);
    assert.equal(parse(["GET / HTTP/1.0", "Host: a", "Upgrade: websocket", "Connection: upgrade"]).upgrade, false);
  });
});

describe("request head: refusals", () => {
  const cases: [string, string[], number][] = [
    // request line
    ["double space", ["GET  / HTTP/1.1", "Host: a"], 400],
    ["trailing space", ["GET / HTTP/1.1 ", "Host: a"], 400],
    ["tab separator", ["GET\t/ HTTP/1.1", "Host: a"], 400],
    ["no version", ["GET /", "Host: a"], 400],
    ["empty line", ["", "Host: a"], 400],
    ["method not a token", ["GE(T / HTTP/1.1", "Host: a"], 400],
    ["lower-case version", ["GET / http/1.1", "Host: a"], 400],
    ["malformed version", ["GET / HTTP/1.10", "Host: a"], 400],
    ["HTTP/2.0", ["GET / HTTP/2.0", "Host: a"], 505],
    // h2c smuggling: the member would take the connection as an HTTP/2 tunnel
    ["Upgrade: h2c", ["GET / HTTP/1.1", "Host: a", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"], 400],
    ["h2c among upgrade tokens", ["GET / HTTP/1.1", "Host: a", "Connection: upgrade", "Upgrade: websocket, H2C"], 400],
    ["HTTP/1.2", ["GET / HTTP/1.2", "Host: a"], 505],
    ["HTTP/0.9", ["GET / HTTP/0.9", "Host: a"], 505],
    ["fragment", ["GET /a#b HTTP/1.1", "Host: a"], 400],
    ["non-ASCII target", ["GET /caf\xe9 HTTP/1.1", "Host: a"], 400],
    ["DEL in target", ["GET /a\x7f HTTP/1.1", "Host: a"], 400],
    ["bare LF in request line", ["GET /a\nb HTTP/1.1", "Host: a"], 400],
    ["target too long", [`GET /${"a".repeat(512)} HTTP/1.1`, "Host: a"], 414],
    ["asterisk-form", ["OPTIONS * HTTP/1.1", "Host: a"], 400],
    ["authority-form", ["CONNECT a.example:443 HTTP/1.1", "Host: a.example:443"], 400],
    ["CONNECT with a path", ["CONNECT / HTTP/1.1", "Host: a"], 400],
    ["relative target", ["GET a/b HTTP/1.1", "Host: a"], 400],
    ["other scheme", ["GET ftp://a/b HTTP/1.1", "Host: a"], 400],
    ["absolute-form with userinfo", ["GET http://u@a/ HTTP/1.1", "Host: a"], 400],
    ["absolute-form with empty authority", ["GET http:///x HTTP/1.1", "Host: a"], 400],
    ["absolute-form with a bad Host field", ["GET http://a/ HTTP/1.1", "Host: a b"], 400],
    ["absolute-form without Host", ["GET http://a/ HTTP/1.1"], 400],
    // field lines
    ["space before colon", get("Host : a"), 400],
    ["tab before colon", get("X-A\t: b"), 400],
    ["obs-fold", get("X-A: b", " c"), 400],
    ["obs-fold with tab", get("X-A: b", "\tc"), 400],
    ["no colon", get("X-A b"), 400],
    ["empty name", get(": b"), 400],
    ["NUL in value", get("X-A: a\x00b"), 400],
    ["bare CR in value", get("X-A: a\rb"), 400],
    ["bare LF in value", get("X-A: a\nb"), 400],
    ["vertical tab in value", get("X-A: a\x0bb"), 400],
    ["DEL in value", get("X-A: a\x7f"), 400],
    ["non-token name", get("X[A]: b"), 400],
    // Host
    ["no Host", ["GET / HTTP/1.1"], 400],
    ["no Host on HTTP/1.0", ["GET / HTTP/1.0"], 400],
    ["two Host fields", get("Host: a"), 400],
    ["two Host fields differing", get("Host: b"), 400],
    ["empty Host", ["GET / HTTP/1.1", "Host: "], 400],
    ["space in Host", ["GET / HTTP/1.1", "Host: a b"], 400],
    ["slash in Host", ["GET / HTTP/1.1", "Host: a/ins/admin#"], 400],
    ["question mark in Host", ["GET / HTTP/1.1", "Host: a?b"], 400],
    ["hash in Host", ["GET / HTTP/1.1", "Host: a#b"], 400],
    ["at in Host", ["GET / HTTP/1.1", "Host: u@a"], 400],
    ["backslash in Host", ["GET / HTTP/1.1", "Host: a\\b"], 400],
    ["comma list in Host", ["GET / HTTP/1.1", "Host: a, b"], 400],
    ["empty port", ["GET / HTTP/1.1", "Host: a:"], 400],
    ["port too large", ["GET / HTTP/1.1", "Host: a:65536"], 400],
    ["port not digits", ["GET / HTTP/1.1", "Host: a:8x"], 400],
    ["bad percent-encoding", ["GET / HTTP/1.1", "Host: a%4"], 400],
    ["unclosed IPv6", ["GET / HTTP/1.1", "Host: [::1"], 400],
    ["non-ASCII Host", ["GET / HTTP/1.1", "Host: caf\xe9"], 400],
    // Content-Length
    ["signed length", post("Content-Length: +5"), 400],
    ["hex length", post("Content-Length: 0x5"), 400],
    ["differing lengths in a list", post("Content-Length: 5, 6"), 400],
    ["differing length fields", post("Content-Length: 5", "Content-Length: 6"), 400],
    ["empty length", post("Content-Length: "), 400],
    ["empty list member", post("Content-Length: 5,"), 400],
    ["length with inner space", post("Content-Length: 1 2"), 400],
    ["absurd length", post(`Content-Length: ${"9".repeat(16)}`), 400],
    // Transfer-Encoding
    ["gzip then chunked", post("Transfer-Encoding: gzip, chunked"), 501],
    ["chunked then identity", post("Transfer-Encoding: chunked, identity"), 400],
    ["chunked twice", post("Transfer-Encoding: chunked, chunked"), 400],
    ["xchunked", post("Transfer-Encoding: xchunked"), 400],
    ["identity", post("Transfer-Encoding: identity"), 400],
    ["chunked with a parameter", post("Transfer-Encoding: chunked;q=1"), 400],
    ["empty coding", post("Transfer-Encoding: , chunked"), 400],
    ["two fields", post("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), 400],
    ["split over two fields", post("Transfer-Encoding: gzip", "Transfer-Encoding: chunked"), 400],
    ["vertical tab before chunked", post("Transfer-Encoding: \x0bchunked"), 400],
    ["folded chunked", post("Transfer-Encoding:", " chunked"), 400],
    ["TE on HTTP/1.0", ["POST / HTTP/1.0", "Host: a", "Transfer-Encoding: chunked"], 400],
    ["CL and TE", post("Content-Length: 5", "Transfer-Encoding: chunked"), 400],
    ["TE and CL", post("Transfer-Encoding: chunked", "Content-Length: 5"), 400],
    // bodies the web Request cannot carry
    ["GET with a length", get("Content-Length: 1"), 400],
    ["GET chunked", get("Transfer-Encoding: chunked"), 400],
    ["HEAD with a length", ["HEAD / HTTP/1.1", "Host: a", "Content-Length: 2"], 400],
    ["lower-case get with a length", ["get / HTTP/1.1", "Host: a", "Content-Length: 2"], 400],
    // Expect
    ["other expectation", post("Content-Length: 1", "Expect: 200-ok"), 417],
    ["expectation list", post("Content-Length: 1", "Expect: 100-continue, x"), 417],
  ];
  for (const [name, lines, status] of cases) {
    test(`${name} → ${status}`, () => {
      assert.equal(refusal(lines)?.status, status);
    });
  }

  test("limits: fields → 431, head bytes → 431", () => {
    const fields = Array.from({ length: 20 }, (_, i) => `X-${i}: v`);
    assert.equal(refusal(get(...fields.slice(1)), LIMITS), undefined);
    assert.equal(refusal(get(...fields), LIMITS)?.status, 431);
    const small = { ...LIMITS, headBytes: 64 };
    assert.equal(refusal(get(`X-Big: ${"v".repeat(40)}`), small)?.status, 431);
  });

  test("reasons never carry the client's bytes", () => {
    const found = refusal(get("X-Secret\x01: <script>"));
    assert.ok(found && !found.reason.includes("script") && !found.reason.includes("Secret"));
  });
});

describe("response head", () => {
  test("status line with the standard reason, set-cookie on separate lines, framing from the argument", () => {
    const headers = fieldsOf([["content-type", "text/plain"], ["set-cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"], ["set-cookie", "b=2"]]);
    headers.set("content-length", "999");
    headers.set("transfer-encoding", "gzip");
    headers.set("connection", "keep-alive, x-hop");
    headers.set("keep-alive", "timeout=5");
    const head = text(encodeResponseHead(200, headers, { type: "length", length: 12 }));
    assert.equal(
      head,
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nset-cookie: a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\n" +
        "set-cookie: b=2\r\ncontent-length: 12\r\n\r\n",
    );
  });

  test("chunked, close-delimited, connection values", () => {
    const headers = fieldsOf({ "x-a": "caf\xe9" });
    assert.equal(
      text(encodeResponseHead(404, headers, { type: "chunked" }, "close")),
      "HTTP/1.1 404 Not Found\r\nx-a: caf\xe9\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    assert.equal(text(encodeResponseHead(200, fieldsOf(), { type: "close" })), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
    assert.equal(
      text(encodeResponseHead(200, fieldsOf(), { type: "length", length: 0 }, "keep-alive")),
      "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
    );
    assert.equal(text(encodeResponseHead(599, fieldsOf(), { type: "length", length: 0 })), "HTTP/1.1 599 \r\ncontent-length: 0\r\n\r\n");
  });

  test("no body: a HEAD or 304 answer keeps its Content-Length, a 204 drops it", () => {
    const headers = fieldsOf({ "content-length": "5" });
    assert.match(text(encodeResponseHead(200, headers, { type: "none" })), /content-length: 5\r\n/);
    assert.match(text(encodeResponseHead(304, headers, { type: "none" })), /content-length: 5\r\n/);
    assert.doesNotMatch(text(encodeResponseHead(204, headers, { type: "none" })), /content-length/);
    assert.equal(reasonPhrase(431), "Request Header Fields Too Large");
  });
});

const tokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 12 });
const reserved = new Set(["host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"]);
const fieldName = token.filter((name) => !reserved.has(name.toLowerCase()));
const fieldValue = fc
  .string({ unit: fc.constantFrom(..."abcXYZ019 \t\"(),/:;<=>?@[]{}\xe9\xff"), maxLength: 20 })
  .map((value) => value.replace(/^[ \t]+|[ \t]+$/g, ""));
const pathChars = fc.constantFrom(..."abcz09-._~!$&'()*+,;=:@/%?{}|^\\\"<>`");
const hostArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{1,6}){0,2}$/),
  fc.ipV4(),
  fc.ipV6().map((ip) => `[${ip}]`),
).chain((host) => fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }).map((port) => port === undefined ? host : `${host}:${port}`));

/** The facts a valid head is made of; the test writes the head and expects to read them back. */
const headFacts = fc.record({
  method: fc.oneof(token.filter((method) => method !== "CONNECT"), fc.constantFrom("GET", "POST", "PUT", "HEAD")),
  path: fc.string({ unit: pathChars, maxLength: 30 }).map((rest) => `/${rest}`),
  absolute: fc.boolean(),
  host: hostArb,
  http10: fc.boolean(),
  fields: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 }),
  length: fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
  chunked: fc.boolean(),
  close: fc.boolean(),
  keepAlive: fc.boolean(),
  expectContinue: fc.boolean(),
  hostFirst: fc.boolean(),
});
type Facts = typeof headFacts extends fc.Arbitrary<infer T> ? T : never;

function writeHead(facts: Facts): string[] {
  const version = facts.http10 ? "HTTP/1.0" : "HTTP/1.1";
  const target = facts.absolute ? `http://${facts.host}${facts.path}` : facts.path;
  const lines = [...facts.fields.map(([name, value]) => `${name}:${value ? ` ${value}` : ""}`)];
  const hostLine = `Host: ${facts.absolute ? "ignored.example" : facts.host}`;
  if (facts.hostFirst) lines.unshift(hostLine);
  else lines.push(hostLine);
  const bodyless = ["GET", "HEAD"].includes(facts.method.toUpperCase());
  if (!bodyless && facts.chunked && !facts.http10) lines.push("Transfer-Encoding: chunked");
  else if (facts.length !== undefined && !(bodyless && facts.length > 0)) lines.push(`Content-Length: ${facts.length}`);
  const connection = [facts.close && "close", facts.keepAlive && "keep-alive"].filter(Boolean).join(", ");
  if (connection) lines.push(`Connection: ${connection}`);
  if (facts.expectContinue) lines.push("Expect: 100-continue");
  return [`${facts.method} ${target} ${version}`, ...lines];
}

describe("request head: properties", () => {
  test("valid heads read back the facts they were written from", () => {
    fc.assert(
      fc.property(headFacts, (facts) => {
        const lines = writeHead(facts);
        const head = parse(lines, { headBytes: 1 << 16, fields: 100, targetBytes: 4096 });
        const bodyless = ["GET", "HEAD"].includes(facts.method.toUpperCase());
        assert.equal(head.method, facts.method);
        assert.equal(head.path, facts.path);
        assert.equal(head.host, facts.host);
        assert.equal(head.version, facts.http10 ? "HTTP/1.0" : "HTTP/1.1");
        assert.deepEqual([...head.fields], lines.slice(1).map((line) => {
          const colon = line.indexOf(":");
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
        }));
        const framing = !bodyless && facts.chunked && !facts.http10
          ? { type: "chunked" }
          : facts.length && !bodyless
          ? { type: "length", length: facts.length }
          : { type: "none" };
        assert.deepEqual(head.framing, framing);
        assert.equal(head.keepAlive, !facts.close && (!facts.http10 || facts.keepAlive));
        assert.equal(head.expectContinue, facts.expectContinue && !facts.http10);
      }),
      { numRuns: 300 },
    );
  });

  test("mutated heads are accepted or refused with a RequestError, nothing else", () => {
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom("replace", "insert", "delete"),
      byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 9, 10, 13, 32, 35, 44, 47, 58, 64)),
    });
    fc.assert(
      fc.property(headFacts, fc.array(mutation, { minLength: 1, maxLength: 4 }), (facts, mutations) => {
        const wire = Array.from(bytes(writeHead(facts).join("\r\n")));
        for (const { at, kind, byte } of mutations) {
          const index = at % (wire.length + 1);
          if (kind === "insert") wire.splice(index, 0, byte);
          else if (kind === "delete") wire.splice(index, 1);
          else wire[index] = byte;
        }
        try {
          const head = parseRequestHead(Uint8Array.from(wire), LIMITS);
          assert.equal(typeof head.host, "string");
        } catch (error) {
          if (!(error instanceof RequestError)) throw error;
          assert.ok([400, 414, 417, 431, 501, 505].includes(error.status), `status ${error.status}`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
