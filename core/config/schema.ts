/**
 * The config schema: one valibot schema is the single source of defaults, validation and the
 * JSON Schema that `tandem schema` prints for editors.
 *
 * Defaults are the ones operators know: HAProxy's where one exists (weight 1, retries 3,
 * `retry-on conn-failure`, `option redispatch`), mod_jk's for the Tomcat-cluster notions
 * (distance 0, activation active, sticky_session on).
 *
 * @module
 */
import * as v from "valibot";
import { AdminSchema } from "../admin/schema.ts";
import { HealthSchema } from "../health/schema.ts";
import { VrrpSchema } from "../cluster/vrrp/schema.ts";
import { ClusterSchema } from "../cluster/replication/schema.ts";
import { DiscoverSchema } from "../discovery/schema.ts";
import { RateLimitsSchema, RulesSchema } from "../rules/schema.ts";
import { AcmeSchema } from "../acme/schema.ts";
import { ProtocolsSchema } from "../frontend/protocols.ts";
import { ACTIVATIONS, address, duration } from "./fields.ts";

export { ACTIVATIONS, type Activation } from "./fields.ts";

const nonEmpty = v.pipe(v.string(), v.minLength(1, "a non-empty string"));
const name = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a name of letters, digits, '.', '_' or '-'"),
);

const memberUrl = v.pipe(
  v.string(),
  v.check((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.pathname === "/" && !url.search;
    } catch {
      return false;
    }
  }, 'an origin URL such as "http://10.0.0.5:8080" (no path)'),
);

const cidr = v.pipe(
  v.string(),
  v.regex(/^[0-9A-Fa-f:.]+(?:\/\d{1,3})?$/, 'an IP address or CIDR such as "10.0.0.0/8"'),
);

/** The most `workers` a config may ask for, and the default's cap on machines with more cores. */
export const MAX_WORKERS = 64;

export const STICKY_MODES = ["insert", "prefix", "route", "learn", "none"] as const;
export const STRATEGIES = ["roundrobin", "leastconn", "p2c", "hash"] as const;
/** HAProxy `retry-on` keywords, plus status codes. */
export const RETRY_CONDITIONS = [
  "conn-failure",
  "empty-response",
  "junk-response",
  "response-timeout",
  "500",
  "502",
  "503",
  "504",
] as const;

export const MemberSchema = v.strictObject({
  name,
  url: memberUrl,
  weight: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(256)), 1),
  /** jvmRoute; defaults to the member's name. */
  route: v.optional(v.pipe(v.string(), v.regex(/^[^\s;,.=]+$/, "a route without spaces, ';', ',', '.' or '='"))),
  /**
   * The member's value in `insert` and `prefix` cookies (HAProxy `server … cookie A`), so the
   * cookies clients already hold keep their member when a farm moves to tandem; default an
   * opaque id derived from the pool and member names.
   */
  cookie: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "a cookie value of letters, digits, '-' and '_' (at most 64)"))),
  distance: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  domain: v.optional(nonEmpty),
  activation: v.optional(v.picklist(ACTIVATIONS), "active"),
  redirect: v.optional(name),
  maxconn: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});

export const StickySchema = v.strictObject({
  mode: v.optional(v.picklist(STICKY_MODES), "none"),
  /** Defaults by mode: `SERVERID` for insert (HAProxy's usual name), `JSESSIONID` otherwise. */
  cookie: v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, "a cookie name (RFC 6265 token)"))),
  httpOnly: v.optional(v.boolean(), true),
  /** Unset: Secure exactly when the client came over TLS. */
  secure: v.optional(v.boolean()),
  sameSite: v.optional(v.picklist(["Strict", "Lax", "None"]), "Lax"),
  path: v.optional(v.pipe(v.string(), v.startsWith("/", "a path starting with '/'")), "/"),
  /** insert: a cookie unused for this long is ignored (HAProxy `maxidle`); 0 = no limit. */
  maxIdle: duration(0),
  /** insert: a cookie older than this is ignored (HAProxy `maxlife`); 0 = no limit. */
  maxLife: duration(0),
  /** insert: HMAC-SHA256 key signing the cookie; without it the cookie is not tamper-proof. */
  key: v.optional(v.pipe(v.string(), v.minLength(16, "a key of at least 16 characters"))),
  /** Fail with 503 instead of moving a session (mod_jk `sticky_session_force`). */
  force: v.optional(v.boolean(), false),
  /** route: separator between session id and route (mod_proxy_balancer `stickysessionsep`). */
  separator: v.optional(v.pipe(v.string(), v.length(1, "a single character")), "."),
  /** route: the path parameter carrying the session when cookies are off (`;jsessionid=`). */
  pathParameter: v.optional(v.pipe(v.string(), v.minLength(1)), "jsessionid"),
  /** learn: stick table bounds. */
  tableSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 100_000),
  tableTtl: duration("30m"),
});

