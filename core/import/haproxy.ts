/**
 * haproxy.cfg to tandem: `frontend`/`listen` binds become listeners, `backend`/`listen` servers
 * become pools, `use_backend` rules on host and path become routes (other conditions: listener
 * rules that route), `http-request` / `http-response` lines become traffic rules of the
 * listeners or the pool, and the rest of each proxy
 * (balance, cookie, checks, timeouts, stats, logs, TLS, HSTS, redirects, peers) becomes the keys
 * that do the same in tandem, or a report entry saying why it cannot. Proxies take their initial
 * settings from a `defaults` section (the closest one before them, or `from <name>`), as HAProxy
 * does, so a defaults line is carried once per proxy that uses it and reported once.
 *
 * @module
 */
import type { Draft, Path } from "./draft.ts";
import type { Parser } from "./parser.ts";
import { bindAddress, logTarget, serverAddress } from "./haproxy-addresses.ts";
import { Ledger } from "./haproxy-ledger.ts";
import { HaproxyResolvers } from "./haproxy-discovery.ts";
import { routesOf } from "./haproxy-routes.ts";
import { matcherOf, type RuleDraft, ruleOf } from "./haproxy-rules.ts";
import { RateLimitLines } from "./haproxy-rate-limits.ts";
import { type Directive, formatDuration, parseInteger, parseSize, parseTime, PROXY_SECTIONS, type ProxyKind, readSections, type Section, type Use } from "./haproxy-lex.ts";
import { ImportError, type Origin } from "./report.ts";

export const importHaproxy: Parser = (files, { draft, report }) => {
  const { sections, asides } = readSections(files);
  for (const aside of asides) {
    if (aside.disposition === "carried") report.carried(aside.origin, aside.detail);
    else if (aside.disposition === "approximated") report.approximated(aside.origin, aside.detail);
    else report.notCarried(aside.origin, aside.detail);
  }
  const ledger = new Ledger();
  new HaproxyImport(sections, draft, ledger).run();
  ledger.flush(report);
  return Promise.resolve();
};


/** Which side of a proxy a keyword acts on (configuration.txt 4.1): the frontend's, the backend's, or both. */
type Side = "F" | "B" | "FB";

const SIDES: Record<string, Side> = {
  "bind": "F", "default_backend": "F", "use_backend": "F", "maxconn": "F", "monitor-uri": "F", "monitor": "F",
  "capture": "F", "unique-id-format": "F", "unique-id-header": "F", "log-format": "F", "log-format-sd": "F",
  "error-log-format": "F", "rate-limit": "F", "backlog": "F", "declare": "F",
  "timeout client": "F", "timeout client-fin": "F", "timeout http-request": "F", "timeout http-keep-alive": "F",
  "option httplog": "F", "option httpslog": "F", "option tcplog": "FB", "option dontlognull": "F", "option dontlog-normal": "F",
  "option logasap": "F", "option log-separate-errors": "F", "option http-ignore-probes": "F", "option socket-stats": "F",
  "option clitcpka": "F", "option accept-invalid-http-request": "F", "option disable-h2-upgrade": "F",
  "option tcp-smart-accept": "F", "option http-use-proxy-header": "F", "option contstats": "F",
  "balance": "B", "server": "B", "default-server": "B", "server-template": "B", "cookie": "B", "appsession": "B",
  "hash-type": "B", "hash-balance-factor": "B", "fullconn": "B", "retries": "B", "retry-on": "B", "http-check": "B",
  "http-reuse": "B", "http-send-name-header": "B", "stick": "B", "use-server": "B", "force-persist": "B",
  "ignore-persist": "B", "persist": "B", "source": "B", "dispatch": "B", "load-server-state-from-file": "B",
  "server-state-file-name": "B", "external-check": "B", "tcp-check": "B", "max-keep-alive-queue": "B",
  "timeout connect": "B", "timeout server": "B", "timeout server-fin": "B", "timeout queue": "B", "timeout check": "B",
  "timeout tunnel": "B", "option httpchk": "B", "option redispatch": "B", "option allbackups": "B", "option persist": "B",
  "option abortonclose": "B", "option prefer-last-server": "B", "option checkcache": "B", "option log-health-checks": "B",
  "option srvtcpka": "B", "option tcp-smart-connect": "B", "option http-pretend-keepalive": "B", "option transparent": "B",
  "option ssl-hello-chk": "B", "option tcp-check": "B", "option mysql-check": "B", "option pgsql-check": "B",
  "option redis-check": "B", "option smtpchk": "B", "option ldap-check": "B", "option spop-check": "B",
  "option external-check": "B", "option accept-invalid-http-response": "B",
  "contimeout": "B", "srvtimeout": "B", "clitimeout": "F",
};

/** Keywords of both sides, and the reason when tandem has nothing for them. */
const NOT_CARRIED: Record<string, string> = {
  "acl": "", // decided by the rules that use it
  "description": "tandem has no proxy descriptions",
  "id": "tandem has no numeric proxy ids",
  "disabled": "", "enabled": "",
  "compression": "tandem does not compress answers (the members or a CDN can)",
  "filter": "tandem has no filters",
  "http-request": "", "http-response": "", // traffic rules
  "http-after-response": "", // traffic rules
  "http-error": "tandem has no per-status answer rules (errorPages holds the pages)",
  "tcp-request": "tandem has no TCP rules",
  "tcp-response": "tandem has no TCP rules",
  "errorfiles": "the http-errors sections are not carried; use errorPages",
  "errorloc": "tandem answers errors itself; errorPages holds the pages",
  "errorloc302": "tandem answers errors itself; errorPages holds the pages",
  "errorloc303": "tandem answers errors itself; errorPages holds the pages",
  "email-alert": "tandem sends no email: alert on its health log lines or metrics",
  "log-tag": "", "mode": "", "log": "", "errorfile": "", "stats": "", "redirect": "",
  "option forwardfor": "", "option forwarded": "", "option originalto": "tandem does not send X-Original-To",
  "option http-keep-alive": "tandem keeps client and member connections alive by itself",
  "option http-server-close": "tandem keeps its own pool of member connections and closes it itself",
  "option httpclose": "tandem keeps its own pool of member connections and closes it itself",
  "option forceclose": "tandem keeps its own pool of member connections and closes it itself",
  "option http-no-delay": "tandem writes answers as they come",
  "option http-buffer-request": "tandem streams request bodies",
  "option independent-streams": "tandem times each direction of a body separately already",
  "option nolinger": "tandem closes connections normally",
  "option splice-auto": "the runtimes decide how bytes are moved",
  "option splice-request": "the runtimes decide how bytes are moved",
  "option splice-response": "the runtimes decide how bytes are moved",
  "option tcpka": "the runtimes' socket defaults apply",
  "option h1-case-adjust-bogus-client": "tandem keeps header names as written",
  "option h1-case-adjust-bogus-server": "tandem keeps header names as written",
  "option http-restrict-req-hdr-names": "tandem's HTTP parser refuses invalid header names",
  "option idle-close-on-response": "tandem closes idle connections on shutdown by itself",
  "timeout tarpit": "", // the delay of tarpit rules
  "monitor-uri": "tandem answers GET /healthz and /readyz on the admin address",
  "monitor": "tandem's /readyz answers 503 when a pool has no usable member",
};

/** Directives HAProxy refuses without their arguments, in any mode. */
const REQUIRED_ARGUMENTS: Record<string, { count: number; what: string }> = {
  server: { count: 2, what: "a name and an address are" },
  bind: { count: 1, what: "an address is" },
  use_backend: { count: 1, what: "a backend name is" },
  default_backend: { count: 1, what: "a backend name is" },
  acl: { count: 2, what: "a name and a criterion are" },
  balance: { count: 1, what: "an algorithm is" },
  cookie: { count: 1, what: "a cookie name is" },
  mode: { count: 1, what: "a mode is" },
  retries: { count: 1, what: "a number is" },
  maxconn: { count: 1, what: "a number is" },
};

/** Arguments each `server`/`default-server` keyword takes; those not listed are flags. */
const SERVER_ARGUMENTS: Record<string, number> = {
  "addr": 1, "agent-addr": 1, "agent-inter": 1, "agent-port": 1, "agent-send": 1, "alpn": 1, "ca-file": 1, "check-alpn": 1,
  "check-proto": 1, "check-sni": 1, "ciphers": 1, "ciphersuites": 1, "client-sigalgs": 1, "cookie": 1, "crl-file": 1, "crt": 1,
  "curves": 1, "downinter": 1, "error-limit": 1, "fall": 1, "fastinter": 1, "id": 1, "init-addr": 1, "inter": 1, "log-proto": 1,
  "maxconn": 1, "maxqueue": 1, "max-reuse": 1, "minconn": 1, "namespace": 1, "npn": 1, "observe": 1, "on-error": 1,
  "on-marked-down": 1, "on-marked-up": 1, "pool-low-conn": 1, "pool-max-conn": 1, "pool-purge-delay": 1, "port": 1, "proto": 1,
  "redir": 1, "rise": 1, "resolve-opts": 1, "resolve-prefer": 1, "resolve-net": 1, "resolvers": 1, "set-proxy-v2-tlv-fmt": 1,
  "shard": 1, "sigalgs": 1, "slowstart": 1, "sni": 1, "socks4": 1, "ssl-max-ver": 1, "ssl-min-ver": 1, "tcp-ut": 1, "track": 1,
  "verify": 1, "verifyhost": 1, "weight": 1, "ws": 1, "guid": 1, "hash-key": 1, "log-bufsize": 1, "source": 1, "usesrc": 1,
  "interface": 1, "interface-name": 1,
};

/** Arguments each `bind` keyword takes; those not listed are flags. */
const BIND_ARGUMENTS: Record<string, number> = {
  "crt": 1, "crt-list": 1, "alpn": 1, "npn": 1, "ssl-min-ver": 1, "ssl-max-ver": 1, "name": 1, "id": 1, "maxconn": 1,
  "backlog": 1, "ciphers": 1, "ciphersuites": 1, "curves": 1, "ecdhe": 1, "ca-file": 1, "ca-ignore-err": 1, "ca-sign-file": 1,
  "ca-sign-pass": 1, "crl-file": 1, "crt-ignore-err": 1, "verify": 1, "interface": 1, "namespace": 1, "process": 1, "thread": 1,
  "mss": 1, "nice": 1, "level": 1, "severity-output": 1, "user": 1, "uid": 1, "group": 1, "gid": 1, "mode": 1, "tcp-ut": 1,
  "sigalgs": 1, "client-sigalgs": 1, "proto": 1, "quic-cc-algo": 1, "label": 1, "guid-prefix": 1, "shards": 1, "idle-ping": 1,
};


const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MEMBER_COOKIE = /^[A-Za-z0-9_-]{1,64}$/;

interface Proxy {
  section: Section;
  kind: ProxyKind;
  name: string;
  uses: Use[];
  /** Last-wins settings by key (`timeout server`, `option httpchk`, `balance`...). */
  single: Map<string, Use>;
  /** Repeatable directives by keyword, in order. */
  lists: Map<string, Use[]>;
  /** The uses that act on this proxy's sides (a backend keyword inherited by a frontend does not). */
  applied: Use[];
  mode: string;
  frontend: boolean;
  backend: boolean;
}

interface Server {
  use: Use;
  name: string;
  params: Map<string, string | boolean>;
  defaults: Use[];
  /** A `server-template` line: members from DNS (the pool's discover block), not a member. */
  template?: true;
}

/** A rule made from a line, placed once the lists it goes to are known. */
interface _PendingRule {
  use: Use;
  rule: RuleDraft;
  acls: Use[];
  notes: string[];
}

interface ListenerDraft {
  index: number;
  tls: boolean;
  port: number;
}

