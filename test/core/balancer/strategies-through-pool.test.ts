/**
 * The strategies README promises, through the balancer and a pool rather than as bare algorithms:
 * `strategy: hash` with every `hash.key` (the request's key is what decides, the same key stays on
 * its member, a member removed moves only its own keys) and `hash.boundedLoad`; `leastconn` and
 * `p2c` against real in-flight counts (requests held open at a fake member); and the queue: past
 * `queue.size` a request gets 503 at once, not after `queue.timeout`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, memberUrl, poolConfig } from "../../support/fake-upstream.ts";
import { eventually } from "../../support/waiting.ts";

const NAMES = ["m0", "m1", "m2", "m3"];

interface Ask {
  path?: string;
  headers?: Record<string, string>;
  source?: string;
}

/** A balancer over fake members whose requests can be held open until the test releases them. */
function setup(pool: Record<string, unknown>, names = NAMES, members?: ({ name: string } & Record<string, unknown>)[]) {
  const clock = new FakeClock(1_000_000);
  const farm = fakeFarm(names);
  let config = poolConfig(members ?? names.map((name) => ({ name })), pool);
  const balancer = createBalancer(config, { clock, upstream: farm.upstream, log: () => {} });
  /** Requests held open per member, each released by calling its function. */
  const held = new Map<string, (() => void)[]>(names.map((name) => [name, []]));
  let holding = false;
  for (const name of names) {
    farm.behave(name, () => {
      if (!holding) return new Response(name, { headers: { "x-member": name } });
      return new Promise<Response>((resolve) => held.get(name)!.push(() => resolve(new Response(name, { headers: { "x-member": name } }))));
    });
  }
  const send = async ({ path = "/", headers = {}, source = "192.0.2.7" }: Ask = {}) => {
    const response = (await balancer.fetch(new Request(`http://tandem.test${path}`, { headers }), { remoteAddress: source, tls: false }))!;
    // Reading the body to its end is what frees the member's slot.
    return { status: response.status, member: response.headers.get("x-member"), body: await response.text(), retryAfter: response.headers.get("retry-after") };
  };
  /** The member that answers `ask` (answered at once). */
  const memberFor = async (ask: Ask) => {
    const { status, member } = await send(ask);
    assert.equal(status, 200);
    return member!;
  };
  /**
   * Sends a request that its member holds open; resolves once a member has it, with the answer to
   * come (wrapped: an async function would otherwise wait for it).
   */
  const hold = async (ask: Ask = {}) => {
    holding = true;
    const before = farm.requests.length;
    const answer = send(ask);
    try {
      await eventually(() => (farm.requests.length > before ? true : undefined), 2000, "the held request to reach a member");
    } finally {
      holding = false;
    }
    return { answer };
  };
  const release = (name: string, count = Infinity) => {
    const list = held.get(name)!;
    for (const resume of list.splice(0, count)) resume();
  };
  const active = (name: string) => balancer.pools.get("app")!.member(name)!.active;
  const reload = (next: ({ name: string } & Record<string, unknown>)[]) => {
    config = poolConfig(next, pool);
    balancer.reload(config);
  };
  return { clock, farm, balancer, send, memberFor, hold, release, held, active, reload };
}

function tally(names: string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const name of names) result[name] = (result[name] ?? 0) + 1;
  return result;
}

/** For each hash.key: a request carrying key `k`, with everything else varied by `noise`. */
const KEYS: { key: string; name?: string; ask: (k: string, noise: number) => Ask }[] = [
  { key: "source", ask: (k, noise) => ({ source: k, path: `/p/${noise}`, headers: { "x-user": `u${noise}`, cookie: `uid=c${noise}` } }) },
  { key: "header", name: "x-user", ask: (k, noise) => ({ source: `198.51.100.${noise}`, path: `/p/${noise}`, headers: { "x-user": k, cookie: `uid=c${noise}` } }) },
  {
    key: "cookie",
    name: "uid",
    ask: (k, noise) => ({ source: `198.51.100.${noise}`, path: `/p/${noise}`, headers: { "x-user": `u${noise}`, cookie: `theme=t${noise}; uid=${k}; lang=l${noise}` } }),
  },
  { key: "uri", ask: (k, noise) => ({ source: `198.51.100.${noise}`, path: `/item?id=${k}`, headers: { "x-user": `u${noise}`, cookie: `uid=c${noise}` } }) },
];

