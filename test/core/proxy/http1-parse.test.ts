import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Fields } from "../../../core/http/message.ts";
import {
  ChunkedDecoder,
  encodeChunk,
  encodeRequestHead,
  findHeadEnd,
  parseResponseHead,
  ProtocolError,
} from "../../../core/proxy/http1-parse.ts";

/** Fields from anything `Headers` takes (names lower-cased and sorted, as Headers gives them). */
const fieldsOf = (init: HeadersInit = []) => Fields.of(new Headers(init));

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const text = (data: Uint8Array) => String.fromCharCode(...data);

/** Feeds `pieces` to a fresh decoder and returns the decoded body and the decoder. */
function decode(pieces: Uint8Array[]) {
  const decoder = new ChunkedDecoder();
  let body = "";
  for (const piece of pieces) {
    decoder.push(piece);
    for (let out = decoder.next(); out; out = decoder.next()) body += text(out);
  }
  return { body, decoder };
}

const head = (raw: string) => parseResponseHead(bytes(raw));

describe("http1 wire format", () => {
  test("chunked decoding gives the same body however the bytes are split", () => {
    const wire = bytes("5;ext=1\r\nhello\r\n1 ;x\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\nOther: o\r\n\r\n");
    const whole = decode([wire]);
    assert.equal(whole.body, "hello 0123456789");
    assert.equal(whole.decoder.done, true);
    assert.equal(whole.decoder.excess, 0);
    for (let cut = 1; cut < wire.length; cut++) {
      const split = decode([wire.subarray(0, cut), wire.subarray(cut)]);
      assert.equal(split.body, "hello 0123456789", `split at ${cut}`);
      assert.equal(split.decoder.done, true);
    }
    const byteWise = decode(Array.from(wire, (_, i) => wire.subarray(i, i + 1)));
    assert.equal(byteWise.body, "hello 0123456789");
    assert.equal(byteWise.decoder.done, true);
  });

  test("chunked decoding reports bytes after the body and rejects malformed framing", () => {
    assert.equal(decode([bytes("1\r\na\r\n0\r\n\r\nHTTP/1.1")]).decoder.excess, 8);
    assert.equal(decode([bytes("1\r\na\r\n0\r\n")]).decoder.done, false);
    for (const wire of ["zz\r\n", "5\nhello", "\r\n", "5\r\nhelloXY", "5 x\r\n", "ffffffffffffff\r\n", "1".repeat(5000)]) {
      assert.throws(() => decode([bytes(wire)]), ProtocolError, JSON.stringify(wire.slice(0, 20)));
    }
  });

  test("the head ends at the first CRLFCRLF, whatever CRs come before", () => {
    assert.equal(findHeadEnd(bytes("HTTP/1.1 200 OK\r\r\nA: b\r\n\r\nbody\r\n\r\n"), 0), 22);
    assert.equal(findHeadEnd(bytes("HTTP/1.1 200 OK\r\n\r"), 0), -1);
    assert.equal(findHeadEnd(bytes("\r\n\r\n"), 1), -1);
  });

  test("framing and keep-alive follow version, Connection and Transfer-Encoding", () => {
    assert.equal(head("HTTP/1.1 200 OK").keepAlive, true);
    assert.equal(head("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close").keepAlive, false);
    assert.equal(head("HTTP/1.0 200 OK").keepAlive, false);
    assert.equal(head("HTTP/1.0 200 OK\r\nConnection: keep-alive").keepAlive, true);
    assert.equal(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked").chunked, true);
    assert.equal(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip").chunked, false);
    assert.equal(head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\ncontent-length: 5").contentLength, 5);
    assert.equal(head("HTTP/1.1 200").status, 200);
    assert.equal(head("HTTP/1.1 404 Not Found\r\nA:\r\nB:  spaced \t").fields.get("b"), "spaced");
    for (const raw of ["HTTP/1.1 20 OK", "HTTP/1.1 200OK", "http/1.1 200 OK", "HTTP/1.1 200 OK\r\nContent-Length: -1"]) {
      assert.throws(() => head(raw), ProtocolError, raw);
    }
  });

  test("request heads and chunks are encoded byte for byte", () => {
    const headers = fieldsOf({ host: "h", "x-name": "caf\xe9", "content-length": "3" });
    assert.equal(
      text(encodeRequestHead("PUT", "/p?q", headers, 3)),
      "PUT /p?q HTTP/1.1\r\nhost: h\r\nx-name: caf\xe9\r\ncontent-length: 3\r\n\r\n",
    );
    headers.set("transfer-encoding", "gzip");
    assert.equal(
      text(encodeRequestHead("POST", "/", headers, -1)),
      "POST / HTTP/1.1\r\nhost: h\r\nx-name: caf\xe9\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    assert.equal(text(encodeRequestHead("GET", "/", headers, null)), "GET / HTTP/1.1\r\nhost: h\r\nx-name: caf\xe9\r\n\r\n", "no body: no framing header, whatever the caller's headers said");
    assert.equal(text(encodeChunk(new Uint8Array(26).fill(97))), `1a\r\n${"a".repeat(26)}\r\n`);
  });
});
