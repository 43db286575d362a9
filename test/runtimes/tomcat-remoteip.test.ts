/**
 * The README's "Tomcat behind tandem" recipe, on the real Tomcat 10 behind tandem's TLS listener.
 *
 * One Tomcat runs the `<Engine>` of deploy/examples/tomcat-remoteip.xml, read from that file (only
 * internalProxies is changed, to the address tandem connects from here), so the documented text is
 * what is tested. A control Tomcat has the helper's plain Engine, without the valve. The client
 * (curl) connects from 127.0.0.2, tandem from 127.0.0.1, so the two addresses can be told apart.
 *
 * Through tandem over HTTPS the valve's Tomcat sees `request.isSecure()` true, scheme https and the
 * client's address, and its JSESSIONID carries `Secure` (and the jvmRoute); the control sees http,
 * tandem's address, and sets JSESSIONID without `Secure`. The same headers sent to the valve's
 * Tomcat directly from another address than tandem's are not believed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { type Certificates, curl, type CurlResult, makeCertificates } from "../support/certs.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";
import { startTomcat, type TomcatInstance, tomcatAvailable } from "../support/tomcat.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("tomcat-remoteip.test.ts", tomcatAvailable() ? false : "tomcat10 not installed: apt-get install tomcat10");

const LIMIT = { timeout: 30_000 };
const EXAMPLE = new URL("../../deploy/examples/tomcat-remoteip.xml", import.meta.url).pathname;
/** Where the test client connects from, and where tandem connects to Tomcat from. */
const CLIENT = "127.0.0.2";
const TANDEM = "127.0.0.1";

/** The example's `<Engine>`, verbatim but for internalProxies, which names tandem's address here. */
function exampleEngine(): string {
  const text = readFileSync(EXAMPLE, "utf8").replace(/<!--[\s\S]*?-->/g, "");
  const engines = text.match(/<Engine\b[\s\S]*?<\/Engine>/g) ?? [];
  assert.equal(engines.length, 1, `${EXAMPLE} holds one <Engine> element`);
  const engine = engines[0];
  // What the README documents, so a change of the example is a change of the recipe.
  assert.match(engine, /<Engine\b[^>]*\bjvmRoute="tc1"/);
  assert.match(engine, /<Valve\s+className="org\.apache\.catalina\.valves\.RemoteIpValve"/);
  assert.match(engine, /\bremoteIpHeader="x-forwarded-for"/);
  assert.match(engine, /\bprotocolHeader="x-forwarded-proto"/);
  assert.equal(engine.match(/\binternalProxies="[^"]*"/g)?.length, 1, "one internalProxies");
  return engine.replace(/\binternalProxies="[^"]*"/, `internalProxies="${TANDEM.replaceAll(".", "\\.")}"`);
}

/** What the servlet API tells the application, as JSON; the page also creates a session. */
const WHOAMI_JSP = String.raw`<%@ page contentType="application/json; charset=UTF-8" session="true" trimDirectiveWhitespaces="true" %><%!
  static String q(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }
%><%
  out.print("{\"secure\":" + request.isSecure()
    + ",\"scheme\":" + q(request.getScheme())
    + ",\"remoteAddr\":" + q(request.getRemoteAddr())
    + ",\"xForwardedFor\":" + q(request.getHeader("x-forwarded-for"))
    + ",\"xForwardedProto\":" + q(request.getHeader("x-forwarded-proto"))
    + ",\"session\":" + q(session.getId()) + "}");
%>`;

interface Whoami {
  secure: boolean;
  scheme: string;
  remoteAddr: string;
  xForwardedFor: string | null;
  xForwardedProto: string | null;
  session: string;
}

/** GET /whoami.jsp with curl from CLIENT; the page's answer and the JSESSIONID Set-Cookie line. */
async function whoami(url: string, options: { caFile?: string; headers?: Record<string, string>; from?: string } = {}) {
  const args = ["--interface", options.from ?? CLIENT];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push("-H", `${name}: ${value}`);
  const reply: CurlResult = await curl(new URL("/whoami.jsp", url).href, { caFile: options.caFile, args });
  assert.equal(reply.exit, 0, `curl ${url}: ${reply.stderr}`);
  assert.equal(reply.status, 200, reply.body);
  const setCookie = (reply.headers["set-cookie"] ?? "").split("\n").find((line) => line.startsWith("JSESSIONID="));
  return { page: JSON.parse(reply.body) as Whoami, setCookie };
}

/** The attributes of a Set-Cookie line, lower-cased names: `{secure: "", path: "/", …}`. */
function cookieAttributes(line: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const part of line.split(";").slice(1)) {
    const [name, ...value] = part.split("=");
    attributes[name.trim().toLowerCase()] = value.join("=").trim();
  }
  return attributes;
}

