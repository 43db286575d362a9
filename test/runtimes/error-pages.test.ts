/** The operator's own error pages (`errorPages`, HAProxy `errorfile`) on the real process. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort } from "../support/ports.ts";
import { runTandem, runtime, startTandem, writeConfig } from "../support/tandem.ts";

const LIMIT = { timeout: 30_000 };

describe(`error pages on ${runtime}`, () => {
  test("502 and 503 answer with the operator's pages and their types, Retry-After kept; a reload takes a changed page", LIMIT, async () => {
    const closed = await freePort();
    const config = {
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: true,
      errorPages: { "503": "pages/503.html", "502": "pages/502.json" },
      routes: [{ path: "/broken", pool: "broken" }],
      pools: {
        stopped: { members: [{ name: "s", url: "http://127.0.0.1:9", activation: "stopped" }] },
        broken: { retries: 0, members: [{ name: "gone", url: `http://127.0.0.1:${closed}` }] },
      },
    };
    const path = writeConfig(config);
    const pages = join(dirname(path), "pages");
    mkdirSync(pages, { recursive: true });
    writeFileSync(join(pages, "503.html"), "<h1>Back soon</h1>\n");
    writeFileSync(join(pages, "502.json"), '{"error":"bad gateway"}\n');
    const tandem = await startTandem(undefined, { args: ["--config", path] });
    try {
      await tandem.waitForLine((line) => line.event === "listening");
      const port = Number(tandem.lines.find((line) => line.event === "listening")!.address!.toString().split(":").at(-1));
      const unavailable = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(unavailable.status, 503);
      assert.equal(unavailable.headers.get("content-type"), "text/html; charset=utf-8");
      assert.equal(unavailable.headers.get("retry-after"), "1");
      assert.equal(await unavailable.text(), "<h1>Back soon</h1>\n");
      const bad = await fetch(`http://127.0.0.1:${port}/broken`);
      assert.equal(bad.status, 502);
      assert.equal(bad.headers.get("content-type"), "application/json");
      assert.deepEqual(await bad.json(), { error: "bad gateway" });
      const line = await tandem.waitForLine((l) => l.status === 502);
      assert.match(String(line.error), /connect/, "what went wrong stays in the access log");
      assert.equal(line.bytesOut, new TextEncoder().encode('{"error":"bad gateway"}\n').length, "the bytes the client got");

      writeFileSync(join(pages, "503.html"), "<h1>Maintenance until 10:00</h1>\n");
      tandem.signal("SIGHUP");
      await tandem.waitForLine((l) => l.event === "reloaded");
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "<h1>Maintenance until 10:00</h1>\n");
    } finally {
      await tandem.stop();
    }
  });

  test("check and serve refuse a page that is missing or of a type they cannot name", LIMIT, async () => {
    for (const [file, problem] of [["nope.html", /errorPages\.503: .*nope\.html: cannot read/], ["page.png", /errorPages\.503: page\.png: an \.html, \.htm, \.json, \.xml or \.txt file/]] as const) {
      const path = writeConfig({ listeners: [{ address: "127.0.0.1:0" }], errorPages: { "503": file }, pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } } });
      writeFileSync(join(dirname(path), "page.png"), "not really");
      for (const command of ["check", "serve"]) {
        const result = await runTandem([command, "--config", path]);
        assert.equal(result.code, 1, `${command} ${file}`);
        assert.match(result.stderr, problem, `${command} ${file}`);
      }
    }
  });
});
