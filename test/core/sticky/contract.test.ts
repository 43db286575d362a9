/**
 * The contract every sticky mode keeps, run against each of them with the same cases through a
 * balancer (sticky.test.ts has what is particular to each: cookie attributes, expiry, separators,
 * failover rewriting).
 *
 * Every member runs the same Tomcat-like application: a request without a session it knows gets
 * a new one, `JSESSIONID=S<n>.<member>` (session id and jvmRoute). A client keeps the cookies it
 * is sent, as a browser would. Whatever a mode adds or learns on top of that has to be enough
 * for the next request to come back to the same member.
 *
 * A mode added to the config's STICKY_MODES has to be given a row in VARIANTS, or this fails.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Balancer, createBalancer } from "../../../core/balancer/balancer.ts";
import { STICKY_MODES } from "../../../core/config/schema.ts";
import type { UpstreamRequest } from "../../../core/proxy/http1-client.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, type FakeFarm, poolConfig } from "../../support/fake-upstream.ts";

type Mode = Exclude<(typeof STICKY_MODES)[number], "none">;

interface Variant {
  label: string;
  sticky: Record<string, unknown>;
  /**
   * Only for modes that promise a client cannot forge its member: the cookie that carries the
   * member and forged versions of a genuine `value` for another member whose id is `otherId`.
   */
  tamperProof?: { cookie: string; forge: (value: string, otherId: string) => string[] };
}

const KEY = "0123456789abcdef-contract-key";

const VARIANTS: Record<Mode, Variant[]> = {
  insert: [
    { label: "insert", sticky: { mode: "insert" } },
    {
      label: "insert, signed",
      sticky: { mode: "insert", key: KEY },
      tamperProof: {
        cookie: "SERVERID",
        // `<id>.<issued>.<lastSeen>.<mac>` (core/sticky/insert.ts).
        forge: (value, otherId) => {
          const [id, issued, lastSeen, mac] = value.split(".");
          const flipped = mac.replace(/^./, (c) => (c === "A" ? "B" : "A"));
          return [
            `${otherId}.${issued}.${lastSeen}.${mac}`,
            `${id}.${issued}.${lastSeen}.${flipped}`,
            `${id}.${issued}.${lastSeen}`,
            `${otherId}.${issued}.${lastSeen}`,
            `${id}.${(parseInt(issued, 36) + 3600).toString(36)}.${lastSeen}.${mac}`,
          ];
        },
      },
    },
  ],
  prefix: [{ label: "prefix", sticky: { mode: "prefix" } }],
  route: [{ label: "route", sticky: { mode: "route" } }],
  learn: [{ label: "learn", sticky: { mode: "learn" } }],
};

test("every sticky mode the config offers is run through the contract", () => {
  assert.deepEqual(Object.keys(VARIANTS).sort(), STICKY_MODES.filter((mode) => mode !== "none").sort());
});

/** A browser's cookie jar for one site, with one cookie of its own that no one may touch. */
class Client {
  readonly jar = new Map<string, string>([["theme", "dark"]]);
  /** The session the application issued to this client, as the application wrote it. */
  appSession: string | undefined;

  header(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";")[0];
      const eq = pair.indexOf("=");
      this.jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
}

function cookiesOf(header: string | null): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1) cookies[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return cookies;
}

interface Sent {
  response: Response;
  /** The member that answered. */
  member: string;
  /** The balancer's own account of the session (access log): new, hit or moved. */
  decision: unknown;
  /** The cookies the application received. */
  seen: Record<string, string>;
}

function setup(variant: Variant, names: string[]) {
  const clock = new FakeClock(1_700_000_000_000);
  const farm: FakeFarm = fakeFarm(names);
  const issuedBy = new Map<string, string>();
  let sessions = 0;
  let lastIssued: string | undefined;
  for (const name of names) {
    farm.behave(name, (request: UpstreamRequest) => {
      const session = cookiesOf(request.fields.get("cookie")).JSESSIONID;
      if (session !== undefined && issuedBy.get(session) === name) return new Response(name);
      lastIssued = `S${++sessions}.${name}`;
      issuedBy.set(lastIssued, name);
      return new Response(name, { headers: { "set-cookie": `JSESSIONID=${lastIssued}; Path=/; HttpOnly` } });
    });
  }
  const config = (members: string[]) => poolConfig(members.map((name) => ({ name })), { sticky: variant.sticky }, { accessLog: true });
  const log: Record<string, unknown>[] = [];
  const balancer: Balancer = createBalancer(config(names), { clock, upstream: farm.upstream, log: (record) => log.push(record) });

  const send = async (client: Client): Promise<Sent> => {
    const requests = farm.requests.length;
    lastIssued = undefined;
    const response = (await balancer.fetch(new Request("http://tandem.test/", { headers: { cookie: client.header() } }), {
      remoteAddress: "192.0.2.7",
      tls: false,
    }))!;
    await response.text();
    assert.equal(response.status, 200, `status ${response.status}`);
    assert.equal(farm.requests.length, requests + 1, "one request reached one member");
    client.keep(response);
    if (lastIssued) client.appSession = lastIssued;
    const record = log.filter((entry) => "sticky" in entry).at(-1)!;
    return {
      response,
      member: farm.served.at(-1)!,
      decision: record.sticky,
      seen: cookiesOf(farm.requests.at(-1)!.fields.get("cookie")),
    };
  };

  /** New clients, one after another, each with the session of its first request. */
  const newSessions = async (count: number) => {
    const clients: { client: Client; member: string }[] = [];
    for (let i = 0; i < count; i++) {
      const client = new Client();
      clients.push({ client, member: (await send(client)).member });
    }
    return clients;
  };

  return { farm, balancer, send, newSessions, reload: (members: string[]) => balancer.reload(config(members)) };
}

