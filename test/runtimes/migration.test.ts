/**
 * Moving a live farm from HAProxy to tandem: the sticky cookies HAProxy handed out keep their
 * member when the members keep their `cookie` values (HAProxy `server … cookie A`).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { type Backend, startBackend } from "../support/backends.ts";
import { haproxySkipReason, startHaproxy } from "../support/haproxy.ts";
import { runtime, startTandem } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const LIMIT = { timeout: 30_000 };
const skip = requireTool("migration.test.ts", haproxySkipReason());

/** GET / with `cookie`; the member that answered and the Set-Cookie lines. */
function get(port: number, cookie?: string): Promise<{ backend: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, headers: cookie ? { cookie } : {} }, (response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ backend: JSON.parse(body).backend, setCookie: response.headers["set-cookie"] ?? [] }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe(`a farm moving from HAProxy to tandem on ${runtime}`, { skip }, () => {
  test("clients holding HAProxy's SERVERID cookies stay on their member after the cut-over", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("app1"), await startBackend("app2")];
    const haproxy = await startHaproxy({
      backends: [{
        name: "farm",
        cookie: "SERVERID insert indirect nocache",
        servers: backends.map((backend, index) => ({ name: backend.name, address: backend.url.replace("http://", ""), cookie: `S${index + 1}` })),
      }],
    });
    const tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: { app: { sticky: { mode: "insert" }, members: backends.map((backend, index) => ({ name: backend.name, url: backend.url, cookie: `S${index + 1}` })) } },
    });
    try {
      // Clients of the old farm: each holds the cookie HAProxy gave it, on the member HAProxy chose.
      const clients: { cookie: string; member: string }[] = [];
      for (let i = 0; i < 6; i++) {
        const first = await get(haproxy.port);
        const cookie = first.setCookie[0].split(";")[0];
        assert.match(cookie, /^SERVERID=S[12]$/);
        clients.push({ cookie, member: first.backend });
      }
      assert.deepEqual(new Set(clients.map((client) => client.member)), new Set(["app1", "app2"]), "HAProxy spread them");
      const port = Number(new URL(tandem.url).port);
      for (const client of clients) {
        let cookie = client.cookie;
        for (let i = 0; i < 3; i++) {
          const answer = await get(port, cookie);
          assert.equal(answer.backend, client.member, `${client.cookie} stays on ${client.member}`);
          // The first answer turns HAProxy's bare value into tandem's dated one, for the same member.
          const rewritten = answer.setCookie.find((line) => line.startsWith("SERVERID="));
          if (rewritten) cookie = rewritten.split(";")[0];
          assert.ok(cookie.startsWith(`${client.cookie}.`) || cookie === client.cookie, cookie);
        }
        assert.notEqual(cookie, client.cookie, "the client now holds tandem's form");
      }
    } finally {
      await tandem.stop();
      await haproxy.stop();
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });
});
