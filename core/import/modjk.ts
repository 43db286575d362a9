/**
 * mod_jk to tandem: `workers.properties` (workers, balancers, templates), `uriworkermap.properties`
 * and the `JkMount` lines of an httpd file (jk.conf) become pools, members and routes.
 *
 * The properties are read as mod_jk's jk_map.c reads them: `#` starts a comment anywhere on a line,
 * `key=value` with both sides trimmed, no line continuations (a trailing `\` is part of the value,
 * as in the `ps=\` that Windows setups write), `$(name)` replaced by an earlier property's value,
 * a repeated list property (`worker.list`, `balance_workers`, `mount`...) appended to, any other
 * repeated key overwritten. `worker.X.reference=worker.Y` copies Y's properties that X does not set,
 * recursively, up to mod_jk's depth of 20. A worker named in `worker.list` without properties is an
 * ajp13 worker on localhost:8009, as in mod_jk.
 *
 * Sessions survive the cut-over: a balancer (`type=lb`) with sticky sessions becomes a pool with
 * `sticky: {mode: route}`, and each member keeps its worker's `route` (default: the worker's name),
 * which is the jvmRoute Tomcat appends to the session id. Members speak HTTP to Tomcat's HTTP
 * connector instead of AJP, which the report flags with the RemoteIpValve recipe.
 *
 * @module
 */
import type { Draft, Path } from "./draft.ts";
import type { ImportContext, Parser, SourceFile } from "./parser.ts";
import { ImportError, type ImportReport, type Origin } from "./report.ts";

const REMOTE_IP_VALVE = "configure Tomcat's RemoteIpValve (deploy/examples/tomcat-remoteip.xml) so it still sees the client's address and https";
const ADMIN_SECRET = "set TANDEM_ADMIN_SECRET and hand out tokens (tandem token --scope read|admin)";
/** mod_jk's JK_MAP_RECURSION: how deep `reference` chains may go. */
const MAX_REFERENCE_DEPTH = 20;
const AJP_DEFAULT_PORT = 8009;
const HTTP_DEFAULT_PORT = 8080;

/**
 * mod_jk's Request method counts every request a worker served, the later ones of its sessions
 * too, when it picks one for a new session (test/runtimes/import-equivalence.test.ts shows it
 * against the real mod_jk); tandem's rotation counts only the sessions it places.
 */
function requestMethodNote(key: string): string {
  return `${key} roundrobin: mod_jk's Request method counts every request, a session's later ones too, so a member busy with its sessions gets fewer new ones; tandem shares new sessions by weight alone, as mod_jk's Next method does`;
}
const TANDEM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const TANDEM_ROUTE = /^[^\s;,.=]+$/;
/** RFC 6265 token, as tandem's sticky.cookie takes it. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Properties whose repeats mod_jk appends to the earlier value with a comma (jk_util.c list_properties). */
const LIST_PROPERTIES = new Set(["list", "balance_workers", "balanced_workers", "mount", "user", "good", "bad", "fail_on_status"]);

/** Why tandem has no use for a worker property, for the ones it never carries. */
const NOT_CARRIED: Record<string, string> = {
  connection_pool_size: "tandem keeps its own keep-alive connections to members; maxconn limits requests in flight",
  connection_pool_minsize: "tandem keeps its own keep-alive connections to members",
  connection_pool_timeout: "tandem closes idle member connections by itself",
  connection_acquire_timeout: "tandem queues requests at maxconn instead (queue.timeout)",
  cachesize: "tandem keeps its own keep-alive connections to members (deprecated in mod_jk)",
  cache_timeout: "tandem closes idle member connections by itself (deprecated in mod_jk)",
  recycle_timeout: "tandem closes idle member connections by itself (deprecated in mod_jk)",
  socket_keepalive: "a kernel socket option tandem does not set",
  socket_buffer: "a kernel socket option tandem does not set",
  socket_timeout: "a timeout on every socket operation: tandem's timeouts.connect, timeouts.response and timeouts.idle cover it",
  connect_timeout: "a CPing after each new connection has no HTTP equivalent: socket_connect_timeout becomes timeouts.connect",
  prepost_timeout: "a CPing before each request has no HTTP equivalent: health checks and passive observation find a dead Tomcat",
  retry_interval: "tandem retries at once, on another member when redispatch allows",
  error_escalation_time: "tandem has no escalation of a member's errors: health.passive takes a failing member out",
  max_reply_timeouts: "tandem has no count of reply timeouts: health.passive counts timeouts as errors",
  recovery_options: "tandem retries idempotent requests only, as retryOn says",
  fail_on_status: "tandem's passive health counts 5xx answers as errors (health.passive.on)",
  max_packet_size: "an AJP packet size: HTTP has none",
  secret: "an AJP secret: HTTP to Tomcat has none, and it is not written to the output",
  secretkey: "an AJP secret: HTTP to Tomcat has none, and it is not written to the output",
  lock: "tandem's balancer state lives in its own process: there is no shared memory to lock",
  set_session_cookie: "tandem's route mode reads the jvmRoute Tomcat sets; it sets no cookie of its own",
  session_cookie_path: "tandem's route mode sets no cookie of its own",
  local_worker: "deprecated in mod_jk: domain and distance replace it",
  local_worker_only: "deprecated in mod_jk: domain and distance replace it",
  css: "the status worker's page: the dashboard replaces it",
  prefix: "the status worker's page: the dashboard replaces it",
  ns: "the status worker's page: the dashboard replaces it",
  xmlns: "the status worker's page: the dashboard replaces it",
  doctype: "the status worker's page: the dashboard replaces it",
  good: "the status worker's page: the dashboard replaces it",
  bad: "the status worker's page: the dashboard replaces it",
  user: `the status worker's users: ${ADMIN_SECRET}`,
  user_case_insensitive: `the status worker's users: ${ADMIN_SECRET}`,
  sysprops: "the in-process JNI worker: tandem has no equivalent",
  stdout: "the in-process JNI worker: tandem has no equivalent",
  stderr: "the in-process JNI worker: tandem has no equivalent",
  mx: "the in-process JNI worker: tandem has no equivalent",
  ms: "the in-process JNI worker: tandem has no equivalent",
  class_path: "the in-process JNI worker: tandem has no equivalent",
  bridge: "the in-process JNI worker: tandem has no equivalent",
  jvm_lib: "the in-process JNI worker: tandem has no equivalent",
  ld_path: "the in-process JNI worker: tandem has no equivalent",
  cmd_line: "the in-process JNI worker: tandem has no equivalent",
  native_lib: "the in-process JNI worker: tandem has no equivalent",
};