export const HashSchema = v.strictObject({
  key: v.optional(v.picklist(["source", "header", "cookie", "uri"]), "source"),
  /** Header or cookie name for key `header` / `cookie`. */
  name: v.optional(nonEmpty),
  /** Cap any member at factor x average load; 0 turns the bound off. */
  boundedLoad: v.optional(v.union([v.literal(0), v.pipe(v.number(), v.minValue(1))], "0 or a factor >= 1"), 1.25),
});

export const ForwardingSchema = v.strictObject({
  xForwardedFor: v.optional(v.boolean(), true),
  xForwardedProto: v.optional(v.boolean(), true),
  xForwardedHost: v.optional(v.boolean(), true),
  /** RFC 7239 Forwarded header. */
  forwarded: v.optional(v.boolean(), false),
  via: v.optional(v.boolean(), false),
  /** Keep the client's Host (HAProxy/nginx default); false sends the member's host:port. */
  preserveHost: v.optional(v.boolean(), true),
  /** Clients whose X-Forwarded-* / Forwarded values are kept and extended instead of replaced. */
  trustedProxies: v.optional(v.array(cidr), []),
});

/** A file path; relative paths are resolved against the config file's directory. */
const filePath = v.pipe(v.string(), v.minLength(1, "a file path"));

/** Upstream TLS for `https://` members. */
export const BackendTlsSchema = v.strictObject({
  /** PEM file of the CAs to trust instead of the system store (a private CA). */
  ca: v.optional(filePath),
  /** Check the member's certificate and name; false accepts anything (test setups only). */
  verify: v.optional(v.boolean(), true),
});

export const PoolSchema = v.strictObject({
  /** At least one, unless `discover` brings them (load.ts checks). */
  members: v.optional(v.array(MemberSchema), []),
  /** Members from DNS, beside the listed ones (core/discovery). */
  discover: v.optional(DiscoverSchema),
  strategy: v.optional(v.picklist(STRATEGIES), "roundrobin"),
  hash: v.optional(HashSchema, {}),
  sticky: v.optional(StickySchema, {}),
  timeouts: v.optional(
    v.strictObject({
      connect: duration("5s"),
      /** Request sent to response headers received (HAProxy `timeout server` for the first byte). */
      response: duration("60s"),
      /** Longest silence while a body streams in either direction. */
      idle: duration("60s"),
    }),
    {},
  ),
  retries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10)), 3),
  retryOn: v.optional(v.array(v.picklist(RETRY_CONDITIONS)), ["conn-failure"]),
  /** Let retries and sticky failover move to another member (HAProxy `option redispatch`). */
  redispatch: v.optional(v.boolean(), true),
  /** How long a member that refused a connection is skipped (mod_jk `recover_time`). */
  recoverTime: duration("10s"),
  queue: v.optional(
    v.strictObject({
      /** Requests waiting for a member at maxconn; beyond this they get 503 at once. */
      size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1024),
      timeout: duration("5s"),
    }),
    {},
  ),
  forwarding: v.optional(ForwardingSchema, {}),
  health: v.optional(HealthSchema, {}),
  tls: v.optional(BackendTlsSchema, {}),
  /** Traffic rules for requests routed here, after the listener's (see core/rules/schema.ts). */
  rules: RulesSchema,
});

export const RouteSchema = v.strictObject({
  /** Exact host, or `*.example.com` for any subdomain; matched without port, case-insensitively. */
  host: v.optional(nonEmpty),
  /** Path prefix, matched on segment boundaries (`/api` matches `/api` and `/api/x`, not `/apix`). */
  path: v.optional(v.pipe(v.string(), v.startsWith("/", "a path starting with '/'"))),
  pool: name,
});

export const TLS_VERSIONS = ["1.2", "1.3"] as const;