describe("strategy: hash through the balancer", () => {
  for (const { key, name, ask } of KEYS) {
    test(`hash.key ${key}: the same key always lands on the same member, whatever else the request carries; different keys spread`, async () => {
      const { memberFor } = setup({ strategy: "hash", hash: { key, ...(name ? { name } : {}) } });
      const keyOf = (i: number) => (key === "source" ? `10.1.${i >> 8}.${i & 255}` : `key-${i}`);
      // The same key with the rest of the request changed each time: one member.
      for (let i = 0; i < 5; i++) {
        const homes = new Set<string>();
        for (let noise = 0; noise < 8; noise++) homes.add(await memberFor(ask(keyOf(i), noise)));
        assert.equal(homes.size, 1, `key ${keyOf(i)} went to ${[...homes]}`);
      }
      // Different keys with the rest of the request fixed: every member gets some.
      const spread: string[] = [];
      for (let i = 0; i < 80; i++) spread.push(await memberFor(ask(keyOf(i), 1)));
      const counts = tally(spread);
      assert.deepEqual(Object.keys(counts).sort(), NAMES, `80 keys over 4 members: ${JSON.stringify(counts)}`);
      for (const member of NAMES) assert.ok(counts[member] >= 5, `80 keys over 4 members: ${JSON.stringify(counts)}`);
    });
  }

  test("a member removed by a reload moves only its own keys; the others stay where they were", async () => {
    // Each member keeps its URL (the fake farm knows a member by its port) when another is removed.
    const all = NAMES.map((name, index) => ({ name, url: memberUrl(index) }));
    const { memberFor, reload } = setup({ strategy: "hash", hash: { key: "header", name: "x-user" } }, NAMES, all);
    const ask = (i: number): Ask => ({ headers: { "x-user": `user-${i}` } });
    const before: string[] = [];
    for (let i = 0; i < 200; i++) before.push(await memberFor(ask(i)));
    assert.ok(before.filter((m) => m === "m2").length >= 20, `m2 had keys before: ${JSON.stringify(tally(before))}`);

    reload(all.filter((member) => member.name !== "m2"));
    const after: string[] = [];
    for (let i = 0; i < 200; i++) after.push(await memberFor(ask(i)));
    for (let i = 0; i < 200; i++) {
      if (before[i] === "m2") assert.notEqual(after[i], "m2", `user-${i} still went to the removed member`);
      else assert.equal(after[i], before[i], `user-${i} moved from ${before[i]} to ${after[i]} though its member stayed`);
    }

    // And back: the same keys return to m2 when it is added again.
    reload(all);
    for (let i = 0; i < 200; i++) assert.equal(await memberFor(ask(i)), before[i], `user-${i} after m2 came back`);
  });

  test("a member stopped at run time moves only its own keys, and they come back when it is active again", async () => {
    const { memberFor, balancer } = setup({ strategy: "hash", hash: { key: "uri" } });
    const ask = (i: number): Ask => ({ path: `/doc/${i}` });
    const before: string[] = [];
    for (let i = 0; i < 120; i++) before.push(await memberFor(ask(i)));
    const m1 = balancer.pools.get("app")!.member("m1")!;
    m1.activation = "stopped";
    for (let i = 0; i < 120; i++) {
      const now = await memberFor(ask(i));
      if (before[i] === "m1") assert.notEqual(now, "m1");
      else assert.equal(now, before[i], `/doc/${i} moved though its member stayed`);
    }
    m1.activation = "active";
    for (let i = 0; i < 120; i++) assert.equal(await memberFor(ask(i)), before[i]);
  });

  test("a request without the configured key is still served, spread over the members", async () => {
    const { memberFor } = setup({ strategy: "hash", hash: { key: "cookie", name: "uid" } });
    const served: string[] = [];
    for (let i = 0; i < 8; i++) served.push(await memberFor({ headers: { cookie: `other=${i}` } }));
    assert.deepEqual(Object.keys(tally(served)).sort(), NAMES);
  });

  test("hash.boundedLoad caps a hot key's member near factor x average in-flight; 0 lets it take all", async () => {
    const N = 20;
    for (const boundedLoad of [1.25, 0]) {
      const { hold, active, release, farm } = setup({ strategy: "hash", hash: { key: "header", name: "x-user", boundedLoad } });
      const answers: Promise<unknown>[] = [];
      for (let i = 1; i <= N; i++) {
        answers.push((await hold({ headers: { "x-user": "hot" } })).answer);
        const loads = NAMES.map(active);
        assert.equal(loads.reduce((a, b) => a + b, 0), i);
        if (boundedLoad > 0) {
          const cap = Math.ceil((boundedLoad * i) / NAMES.length);
          assert.ok(Math.max(...loads) <= cap, `after ${i} held requests: loads ${loads}, cap ${cap}`);
        }
      }
      const received = NAMES.map((name) => farm.received.get(name)!.length);
      if (boundedLoad > 0) {
        const hot = Math.max(...received);
        assert.equal(hot, Math.ceil((boundedLoad * N) / NAMES.length), `the hot member took up to its cap: ${received}`);
        assert.ok(received.filter((n) => n > 0).length >= 2, `the overflow went elsewhere: ${received}`);
      } else {
        assert.deepEqual(received.filter((n) => n > 0), [N], `unbounded: one member takes every request of the key: ${received}`);
      }
      for (const name of NAMES) release(name);
      await Promise.all(answers);
      assert.deepEqual(NAMES.map(active), [0, 0, 0, 0]);
    }
  });
});

