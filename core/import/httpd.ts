/**
 * Apache httpd with mod_proxy_balancer to tandem: `<Proxy balancer://…>` with its `BalancerMember`s
 * and `ProxySet`, `ProxyPass` paths (also inside `<Location>`), `<VirtualHost>`s with their names,
 * TLS, HSTS and redirect to https, `Listen`, and the balancer-manager. Everything else in a site
 * file is reported as not carried, with why.
 *
 * httpd's syntax as httpd reads it (server/config.c, server/util.c): one directive per line, a `\`
 * as the very last character joins the next line (a comment ending in `\` swallows it too),
 * `#` starts a comment only as the first non-blank character, directive names are
 * case-insensitive, arguments are words or `"…"`/`'…'` strings with `\"` inside, containers
 * `<Name args>` … `</Name>` must close in the file that opened them, `${VAR}` is replaced by a
 * `Define`d value, and `Include`/`IncludeOptional` read other files in place.
 *
 * @module
 */
import type { Draft } from "./draft.ts";
import type { ImportContext, SourceFile } from "./parser.ts";
import { ImportError, type ImportReport, type Origin } from "./report.ts";

/** One directive as httpd reads it; a container has `children`, an Include the files it read. */
interface Directive {
  /** Lower-cased name, `<proxy` for a container. */
  key: string;
  /** The name as written, for messages: `Proxy` for a container. */
  name: string;
  args: string[];
  origin: Origin;
  children?: Directive[];
  included?: { files: string[]; directives: Directive[] };
}

/** How many names #loadedModules starts with: more means a LoadModule was read. */
const STATIC_MODULES = 15;

/** An include may nest this deep before httpd itself gives up (AP_MAX_INCLUDE_DEPTH). */
const MAX_INCLUDE_DEPTH = 128;

export async function importHttpd(files: SourceFile[], context: ImportContext): Promise<void> {
  const reader = new ConfigReader(context);
  const trees: Directive[] = [];
  for (const file of files) trees.push(...await reader.read(file, []));
  const importer = new HttpdImport(context.draft, context.report);
  importer.walk(trees, { kind: "server" });
  importer.emit();
}

// ---------------------------------------------------------------------------------------------
// Reading: lines, words, containers, includes.

class ConfigReader {
  readonly #context: ImportContext;
  readonly #defines = new Map<string, string>();
  #serverRoot: string | undefined;

  constructor(context: ImportContext) {
    this.#context = context;
  }

  /** The directives of `file`, includes read in place; `chain` holds the files including it. */
  async read(file: SourceFile, chain: string[]): Promise<Directive[]> {
    const root: Directive[] = [];
    const open: Directive[] = [];
    for (const { line, text } of logicalLines(file.text)) {
      const origin: Origin = { file: file.path, line, text };
      const content = this.#substitute(text.trim());
      if (content === "" || content.startsWith("#")) continue;
      const words = splitWords(content);
      const first = words[0];
      const siblings = open.length > 0 ? open[open.length - 1].children! : root;
      if (first.startsWith("</")) {
        const name = first.slice(2).replace(/>$/, "").toLowerCase();
        const top = open.pop();
        if (!top) throw new ImportError(file.path, line, `</${first.slice(2).replace(/>$/, "")}> without matching <${first.slice(2).replace(/>$/, "")}> section`);
        if (top.key !== `<${name}`) throw new ImportError(file.path, line, `expected </${top.name}> (for line ${top.origin.line}) but saw ${first.replace(/>?$/, ">")}`);
        continue;
      }
      if (first.startsWith("<")) {
        const directive = this.#container(content, origin);
        siblings.push(directive);
        open.push(directive);
        continue;
      }
      const directive: Directive = { key: first.toLowerCase(), name: first, args: words.slice(1), origin };
      siblings.push(directive);
      if (directive.key === "define" && directive.args.length >= 1) this.#defines.set(directive.args[0], directive.args[1] ?? "");
      if (directive.key === "undefine" && directive.args.length >= 1) this.#defines.delete(directive.args[0]);
      if (directive.key === "serverroot" && directive.args.length === 1) this.#serverRoot = directive.args[0].replace(/\/$/, "");
      if (directive.key === "include" || directive.key === "includeoptional") directive.included = await this.#include(directive, file.path, chain);
    }
    const unclosed = open.shift();
    if (unclosed) throw new ImportError(file.path, unclosed.origin.line, `<${unclosed.name}> was not closed (at the end of ${file.path})`);
    return root;
  }