for (const [mode, variants] of Object.entries(VARIANTS) as [Mode, Variant[]][]) {
  for (const variant of variants) {
    describe(`sticky contract: ${variant.label}`, () => {
      test("a request without a session gets a new one, and the response carries what the next request needs", async () => {
        const { send } = setup(variant, ["a", "b", "c"]);
        const client = new Client();
        const first = await send(client);
        assert.equal(first.decision, "new");
        assert.ok(first.response.headers.getSetCookie().length > 0, "the response sets a cookie");
        assert.deepEqual(first.seen, { theme: "dark" }, "the application sees the client's own cookies");
        const next = await send(client);
        assert.equal(next.decision, "hit", `${mode}: the next request is recognised`);
        assert.equal(next.member, first.member);
      });

      test("follow-up requests go to the session's member; the application sees its own cookies, as it set them", async () => {
        const { newSessions, send } = setup(variant, ["a", "b", "c"]);
        const clients = await newSessions(6);
        // Without stickiness the strategy (round robin) would spread these over every member.
        assert.ok(new Set(clients.map(({ member }) => member)).size > 1, "sessions on more than one member");
        for (let round = 0; round < 4; round++) {
          for (const { client, member } of clients) {
            const sent = await send(client);
            assert.equal(sent.member, member, `round ${round}: the session stays on ${member}`);
            assert.equal(sent.decision, "hit");
            assert.deepEqual(sent.seen, { theme: "dark", JSESSIONID: client.appSession });
          }
        }
      });

      test("a value naming a member the pool does not have is ignored, not an error: a new session, which sticks", async () => {
        const { newSessions, send, reload } = setup(variant, ["a", "b", "c", "d"]);
        const clients = await newSessions(8);
        const orphan = clients.find(({ member }) => member === "d")!;
        assert.ok(orphan, "a session on d");
        // d leaves the pool; its client still carries d's (genuine, well-formed) session value.
        reload(["a", "b", "c"]);

        const moved = await send(orphan.client);
        assert.equal(moved.decision, "new");
        assert.notEqual(moved.member, "d");
        assert.ok(moved.response.headers.getSetCookie().length > 0, "the response sets a cookie for the new member");
        const next = await send(orphan.client);
        assert.equal(next.decision, "hit");
        assert.equal(next.member, moved.member);

        // The sessions of members the reload kept are still theirs.
        for (const { client, member } of clients.filter(({ member }) => member !== "d")) {
          const sent = await send(client);
          assert.equal(sent.decision, "hit");
          assert.equal(sent.member, member);
        }
      });

      const tamperProof = variant.tamperProof;
      if (tamperProof) {
        test("a tampered value is not trusted: treated as no session, and replaced", async () => {
          const { balancer, send } = setup(variant, ["a", "b", "c"]);
          const client = new Client();
          const { member } = await send(client);
          const genuine = client.jar.get(tamperProof.cookie)!;
          assert.ok(genuine, `${tamperProof.cookie} is set`);
          const other = balancer.pools.get("app")!.members.find((candidate) => candidate.name !== member)!;
          for (const forged of tamperProof.forge(genuine, other.id)) {
            client.jar.set(tamperProof.cookie, forged);
            const sent = await send(client);
            assert.equal(sent.decision, "new", `forged ${forged}`);
            const replaced = client.jar.get(tamperProof.cookie);
            assert.notEqual(replaced, forged, "a fresh cookie replaces the forged one");
            assert.equal((await send(client)).member, sent.member, "and the fresh one sticks");
          }
          client.jar.set(tamperProof.cookie, genuine);
          assert.equal((await send(client)).member, member, "the genuine value still works");
        });
      }
    });
  }
}