describe(`Tomcat behind tandem's TLS listener with the RemoteIpValve on ${runtime}`, { skip }, () => {
  let certs: Certificates | undefined;
  let valve: TomcatInstance | undefined;
  let control: TomcatInstance | undefined;
  let tandem: TandemProcess | undefined;
  let https = "";

  before(async () => {
    const files = { "whoami.jsp": WHOAMI_JSP };
    const started = await Promise.allSettled([
      makeCertificates(),
      startTomcat("tc1", { engine: exampleEngine(), files }),
      startTomcat("tc2", { files }),
    ]);
    if (started[0].status === "fulfilled") certs = started[0].value;
    if (started[1].status === "fulfilled") valve = started[1].value;
    if (started[2].status === "fulfilled") control = started[2].value;
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    tandem = await startTandem({
      listeners: [{ address: `${TANDEM}:0`, tls: { certificates: [{ cert: certs!.localhost.cert, key: certs!.localhost.key }] } }],
      routes: [{ host: "control.test", pool: "control" }],
      defaultPool: "tomcat",
      pools: {
        // Forwarding left at its defaults: X-Forwarded-For and X-Forwarded-Proto on, no trusted proxies.
        tomcat: { sticky: { mode: "route" }, members: [{ name: "tc1", url: valve!.url.replace(/\/$/, "") }] },
        control: { sticky: { mode: "route" }, members: [{ name: "tc2", url: control!.url.replace(/\/$/, "") }] },
      },
    });
    https = `https://${TANDEM}:${tandem.ports[0]}/`;
  }, { timeout: 180_000 });

  after(async () => {
    try {
      if (tandem) assert.equal(await tandem.stop(), 0, tandem.stderr());
    } finally {
      await Promise.all([valve?.stop(), control?.stop()]);
      if (certs) await rm(certs.dir, { recursive: true, force: true });
    }
  });

  test("with the valve the app sees https, isSecure() and the client's address, and JSESSIONID is Secure", LIMIT, async () => {
    const first = await whoami(https, { caFile: certs!.ca.cert });
    assert.equal(first.page.secure, true, "request.isSecure()");
    assert.equal(first.page.scheme, "https", "request.getScheme()");
    assert.equal(first.page.remoteAddr, CLIENT, "request.getRemoteAddr() is the client, not tandem");
    assert.ok(first.setCookie, "Tomcat created a session");
    assert.match(first.setCookie, /^JSESSIONID=[0-9A-F]+\.tc1;/, "the session carries the example's jvmRoute");
    assert.equal(first.setCookie.split(";")[0], `JSESSIONID=${first.page.session}`);
    const attributes = cookieAttributes(first.setCookie);
    assert.ok("secure" in attributes, `Secure on ${first.setCookie}`);
    assert.ok("httponly" in attributes, `HttpOnly on ${first.setCookie}`);

    // The session sticks, and a client cannot pose as someone else or as plain http: tandem
    // replaces the X-Forwarded-* values of a client it does not trust (trustedProxies: []).
    const again = await whoami(https, {
      caFile: certs!.ca.cert,
      headers: { cookie: first.setCookie.split(";")[0], "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "http" },
    });
    assert.equal(again.page.session, first.page.session, "the same session");
    assert.equal(again.setCookie, undefined, "a known session gets no new cookie");
    assert.equal(again.page.remoteAddr, CLIENT);
    assert.equal(again.page.secure, true);
    assert.equal(again.page.scheme, "https");
  });

  test("the control without the valve sees tandem's address and http, and JSESSIONID has no Secure", LIMIT, async () => {
    const reply = await whoami(https, { caFile: certs!.ca.cert, headers: { host: "control.test" } });
    assert.equal(reply.page.secure, false, "request.isSecure()");
    assert.equal(reply.page.scheme, "http", "request.getScheme()");
    assert.equal(reply.page.remoteAddr, TANDEM, "request.getRemoteAddr() is tandem's address");
    // What tandem sent, and what the valve read back on the other Tomcat.
    assert.equal(reply.page.xForwardedFor, CLIENT, "X-Forwarded-For: the client's address");
    assert.equal(reply.page.xForwardedProto, "https", "X-Forwarded-Proto: https");
    assert.ok(reply.setCookie, "Tomcat created a session");
    assert.match(reply.setCookie, /^JSESSIONID=[0-9A-F]+\.tc2;/);
    assert.ok(!("secure" in cookieAttributes(reply.setCookie)), `no Secure on ${reply.setCookie}`);
  });

  test("internalProxies names tandem only: the same headers from another address are not believed", LIMIT, async () => {
    const forged = { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" };
    // Straight to Tomcat's connector from the client's address, as a host on the LAN could.
    const direct = await whoami(valve!.url, { headers: forged });
    assert.equal(direct.page.remoteAddr, CLIENT);
    assert.equal(direct.page.secure, false);
    assert.equal(direct.page.scheme, "http");
    assert.ok(direct.setCookie && !("secure" in cookieAttributes(direct.setCookie)), `no Secure on ${direct.setCookie}`);
    // From tandem's address the valve does take them: it decides by the connecting address.
    const fromTandem = await whoami(valve!.url, { headers: forged, from: TANDEM });
    assert.equal(fromTandem.page.remoteAddr, "203.0.113.9");
    assert.equal(fromTandem.page.secure, true);
    assert.equal(fromTandem.page.scheme, "https");
    assert.ok(fromTandem.setCookie && "secure" in cookieAttributes(fromTandem.setCookie), `Secure on ${fromTandem.setCookie}`);
  });
});
