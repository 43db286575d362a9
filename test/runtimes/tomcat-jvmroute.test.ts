/**
 * The seed scenario: two real Tomcat 10 nodes with jvmRoute tc1 and tc2 behind tandem in route
 * mode. A session stays on its node; when that node dies, the next request is served by the other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTandem } from "../support/tandem.ts";
import { startTomcat, type TomcatInstance, tomcatAvailable } from "../support/tomcat.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("tomcat-jvmroute.test.ts", tomcatAvailable() ? false : "tomcat10 not installed: apt-get install tomcat10");

test("route stickiness keeps a Tomcat session on its node and fails over when the node is killed", { skip }, async () => {
  const nodes: TomcatInstance[] = [];
  let tandem: Awaited<ReturnType<typeof startTandem>> | undefined;
  try {
    nodes.push(...(await Promise.all([startTomcat("tc1"), startTomcat("tc2")])));
    tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      pools: {
        tomcat: {
          sticky: { mode: "route" },
          members: nodes.map((node) => ({ name: node.jvmRoute, url: node.url.replace(/\/$/, "") })),
        },
      },
    });
    const get = async (cookie?: string) => {
      const response = await fetch(tandem!.url + "/", { headers: cookie ? { cookie: `JSESSIONID=${cookie}` } : {} });
      assert.equal(response.status, 200);
      const setCookie = /JSESSIONID=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
      return { ...(await response.json()) as { backend: string; session: string; count: number }, setCookie };
    };

    const first = await get();
    assert.ok(first.setCookie, "Tomcat issued a session");
    assert.ok(first.setCookie.endsWith(`.${first.backend}`), `${first.setCookie} carries the jvmRoute of ${first.backend}`);
    for (let count = 2; count <= 6; count++) {
      const next = await get(first.setCookie);
      assert.equal(next.backend, first.backend, "the session stays on its node");
      assert.equal(next.count, count);
    }
    // New clients are spread over both nodes.
    const fresh = new Set<string>();
    for (let i = 0; i < 6; i++) fresh.add((await get()).backend);
    assert.equal(fresh.size, 2);

    await nodes.find((node) => node.jvmRoute === first.backend)!.stop();
    const after = await get(first.setCookie);
    assert.notEqual(after.backend, first.backend, "served by the surviving node");
    assert.ok(after.setCookie?.endsWith(`.${after.backend}`), "which starts a new session with its own route");
    const settled = await get(after.setCookie);
    assert.equal(settled.backend, after.backend);
    assert.equal(settled.count, 2);
    const moved = tandem.lines.find((line) => line.sticky === "moved");
    assert.ok(moved, "the access log records the move");
  } finally {
    await tandem?.stop();
    await Promise.all(nodes.map((node) => node.stop()));
  }
});