class HaproxyImport {
  readonly #sections: Section[];
  readonly #draft: Draft;
  readonly #ledger: Ledger;
  readonly #resolvers: HaproxyResolvers;
  readonly #global = new Map<string, Directive[]>();
  readonly #pools = new Map<string, string>();
  readonly #poolNames = new Set<string>();
  readonly #backends = new Map<string, Proxy>();
  /** ACL lines some carried rule or route uses. */
  readonly #usedAcls = new Set<Use>();
  #listeners = 0;
  readonly #listenerAddresses = new Set<string>();
  #routes = 0;
  /** HTTP frontends and listens that serve traffic: more than one, and tandem's shared routes differ from theirs. */
  #trafficFrontends = 0;
  #defaultPool?: { pool: string; origin: Origin };
  #admin?: { origin: Origin; address?: string };
  #accessLog = false;
  /** The log line whose destination the access log took, and the ones that were tried before it. */
  readonly #logDestinations = new Set<Directive>();
  #usedBases = new Set<Directive>();

  constructor(sections: Section[], draft: Draft, ledger: Ledger) {
    this.#sections = sections;
    this.#draft = draft;
    this.#ledger = ledger;
    this.#resolvers = new HaproxyResolvers(sections, ledger);
  }

  run(): void {
    for (const section of this.#sections) {
      const defaults = section.keyword === "defaults";
      this.#ledger.register(section.header.origin, defaults ? "no frontend, backend or listen follows it" : "not used");
      for (const directive of section.directives) {
        this.#ledger.register(
          directive.origin,
          defaults ? "no frontend, backend or listen uses it (overridden, or of no use to the proxies that inherit it)" : "not used by anything tandem carries",
        );
      }
    }
    for (const section of this.#sections.filter((s) => s.keyword === "global")) {
      this.#ledger.carried(section.header.origin, "(process settings follow)");
      for (const directive of section.directives) this.#global.set(directive.words[0], [...(this.#global.get(directive.words[0]) ?? []), directive]);
    }
    const proxies = this.#proxies();
    for (const proxy of proxies.filter((p) => p.backend)) this.#pool(proxy);
    this.#resolvers.finish();
    this.#trafficFrontends = proxies.filter((p) => p.frontend && p.mode === "http" && !this.#statsOnly(p)).length;
    for (const proxy of proxies.filter((p) => p.frontend)) this.#frontend(proxy);
    for (const proxy of proxies) this.#leftovers(proxy);
    if (this.#defaultPool) this.#draft.set(["defaultPool"], this.#defaultPool.pool, this.#defaultPool.origin);
    if (this.#admin) this.#draft.set(["admin"], this.#admin.address ? { address: this.#admin.address } : {}, this.#admin.origin);
    this.#globalSection();
    for (const section of this.#sections) this.#otherSection(section);
  }

  // ---- sections and inheritance ----------------------------------------------------------------

  #proxies(): Proxy[] {
    const named = new Map<string, Section>();
    const proxies: Proxy[] = [];
    const seen = new Map<string, Section>();
    let lastDefaults: Section | undefined;
    const inheritedFrom = (section: Section, chain: Set<Section>): Use[] => {
      const origin = section.header.origin;
      let base: Section | undefined;
      if (section.from !== undefined) {
        base = named.get(section.from);
        if (!base) throw new ImportError(origin.file, origin.line, `no defaults section named "${section.from}" before this line`);
      } else if (section.keyword !== "defaults") base = lastDefaults;
      if (!base) return [];
      if (chain.has(base)) throw new ImportError(origin.file, origin.line, `defaults "${section.from}" inherit from each other`);
      this.#ledger.carried(base.header.origin, "(settings for the proxies that follow)");
      return [...inheritedFrom(base, new Set([...chain, base])), ...base.directives.map((directive) => ({ directive, inherited: true }))];
    };
    for (const section of this.#sections) {
      if (!PROXY_SECTIONS.includes(section.keyword as ProxyKind)) continue;
      const kind = section.keyword as ProxyKind;
      if (kind === "defaults") {
        if (section.from !== undefined && !named.has(section.from)) {
          throw new ImportError(section.header.origin.file, section.header.origin.line, `no defaults section named "${section.from}" before this line`);
        }
        if (section.name) named.set(section.name, section);
        lastDefaults = section;
        continue;
      }
      const name = section.name!;
      for (const side of kind === "listen" ? ["frontend", "backend"] : [kind]) {
        const other = seen.get(`${side} ${name}`);
        if (other) {
          const origin = section.header.origin;
          throw new ImportError(origin.file, origin.line, `${kind} "${name}": a ${side} of that name already exists (line ${other.header.origin.line})`);
        }
        seen.set(`${side} ${name}`, section);
      }
      const uses = [...inheritedFrom(section, new Set()), ...section.directives.map((directive) => ({ directive, inherited: false }))];
      const proxy: Proxy = {
        section, kind, name, uses, applied: [], single: new Map(), lists: new Map(), mode: "tcp",
        frontend: kind !== "backend", backend: kind !== "frontend",
      };
      this.#collect(proxy);
      proxies.push(proxy);
      if (proxy.backend) this.#backends.set(name, proxy);
    }
    return proxies;
  }

  /** Sorts a proxy's directives into last-wins settings and repeatable lists, as HAProxy applies them. */
  #collect(proxy: Proxy): void {
    for (const use of proxy.uses) {
      const { words, origin } = use.directive;
      const key = _key(words);
      const required = REQUIRED_ARGUMENTS[words[0]];
      if (required && words.length - 1 < required.count) throw new ImportError(origin.file, origin.line, `${words[0]}: ${required.what} required`);
      const side = SIDES[key] ?? SIDES[words[0]];
      const applies = side === undefined || (side.includes("F") && proxy.frontend) || (side.includes("B") && proxy.backend);
      if (!applies) {
        if (!use.inherited) this.#ledger.notCarried(origin, `HAProxy ignores it in a ${proxy.kind}`);
        continue;
      }
      proxy.applied.push(use);
      if (words[0] === "mode") proxy.mode = words[1] ?? proxy.mode;
      if (_repeatable(words)) {
        // `no log` joins the log lines it cancels; `stats auth` the other stats lists.
        const listKey = key.split(" ")[0];
        proxy.lists.set(listKey, [...(proxy.lists.get(listKey) ?? []), use]);
        continue;
      }
      const previous = proxy.single.get(key);
      if (previous) this.#ledger.overridden(previous.directive.origin, origin);
      proxy.single.set(key, use);
    }
  }

  /** What a non-HTTP proxy or an unknown keyword gets; and every own line nothing else reported. */
  #leftovers(proxy: Proxy): void {
    const header = proxy.section.header.origin;
    if (proxy.mode !== "http") {
      this.#ledger.notCarried(header, `mode ${proxy.mode}${proxy.single.has("mode") ? "" : " (HAProxy's default)"}: tandem balances HTTP only`);
      for (const use of proxy.uses) {
        if (!use.inherited && !this.#ledger.has(use.directive.origin)) this.#ledger.notCarried(use.directive.origin, `in a mode ${proxy.mode} ${proxy.kind}: tandem balances HTTP only`);
      }
      return;
    }
    const statsOnly = this.#statsOnly(proxy);
    for (const use of proxy.applied) {
      const { words, origin } = use.directive;
      if (this.#ledger.has(origin)) continue;
      const key = _key(words);
      if (statsOnly) {
        if (!use.inherited && key !== "mode") this.#ledger.notCarried(origin, "in a proxy that only serves the stats page: tandem's admin plane has no such setting");
        if (!use.inherited && key === "mode") this.#ledger.carried(origin, "(HTTP: tandem's only mode)");
        continue;
      }
      const reason = NOT_CARRIED[key] ?? NOT_CARRIED[words[0]];
      if (key === "mode") {
        this.#ledger.carried(origin, "(HTTP: tandem's only mode)");
      } else if (key === "disabled") {
        this.#ledger.notCarried(origin, `the ${proxy.kind} is disabled in HAProxy: leave it out of tandem's config by hand`);
      } else if (key === "enabled") {
        this.#ledger.carried(origin, "(enabled, as every pool)");
      } else if (reason) {
        this.#ledger.notCarried(origin, reason);
      } else if (reason === undefined) {
        const known = SIDES[key] !== undefined || SIDES[words[0]] !== undefined || words[0] === "option";
        this.#ledger.notCarried(origin, known ? `${key}: tandem has no equivalent` : "unknown directive");
      }
    }
  }

  // ---- backends: pools --------------------------------------------------------------------------

  #pool(proxy: Proxy): void {
    if (proxy.mode !== "http" || this.#statsOnly(proxy)) return;
    const header = proxy.section.header.origin;
    const poolName = this.#uniqueName(proxy.name, this.#poolNames);
    const path: Path = ["pools", poolName];
    const servers = this.#servers(proxy);
    const templates = servers.filter((server) => server.template);
    const listed = servers.filter((server) => !server.template);
    const backups = listed.filter((server) => server.params.get("backup") === true).length;
    const members = listed.map((server) => this.#member(server, proxy, backups)).filter((member) => member !== undefined);
    const discover = this.#discover(proxy, poolName, templates);
    if (members.length === 0 && discover === undefined) {
      const why = `${proxy.kind} "${proxy.name}" has no server tandem can carry: a tandem pool needs at least one member`;
      if (proxy.kind === "backend") this.#ledger.notCarried(header, why);
      for (const use of proxy.uses) if (!use.inherited && !this.#ledger.has(use.directive.origin)) this.#ledger.notCarried(use.directive.origin, why);
      return;
    }
    this.#pools.set(proxy.name, poolName);
    this.#poolNames.add(poolName);
    const renamed = poolName === proxy.name ? "" : ` (renamed from "${proxy.name}": tandem names are letters, digits, '.', '_' or '-')`;
    this.#ledger.carried(header, `pools.${poolName}${renamed}`);
    this.#draft.cite(path, header);
    this.#draft.set([...path, "members"], [], undefined);
    this.#placeMembers(members, path);
    if (discover) this.#draft.set([...path, "discover"], discover.block, discover.origin);
    this.#balance(proxy, path);
    // A listen's rules are its frontend's (#frontend); a backend's apply to the requests sent to it.
    if (proxy.kind === "backend") {
      const acls = this.#aclsOf(proxy);
      this.#trafficRules(proxy, [[...path, "rules"]], acls, []);
      this.#unusedAcls(acls);
    }
    this.#sticky(proxy, path, members);
    this.#health(proxy, path, discover ? [...listed, discover.server] : listed, discover ? [...members, { server: discover.server }] : members);
    this.#poolTimeouts(proxy, path);
    this.#retries(proxy, path);
    this.#forwarding(proxy, [poolName]);
    this.#upstreamTls(path, members);
    this.#errorFiles(proxy);
    this.#stats(proxy, false);
  }

  #servers(proxy: Proxy): Server[] {
    const servers: Server[] = [];
    const defaults: Use[] = [];
    // default-server lines apply to the server lines after them, whichever section they are in.
    for (const use of proxy.uses) {
      const keyword = use.directive.words[0];
      if (keyword === "default-server") defaults.push(use);
      if (keyword !== "server" && keyword !== "server-template") continue;
      const { words } = use.directive;
      const template = keyword === "server-template";
      const params = new Map<string, string | boolean>();
      for (const source of [...defaults.map((d) => d.directive.words.slice(1)), words.slice(template ? 4 : 3)]) _params(source, SERVER_ARGUMENTS, params);
      servers.push({ use, name: words[1], params, defaults: [...defaults], ...(template ? { template: true as const } : {}) });
    }
    return servers;
  }

  /** The discover block of the backend's first `server-template` (tandem takes one per pool), or undefined. */
  #discover(proxy: Proxy, poolName: string, templates: Server[]): { block: Record<string, unknown>; origin: Origin; server: Server } | undefined {
    let found: { block: Record<string, unknown>; origin: Origin; server: Server } | undefined;
    for (const server of templates) {
      const { origin } = server.use.directive;
      if (found) {
        this.#ledger.notCarried(origin, `tandem takes one discover block per pool: the template of line ${found.origin.line} is carried`);
        continue;
      }
      const made = this.#resolvers.template(server.use.directive, server.params, this.#portOfFrontends(proxy));
      if ("why" in made) {
        this.#ledger.notCarried(origin, made.why);
        continue;
      }
      found = { block: made.discover, origin, server };
      const key = `pools.${poolName}.discover (members from DNS, named by address)`;
      if (made.notes.length > 0) this.#ledger.approximated(origin, `${key}: ${made.notes.join("; ")}`);
      else this.#ledger.carried(origin, key);
      for (const use of server.defaults) this.#ledger.carried(use.directive.origin, `${key} (its defaults)`);
    }
    return found;
  }

  /** One member, or undefined when the server cannot be one (its line says why). */
  #member(server: Server, proxy: Proxy, backups: number): { member: Record<string, unknown>; server: Server; notes: string[]; memberCookie: string } | undefined {
    const { origin, environment } = server.use.directive;
    if (environment.length > 0) {
      this.#ledger.notCarried(origin, `names the environment variable ${environment.join(", ")}, which tandem import cannot read: write the member by hand`);
      return undefined;
    }
    const address = server.use.directive.words[2];
    const notes: string[] = [];
    const target = serverAddress(address, this.#portOfFrontends(proxy));
    if ("why" in target) {
      this.#ledger.notCarried(origin, target.why);
      return undefined;
    }
    if (target.note) notes.push(target.note);
    const params = server.params;
    const tls = params.get("ssl") === true;
    const host = target.host.includes(":") ? `[${target.host}]` : target.host;
    const url = `${tls ? "https" : "http"}://${host}:${target.port}`;
    try {
      if (new URL(url).pathname !== "/") throw new Error();
    } catch {
      this.#ledger.notCarried(origin, `address ${address} is not a host tandem can connect to`);
      return undefined;
    }
    const member: Record<string, unknown> = { name: server.name, url };
    const number = (key: string, min: number, max: number) => parseInteger(params.get(key) as string, origin, `server ${key}`, min, max);
    if (typeof params.get("weight") === "string") member.weight = number("weight", 0, 256);
    if (typeof params.get("maxconn") === "string") member.maxconn = number("maxconn", 0, 2 ** 31);
    let memberCookie = "";
    const cookie = params.get("cookie");
    if (typeof cookie === "string") {
      if (MEMBER_COOKIE.test(cookie)) {
        member.cookie = cookie;
        memberCookie = cookie;
      } else notes.push(`cookie "${cookie}" is not a tandem member cookie (letters, digits, '-', '_', at most 64): clients holding it lose their member`);
    }
    if (params.get("backup") === true) {
      member.distance = 1;
      notes.push(`backup -> distance 1 (used only when every distance 0 member is down)${backups > 1 && !this.#optionOn(proxy, "allbackups") ? "; HAProxy used only the first backup without option allbackups, tandem balances over all of them" : ""}`);
    }
    if (params.get("disabled") === true) member.activation = "stopped";
    const handled = new Set(["weight", "maxconn", "cookie", "backup", "disabled", "enabled", "check", "inter", "fastinter", "downinter", "rise", "fall", "ssl", "verify", "ca-file", "slowstart", "observe", "error-limit", "id"]);
    const ignored = [...params.entries()].filter(([key, value]) => !handled.has(key) && value !== false).map(([key, value]) => (value === true ? key : `${key} ${value}`));
    if (ignored.length > 0) notes.push(`not carried: ${ignored.join(", ")}`);
    if (params.get("check") === true && (params.has("port") || params.has("addr"))) notes.push("tandem checks the member's own address and port");
    if (server.name !== _sanitize(server.name)) notes.push(`renamed from "${server.name}"`);
    return { member, server, notes, memberCookie };
  }

  #placeMembers(members: { member: Record<string, unknown>; server: Server; notes: string[]; memberCookie: string }[], path: Path): void {
    const names = new Set<string>();
    const cookies = new Set<string>();
    members.forEach(({ member, server, notes, memberCookie }, index) => {
      member.name = this.#uniqueName(member.name as string, names);
      names.add(member.name as string);
      if (memberCookie && cookies.has(memberCookie)) {
        delete member.cookie;
        notes.push(`cookie "${memberCookie}" again in this backend: tandem needs one value per member, so this member gets its own`);
      }
      if (memberCookie) cookies.add(memberCookie);
      const origin = server.use.directive.origin;
      this.#draft.set([...path, "members", index], member, origin);
      const key = `${path.join(".")}.members[${index}]`;
      if (notes.length > 0) this.#ledger.approximated(origin, `${key}: ${notes.join("; ")}`);
      else this.#ledger.carried(origin, key);
      for (const use of server.defaults) this.#ledger.carried(use.directive.origin, `${key} (its defaults)`);
    });
  }

