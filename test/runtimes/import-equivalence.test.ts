/**
 * Issue 20's behavioural equivalence: the real balancer running an original config, and tandem
 * running what `tandem import` made of that same file, in front of the SAME members, get the same
 * request sequence and must place sessions alike:
 *
 * 1. HAProxy (Debian's /usr/sbin/haproxy): `cookie SERVERID insert indirect nocache`, servers with
 *    cookie values w1..w3 and weights 1:2:1, roundrobin, httpchk health checks.
 * 2. Apache httpd's mod_proxy_balancer (Debian's apache2, in the foreground with only the modules
 *    the file loads): `stickysession=JSESSIONID|jsessionid`, members with route=tc1..tc3 that
 *    match the members' jvmRoutes, loadfactor 1:2:1, byrequests, no health checks.
 * 3. httpd's mod_jk (Debian's libapache2-mod-jk): workers.properties with lbfactor 1:2:1 and
 *    sticky_session over AJP to three real Tomcats (test/support/tomcat.ts, jvmRoute tc1..tc3,
 *    an AJP connector added); tandem goes to the same Tomcats' HTTP connectors, whose ports the
 *    test writes into the imported file as the report asks the operator to (about 5 s more).
 *
 * The members of 1 and 2 are node:http servers that behave like Tomcat for sessions: a request
 * without a session of theirs gets `Set-Cookie: JSESSIONID=<id>.<jvmRoute>`; one with a session
 * of theirs keeps it. The sequence: new sessions (no cookie); the same sessions returning with the
 * cookies each balancer gave them (for httpd also with `;jsessionid=` in the URL instead); the
 * reference's cookies replayed against tandem (a farm cut over keeps its clients); then the
 * weight-2 member stopped: both balancers must notice (by their answers, and by HAProxy's and
 * tandem's own DOWN lines where checks are configured), move its sessions to a live member that
 * then keeps them, keep every other session where it was, and share new sessions between the
 * live members by their weights. Last, one session sends 20 more requests: HAProxy and tandem
 * keep sharing new sessions by weight, while httpd's byrequests and mod_jk's Request count those
 * requests and send the next new sessions to the other member: a difference tandem cannot
 * reproduce (its strategies count sessions placed or requests in flight), which the import
 * report states on the line that chose the method.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { apacheSkipReason, startApache } from "../support/apache.ts";
import { type ReferenceProcess, startWithConfig } from "../support/reference-process.ts";
import { type Backend, startBackend } from "../support/backends.ts";
import { haproxyBinary, haproxySkipReason } from "../support/haproxy.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { runTandem, runtime, startTandem, type TandemProcess } from "../support/tandem.ts";
import { startTomcat, tomcatAvailable } from "../support/tomcat.ts";
import { requireTool } from "../support/tools.ts";

const FIXTURES = new URL("../core/import/fixtures/equivalence/", import.meta.url).pathname;
const THIS = "import-equivalence.test.ts";

/** New sessions per round: a multiple of the total weight (4), so each member's exact share is whole. */
const NEW_SESSIONS = 40;
/** After the weight-2 member is down: the two weight-1 members, an even number of sessions. */
const NEW_SESSIONS_AFTER_DOWN = 20;
/**
 * How far tandem's count per member may be from the exact share. tandem serves with one worker
 * per core, each with its own smooth weighted round robin, and the kernel spreads connections
 * between them (SO_REUSEPORT): each worker's own sequence is exact, their sum may be off by one
 * pick per member and worker. HAProxy, httpd and mod_jk keep one shared rotation and must be exact.
 */
const TANDEM_SHARE_TOLERANCE = 2;

interface Member {
  /** The member's jvmRoute, also its name in both configs. */
  route: string;
  backend: Backend;
  /** Session ids this member created (a restarted member would have none: Tomcat without replication). */
  sessions: Set<string>;
}

