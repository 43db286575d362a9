import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../../core/config/load.ts";
import { protocolProblems, servesOnWeb } from "../../../core/frontend/protocols.ts";

const config = (listener: Record<string, unknown>) =>
  parseConfig(JSON.stringify({ listeners: [{ address: "127.0.0.1:8443", ...listener }], pools: { app: { members: [{ name: "a", url: "http://10.0.0.1:8080" }] } } }));

const tls = { certificates: [{ cert: "a.pem", key: "a.key" }] };

test("protocols default to HTTP/1.1 alone, TLS or not, which stays on the socket front end", () => {
  for (const listener of [{}, { tls }]) {
    const result = config(listener);
    assert.ok(result.ok);
    assert.deepEqual(result.config.listeners[0].protocols, ["http/1.1"]);
    assert.equal(servesOnWeb(result.config.listeners[0]), false);
  }
  const h2 = config({ protocols: ["http/1.1", "h2"] });
  assert.ok(h2.ok);
  assert.equal(servesOnWeb(h2.config.listeners[0]), true);
});

test("the schema refuses unknown protocols, repeats and a list without http/1.1, by path", () => {
  for (const protocols of [["http/1.1", "spdy"], ["http/1.1", "h2", "h2"], ["h2"], []]) {
    const result = config({ protocols });
    assert.equal(result.ok, false, JSON.stringify(protocols));
    assert.ok(!result.ok && result.problems.some((problem) => problem.path.startsWith("listeners[0].protocols")), JSON.stringify(result));
  }
});

test("what the runtime cannot serve is refused with the reason, h3 without TLS too, and maxConnections on the web front end", () => {
  const listeners = (listener: Record<string, unknown>) => {
    const result = config(listener);
    assert.ok(result.ok);
    return result.config.listeners;
  };
  assert.deepEqual(protocolProblems(listeners({ tls, protocols: ["http/1.1", "h2", "h3"] }), "deno 2.9.6", ["h2"]), [
    'listeners[0].protocols: "h3" is not served on deno 2.9.6 (it serves: "http/1.1", "h2")',
  ]);
  assert.deepEqual(protocolProblems(listeners({ tls, protocols: ["http/1.1", "h2", "h3"] }), "bun 1.4.5", ["h2", "h3"]), []);
  assert.deepEqual(protocolProblems(listeners({ protocols: ["http/1.1", "h3"] }), "bun 1.4.5", ["h2", "h3"]), [
    'listeners[0].protocols: "h3" needs tls (QUIC is always encrypted)',
  ]);
  assert.deepEqual(protocolProblems(listeners({ protocols: ["http/1.1", "h2"], maxConnections: 10 }), "bun 1.4.5", ["h2", "h3"]).length, 1);
  // Control: an HTTP/1.1 listener asks nothing of the web front end.
  assert.deepEqual(protocolProblems(listeners({ maxConnections: 10 }), "edge", []), []);
});
