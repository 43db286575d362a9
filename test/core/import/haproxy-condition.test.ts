/** An HAProxy if/unless condition read into alternatives of (negated) ACL terms, which routes and rules both build on. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { aclLineOf, conditionOf } from "../../../core/import/haproxy-condition.ts";
import type { Use } from "../../../core/import/haproxy-lex.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importHaproxy } from "../../../core/import/haproxy.ts";
import { ImportReport } from "../../../core/import/report.ts";

function aclLine(line: number, words: string[]): Use {
  return { directive: { origin: { file: "haproxy.cfg", line, text: ["acl", ...words].join(" ") }, words: ["acl", ...words], environment: [] }, inherited: false };
}

test("a condition reads as alternatives of terms: named ACLs with all their lines, anonymous ones, negations, names the proxy lacks", () => {
  const api = [aclLine(3, ["api", "path_beg", "/api"]), aclLine(4, ["api", "hdr(host)", "api.example.com"])];
  const read = conditionOf(["unless", "api", "!", "{", "src", "10.0.0.0/8", "}", "or", "!METH_GET", "||", "{", "path", "/x", "}"], new Map([["api", api]]));
  assert.deepEqual(read, {
    unless: true,
    alternatives: [
      [
        { negated: false, lines: [["path_beg", "/api"], ["hdr(host)", "api.example.com"]], acls: api },
        { negated: true, lines: [["src", "10.0.0.0/8"]], acls: [] },
      ],
      [{ negated: true, undeclared: "METH_GET" }],
      [{ negated: false, lines: [["path", "/x"]], acls: [] }],
    ],
  });
});

test("a condition that does not start with if or unless, or leaves a brace open, is refused with the reason", () => {
  assert.deepEqual(conditionOf(["when", "api"], new Map()), { why: 'expected if or unless, found "when"' });
  assert.deepEqual(conditionOf(["if", "{", "path_beg", "/a"], new Map()), { why: "an anonymous ACL without its closing '}'" });
});

test("an ACL line reads as its fetch, match method, case and values; values from a file are named, not read", () => {
  assert.deepEqual(aclLineOf(["hdr(host),lower", "-m", "end", "-n", ".example.com", "--", "-i"]), { criterion: "hdr(host)", method: "end", caseless: true, values: [".example.com", "-i"] });
  assert.deepEqual(aclLineOf(["path_beg", "/api"]), { criterion: "path_beg", method: undefined, caseless: false, values: ["/api"] });
  assert.deepEqual(aclLineOf(["src", "-f", "/etc/haproxy/allow.lst"]), { valuesFile: "/etc/haproxy/allow.lst" });
});

test("an ACL the proxy declares overrides the predefined ACL of its name, in rules as in HAProxy", async () => {
  const draft = new Draft();
  const report = new ImportReport();
  const text = [
    "frontend www",
    "  mode http",
    "  bind 127.0.0.1:8080",
    "  acl LOCALHOST path_beg /local",
    "  http-request deny if LOCALHOST",
    "  http-request deny deny_status 405 if METH_POST",
    "  default_backend app",
    "backend app",
    "  server b 10.0.0.2:80",
  ].join("\n");
  await importHaproxy([{ path: "haproxy.cfg", text }], { draft, report, readInclude: () => Promise.resolve([]) });
  const config = draft.config as { listeners: { rules: unknown[] }[] };
  // METH_POST is the control: undeclared, it still reads as the predefined ACL.
  assert.deepEqual(config.listeners[0].rules, [
    { when: { path: { prefix: "/local" } }, deny: { status: 403 } },
    { when: { method: "POST" }, deny: { status: 405 } },
  ]);
});