/** The properties this importer turns into tandem keys (see `buildMember` and `buildBalancer`). */
const CARRIED_PROPERTIES = new Set([
  "type", "host", "port", "reference", "lbfactor", "route", "jvm_route", "redirect", "activation", "disabled", "stopped",
  "distance", "domain", "balance_workers", "balanced_workers", "sticky_session", "sticky_session_force", "method",
  "recover_time", "retries", "session_cookie", "session_path", "ping_mode", "ping_timeout", "connection_ping_interval",
  "socket_connect_timeout", "reply_timeout", "busy_limit", "mount", "read_only",
]);

interface Property {
  value: string;
  /** Every line that made the value: one, or several for an appended list property. */
  origins: Origin[];
  /** What each of those lines wrote ($(…) replaced), in the same order. */
  values: string[];
}

type WorkerProperties = Map<string, Property>;

interface Mount {
  /** Without mod_jk's prefixes: `-` (disabled) and then `!` (an exclusion). */
  pattern: string;
  worker: string;
  origin: Origin;
  /** The `<Location>` (which gave the path when JkMount named only the worker) and `<VirtualHost>` around it. */
  enclosing?: Origin[];
  /** The virtual host's ServerName, when the mount is inside one. */
  host?: { name: string; origin: Origin };
  exclusion: boolean;
  /** `-/app/*`: switches the mounts of this pattern off, wherever they were written. */
  disabled: boolean;
}

/** A mount rule as uri_worker_map_add reads it: a leading `-` disables, then a `!` excludes. */
function mountOf(rule: string, worker: string, at: Origin, within: Partial<Mount> = {}): Mount {
  const disabled = rule.startsWith("-");
  const rest = disabled ? rule.slice(1) : rule;
  const exclusion = rest.startsWith("!");
  return { ...within, pattern: exclusion ? rest.slice(1) : rest, worker, origin: at, exclusion: exclusion || within.exclusion === true, disabled };
}

/**
 * Collects what became of each directive, so that a line feeding several keys (a template's
 * property inherited by three workers) still gets exactly one report entry, and a line nothing
 * used gets the reason registered with it.
 */
class Ledger {
  readonly #outcomes = new Map<Origin, { disposition: "carried" | "approximated" | "not carried"; detail: string }[]>();
  readonly #fallbacks = new Map<Origin, string>();

  register(origin: Origin, fallback: string): void {
    this.#fallbacks.set(origin, fallback);
  }

  carried(origin: Origin, key: string): void {
    this.#add(origin, "carried", key);
  }

  approximated(origin: Origin, how: string): void {
    this.#add(origin, "approximated", how);
  }

  notCarried(origin: Origin, why: string): void {
    this.#add(origin, "not carried", why);
  }

  /** Whether anything was recorded for `origin` yet. */
  has(origin: Origin): boolean {
    return this.#outcomes.has(origin);
  }

  #add(origin: Origin, disposition: "carried" | "approximated" | "not carried", detail: string): void {
    this.#outcomes.set(origin, [...(this.#outcomes.get(origin) ?? []), { disposition, detail }]);
  }

  /** One entry per registered line: approximated if any use was, else carried if any was, else not carried. */
  flush(report: ImportReport): void {
    for (const [origin, fallback] of this.#fallbacks) {
      const outcomes = this.#outcomes.get(origin) ?? [{ disposition: "not carried" as const, detail: fallback }];
      const details = (kinds: string[]) => [...new Set(outcomes.filter((o) => kinds.includes(o.disposition)).map((o) => o.detail))].join("; ");
      if (outcomes.some((o) => o.disposition === "approximated")) report.approximated(origin, details(["approximated", "carried"]));
      else if (outcomes.some((o) => o.disposition === "carried")) report.carried(origin, details(["carried"]));
      else report.notCarried(origin, details(["not carried"]));
    }
  }
}

/** The `Parser` for mod_jk: workers.properties, uriworkermap.properties and httpd files with Jk directives, together. */
export const importModjk: Parser = (files, context) => {
  const ledger = new Ledger();
  const properties = new Map<string, Property>();
  const mounts: Mount[] = [];
  const listens: { address: string; origin: Origin }[] = [];
  const httpdFiles = files.filter(isHttpdSyntax);
  for (const file of files) {
    if (!httpdFiles.includes(file)) readPropertiesFile(file, properties, mounts, ledger);
  }
  for (const file of httpdFiles) readHttpdFile(file, files, properties, mounts, listens, ledger);
  new Farm(properties, ledger, context).build(mounts, listens);
  ledger.flush(context.report);
  return Promise.resolve();
};

/** jk.conf and httpd.conf: Jk directives or blocks, which a properties file never has. */
function isHttpdSyntax(file: SourceFile): boolean {
  return file.text.split("\n").some((line) => /^\s*(Jk[A-Za-z]+\s|<\/?[A-Za-z])/.test(line));
}

function origin(file: SourceFile, index: number, text: string): Origin {
  return { file: file.path, line: index + 1, text };
}

/** One properties file, workers.properties or uriworkermap.properties (its keys are URI patterns). */
function readPropertiesFile(file: SourceFile, properties: Map<string, Property>, mounts: Mount[], ledger: Ledger): void {
  file.text.split("\n").forEach((raw, index) => {
    const text = raw.replace(/\r$/, "");
    const content = text.replace(/#.*/, "").trim();
    if (content === "") return;
    readPropertyLine(content, origin(file, index, text), properties, mounts, ledger);
  });
}

function readPropertyLine(content: string, at: Origin, properties: Map<string, Property>, mounts: Mount[], ledger: Ledger): void {
  const equals = content.indexOf("=");
  if (equals < 0) {
    ledger.register(at, "not a property (no '='): mod_jk skips the line");
    return;
  }
  const key = content.slice(0, equals).trim();
  const rawValue = content.slice(equals + 1).trim();
  if (key === "" || rawValue === "") {
    ledger.register(at, "a property without a name or value: mod_jk skips the line");
    return;
  }
  if (/^[-!]*\//.test(key) || key.startsWith("*")) {
    ledger.register(at, "a mount of a worker that is not used");
    // uriworkermap.properties: `[-][!]/pattern[|rest]=worker[;extension=value…]`.
    mounts.push(mountOf(key, rawValue, at));
    return;
  }
  const unresolved: string[] = [];
  const value = rawValue.replace(/\$\(([^)]*)\)/g, (whole, name: string) => {
    const known = properties.get(name);
    if (known) return known.value;
    unresolved.push(name);
    return whole;
  });
  const worker = parseWorkerKey(key);
  if (unresolved.length > 0) {
    ledger.register(at, `$(${unresolved.join("), $(")}) is not a property defined above: mod_jk takes it from httpd's environment at start, which an import cannot see; write the value instead`);
    return;
  }
  if (worker === undefined) {
    ledger.register(at, "not a worker property: a variable for $(…) in later values, used there");
  } else if (worker.name === undefined && worker.property !== "list" && worker.property !== "maintain") {
    ledger.register(at, "unknown directive");
  } else if (worker.name !== undefined && !CARRIED_PROPERTIES.has(worker.property) && !(worker.property in NOT_CARRIED)) {
    ledger.register(at, `unknown directive (mod_jk has no worker property '${worker.property}')`);
  } else {
    ledger.register(at, `worker ${worker.name} is not used: it is not in worker.list, not a member of a balancer in it, and no worker refers to it`);
  }
  const previous = properties.get(key);
  if (previous && worker !== undefined && LIST_PROPERTIES.has(worker.property)) {
    properties.set(key, { value: `${previous.value},${value}`, origins: [...previous.origins, at], values: [...previous.values, value] });
    return;
  }
  if (previous) previous.origins.forEach((earlier) => ledger.notCarried(earlier, `overridden by line ${at.line} (mod_jk keeps the last value)`));
  properties.set(key, { value, origins: [at], values: [value] });
}