export const ListenerTlsSchema = v.pipe(
  v.strictObject({
    /**
     * Certificate chains (leaf first, then intermediates) with their keys. Each serves the DNS names
     * in its subjectAltName (HAProxy's `crt` does the same); the first is the default for clients
     * that send no SNI or a name no certificate covers (the ACME certificate comes before them).
     */
    certificates: v.optional(v.array(v.strictObject({ cert: filePath, key: filePath })), []),
    /** A certificate obtained and renewed from an ACME CA (core/acme/schema.ts). */
    acme: v.optional(AcmeSchema),
    /** Oldest protocol version accepted (HAProxy `ssl-min-ver`); 1.0 and 1.1 are never offered. */
    minVersion: v.optional(v.picklist(TLS_VERSIONS), "1.2"),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed || dataset.value.certificates.length > 0 || dataset.value.acme !== undefined) return;
    const { value } = dataset;
    addIssue({
      message: "at least one certificate (or acme)",
      received: "none",
      path: [{ type: "object", origin: "value", input: value, key: "certificates", value: value.certificates }],
    });
  }),
);

export const HstsSchema = v.strictObject({
  maxAge: duration("365d"),
  includeSubDomains: v.optional(v.boolean(), false),
  preload: v.optional(v.boolean(), false),
});

export const ListenerSchema = v.strictObject({
  address,
  /** Terminate TLS on this listener (the stunnel role). */
  tls: v.optional(ListenerTlsSchema),
  /** TLS listeners only: send Strict-Transport-Security on every response. */
  hsts: v.optional(HstsSchema),
  /** Plain listeners only: answer every request with 308 to https on this port. */
  redirectToHttps: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))),
  /** Slow and idle clients, HAProxy's `timeout http-request`, `timeout http-keep-alive` and `timeout client`. */
  timeouts: v.optional(
    v.strictObject({
      /** From the connection (or the previous answer) to a complete request head; then 408 and close. */
      request: duration("10s", 1),
      /** An idle keep-alive connection between requests is closed after this. */
      keepAlive: duration("60s", 1),
      /** Longest silence inside a request body, or while a client does not take its answer; then the connection is closed. */
      body: duration("30s", 1),
    }),
    {},
  ),
  /** Request size limits (HAProxy `tune.bufsize`, `tune.http.maxhdr`): beyond them 431 or 414. */
  limits: v.optional(
    v.strictObject({
      headBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(1024 * 1024)), 64 * 1024),
      fields: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)), 100),
      targetBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(64), v.maxValue(1024 * 1024)), 8 * 1024),
    }),
    {},
  ),
  /** Open client connections at most (HAProxy `maxconn`); beyond it new ones are closed at once. 0 = no limit but the descriptor limit. */
  maxConnections: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  /** Traffic rules for every request on this listener, before routing (see core/rules/schema.ts). */
  rules: RulesSchema,
  /** HTTP versions served to clients: `http/1.1`, `h2`, `h3` (see core/frontend/protocols.ts). */
  protocols: ProtocolsSchema,
});


export const ACCESS_LOG_FORMATS = ["json", "httplog", "combined"] as const;
/** RFC 5424 facility names, in code order (user = 1, …, local7 = 23). */
export const SYSLOG_FACILITIES = [
  "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
  "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
] as const;

const SyslogSchema = v.strictObject({
  /**
   * `ip:port` (UDP), or the absolute path of a local datagram socket such as `/dev/log`. An IP
   * address, not a name: the runtimes' UDP sockets do not resolve names alike (Bun's sends nothing).
   */
  address: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (text) => text.startsWith("/") || (/^(?:\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.test(text) && Number(text.slice(text.lastIndexOf(":") + 1)) > 0),
        'a UDP address "ip:port" such as "10.0.0.9:514" or "[2001:db8::9]:514", or a local socket path such as "/dev/log"',
      ),
    ),
    "/dev/log",
  ),
  facility: v.optional(v.picklist(SYSLOG_FACILITIES), "local0"),
  /** APP-NAME of each message: what rsyslog's `$programname` matches. */
  tag: v.optional(v.pipe(v.string(), v.regex(/^[!-~]{1,48}$/, "a tag of 1 to 48 printable characters without spaces")), "tandem"),
});

const AccessLogObjectSchema = v.pipe(
  v.strictObject({
    format: v.optional(v.picklist(ACCESS_LOG_FORMATS), "json"),
    /** Appended to, reopened on SIGUSR1 (logrotate); relative to the config file. Neither file nor syslog: stdout. */
    file: v.optional(filePath),
    syslog: v.optional(SyslogSchema),
    /**
     * Each request's id, sent to the member and echoed to the client in this field (HAProxy
     * `unique-id-header`). A client in `trustedClients` keeps its own; everyone else's is replaced
     * by a new one. `false`: no id.
     */
    requestId: v.optional(
      v.union([
        v.literal(false),
        v.strictObject({
          header: v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, "a header name")), "X-Request-Id"),
          trustedClients: v.optional(v.array(cidr), []),
        }),
      ], "false or an object {header, trustedClients}"),
      {},
    ),
    /** W3C trace context: `traceparent` and `tracestate` always pass through; `start` makes a new traceparent for a request without a valid one. */
    tracing: v.optional(v.strictObject({ start: v.optional(v.boolean(), false) }), {}),
  }),
  v.check((log) => log.file === undefined || log.syslog === undefined, "either file or syslog, not both"),
);