  /** `<Proxy "balancer://x">`: httpd cuts the argument text at its last `>` and reads words from the rest. */
  #container(content: string, origin: Origin): Directive {
    const name = /^<[^\s>]+/.exec(content)?.[0];
    if (name === undefined) throw new ImportError(origin.file, origin.line, "a section must be named: <Name arguments>");
    const rest = content.slice(name.length);
    const close = rest.lastIndexOf(">");
    if (close === -1) throw new ImportError(origin.file, origin.line, `${name} directive missing closing '>'`);
    return { key: name.toLowerCase(), name: name.slice(1), args: splitWords(rest.slice(0, close)), origin, children: [] };
  }

  /** `${NAME}` of a `Define`; httpd leaves an unknown one as written (and warns). */
  #substitute(text: string): string {
    return text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name: string) => this.#defines.get(name) ?? whole);
  }

  async #include(directive: Directive, from: string, chain: string[]): Promise<Directive["included"]> {
    const { file, line } = directive.origin;
    const pattern = directive.args[0];
    if (pattern === undefined) throw new ImportError(file, line, `${directive.name} takes one argument, a file name or wildcard`);
    if (chain.length >= MAX_INCLUDE_DEPTH) throw new ImportError(file, line, `includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
    // httpd reads a relative name against ServerRoot; without one, the including file's directory stands in.
    const resolved = !pattern.startsWith("/") && this.#serverRoot !== undefined ? `${this.#serverRoot}/${pattern}` : pattern;
    let matched: SourceFile[];
    try {
      matched = await this.#context.readInclude(resolved, from);
    } catch (error) {
      if (directive.key === "includeoptional") matched = [];
      else throw new ImportError(file, line, `${pattern}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (matched.length === 0 && directive.key === "include" && /[*?[]/.test(pattern)) {
      throw new ImportError(file, line, `no matches for the wildcard pattern ${pattern} (IncludeOptional allows none)`);
    }
    const directives: Directive[] = [];
    for (const included of matched) {
      const loop = [...chain, from];
      if (loop.includes(included.path)) throw new ImportError(file, line, `include loop: ${[...loop.slice(loop.indexOf(included.path)), included.path].join(" -> ")}`);
      directives.push(...await this.read(included, loop));
    }
    return { files: matched.map((included) => included.path), directives };
  }
}

/** Lines joined where one ends in `\` (httpd drops the backslash and the line break, nothing else). */
function* logicalLines(text: string): Generator<{ line: number; text: string }> {
  const physical = text.split("\n").map((line) => line.replace(/\r$/, ""));
  for (let index = 0; index < physical.length; index++) {
    const start = index;
    let joined = physical[index];
    while (joined.endsWith("\\") && index + 1 < physical.length) joined = joined.slice(0, -1) + physical[++index];
    yield { line: start + 1, text: joined };
  }
}

/** ap_getword_conf: words split on blanks; `"…"` or `'…'` is one word, `\` escapes its own quote inside. */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let position = 0;
  while (position < text.length) {
    while (position < text.length && /\s/.test(text[position])) position++;
    if (position >= text.length) break;
    const quote = text[position];
    if (quote === '"' || quote === "'") {
      let end = position + 1;
      let word = "";
      while (end < text.length && text[end] !== quote) {
        if (text[end] === "\\" && text[end + 1] === quote) end++;
        word += text[end++];
      }
      words.push(word);
      position = end + 1;
    } else {
      let end = position;
      while (end < text.length && !/\s/.test(text[end])) end++;
      words.push(text.slice(position, end));
      position = end;
    }
  }
  return words;
}

// ---------------------------------------------------------------------------------------------
// Meaning: what each directive becomes.

type Scope =
  | { kind: "server" }
  | { kind: "vhost"; vhost: VirtualHost }
  | { kind: "location"; path: string; vhost?: VirtualHost; manager: boolean }
  | { kind: "balancer"; balancer: Balancer; vhost?: VirtualHost }
  | { kind: "other"; vhost?: VirtualHost };

interface VirtualHost {
  origin: Origin;
  addresses: { host: string; port?: number }[];
  names: string[];
  nameOrigins: Origin[];
  tls?: { engine?: Origin; cert?: { file: string; origin: Origin }; key?: { file: string; origin: Origin }; minVersion?: { version: "1.2" | "1.3"; origin: Origin } };
  hsts?: { value: string; origin: Origin };
  redirect?: { port: number; origin: Origin; how: string };
  rewriteConditions: Origin[];
  proxyPasses: ProxyPass[];
  settings: ScopeSetting[];
  /** ProxyPreserveHost was written here (httpd's default is Off, tandem's true). */
  preserveHostSet?: boolean;
}

interface ProxyPass {
  origin: Origin;
  path: string;
  target: string;
  parameters: string[];
  vhost?: VirtualHost;
}

/** A directive that sets something on every pool its scope proxies to (ProxyPreserveHost, ProxyTimeout…). */
interface ScopeSetting {
  origin: Origin;
  apply: (pool: PoolBuilder, notes: Notes) => void;
  /** Applied after the others, only where nothing closer set the key (httpd's `Timeout`). */
  fallback?: boolean;
}

interface Member {
  origin: Origin;
  url: string;
  weight?: number;
  route?: string;
  redirectRoute?: string;
  lbset: number;
  standby: boolean;
  activation?: "disabled" | "stopped";
  notes: Notes;
}

interface Balancer {
  name: string;
  origin?: Origin;
  members: Member[];
  settings: { origin: Origin; key: string; value: string }[];
}

/** What one directive line did: the keys it set, and what it could not do exactly. */
class Notes {
  readonly keys: string[] = [];
  readonly approximations: string[] = [];
  readonly dropped: string[] = [];

  report(report: ImportReport, origin: Origin): void {
    const caveats = [...this.approximations, ...this.dropped.map((what) => `not carried: ${what}`)];
    if (this.keys.length === 0 && this.approximations.length === 0) report.notCarried(origin, this.dropped.join("; ") || "nothing to carry");
    else if (caveats.length === 0) report.carried(origin, this.keys.join(", "));
    else report.approximated(origin, [this.keys.join(", "), ...caveats].filter(Boolean).join("; "));
  }
}

/** A pool being built, remembering which directive set each key so a second, different value is reported. */
class PoolBuilder {
  readonly fields = new Map<string, { value: unknown; origin: Origin }>();
  readonly members: Record<string, unknown>[] = [];
  readonly memberOrigins: Origin[] = [];
  /** The balancer's lbmethod once a ProxySet or the <Proxy> line named it (httpd's default: byrequests). */
  lbmethod?: string;

  constructor(readonly name: string) {}

  set(path: string, value: unknown, origin: Origin, notes: Notes, options: { fallback?: boolean } = {}): void {
    const key = `pools.${this.name}.${path}`;
    const earlier = this.fields.get(path);
    if (earlier && options.fallback) return;
    if (earlier && JSON.stringify(earlier.value) !== JSON.stringify(value)) {
      notes.dropped.push(`${key} stays ${JSON.stringify(earlier.value)} from ${earlier.origin.file}:${earlier.origin.line} (tandem has one per pool)`);
      return;
    }
    this.fields.set(path, { value, origin });
    notes.keys.push(`${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
}

/**
 * mod_proxy_balancer credits a sticky request to its member's byrequests count as if it had been
 * placed ("so that even session routes get into account"); tandem's rotation counts only the
 * sessions it places. Said on the stickysession parameter: without one every request is a new
 * placement on both. test/runtimes/import-equivalence.test.ts shows it against the real httpd.
 */
const BYREQUESTS_NOTE = "byrequests counts the requests a session's route sends to a member too, so a member busy with its sessions gets fewer new ones; tandem's roundrobin shares new sessions by weight alone";
const AJP_NOTE = "ajp:// becomes HTTP on Tomcat's HTTP connector port 8080; add the RemoteIpValve (deploy/examples/tomcat-remoteip.xml) so Tomcat still sees the client's address and https";
const ADMIN_NOTE = "the admin plane (dashboard, API, tandem ctl) on admin.address, 127.0.0.1:8404 by default, instead of a path of the site";
const SECRET_NOTE = "the admin plane takes tokens signed with a secret, not passwords: set TANDEM_ADMIN_SECRET";

/** Directives with nothing to carry, and why; anything not here and not handled is "unknown directive". */
const NOT_CARRIED: Record<string, string> = {
  loadmodule: "tandem has its modules built in",
  loadfile: "tandem has its modules built in",
  serverroot: "process setup: tandem's is its systemd unit or container (see Deploy)",
  defaultruntimedir: "process setup: tandem's is its systemd unit or container (see Deploy)",
  pidfile: "process setup: tandem's is its systemd unit or container (see Deploy)",
  mutex: "process setup: tandem's is its systemd unit or container (see Deploy)",
  user: "process setup: tandem's is its systemd unit or container (see Deploy)",
  group: "process setup: tandem's is its systemd unit or container (see Deploy)",
  serveradmin: "tandem shows no contact address",
  errorlog: "tandem writes its events as JSON lines on stderr",
  loglevel: "tandem writes its events as JSON lines on stderr",
  logformat: "tandem's access log formats are json, httplog and combined (see the CustomLog line)",
  transferlog: "tandem's access log is accessLog (see the CustomLog line)",
  documentroot: "tandem serves no files: every request goes to a pool",
  directoryindex: "tandem serves no files: every request goes to a pool",
  alias: "tandem serves no files: every request goes to a pool",
  scriptalias: "tandem serves no files: every request goes to a pool",
  options: "tandem serves no files: every request goes to a pool",
  allowoverride: "tandem serves no files: every request goes to a pool",
  accessfilename: "tandem serves no files: every request goes to a pool",
  addtype: "tandem serves no files: every request goes to a pool",
  addhandler: "tandem serves no files: every request goes to a pool",
  addencoding: "tandem serves no files: every request goes to a pool",
  addlanguage: "tandem serves no files: every request goes to a pool",
  addcharset: "tandem serves no files: every request goes to a pool",
  adddefaultcharset: "tandem serves no files: every request goes to a pool",
  addoutputfilter: "tandem does not transform bodies",
  addinputfilter: "tandem does not transform bodies",
  removetype: "tandem serves no files: every request goes to a pool",
  removehandler: "tandem serves no files: every request goes to a pool",
  removeencoding: "tandem serves no files: every request goes to a pool",
  removelanguage: "tandem serves no files: every request goes to a pool",
  removecharset: "tandem serves no files: every request goes to a pool",
  multiviewsmatch: "tandem serves no files: every request goes to a pool",
  addoutputfilterbytype: "tandem does not transform bodies",
  defaultlanguage: "tandem serves no files: every request goes to a pool",
  languagepriority: "tandem serves no files: every request goes to a pool",
  forcelanguagepriority: "tandem serves no files: every request goes to a pool",
  typesconfig: "tandem serves no files: every request goes to a pool",
  mimemagicfile: "tandem serves no files: every request goes to a pool",
  indexoptions: "tandem serves no files: every request goes to a pool",
  indexignore: "tandem serves no files: every request goes to a pool",
  headername: "tandem serves no files: every request goes to a pool",
  readmename: "tandem serves no files: every request goes to a pool",
  addicon: "tandem serves no files: every request goes to a pool",
  addiconbyencoding: "tandem serves no files: every request goes to a pool",
  addiconbytype: "tandem serves no files: every request goes to a pool",
  addalt: "tandem serves no files: every request goes to a pool",
  addaltbyencoding: "tandem serves no files: every request goes to a pool",
  addaltbytype: "tandem serves no files: every request goes to a pool",
  adddescription: "tandem serves no files: every request goes to a pool",
  defaulticon: "tandem serves no files: every request goes to a pool",
  sethandler: "tandem serves no files: every request goes to a pool",
  ssloptions: "tandem runs no CGI: SSL environment variables have no use",
  hostnamelookups: "tandem never resolves client addresses",
  servertokens: "tandem's answers name no server version",
  serversignature: "tandem's own pages carry no signature",
  traceenable: "tandem always answers TRACE with 501",
  enablesendfile: "tandem serves no files",
  enablemmap: "tandem serves no files",
  usecanonicalname: "tandem passes the client's Host on (forwarding.preserveHost)",
  errordocument: "tandem's errorPages take a file per status, not a URL: set errorPages yourself",
  setenvif: "tandem has no request environment variables",
  browsermatch: "tandem has no request environment variables",
  setenv: "tandem has no request environment variables",
  unsetenv: "tandem has no request environment variables",
  passenv: "tandem has no request environment variables",
  header: "tandem does not edit response headers (only Strict-Transport-Security, through hsts)",
  requestheader: "tandem does not edit request headers",
  require: "tandem has no access control by client address or user",
  order: "tandem has no access control by client address or user",
  allow: "tandem has no access control by client address or user",
  deny: "tandem has no access control by client address or user",
  satisfy: "tandem has no access control by client address or user",
  authtype: SECRET_NOTE,
  authname: SECRET_NOTE,
  authuserfile: SECRET_NOTE,
  authgroupfile: SECRET_NOTE,
  authbasicprovider: SECRET_NOTE,
  startservers: "tandem's concurrency is workers (one per core by default)",
  minspareservers: "tandem's concurrency is workers (one per core by default)",
  maxspareservers: "tandem's concurrency is workers (one per core by default)",
  minsparethreads: "tandem's concurrency is workers (one per core by default)",
  maxsparethreads: "tandem's concurrency is workers (one per core by default)",
  threadlimit: "tandem's concurrency is workers (one per core by default)",
  serverlimit: "tandem's concurrency is workers (one per core by default)",
  threadsperchild: "tandem's concurrency is workers (one per core by default)",
  maxrequestworkers: "tandem's concurrency is workers; the cap on clients is listeners[].maxConnections",
  maxconnectionsperchild: "tandem's concurrency is workers (one per core by default)",
  maxrequestsperchild: "tandem's concurrency is workers (one per core by default)",
  maxkeepaliverequests: "tandem serves any number of requests on a kept-alive connection",
  requestreadtimeout: "tandem's listeners[].timeouts.request bounds the request head (10s by default)",
  deflatecompressionlevel: "tandem does not compress",
  sslciphersuite: "the runtime's TLS library chooses the ciphers",
  sslhonorcipherorder: "the runtime's TLS library chooses the ciphers",
  sslcompression: "the runtime's TLS library never compresses",
  sslsessiontickets: "the runtime's TLS library decides",
  sslusestapling: "tandem does no OCSP stapling",
  sslstaplingcache: "tandem does no OCSP stapling",
  sslsessioncache: "the runtime's TLS library keeps its own session cache",
  sslsessioncachetimeout: "the runtime's TLS library keeps its own session cache",
  sslrandomseed: "the runtime's TLS library seeds itself",
  sslpassphrasedialog: "tandem reads unencrypted keys only",
  sslcertificatechainfile: "append the chain to the certificate file: tandem reads the leaf then the intermediates from cert",
  sslcacertificatefile: "tandem does not ask clients for certificates",
  sslcacertificatepath: "tandem does not ask clients for certificates",
  sslverifyclient: "tandem does not ask clients for certificates",
  sslverifydepth: "tandem does not ask clients for certificates",
  proxyhtmlurlmap: "tandem does not rewrite bodies",
  proxyhtmlenable: "tandem does not rewrite bodies",
  proxypassmatch: "tandem routes by path prefix, not by regular expression",
  proxypassreversecookiepath: "tandem does not rewrite cookies from the members (the route sticky mode needs none)",
  proxypassreversecookiedomain: "tandem does not rewrite cookies from the members (the route sticky mode needs none)",
  proxyerroroverride: "tandem passes the members' error pages on",
  proxybadheader: "tandem refuses a malformed member head with 502",
  proxyiobuffersize: "tandem sizes its own buffers",
  proxymaxforwards: "tandem does not count Max-Forwards",
  proxyhcexpr: "mod_proxy_hcheck expressions: tandem's health.check has expect (statuses) and body",
  proxyhctemplate: "mod_proxy_hcheck templates: tandem's health.check is per pool",
  proxyhctpsize: "tandem runs its health checks itself",
  proxystatus: "the dashboard and /metrics show every member",
  proxysourceaddress: "tandem connects from the system's choice of address",
  proxyremote: "tandem connects to members directly",
  proxyremotematch: "tandem connects to members directly",
  noproxy: "tandem connects to members directly",
  proxyblock: "tandem is no forward proxy",
  proxydomain: "tandem is no forward proxy",
  proxyreceivebuffersize: "tandem sizes its own buffers",
  sslproxycheckpeercn: "see SSLProxyVerify: tandem's tls.verify checks the certificate and the name together",
  sslproxycheckpeerexpire: "see SSLProxyVerify: tandem's tls.verify checks expiry with the rest",
  jkmount: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  jkunmount: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  jkworkersfile: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  jkmountfile: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  jklogfile: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  jkloglevel: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  jkshmfile: "mod_jk's: import jk.conf together with workers.properties (--from modjk); this file was read as httpd",
  rewritebase: "tandem has no URL rewriting",
  rewritemap: "tandem has no URL rewriting",
  rewriteoptions: "tandem has no URL rewriting",
  maxranges: "tandem passes Range requests to the members",
  fileetag: "tandem serves no files",
  expiresactive: "tandem does not set caching headers",
  expiresbytype: "tandem does not set caching headers",
  expiresdefault: "tandem does not set caching headers",
  protocols: "set listeners[].protocols: [http/1.1, h2] on the listener that should serve h2",
  h2direct: "set listeners[].protocols: [http/1.1, h2] on the plain listener (h2c with prior knowledge)",
  remoteipheader: "tandem reads X-Forwarded-For from forwarding.trustedProxies only; set them there",
  remoteiptrustedproxy: "tandem reads X-Forwarded-For from forwarding.trustedProxies only; set them there",
  remoteipinternalproxy: "tandem reads X-Forwarded-For from forwarding.trustedProxies only; set them there",
  extendedstatus: "the dashboard and /metrics always have the details",
};

/** mod_proxy worker parameters tandem has no place for, and why. */
const WORKER_PARAMETERS_NOT_CARRIED: Record<string, string> = {
  ping: "tandem does not probe a member before each request: use health.check",
  max: "httpd's connection pool per child process: tandem's per-member limit is maxconn (in-flight requests), set it yourself",
  smax: "httpd's connection pool per child process: tandem keeps idle member connections itself",
  min: "httpd's connection pool per child process: tandem keeps idle member connections itself",
  ttl: "httpd's connection pool per child process: tandem keeps idle member connections itself",
  keepalive: "tandem keeps member connections alive itself",
  enablereuse: "tandem reuses member connections itself",
  disablereuse: "tandem reuses member connections itself",
  flushpackets: "tandem streams bodies as they come",
  flushwait: "tandem streams bodies as they come",
  iobuffersize: "tandem sizes its own buffers",
  receivebuffersize: "tandem sizes its own buffers",
  responsefieldsize: "tandem limits a member's head to 64 KiB",
  secret: "an AJP secret: tandem speaks HTTP to the members",
  upgrade: "tandem passes WebSocket upgrades on by itself",
  mapping: "tandem passes the path on as the client sent it",
  addressttl: "tandem resolves member names when it connects",
  hcexpr: "mod_proxy_hcheck expressions: tandem's health.check has expect (statuses) and body",
  hctemplate: "mod_proxy_hcheck templates: tandem's health.check is per pool",
};

/** mod_proxy_balancer's own parameters (ProxySet on a balancer, or ProxyPass to one). */
const BALANCER_PARAMETERS = new Set(["lbmethod", "stickysession", "stickysessionsep", "nofailover", "scolonpathdelim", "timeout", "maxattempts", "failonstatus", "failontimeout", "forcerecovery", "growth", "nonce"]);

class HttpdImport {
  readonly #draft: Draft;
  readonly #report: ImportReport;
  readonly #balancers = new Map<string, Balancer>();
  readonly #vhosts: VirtualHost[] = [];
  readonly #listens: { origin: Origin; address: string; port: number }[] = [];
  /** The server outside every <VirtualHost>: its ProxyPass lines and settings apply everywhere. */
  readonly #server: VirtualHost;
  #manager: Origin | undefined;
  #accessLog: Origin | undefined;
  readonly #logFormats = new Map<string, string>();

  constructor(draft: Draft, report: ImportReport) {
    this.#draft = draft;
    this.#report = report;
    this.#server = { origin: { file: "", line: 0, text: "" }, addresses: [], names: [], nameOrigins: [], rewriteConditions: [], proxyPasses: [], settings: [] };
  }

  walk(directives: Directive[], scope: Scope): void {
    directives.forEach((directive, index) => this.#directive(directive, scope, directives.slice(index + 1)));
  }

  /** Every directive of a part httpd would not read (a false condition), reported as such. */
  #skip(directives: Directive[], why: string): void {
    for (const directive of directives) {
      this.#report.notCarried(directive.origin, why);
      if (directive.children) this.#skip(directive.children, why);
      if (directive.included) this.#skip(directive.included.directives, why);
    }
  }

  #vhostOf(scope: Scope): VirtualHost {
    if (scope.kind === "vhost") return scope.vhost;
    return ("vhost" in scope && scope.vhost) || this.#server;
  }

  #directive(directive: Directive, scope: Scope, following: Directive[]): void {
    const { origin, args } = directive;
    const report = this.#report;
    const vhost = this.#vhostOf(scope);
    switch (directive.key) {
      case "include":
      case "includeoptional": {
        const { files, directives } = directive.included!;
        report.carried(origin, files.length === 0 ? "(no file matched)" : `reads ${files.map((file) => file.slice(file.lastIndexOf("/") + 1)).join(", ")}`);
        this.walk(directives, scope);
        return;
      }
      case "<ifmodule":
        return this.#ifModule(directive, scope);
      case "<ifversion":
      case "<iffile":
      case "<ifdirective":
      case "<ifsection": {
        if (args[0]?.startsWith("!")) {
          report.notCarried(origin, `tandem import reads the configuration as if ${args[0].slice(1)} were present, so this part is skipped`);
          this.#skip(directive.children!, `inside ${origin.text.trim()}, which tandem import takes as false`);
        } else {
          report.approximated(origin, "its directives are read as if the condition held");
          this.walk(directive.children!, scope);
        }
        return;
      }
      case "<ifdefine": {
        // True for a name Defined above; httpd -D names on its command line are not in any file.
        const negated = (args[0] ?? "").startsWith("!");
        const name = (args[0] ?? "").replace(/^!/, "");
        if (this.#defined.has(name) !== negated) {
          report.carried(origin, `(a condition that holds: ${name} is ${negated ? "not " : ""}defined)`);
          this.walk(directive.children!, scope);
        } else {
          report.notCarried(origin, `a condition that does not hold: ${name} is ${negated ? "" : "not "}defined (Define, or httpd -D on the command line)`);
          this.#skip(directive.children!, `inside ${origin.text.trim()}, a condition that does not hold`);
        }
        return;
      }
      case "define":
      case "undefine":
        if (directive.key === "define") this.#defined.add(args[0] ?? "");
        else this.#defined.delete(args[0] ?? "");
        report.notCarried(origin, "a config variable: tandem import replaced its ${uses} and decided <IfDefine> by it");
        return;
      case "<if":
      case "<elseif":
      case "<else": {
        report.notCarried(origin, "a per-request condition: tandem's config has none");
        this.#skip(directive.children!, `inside ${origin.text.trim()}: a per-request condition tandem has no equivalent for`);
        return;
      }
      case "<virtualhost":
        return this.#virtualHost(directive, scope);
      case "<proxy":
        return this.#proxyContainer(directive, scope);
      case "<location":
        return this.#location(directive, scope);
      case "<directory":
      case "<directorymatch":
      case "<files":
      case "<filesmatch":
      case "<locationmatch":
      case "<proxymatch":
      case "<limit":
      case "<limitexcept":
      case "<requireall":
      case "<requireany":
      case "<requirenone":
      case "<macro": {
        const why = directive.key === "<limit" || directive.key === "<limitexcept" || directive.key.startsWith("<require")
          ? "access control: tandem has none by client, user or method"
          : directive.key === "<macro"
          ? "mod_macro: tandem import does not expand macros"
          : directive.key === "<locationmatch" || directive.key === "<proxymatch"
          ? "tandem routes by path prefix, not by regular expression"
          : "tandem serves no files: every request goes to a pool";
        report.notCarried(origin, why);
        this.walk(directive.children!, { kind: "other", vhost: scope.kind === "server" ? undefined : vhost });
        return;
      }
      case "listen":
        return this.#listen(directive);
      case "loadmodule":
        if (args.length >= 2) {
          this.#loadedModules.add(args[0]);
          this.#loadedModules.add(args[1].replace(/^.*\//, "").replace(/\.so$/, ".c"));
        }
        report.notCarried(origin, NOT_CARRIED.loadmodule);
        return;
      case "servername":
      case "serveralias":
        return this.#serverName(directive, scope);
      case "balancermember":
        return this.#balancerMember(directive, scope);
      case "proxyset":
        return this.#proxySet(directive, scope);
      case "proxypass":
        return this.#proxyPass(directive, scope);
      case "proxypassreverse":
        report.notCarried(origin, "tandem does not rewrite Location headers; with forwarding.preserveHost (tandem's default) the member sees the client's Host, so its own redirects already name the site");
        return;
      case "proxyrequests":
        if (/^on$/i.test(args[0] ?? "")) report.notCarried(origin, "tandem is a reverse proxy only, never a forward proxy");
        else report.carried(origin, "(nothing to set: tandem is a reverse proxy only)");
        return;
      case "proxypreservehost":
        vhost.preserveHostSet = true;
        return this.#scopeSetting(vhost, origin, onOff(directive) ? (pool, notes) => pool.set("forwarding.preserveHost", true, origin, notes)
          : (pool, notes) => pool.set("forwarding.preserveHost", false, origin, notes));
      case "proxytimeout": {
        const timeout = timeParameter(args[0], origin, "ProxyTimeout");
        return this.#scopeSetting(vhost, origin, (pool, notes) => setMemberTimeout(pool, timeout, origin, notes));
      }
      case "timeout": {
        const timeout = timeParameter(args[0], origin, "Timeout");
        vhost.settings.push({ origin, fallback: true, apply: (pool, notes) => setMemberTimeout(pool, timeout, origin, notes, true) });
        return;
      }
      case "proxyvia": {
        const value = (args[0] ?? "").toLowerCase();
        if (value === "block") report.notCarried(origin, "tandem does not remove the members' Via headers");
        else {
          this.#scopeSetting(vhost, origin, (pool, notes) => {
            pool.set("forwarding.via", value !== "off", origin, notes);
            if (value === "full") notes.approximations.push("tandem's Via names no version");
          });
        }
        return;
      }
      case "proxyaddheaders": {
        const on = onOff(directive);
        return this.#scopeSetting(vhost, origin, (pool, notes) => {
          pool.set("forwarding.xForwardedFor", on, origin, notes);
          pool.set("forwarding.xForwardedHost", on, origin, notes);
          if (on) notes.approximations.push("tandem also sends X-Forwarded-Proto (forwarding.xForwardedProto) and no X-Forwarded-Server");
        });
      }
      case "keepalivetimeout": {
        const timeout = timeParameter(args[0], origin, "KeepAliveTimeout");
        this.#pendingListenerTimeout = { origin, timeout: Math.max(1, timeout) };
        return;
      }
      case "keepalive":
        if (onOff(directive)) report.carried(origin, "(nothing to set: tandem keeps client connections alive)");
        else report.notCarried(origin, "tandem always keeps client connections alive (listeners[].timeouts.keepAlive closes idle ones)");
        return;
      case "limitrequestfields": {
        const fields = integerParameter(args[0], origin, "LimitRequestFields", 0, 32767);
        this.#pendingFieldsLimit = { origin, fields };
        return;
      }
      case "customlog":
        return this.#customLog(directive);
      case "logformat":
        if (args.length >= 2) this.#logFormats.set(args[1], args[0]);
        report.notCarried(origin, NOT_CARRIED.logformat);
        return;
      case "sslengine":
        if (/^on$/i.test(args[0] ?? "") && scope.kind === "vhost") {
          vhost.tls = { ...vhost.tls, engine: origin };
          return;
        }
        report.notCarried(origin, scope.kind === "vhost" ? "TLS is off here (the default)" : "TLS is per <VirtualHost> in this import: tandem's is per listener");
        return;
      case "sslcertificatefile":
      case "sslcertificatekeyfile":
        if (scope.kind !== "vhost" || args[0] === undefined) {
          report.notCarried(origin, "tandem's certificates belong to a listener; outside a <VirtualHost> there is none to give it to");
          return;
        }
        vhost.tls = { ...vhost.tls, [directive.key === "sslcertificatefile" ? "cert" : "key"]: { file: args[0], origin } };
        return;
      case "sslprotocol":
        return this.#sslProtocol(directive, scope);
      case "sslproxyengine":
        if (onOff(directive)) report.carried(origin, "(nothing to set: https:// members are spoken to over TLS)");
        else report.notCarried(origin, "off is the default");
        return;
      case "sslproxyverify":
        return this.#scopeSetting(vhost, origin, (pool, notes) => pool.set("tls.verify", !/^none$/i.test(args[0] ?? ""), origin, notes));
      case "sslproxycheckpeername":
        if (onOff(directive)) report.carried(origin, "(nothing to set: tandem checks the member's name with tls.verify)");
        else this.#scopeSetting(vhost, origin, (pool, notes) => {
          pool.set("tls.verify", false, origin, notes);
          notes.approximations.push("tandem's tls.verify: false accepts any certificate, not only one for another name");
        });
        return;
      case "sslproxycacertificatefile":
        return this.#scopeSetting(vhost, origin, (pool, notes) => pool.set("tls.ca", args[0], origin, notes));
      case "rewriteengine":
        report.notCarried(origin, "mod_rewrite: tandem has no URL rewriting; only a redirect to https is carried (on its RewriteRule)");
        return;
      case "rewritecond":
        return this.#rewriteCondition(directive, vhost, following);
      case "rewriterule":
        return this.#rewriteRule(directive, scope, vhost);
      case "redirect":
      case "redirectpermanent":
      case "redirectmatch":
        return this.#redirect(directive, scope, vhost);
      default:
        break;
    }
    if (directive.key === "header" && this.#hsts(directive, scope, vhost)) return;
    if (directive.key === "requestheader" && /^x-forwarded-proto$/i.test(args[1] ?? "")) {
      report.approximated(origin, "nothing to set: tandem sends X-Forwarded-Proto itself (forwarding.xForwardedProto, on by default), with the scheme the client really used");
      return;
    }
    if (directive.key === "header" && args.some((arg) => arg.includes("BALANCER_WORKER_ROUTE"))) {
      report.notCarried(origin, "a cookie naming the member's route, set by httpd: tandem's route mode reads routes but sets no cookie; sticky mode insert sets its own (clients' cookies of this kind would not carry over)");
      return;
    }
    if (scope.kind === "location" && scope.manager && /^(require|order|allow|deny|satisfy)$/.test(directive.key)) {
      report.notCarried(origin, "the admin plane listens on 127.0.0.1:8404 (admin.address) and wants a token (set TANDEM_ADMIN_SECRET): no address list");
      return;
    }
    if (directive.key === "sethandler" && scope.kind === "location" && /^balancer-manager$/i.test(args[0] ?? "")) {
      this.#manager = origin;
      return;
    }
    if (directive.key === "sethandler" && /^server-status$/i.test(args[0] ?? "")) {
      report.notCarried(origin, "the dashboard and /metrics on the admin plane show tandem's status");
      return;
    }
    if (directive.children) {
      report.notCarried(origin, "unknown container: its directives are listed one by one");
      this.walk(directive.children, scope);
      return;
    }
    const why = NOT_CARRIED[directive.key];
    if (why) report.notCarried(origin, why);
    else if (directive.key.startsWith("ssl")) report.notCarried(origin, "mod_ssl: the runtime's TLS library decides this");
    else report.notCarried(origin, "unknown directive");
  }

  /** Modules httpd has compiled in (Debian's apache2-bin), then the LoadModule lines read so far. */
  readonly #defined = new Set<string>();
  readonly #loadedModules = new Set(["core.c", "mod_so.c", "mod_watchdog.c", "http_core.c", "mod_log_config.c", "mod_logio.c", "mod_version.c", "mod_unixd.c",
    "so_module", "watchdog_module", "http_module", "log_config_module", "logio_module", "version_module", "unixd_module"]);
  #sawLoadModule = false;

  /**
   * `<IfModule [!]name>`: decided by the LoadModule lines read before it, as httpd decides; a site
   * file read without them (no LoadModule at all) is read as if every module it names were loaded.
   */
  #ifModule(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    const negated = (args[0] ?? "").startsWith("!");
    const module = (args[0] ?? "").replace(/^!/, "");
    this.#sawLoadModule ||= this.#loadedModules.size > STATIC_MODULES;
    const loaded = this.#sawLoadModule ? this.#loadedModules.has(module) : true;
    if (loaded !== negated) {
      if (this.#sawLoadModule) this.#report.carried(origin, `(a condition that holds: ${module} is ${loaded ? "" : "not "}loaded)`);
      else this.#report.approximated(origin, `no LoadModule in the files read: taken as if ${module} were loaded`);
      this.walk(directive.children!, scope);
      return;
    }
    const why = this.#sawLoadModule ? `${module} is ${loaded ? "" : "not "}loaded` : `taken as if ${module} were loaded`;
    this.#report.notCarried(origin, `a condition that does not hold: ${why}`);
    this.#skip(directive.children!, `inside ${origin.text.trim()}, a condition that does not hold (${why})`);
  }

  #pendingListenerTimeout: { origin: Origin; timeout: number } | undefined;
  #pendingFieldsLimit: { origin: Origin; fields: number } | undefined;

  #scopeSetting(vhost: VirtualHost, origin: Origin, apply: ScopeSetting["apply"]): void {
    vhost.settings.push({ origin, apply });
  }

  #listen(directive: Directive): void {
    const { origin, args } = directive;
    const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[^:]+):)?(\d+)$/.exec(args[0] ?? "");
    if (!match) throw new ImportError(origin.file, origin.line, `Listen: an address [ip:]port (got ${args[0] ?? "nothing"})`);
    const port = integerParameter(match[2], origin, "Listen port", 1, 65535);
    const host = match[1] === undefined || match[1] === "*" ? "" : match[1];
    this.#listens.push({ origin, address: `${host}:${port}`, port });
  }

  #virtualHost(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    if (scope.kind !== "server") throw new ImportError(origin.file, origin.line, "<VirtualHost> cannot occur within another section");
    const addresses = args.map((arg) => {
      const match = /^(\[[0-9A-Fa-f:.]+\]|[^:]+)(?::(\d+|\*))?$/.exec(arg);
      if (!match) throw new ImportError(origin.file, origin.line, `<VirtualHost>: an address [host][:port] (got ${arg})`);
      const host = match[1] === "*" || match[1] === "_default_" ? "" : match[1];
      const port = match[2] === undefined || match[2] === "*" ? undefined : integerParameter(match[2], origin, "<VirtualHost> port", 1, 65535);
      return { host, port };
    });
    const vhost: VirtualHost = { origin, addresses, names: [], nameOrigins: [], rewriteConditions: [], proxyPasses: [], settings: [] };
    this.#vhosts.push(vhost);
    this.walk(directive.children!, { kind: "vhost", vhost });
  }

  #serverName(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    if (scope.kind !== "vhost") {
      this.#report.notCarried(origin, "the main server's name: without <VirtualHost>s tandem's routes need no host, every Host is served");
      return;
    }
    const notes = new Notes();
    for (const arg of directive.key === "servername" ? args.slice(0, 1) : args) {
      const name = arg.replace(/^[a-z]+:\/\//i, "").replace(/:\d+$/, "").toLowerCase();
      if (/^(\*\.)?[a-z0-9.-]+$/.test(name)) {
        scope.vhost.names.push(name);
        notes.keys.push(`routes[].host: ${name}`);
      } else notes.dropped.push(`${arg}: tandem's route hosts are exact names or *.suffix`);
    }
    scope.vhost.nameOrigins.push(origin);
    this.#nameNotes.set(origin, notes);
  }

  readonly #nameNotes = new Map<Origin, Notes>();

  #balancer(url: string): Balancer {
    const name = url.replace(/^balancer:\/\//i, "").replace(/\/.*$/, "");
    const key = name.toLowerCase();
    let balancer = this.#balancers.get(key);
    if (!balancer) {
      balancer = { name, members: [], settings: [] };
      this.#balancers.set(key, balancer);
    }
    return balancer;
  }

  #proxyContainer(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    const vhost = scope.kind === "server" ? undefined : this.#vhostOf(scope);
    if (/^balancer:\/\//i.test(args[0] ?? "")) {
      const balancer = this.#balancer(args[0]);
      balancer.origin ??= origin;
      // The container line is reported with the pool it became (emit).
      if (balancer.origin !== origin) this.#report.carried(origin, `(more of balancer://${balancer.name})`);
      this.walk(directive.children!, { kind: "balancer", balancer, vhost });
      return;
    }
    this.#report.notCarried(origin, "access control for proxied URLs: tandem has none");
    this.walk(directive.children!, { kind: "other", vhost });
  }

  #location(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    const vhost = scope.kind === "server" ? undefined : this.#vhostOf(scope);
    const manager = directive.children!.some((child) => child.key === "sethandler" && /^balancer-manager$/i.test(child.args[0] ?? ""));
    if (manager) this.#report.approximated(origin, ADMIN_NOTE);
    else if (directive.children!.some((child) => child.key === "proxypass")) this.#report.carried(origin, "routes[].path (with the ProxyPass inside)");
    else this.#report.notCarried(origin, "tandem has no per-path settings but routes: its directives are listed one by one");
    this.walk(directive.children!, { kind: "location", path: args[0] ?? "/", vhost, manager });
  }

  #balancerMember(directive: Directive, scope: Scope): void {
    const { origin } = directive;
    let args = directive.args;
    let balancer: Balancer;
    if (/^balancer:\/\//i.test(args[0] ?? "")) {
      balancer = this.#balancer(args[0]);
      args = args.slice(1);
    } else if (scope.kind === "balancer") balancer = scope.balancer;
    else throw new ImportError(origin.file, origin.line, "BalancerMember outside <Proxy balancer://…> must name its balancer first");
    if (args[0] === undefined) throw new ImportError(origin.file, origin.line, "BalancerMember: a member URL is required");
    const notes = new Notes();
    const url = memberUrl(args[0], origin, notes);
    if (url === undefined) {
      this.#report.notCarried(origin, notes.dropped.join("; "));
      return;
    }
    const member: Member = { origin, url, lbset: 0, standby: false, notes };
    for (const parameter of args.slice(1)) this.#memberParameter(member, balancer, parameter);
    balancer.members.push(member);
  }

  #memberParameter(member: Member, balancer: Balancer, parameter: string): void {
    const { origin, notes } = member;
    const equals = parameter.indexOf("=");
    if (equals === -1) throw new ImportError(origin.file, origin.line, `BalancerMember: parameters are key=value (got ${parameter})`);
    const key = parameter.slice(0, equals).toLowerCase();
    const value = parameter.slice(equals + 1);
    switch (key) {
      case "loadfactor": {
        if (!/^\d+(\.\d+)?$/.test(value) || Number(value) < 1 || Number(value) > 100) {
          throw new ImportError(origin.file, origin.line, `loadfactor: a number from 1 to 100 (got ${value})`);
        }
        member.weight = Math.round(Number(value));
        if (member.weight !== Number(value)) notes.approximations.push(`loadfactor ${value} rounded to weight ${member.weight}`);
        return;
      }
      case "lbset":
        member.lbset = integerParameter(value, origin, "lbset", 0, 99);
        return;
      case "route":
        if (/^[^\s;,.=]+$/.test(value)) member.route = value;
        else notes.dropped.push(`route=${value}: tandem's routes have no '.', ',', ';', '=' or blanks`);
        return;
      case "redirect":
        member.redirectRoute = value;
        return;
      case "status":
        return statusFlags(member, value);
      default:
        break;
    }
    const setting = { origin, key, value };
    balancer.settings.push({ ...setting, key: `member:${key}` });
  }

  #proxySet(directive: Directive, scope: Scope): void {
    const { origin } = directive;
    let args = directive.args;
    let balancer: Balancer | undefined;
    if (/^balancer:\/\//i.test(args[0] ?? "")) {
      balancer = this.#balancer(args[0]);
      args = args.slice(1);
    } else if (scope.kind === "balancer") balancer = scope.balancer;
    if (!balancer) {
      this.#report.notCarried(origin, "parameters of a single backend URL: tandem import carries them for balancers and ProxyPass targets");
      return;
    }
    if (args.length === 0) {
      this.#report.notCarried(origin, "ProxySet without parameters sets nothing");
      return;
    }
    this.#parameterLines.set(origin, new Notes());
    for (const parameter of args) {
      const equals = parameter.indexOf("=");
      if (equals === -1) throw new ImportError(origin.file, origin.line, `ProxySet: parameters are key=value (got ${parameter})`);
      balancer.settings.push({ origin, key: parameter.slice(0, equals).toLowerCase(), value: parameter.slice(equals + 1) });
    }
  }

  /** ProxySet and ProxyPass lines whose parameters apply to a balancer: reported when the pool is made. */
  readonly #parameterLines = new Map<Origin, Notes>();

  #proxyPass(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    const vhost = scope.kind === "server" ? this.#server : this.#vhostOf(scope);
    const inLocation = scope.kind === "location";
    const [path, target, ...parameters] = inLocation ? [scope.path, ...args] : args;
    if (path === undefined || target === undefined) throw new ImportError(origin.file, origin.line, inLocation ? "ProxyPass in <Location> takes a URL" : "ProxyPass takes a path and a URL");
    if (target === "!") {
      const manager = this.#balancerManagerPath(path);
      this.#report.notCarried(origin, manager
        ? `tandem serves no path itself: ${ADMIN_NOTE}`
        : `tandem has no exclusions: ${path} goes to the pool its other routes give it (httpd served it itself)`);
      return;
    }
    const pass: ProxyPass = { origin, path, target, parameters, vhost: vhost === this.#server ? undefined : vhost };
    if (/^balancer:\/\//i.test(target)) {
      const balancer = this.#balancer(target);
      const notes = new Notes();
      this.#parameterLines.set(origin, notes);
      for (const parameter of parameters) {
        const equals = parameter.indexOf("=");
        if (equals === -1) {
          notes.dropped.push(`${parameter}: tandem passes the path on as the client sent it`);
          continue;
        }
        const key = parameter.slice(0, equals).toLowerCase();
        balancer.settings.push({ origin, key: BALANCER_PARAMETERS.has(key) ? key : `member:${key}`, value: parameter.slice(equals + 1) });
      }
    }
    vhost.proxyPasses.push(pass);
  }

  #balancerManagerPath(path: string): boolean {
    return /^\/balancer-manager\/?$/.test(path);
  }

  #customLog(directive: Directive): void {
    const { origin, args } = directive;
    const [file, format] = args;
    const resolved = format === undefined ? undefined : this.#logFormats.get(format) ?? format;
    const combined = resolved === this.#logFormats.get("combined") || format === "combined";
    if (this.#accessLog) {
      this.#report.notCarried(origin, `tandem has one access log (from ${this.#accessLog.file}:${this.#accessLog.line})`);
      return;
    }
    if (!combined || file === undefined) {
      this.#report.notCarried(origin, "tandem's access log formats are json, httplog and combined: set accessLog yourself");
      return;
    }
    this.#accessLog = origin;
    if (file.startsWith("|")) {
      this.#draft.set(["accessLog"], { format: "combined" }, origin);
      this.#report.approximated(origin, "accessLog.format: combined, on stdout: tandem does not pipe to a program (pipe its stdout instead)");
    } else if (/\$\{|^[^/]/.test(file)) {
      this.#draft.set(["accessLog"], { format: "combined" }, origin);
      this.#report.approximated(origin, `accessLog.format: combined, on stdout: set accessLog.file to the path ${file} stands for`);
    } else {
      this.#draft.set(["accessLog"], { format: "combined", file }, origin);
      this.#report.approximated(origin, `accessLog: {format: combined, file: ${file}}; times in UTC, %O counted as body bytes`);
    }
  }

  #sslProtocol(directive: Directive, scope: Scope): void {
    const { origin, args } = directive;
    if (scope.kind !== "vhost") {
      this.#report.notCarried(origin, "tandem's tls.minVersion belongs to a listener; outside a <VirtualHost> there is none to give it to");
      return;
    }
    // The lowest version left on after httpd's +/- list, read left to right.
    const enabled = new Set<string>();
    const all = ["sslv3", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"];
    for (const arg of args.map((word) => word.toLowerCase())) {
      const sign = /^[+-]/.test(arg) ? arg[0] : "";
      const name = arg.replace(/^[+-]/, "");
      const names = name === "all" ? all : [name];
      if (sign === "") enabled.clear();
      for (const each of names) {
        if (sign === "-") enabled.delete(each);
        else enabled.add(each);
      }
    }
    const lowest = all.find((name) => enabled.has(name));
    const version = lowest === "tlsv1.3" ? "1.3" : "1.2";
    scope.vhost.tls = { ...scope.vhost.tls, minVersion: { version, origin } };
  }

  #hsts(directive: Directive, scope: Scope, vhost: VirtualHost): boolean {
    const args = directive.args[0] && /^(always|onsuccess)$/i.test(directive.args[0]) ? directive.args.slice(1) : directive.args;
    if (!/^(set|add|append|merge)$/i.test(args[0] ?? "") || !/^strict-transport-security$/i.test(args[1] ?? "") || args[2] === undefined) return false;
    if (scope.kind !== "vhost") {
      this.#report.notCarried(directive.origin, "tandem's hsts belongs to a TLS listener; outside a <VirtualHost> there is none to give it to");
      return true;
    }
    vhost.hsts = { value: args[2], origin: directive.origin };
    return true;
  }

  #rewriteCondition(directive: Directive, vhost: VirtualHost, following: Directive[]): void {
    const rule = following.find((next) => next.key === "rewriterule");
    if (rule && httpsRedirect(rule) !== undefined) {
      vhost.rewriteConditions.push(directive.origin);
      return;
    }
    this.#report.notCarried(directive.origin, "a condition of a rewrite tandem does not carry");
  }

  #rewriteRule(directive: Directive, scope: Scope, vhost: VirtualHost): void {
    const port = httpsRedirect(directive);
    if (port === undefined || scope.kind !== "vhost") {
      this.#report.notCarried(directive.origin, port === undefined ? "tandem has no URL rewriting" : "tandem's redirect to https belongs to a listener; outside a <VirtualHost> there is none to give it to");
      return;
    }
    vhost.redirect = { port, origin: directive.origin, how: "the rule's conditions and pattern are not kept: every request on the listener gets it" };
  }

  #redirect(directive: Directive, scope: Scope, vhost: VirtualHost): void {
    const args = directive.args;
    const [path, url] = directive.key === "redirect" && args.length >= 3 ? args.slice(1) : args;
    const https = /^https:\/\/[^/]*?(?::(\d+))?(\/|$)/i.exec(url ?? "");
    if (!https || scope.kind !== "vhost" || directive.key === "redirectmatch" || path !== "/") {
      this.#report.notCarried(directive.origin, "tandem redirects nothing but plain HTTP to https (listeners[].redirectToHttps)");
      return;
    }
    vhost.redirect = { port: https[1] ? Number(https[1]) : 443, origin: directive.origin, how: `tandem keeps the client's host and answers 308, not a fixed ${url}` };
  }

  // -------------------------------------------------------------------------------------------
  // Emitting: the draft and the rest of the report, once every directive has been read.

  emit(): void {
    const pools = this.#emitPools();
    const listeners = this.#emitListeners();
    this.#emitRoutes(pools);
    this.#emitSettings(pools);
    this.#emitVirtualHostExtras(listeners);
    if (this.#manager) {
      if (this.#draft.get(["admin"]) === undefined) this.#draft.set(["admin"], {}, this.#manager);
      this.#report.approximated(this.#manager, `admin: {} - ${ADMIN_NOTE}; ${SECRET_NOTE}`);
    }
    for (const vhost of this.#vhosts) {
      for (const origin of vhost.nameOrigins) {
        const notes = this.#nameNotes.get(origin)!;
        if (vhost.proxyPasses.length === 0) this.#report.notCarried(origin, "this <VirtualHost> proxies nothing: its names route nothing in tandem");
        else notes.report(this.#report, origin);
      }
    }
  }

  /** Balancer name → pool, for those with a member tandem can use. */
  #emitPools(): Map<string, PoolBuilder> {
    const pools = new Map<string, PoolBuilder>();
    const taken = new Set(Object.keys((this.#draft.get(["pools"]) as Record<string, unknown> | undefined) ?? {}));
    for (const [key, balancer] of this.#balancers) {
      const settingLines = [...new Set(balancer.settings.map((setting) => setting.origin))].filter((origin) => this.#parameterLines.has(origin) && !this.#isProxyPass(origin));
      if (balancer.members.length === 0) {
        if (balancer.origin) this.#report.notCarried(balancer.origin, "no BalancerMember tandem can use: no pool");
        for (const origin of settingLines) this.#report.notCarried(origin, `balancer://${balancer.name} has no member tandem can use`);
        continue;
      }
      const name = uniqueName(validName(balancer.name), taken);
      taken.add(name);
      const pool = new PoolBuilder(name);
      pools.set(key, pool);
      this.#buildMembers(balancer, pool);
      const perPool = new Map<Member, string[]>();
      for (const setting of balancer.settings) {
        const member = balancer.members.find((each) => each.origin === setting.origin);
        const notes = this.#parameterLines.get(setting.origin) ?? member!.notes;
        if (setting.key.startsWith("member:")) {
          const key = setting.key.slice("member:".length);
          const before = notes.keys.length;
          workerParameter(pool, key, setting.value, setting.origin, notes);
          if (member && balancer.members.length > 1 && notes.keys.length > before) perPool.set(member, [...perPool.get(member) ?? [], key]);
        } else balancerParameter(pool, setting.key, setting.value, setting.origin, notes);
      }
      for (const [member, keys] of perPool) member.notes.approximations.push(`${keys.join(", ")}: per member in httpd, one value per pool in tandem, for every member`);
      this.#draft.set(["pools", name, "members"], pool.members);
      pool.members.forEach((_, index) => this.#draft.cite(["pools", name, "members", index], pool.memberOrigins[index]));
      this.#writePool(pool);
      for (const member of balancer.members) member.notes.report(this.#report, member.origin);
      for (const origin of settingLines) this.#parameterLines.get(origin)!.report(this.#report, origin);
      if (balancer.origin) {
        this.#draft.cite(["pools", name], balancer.origin);
        const renamed = name === balancer.name ? "" : ` (renamed from ${balancer.name}: tandem names are letters, digits, '.', '_' and '-')`;
        this.#report.carried(balancer.origin, `pools.${name}${renamed}`);
      }
    }
    return pools;
  }

  /** The pool-wide keys set so far, each quoting the directive it came from. */
  #writePool(pool: PoolBuilder): void {
    for (const [key, field] of pool.fields) this.#draft.set(["pools", pool.name, ...key.split(".")], field.value, field.origin);
  }

  #isProxyPass(origin: Origin): boolean {
    return [this.#server, ...this.#vhosts].some((vhost) => vhost.proxyPasses.some((pass) => pass.origin === origin));
  }

  /** The members' entries; their lines are reported once the balancer's parameters have added their notes. */
  #buildMembers(balancer: Balancer, pool: PoolBuilder): void {
    const names = new Set<string>();
    const hasStandby = balancer.members.some((member) => member.standby);
    const byRoute = new Map<string, string>();
    const built = balancer.members.map((member) => {
      const host = new URL(member.url).hostname.replace(/^\[|\]$/g, "");
      const name = uniqueName(validName(member.route ?? host), names);
      names.add(name);
      if (member.route) byRoute.set(member.route, name);
      return name;
    });
    balancer.members.forEach((member, index) => {
      const entry: Record<string, unknown> = { name: built[index], url: member.url };
      const notes = member.notes;
      notes.keys.unshift(`pools.${pool.name}.members[${index}]: ${built[index]} ${member.url}`);
      if (member.weight !== undefined) {
        entry.weight = member.weight;
        notes.keys.push(`weight: ${member.weight}`);
      }
      if (member.route !== undefined) {
        entry.route = member.route;
        notes.keys.push(`route: ${member.route}`);
      }
      // Hot standbys come after the members of their lbset and before the next lbset, as httpd tries them.
      const distance = member.lbset * (hasStandby ? 2 : 1) + (member.standby ? 1 : 0);
      if (distance > 0) {
        entry.distance = distance;
        notes.keys.push(`distance: ${distance}`);
      }
      if (member.activation) {
        entry.activation = member.activation;
        notes.keys.push(`activation: ${member.activation}`);
      }
      if (member.redirectRoute !== undefined) {
        const target = byRoute.get(member.redirectRoute);
        if (target) {
          entry.redirect = target;
          notes.keys.push(`redirect: ${target}`);
        } else notes.dropped.push(`redirect=${member.redirectRoute}: no member of balancer://${balancer.name} has that route`);
      }
      pool.members.push(entry);
      pool.memberOrigins.push(member.origin);
    });
  }

  #emitListeners(): Map<number, number> {
    const existing = (this.#draft.get(["listeners"]) as unknown[] | undefined) ?? [];
    const byPort = new Map<number, number>();
    let next = existing.length;
    for (const listen of this.#listens) {
      if (byPort.has(listen.port)) {
        this.#report.notCarried(listen.origin, `port ${listen.port} has a listener already (listeners[${byPort.get(listen.port)}])`);
        continue;
      }
      this.#draft.set(["listeners", next, "address"], listen.address, listen.origin);
      this.#report.carried(listen.origin, `listeners[${next}].address: ${listen.address}`);
      byPort.set(listen.port, next++);
    }
    for (const vhost of this.#vhosts) {
      const notes = new Notes();
      for (const address of vhost.addresses) {
        const port = address.port ?? (vhost.tls?.engine ? 443 : 80);
        if (!byPort.has(port)) {
          const text = `${address.host}:${port}`;
          this.#draft.set(["listeners", next, "address"], text, vhost.origin);
          byPort.set(port, next++);
          notes.keys.push(`listeners[${byPort.get(port)}].address: ${text}`);
        } else notes.keys.push(`listeners[${byPort.get(port)}]`);
        if (address.port === undefined) notes.approximations.push(`no port: taken as ${port}`);
        if (address.host !== "" && this.#listens.some((listen) => listen.port === port && listen.address !== `${address.host}:${port}`)) {
          notes.approximations.push(`tandem's listener on port ${port} serves every address Listen gave it, not only ${address.host}`);
        }
      }
      notes.report(this.#report, vhost.origin);
    }
    return byPort;
  }

  #listenerIndexes(vhost: VirtualHost, byPort: Map<number, number>): number[] {
    return [...new Set(vhost.addresses.map((address) => byPort.get(address.port ?? (vhost.tls?.engine ? 443 : 80))!))];
  }

  #emitRoutes(pools: Map<string, PoolBuilder>): void {
    const routes = (this.#draft.get(["routes"]) as unknown[] | undefined) ?? [];
    const seen = new Set<string>();
    let defaultNoted = this.#draft.get(["defaultPool"]) !== undefined;
    const passes = [...this.#server.proxyPasses, ...this.#vhosts.flatMap((vhost) => vhost.proxyPasses)];
    for (const pass of passes) {
      const notes = this.#parameterLines.get(pass.origin) ?? new Notes();
      // httpd takes the first ProxyPass whose path is a prefix of the request's, in config order.
      const scope = pass.vhost ?? this.#server;
      const shadow = scope.proxyPasses.slice(0, scope.proxyPasses.indexOf(pass)).find((earlier) => pass.path.startsWith(earlier.path));
      if (shadow) {
        // Its balancer parameters still count: httpd sets them on the balancer when it reads the line.
        notes.dropped.push(`the route: httpd never used it, ${shadow.origin.text.trim()} (line ${shadow.origin.line}) comes first and matches ${pass.path} too`);
        notes.report(this.#report, pass.origin);
        continue;
      }
      const pool = this.#poolOf(pass, pools, notes);
      if (!pool) {
        notes.report(this.#report, pass.origin);
        continue;
      }
      this.#poolOfPass.set(pass, pool);
      if (this.#draft.get(["listeners"]) === undefined) {
        this.#draft.set(["listeners", 0, "address"], ":80", pass.origin);
        notes.approximations.push("no Listen or <VirtualHost> in the files read: listeners[0] is :80, httpd's usual port");
      }
      const targetPath = pass.target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "") || "/";
      if (trimSlash(targetPath) !== trimSlash(pass.path)) {
        notes.approximations.push(`tandem passes the path on unchanged: the member gets ${pass.path}… where httpd sent ${targetPath}…`);
      }
      if (!pass.path.startsWith("/")) {
        notes.dropped.push(`${pass.path}: tandem routes paths starting with '/'`);
        notes.report(this.#report, pass.origin);
        continue;
      }
      if (!pass.vhost?.preserveHostSet && !this.#server.preserveHostSet) {
        notes.approximations.push("without ProxyPreserveHost httpd sent the member its own host:port; tandem passes the client's Host (forwarding.preserveHost), so the member's redirects name the site without ProxyPassReverse");
      }
      if (!pass.path.endsWith("/") && pass.path !== "/") notes.approximations.push(`tandem matches ${pass.path} on whole path segments (httpd also matched ${pass.path}x…)`);
      const path = trimSlash(pass.path) || undefined;
      const hosts = pass.vhost && pass.vhost.names.length > 0 ? pass.vhost.names : [undefined];
      for (const host of hosts) {
        if (host === undefined && path === undefined) {
          if (!defaultNoted) {
            this.#draft.set(["defaultPool"], pool.name, pass.origin);
            notes.keys.push(`defaultPool: ${pool.name}`);
            defaultNoted = true;
          } else notes.dropped.push(`the default pool is ${this.#draft.get(["defaultPool"])} already`);
          continue;
        }
        const key = `${host ?? ""} ${path ?? ""}`;
        if (seen.has(key)) {
          notes.dropped.push(`an earlier route has ${host ?? "any host"} ${path ?? "/"} already (tandem's routes are not per listener)`);
          continue;
        }
        seen.add(key);
        const route: Record<string, unknown> = {};
        if (host !== undefined) route.host = host;
        if (path !== undefined) route.path = path;
        route.pool = pool.name;
        this.#draft.set(["routes", routes.length], route, pass.origin);
        routes.push(route);
        notes.keys.push(`routes[${routes.length - 1}] ${host ?? ""}${path ?? ""} -> ${pool.name}`);
      }
      if (pass.vhost && this.#vhosts.length > 1 && pass.vhost.names.length === 0) {
        notes.approximations.push("a <VirtualHost> without ServerName: its routes apply to every host");
      }
      notes.report(this.#report, pass.origin);
    }
  }

  readonly #poolOfPass = new Map<ProxyPass, PoolBuilder>();

  /** The pool a ProxyPass goes to: its balancer's, or a pool of one member for a plain URL. */
  #poolOf(pass: ProxyPass, pools: Map<string, PoolBuilder>, notes: Notes): PoolBuilder | undefined {
    if (/^balancer:\/\//i.test(pass.target)) {
      const key = pass.target.replace(/^balancer:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
      const pool = pools.get(key);
      if (!pool) notes.dropped.push(`balancer://${key} has no member tandem can use`);
      return pool;
    }
    const url = memberUrl(pass.target, pass.origin, notes);
    if (url === undefined) return undefined;
    const parsed = new URL(url);
    const name = `${parsed.hostname.replace(/^\[|\]$/g, "")}_${parsed.port || (parsed.protocol === "https:" ? 443 : 80)}`;
    const key = `url:${url}`;
    let pool = pools.get(key);
    if (!pool) {
      const taken = new Set([...Object.keys((this.#draft.get(["pools"]) as Record<string, unknown> | undefined) ?? {})]);
      pool = new PoolBuilder(uniqueName(validName(name), taken));
      pools.set(key, pool);
      pool.members.push({ name: validName(parsed.hostname.replace(/^\[|\]$/g, "")), url });
      this.#draft.set(["pools", pool.name, "members"], pool.members);
      this.#draft.cite(["pools", pool.name], pass.origin);
      notes.keys.push(`pools.${pool.name} (one member, ${url})`);
    }
    for (const parameter of pass.parameters) {
      const equals = parameter.indexOf("=");
      if (equals === -1) notes.dropped.push(`${parameter}: tandem passes the path as the client sent it`);
      else workerParameter(pool, parameter.slice(0, equals).toLowerCase(), parameter.slice(equals + 1), pass.origin, notes);
    }
    this.#writePool(pool);
    return pool;
  }

  /** ProxyPreserveHost, ProxyTimeout, Timeout… onto the pools their scope proxies to. */
  #emitSettings(pools: Map<string, PoolBuilder>): void {
    const poolsOf = (vhost: VirtualHost) => {
      const passes = vhost === this.#server ? [...this.#server.proxyPasses, ...this.#vhosts.flatMap((each) => each.proxyPasses)] : vhost.proxyPasses;
      const found = new Set<PoolBuilder>();
      for (const pass of passes) {
        const pool = this.#poolOfPass.get(pass);
        if (pool) found.add(pool);
      }
      // Outside any <VirtualHost>, settings reach every pool: the balancers too, used or not.
      if (vhost === this.#server) for (const pool of pools.values()) found.add(pool);
      return [...found];
    };
    const scopes = [...this.#vhosts, this.#server];
    for (const fallback of [false, true]) {
      for (const vhost of scopes) {
        for (const setting of vhost.settings.filter((each) => Boolean(each.fallback) === fallback)) {
          const notes = new Notes();
          const targets = poolsOf(vhost);
          for (const pool of targets) {
            setting.apply(pool, notes);
            this.#writePool(pool);
          }
          if (targets.length === 0) notes.dropped.push("no pool is proxied to here");
          else if (notes.keys.length === 0 && notes.approximations.length === 0 && fallback) notes.dropped.push("every pool has a closer setting");
          notes.report(this.#report, setting.origin);
        }
      }
    }
    const listeners = (this.#draft.get(["listeners"]) as unknown[] | undefined) ?? [];
    if (this.#pendingListenerTimeout) {
      const { origin, timeout } = this.#pendingListenerTimeout;
      listeners.forEach((_, index) => this.#draft.set(["listeners", index, "timeouts", "keepAlive"], timeout >= 1 ? `${timeout}ms` : "1ms", origin));
      if (listeners.length === 0) this.#report.notCarried(origin, "no listener to give it to");
      else this.#report.carried(origin, `listeners[*].timeouts.keepAlive: ${timeout}ms`);
    }
    if (this.#pendingFieldsLimit) {
      const { origin, fields } = this.#pendingFieldsLimit;
      if (fields === 0 || fields > 10_000 || listeners.length === 0) this.#report.notCarried(origin, listeners.length === 0 ? "no listener to give it to" : "tandem's limits.fields is 1 to 10000");
      else {
        listeners.forEach((_, index) => this.#draft.set(["listeners", index, "limits", "fields"], fields, origin));
        this.#report.carried(origin, `listeners[*].limits.fields: ${fields}`);
      }
    }
  }

  #emitVirtualHostExtras(byPort: Map<number, number>): void {
    const tlsPorts = this.#vhosts.filter((vhost) => vhost.tls?.engine && vhost.tls.cert).flatMap((vhost) => vhost.addresses.map((address) => address.port ?? 443));
    for (const vhost of this.#vhosts) {
      const indexes = this.#listenerIndexes(vhost, byPort);
      const tls = vhost.tls;
      if (tls) {
        const origins = [tls.engine, tls.cert?.origin, tls.key?.origin, tls.minVersion?.origin].filter((origin): origin is Origin => origin !== undefined);
        if (!tls.engine || !tls.cert) {
          for (const origin of origins) this.#report.notCarried(origin, tls.engine ? "SSLEngine on without SSLCertificateFile: no certificate for the listener" : "SSLEngine is not on in this <VirtualHost>");
        } else {
          for (const index of indexes) {
            const path = ["listeners", index, "tls"];
            const certificates = ((this.#draft.get([...path, "certificates"]) as unknown[] | undefined) ?? []);
            const entry = { cert: tls.cert.file, key: (tls.key ?? tls.cert).file };
            if (!certificates.some((each) => JSON.stringify(each) === JSON.stringify(entry))) certificates.push(entry);
            this.#draft.set([...path, "certificates"], certificates, tls.cert.origin);
            if (tls.key) this.#draft.cite([...path, "certificates"], tls.key.origin);
            if (tls.minVersion) this.#draft.set([...path, "minVersion"], tls.minVersion.version, tls.minVersion.origin);
          }
          const at = indexes.map((index) => `listeners[${index}].tls`).join(", ");
          this.#report.carried(tls.engine, at);
          if (tls.key) {
            this.#report.carried(tls.cert.origin, `${at}.certificates[].cert`);
            this.#report.carried(tls.key.origin, `${at}.certificates[].key`);
          } else this.#report.approximated(tls.cert.origin, `${at}.certificates[].cert and .key: no SSLCertificateKeyFile, so the key is read from the certificate file, as httpd does`);
          if (tls.minVersion) this.#report.approximated(tls.minVersion.origin, `${at}.minVersion: "${tls.minVersion.version}" (tandem never offers TLS 1.0 or 1.1)`);
        }
      }
      if (vhost.hsts) {
        const { value, origin } = vhost.hsts;
        const maxAge = /max-age\s*=\s*"?(\d+)/i.exec(value);
        if (!tls?.engine || !tls.cert || !maxAge) {
          this.#report.notCarried(origin, !maxAge ? "a Strict-Transport-Security value without max-age" : "tandem sends HSTS on TLS listeners only");
        } else {
          const hsts: Record<string, unknown> = { maxAge: `${maxAge[1]}s` };
          if (/includesubdomains/i.test(value)) hsts.includeSubDomains = true;
          if (/preload/i.test(value)) hsts.preload = true;
          for (const index of indexes) this.#draft.set(["listeners", index, "hsts"], hsts, origin);
          this.#report.approximated(origin, `${indexes.map((index) => `listeners[${index}].hsts`).join(", ")}: on every response of the listener, for every host`);
        }
      }
      if (vhost.redirect) {
        const { origin, how } = vhost.redirect;
        const port = tlsPorts.length > 0 && vhost.redirect.port === 443 ? tlsPorts[0] : vhost.redirect.port;
        if (tls?.engine) this.#report.notCarried(origin, "a redirect on a TLS listener: tandem redirects plain listeners only");
        else {
          for (const index of indexes) this.#draft.set(["listeners", index, "redirectToHttps"], port, origin);
          this.#report.approximated(origin, `${indexes.map((index) => `listeners[${index}].redirectToHttps: ${port}`).join(", ")}: 308 for every request on the listener; ${how}`);
        }
        for (const condition of vhost.rewriteConditions) this.#report.approximated(condition, "a condition of the redirect to https: tandem redirects every request of the plain listener");
      } else for (const condition of vhost.rewriteConditions) this.#report.notCarried(condition, "a condition of a rewrite tandem does not carry");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values.

function onOff(directive: Directive): boolean {
  const value = (directive.args[0] ?? "").toLowerCase();
  if (value !== "on" && value !== "off") throw new ImportError(directive.origin.file, directive.origin.line, `${directive.origin.text.trim().split(/\s+/)[0]} must be On or Off (got ${directive.args[0] ?? "nothing"})`);
  return value === "on";
}

function integerParameter(value: string | undefined, origin: Origin, what: string, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ImportError(origin.file, origin.line, `${what}: an integer from ${min} to ${max} (got ${value ?? "nothing"})`);
  }
  return Number(value);
}

/** ap_timeout_parameter_parse: digits with ms, s, mi or h (seconds when bare); milliseconds. */
function timeParameter(value: string | undefined, origin: Origin, what: string): number {
  const match = /^(\d+)(ms|s|mi|h)?$/i.exec(value ?? "");
  if (!match) throw new ImportError(origin.file, origin.line, `${what}: a time such as 30, 30s, 500ms, 5mi or 1h (got ${value ?? "nothing"})`);
  const unit = { ms: 1, s: 1000, mi: 60_000, h: 3_600_000 }[(match[2] ?? "s").toLowerCase() as "ms" | "s" | "mi" | "h"];
  return Number(match[1]) * unit;
}

function setMemberTimeout(pool: PoolBuilder, milliseconds: number, origin: Origin, notes: Notes, fallback = false): void {
  pool.set("timeouts.response", `${milliseconds}ms`, origin, notes, { fallback });
  pool.set("timeouts.idle", `${milliseconds}ms`, origin, notes, { fallback });
}

/** A member URL as tandem takes it (an origin), or undefined with why in `notes.dropped`. */
function memberUrl(text: string, origin: Origin, notes: Notes): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ImportError(origin.file, origin.line, `not a URL: ${text}`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const host = url.hostname;
  let result: string;
  if (scheme === "http" || scheme === "https") result = `${scheme}://${host}:${url.port || (scheme === "https" ? 443 : 80)}`;
  else if (scheme === "ajp") {
    result = `http://${host}:8080`;
    notes.approximations.push(AJP_NOTE);
  } else if (scheme === "ws" || scheme === "wss" || scheme === "h2c" || scheme === "h2") {
    const secure = scheme === "wss" || scheme === "h2";
    result = `${secure ? "https" : "http"}://${host}:${url.port || (secure ? 443 : 80)}`;
    notes.approximations.push(`${scheme}:// becomes ${secure ? "https" : "http"}:// (tandem speaks HTTP/1.1 to members and passes WebSocket upgrades on)`);
  } else {
    notes.dropped.push(`${scheme}:// members: tandem speaks HTTP to its members`);
    return undefined;
  }
  if (url.pathname !== "/" && url.pathname !== "" || url.search) notes.approximations.push(`the path ${url.pathname}${url.search} of ${text} is not prepended: tandem passes the path on unchanged`);
  return result;
}

/** status=+H-D…: the flags httpd sets (or clears) on a member, as far as tandem has them. */
function statusFlags(member: Member, value: string): void {
  const { notes } = member;
  let set = true;
  for (const flag of value.toUpperCase()) {
    if (flag === "+" || flag === "-") {
      set = flag === "+";
      continue;
    }
    if (!set) continue;
    switch (flag) {
      case "D":
        member.activation = "stopped";
        notes.approximations.push("status D (disabled): activation stopped, it takes nothing");
        break;
      case "S":
        member.activation = "stopped";
        break;
      case "N":
        if (member.activation !== "stopped") member.activation = "disabled";
        break;
      case "H":
      case "R":
        member.standby = true;
        notes.approximations.push(`status ${flag} (hot ${flag === "H" ? "standby" : "spare"}): a higher distance, so it gets new sessions only while no other member of its lbset can take them`);
        break;
      case "E":
      case "C":
        notes.dropped.push(`status ${flag}: tandem's health decides whether the member is up`);
        break;
      case "I":
        notes.dropped.push("status I: tandem always counts a member's errors (health.passive)");
        break;
      default:
        throw new ImportError(member.origin.file, member.origin.line, `status: unknown flag ${flag} (D, S, I, H, R, E, N, C)`);
    }
  }
}

function balancerParameter(pool: PoolBuilder, key: string, value: string, origin: Origin, notes: Notes): void {
  switch (key) {
    case "lbmethod": {
      const method = value.toLowerCase();
      const strategy = method === "bybusyness" ? "leastconn" : "roundrobin";
      if (!["byrequests", "bybusyness", "bytraffic", "heartbeat"].includes(method)) throw new ImportError(origin.file, origin.line, `lbmethod: byrequests, bytraffic, bybusyness or heartbeat (got ${value})`);
      pool.set("strategy", strategy, origin, notes);
      pool.lbmethod = method;
      if (method === "bytraffic") notes.approximations.push("bytraffic balances bytes; tandem's roundrobin balances requests by weight");
      if (method === "heartbeat") notes.approximations.push("heartbeat follows the members' own load reports (mod_heartmonitor); tandem has none, roundrobin by weight instead");
      return;
    }
    case "stickysession": {
      const [cookie, parameter] = value.split("|");
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie) || (parameter !== undefined && parameter === "")) {
        notes.dropped.push(`stickysession=${value}: not a cookie name tandem can read`);
        return;
      }
      if (pool.lbmethod === "byrequests") notes.approximations.push(BYREQUESTS_NOTE);
      else if (pool.lbmethod === undefined) notes.approximations.push(`with byrequests, httpd's default lbmethod: ${BYREQUESTS_NOTE}`);
      pool.set("sticky.mode", "route", origin, notes);
      pool.set("sticky.cookie", cookie, origin, notes);
      pool.set("sticky.pathParameter", parameter ?? cookie, origin, notes);
      return;
    }
    case "stickysessionsep":
      if (value.length !== 1) throw new ImportError(origin.file, origin.line, `stickysessionsep: a single character (got ${value})`);
      pool.set("sticky.separator", value, origin, notes);
      return;
    case "nofailover":
      pool.set("sticky.force", /^on$/i.test(value), origin, notes);
      return;
    case "scolonpathdelim":
      notes.approximations.push(`scolonpathdelim=${value}: tandem always reads ;${"name"}= path parameters`);
      return;
    case "timeout":
      pool.set("queue.timeout", `${timeParameter(value, origin, "timeout")}ms`, origin, notes);
      return;
    case "maxattempts":
      pool.set("retries", Math.min(integerParameter(value, origin, "maxattempts", 0, 1_000_000), 10), origin, notes);
      if (Number(value) > 10) notes.approximations.push(`maxattempts=${value}: tandem retries at most 10 times`);
      return;
    case "failonstatus": {
      for (const status of value.split(",")) integerParameter(status.trim(), origin, "failonstatus", 100, 599);
      pool.set("health.passive.errorLimit", 1, origin, notes);
      notes.approximations.push(`failonstatus=${value}: a member is taken out at its first error, and tandem counts every 5xx, a refused connection and a timeout`);
      return;
    }
    case "failontimeout":
      notes.dropped.push(`failontimeout=${value}: tandem counts timeouts in health.passive already`);
      return;
    case "forcerecovery":
      notes.dropped.push(`forcerecovery=${value}: tandem has no forced recovery; members come back by health checks or health.passive.backoff`);
      return;
    case "growth":
      notes.dropped.push(`growth=${value}: tandem's members are the config's (add them with a reload)`);
      return;
    case "nonce":
      notes.dropped.push("nonce: protects the balancer-manager; tandem's admin plane takes tokens (TANDEM_ADMIN_SECRET)");
      return;
    default:
      workerParameter(pool, key, value, origin, notes);
  }
}

/** A worker parameter that tandem keeps per pool (or not at all). */
function workerParameter(pool: PoolBuilder, key: string, value: string, origin: Origin, notes: Notes): void {
  switch (key) {
    case "retry":
      pool.set("recoverTime", `${timeParameter(value, origin, "retry")}ms`, origin, notes);
      return;
    case "timeout":
      setMemberTimeout(pool, timeParameter(value, origin, "timeout"), origin, notes);
      return;
    case "connectiontimeout":
      pool.set("timeouts.connect", `${timeParameter(value, origin, "connectiontimeout")}ms`, origin, notes);
      return;
    case "hcmethod": {
      const method = value.toUpperCase();
      if (method === "TCP" || method === "CPING" || method === "PROVIDER") notes.dropped.push(`hcmethod=${value}: tandem's checks are HTTP requests`);
      else pool.set("health.check.method", method, origin, notes);
      return;
    }
    case "hcuri":
      pool.set("health.check.path", value, origin, notes);
      return;
    case "hcinterval":
      pool.set("health.check.interval", `${timeParameter(value, origin, "hcinterval")}ms`, origin, notes);
      return;
    case "hcpasses":
      pool.set("health.check.rise", integerParameter(value, origin, "hcpasses", 1, 1_000_000), origin, notes);
      return;
    case "hcfails":
      pool.set("health.check.fall", integerParameter(value, origin, "hcfails", 1, 1_000_000), origin, notes);
      return;
    default: {
      const why = WORKER_PARAMETERS_NOT_CARRIED[key];
      notes.dropped.push(`${key}=${value}: ${why ?? "unknown parameter"}`);
    }
  }
}

/** The https port a RewriteRule redirects to, or undefined when it is not such a redirect. */
function httpsRedirect(rule: Directive): number | undefined {
  const [, substitution, flags] = rule.args;
  if (!/^https:\/\//i.test(substitution ?? "") || !/\[(?:[^\]]*,)?\s*R\b/i.test(flags ?? "")) return undefined;
  const port = /^https:\/\/[^/]*?:(\d+)(?:\/|$)/i.exec(substitution);
  return port ? Number(port[1]) : 443;
}

function trimSlash(path: string): string {
  return path.replace(/\/+$/, "");
}

/** A tandem name from a source name: invalid characters become '-', and it starts with a letter or digit. */
function validName(source: string): string {
  const cleaned = source.replace(/[^A-Za-z0-9_.-]/g, "-");
  return /^[A-Za-z0-9]/.test(cleaned) ? cleaned : `x${cleaned}`;
}

function uniqueName(name: string, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  let suffix = 2;
  while (taken.has(`${name}-${suffix}`)) suffix++;
  return `${name}-${suffix}`;
}