/** A member that keeps sessions the way Tomcat does: `JSESSIONID=<id>.<jvmRoute>`. */
async function startMember(route: string): Promise<Member> {
  const sessions = new Set<string>();
  const backend = await startBackend(route, (request, response) => {
    if (request.url === "/health") return void response.end("OK\n");
    const presented = /(?:^|;\s*)JSESSIONID=([^;.]+)\.([^;]+)/.exec(request.headers.cookie ?? "");
    let session = presented && presented[2] === route && sessions.has(presented[1]) ? presented[1] : undefined;
    if (session === undefined) {
      session = randomUUID().replaceAll("-", "").toUpperCase();
      sessions.add(session);
      response.setHeader("set-cookie", `JSESSIONID=${session}.${route}; Path=/; HttpOnly`);
    }
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ member: route, session }));
  });
  return { route, backend, sessions };
}

/** A browser's cookies for one site: name -> value. */
type Jar = Map<string, string>;

interface Answer {
  status: number;
  /** The member that answered (from its body), undefined for an answer of the balancer's own. */
  member?: string;
}

/** One request of a session: its cookies sent, the answer's Set-Cookie kept (an emptied cookie removed). */
async function visit(base: string, jar: Jar, path: string): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (jar.size > 0) headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
  const response = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(";")[0];
    const equals = pair.indexOf("=");
    const name = pair.slice(0, equals).trim();
    const value = pair.slice(equals + 1).trim();
    if (value === "" || /;\s*max-age=0\b/i.test(line)) jar.delete(name);
    else jar.set(name, value);
  }
  if (response.status !== 200) {
    await response.text();
    return { status: response.status };
  }
  // Ours say `member`, test/support/tomcat.ts's page `backend`.
  const body = await response.json() as { member?: string; backend?: string };
  return { status: 200, member: body.member ?? body.backend };
}

interface Session {
  jar: Jar;
  /** Where the balancer placed it first. */
  member: string;
}

/** `count` sessions started one after the other, and how many each member got. */
async function newSessions(base: string, page: string, count: number): Promise<{ sessions: Session[]; counts: Record<string, number> }> {
  const sessions: Session[] = [];
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const jar: Jar = new Map();
    const answer = await visit(base, jar, page);
    assert.equal(answer.status, 200, `new session ${i} on ${base}`);
    sessions.push({ jar, member: answer.member! });
    counts[answer.member!] = (counts[answer.member!] ?? 0) + 1;
  }
  return { sessions, counts };
}

/** Every member's exact share of `count` new sessions by weight. */
function exactShares(weights: Record<string, number>, count: number): Record<string, number> {
  const total = Object.values(weights).reduce((sum, weight) => sum + weight, 0);
  return Object.fromEntries(Object.entries(weights).map(([member, weight]) => [member, (count * weight) / total]));
}

/** `counts` within `tolerance` of `expected` for every member, and no member outside it. */
function assertShares(who: string, counts: Record<string, number>, expected: Record<string, number>, tolerance: number): void {
  assert.deepEqual(Object.keys(counts).filter((member) => !(member in expected)), [], `${who}: only the expected members got new sessions (${JSON.stringify(counts)})`);
  for (const [member, share] of Object.entries(expected)) {
    const got = counts[member] ?? 0;
    assert.ok(Math.abs(got - share) <= tolerance, `${who}: ${member} got ${got} new sessions, the weights give ${share} (±${tolerance}); all: ${JSON.stringify(counts)}`);
  }
}

/** The original with the test's ports filled in. */
function fill(template: string, values: Record<string, string | number>): string {
  let text = template;
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`@${name}@`, String(value));
  assert.doesNotMatch(text, /@[A-Z0-9]+@/, "every placeholder filled");
  return text;
}

/** `tandem import` run as the operator runs it on `files` (name -> text, written side by side in `dir`); the config it wrote and its report. */
async function importWithCli(dir: string, files: Record<string, string>): Promise<{ configPath: string; report: string }> {
  const sources = Object.entries(files).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  });
  const configPath = join(dir, "tandem.yaml");
  const reportPath = join(dir, "report.txt");
  const imported = await runTandem(["import", ...sources, "--out", configPath, "--report", reportPath]);
  assert.equal(imported.code, 0, imported.stderr);
  return { configPath, report: readFileSync(reportPath, "utf8") };
}

interface Balancer {
  name: string;
  url: string;
}

/**
 * The whole sequence against the reference and tandem side by side. `waitDown` resolves once each
 * balancer says by itself that the stopped member is down (where the original has checks).
 */