  #balance(proxy: Proxy, path: Path): void {
    const balance = proxy.single.get("balance");
    const hashType = proxy.single.get("hash-type");
    const factor = proxy.single.get("hash-balance-factor");
    let hashed = false;
    if (balance) {
      const { words, origin } = balance.directive;
      const algorithm = words[1] ?? "";
      const set = (strategy: string, hash?: Record<string, unknown>) => {
        this.#draft.set([...path, "strategy"], strategy, origin);
        if (hash) this.#draft.set([...path, "hash"], hash, origin);
        hashed = strategy === "hash";
      };
      const header = /^hdr\(([^)]+)\)$/.exec(algorithm);
      const cookieHash = /^(?:req\.cook|cook)\(([^)]+)\)$/.exec(words[2] ?? "");
      if (algorithm === "roundrobin" || algorithm === "leastconn") {
        set(algorithm);
        this.#ledger.carried(origin, `${path.join(".")}.strategy`);
      } else if (algorithm === "static-rr") {
        set("roundrobin");
        this.#ledger.approximated(origin, `${path.join(".")}.strategy roundrobin (tandem's weights can change at run time)`);
      } else if (algorithm === "source") {
        set("hash", { key: "source" });
        this.#ledger.carried(origin, `${path.join(".")}.strategy hash, hash.key source`);
      } else if (algorithm === "uri") {
        set("hash", { key: "uri" });
        this.#ledger.approximated(origin, `${path.join(".")}.strategy hash, hash.key uri: tandem hashes the path and query${words.includes("whole") ? "" : " (HAProxy the part before '?')"}${words.length > 2 ? `; not carried: ${words.slice(2).filter((w) => w !== "whole").join(" ")}` : ""}`);
      } else if (header) {
        set("hash", { key: "header", name: header[1] });
        const keys = `${path.join(".")}.strategy hash, hash.key header, hash.name ${header[1]}`;
        if (words.length > 2) this.#ledger.approximated(origin, `${keys}; not carried: ${words.slice(2).join(" ")} (tandem hashes the whole value)`);
        else this.#ledger.carried(origin, keys);
      } else if (algorithm === "hash" && cookieHash) {
        set("hash", { key: "cookie", name: cookieHash[1] });
        this.#ledger.carried(origin, `${path.join(".")}.strategy hash, hash.key cookie, hash.name ${cookieHash[1]}`);
      } else if (algorithm === "random" || algorithm === "random(2)") {
        set("p2c");
        this.#ledger.approximated(origin, `${path.join(".")}.strategy p2c: HAProxy's random with 2 draws is the power of two choices`);
      } else if (/^random\(\d+\)$/.test(algorithm)) {
        set("p2c");
        this.#ledger.approximated(origin, `${path.join(".")}.strategy p2c (two draws; HAProxy drew ${algorithm.slice(7, -1)})`);
      } else {
        this.#ledger.notCarried(origin, `balance ${algorithm}: tandem has roundrobin, leastconn, p2c and hash on source, uri, a header or a cookie`);
      }
    }
    if (hashType) {
      const { words, origin } = hashType.directive;
      if (!hashed) this.#ledger.notCarried(origin, "the pool does not balance by hash");
      else if (words[1] === "consistent") this.#ledger.carried(origin, `${path.join(".")}.strategy hash (always consistent)${words.length > 2 ? `; the hash function (${words.slice(2).join(" ")}) is tandem's own` : ""}`);
      else this.#ledger.approximated(origin, `tandem's hash is always consistent (HAProxy: ${words.slice(1).join(" ")})`);
    }
    if (factor) {
      const { words, origin } = factor.directive;
      const value = parseInteger(words[1], origin, "hash-balance-factor", 0);
      if (!hashed) this.#ledger.notCarried(origin, "the pool does not balance by hash");
      else if (value !== 0 && value < 100) this.#ledger.notCarried(origin, "HAProxy ignores a factor below 100");
      else {
        this.#draft.set([...path, "hash", "boundedLoad"], value / 100, origin);
        this.#ledger.carried(origin, `${path.join(".")}.hash.boundedLoad`);
      }
    }
  }

  #sticky(proxy: Proxy, path: Path, members: { memberCookie: string }[]): void {
    const cookie = proxy.single.get("cookie");
    const base = `${path.join(".")}.sticky`;
    let decided = false;
    if (cookie) {
      const { words, origin } = cookie.directive;
      const name = words[1];
      const options = words.slice(2);
      const mode = options.includes("insert") ? "insert" : options.includes("prefix") ? "prefix" : "rewrite";
      const sticky: Record<string, unknown> = { mode: mode === "rewrite" ? "insert" : mode, cookie: name };
      const notes: string[] = [];
      if (mode === "rewrite") notes.push("rewrite -> insert: tandem sets its own cookie of that name and reads the server's values the clients hold");
      for (let index = 0; index < options.length; index++) {
        const option = options[index];
        if (["insert", "prefix", "rewrite"].includes(option)) continue;
        if ((option === "indirect" || option === "nocache") && mode !== "prefix") continue;
        if (option === "httponly") sticky.httpOnly = true;
        else if (option === "secure") sticky.secure = true;
        else if (option === "maxidle" || option === "maxlife") {
          const value = options[++index];
          sticky[option === "maxidle" ? "maxIdle" : "maxLife"] = formatDuration(parseTime(value ?? "", origin, `cookie ${option}`) * (/^\d+$/.test(value ?? "") ? 1000 : 1));
        } else if (option === "domain" || option === "attr") notes.push(`not carried: ${option} ${options[++index] ?? ""}`);
        else notes.push(`not carried: ${option}`);
      }
      // tandem's insert always strips its cookie before forwarding and marks the answer that sets it private.
      if (mode !== "prefix" && !options.includes("indirect")) notes.push("tandem does not pass its cookie on to the member (HAProxy without indirect did)");
      if (mode !== "prefix" && !options.includes("nocache")) notes.push("tandem marks an answer that sets its cookie Cache-Control: private (HAProxy without nocache did not)");
      if (mode !== "prefix" && !options.includes("httponly")) notes.push("tandem adds HttpOnly and SameSite=Lax to the cookies it sets");
      if (members.every((m) => !m.memberCookie)) notes.push("no server has a cookie value: each member gets an opaque id");
      // tandem reads the bare values clients got from HAProxy, but dates the ones it sets itself;
      // HAProxy does not read those back, so going back to it would move each session once.
      else if (mode !== "prefix") notes.push("tandem reads the servers' cookie values as HAProxy set them and sets its own as <value>.<issued>.<lastSeen>, which HAProxy would not read back");
      this.#draft.set([...path, "sticky"], sticky, origin);
      if (notes.length > 0) this.#ledger.approximated(origin, `${base}: ${notes.join("; ")}`);
      else this.#ledger.carried(origin, base);
      decided = true;
    }
    const appsession = proxy.single.get("appsession");
    if (appsession) {
      const { words, origin } = appsession.directive;
      if (decided) this.#ledger.notCarried(origin, "the pool already sticks by its cookie line");
      else {
        const timeout = words.indexOf("timeout");
        const sticky: Record<string, unknown> = { mode: "learn", cookie: words[1] };
        if (timeout > 0) sticky.tableTtl = formatDuration(parseTime(words[timeout + 1] ?? "", origin, "appsession timeout"));
        this.#draft.set([...path, "sticky"], sticky, origin);
        this.#ledger.approximated(origin, `${base} mode learn: appsession (removed in HAProxy 1.6) learned the session id as tandem's learn mode does`);
        decided = true;
      }
    }
    const rules = proxy.lists.get("stick") ?? [];
    const table = proxy.single.get("stick-table");
    let learned: string | undefined;
    for (const rule of rules) {
      const { words, origin } = rule.directive;
      const pattern = words[2] ?? "";
      const cookieIn = /^(?:req\.cook|cook|cookie)\(([^)]+)\)$/.exec(pattern)?.[1];
      const cookieOut = /^(?:res\.cook|scook|set-cookie)\(([^)]+)\)$/.exec(pattern)?.[1];
      const condition = words.some((w) => w === "if" || w === "unless") ? "; its condition is not carried" : "";
      const name = cookieIn ?? cookieOut;
      if (decided && learned === undefined) this.#ledger.notCarried(origin, "the pool already sticks by its cookie line");
      else if (name && learned !== undefined && learned !== name) this.#ledger.notCarried(origin, `the pool already learns cookie ${learned}`);
      else if (name) {
        learned = name;
        decided = true;
        const exact = (words[1] === "match" && cookieIn) || (words[1] === "store-response" && cookieOut);
        if (exact && !condition) this.#ledger.carried(origin, `${base}.mode learn, ${base}.cookie ${name}`);
        else this.#ledger.approximated(origin, `${base}.mode learn, cookie ${name}: tandem learns the id from the member's Set-Cookie and matches the request's cookie${condition}`);
      } else if (pattern === "src" && !decided) {
        this.#draft.set([...path, "strategy"], "hash", origin);
        this.#draft.set([...path, "hash"], { key: "source" }, origin);
        this.#ledger.approximated(origin, `${path.join(".")}.strategy hash on source: the same client address goes to the same member while the members stay, without a table`);
        decided = true;
      } else this.#ledger.notCarried(origin, `stick on ${pattern || "nothing"}: tandem sticks by cookie, route or learned session id`);
    }
    if (learned !== undefined) {
      const sticky: Record<string, unknown> = { mode: "learn", cookie: learned };
      if (table) {
        const { words, origin } = table.directive;
        const notes: string[] = [];
        for (let index = 1; index < words.length; index++) {
          const word = words[index];
          if (word === "size") sticky.tableSize = parseSize(words[++index] ?? "", origin, "stick-table size");
          else if (word === "expire") sticky.tableTtl = formatDuration(parseTime(words[++index] ?? "", origin, "stick-table expire"));
          else if (word === "peers") notes.push(`peers ${words[++index]}: see the peers section (cluster)`);
          else if (word === "type" || word === "len" || word === "store" || word === "write-to") index++;
          else if (word !== "nopurge" && word !== "srvkey") notes.push(`not carried: ${word}`);
        }
        if (!words.includes("expire")) notes.push("HAProxy kept entries until the table was full; tandem's expire after tableTtl (30m) unused");
        if (notes.length > 0) this.#ledger.approximated(origin, `${base}.tableSize, tableTtl; ${notes.join("; ")}`);
        else this.#ledger.carried(origin, `${base}.tableSize, ${base}.tableTtl`);
      }
      this.#draft.set([...path, "sticky"], sticky, (rules[0] ?? table!).directive.origin);
    } else if (table && !this.#ledger.has(table.directive.origin)) {
      // A table the rate limits read (#trafficRules) is carried there.
      this.#ledger.notCarried(table.directive.origin, "no stick rule of this backend learns a cookie");
    }
  }

  #health(proxy: Proxy, path: Path, servers: Server[], members: { server: Server }[]): void {
    const httpchk = proxy.single.get("option httpchk");
    const checks = proxy.lists.get("http-check") ?? [];
    const checked = members.filter(({ server }) => server.params.get("check") === true).map(({ server }) => server);
    const base = `${path.join(".")}.health.check`;
    const on = httpchk && httpchk.directive.words[0] !== "no";
    if (checked.length === 0) {
      const why = "no server of the backend has `check`: tandem runs no active checks either";
      for (const use of [httpchk, ...checks, proxy.single.get("timeout check")]) {
        if (use && !use.inherited) this.#ledger.notCarried(use.directive.origin, why);
      }
      return;
    }
    if (httpchk && !on) this.#ledger.carried(httpchk.directive.origin, "(no HTTP check)");
    const check: Record<string, unknown> = {};
    const origins: Origin[] = [];
    if (on) {
      const { words, origin } = httpchk.directive;
      origins.push(origin);
      // option httpchk [<uri>] | <method> <uri> [<version>]
      const args = words.slice(2);
      const [method, uri, version] = args.length === 1 ? ["GET", args[0], undefined] : [args[0] ?? "GET", args[1] ?? "/", args[2]];
      const hostHeader = /\r\nHost:\s*([^\r\n]+)/i.exec(version ?? "")?.[1];
      check.method = method.toUpperCase();
      check.path = uri.startsWith("/") ? uri : `/${uri}`;
      if (hostHeader) check.host = hostHeader.trim();
      this.#ledger.carried(origin, `${base}.method, ${base}.path${hostHeader ? `, ${base}.host` : ""}`);
    } else {
      check.path = "/";
      check.expect = ["100-599"];
    }
    for (const use of checks) {
      const { words, origin } = use.directive;
      if (!on) {
        this.#ledger.notCarried(origin, "without option httpchk HAProxy does not run HTTP checks");
        continue;
      }
      if (words[1] === "send") {
        const notes: string[] = [];
        for (let index = 2; index < words.length; index++) {
          const word = words[index];
          if (word === "meth") check.method = (words[++index] ?? "GET").toUpperCase();
          else if (word === "uri") check.path = words[++index];
          else if (word === "ver") index++;
          else if (word === "hdr") {
            const [name, value] = [words[++index] ?? "", words[++index] ?? ""];
            if (name.toLowerCase() === "host") check.host = value;
            else notes.push(`hdr ${name}`);
          } else notes.push(word);
        }
        if (notes.length > 0) this.#ledger.approximated(origin, `${base}; not carried: ${notes.join(", ")}`);
        else this.#ledger.carried(origin, base);
      } else if (words[1] === "expect") {
        this.#expect(words.slice(2), origin, check, base);
      } else if (words[1] === "disable-on-404") {
        this.#ledger.notCarried(origin, "tandem has no 404 drain: drain a member with tandem ctl drain");
      } else {
        this.#ledger.notCarried(origin, `http-check ${words[1] ?? ""}: tandem's check is one request and one expectation`);
      }
    }
    if (!on) origins.push(checked[0].use.directive.origin);
    // Interval, rise and fall are per server in HAProxy, per pool in tandem: the first checked server's.
    const first = checked[0].params;
    const origin = checked[0].use.directive.origin;
    const time = (params: Map<string, string | boolean>, key: string) => (typeof params.get(key) === "string" ? parseTime(params.get(key) as string, origin, `server ${key}`) : undefined);
    const interval = time(first, "inter") ?? 2000;
    check.interval = formatDuration(interval);
    const fast = time(first, "fastinter");
    const down = time(first, "downinter");
    if (fast !== undefined) check.fastInterval = formatDuration(fast);
    if (down !== undefined) check.downInterval = formatDuration(down);
    check.rise = typeof first.get("rise") === "string" ? parseInteger(first.get("rise") as string, origin, "server rise", 1) : 2;
    check.fall = typeof first.get("fall") === "string" ? parseInteger(first.get("fall") as string, origin, "server fall", 1) : 3;
    const timeoutCheck = proxy.single.get("timeout check");
    if (timeoutCheck) {
      check.timeout = formatDuration(parseTime(timeoutCheck.directive.words[2] ?? "", timeoutCheck.directive.origin, "timeout check"));
      this.#ledger.carried(timeoutCheck.directive.origin, `${base}.timeout`);
    } else check.timeout = formatDuration(interval);
    const same = (key: string) => checked.every((s) => s.params.get(key) === first.get(key));
    const differing = ["inter", "fastinter", "downinter", "rise", "fall"].filter((key) => !same(key));
    const unchecked = servers.filter((s) => s.params.get("check") !== true).map((s) => s.name);
    for (const server of checked) {
      const notes = [
        ...(differing.length > 0 ? [`${differing.join(", ")} differ between servers: tandem's check is per pool and takes ${checked[0].name}'s`] : []),
      ];
      this.#ledger.carried(server.use.directive.origin, `${base} (check${notes.length > 0 ? `; ${notes.join("; ")}` : ""})`);
    }
    for (const name of unchecked) {
      const server = servers.find((s) => s.name === name)!;
      this.#ledger.approximated(server.use.directive.origin, "no check on this server in HAProxy; tandem's check covers every member of the pool");
    }
    this.#draft.set([...path, "health", "check"], check, origins[0]);
    for (const extra of origins.slice(1)) this.#draft.cite([...path, "health", "check"], extra);
    if (!on) {
      this.#ledger.approximated(checked[0].use.directive.origin, `${base}: HAProxy checked by TCP connect (no option httpchk); tandem's check is an HTTP GET / that any answer passes (expect 100-599)`);
    }
  }

  #expect(words: string[], origin: Origin, check: Record<string, unknown>, base: string): void {
    // http-check expect [min-recv <int>] [comment <msg>] [ok-status <st>] ... [!] <match> <pattern>
    const parameters = new Set(["min-recv", "comment", "ok-status", "error-status", "tout-status", "on-success", "on-error", "status-code"]);
    let index = 0;
    const ignored: string[] = [];
    while (index < words.length && parameters.has(words[index])) {
      ignored.push(`${words[index]} ${words[index + 1] ?? ""}`);
      index += 2;
    }
    const negated = words[index] === "!";
    if (negated) index++;
    const [match, pattern] = [words[index], words[index + 1] ?? ""];
    if (negated) {
      this.#ledger.notCarried(origin, "tandem's check has no negated expectation");
      return;
    }
    if (match === "status") {
      const ranges = pattern.split(",").filter(Boolean);
      if (!ranges.every((range) => /^[1-5]\d\d(?:-[1-5]\d\d)?$/.test(range))) throw new ImportError(origin.file, origin.line, `http-check expect status: not a status or range ("${pattern}")`);
      check.expect = ranges;
    } else if (match === "rstatus") {
      let regex: RegExp;
      try {
        regex = new RegExp(pattern);
      } catch {
        this.#ledger.notCarried(origin, `rstatus ${pattern}: not a regular expression tandem can read`);
        return;
      }
      check.expect = _statusRanges((status) => regex.test(String(status)));
      if ((check.expect as string[]).length === 0) {
        this.#ledger.notCarried(origin, `rstatus ${pattern} matches no status from 100 to 599`);
        delete check.expect;
        return;
      }
      this.#ledger.approximated(origin, `${base}.expect ${(check.expect as string[]).join(",")}: the statuses the expression matches${ignored.length > 0 ? `; not carried: ${ignored.join(", ")}` : ""}`);
      return;
    } else if (match === "string") {
      check.body = pattern;
    } else {
      this.#ledger.notCarried(origin, `expect ${match ?? ""}: tandem's check expects statuses and a body substring`);
      return;
    }
    if (ignored.length > 0) this.#ledger.approximated(origin, `${base}.${match === "string" ? "body" : "expect"}; not carried: ${ignored.join(", ")}`);
    else this.#ledger.carried(origin, `${base}.${match === "string" ? "body" : "expect"}`);
  }

  #poolTimeouts(proxy: Proxy, path: Path): void {
    const base = path.join(".");
    const timeout = (key: string, target: Path[], name: string, note = "") => {
      const use = proxy.single.get(key);
      if (!use) return;
      const { words, origin } = use.directive;
      const value = parseTime(words[key.startsWith("timeout") ? 2 : 1] ?? "", origin, name);
      if (value === 0) {
        this.#ledger.notCarried(origin, "0 is no timeout in HAProxy; tandem's timeouts are finite, its default stays");
        return;
      }
      for (const at of target) this.#draft.set([...path, ...at], formatDuration(value), origin);
      const keys = target.map((at) => `${base}.${at.join(".")}`).join(", ");
      if (note) this.#ledger.approximated(origin, `${keys}${note}`);
      else this.#ledger.carried(origin, keys);
    };
    timeout("timeout connect", [["timeouts", "connect"]], "timeout connect");
    timeout("timeout server", [["timeouts", "response"], ["timeouts", "idle"]], "timeout server");
    timeout("timeout queue", [["queue", "timeout"]], "timeout queue");
    timeout("contimeout", [["timeouts", "connect"]], "contimeout", " (contimeout: the old name of timeout connect)");
    timeout("srvtimeout", [["timeouts", "response"], ["timeouts", "idle"]], "srvtimeout", " (srvtimeout: the old name of timeout server)");
    const tunnel = proxy.single.get("timeout tunnel");
    if (tunnel) this.#ledger.notCarried(tunnel.directive.origin, `tandem applies ${base}.timeouts.idle to upgraded (WebSocket) connections too`);
    const serverFin = proxy.single.get("timeout server-fin");
    if (serverFin) this.#ledger.notCarried(serverFin.directive.origin, "tandem closes half-closed member connections itself");
  }

  #retries(proxy: Proxy, path: Path): void {
    const base = path.join(".");
    const retries = proxy.single.get("retries");
    if (retries) {
      const { words, origin } = retries.directive;
      const value = parseInteger(words[1], origin, "retries");
      this.#draft.set([...path, "retries"], Math.min(value, 10), origin);
      if (value > 10) this.#ledger.approximated(origin, `${base}.retries 10: tandem retries at most 10 times`);
      else this.#ledger.carried(origin, `${base}.retries`);
    }
    const retryOn = proxy.single.get("retry-on");
    if (retryOn) {
      const { words, origin } = retryOn.directive;
      const conditions = new Set<string>();
      const dropped: string[] = [];
      for (const word of words.slice(1)) {
        if (word === "none") continue;
        if (word === "all-retryable-errors") ["conn-failure", "empty-response", "junk-response", "response-timeout", "500", "502", "503", "504"].forEach((c) => conditions.add(c));
        else if (["conn-failure", "empty-response", "junk-response", "response-timeout", "500", "502", "503", "504"].includes(word)) conditions.add(word);
        else dropped.push(word);
      }
      this.#draft.set([...path, "retryOn"], [...conditions], origin);
      const notes = [
        ...(dropped.length > 0 ? [`not carried: ${dropped.join(", ")} (tandem retries on conn-failure, empty-response, junk-response, response-timeout, 500, 502, 503, 504)`] : []),
        ...(words.includes("all-retryable-errors") ? ["all-retryable-errors without 0rtt-rejected, 501"] : []),
      ];
      if (notes.length > 0) this.#ledger.approximated(origin, `${base}.retryOn; ${notes.join("; ")}`);
      else this.#ledger.carried(origin, `${base}.retryOn`);
    }
    const redispatch = proxy.single.get("option redispatch");
    if (redispatch) {
      const { words, origin } = redispatch.directive;
      const off = words[0] === "no";
      this.#draft.set([...path, "redispatch"], !off, origin);
      const interval = words[2];
      if (interval && interval !== "1" && !off) this.#ledger.approximated(origin, `${base}.redispatch: tandem redispatches on the last retry; the interval ${interval} is not carried`);
      else this.#ledger.carried(origin, `${base}.redispatch`);
    }
    const allbackups = proxy.single.get("option allbackups");
    if (allbackups) this.#ledger.carried(allbackups.directive.origin, `${base}.members (every distance 1 member shares the load)`);
    const persist = proxy.single.get("option persist");
    if (persist) this.#ledger.notCarried(persist.directive.origin, "tandem never sends a session to a member that is down; it moves it (redirect, domain, any)");
  }

  /** `option forwardfor` and `option forwarded` of a proxy, onto the pools it sends to. */
  #forwarding(proxy: Proxy, pools: string[]): void {
    for (const key of ["option forwardfor", "option forwarded"]) {
      const use = proxy.single.get(key);
      if (!use) continue;
      const { words, origin } = use.directive;
      if (pools.length === 0) {
        if (!use.inherited) this.#ledger.notCarried(origin, "the frontend sends to no pool tandem carries");
        continue;
      }
      const on = words[0] !== "no";
      const field = key === "option forwardfor" ? "xForwardedFor" : "forwarded";
      for (const pool of pools) {
        this.#draft.set(["pools", pool, "forwarding", field], on, origin);
        const key = `pools.${pool}.forwarding.${field}`;
        if (words.length > 2) {
          this.#ledger.approximated(origin, `${key}; not carried: ${words.slice(2).join(" ")} (tandem replaces the header for untrusted clients and extends it for forwarding.trustedProxies)`);
        } else this.#ledger.carried(origin, key);
      }
    }
  }

  #upstreamTls(path: Path, members: { server: Server }[]): void {
    const secured = members.map(({ server }) => server).filter((server) => server.params.get("ssl") === true);
    if (secured.length === 0) return;
    const verify = secured[0].params.get("verify");
    const caFile = secured[0].params.get("ca-file");
    const origin = secured[0].use.directive.origin;
    if (verify === "none") this.#draft.set([...path, "tls", "verify"], false, origin);
    else if (typeof caFile === "string") this.#draft.set([...path, "tls", "ca"], this.#resolve(caFile, "ca-base"), origin);
    const differ = secured.some((server) => server.params.get("verify") !== verify || server.params.get("ca-file") !== caFile);
    if (differ) this.#ledger.approximated(origin, `${path.join(".")}.tls: verify and ca-file differ between servers; tandem's are per pool, this server's apply`);
  }

  // ---- frontends: listeners, routes -------------------------------------------------------------

  #frontend(proxy: Proxy): void {
    if (proxy.mode !== "http") return;
    const header = proxy.section.header.origin;
    const binds = proxy.lists.get("bind") ?? [];
    const legacyAddress = proxy.kind === "listen" && proxy.section.header.words[2] !== "from" ? proxy.section.header.words[2] : undefined;
    const statsOnly = this.#statsOnly(proxy);
    const ownPool = proxy.backend ? this.#pools.get(proxy.name) : undefined;
    if (statsOnly) {
      const first = binds[0]?.directive;
      const address = first ? this.#bindAddresses(first)[0] : undefined;
      if (first && address && !("why" in address) && !this.#admin?.address) {
        this.#admin = { origin: first.origin, address: address.address };
        this.#ledger.carried(first.origin, "admin.address");
      } else if (first) this.#ledger.notCarried(first.origin, "tandem has one admin address, taken already");
      this.#stats(proxy, true);
      for (const use of binds.slice(1)) this.#ledger.notCarried(use.directive.origin, "tandem's admin plane listens on one address");
      if (proxy.kind !== "backend") this.#ledger.carried(header, "admin (the stats page becomes the dashboard)");
      this.#requestId(proxy);
      return;
    }
    const listeners: ListenerDraft[] = [];
    if (legacyAddress) {
      const fake: Directive = { origin: header, words: ["bind", legacyAddress], environment: [] };
      listeners.push(...this.#listenersOf(fake, true));
    }
    for (const use of binds) listeners.push(...this.#listenersOf(use.directive, false));
    const acls = this.#aclsOf(proxy);
    const { targets, routeRules } = this.#routing(proxy, ownPool, acls);
    this.#trafficRules(proxy, listeners.map((listener) => ["listeners", listener.index, "rules"]), acls, routeRules);
    this.#unusedAcls(acls);
    if (listeners.length === 0) {
      if (proxy.kind === "frontend") this.#ledger.notCarried(header, "no bind tandem can listen on");
      this.#frontendCommon(proxy, targets);
      return;
    }
    if (proxy.kind === "frontend") this.#ledger.carried(header, `listeners[${listeners.map((l) => l.index).join("], listeners[")}]`);
    this.#listenerSettings(proxy, listeners);
    // HSTS set in a backend reaches the clients of the frontends that send to it: their TLS listeners.
    for (const [name, pool] of this.#pools) {
      const backend = this.#backends.get(name);
      if (backend && backend !== proxy && targets.includes(pool)) this.#hsts(backend, listeners, `set in backend ${name}: tandem sends it on every answer of these listeners`);
    }
    this.#frontendCommon(proxy, targets);
  }

  /** A proxy whose only job is the stats page: stats on, no server, no backend to send to. */
  #statsOnly(proxy: Proxy): boolean {
    const stats = proxy.single.get("stats enable") ?? proxy.single.get("stats uri");
    if (!stats) return false;
    const servers = proxy.uses.some((use) => use.directive.words[0] === "server");
    return !servers && !proxy.single.has("default_backend") && !(proxy.lists.get("use_backend")?.length);
  }

  #frontendCommon(proxy: Proxy, targets: string[]): void {
    if (!proxy.backend) {
      this.#forwarding(proxy, targets);
      this.#errorFiles(proxy);
      this.#stats(proxy, false);
    }
    this.#logs(proxy);
    this.#requestId(proxy);
  }

  #bindAddresses(directive: Directive): ({ address: string; port: number; note?: string } | { why: string })[] {
    const { words, origin } = directive;
    if (!words[1]) throw new ImportError(origin.file, origin.line, "bind: an address is required");
    if (directive.environment.length > 0) return [{ why: `names the environment variable ${directive.environment.join(", ")}, which tandem import cannot read` }];
    return words[1].split(",").map((text) => bindAddress(text, origin));
  }

  #listenersOf(directive: Directive, legacy: boolean): ListenerDraft[] {
    const { words, origin } = directive;
    const params = new Map<string, string | boolean>();
    const certificates: string[] = [];
    for (let index = 2; index < words.length; index++) {
      if (words[index] === "crt") certificates.push(words[index + 1] ?? "");
    }
    _params(words.slice(2), BIND_ARGUMENTS, params);
    const notes: string[] = [];
    if (legacy) notes.push("the address on the listen line (the old form of bind)");
    const tls = params.get("ssl") === true;
    let tlsConfig: Record<string, unknown> | undefined;
    if (tls) {
      const files = certificates.filter((path) => !path.endsWith("/") && /\.[A-Za-z0-9]+$/.test(path));
      const directories = certificates.filter((path) => !files.includes(path));
      if (directories.length > 0) notes.push(`crt ${directories.join(", ")}: a directory of certificates; tandem lists each file in tls.certificates`);
      if (params.has("crt-list")) notes.push(`crt-list ${params.get("crt-list")}: list its certificates in tls.certificates`);
      if (files.length === 0) {
        this.#ledger.notCarried(origin, `ssl without a certificate file tandem can name${notes.length > 0 ? `: ${notes.join("; ")}` : ""}`);
        return [];
      }
      tlsConfig = {
        certificates: files.map((file) => {
          const path = this.#resolve(file, "crt-base");
          return { cert: path, key: path };
        }),
      };
      notes.push("key: the same .pem, which holds HAProxy's key beside the chain (name the .key file instead if it is separate)");
      const minimum = (params.get("ssl-min-ver") as string | undefined) ?? this.#globalMinimumTls();
      if (minimum === "TLSv1.3") tlsConfig.minVersion = "1.3";
      else if (minimum && minimum !== "TLSv1.2") notes.push(`ssl-min-ver ${minimum}: tandem never offers TLS below 1.2`);
      else if (minimum) tlsConfig.minVersion = "1.2";
    }
    const protocols = _bindProtocols(params, tls);
    let maxconn = params.get("maxconn");
    if (protocols && typeof maxconn === "string") {
      notes.push(`maxconn ${maxconn}: not carried on an h2 listener (the runtime's HTTP/2 server accepts the connections)`);
      maxconn = undefined;
    }
    const ignored = [...params.entries()]
      .filter(([key, value]) => !["ssl", "crt", "crt-list", "ssl-min-ver", "maxconn", "name", ...(protocols ? ["alpn", "proto"] : [])].includes(key) && value !== false)
      .map(([key, value]) => (value === true ? key : `${key} ${value}`));
    if (ignored.length > 0) notes.push(`not carried: ${ignored.join(", ")}`);
    const made: ListenerDraft[] = [];
    const keys: string[] = [];
    for (const address of this.#bindAddresses(directive)) {
      if ("why" in address) {
        notes.push(address.why);
        continue;
      }
      if (address.note) notes.push(address.note);
      if (this.#listenerAddresses.has(address.address)) {
        notes.push(`${address.address} is already a listener`);
        continue;
      }
      this.#listenerAddresses.add(address.address);
      const index = this.#listeners++;
      const listener: Record<string, unknown> = { address: address.address };
      if (tlsConfig) listener.tls = tlsConfig;
      if (protocols) listener.protocols = protocols;
      if (typeof maxconn === "string") listener.maxConnections = parseInteger(maxconn, origin, "bind maxconn");
      this.#draft.set(["listeners", index], listener, origin);
      keys.push(`listeners[${index}]`);
      made.push({ index, tls, port: address.port });
    }
    if (made.length === 0) this.#ledger.notCarried(origin, notes.join("; "));
    else if (notes.length > 0) this.#ledger.approximated(origin, `${keys.join(", ")}; ${notes.join("; ")}`);
    else this.#ledger.carried(origin, keys.join(", "));
    return made;
  }

  #globalMinimumTls(): string | undefined {
    for (const directive of this.#global.get("ssl-default-bind-options") ?? []) {
      const at = directive.words.indexOf("ssl-min-ver");
      if (at > 0) return directive.words[at + 1];
    }
    return undefined;
  }

  /** `timeout client`, `http-request`, `http-keep-alive`, `maxconn`, redirects and HSTS onto this frontend's listeners. */
  #listenerSettings(proxy: Proxy, listeners: ListenerDraft[]): void {
    const keys = (field: string) => listeners.map((l) => `listeners[${l.index}].${field}`).join(", ");
    const timeouts: [string, string, string][] = [
      ["timeout client", "body", " (HAProxy also applied it to request heads and idle keep-alive connections where timeout http-request / http-keep-alive are unset)"],
      ["clitimeout", "body", " (clitimeout: the old name of timeout client)"],
      ["timeout http-request", "request", ""],
      ["timeout http-keep-alive", "keepAlive", ""],
    ];
    for (const [key, field, note] of timeouts) {
      const use = proxy.single.get(key);
      if (!use) continue;
      const { words, origin } = use.directive;
      const value = parseTime(words[key.startsWith("timeout") ? 2 : 1] ?? "", origin, key);
      if (value === 0) {
        this.#ledger.notCarried(origin, "0 is no timeout in HAProxy; tandem's listener timeouts are finite, its default stays");
        continue;
      }
      for (const listener of listeners) this.#draft.set(["listeners", listener.index, "timeouts", field], formatDuration(value), origin);
      if (note && key !== "timeout client") this.#ledger.approximated(origin, `${keys(`timeouts.${field}`)}${note}`);
      else this.#ledger.carried(origin, `${keys(`timeouts.${field}`)}${note}`);
    }
    const maxconn = proxy.single.get("maxconn");
    if (maxconn) {
      const { words, origin } = maxconn.directive;
      const value = parseInteger(words[1], origin, "maxconn");
      for (const listener of listeners) this.#draft.set(["listeners", listener.index, "maxConnections"], value, origin);
      this.#ledger.approximated(origin, `${keys("maxConnections")}: per listener (HAProxy: for the frontend as a whole)`);
    }
    this.#redirects(proxy, listeners);
    this.#hsts(proxy, listeners);
  }

  #redirects(proxy: Proxy, listeners: ListenerDraft[]): void {
    const rules = [...(proxy.lists.get("http-request") ?? []), ...(proxy.lists.get("redirect") ?? [])];
    for (const use of rules) {
      const { words, origin } = use.directive;
      const offset = words[0] === "redirect" ? 1 : 2;
      if (words[0] === "http-request" && words[1] !== "redirect") continue;
      // Other redirects are traffic rules (#trafficRules).
      if (words[offset] !== "scheme") continue;
      if (words[offset + 1]?.toLowerCase() !== "https") {
        this.#ledger.notCarried(origin, "tandem's scheme redirect is a plain listener's redirectToHttps");
        continue;
      }
      const plain = listeners.filter((l) => !l.tls);
      if (plain.length === 0) {
        this.#ledger.notCarried(origin, "the frontend has no plain listener to redirect from");
        continue;
      }
      const port = listeners.find((l) => l.tls)?.port ?? 443;
      const notes: string[] = [];
      const condition = _condition(words);
      if (condition && !/^(if\s+!\s*\{\s*ssl_fc\s*\}|if\s+\{\s*!ssl_fc\s*\}|unless\s+\{\s*ssl_fc\s*\}|if\s+!ssl_fc|unless\s+ssl_fc)$/.test(condition)) {
        notes.push(`the condition "${condition}" is not carried: every request on the plain listener is redirected`);
      }
      const code = words[words.indexOf("code") + 1];
      if (words.includes("code") && code !== "308") notes.push(`tandem answers 308 (keeps the method and body), HAProxy ${code}`);
      else if (!words.includes("code")) notes.push("tandem answers 308 (keeps the method and body), HAProxy 302");
      const other = words.slice(offset + 2).filter((w, i, all) => !["code", "if", "unless"].includes(w) && all[i - 1] !== "code" && !all.slice(0, i).some((x) => x === "if" || x === "unless"));
      if (other.length > 0) notes.push(`not carried: ${other.join(" ")}`);
      for (const listener of plain) this.#draft.set(["listeners", listener.index, "redirectToHttps"], port, origin);
      const keys = plain.map((l) => `listeners[${l.index}].redirectToHttps ${port}`).join(", ");
      if (notes.length > 0) this.#ledger.approximated(origin, `${keys}; ${notes.join("; ")}`);
      else this.#ledger.carried(origin, keys);
    }
  }

  #hsts(proxy: Proxy, listeners: ListenerDraft[], via?: string): void {
    const rules = [...(proxy.lists.get("http-response") ?? []), ...(proxy.lists.get("http-after-response") ?? [])];
    for (const use of rules) {
      const { words, origin } = use.directive;
      if (!["set-header", "add-header"].includes(words[1]) || words[2]?.toLowerCase() !== "strict-transport-security") continue;
      const secure = listeners.filter((l) => l.tls);
      if (secure.length === 0) {
        this.#ledger.notCarried(origin, "the frontend has no TLS listener: browsers ignore HSTS over plain HTTP");
        continue;
      }
      const value = words[3] ?? "";
      const parts = value.split(";").map((part) => part.trim()).filter(Boolean);
      const maxAge = parts.map((part) => /^max-age\s*=\s*"?(\d+)"?$/i.exec(part)?.[1]).find((age) => age !== undefined);
      if (maxAge === undefined) throw new ImportError(origin.file, origin.line, `Strict-Transport-Security: no max-age number in "${value}"`);
      const hsts: Record<string, unknown> = { maxAge: formatDuration(Number(maxAge) * 1000) };
      if (parts.some((part) => /^includeSubDomains$/i.test(part))) hsts.includeSubDomains = true;
      if (parts.some((part) => /^preload$/i.test(part))) hsts.preload = true;
      for (const listener of secure) this.#draft.set(["listeners", listener.index, "hsts"], hsts, origin);
      const keys = secure.map((l) => `listeners[${l.index}].hsts`).join(", ");
      const notes = [...(via ? [via] : []), ...(_condition(words) ? [`the condition "${_condition(words)}" is not carried`] : [])];
      if (notes.length > 0) this.#ledger.approximated(origin, `${keys}; ${notes.join("; ")}`);
      else this.#ledger.carried(origin, keys);
    }
  }

  /**
   * default_backend and use_backend; returns the pools this frontend sends to, and the
   * use_backend lines that become listener rules: all of its conditional ones (keeping their
   * order) when any condition is more than a host and a path prefix.
   */
  #routing(proxy: Proxy, ownPool: string | undefined, acls: Map<string, Use[]>): { targets: string[]; routeRules: _PendingRule[] } {
    const targets: string[] = [];
    const routeRules: _PendingRule[] = [];
    const usedAcls = this.#usedAcls;
    const conditional = (proxy.lists.get("use_backend") ?? []).filter((use) => use.directive.words.length > 2 && this.#pools.has(use.directive.words[1]));
    const asRules = conditional.some(({ directive: { words, origin } }) => "why" in routesOf(words.slice(2), acls, origin) && !("why" in matcherOf(words.slice(2), acls)));

    for (const use of proxy.lists.get("use_backend") ?? []) {
      const { words, origin } = use.directive;
      const target = words[1];
      const pool = this.#pools.get(target);
      if (!pool) {
        this.#ledger.notCarried(origin, this.#backends.has(target) ? `backend ${target} is not a pool (see its line)` : target.includes("%[") ? "a backend name computed per request: tandem's routes name their pool" : `no backend named ${target}`);
        continue;
      }
      if (words.length === 2) {
        this.#setDefaultPool(pool, origin);
        this.#ledger.approximated(origin, `defaultPool ${pool}: an unconditional use_backend sends everything not routed before it`);
        targets.push(pool);
        continue;
      }
      if (asRules) {
        const when = matcherOf(words.slice(2), acls);
        if ("why" in when) this.#ledger.notCarried(origin, when.why);
        else routeRules.push({ use, rule: { when: when.value, route: pool }, acls: when.acls, notes: when.notes });
        if (!("why" in when) && !targets.includes(pool)) targets.push(pool);
        continue;
      }
      const routes = routesOf(words.slice(2), acls, origin);
      if ("why" in routes) {
        this.#ledger.notCarried(origin, routes.why);
        continue;
      }
      const indices: number[] = [];
      for (const route of routes.routes) {
        const index = this.#routes++;
        const value: Record<string, unknown> = {};
        if (route.host) value.host = route.host;
        if (route.path) value.path = route.path;
        value.pool = pool;
        this.#draft.set(["routes", index], value, origin);
        indices.push(index);
      }
      for (const acl of routes.acls) usedAcls.add(acl);
      for (const acl of routes.acls) this.#ledger.carried(acl.directive.origin, indices.map((i) => `routes[${i}]`).join(", "));
      const keys = indices.map((i) => `routes[${i}]`).join(", ");
      const notes = [...routes.notes, ...(this.#trafficFrontends > 1 ? ["tandem's routes apply to every listener, whichever frontend it came from"] : [])];
      if (notes.length > 0) this.#ledger.approximated(origin, `${keys}; ${notes.join("; ")}`);
      else this.#ledger.carried(origin, keys);
      if (!targets.includes(pool)) targets.push(pool);
    }
    const fallback = proxy.single.get("default_backend");
    if (fallback) {
      const { words, origin } = fallback.directive;
      const pool = this.#pools.get(words[1] ?? "");
      if (!pool) this.#ledger.notCarried(origin, this.#backends.has(words[1] ?? "") ? `backend ${words[1]} is not a pool (see its line)` : `no backend named ${words[1] ?? ""}`);
      else {
        const taken = this.#setDefaultPool(pool, origin);
        if (taken) this.#ledger.carried(origin, "defaultPool");
        else this.#ledger.approximated(origin, `tandem has one defaultPool for every listener: ${this.#defaultPool!.pool} stays`);
        if (!targets.includes(pool)) targets.push(pool);
      }
    } else if (ownPool) {
      this.#setDefaultPool(ownPool, proxy.section.header.origin);
      if (!targets.includes(ownPool)) targets.push(ownPool);
    }
    return { targets, routeRules };
  }

  #aclsOf(proxy: Proxy): Map<string, Use[]> {
    const acls = new Map<string, Use[]>();
    for (const use of proxy.lists.get("acl") ?? []) {
      const name = use.directive.words[1];
      acls.set(name, [...(acls.get(name) ?? []), use]);
    }
    return acls;
  }

  #unusedAcls(acls: Map<string, Use[]>): void {
    for (const [, uses] of acls) {
      for (const use of uses) if (!this.#usedAcls.has(use) && !use.inherited) this.#ledger.notCarried(use.directive.origin, "used by no rule tandem carries");
    }
  }

  /**
   * http-response, http-after-response, http-request and redirect lines (then `routeRules`) as the rules at each of
   * `lists` (the frontend's listeners, or the backend's pool). Response edits come first: in
   * tandem they only take note of the edit, and a request rule that ends the list (allow, a
   * route) must not skip them, as HAProxy's separate response rules are not skipped.
   */
  #trafficRules(proxy: Proxy, lists: Path[], acls: Map<string, Use[]>, routeRules: _PendingRule[]): void {
    const timeout = proxy.single.get("timeout tarpit") ?? proxy.single.get("timeout connect");
    const tarpitMs = timeout ? parseTime(timeout.directive.words[2] ?? "", timeout.directive.origin, "timeout") : 5000;
    const lines = [
      ...(proxy.lists.get("http-response") ?? []),
      ...(proxy.lists.get("http-after-response") ?? []),
      ...(proxy.lists.get("http-request") ?? []),
      ...(proxy.lists.get("redirect") ?? []),
    ];
    const pending: _PendingRule[] = [];
    const rateLimits = new RateLimitLines(proxy.name, proxy.single.get("stick-table"), tarpitMs);
    for (const use of lines) {
      const { words, origin } = use.directive;
      const limited = rateLimits.read(use);
      if (limited !== undefined) {
        if ("why" in limited) this.#ledger.notCarried(origin, limited.why);
        else if ("name" in limited) {
          this.#draft.set(["rateLimits", limited.name], limited.limit, origin);
          pending.push({ use, rule: limited.rule, acls: [], notes: limited.notes });
        }
        continue;
      }
      const made = ruleOf(words[0] === "redirect" ? ["http-request", ...words] : words, acls, { tarpitMs });
      if (made === undefined) continue;
      if ("why" in made) this.#ledger.notCarried(origin, made.why);
      else pending.push({ use, rule: made.value, acls: made.acls, notes: made.notes });
    }
    rateLimits.settle((use, detail) => this.#ledger.carried(use.directive.origin, detail), (use, why) => this.#ledger.notCarried(use.directive.origin, why));
    pending.push(...routeRules);
    const tarpit = proxy.single.get("timeout tarpit");
    const tarpits = pending.some((entry) => entry.rule.tarpit !== undefined || (entry.rule.over as { tarpit?: string } | undefined)?.tarpit !== undefined);
    if (tarpit && lists.length > 0 && tarpits) this.#ledger.carried(tarpit.directive.origin, "(the delay of the tarpit rules)");
    // Inherited from defaults by a proxy without tarpit rules, it is simply of no use there.
    else if (tarpit && !tarpit.inherited) this.#ledger.notCarried(tarpit.directive.origin, "no tarpit rule tandem carries uses it");
    pending.forEach(({ use, rule, acls: used, notes }, index) => {
      const { origin } = use.directive;
      if (lists.length === 0) return this.#ledger.notCarried(origin, "the frontend has no listener tandem carries");
      for (const list of lists) this.#draft.set([...list, index], rule, origin);
      const keys = lists.map((list) => `${list.join(".").replace(/\.(\d+)\./g, "[$1].")}[${index}]`).join(", ");
      for (const acl of used) {
        this.#usedAcls.add(acl);
        this.#ledger.carried(acl.directive.origin, keys);
      }
      if (notes.length > 0) this.#ledger.approximated(origin, `${keys}; ${notes.join("; ")}`);
      else this.#ledger.carried(origin, keys);
    });
  }

  #setDefaultPool(pool: string, origin: Origin): boolean {
    if (this.#defaultPool && this.#defaultPool.pool !== pool) return false;
    this.#defaultPool = { pool, origin };
    return true;
  }

  // ---- logs, stats, errors ----------------------------------------------------------------------

  #logs(proxy: Proxy): void {
    const format = proxy.single.get("option httplog") ?? proxy.single.get("option httpslog");
    const targets = proxy.lists.get("log") ?? [];
    const noLog = targets.some((use) => use.directive.words[0] === "no");
    const effective: Directive[] = [];
    for (const use of targets) {
      const { words, origin } = use.directive;
      if (words[0] === "no") this.#ledger.carried(origin, "(no log)");
      if (words[0] === "no" || noLog) continue;
      if (words[1] === "global") {
        const global = this.#global.get("log") ?? [];
        if (global.length === 0) this.#ledger.notCarried(origin, "the global section has no log line");
        else this.#ledger.carried(origin, "accessLog (the global section's log lines)");
        effective.push(...global);
      } else effective.push(use.directive);
    }
    const dontlognull = proxy.single.get("option dontlognull");
    if (dontlognull) this.#ledger.carried(dontlognull.directive.origin, "(tandem never logs a connection that sent nothing)");
    if (format) {
      const { words, origin } = format.directive;
      if (this.#accessLog && this.#draft.get(["accessLog", "format"]) !== undefined) this.#ledger.carried(origin, "accessLog.format");
      else {
        const clf = words[2] === "clf";
        this.#draft.set(["accessLog", "format"], clf ? "combined" : "httplog", origin);
        if (clf) this.#ledger.approximated(origin, "accessLog.format combined: Apache's combined line, the nearest to HAProxy's CLF form");
        else if (words[1] === "httpslog") this.#ledger.approximated(origin, "accessLog.format httplog: without the TLS fields of httpslog (the JSON format has tlsVersion and sni)");
        else this.#ledger.carried(origin, "accessLog.format");
      }
    }
    if (effective.length === 0 || this.#accessLog) {
      for (const directive of effective) {
        if (!this.#logDestinations.has(directive)) this.#ledger.notCarried(directive.origin, "tandem sends access lines to one destination (the first log line of the first frontend)");
      }
      return;
    }
    let placed = false;
    for (const directive of effective) {
      if (placed) {
        this.#ledger.notCarried(directive.origin, "tandem sends access lines to one destination: the first log line");
        continue;
      }
      const target = logTarget(directive.words);
      this.#logDestinations.add(directive);
      if ("why" in target) {
        this.#ledger.notCarried(directive.origin, target.why);
        continue;
      }
      placed = true;
      this.#accessLog = true;
      this.#logDestinations.add(directive);
      if (target.syslog) this.#draft.set(["accessLog", "syslog"], target.syslog, directive.origin);
      else this.#draft.cite(["accessLog"], directive.origin);
      if (target.note) this.#ledger.approximated(directive.origin, `accessLog${target.syslog ? ".syslog" : ""}: ${target.note}`);
      else this.#ledger.carried(directive.origin, target.syslog ? "accessLog.syslog" : "accessLog (stdout)");
    }
    const tag = this.#global.get("log-tag")?.[0];
    if (tag && this.#draft.get(["accessLog", "syslog"])) {
      this.#draft.set(["accessLog", "syslog", "tag"], tag.words[1], tag.origin);
      this.#ledger.carried(tag.origin, "accessLog.syslog.tag");
    }
  }

  #requestId(proxy: Proxy): void {
    const header = proxy.single.get("unique-id-header");
    const format = proxy.single.get("unique-id-format");
    if (header) {
      this.#draft.set(["accessLog", "requestId", "header"], header.directive.words[1], header.directive.origin);
      this.#ledger.carried(header.directive.origin, "accessLog.requestId.header");
    }
    if (format) this.#ledger.approximated(format.directive.origin, "accessLog.requestId: tandem's ids are UUIDs");
  }

  /** stats lines: the admin plane, with the secrets left to the environment. */
  #stats(proxy: Proxy, statsOnly: boolean): void {
    const keys = [...proxy.single.keys()].filter((key) => key.startsWith("stats "));
    const lists = [...(proxy.lists.get("stats") ?? [])];
    if (keys.length === 0 && lists.length === 0) return;
    const enabled = proxy.single.has("stats enable") || proxy.single.has("stats uri") || statsOnly;
    if (enabled && !this.#admin) this.#admin = { origin: (proxy.single.get("stats enable") ?? proxy.single.get("stats uri"))!.directive.origin };
    const address = () => (this.#admin?.address ? `admin.address ${this.#admin.address}` : "admin.address (127.0.0.1:8404 by default)");
    for (const use of [...keys.map((key) => proxy.single.get(key)!), ...lists]) {
      const { words, origin } = use.directive;
      if (this.#ledger.has(origin) && use.inherited) continue;
      switch (words[1]) {
        case "enable":
          if (statsOnly) this.#ledger.carried(origin, "admin");
          else this.#ledger.approximated(origin, `admin: the dashboard and API on ${address()}, not on this proxy's listeners`);
          break;
        case "uri":
          this.#ledger.approximated(origin, `admin: the dashboard is at / of ${address()}, not at ${words[2] ?? ""}`);
          break;
        case "auth":
          this.#ledger.notCarried(origin, `a password is a secret and is not written: set TANDEM_ADMIN_SECRET (32+ characters) and give ${(words[2] ?? "").split(":")[0] || "the user"} a read token (tandem token --scope read --sub ${(words[2] ?? "").split(":")[0] || "USER"})`);
          break;
        case "admin":
          this.#ledger.approximated(origin, `admin: changes need an admin-scope token (tandem token --scope admin); the condition "${words.slice(2).join(" ")}" is not carried`);
          break;
        case "socket":
        case "timeout":
          this.#ledger.notCarried(origin, "the admin API replaces the stats socket (tandem ctl)");
          break;
        default:
          this.#ledger.notCarried(origin, `stats ${words[1] ?? ""}: the dashboard has no such setting`);
      }
    }
  }

  #errorFiles(proxy: Proxy): void {
    for (const [key, use] of proxy.single) {
      if (!key.startsWith("errorfile ")) continue;
      const { words, origin } = use.directive;
      if (this.#ledger.has(origin) && use.inherited) continue;
      const [code, file] = [words[1], words[2]];
      if (!code || !file) throw new ImportError(origin.file, origin.line, "errorfile: a status code and a file are required");
      if (!/^[45]\d\d$/.test(code)) {
        this.#ledger.notCarried(origin, `tandem's error pages are for statuses 400 to 599 (not ${code})`);
        continue;
      }
      if (!/\.(html?|json|xml|txt)$/i.test(file)) {
        this.#ledger.notCarried(origin, `${file} is a whole HTTP response (status line, headers, body); tandem's errorPages take the body alone as .html, .json, .xml or .txt: save its body as e.g. errors/${code}.html and set errorPages."${code}"`);
        continue;
      }
      const existing = this.#draft.get(["errorPages", code]);
      if (existing !== undefined && existing !== file) {
        this.#ledger.approximated(origin, `tandem has one errorPages."${code}" for every pool: ${existing} stays`);
        continue;
      }
      this.#draft.set(["errorPages", code], file, origin);
      this.#ledger.approximated(origin, `errorPages."${code}": HAProxy sent the file as the whole response; tandem sends it as the body with its own status and headers`);
    }
  }

  /** `name` made a valid tandem name, and unique among `taken` (a suffix -2, -3...). */
  #uniqueName(name: string, taken: Set<string>): string {
    const base = _sanitize(name);
    let candidate = base;
    for (let count = 2; taken.has(candidate); count++) candidate = `${base}-${count}`;
    return candidate;
  }

  #optionOn(proxy: Proxy, option: string): boolean {
    const use = proxy.single.get(`option ${option}`);
    return use !== undefined && use.directive.words[0] !== "no";
  }

  #portOfFrontends(proxy: Proxy): number | undefined {
    const binds = proxy.lists.get("bind") ?? [];
    const first = binds[0]?.directive;
    if (!first) return undefined;
    const address = this.#bindAddresses(first)[0];
    return address && !("why" in address) ? address.port : undefined;
  }

  /** A relative `crt` or `ca-file` against the global `crt-base` / `ca-base`, as HAProxy resolves it. */
  #resolve(file: string, baseKeyword: string): string {
    const base = this.#global.get(baseKeyword)?.[0];
    if (!base || file.startsWith("/") || !base.words[1]) return file;
    this.#usedBases.add(base);
    return `${base.words[1].replace(/\/$/, "")}/${file}`;
  }

  // ---- the global section and the sections without proxies -------------------------------------

  #globalSection(): void {
    for (const [keyword, directives] of this.#global) {
      for (const directive of directives) {
        const { words, origin } = directive;
        if (this.#ledger.has(origin)) continue;
        const reason = _globalReason(words);
        if (keyword === "nbthread") {
          const value = parseInteger(words[1], origin, "nbthread", 1);
          this.#draft.set(["workers"], Math.min(value, 64), origin);
          if (value > 64) this.#ledger.approximated(origin, "workers 64: tandem runs at most 64");
          else this.#ledger.carried(origin, "workers");
        } else if (keyword === "log") {
          this.#ledger.notCarried(origin, "no frontend sends its logs here (log global)");
        } else if (keyword === "crt-base" || keyword === "ca-base") {
          if (this.#usedBases.has(directive)) this.#ledger.carried(origin, `(resolves the ${keyword === "crt-base" ? "certificate" : "CA"} paths)`);
          else this.#ledger.notCarried(origin, `no ${keyword === "crt-base" ? "crt" : "ca-file"} tandem carries is relative to it`);
        } else if (keyword === "ssl-default-bind-options") {
          const tls = this.#draft.get(["listeners"]);
          const any = Array.isArray(tls) && tls.some((l) => (l as Record<string, unknown>).tls);
          if (any && words.includes("ssl-min-ver")) this.#ledger.approximated(origin, `listeners[].tls.minVersion; not carried: ${words.slice(1).filter((w, i, a) => w !== "ssl-min-ver" && a[i - 1] !== "ssl-min-ver").join(" ") || "nothing else"} (tandem never offers SSLv3, TLS 1.0 or 1.1)`);
          else this.#ledger.notCarried(origin, any ? "tandem never offers SSLv3, TLS 1.0 or 1.1; its ciphers are the runtime's" : "no TLS listener");
        } else if (keyword === "hard-stop-after") {
          const value = parseTime(words[1] ?? "", origin, "hard-stop-after");
          this.#draft.set(["drainTimeout"], formatDuration(value), origin);
          this.#ledger.approximated(origin, "drainTimeout: how long requests in flight may finish after SIGTERM");
        } else if (keyword === "tune.http.maxhdr") {
          const value = parseInteger(words[1], origin, "tune.http.maxhdr", 1, 10_000);
          const count = this.#listeners;
          for (let index = 0; index < count; index++) this.#draft.set(["listeners", index, "limits", "fields"], value, origin);
          this.#ledger.carried(origin, "listeners[].limits.fields");
        } else if (keyword === "localpeer") {
          this.#ledger.carried(origin, "cluster.node (see the peers section)");
        } else if (keyword === "maxconn") {
          this.#ledger.notCarried(origin, "a process-wide limit: tandem limits connections per listener (listeners[].maxConnections) and by the descriptor limit");
        } else if (keyword === "log-tag") {
          this.#ledger.notCarried(origin, "no syslog access log to tag");
        } else this.#ledger.notCarried(origin, reason);
      }
    }
  }

  #otherSection(section: Section): void {
    const reasons: Record<string, string> = {
      userlist: "tandem's admin plane authenticates with tokens (TANDEM_ADMIN_SECRET, tandem token); passwords are not carried",
      mailers: "tandem sends no email: alert on its health log lines or metrics",
      cache: "tandem has no HTTP cache",
      program: "run other programs with systemd",
      "http-errors": "tandem's errorPages hold the pages (one set for every pool)",
      ring: "tandem has no log rings",
      "log-forward": "tandem does not forward syslog",
      "fcgi-app": "tandem speaks HTTP to its members, not FastCGI",
      "crt-store": "name the certificate files in tls.certificates",
      traces: "tandem has no trace sections",
    };
    if (section.keyword === "peers") {
      this.#peers(section);
      return;
    }
    const reason = reasons[section.keyword];
    if (!reason) return;
    this.#ledger.notCarried(section.header.origin, reason);
    for (const directive of section.directives) this.#ledger.notCarried(directive.origin, reason);
  }

  /** A peers section: the nodes of a replication cluster, this one named by localpeer (HAProxy: -L or the host name). */
  #peers(section: Section): void {
    const header = section.header.origin;
    if (this.#draft.get(["cluster"]) !== undefined) {
      this.#ledger.notCarried(header, "tandem replicates within one cluster: the first peers section");
      for (const directive of section.directives) this.#ledger.notCarried(directive.origin, "tandem replicates within one cluster: the first peers section");
      return;
    }
    const nodes: { name: string; address?: string; origin: Origin }[] = [];
    let bind: Directive | undefined;
    for (const directive of section.directives) {
      const { words, origin } = directive;
      if (words[0] === "peer" || words[0] === "server") {
        if (!words[1]) throw new ImportError(origin.file, origin.line, `${words[0]}: a name is required`);
        if (words[0] === "peer" && !words[2]) throw new ImportError(origin.file, origin.line, "peer: an address is required");
        nodes.push({ name: words[1], address: words[2], origin });
      } else if (words[0] === "bind") bind = directive;
      else this.#ledger.notCarried(origin, words[0] === "table" ? "tandem's stick tables are the pools' (sticky.mode learn)" : "tandem's replication has no such setting");
    }
    const localpeer = this.#global.get("localpeer")?.[0]?.words[1];
    const local = nodes.find((node) => node.name === localpeer) ?? nodes.find((node) => node.address === undefined) ?? nodes[0];
    const others = nodes.filter((node) => node !== local && node.address);
    const listen = local?.address ?? (bind ? bind.words[1] : undefined);
    const clusterName = _sanitize(section.name ?? "peers").slice(0, 64);
    const valid = (address: string | undefined) => address !== undefined && /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/.test(address);
    if (!local || !valid(listen) || others.length === 0 || !others.every((node) => valid(node.address))) {
      const why = "a cluster needs this node's address and at least one other peer with host:port";
      this.#ledger.notCarried(header, why);
      for (const node of nodes) this.#ledger.notCarried(node.origin, why);
      if (bind) this.#ledger.notCarried(bind.origin, why);
      return;
    }
    const guessed = local.name !== localpeer && local.address !== undefined;
    const cluster = {
      name: clusterName,
      node: _sanitize(local.name).slice(0, 64),
      listen: listen!,
      peers: others.map((node) => ({ name: _sanitize(node.name).slice(0, 64), address: node.address! })),
    };
    this.#draft.set(["cluster"], cluster, header);
    this.#ledger.approximated(header, "cluster: tandem replicates learned sessions and admin changes between these nodes; set TANDEM_CLUSTER_KEY (32+ characters, the same on every node) or cluster.tls: HAProxy's peers had no authentication");
    for (const node of nodes) {
      if (node === local) {
        if (guessed) this.#ledger.approximated(node.origin, `cluster.node, cluster.listen: this file is taken as ${node.name}'s (HAProxy picks the local peer by -L or the host name); on another node set cluster.node to its name and list ${node.name} under cluster.peers`);
        else this.#ledger.carried(node.origin, "cluster.node, cluster.listen");
      } else this.#ledger.carried(node.origin, "cluster.peers");
    }
    if (bind) this.#ledger.carried(bind.origin, local.address ? "(the local peer's address)" : "cluster.listen");
  }
}