/** `worker.list` → {property: "list"}; `worker.tc1.port` → {name: "tc1", property: "port"}; `ps` → undefined. */
function parseWorkerKey(key: string): { name?: string; property: string } | undefined {
  if (!key.startsWith("worker.")) return undefined;
  const rest = key.slice("worker.".length);
  const dot = rest.lastIndexOf(".");
  if (dot < 0) return { property: rest };
  return { name: rest.slice(0, dot), property: rest.slice(dot + 1) };
}


/** Splits an httpd line into words, keeping double-quoted ones whole. */
function httpdWords(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((match) => match[1] ?? match[2]);
}

/** jk.conf / httpd.conf: the Jk directives, the blocks they sit in, and `Listen`. */
function readHttpdFile(
  file: SourceFile,
  files: SourceFile[],
  properties: Map<string, Property>,
  mounts: Mount[],
  listens: { address: string; origin: Origin }[],
  ledger: Ledger,
): void {
  const blocks: { tag: string; argument: string; origin: Origin; serverName?: { name: string; origin: Origin } }[] = [];
  const lines = file.text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const first = index;
    let text = lines[index].replace(/\r$/, "");
    // httpd joins a line ending in a backslash with the next one.
    while (text.endsWith("\\") && index + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++index].replace(/\r$/, "").trim()}`;
    const content = text.trim();
    if (content === "" || content.startsWith("#")) continue;
    const at = origin(file, first, text);
    const close = /^<\/([^\s>]+)\s*>$/.exec(content);
    if (close) {
      const open = blocks.pop();
      if (!open || open.tag.toLowerCase() !== close[1].toLowerCase()) {
        throw new ImportError(file.path, first + 1, `</${close[1]}> closes ${open ? `<${open.tag}> of line ${open.origin.line}` : "no open block"}`);
      }
      ledger.register(at, `the end of <${open.tag}>`);
      continue;
    }
    const open = /^<([^\s>\/]+)\s*([^>]*)>$/.exec(content);
    if (open) {
      const [, tag, argument] = open;
      blocks.push({ tag, argument: httpdWords(argument).join(" "), origin: at });
      const lower = tag.toLowerCase();
      ledger.register(at, lower === "ifmodule" || lower === "ifdefine" || lower === "ifversion"
        ? `httpd's condition: the directives inside are read as if it holds`
        : lower === "location" ? "an httpd <Location>: no route came of it"
        : lower === "virtualhost" ? "an httpd virtual host without a JkMount: tandem's listeners and routes replace it"
        : `an httpd <${tag}> block: not mod_jk's`);
      continue;
    }
    if (content.startsWith("<")) throw new ImportError(file.path, first + 1, `an unterminated tag: ${content}`);
    const [directive, ...args] = httpdWords(content);
    const location = [...blocks].reverse().find((block) => block.tag.toLowerCase() === "location");
    const virtualHost = [...blocks].reverse().find((block) => block.tag.toLowerCase() === "virtualhost");
    switch (directive.toLowerCase()) {
      case "jkmount":
      case "jkunmount": {
        const exclusion = directive.toLowerCase() === "jkunmount";
        ledger.register(at, "a mount of a worker that is not used");
        const enclosing = [location, virtualHost].flatMap((block) => block ? [block.origin] : []);
        if (args.length === 2) mounts.push(mountOf(args[0], args[1], at, { host: virtualHost?.serverName, enclosing: virtualHost ? [virtualHost.origin] : [], exclusion }));
        else if (args.length === 1 && location) mounts.push(mountOf(location.argument, args[0], at, { enclosing, host: virtualHost?.serverName, exclusion }));
        else ledger.notCarried(at, `${directive} needs a path and a worker (or a worker inside <Location>)`);
        break;
      }
      case "servername":
        if (virtualHost && args[0]) {
          virtualHost.serverName = { name: args[0].replace(/^[a-z]+:\/\//i, "").replace(/:\d+$/, ""), origin: at };
          ledger.register(at, "the virtual host has no JkMount that became a route");
        } else ledger.register(at, "httpd's own name: tandem routes by the Host header only where a route names one");
        break;
      case "serveralias":
        ledger.register(at, "tandem routes take one host each: add a route per alias");
        break;
      case "listen": {
        const address = listenAddress(args[0] ?? "");
        if (address) {
          ledger.register(at, "no pool came of the workers");
          listens.push({ address, origin: at });
        } else ledger.register(at, `not an address tandem can listen on: ${args[0] ?? "(none)"}`);
        break;
      }
      case "jkworkersfile": {
        const named = files.find((candidate) => baseName(candidate.path) === baseName(args[0] ?? ""));
        ledger.register(at, named ? `names the workers file, imported here from ${named.path}` : `import that file as well: tandem import … ${args[0] ?? ""}`);
        break;
      }
      case "jkmountfile": {
        const named = files.find((candidate) => baseName(candidate.path) === baseName(args[0] ?? ""));
        ledger.register(at, named ? `names the mount file, imported here from ${named.path}` : `import that file as well: tandem import … ${args[0] ?? ""}`);
        break;
      }
      case "jkworkerproperty":
        // mod_jk reads the argument as one more line of workers.properties.
        readPropertyLine(args.join(" "), at, properties, mounts, ledger);
        break;
      case "jklogfile":
      case "jkloglevel":
      case "jklogstampformat":
      case "jkrequestlogformat":
        ledger.register(at, "tandem writes its events and access lines itself: see accessLog");
        break;
      case "jkshmfile":
      case "jkshmsize":
        ledger.register(at, "tandem keeps run-time state in its process, and across restarts in stateFile");
        break;
      case "jkwatchdoginterval":
        ledger.register(at, "tandem's health checks and recovery run by themselves: no maintenance interval");
        break;
      case "jkmountcopy":
        ledger.register(at, "tandem's routes apply to every listener: there is nothing to copy");
        break;
      case "jkoptions":
      case "jkstripsession":
      case "jkenvvar":
      case "jkautoalias":
      case "jkhttpstatusforerror":
        ledger.register(at, "tandem has no equivalent");
        break;
      case "require":
      case "order":
      case "allow":
      case "deny":
        ledger.register(at, "httpd access control: tandem routes have none, so these paths are open to every client (the admin plane has tokens of its own)");
        break;
      default:
        ledger.register(at, /^jk/i.test(directive) ? "unknown directive" : "an httpd directive, not mod_jk's: import httpd's config with --from httpd");
    }
  }
  const unclosed = blocks.pop();
  if (unclosed) throw new ImportError(file.path, unclosed.origin.line, `<${unclosed.tag}> is not closed`);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** httpd's `Listen 80`, `Listen 10.0.0.1:80`, `Listen [::]:80` as a tandem listener address. */
function listenAddress(argument: string): string | undefined {
  if (/^\d{1,5}$/.test(argument)) return `:${argument}`;
  if (/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(argument)) return argument;
  return undefined;
}

/** The workers resolved (references followed), and the pools, members and routes made of them. */
class Farm {
  readonly #workers = new Map<string, WorkerProperties>();
  readonly #globals = new Map<string, Property>();
  /** Worker name → pool name, for the workers that became pools. */
  readonly #pools = new Map<string, string>();
  #adminFrom: string | undefined;
  /** The workers that became pools, members or the admin plane, by type. */
  readonly #used = new Map<WorkerProperties, string>();

  constructor(properties: Map<string, Property>, private readonly ledger: Ledger, private readonly context: ImportContext) {
    for (const [key, property] of properties) {
      const parsed = parseWorkerKey(key);
      if (parsed === undefined) {
        property.origins.forEach((at) => this.#noteVariable(at, key, properties));
        continue;
      }
      if (parsed.name === undefined) {
        this.#globals.set(parsed.property, property);
        continue;
      }
      const worker = this.#workers.get(parsed.name) ?? new Map<string, Property>();
      worker.set(parsed.property, property);
      this.#workers.set(parsed.name, worker);
    }
    for (const name of [...this.#workers.keys()]) this.#resolveReferences(name, [name]);
  }

  /** A `ps=/` style variable matters only through the values that use it; say so when none does. */
  #noteVariable(at: Origin, key: string, properties: Map<string, Property>): void {
    const used = [...properties.values()].some((property) => property.origins.some((o) => o.text.includes(`$(${key})`)));
    if (!used) this.ledger.notCarried(at, `not a worker property: mod_jk reads only worker.* keys, and no value uses $(${key})`);
  }

  /** Copies the referenced worker's properties that `name` does not set itself, depth first, as jk_map_resolve_references does. */
  #resolveReferences(name: string, chain: string[]): void {
    const worker = this.#workers.get(name)!;
    const reference = worker.get("reference");
    if (!reference) return;
    const at = reference.origins[reference.origins.length - 1];
    const target = reference.value.replace(/^worker\./, "").replace(/\.$/, "");
    if (chain.includes(target)) throw new ImportError(at.file, at.line, `reference loop: worker ${[...chain, target].join(" → ")}`);
    if (chain.length > MAX_REFERENCE_DEPTH) throw new ImportError(at.file, at.line, `references nested deeper than mod_jk's ${MAX_REFERENCE_DEPTH}`);
    const referenced = this.#workers.get(target);
    if (!referenced) throw new ImportError(at.file, at.line, `reference to ${reference.value}, which has no properties`);
    this.#resolveReferences(target, [...chain, target]);
    for (const [property, value] of referenced) {
      if (property !== "reference" && !worker.has(property)) worker.set(property, value);
    }
  }

  build(mounts: Mount[], listens: { address: string; origin: Origin }[]): void {
    const listed = this.#listedWorkers();
    // Pools another language of this import made keep their names.
    const takenPools = new Set(Object.keys((this.context.draft.get(["pools"]) ?? {}) as object));
    for (const { name, origin: at } of listed) {
      const worker = this.#workers.get(name) ?? new Map<string, Property>();
      this.#workers.set(name, worker);
      const type = (worker.get("type")?.value ?? "ajp13").toLowerCase();
      if (type === "lb") this.#buildBalancer(name, worker, at, takenPools);
      else if (type === "ajp13" || type === "ajp12") this.#buildSingle(name, worker, at, takenPools);
      else if (type === "status") this.#buildStatus(name, worker, at);
      else {
        const why = `worker ${name} is of type ${type}: tandem has no equivalent`;
        this.ledger.notCarried(at, why);
        for (const property of worker.values()) property.origins.forEach((o) => this.ledger.notCarried(o, why));
      }
    }
    const maintain = this.#globals.get("maintain");
    maintain?.origins.forEach((o) => this.ledger.notCarried(o, "tandem's health checks and recovery run by themselves: no maintenance interval"));
    this.#buildRoutes([...mounts, ...this.#propertyMounts()]);
    this.#buildListeners(listens);
    this.#reportInapplicable();
  }

  /** `worker.X.mount=/app/* /other/*`: mounts written in workers.properties. */
  #propertyMounts(): Mount[] {
    return [...this.#workers].flatMap(([worker, properties]) => {
      const mount = properties.get("mount");
      if (!mount) return [];
      return mount.values.flatMap((written, index) =>
        written.split(/[\s,]+/).filter(Boolean).map((pattern) => mountOf(pattern, worker, mount.origins[index])));
    });
  }

  /** A used worker's property that its type ignores (lbfactor on a balancer): mod_jk ignores it too. */
  #reportInapplicable(): void {
    for (const [properties, type] of this.#used) {
      for (const [property, value] of properties) {
        if (!CARRIED_PROPERTIES.has(property) && !(property in NOT_CARRIED)) continue;
        value.origins.forEach((o) => {
          if (!this.ledger.has(o)) this.ledger.notCarried(o, `${property} does not apply to a worker of type ${type}: mod_jk ignores it`);
        });
      }
    }
  }

  /** `worker.list`, or mod_jk's default list when there is none: the worker named ajp13, if it is defined. */
  #listedWorkers(): { name: string; origin: Origin }[] {
    const list = this.#globals.get("list");
    if (!list) {
      const ajp13 = this.#workers.get("ajp13");
      return ajp13 ? [{ name: "ajp13", origin: [...ajp13.values()][0].origins[0] }] : [];
    }
    const names: { name: string; origin: Origin }[] = [];
    list.values.forEach((written, index) => {
      for (const name of written.split(/[\s,]+/).filter(Boolean)) {
        if (!names.some((n) => n.name === name)) names.push({ name, origin: list.origins[index] });
      }
    });
    return names;
  }

  #poolName(worker: string, at: Origin, taken: Set<string>): string {
    const name = uniqueName(worker, taken);
    taken.add(name);
    this.#pools.set(worker, name);
    if (name !== worker) this.ledger.approximated(at, `the pool is named ${name}: '${worker}' is not a tandem name`);
    return name;
  }

  #buildBalancer(name: string, balancer: WorkerProperties, listedAt: Origin, takenPools: Set<string>): void {
    const pool = this.#poolName(name, listedAt, takenPools);
    this.#used.set(balancer, "lb");
    const poolPath = ["pools", pool];
    this.ledger.carried(listedAt, `pools.${pool}`);
    this.#cite(poolPath, listedAt);
    const sticky = this.#bool(balancer, "sticky_session", true);
    if (balancer.has("method") || !sticky) this.#carry(balancer, "type", poolPath, `pools.${pool}`);
    // Without a method line mod_jk balances by Request, which tandem's roundrobin only approximates
    // once sessions stick (without stickiness every request is a new placement on both).
    else balancer.get("type")?.origins.forEach((o) => {
      this.context.draft.cite(poolPath, o);
      this.ledger.approximated(o, `pools.${pool}; ${requestMethodNote(`pools.${pool}.strategy`)} (Request is mod_jk's default method)`);
    });
    // Each member with the line that named it (balanced_workers is the deprecated spelling).
    const named = ["balance_workers", "balanced_workers"].flatMap((key) => {
      const property = balancer.get(key);
      if (!property) return [];
      return property.values.flatMap((written, index) => written.split(/[\s,]+/).filter(Boolean).map((worker) => ({ worker, at: property.origins[index] })));
    });
    if (named.length === 0) {
      throw new ImportError(listedAt.file, listedAt.line, `balancer ${name} has no balance_workers`);
    }
    const stickyPath = [...poolPath, "sticky"];
    this.context.draft.set([...stickyPath, "mode"], sticky ? "route" : "none", balancer.get("sticky_session")?.origins[0] ?? listedAt);
    this.#carry(balancer, "sticky_session", [...stickyPath, "mode"], `pools.${pool}.sticky.mode`);
    if (balancer.has("sticky_session_force")) {
      this.#set(balancer, "sticky_session_force", [...stickyPath, "force"], this.#bool(balancer, "sticky_session_force", false));
    }
    const cookie = balancer.get("session_cookie");
    if (cookie && COOKIE_NAME.test(cookie.value)) this.#set(balancer, "session_cookie", [...stickyPath, "cookie"], cookie.value);
    else cookie?.origins.forEach((o) => this.ledger.notCarried(o, `not a cookie name tandem can read (an RFC 6265 token): ${cookie.value}`));
    const sessionPath = balancer.get("session_path");
    const parameter = sessionPath?.value.replace(/^;/, "").replace(/=$/, "");
    if (parameter) this.#set(balancer, "session_path", [...stickyPath, "pathParameter"], parameter);
    else sessionPath?.origins.forEach((o) => this.ledger.notCarried(o, "no path parameter name in it"));
    this.#method(balancer, pool, sticky);
    if (balancer.has("recover_time")) this.#set(balancer, "recover_time", [...poolPath, "recoverTime"], `${this.#number(balancer, "recover_time")}s`);
    // mod_jk rests a failed worker for 60 s unless told otherwise; tandem's own default is 10 s.
    else this.context.draft.set([...poolPath, "recoverTime"], "60s", balancer.get("type")?.origins[0] ?? listedAt);
    if (balancer.has("retries")) {
      const retries = this.#number(balancer, "retries");
      const at = balancer.get("retries")!.origins;
      this.context.draft.set([...poolPath, "retries"], Math.min(retries, 10), at[0]);
      at.forEach((o) => this.ledger.approximated(o, `pools.${pool}.retries ${Math.min(retries, 10)}: mod_jk counts attempts over the balancer's workers, tandem counts attempts after the first${retries > 10 ? " (at most 10)" : ""}`));
    }
    for (const [property, value] of balancer) {
      if (property in NOT_CARRIED) value.origins.forEach((o) => this.ledger.notCarried(o, NOT_CARRIED[property]));
    }
    const takenMembers = new Set<string>();
    const members: { worker: string; member: string; properties: WorkerProperties; at: Origin }[] = [];
    for (const { worker, at } of named) {
      if (members.some((m) => m.worker === worker)) continue;
      const properties = this.#workers.get(worker) ?? new Map<string, Property>();
      const type = (properties.get("type")?.value ?? "ajp13").toLowerCase();
      if (type !== "ajp13" && type !== "ajp12") {
        this.ledger.approximated(at, `${worker} is left out: a worker of type ${type}, which mod_jk does not balance`);
        continue;
      }
      if (!this.#workers.has(worker)) {
        this.#workers.set(worker, properties);
        this.ledger.approximated(at, `${worker} has no properties: mod_jk's defaults, an ajp13 worker on localhost:8009`);
      }
      const member = uniqueName(worker, takenMembers);
      takenMembers.add(member);
      this.ledger.carried(at, `pools.${pool}.members`);
      members.push({ worker, member, properties, at });
    }
    if (members.length === 0) throw new ImportError(listedAt.file, listedAt.line, `balancer ${name} has no ajp13 workers to balance`);
    members.forEach((entry, index) => this.#buildMember(entry, [...poolPath, "members", index], members, sticky));
    this.#poolWide(members.map((m) => m.properties), poolPath, pool);
  }

  #buildSingle(name: string, worker: WorkerProperties, listedAt: Origin, takenPools: Set<string>): void {
    const pool = this.#poolName(name, listedAt, takenPools);
    this.ledger.carried(listedAt, `pools.${pool}`);
    this.#cite(["pools", pool], listedAt);
    const entry = { worker: name, member: uniqueName(name, new Set()), properties: worker, at: listedAt };
    this.#buildMember(entry, ["pools", pool, "members", 0], [entry], false);
    this.#poolWide([worker], ["pools", pool], pool);
  }

  #buildStatus(name: string, worker: WorkerProperties, listedAt: Origin): void {
    if (this.context.draft.get(["admin"]) === undefined) this.context.draft.set(["admin"], {}, listedAt);
    else this.context.draft.cite(["admin"], listedAt);
    this.#adminFrom = name;
    this.#used.set(worker, "status");
    const how = `admin: the dashboard and API on 127.0.0.1:8404 (admin.address) replace the status worker ${name}; ${ADMIN_SECRET}`;
    this.ledger.approximated(listedAt, how);
    worker.get("type")?.origins.forEach((o) => this.ledger.approximated(o, how));
    worker.get("read_only")?.origins.forEach((o) =>
      this.#bool(worker, "read_only", false)
        ? this.ledger.approximated(o, "hand out read-scope tokens only (tandem token --scope read)")
        : this.ledger.notCarried(o, "admin-scope tokens may change members; read-scope ones may not"));
    for (const [property, value] of worker) {
      if (property in NOT_CARRIED) value.origins.forEach((o) => this.ledger.notCarried(o, NOT_CARRIED[property]));
      else if (CARRIED_PROPERTIES.has(property) && !["type", "read_only", "mount", "reference"].includes(property)) {
        value.origins.forEach((o) => this.ledger.notCarried(o, `not a status worker property: mod_jk ignores it there`));
      }
    }
    worker.get("reference")?.origins.forEach((o) => this.ledger.carried(o, "admin"));
  }

  /** One Tomcat: url from host and port, weight, route, activation, distance, domain, redirect. */
  #buildMember(
    { worker, member, properties, at: namedAt }: { worker: string; member: string; properties: WorkerProperties; at: Origin },
    path: Path,
    siblings: { worker: string; member: string; properties: WorkerProperties }[],
    sticky: boolean,
  ): void {
    const memberKey = keyOf(path);
    this.#used.set(properties, properties.get("type")?.value ?? "ajp13");
    const draft = this.context.draft;
    draft.set([...path, "name"], member, namedAt);
    if (member !== worker) this.ledger.approximated(namedAt, `the member is named ${member}: '${worker}' is not a tandem name`);
    const host = properties.get("host")?.value ?? "localhost";
    const ajpPort = properties.has("port") ? this.#number(properties, "port") : AJP_DEFAULT_PORT;
    // Tomcat's shipped server.xml pairs AJP 8009 with HTTP 8080; Tomcats sharing a host shift both by the same offset.
    const shifted = HTTP_DEFAULT_PORT + (ajpPort - AJP_DEFAULT_PORT);
    const httpPort = shifted >= 1 && shifted <= 65535 ? shifted : HTTP_DEFAULT_PORT;
    const bare = host.replace(/^\[(.*)\]$/, "$1");
    const url = `http://${bare.includes(":") ? `[${bare}]` : bare}:${httpPort}`;
    draft.set([...path, "url"], url, properties.get("host")?.origins[0]);
    this.#carry(properties, "host", [...path, "url"], `${memberKey}.url`);
    properties.get("port")?.origins.forEach((o) => {
      draft.cite([...path, "url"], o);
      this.ledger.approximated(o, `the members' url: the AJP port ${ajpPort} becomes Tomcat's HTTP connector port ${httpPort} (Tomcat's default pairing of 8009 with 8080); check the <Connector> in server.xml`);
    });
    const ajpNoteAt = (properties.get("type") ?? properties.get("host") ?? properties.get("port"))?.origins ?? [namedAt];
    ajpNoteAt.forEach((o) => this.ledger.approximated(o, `AJP becomes HTTP to Tomcat's HTTP connector; ${REMOTE_IP_VALVE}`));
    properties.get("reference")?.origins.forEach((o) => this.ledger.carried(o, `${memberKey} (with the referenced worker's properties)`));
    if (properties.has("lbfactor")) {
      const factor = this.#number(properties, "lbfactor");
      const weight = Math.min(Math.max(factor, 1), 256);
      draft.set([...path, "weight"], weight, properties.get("lbfactor")!.origins[0]);
      properties.get("lbfactor")!.origins.forEach((o) => weight === factor
        ? this.ledger.carried(o, `${memberKey}.weight`)
        : this.ledger.approximated(o, `${memberKey}.weight ${weight}: tandem's weights go from 1 to 256 here (mod_jk treats a factor below 1 as 1)`));
    }
    const route = properties.get("route") ?? properties.get("jvm_route");
    const routeProperty = properties.has("route") ? "route" : "jvm_route";
    const routeValue = route?.value ?? worker;
    if (TANDEM_ROUTE.test(routeValue)) {
      if (route || member !== worker) draft.set([...path, "route"], routeValue, route?.origins[0]);
      this.#carry(properties, routeProperty, [...path, "route"], `${memberKey}.route`);
    } else {
      route?.origins.forEach((o) => this.ledger.notCarried(o, `tandem routes cannot contain spaces, ';', ',', '.' or '=': sessions ending in .${routeValue} lose their member`));
    }
    const activation = properties.get("activation");
    if (activation) {
      const value = { a: "active", d: "disabled", s: "stopped" }[activation.value[0].toLowerCase()];
      if (value === undefined) throw new ImportError(activation.origins[0].file, activation.origins[0].line, `activation: not A, D or S ("${activation.value}")`);
      this.#set(properties, "activation", [...path, "activation"], value);
    } else if (this.#bool(properties, "stopped", false)) {
      this.#set(properties, "stopped", [...path, "activation"], "stopped");
    } else if (this.#bool(properties, "disabled", false)) {
      this.#set(properties, "disabled", [...path, "activation"], "disabled");
    }
    for (const deprecated of ["disabled", "stopped"]) {
      properties.get(deprecated)?.origins.forEach((o) => {
        if (!this.ledger.has(o)) this.ledger.notCarried(o, activation ? "activation is set: mod_jk uses it instead" : `${deprecated} is off: the member is active`);
      });
    }
    if (properties.has("distance")) this.#set(properties, "distance", [...path, "distance"], this.#number(properties, "distance"));
    const domain = properties.get("domain");
    if (domain) {
      draft.set([...path, "domain"], domain.value, domain.origins[0]);
      domain.origins.forEach((o) => sticky
        ? this.ledger.approximated(o, `${memberKey}.domain: a failed member's sessions stay inside its domain, as in mod_jk; a session whose route names the domain itself (a jvmRoute set to the domain) is not sent to the domain's members`)
        : this.ledger.carried(o, `${memberKey}.domain`));
    }
    const redirect = properties.get("redirect");
    if (redirect) {
      // mod_jk looks the redirect up among the workers' routes (a worker's route defaults to its name).
      const target = siblings.find((s) => ((s.properties.get("route") ?? s.properties.get("jvm_route"))?.value ?? s.worker) === redirect.value);
      if (target && target.worker !== worker) this.#set(properties, "redirect", [...path, "redirect"], target.member);
      else redirect.origins.forEach((o) => this.ledger.notCarried(o, `no other member of the balancer has the route ${redirect.value} (mod_jk would then look for a member of a domain ${redirect.value}; tandem's redirect names a member)`));
    }
    if (properties.has("busy_limit")) {
      const limit = this.#number(properties, "busy_limit");
      draft.set([...path, "maxconn"], limit, properties.get("busy_limit")!.origins[0]);
      properties.get("busy_limit")!.origins.forEach((o) => this.ledger.approximated(o, `${memberKey}.maxconn: requests beyond it wait in the pool's queue instead of going to another member`));
    }
    for (const [property, value] of properties) {
      if (property in NOT_CARRIED) value.origins.forEach((o) => this.ledger.notCarried(o, NOT_CARRIED[property]));
      else if (["balance_workers", "balanced_workers", "sticky_session", "sticky_session_force", "method", "recover_time", "session_cookie", "session_path", "read_only"].includes(property)) {
        value.origins.forEach((o) => { if (!this.ledger.has(o)) this.ledger.notCarried(o, `a balancer property: worker ${worker} is not a balancer, so mod_jk ignores it`); });
      } else if (property === "retries") {
        value.origins.forEach((o) => this.ledger.notCarried(o, "a worker's own resends: tandem has no per-member retries; the pool's retries apply"));
      }
    }
  }

  /** Settings tandem has per pool but mod_jk per worker: the first member's value, the others reported. */
  #poolWide(members: WorkerProperties[], poolPath: Path, pool: string): void {
    const millis = (ms: number) => `${ms}ms`;
    const seconds = (s: number) => `${s}s`;
    const settings: { properties: string[]; key: Path; value: (n: number) => unknown; how?: string }[] = [
      { properties: ["socket_connect_timeout"], key: ["timeouts", "connect"], value: millis },
      { properties: ["reply_timeout"], key: ["timeouts", "response"], value: millis, how: "mod_jk's reply_timeout also bounds every pause while the answer streams; tandem's timeouts.idle (60s by default) does that" },
      { properties: ["ping_timeout"], key: ["health", "check", "timeout"], value: millis },
      { properties: ["connection_ping_interval"], key: ["health", "check", "interval"], value: seconds },
    ];
    const pinging = members.some((m) => m.has("ping_mode"));
    for (const setting of settings) {
      let chosen: { value: unknown; from: string } | undefined;
      for (const member of members) {
        for (const property of setting.properties) {
          const found = member.get(property);
          if (!found) continue;
          if (setting.key[0] === "health" && !pinging) {
            found.origins.forEach((o) => this.ledger.notCarried(o, "without ping_mode mod_jk does not ping, so tandem runs no check"));
            continue;
          }
          const value = setting.value(this.#number(member, property));
          const key = `pools.${pool}.${setting.key.join(".")}`;
          if (chosen === undefined) {
            chosen = { value, from: found.value };
            this.context.draft.set([...poolPath, ...setting.key], value, found.origins[0]);
          }
          found.origins.forEach((o) => {
            if (value !== chosen!.value) this.ledger.notCarried(o, `tandem has ${key} per pool, not per member: the pool has ${chosen!.value}`);
            else if (setting.how) this.ledger.approximated(o, `${key}: ${setting.how}`);
            else this.ledger.carried(o, `${key} (per pool in tandem)`);
          });
        }
      }
    }
    const modes = members.flatMap((member) => member.get("ping_mode") ? [member.get("ping_mode")!] : []);
    if (modes.length > 0) {
      this.context.draft.set([...poolPath, "health", "check", "path"], "/", modes[0].origins[0]);
      this.context.draft.set([...poolPath, "health", "check", "expect"], ["200-499"], modes[0].origins[0]);
      modes.flatMap((m) => m.origins).forEach((o) => this.ledger.approximated(o, `pools.${pool}.health.check: AJP's CPing/CPong becomes an HTTP GET / that passes on any answer below 500 (Tomcat is up)`));
    }
  }

  #method(balancer: WorkerProperties, pool: string, sticky: boolean): void {
    const method = balancer.get("method");
    if (!method) return;
    const letter = method.value[0].toUpperCase();
    const strategy = letter === "B" ? "leastconn" : "roundrobin";
    this.context.draft.set(["pools", pool, "strategy"], strategy, method.origins[0]);
    const key = `pools.${pool}.strategy`;
    const how: Record<string, string> = {
      T: `${key} roundrobin: mod_jk balanced by bytes transferred, which tandem does not count`,
      S: `${key} roundrobin: mod_jk balanced new sessions; with route stickiness tandem's requests without a session place new sessions the same way`,
      N: `${key} roundrobin: mod_jk balanced new sessions; with route stickiness tandem's requests without a session place new sessions the same way`,
    };
    method.origins.forEach((o) => {
      if (letter === "B" || (letter === "R" && !sticky)) this.ledger.carried(o, key);
      else if (letter === "R") this.ledger.approximated(o, requestMethodNote(key));
      else if (how[letter]) this.ledger.approximated(o, how[letter]);
      else if (sticky) this.ledger.approximated(o, `${requestMethodNote(key)} (mod_jk takes an unknown method as R, Request)`);
      else this.ledger.approximated(o, `${key} roundrobin: mod_jk takes an unknown method as R (Request)`);
    });
  }

  #buildRoutes(mounts: Mount[]): void {
    const draft = this.context.draft;
    const routes: { route: { host?: string; path?: string; pool: string }; mount: Mount; note?: string }[] = [];
    const switchedOff = new Map(mounts.filter((mount) => mount.disabled).map((mount) => [mount.pattern, mount.origin]));
    for (const mount of mounts) {
      const worker = mount.worker.split(";")[0];
      if (mount.disabled) {
        this.ledger.notCarried(mount.origin, `a disabled mount ('-'): mod_jk serves no ${mount.pattern} mount while it is there`);
        continue;
      }
      const off = switchedOff.get(mount.pattern);
      if (off) {
        this.ledger.notCarried(mount.origin, `disabled by ${baseName(off.file)}:${off.line} ${off.text.trim()}`);
        continue;
      }
      const extensions = mount.worker.includes(";") ? mount.worker.slice(mount.worker.indexOf(";") + 1) : "";
      if (mount.exclusion) {
        this.ledger.notCarried(mount.origin, "tandem routes have no exclusions: these paths go to the pool of the route that covers them (httpd served them itself)");
        continue;
      }
      if (worker === "*" || !this.#workers.has(worker) && !this.#pools.has(worker)) {
        this.ledger.notCarried(mount.origin, `no worker ${worker} in the workers files (import that file as well)`);
        continue;
      }
      if (worker === this.#adminFrom) {
        this.ledger.notCarried(mount.origin, "the admin plane serves the status on its own address (admin.address), not under a path of the listener");
        continue;
      }
      const pool = this.#pools.get(worker);
      if (pool === undefined) {
        this.ledger.notCarried(mount.origin, `worker ${worker} is not in worker.list, so mod_jk does not serve this mount`);
        continue;
      }
      const target = routeOf(mount.pattern);
      if (target.kind === "none") {
        this.ledger.notCarried(mount.origin, target.why);
        continue;
      }
      const note = [target.kind === "prefix" ? target.note : undefined, extensions ? `the mount's extensions (${extensions}) are not carried` : undefined].filter(Boolean).join("; ");
      if (target.kind === "default" && !mount.host) {
        if (draft.get(["defaultPool"]) !== undefined && draft.get(["defaultPool"]) !== pool) {
          this.ledger.notCarried(mount.origin, `an earlier mount already sends every other path to ${String(draft.get(["defaultPool"]))}`);
          continue;
        }
        draft.set(["defaultPool"], pool, mount.origin);
        if (note) this.ledger.approximated(mount.origin, `defaultPool: ${note}`);
        else this.ledger.carried(mount.origin, "defaultPool");
        continue;
      }
      const route: { host?: string; path?: string; pool: string } = { pool };
      if (mount.host) route.host = mount.host.name;
      if (target.kind === "prefix") route.path = target.path;
      if (routes.some((r) => r.route.host === route.host && r.route.path === route.path)) {
        this.ledger.notCarried(mount.origin, `an earlier mount already routes ${route.path ?? "every path"} to ${routes.find((r) => r.route.host === route.host && r.route.path === route.path)!.route.pool}`);
        continue;
      }
      routes.push({ route, mount, note: note || undefined });
    }
    // mod_jk takes the most specific match; tandem the first, so the longer paths go first.
    routes.sort((a, b) => (b.route.host ? 1 : 0) - (a.route.host ? 1 : 0) || (b.route.path?.length ?? 0) - (a.route.path?.length ?? 0));
    const before = ((draft.get(["routes"]) ?? []) as unknown[]).length;
    routes.forEach(({ route, mount, note }, position) => {
      const index = before + position;
      draft.set(["routes", index], route, mount.origin);
      if (note) this.ledger.approximated(mount.origin, `routes[${index}]: ${note}`);
      else this.ledger.carried(mount.origin, `routes[${index}]`);
      mount.enclosing?.forEach((block) => {
        draft.cite(["routes", index], block);
        this.ledger.carried(block, `routes[${index}]`);
      });
      if (mount.host) {
        draft.cite(["routes", index], mount.host.origin);
        this.ledger.carried(mount.host.origin, `routes[${index}].host`);
      }
    });
  }

  /** httpd's Listen lines; without them (workers.properties alone) httpd's usual port 80, since a tandem config needs a listener. */
  #buildListeners(listens: { address: string; origin: Origin }[]): void {
    const draft = this.context.draft;
    if (draft.get(["listeners"]) !== undefined) {
      listens.forEach(({ origin: at }) => this.ledger.notCarried(at, "the listeners come from another file of this import"));
      return;
    }
    if (this.#pools.size === 0) return;
    if (listens.length === 0) {
      draft.set(["listeners"], [{ address: ":80" }]);
      return;
    }
    listens.forEach(({ address, origin: at }, index) => {
      draft.set(["listeners", index], { address }, at);
      this.ledger.carried(at, `listeners[${index}]`);
    });
  }

  #cite(path: Path, at: Origin): void {
    this.context.draft.cite(path, at);
  }

  /** Reports the property's lines as carried to `key` (the value set elsewhere). */
  #carry(properties: WorkerProperties, property: string, path: Path, key: string): void {
    properties.get(property)?.origins.forEach((o) => {
      this.context.draft.cite(path, o);
      this.ledger.carried(o, key);
    });
  }

  #set(properties: WorkerProperties, property: string, path: Path, value: unknown): void {
    const found = properties.get(property)!;
    this.context.draft.set(path, value, found.origins[0]);
    const key = keyOf(path);
    found.origins.forEach((o) => this.ledger.carried(o, key));
  }

  /** A non-negative integer, or an ImportError at the line that wrote it (mod_jk's atoi would read "10x" as 10 and "ten" as 0). */
  #number(properties: WorkerProperties, property: string): number {
    const found = properties.get(property)!;
    if (!/^\d+$/.test(found.value)) {
      const at = found.origins[found.origins.length - 1];
      throw new ImportError(at.file, at.line, `${property}: not a number ("${found.value}")`);
    }
    return Number(found.value);
  }

  /** mod_jk's booleans: by the first letter (T/Y/1 or F/N/0) or on/off. */
  #bool(properties: WorkerProperties, property: string, fallback: boolean): boolean {
    const value = properties.get(property)?.value;
    if (value === undefined) return fallback;
    if (/^(off|[fn0])/i.test(value)) return false;
    if (/^(on|[ty1])/i.test(value)) return true;
    const at = properties.get(property)!.origins[0];
    throw new ImportError(at.file, at.line, `${property}: not a boolean ("${value}")`);
  }
}