async function compare(options: {
  reference: Balancer;
  tandem: Balancer;
  /** The page every request asks for. */
  page: string;
  /** Every member's route (its name in both configs). */
  members: string[];
  weights: Record<string, number>;
  /** The member that goes down, and how to take it down. */
  stopped: { route: string; stop: () => Promise<void> };
  /** The reference's cookie, as its clients hold it, replayed against tandem must keep its member. */
  crossCookie: string;
  /** Sessions that come back with `;<pathParameter>=<JSESSIONID value>` in the URL and no cookie. */
  pathParameter?: { name: string; cookie: string };
  waitDown?: () => Promise<void>;
  /**
   * The reference credits every request to its member, a session's later ones too, when it picks
   * one for a new session (httpd's byrequests, mod_jk's Request), where tandem counts only the
   * sessions it places: a busy session then sends the next new ones elsewhere on the reference
   * only. The import report says so on the line that chose the method.
   */
  referenceCountsEveryRequest?: boolean;
}): Promise<Map<Balancer, Session[]>> {
  const { reference, tandem, weights, stopped, page } = options;
  const balancers = [reference, tandem];
  const tolerance = (balancer: Balancer) => (balancer === tandem ? TANDEM_SHARE_TOLERANCE : 0);

  // New sessions: the weights' shares on both.
  const placed = new Map<Balancer, Session[]>();
  for (const balancer of balancers) {
    const { sessions, counts } = await newSessions(balancer.url, page, NEW_SESSIONS);
    assertShares(balancer.name, counts, exactShares(weights, NEW_SESSIONS), tolerance(balancer));
    placed.set(balancer, sessions);
  }

  // Returning sessions: each on the member it started on.
  for (const balancer of balancers) {
    for (const [i, session] of placed.get(balancer)!.entries()) {
      const answer = await visit(balancer.url, session.jar, page);
      assert.deepEqual(answer, { status: 200, member: session.member }, `${balancer.name}: returning session ${i} stays on ${session.member}`);
    }
  }

  // The session id in the URL instead of a cookie (a client without cookies), on both.
  if (options.pathParameter !== undefined) {
    const { name, cookie } = options.pathParameter;
    for (const balancer of balancers) {
      for (const [i, session] of placed.get(balancer)!.entries()) {
        const answer = await visit(balancer.url, new Map(), `${page};${name}=${session.jar.get(cookie)}?item=${i}`);
        assert.deepEqual(answer, { status: 200, member: session.member }, `${balancer.name}: session ${i} by ;${name}= stays on ${session.member}`);
      }
    }
  }

  // The reference's own cookies, as its clients hold them, against tandem: the values were carried exactly.
  for (const [i, session] of placed.get(reference)!.entries()) {
    const value = session.jar.get(options.crossCookie);
    assert.ok(value, `${reference.name} set ${options.crossCookie} for session ${i}`);
    const answer = await visit(tandem.url, new Map(session.jar), page);
    assert.deepEqual(answer, { status: 200, member: session.member }, `${reference.name}'s ${options.crossCookie}=${value} keeps ${session.member} on tandem`);
  }

  // The weight-2 member goes down.
  await stopped.stop();
  const live = options.members.filter((member) => member !== stopped.route);
  for (const balancer of balancers) {
    const orphan = placed.get(balancer)!.find((session) => session.member === stopped.route)!;
    await waitFor(async () => {
      const answer = await visit(balancer.url, orphan.jar, page);
      return answer.status === 200 && live.includes(answer.member!);
    }, 15_000, `${balancer.name} to answer ${stopped.route}'s session from a live member`);
  }
  await options.waitDown?.();

  for (const balancer of balancers) {
    for (const [i, session] of placed.get(balancer)!.entries()) {
      const answer = await visit(balancer.url, session.jar, page);
      assert.equal(answer.status, 200, `${balancer.name}: session ${i} answered after ${stopped.route} went down`);
      if (session.member !== stopped.route) {
        assert.equal(answer.member, session.member, `${balancer.name}: session ${i} stays on ${session.member}, which is still up`);
        continue;
      }
      assert.ok(live.includes(answer.member!), `${balancer.name}: ${stopped.route}'s session ${i} moved to a live member (got ${answer.member})`);
      const again = await visit(balancer.url, session.jar, page);
      assert.deepEqual(again, { status: 200, member: answer.member }, `${balancer.name}: the moved session ${i} stays on ${answer.member}`);
    }
  }

  // New sessions share the live members by their weights, on both.
  const liveWeights = Object.fromEntries(Object.entries(weights).filter(([member]) => member !== stopped.route));
  for (const balancer of balancers) {
    const { counts } = await newSessions(balancer.url, page, NEW_SESSIONS_AFTER_DOWN);
    assertShares(`${balancer.name} with ${stopped.route} down`, counts, exactShares(liveWeights, NEW_SESSIONS_AFTER_DOWN), tolerance(balancer));
  }

  // One session busy on the first live member, then new sessions: they share the live members by
  // weight on tandem; on a reference that counts every request they go elsewhere until it caught up.
  const [busyMember, otherMember] = live;
  const busyRequests = 20;
  for (const balancer of balancers) {
    const busy = placed.get(balancer)!.find((session) => session.member === busyMember)!;
    for (let i = 0; i < busyRequests; i++) {
      assert.deepEqual(await visit(balancer.url, busy.jar, page), { status: 200, member: busyMember }, `${balancer.name}: the busy session stays on ${busyMember}`);
    }
    const { counts } = await newSessions(balancer.url, page, NEW_SESSIONS_AFTER_DOWN / 2);
    const who = `${balancer.name} after ${busyRequests} requests of a session on ${busyMember}`;
    if (balancer === reference && options.referenceCountsEveryRequest) assert.deepEqual(counts, { [otherMember]: NEW_SESSIONS_AFTER_DOWN / 2 }, who);
    else assertShares(who, counts, exactShares(liveWeights, NEW_SESSIONS_AFTER_DOWN / 2), tolerance(balancer));
  }
  return placed;
}

