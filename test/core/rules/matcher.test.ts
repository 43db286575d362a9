import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Fields, type ClientRequest } from "../../../core/http/message.ts";
import type { ConnInfo } from "../../../core/ports.ts";
import { compileMatcher, matchesEverything } from "../../../core/rules/matcher.ts";
import { clientAddressOf } from "../../../core/rules/client-address.ts";
import { compileCidrs } from "../../../core/proxy/ip.ts";
import type { Matcher } from "../../../core/rules/schema.ts";

interface Shape {
  method?: string;
  target?: string;
  host?: string;
  headers?: Record<string, string>;
  client?: string;
  tls?: { version?: string; serverName?: string };
}

function matches(matcher: Matcher, shape: Shape = {}): boolean {
  const target = shape.target ?? "/";
  const request = {
    method: shape.method ?? "GET",
    target,
    host: shape.host ?? "shop.example.com",
    fields: Fields.of(Object.entries(shape.headers ?? {})),
  } as ClientRequest;
  const conn: ConnInfo = { remoteAddress: shape.client ?? "192.0.2.7", tls: shape.tls !== undefined, tlsSession: shape.tls };
  const query = target.indexOf("?");
  return compileMatcher(matcher)({ request, path: query === -1 ? target : target.slice(0, query), clientAddress: conn.remoteAddress, conn });
}

