import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ClientAbort, Fields, hostnameOf, pathOf, textAnswer } from "../../../core/http/message.ts";

describe("Fields", () => {
  test("keeps lines in order with lower-case names; get joins repeats, Cookie with '; '", () => {
    const fields = Fields.of([["Host", "a"], ["Cookie", "x=1"], ["Accept", "text/html"], ["cookie", "y=2"], ["accept", "*/*"]]);
    assert.deepEqual([...fields], [["host", "a"], ["cookie", "x=1"], ["accept", "text/html"], ["cookie", "y=2"], ["accept", "*/*"]]);
    assert.equal(fields.get("COOKIE"), "x=1; y=2");
    assert.equal(fields.get("accept"), "text/html, */*");
    assert.equal(fields.get("absent"), null);
    assert.equal(fields.has("Host"), true);
  });

  test("set replaces every line of a name where the first one was; delete removes them all", () => {
    const fields = new Fields(["a", "1", "b", "2", "a", "3", "c", "4"]);
    fields.set("A", "9");
    assert.deepEqual(fields.list, ["a", "9", "b", "2", "c", "4"]);
    fields.set("d", "5");
    assert.deepEqual(fields.list, ["a", "9", "b", "2", "c", "4", "d", "5"]);
    fields.append("b", "6");
    fields.delete("B");
    assert.deepEqual(fields.list, ["a", "9", "c", "4", "d", "5"]);
  });

  test("each Set-Cookie stays a line of its own", () => {
    const fields = new Fields(["set-cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "x", "y", "set-cookie", "b=2"]);
    assert.deepEqual(fields.getSetCookie(), ["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"]);
  });

  test("behaves as Headers does for any sequence of changes (bar order and joining, which Headers changes)", () => {
    const name = fc.constantFrom("a", "B", "set-cookie", "c");
    const change = fc.oneof(
      fc.tuple(fc.constant("set"), name, fc.string({ maxLength: 3 })),
      fc.tuple(fc.constant("append"), name, fc.string({ maxLength: 3 })),
      fc.tuple(fc.constant("delete"), name, fc.constant("")),
    );
    fc.assert(fc.property(fc.array(change, { maxLength: 12 }), (changes) => {
      const fields = new Fields();
      const headers = new Headers();
      for (const [kind, key, value] of changes) {
        const safe = value.replace(/[^a-z]/g, "v");
        if (kind === "set") (fields.set(key, safe), headers.set(key, safe));
        else if (kind === "append") (fields.append(key, safe), headers.append(key, safe));
        else (fields.delete(key), headers.delete(key));
      }
      for (const key of ["a", "b", "c"]) {
        assert.equal(fields.has(key), headers.has(key));
        assert.deepEqual(fields.get(key)?.split(", ").sort(), headers.get(key)?.split(", ").sort());
      }
      assert.deepEqual(fields.getSetCookie().sort(), headers.getSetCookie().sort());
    }));
  });
});

describe("message helpers", () => {
  test("pathOf drops the query; hostnameOf drops the port, IPv6 brackets kept", () => {
    assert.equal(pathOf("/a/b?x=1?y"), "/a/b");
    assert.equal(pathOf("/a"), "/a");
    assert.equal(hostnameOf("app.example:8080"), "app.example");
    assert.equal(hostnameOf("[::1]:8080"), "[::1]");
    assert.equal(hostnameOf("[::1]"), "[::1]");
    assert.equal(hostnameOf("app"), "app");
  });

  test("textAnswer: plain text, never cached, extra fields after", () => {
    const answer = textAnswer(503, "503 Service Unavailable\n", ["retry-after", "1"]);
    assert.equal(answer.status, 503);
    assert.deepEqual(answer.fields.list, ["content-type", "text/plain; charset=utf-8", "cache-control", "no-store", "retry-after", "1"]);
    assert.equal(new TextDecoder().decode(answer.body as Uint8Array), "503 Service Unavailable\n");
  });
});

describe("ClientAbort", () => {
  test("runs each listener still registered once, in order, and reports aborted", () => {
    const abort = new ClientAbort();
    const calls: string[] = [];
    const a = () => calls.push("a");
    const b = () => calls.push("b");
    const c = () => calls.push("c");
    abort.addEventListener("abort", a);
    abort.addEventListener("abort", b);
    abort.addEventListener("abort", c);
    abort.removeEventListener("abort", a);
    abort.removeEventListener("abort", b);
    abort.addEventListener("abort", b);
    assert.equal(abort.aborted, false);
    abort.abort();
    abort.abort();
    assert.equal(abort.aborted, true);
    assert.deepEqual(calls.sort(), ["b", "c"]);
  });
});