// ---- helpers ------------------------------------------------------------------------------------

/** The key a directive is known by: `timeout server`, `option httpchk` (also for `no option`), `stats auth`, `errorfile 503`. */
function _key(words: string[]): string {
  const [first, second, third] = words;
  if ((first === "no" || first === "default") && second === "option") return `option ${third ?? ""}`;
  if (first === "no" && second === "log") return "log";
  if (first === "option" || first === "timeout" || first === "stats" || first === "errorfile") return `${first} ${second ?? ""}`;
  return first;
}

/** Directives HAProxy keeps a list of, rather than letting the last one win. */
function _repeatable(words: string[]): boolean {
  const key = _key(words);
  if (key === "stats auth" || key === "stats http-request" || key === "stats scope" || key === "stats admin") return true;
  return ["bind", "server", "default-server", "server-template", "use_backend", "use-server", "acl", "http-request", "http-response", "http-after-response",
    "http-check", "tcp-check", "tcp-request", "tcp-response", "log", "stick", "capture", "redirect", "compression", "filter", "monitor",
    "email-alert", "errorloc", "errorloc302", "errorloc303", "http-error", "declare", "force-persist", "ignore-persist"].includes(key) ||
    (words[0] === "no" && words[1] === "log");
}

/** Reads `keyword [value]` pairs into `params` (a later one wins; `no-X` turns flag X off). */
function _params(words: string[], arities: Record<string, number>, params: Map<string, string | boolean>): void {
  for (let index = 0; index < words.length; index++) {
    const word = words[index];
    if (arities[word]) {
      params.set(word, words[index + 1] ?? "");
      index += arities[word];
    } else if (word === "enabled") params.set("disabled", false);
    else if (word.startsWith("no-") && !arities[word]) params.set(word.slice(3), false);
    else params.set(word, true);
  }
}

