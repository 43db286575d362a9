import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatProblem, validateConfig } from "../../../core/config/load.ts";
import { configJsonSchema } from "../../../core/config/json-schema.ts";
import { edgeWarnings } from "../../../core/config/edge-warnings.ts";

function problemsOf(listenerRules: unknown[], more: { appRules?: unknown[]; tls?: boolean; top?: Record<string, unknown> } = {}): string[] {
  const result = validateConfig({
    listeners: [{ address: "127.0.0.1:8080", rules: listenerRules }],
    pools: {
      app: { members: [{ name: "a", url: "http://127.0.0.1:9000" }], rules: more.appRules ?? [] },
      other: { members: [{ name: "b", url: "http://127.0.0.1:9001" }] },
    },
    ...more.top,
  });
  return result.ok ? [] : result.problems.map(formatProblem);
}

function assertProblem(problems: string[], pattern: RegExp): void {
  assert.ok(problems.some((problem) => pattern.test(problem)), `expected ${pattern} among:\n${problems.join("\n")}`);
}

describe("checking rules", () => {
  test("a valid set of rules passes (the control)", () => {
    assert.deepEqual(problemsOf([
      { when: { path: { regex: "^/api/v[0-9]+/" } }, route: "other" },
      { when: { clientIp: ["10.0.0.0/8"], not: { method: ["GET", "HEAD"] } }, deny: { status: 405 } },
      { responseHeaders: { del: ["Server"], set: { "X-Frame-Options": "DENY" } } },
      { rateLimit: "per-client", over: { tarpit: "3s" } },
    ], { top: { rateLimits: { "per-client": { requests: 10, per: "1s" } } } }), []);
  });

  test("an unknown matcher or action is named by its path", () => {
    assertProblem(problemsOf([{ when: { any: [{ method: "GET" }, { ip: "10.0.0.1" }] }, deny: {} }]), /^listeners\[0\]\.rules\[0\]\.when\.any\[1\]\.ip: no such key/);
    assertProblem(problemsOf([{ block: true }]), /^listeners\[0\]\.rules\[0\]\.block: no such key/);
  });

  test("a rule needs exactly one action, and over only with rateLimit", () => {
    assertProblem(problemsOf([{ deny: {}, allow: true }]), /^listeners\[0\]\.rules\[0\]: exactly one action/);
    assertProblem(problemsOf([{ when: { method: "GET" } }]), /^listeners\[0\]\.rules\[0\]: exactly one action/);
    assertProblem(problemsOf([{ deny: {}, over: { status: 429 } }]), /over only with rateLimit/);
  });

  test("a regex the linear-time engine cannot run is refused with the reason", () => {
    assertProblem(problemsOf([{ when: { path: { regex: "^/(a)\\1" } }, deny: {} }]), /rules\[0\]\.when\.path\.regex: .*backreferences/);
    assertProblem(problemsOf([{ when: { header: { name: "x", regex: "a(?=b)" } }, deny: {} }]), /when\.header\.regex: .*lookahead/);
    assertProblem(problemsOf([{ when: { cookie: { name: "c", regex: "[a-" } }, deny: {} }]), /when\.cookie\.regex: .*unterminated/);
  });

  test("rules that can never match are refused", () => {
    assertProblem(problemsOf([{ when: { path: { regex: "[^\\s\\S]" } }, deny: {} }]), /when\.path\.regex: a regex some text can match/);
    assertProblem(problemsOf([{ when: { not: {} }, deny: {} }]), /when\.not: a matcher some request fails/);
    assertProblem(problemsOf([{ when: { sni: "a.example.com" }, deny: {} }]), /rules\[0\]\.when\.sni: sni only on a listener with tls/);
    assertProblem(problemsOf([{ when: { all: [{ tlsVersion: "1.2" }] }, deny: {} }]), /when\.all\[0\]\.tlsVersion: tlsVersion only on a listener with tls/);
    assertProblem(problemsOf([{ deny: {} }, { when: { method: "GET" }, allow: true }]), /^listeners\[0\]\.rules\[1\]: a rule that can act: listeners\[0\]\.rules\[0\] \(deny\)/);
    assert.deepEqual(problemsOf([{ requestHeaders: { set: { "X-A": "1" } } }, { deny: {} }]), [], "control: a header edit does not end the list");
  });

  test("route names a pool, and only in a listener's rules; rateLimit names a limit", () => {
    assertProblem(problemsOf([{ route: "nowhere" }]), /rules\[0\]\.route: one of the pools "app" \| "other"/);
    assertProblem(problemsOf([], { appRules: [{ route: "other" }] }), /^pools\.app\.rules\[0\]\.route: route only in a listener's rules/);
    assertProblem(problemsOf([{ rateLimit: "missing" }]), /rules\[0\]\.rateLimit: one of the rateLimits none defined/);
  });

  test("header edits may not touch what frames or routes the message; values no line breaks", () => {
    assertProblem(problemsOf([{ requestHeaders: { set: { "Content-Length": "0" } } }]), /requestHeaders\.set\.Content-Length: a header other than/);
    assertProblem(problemsOf([{ responseHeaders: { del: ["transfer-encoding"] } }]), /responseHeaders\.del\[0\]: a header other than/);
    assertProblem(problemsOf([{ requestHeaders: { add: { "X-A": "1\r\nX-B: 2" } } }]), /a header value without CR, LF or NUL/);
  });

  test("clientIp entries are addresses or ranges that parse", () => {
    assertProblem(problemsOf([{ when: { clientIp: ["10.0.0.0/33"] }, deny: {} }]), /when\.clientIp\[0\]: an IP address or CIDR/);
    assertProblem(problemsOf([{ when: { clientIp: "300.1.1.1" }, deny: {} }]), /when\.clientIp: .*IP address or CIDR/);
    assertProblem(problemsOf([{ when: { clientIp: "2001:db8::/129" }, deny: {} }]), /when\.clientIp: .*IP address or CIDR/);
    assert.deepEqual(problemsOf([{ when: { clientIp: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"] }, deny: {} }]), [], "control");
  });

  test("a redirect's placeholders are known ones", () => {
    assertProblem(problemsOf([{ redirect: { location: "https://{hostname}/" } }]), /redirect\.location: a location whose placeholders/);
  });

  test("the JSON Schema for editors includes rules (recursive matchers by reference)", () => {
    const text = JSON.stringify(configJsonSchema());
    assert.match(text, /"tlsVersion"/);
    assert.match(text, /"\$ref"/);
  });

  test("check --edge: an edge worker applies the first listener's rules, and never matches sni or tlsVersion", () => {
    const result = validateConfig({
      listeners: [
        { address: "127.0.0.1:8080", tls: { certificates: [{ cert: "c.pem", key: "k.pem" }] }, rules: [{ when: { any: [{ sni: "a.example.com" }] }, deny: {} }, { when: { method: "GET" }, deny: {} }] },
        { address: "127.0.0.1:8081", rules: [{ deny: {} }] },
      ],
      pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9000" }] } },
    });
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    const paths = edgeWarnings(result.config).map((warning) => warning.path);
    assert.ok(paths.includes("listeners[1].rules"), paths.join(", "));
    assert.ok(paths.includes("listeners[0].rules[0].when"), paths.join(", "));
    assert.ok(!paths.includes("listeners[0].rules[1].when"), "control: a method matcher works on the edge");
  });
});
