import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";
import * as v from "valibot";
import { systemClock } from "../../../core/clock.ts";
import { httpProbe } from "../../../core/health/http-probe.ts";
import { HealthSchema } from "../../../core/health/schema.ts";
import { Http1Client } from "../../../core/proxy/http1-client.ts";
import { connect } from "../../support/runtime-connect.ts";

interface Seen {
  method: string;
  url: string;
  host: string;
  userAgent: string;
}

/** A node:http backend on 127.0.0.1 that records what it was asked. */
async function backend(handler: http.RequestListener) {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const { method = "", url = "", headers } = request;
    seen.push({ method, url, host: headers.host ?? "", userAgent: headers["user-agent"] ?? "" });
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { port, seen, close };
}

const reply = (status: number, body = "") => (_: http.IncomingMessage, response: http.ServerResponse) =>
  response.writeHead(status, { "content-type": "text/plain" }).end(body);

/** Probes 127.0.0.1:`port` once with `check` (schema input) on a client of its own. */
async function probeOnce(port: number, check: unknown, signal?: AbortSignal) {
  const client = new Http1Client({ connect, clock: systemClock });
  try {
    const config = v.parse(HealthSchema, { check }).check!;
    return await httpProbe(client, { hostname: "127.0.0.1", port }, config, systemClock)(signal);
  } finally {
    client.close();
  }
}

describe("httpProbe over real sockets", () => {
  test("200 passes; the request carries method, path, Host and user-agent", async () => {
    const server = await backend(reply(200, "fine"));
    try {
      const result = await probeOnce(server.port, {});
      assert.equal(result.ok, true);
      assert.equal(result.reason, "HTTP 200");
      assert.ok(result.durationMs >= 0 && result.durationMs < 2000);
      await probeOnce(server.port, { method: "HEAD", path: "/health?deep=1", host: "app.example" });
      assert.deepEqual(server.seen, [
        { method: "GET", url: "/", host: `127.0.0.1:${server.port}`, userAgent: "tandem-health" },
        { method: "HEAD", url: "/health?deep=1", host: "app.example", userAgent: "tandem-health" },
      ]);
    } finally {
      await server.close();
    }
  });

  test("an unexpected status fails with what was expected", async () => {
    const server = await backend(reply(503, "maintenance"));
    try {
      assert.deepEqual(
        { ...(await probeOnce(server.port, {})), durationMs: 0 },
        { ok: false, reason: "HTTP 503 (expected 200-399)", durationMs: 0 },
      );
      assert.equal((await probeOnce(server.port, { expect: [200, "204"] })).reason, "HTTP 503 (expected 200,204)");
      assert.equal((await probeOnce(server.port, { expect: ["500-503"] })).ok, true);
    } finally {
      await server.close();
    }
  });

  test("body: the substring must be in the first 64 KiB", async () => {
    const server = await backend((request, response) => {
      if (request.url === "/ok") reply(200, "status: OK\n")(request, response);
      else if (request.url === "/late") reply(200, "x".repeat(70_000) + "OK")(request, response);
      else reply(200, "status: DEGRADED\n")(request, response);
    });
    try {
      assert.equal((await probeOnce(server.port, { path: "/ok", body: "OK" })).reason, "HTTP 200");
      const degraded = await probeOnce(server.port, { path: "/degraded", body: "OK" });
      assert.deepEqual([degraded.ok, degraded.reason], [false, 'body lacks "OK"']);
      assert.equal((await probeOnce(server.port, { path: "/late", body: "OK" })).reason, 'body lacks "OK"');
    } finally {
      await server.close();
    }
  });

  test("a closed port: connection refused", async () => {
    const server = await backend(reply(200));
    await server.close();
    const result = await probeOnce(server.port, {});
    assert.deepEqual([result.ok, result.reason], [false, "connection refused"]);
  });

  test("a member that never answers: timeout after the check's timeout", async () => {
    const server = await backend(() => {});
    try {
      const result = await probeOnce(server.port, { timeout: "200ms" });
      assert.deepEqual([result.ok, result.reason], [false, "timeout after 200 ms"]);
      assert.ok(result.durationMs >= 190 && result.durationMs < 2000, `took ${result.durationMs} ms`);
    } finally {
      await server.close();
    }
  });

  test("aborting the signal ends the check at once", async () => {
    const server = await backend(() => {});
    try {
      const controller = new AbortController();
      const pending = probeOnce(server.port, { timeout: "10s" }, controller.signal);
      setTimeout(() => controller.abort(), 50);
      const result = await pending;
      assert.deepEqual([result.ok, result.reason], [false, "aborted"]);
      assert.ok(result.durationMs < 2000, `took ${result.durationMs} ms`);
    } finally {
      await server.close();
    }
  });
});
