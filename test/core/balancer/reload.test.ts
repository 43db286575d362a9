import { test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, memberUrl, poolConfig } from "../../support/fake-upstream.ts";
import { eventually } from "../../support/waiting.ts";

const conn = { remoteAddress: "192.0.2.7", tls: false };

test("reload keeps the state of members with the same name and URL, and learned sessions of kept members", async () => {
  const clock = new FakeClock(0);
  const farm = fakeFarm(["a", "b", "c"]);
  for (const name of ["a", "b", "c"]) {
    farm.behave(name, () => new Response(name, { headers: { "set-cookie": `JSESSIONID=${name}-session` } }));
  }
  const sticky = { sticky: { mode: "learn" } };
  const balancer = createBalancer(poolConfig([{ name: "a" }, { name: "b" }], sticky), { clock, upstream: farm.upstream, log: () => {} });
  for (let i = 0; i < 4; i++) await (await balancer.fetch(new Request("http://t/"), conn))!.text();
  const before = balancer.pools.get("app")!;
  const a = before.member("a")!;
  assert.equal(a.requests, 2);
  assert.equal(before.sticky!.table!.size, 2);

  // b moves to another address (a new member), c is added, a is kept with a new weight.
  const next = poolConfig([{ name: "a", weight: 3 }, { name: "b", url: memberUrl(2) }, { name: "c", url: memberUrl(2) }], sticky);
  balancer.reload(next);
  const after = balancer.pools.get("app")!;
  assert.notEqual(after, before);
  assert.equal(after.member("a"), a, "a kept its identity");
  assert.equal(a.requests, 2);
  assert.equal(a.weight, 3);
  assert.notEqual(after.member("b"), before.member("b"));
  assert.equal(after.sticky!.table, before.sticky!.table, "the learn table carried over");
  assert.equal(after.sticky!.table!.get("a-session"), "a");
  assert.equal(after.sticky!.table!.get("b-session"), undefined, "sessions of the replaced member are dropped");
  assert.equal(balancer.config, next);
});

test("a request in flight during a reload finishes on the old config", async () => {
  const clock = new FakeClock(0);
  const farm = fakeFarm(["a", "b"]);
  let answer: (() => void) | undefined;
  farm.behave("a", () => new Promise((resolve) => (answer = () => resolve(new Response("old a")))));
  const balancer = createBalancer(poolConfig([{ name: "a" }]), { clock, upstream: farm.upstream, log: () => {} });
  const pending = balancer.fetch(new Request("http://t/"), conn);
  const answerOld = await eventually(() => answer, 10_000, "the request to reach member a");
  balancer.reload(poolConfig([{ name: "b", url: memberUrl(1) }]));
  answerOld();
  assert.equal(await (await pending)!.text(), "old a");
  assert.equal(await (await balancer.fetch(new Request("http://t/"), conn))!.text(), "b");
});