describe(`tandem import behaves as the original balancer (${runtime})`, () => {
  const haproxySkip = requireTool(THIS, haproxySkipReason());
  const apacheSkip = requireTool(THIS, apacheSkipReason());
  const modJkSkip = apacheSkip || requireTool(THIS, modJkSkipReason());

  test("HAProxy: cookie insert with the servers' cookie values, weights 1:2:1, health checks", { skip: haproxySkip }, async () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const members = await Promise.all(["web1", "web2", "web3"].map(startMember));
      cleanups.push(...members.map((member) => () => member.backend.close()));
      const template = readFileSync(join(FIXTURES, "haproxy.cfg"), "utf8");
      const ports = { WEB1: members[0].backend.port, WEB2: members[1].backend.port, WEB3: members[2].backend.port };
      const haproxy = await startWithConfig((path) => [haproxyBinary()!, "-db", "-f", path], (port) => fill(template, { ...ports, LISTEN: port }));
      cleanups.push(() => haproxy.stop());

      const dir = temporaryDirectory(cleanups);
      const { configPath, report } = await importWithCli(dir, { "haproxy.cfg": fill(template, { ...ports, LISTEN: await freePort() }) });
      assert.match(report, /carried: server web1 127\.0\.0\.1:\d+ cookie w1 weight 1 .* -> pools\.app\.members\[0\]/);
      assert.match(report, /approximated: cookie SERVERID insert indirect nocache -> pools\.app\.sticky: .*sets its own as <value>\.<issued>\.<lastSeen>, which HAProxy would not read back/);
      assert.doesNotMatch(report, /unknown directive/);
      const tandem = await startTandem(undefined, { args: ["--config", configPath] });
      cleanups.push(() => tandem.stop());

      const reference = { name: "haproxy", url: haproxy.url };
      const imported = { name: `tandem (${runtime})`, url: tandem.url };
      const page = "/shop/cart";
      const placed = await compare({
        reference,
        tandem: imported,
        page,
        members: ["web1", "web2", "web3"],
        weights: { web1: 1, web2: 2, web3: 1 },
        stopped: { route: "web2", stop: () => members[1].backend.close() },
        crossCookie: "SERVERID",
        waitDown: () => bothSayDown(haproxy, tandem, "app", "web2"),
      });

      // The documented difference (README Sticky, and the report's line for the cookie): tandem
      // dates the values it sets, w1 -> w1.<issued>.<lastSeen>, which HAProxy takes for an unknown
      // server's and places anew, with a bare value of its own.
      const values: Record<string, string> = { web1: "w1", web3: "w3" };
      for (const session of placed.get(imported)!) {
        const member = (await visit(tandem.url, session.jar, page)).member!;
        assert.match(session.jar.get("SERVERID")!, new RegExp(`^${values[member]}\\.[^.]+\\.[^.]+$`), `tandem's SERVERID for ${member}`);
      }
      const dated = new Map(placed.get(imported)!.find((session) => session.member === "web1")!.jar);
      const tandemValue = dated.get("SERVERID");
      await visit(haproxy.url, dated, page);
      assert.match(dated.get("SERVERID")!, /^w[13]$/, `HAProxy set a bare value of its own for tandem's ${tandemValue}`);
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    }
  });

  test("httpd mod_proxy_balancer: stickysession=JSESSIONID|jsessionid with the members' jvmRoutes, loadfactor 1:2:1", { skip: apacheSkip }, async () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    let httpd: ReferenceProcess | undefined;
    try {
      const members = await Promise.all(["tc1", "tc2", "tc3"].map(startMember));
      cleanups.push(...members.map((member) => () => member.backend.close()));
      const template = readFileSync(join(FIXTURES, "httpd.conf"), "utf8");
      const ports = { TC1: members[0].backend.port, TC2: members[1].backend.port, TC3: members[2].backend.port };
      httpd = await startApache((port, serverRoot) => fill(template, { ...ports, LISTEN: port, SERVERROOT: serverRoot }));
      cleanups.push(() => httpd!.stop());

      const dir = temporaryDirectory(cleanups);
      const { configPath, report } = await importWithCli(dir, { "httpd.conf": fill(template, { ...ports, LISTEN: await freePort(), SERVERROOT: dir }) });
      assert.match(report, /carried: BalancerMember "http:\/\/127\.0\.0\.1:\d+" route=tc2 loadfactor=2 -> pools\.tomcats\.members\[1\]: tc2 .* weight: 2, route: tc2/);
      assert.match(report, /approximated: ProxySet lbmethod=byrequests stickysession=JSESSIONID\|jsessionid -> .*sticky\.mode: route, pools\.tomcats\.sticky\.cookie: JSESSIONID, pools\.tomcats\.sticky\.pathParameter: jsessionid; byrequests counts the requests a session's route sends to a member too/);
      assert.doesNotMatch(report, /unknown directive/);
      const tandem = await startTandem(undefined, { args: ["--config", configPath] });
      cleanups.push(() => tandem.stop());

      await compare({
        reference: { name: "httpd", url: httpd.url },
        tandem: { name: `tandem (${runtime})`, url: tandem.url },
        page: "/shop/cart",
        members: ["tc1", "tc2", "tc3"],
        weights: { tc1: 1, tc2: 2, tc3: 1 },
        stopped: { route: "tc2", stop: () => members[1].backend.close() },
        crossCookie: "JSESSIONID",
        pathParameter: { name: "jsessionid", cookie: "JSESSIONID" },
        referenceCountsEveryRequest: true,
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}\nhttpd said: ${httpd?.output().slice(-3000)}`, { cause: error });
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    }
  });

  test("httpd mod_jk: workers.properties with lbfactor 1:2:1 and sticky_session to real Tomcats over AJP; tandem to their HTTP connectors", { skip: modJkSkip }, async () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    let httpd: ReferenceProcess | undefined;
    try {
      const routes = ["tc1", "tc2", "tc3"];
      const ajpPorts = await distinctFreePorts(routes.length);
      const tomcats = await Promise.all(routes.map((route, i) => startTomcat(route, { engine: withAjpConnector(route, ajpPorts[i]) })));
      cleanups.push(...tomcats.map((tomcat) => () => tomcat.stop()));
      const conf = readFileSync(join(FIXTURES, "httpd-jk.conf"), "utf8");
      const workers = fill(readFileSync(join(FIXTURES, "workers.properties"), "utf8"), { AJP1: ajpPorts[0], AJP2: ajpPorts[1], AJP3: ajpPorts[2] });
      httpd = await startApache((port, serverRoot) => {
        writeFileSync(join(serverRoot, "workers.properties"), workers);
        return fill(conf, { LISTEN: port, SERVERROOT: serverRoot });
      });
      cleanups.push(() => httpd!.stop());

      const dir = temporaryDirectory(cleanups);
      const { configPath, report } = await importWithCli(dir, {
        "httpd-jk.conf": fill(conf, { LISTEN: await freePort(), SERVERROOT: dir }),
        "workers.properties": workers,
      });
      assert.match(report, /carried: worker\.lb\.sticky_session=true -> pools\.lb\.sticky\.mode/);
      assert.match(report, /carried: worker\.tc2\.lbfactor=2 -> pools\.lb\.members\[1\]\.weight/);
      assert.doesNotMatch(report, /unknown directive/);
      // The operator's step the report asks for ("check the <Connector> in server.xml"): the
      // importer guessed each HTTP port from the AJP one (8009 -> 8080); these Tomcats have theirs.
      let yaml = readFileSync(configPath, "utf8");
      for (const [i, ajp] of ajpPorts.entries()) {
        const guessed = ajp - 8009 + 8080;
        assert.match(report, new RegExp(`approximated: worker\\.${routes[i]}\\.port=${ajp} -> the members' url: the AJP port ${ajp} becomes Tomcat's HTTP connector port ${guessed} .*check the <Connector> in server\\.xml`));
        const url = `url: http://127.0.0.1:${guessed} `;
        assert.equal(yaml.split(url).length, 2, `one member at ${url}`);
        yaml = yaml.replace(url, `url: http://127.0.0.1:${tomcats[i].port} `);
      }
      writeFileSync(configPath, yaml);
      const tandem = await startTandem(undefined, { args: ["--config", configPath] });
      cleanups.push(() => tandem.stop());

      await compare({
        reference: { name: "httpd mod_jk", url: httpd.url },
        tandem: { name: `tandem (${runtime})`, url: tandem.url },
        page: "/",
        members: routes,
        weights: { tc1: 1, tc2: 2, tc3: 1 },
        stopped: { route: "tc2", stop: () => tomcats[1].stop() },
        crossCookie: "JSESSIONID",
        pathParameter: { name: "jsessionid", cookie: "JSESSIONID" },
        referenceCountsEveryRequest: true,
      });
      assert.match(report, /approximated: worker\.lb\.method=Request -> pools\.lb\.strategy roundrobin: mod_jk's Request method counts every request, a session's later ones too/);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nhttpd said: ${httpd?.output().slice(-3000)}`, { cause: error });
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    }
  });
});

/** HAProxy's "Server app/web2 is DOWN" on its stderr and tandem's health line for the member. */
async function bothSayDown(haproxy: ReferenceProcess, tandem: TandemProcess, pool: string, member: string): Promise<void> {
  await waitFor(async () => new RegExp(`Server ${pool}/${member} is DOWN`).test(haproxy.output()), 15_000, `haproxy to mark ${pool}/${member} DOWN`);
  await tandem.waitForLine((line) => line.event === "health" && line.pool === pool && line.member === member && line.up === false, 15_000);
}

/** A directory for the imported files and tandem's config, removed with the test's other cleanups. */
function temporaryDirectory(cleanups: (() => Promise<unknown>)[]): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-equivalence-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function modJkSkipReason(): string | false {
  if (!existsSync(MOD_JK)) return "mod_jk is not installed (apt-get install libapache2-mod-jk)";
  if (!tomcatAvailable()) return "tomcat10 or java is not installed (apt-get install tomcat10)";
  return false;
}

const MOD_JK = "/usr/lib/apache2/modules/mod_jk.so";

/**
 * test/support/tomcat.ts's default `<Engine>` with an AJP connector for mod_jk before it: the
 * engine text goes into server.xml's `<Service>` right after the HTTP connector, where Tomcat
 * reads connectors. No secret (`secretRequired="false"`): loopback only, as mod_jk sends none here.
 */
function withAjpConnector(jvmRoute: string, ajpPort: number): string {
  return `<Connector address="127.0.0.1" port="${ajpPort}" protocol="AJP/1.3" secretRequired="false" />
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="${jvmRoute}">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>`;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count && attempt < 20; attempt++) ports.add(await freePort());
  assert.equal(ports.size, count, "distinct free ports");
  return [...ports];
}