/** A name tandem accepts: letters, digits, '.', '_', '-', starting with a letter or digit. */
function _sanitize(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, "-");
  return NAME.test(cleaned) ? cleaned : `x${cleaned}`;
}

function _statusRanges(matches: (status: number) => boolean): string[] {
  const ranges: string[] = [];
  let start: number | undefined;
  for (let status = 100; status <= 600; status++) {
    const inside = status < 600 && matches(status);
    if (inside && start === undefined) start = status;
    if (!inside && start !== undefined) {
      ranges.push(start === status - 1 ? `${start}` : `${start}-${status - 1}`);
      start = undefined;
    }
  }
  return ranges;
}

/** The `if …`/`unless …` part of a rule, as written, or "". */
function _condition(words: string[]): string {
  const at = words.findIndex((word) => word === "if" || word === "unless");
  return at < 0 ? "" : words.slice(at).join(" ");
}




function _globalReason(words: string[]): string {
  const keyword = words[0];
  const service = "the service manager runs tandem (deploy/systemd: user, sandbox, PID file)";
  const reasons: Record<string, string> = {
    daemon: service, "master-worker": service, user: service, group: service, uid: service, gid: service, chroot: service,
    pidfile: service, "ulimit-n": "set LimitNOFILE in the systemd unit", nbproc: "tandem has workers (threads), see nbthread",
    "cpu-map": "tandem does not pin threads", "stats": "the admin API replaces the stats socket (tandem ctl)",
    "server-state-file": "tandem keeps run-time state in its own stateFile", "server-state-base": "tandem keeps run-time state in its own stateFile",
    "default-path": "tandem resolves relative paths against its config file", "zero-warning": "tandem check reports problems itself",
    "strict-limits": "tandem check reports problems itself", "spread-checks": "tandem adds ±10 % jitter to every check interval",
    "node": "tandem names nodes in cluster.node", description: "tandem has no process description",
    "h1-case-adjust": "tandem keeps header names as written", "h1-case-adjust-file": "tandem keeps header names as written",
    "expose-experimental-directives": "no experimental directives are carried", "insecure-fork-wanted": "tandem runs no external checks",
    "external-check": "tandem runs no external checks", "log-send-hostname": "tandem leaves the host name to the receiver",
    "ssl-server-verify": "tandem verifies member certificates unless a pool's tls.verify is false", "ssl-dh-param-file": "the runtime's TLS defaults apply",
    "setenv": "tandem import does not expand environment variables", "presetenv": "tandem import does not expand environment variables",
    "resetenv": "tandem import does not expand environment variables", "unsetenv": "tandem import does not expand environment variables",
    "maxconnrate": "tandem's rate limits count per client (rateLimits), not the process's connections", "maxsessrate": "tandem's rate limits count per client (rateLimits), not the process's sessions", "maxsslrate": "tandem's rate limits count per client (rateLimits), not the process's TLS handshakes",
    "maxsslconn": "tandem limits connections per listener", "maxpipes": "the runtimes decide how bytes are moved", "noepoll": "the runtimes choose their poller",
    "nosplice": "the runtimes decide how bytes are moved", "busy-polling": "the runtimes choose their poller", "grace": "tandem drains for drainTimeout",
    "quiet": "tandem logs events as JSON lines", "debug": "tandem logs events as JSON lines", "set-dumpable": "not a tandem setting",
    "unix-bind": "tandem's admin plane is HTTP",
  };
  if (keyword in reasons) return reasons[keyword];
  if (keyword.startsWith("ssl-default-") || keyword.startsWith("ssl-") || keyword.startsWith("tune.ssl")) return "the runtime's TLS defaults apply (TLS 1.2+, modern ciphers)";
  if (keyword.startsWith("tune.")) return "tandem's buffers and limits are its own (listeners[].limits)";
  if (keyword.startsWith("lua-")) return "tandem runs no Lua";
  if (/^(51degrees|wurfl|deviceatlas)-/.test(keyword)) return "tandem has no device detection";
  if (keyword.startsWith("ocsp-") || keyword.startsWith("httpclient.")) return "tandem has no such setting";
  return "unknown directive";
}

/**
 * `alpn h2,…` on an ssl bind, or `proto h2` on a plain one (h2c with prior knowledge), is an h2
 * listener; HTTP/1.1 stays served, as tandem always serves it.
 */
function _bindProtocols(params: ReadonlyMap<string, string | boolean>, tls: boolean): string[] | undefined {
  const alpn = params.get("alpn");
  const offersH2 = tls ? typeof alpn === "string" && alpn.split(",").includes("h2") : params.get("proto") === "h2";
  return offersH2 ? ["http/1.1", "h2"] : undefined;
}
