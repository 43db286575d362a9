/** The Tomcat helper itself: a real Tomcat 10 with jvmRoute, sessions that stick, a hard stop. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTomcat, tomcatAvailable } from "../support/tomcat.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("tomcat-support.test.ts", tomcatAvailable() ? false : "tomcat10 not installed: apt-get install tomcat10");

test("startTomcat serves a counting session with the jvmRoute suffix, stop() kills it", { skip }, async () => {
  const tomcat = await startTomcat("tc1");
  let stopped = false;
  try {
    assert.equal(tomcat.jvmRoute, "tc1");
    assert.equal(tomcat.url, `http://127.0.0.1:${tomcat.port}/`);

    const first = await fetch(tomcat.url);
    assert.equal(first.status, 200);
    assert.match(first.headers.get("content-type") ?? "", /^application\/json/);
    const setCookie = first.headers.get("set-cookie") ?? "";
    const cookie = /JSESSIONID=([^;]+)/.exec(setCookie)?.[1];
    assert.ok(cookie, `expected a JSESSIONID cookie, got set-cookie: ${setCookie}`);
    assert.match(cookie, /^[0-9A-F]+\.tc1$/);
    const one = await first.json();
    assert.deepEqual(one, { backend: "tc1", session: cookie, count: 1 });

    const second = await fetch(tomcat.url, { headers: { cookie: `JSESSIONID=${cookie}` } });
    assert.equal(second.status, 200);
    assert.equal(second.headers.get("set-cookie"), null, "a known session gets no new cookie");
    assert.deepEqual(await second.json(), { backend: "tc1", session: cookie, count: 2 });

    await tomcat.stop();
    stopped = true;
    await assert.rejects(fetch(tomcat.url), "a stopped Tomcat refuses connections");
    await tomcat.stop(); // idempotent
  } finally {
    if (!stopped) await tomcat.stop();
  }
});