/** `["pools", "lb", "members", 0, "weight"]` as the report writes it: `pools.lb.members[0].weight`. */
function keyOf(path: Path): string {
  return path.map((part, index) => typeof part === "number" ? `[${part}]` : `${index > 0 ? "." : ""}${part}`).join("");
}

/** A worker name as a tandem name: invalid characters become '-', a leading one gets a 'w'; unique in `taken`. */
function uniqueName(source: string, taken: Set<string>): string {
  let base = source.replace(/[^A-Za-z0-9_.-]/g, "-");
  if (!TANDEM_NAME.test(base)) base = `w${base}`;
  let name = base;
  for (let suffix = 2; taken.has(name); suffix++) name = `${base}-${suffix}`;
  return name;
}

type RouteTarget =
  | { kind: "default" }
  | { kind: "prefix"; path: string; note?: string }
  | { kind: "none"; why: string };

/**
 * A mod_jk URI pattern as a tandem route target. mod_jk matches `*` and `?` anywhere, and `a|b`
 * stands for `a` and `ab`; tandem matches a path prefix on segment boundaries.
 */
function routeOf(pattern: string): RouteTarget {
  const bar = pattern.indexOf("|");
  if (bar >= 0) {
    const base = pattern.slice(0, bar);
    if (pattern.slice(bar + 1) === "/*" && !/[*?]/.test(base)) return base === "" || base === "/" ? { kind: "default" } : { kind: "prefix", path: base };
    return routeOf(`${base}${pattern.slice(bar + 1)}`);
  }
  if (pattern === "/*" || pattern === "*" || pattern === "/") return { kind: "default" };
  const wildcard = pattern.search(/[*?]/);
  if (wildcard < 0) return { kind: "prefix", path: pattern.replace(/(.)\/$/, "$1"), note: `tandem matches the paths under ${pattern} as well, not only ${pattern} itself` };
  if (wildcard === pattern.length - 1 && pattern.endsWith("/*")) {
    const path = pattern.slice(0, -2);
    return { kind: "prefix", path, note: `tandem matches ${path} itself as well (mod_jk's ${path}|/* would)` };
  }
  const literal = pattern.slice(0, wildcard);
  const directory = literal.slice(0, literal.lastIndexOf("/"));
  if (directory === "") return { kind: "none", why: `tandem routes by host and path prefix: the pattern ${pattern} cannot be expressed (every path would go to this pool)` };
  return { kind: "prefix", path: directory, note: `every path under ${directory}, not only those matching ${pattern}` };
}