describe("leastconn and p2c through a pool", () => {
  test("leastconn sends new requests to the member with fewer in-flight requests", async () => {
    const names = ["a", "b", "c"];
    const { hold, memberFor, release, active } = setup({ strategy: "leastconn" }, names);
    const held: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) held.push((await hold()).answer);
    assert.deepEqual(names.map(active), [2, 2, 2], "held requests spread evenly");
    release("b", 1);
    await eventually(() => (active("b") === 1 ? true : undefined), 2000, "b's slot to be freed");
    // b has the fewest in flight: every short request now goes to b, none to a or c.
    const served: string[] = [];
    for (let i = 0; i < 6; i++) served.push(await memberFor({}));
    assert.deepEqual(served, ["b", "b", "b", "b", "b", "b"]);
    // A new held request goes to b too (1 < 2), then ties rotate among the three.
    held.push((await hold()).answer);
    assert.deepEqual(names.map(active), [2, 2, 2]);
    release("a", 2);
    await eventually(() => (active("a") === 0 ? true : undefined), 2000, "a's slots to be freed");
    held.push((await hold()).answer);
    held.push((await hold()).answer);
    assert.deepEqual(names.map(active), [2, 2, 2], "the two new held requests went to a, which had none");
    for (const name of names) release(name);
    await Promise.all(held);
  });

  test("p2c keeps the less loaded of the two it draws: with two members always the idle one", async () => {
    const names = ["a", "b"];
    const { hold, memberFor, release, active, balancer } = setup({ strategy: "p2c" }, names);
    const b = balancer.pools.get("app")!.member("b")!;
    // Three requests held on a (b stopped meanwhile), then b back.
    b.activation = "stopped";
    const held: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) held.push((await hold()).answer);
    b.activation = "active";
    assert.deepEqual(names.map(active), [3, 0]);
    const served: string[] = [];
    for (let i = 0; i < 20; i++) served.push(await memberFor({}));
    assert.deepEqual(tally(served), { b: 20 }, "a had requests in flight, b none");
    // Held requests fill b up to a's load before a gets another.
    for (let i = 0; i < 3; i++) held.push((await hold()).answer);
    assert.deepEqual(names.map(active), [3, 3]);
    for (const name of names) release(name);
    await Promise.all(held);
  });

  test("p2c never picks the most loaded of three members, and draws both others", async () => {
    const names = ["a", "b", "c"];
    const { hold, memberFor, release, active, balancer } = setup({ strategy: "p2c" }, names);
    const pool = balancer.pools.get("app")!;
    pool.member("b")!.activation = "stopped";
    pool.member("c")!.activation = "stopped";
    const held = [(await hold()).answer];
    pool.member("b")!.activation = "active";
    pool.member("c")!.activation = "active";
    assert.deepEqual(names.map(active), [1, 0, 0]);
    const served: string[] = [];
    for (let i = 0; i < 60; i++) served.push(await memberFor({}));
    const counts = tally(served);
    assert.equal(counts.a, undefined, `a was busy and lost every draw: ${JSON.stringify(counts)}`);
    assert.ok(counts.b > 0 && counts.c > 0, `both idle members were drawn: ${JSON.stringify(counts)}`);
    release("a");
    await Promise.all(held);
  });
});

