import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResponse, DnsFormatError, encodeQuery } from "../../../core/discovery/dns-message.ts";
import { encodeAnswer } from "../../support/dns-answer.ts";

test("a query asks one question, recursion desired, with an EDNS0 payload size", () => {
  const query = encodeQuery(0xbeef, "App.Internal.", "srv");
  const expected = [
    0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
    3, ..."app".split("").map((c) => c.charCodeAt(0)), 8, ..."internal".split("").map((c) => c.charCodeAt(0)), 0,
    0, 33, 0, 1,
    0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
  ];
  assert.deepEqual([...query], expected);
});

test("a name with an empty or too long label is refused before it is sent", () => {
  assert.throws(() => encodeQuery(1, "a..b", "a"), DnsFormatError);
  assert.throws(() => encodeQuery(1, `${"x".repeat(64)}.example`, "a"), DnsFormatError);
});

test("A, AAAA, CNAME and SRV records decode with their TTLs, compressed names followed", () => {
  const bytes = encodeAnswer({
    id: 7,
    question: { name: "_http._tcp.app.internal", type: "srv" },
    answers: [
      { type: "srv", name: "_http._tcp.app.internal", ttl: 30, priority: 1, weight: 20, port: 8080, target: "tc1.app.internal" },
      { type: "cname", name: "alias.internal", ttl: 5, target: "_http._tcp.app.internal" },
    ],
    additional: [
      { type: "a", name: "tc1.app.internal", ttl: 12, address: "10.0.0.5" },
      { type: "aaaa", name: "tc1.app.internal", ttl: 13, address: "2001:db8::5" },
    ],
  });
  const response = decodeResponse(bytes);
  assert.equal(response.id, 7);
  assert.equal(response.rcode, 0);
  assert.equal(response.truncated, false);
  assert.deepEqual(response.question, { name: "_http._tcp.app.internal", type: 33 });
  assert.deepEqual(response.answers, [
    { type: "srv", name: "_http._tcp.app.internal", ttl: 30, priority: 1, weight: 20, port: 8080, target: "tc1.app.internal" },
    { type: "cname", name: "alias.internal", ttl: 5, target: "_http._tcp.app.internal" },
  ]);
  assert.deepEqual(response.additional, [
    { type: "a", name: "tc1.app.internal", ttl: 12, address: "10.0.0.5" },
    { type: "aaaa", name: "tc1.app.internal", ttl: 13, address: "2001:db8::5" },
  ]);
});

test("NXDOMAIN, the TC bit and a TTL with the top bit set (read as 0) come through", () => {
  const nx = decodeResponse(encodeAnswer({ id: 1, rcode: 3, question: { name: "gone.internal", type: "a" } }));
  assert.equal(nx.rcode, 3);
  assert.equal(nx.answers.length, 0);
  const truncated = decodeResponse(encodeAnswer({ id: 1, truncated: true, question: { name: "big.internal", type: "a" } }));
  assert.equal(truncated.truncated, true);
  const huge = decodeResponse(encodeAnswer({ id: 1, question: { name: "x.internal", type: "a" }, answers: [{ type: "a", name: "x.internal", ttl: 0x80000001, address: "10.0.0.1" }] }));
  assert.equal(huge.answers[0].ttl, 0);
});

test("hostile answers are refused: cut short, pointers forward or in a loop, wrong lengths, queries", () => {
  const good = encodeAnswer({ id: 1, question: { name: "x.internal", type: "a" }, answers: [{ type: "a", name: "x.internal", ttl: 1, address: "10.0.0.1" }] });
  for (let cut = 0; cut < good.length; cut++) assert.throws(() => decodeResponse(good.subarray(0, cut)), DnsFormatError, `cut at ${cut}`);
  const forward = good.slice();
  // The answer's owner name is a pointer at 0xc00c: make it point at itself.
  const pointerAt = forward.indexOf(0xc0, 12);
  forward[pointerAt + 1] = pointerAt;
  assert.throws(() => decodeResponse(forward), /point back/);
  // A label run that ends in a pointer back to its own start: refused by the name length limit.
  const loop = new Uint8Array([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(() => decodeResponse(loop), /longer than 255/);
  const wrongLength = good.slice();
  wrongLength[wrongLength.length - 5] = 5;
  assert.throws(() => decodeResponse(wrongLength), DnsFormatError);
  const query = encodeQuery(1, "x.internal", "a");
  assert.throws(() => decodeResponse(query), /a query/);
});