describe("matchers", () => {
  test("clientIp: addresses and CIDRs, v4 and v6", () => {
    assert.equal(matches({ clientIp: "192.0.2.0/24" }), true);
    assert.equal(matches({ clientIp: ["10.0.0.0/8", "192.0.2.7"] }), true);
    assert.equal(matches({ clientIp: "10.0.0.0/8" }), false);
    assert.equal(matches({ clientIp: "2001:db8::/32" }, { client: "2001:db8::5" }), true);
    assert.equal(matches({ clientIp: "2001:db8::/32" }, { client: "2001:db9::5" }), false);
  });

  test("method: exact, any of a list", () => {
    assert.equal(matches({ method: ["POST", "PUT"] }, { method: "PUT" }), true);
    assert.equal(matches({ method: "POST" }, { method: "GET" }), false);
    assert.equal(matches({ method: "POST" }, { method: "post" }), false, "methods are case-sensitive");
  });

  test("host: exact without port and case, or any subdomain", () => {
    assert.equal(matches({ host: "shop.example.com" }, { host: "Shop.Example.com:8443" }), true);
    assert.equal(matches({ host: "*.example.com" }, { host: "a.b.example.com" }), true);
    assert.equal(matches({ host: "*.example.com" }, { host: "example.com" }), false);
    assert.equal(matches({ host: "*.example.com" }, { host: "badexample.com" }), false);
    assert.equal(matches({ host: "other.test" }), false);
  });

  test("path: prefix on segment boundaries, exact, regex without the query", () => {
    assert.equal(matches({ path: { prefix: "/api" } }, { target: "/api/v1" }), true);
    assert.equal(matches({ path: { prefix: "/api/" } }, { target: "/api" }), true);
    assert.equal(matches({ path: { prefix: "/api" } }, { target: "/apix" }), false);
    assert.equal(matches({ path: { exact: "/login" } }, { target: "/login?next=/" }), true);
    assert.equal(matches({ path: { exact: "/login" } }, { target: "/login/x" }), false);
    assert.equal(matches({ path: { regex: "\\.jsp$" } }, { target: "/a/b.jsp?x=.php" }), true);
    assert.equal(matches({ path: { regex: "\\.php$" } }, { target: "/a/b.jsp?x=.php" }), false);
  });

  test("query: present, equals (decoded), prefix, regex; any of repeated values", () => {
    assert.equal(matches({ query: { name: "debug", present: true } }, { target: "/?debug" }), true);
    assert.equal(matches({ query: { name: "debug", present: false } }, { target: "/?debug=1" }), false);
    assert.equal(matches({ query: { name: "debug", present: false } }, { target: "/" }), true);
    assert.equal(matches({ query: { name: "q", equals: "a b" } }, { target: "/?q=a%20b" }), true);
    assert.equal(matches({ query: { name: "q", equals: "a b" } }, { target: "/?q=a+b" }), true);
    assert.equal(matches({ query: { name: "id", prefix: "adm" } }, { target: "/?id=user&id=admin" }), true);
    assert.equal(matches({ query: { name: "id", regex: "^[0-9]+$" } }, { target: "/?id=12a" }), false);
  });

  test("header: present, absent, equals, prefix, regex; several lines joined", () => {
    const headers = { "x-api-key": "k-123", accept: "text/html" };
    assert.equal(matches({ header: { name: "X-Api-Key", present: true } }, { headers }), true);
    assert.equal(matches({ header: { name: "authorization", present: false } }, { headers }), true);
    assert.equal(matches({ header: { name: "x-api-key", equals: "k-123" } }, { headers }), true);
    assert.equal(matches({ header: { name: "x-api-key", equals: "k-12" } }, { headers }), false);
    assert.equal(matches({ header: { name: "accept", prefix: "text/" } }, { headers }), true);
    assert.equal(matches({ header: { name: "user-agent", regex: "curl|wget" } }, { headers: { "user-agent": "Wget/1.21" } }), false);
    assert.equal(matches({ header: { name: "user-agent", regex: "[Cc]url|[Ww]get" } }, { headers: { "user-agent": "Wget/1.21" } }), true);
    assert.equal(matches({ header: { name: "missing", regex: ".*" } }, { headers }), false, "an absent field fails every value test but present: false");
  });

  test("cookie: by name among several", () => {
    const headers = { cookie: "a=1; JSESSIONID=ABC.node1; theme=dark" };
    assert.equal(matches({ cookie: { name: "JSESSIONID", regex: "\\.node1$" } }, { headers }), true);
    assert.equal(matches({ cookie: { name: "theme", equals: "light" } }, { headers }), false);
    assert.equal(matches({ cookie: { name: "admin", present: false } }, { headers }), true);
  });

  test("sni and tlsVersion: from the TLS handshake; a plain request has neither", () => {
    const tls = { version: "TLSv1.3", serverName: "api.example.com" };
    assert.equal(matches({ sni: "*.example.com" }, { tls }), true);
    assert.equal(matches({ sni: "www.example.com" }, { tls }), false);
    assert.equal(matches({ tlsVersion: "1.3" }, { tls }), true);
    assert.equal(matches({ tlsVersion: ["1.2"] }, { tls }), false);
    assert.equal(matches({ sni: "*.example.com" }), false);
    assert.equal(matches({ tlsVersion: ["1.2", "1.3"] }), false);
  });

  test("keys together, all, any, not", () => {
    const admin = { path: { prefix: "/admin" }, not: { clientIp: "10.0.0.0/8" } };
    assert.equal(matches(admin, { target: "/admin/x" }), true);
    assert.equal(matches(admin, { target: "/admin/x", client: "10.1.1.1" }), false);
    assert.equal(matches(admin, { target: "/shop" }), false);
    assert.equal(matches({ any: [{ method: "POST" }, { path: { exact: "/x" } }] }, { target: "/x" }), true);
    assert.equal(matches({ any: [{ method: "POST" }, { path: { exact: "/x" } }] }, { target: "/y" }), false);
    assert.equal(matches({ all: [{ method: "GET" }, { host: "shop.example.com" }] }), true);
    assert.equal(matches({ all: [{ method: "GET" }, { host: "x.test" }] }), false);
    assert.equal(matches({}), true);
  });

  test("matchesEverything tells a matcher no request can fail", () => {
    assert.equal(matchesEverything(undefined), true);
    assert.equal(matchesEverything({}), true);
    assert.equal(matchesEverything({ path: { prefix: "/" } }), true);
    assert.equal(matchesEverything({ any: [{ method: "GET" }, {}] }), true);
    assert.equal(matchesEverything({ method: "GET" }), false);
  });
});

describe("the client behind trusted proxies", () => {
  const trusted = compileCidrs(["10.0.0.0/8"]);

  test("is the right-most address a trusted proxy did not add", () => {
    assert.equal(clientAddressOf("10.0.0.2", "198.51.100.1, 192.0.2.7, 10.0.0.9", trusted), "192.0.2.7");
  });

  test("is the peer when the peer is not trusted, whatever it claims", () => {
    assert.equal(clientAddressOf("192.0.2.9", "10.0.0.1", trusted), "192.0.2.9");
  });

  test("stops at a hop that is not an address", () => {
    assert.equal(clientAddressOf("10.0.0.2", "192.0.2.1, garbage", trusted), "10.0.0.2");
    assert.equal(clientAddressOf("10.0.0.2", null, trusted), "10.0.0.2");
  });
});