const AccessLogInputSchema = v.union([v.boolean(), AccessLogObjectSchema], "true, false or an object {format, file | syslog, requestId, tracing}");

/**
 * `true` is the object form's defaults (JSON lines on stdout), `false` no access log. Chosen by the
 * input's type, so a wrong object is refused for what is wrong inside it (a union would only say
 * that none of its options fit); anything else, and the JSON Schema (made without an input), get
 * the union.
 */
export const AccessLogSchema = v.pipe(
  v.lazy((input) => (typeof input === "boolean" ? v.boolean() : typeof input === "object" && input !== null ? AccessLogObjectSchema : AccessLogInputSchema)),
  v.transform((value): AccessLogConfig | false => (value === true ? v.parse(AccessLogObjectSchema, {}) : value)),
);

export const ConfigSchema = v.strictObject({
  listeners: v.pipe(v.array(ListenerSchema), v.minLength(1, "at least one listener")),
  routes: v.optional(v.array(RouteSchema), []),
  /** Pool for requests no route matches; defaults to the first pool. */
  defaultPool: v.optional(name),
  pools: v.pipe(
    v.record(name, PoolSchema),
    v.check((pools) => Object.keys(pools).length > 0, "at least one pool"),
  ),
  accessLog: v.optional(AccessLogSchema, true),
  /** How long in-flight requests may finish after SIGTERM/SIGINT. */
  drainTimeout: duration("30s"),
  /**
   * Pages of the operator's own for the answers tandem gives by itself (HAProxy `errorfile`,
   * httpd `ErrorDocument`), by status, relative to the config file: `.html`, `.htm`, `.json`,
   * `.xml` or `.txt`, read at start and on every reload. The detail stays in the access log.
   */
  errorPages: v.optional(
    v.record(v.pipe(v.string(), v.regex(/^[45][0-9]{2}$/, "an HTTP status from 400 to 599")), v.pipe(v.string(), v.minLength(1))),
    {},
  ),
  /** Reload when the config file changes (SIGHUP and the API always work). */
  watchConfig: v.optional(v.boolean(), false),
  /**
   * Where activation and weight set at run time (admin API, peers) are kept across reloads and
   * restarts (HAProxy `server-state-file`), relative to the config file; default beside it as
   * `<config name>.state.json`; `false` = not kept.
   */
  stateFile: v.optional(v.union([v.pipe(v.string(), v.minLength(1)), v.literal(false)])),
  /**
   * Threads serving every listener side by side on the same ports (HAProxy `nbthread`). Worker 0
   * also runs the admin plane, health checks and the cluster roles; the others follow its state.
   * Absent: one per core, or 1 with a port-0 listener (see `defaultWorkers` in load.ts).
   */
  workers: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_WORKERS))),
  /** The admin plane (API, dashboard, metrics); absent = none. */
  admin: v.optional(AdminSchema),
  /** Replication of sticky sessions and admin changes between balancer nodes; absent = standalone. */
  cluster: v.optional(ClusterSchema),
  /** The failover agent (the keepalived role): a virtual IP that follows the healthy node; absent = none. */
  vrrp: v.optional(VrrpSchema),
  /** Named request budgets that `rateLimit` rules spend (see core/rules/rate-limit-schema.ts). */
  rateLimits: RateLimitsSchema,
});

/** A validated config, `workers` resolved to a count (see `validateConfig` in load.ts). */
export type Config = Omit<v.InferOutput<typeof ConfigSchema>, "workers"> & { workers: number };
export type PoolConfig = v.InferOutput<typeof PoolSchema>;
export type MemberConfig = v.InferOutput<typeof MemberSchema>;
export type StickyConfig = v.InferOutput<typeof StickySchema>;
export type ForwardingConfig = v.InferOutput<typeof ForwardingSchema>;
export type ListenerConfig = v.InferOutput<typeof ListenerSchema>;
export type RouteConfig = v.InferOutput<typeof RouteSchema>;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];
export type AccessLogConfig = v.InferOutput<typeof AccessLogObjectSchema>;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];
export type SyslogConfig = v.InferOutput<typeof SyslogSchema>;