describe("queue.size", () => {
  for (const size of [1, 3]) {
    test(`a request past queue.size ${size} gets 503 at once, not after queue.timeout; the queued ones still get served`, async () => {
      const { hold, send, release, balancer, clock } = setup({ queue: { size, timeout: "5s" } }, ["a"], [{ name: "a", maxconn: 1 }]);
      const pool = balancer.pools.get("app")!;
      const first = (await hold()).answer;
      // `size` requests wait in the queue (no member has a free slot).
      const waiting = Array.from({ length: size }, () => send());
      await eventually(() => (pool.queueLength === size ? true : undefined), 10_000, `${size} queued requests`);
      let settled = 0;
      for (const w of waiting) w.then(() => settled++);
      // The clock does not move: only an answer given at once can arrive.
      const overflow = await Promise.race([
        send(),
        new Promise<"still waiting">((resolve) => setTimeout(() => resolve("still waiting"), 10_000)),
      ]);
      assert.notEqual(overflow, "still waiting", "the request past queue.size waited instead of getting 503 at once");
      assert.equal((overflow as { status: number }).status, 503);
      assert.equal((overflow as { retryAfter: string | null }).retryAfter, "1");
      assert.equal(pool.queueLength, size, "the refused request took no place in the queue");
      assert.equal(settled, 0, "the queued requests still wait");
      // The slot comes free: the queued requests are served one by one, none timed out.
      release("a");
      const results = await Promise.all([first, ...waiting]);
      assert.deepEqual(results.map((r) => r.status), Array(size + 1).fill(200));
      assert.equal(clock.now(), 1_000_000, "no time passed on the balancer's clock");
    });
  }

  test("control: below queue.size the request waits, and gets 503 only when queue.timeout passes", async () => {
    const { hold, send, release, balancer, clock } = setup({ queue: { size: 2, timeout: "5s" } }, ["a"], [{ name: "a", maxconn: 1 }]);
    const pool = balancer.pools.get("app")!;
    const first = (await hold()).answer;
    const queued = send();
    await eventually(() => (pool.queueLength === 1 ? true : undefined), 10_000, "one queued request");
    let answer: { status: number } | undefined;
    queued.then((a) => (answer = a));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(answer, undefined, "a request that fits in the queue waits");
    clock.advance(4999);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(answer, undefined, "still waiting just before queue.timeout");
    clock.advance(1);
    const late = await queued;
    assert.equal(late.status, 503);
    release("a");
    assert.equal((await first).status, 200);
  });
});
