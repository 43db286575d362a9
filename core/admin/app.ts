/**
 * The admin plane's HTTP API, a hono app around an {@link AdminControl}: probes, the status
 * document, live member changes, the sticky table, reload, /metrics and the dashboard page.
 *
 * The listener passes the client address as the app's env so failed logins are counted per client:
 *
 * ```ts
 * const app = createAdminApp({ control, verify, publicMetrics: false, log });
 * await listenHttp1(platform, hostname, port, webHandler((request, conn) => app.fetch(request, { remoteAddress: conn.remoteAddress })), { config });
 * ```
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import type { Scope, Verifier } from "./auth.ts";
import { AdminError, type AdminControl } from "./model.ts";
import { describeIssues, MemberChangeSchema, RateLimitsQuerySchema, SessionsQuerySchema } from "./schema.ts";

export interface AdminAppOptions {
  control: AdminControl;
  /** Undefined when no auth is configured: every call is allowed (the caller binds loopback only). */
  verify: Verifier | undefined;
  publicMetrics: boolean;
  dashboardHtml?: string;
  log: (record: Record<string, unknown>) => void;
}

export type AdminEnv = {
  /** Absent when the app is called as `app.fetch(request)`, as tests do. */
  Bindings: { remoteAddress?: string };
  Variables: { actor: string; scope: Scope };
};

const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
/** A member change is a few dozen bytes; anything near this is not one. */
const MAX_BODY_BYTES = 16 * 1024;
/** The actor in log lines when no auth is configured. */
const ANONYMOUS = "anonymous";

export function createAdminApp(options: AdminAppOptions): Hono<AdminEnv> {
  const { control, verify, log } = options;
  const app = new Hono<AdminEnv>();
  app.use(_guard(verify));
  const auth = _auth(verify);
  const mutate = _mutate(log);
  _probeRoutes(app, control);
  _statusRoutes(app, options, auth);
  _memberRoutes(app, control, auth, mutate);
  _sessionRoutes(app, control, auth, mutate);
  _clusterRoutes(app, control, auth);
  _reloadRoutes(app, control, auth, mutate);
  _pageAndErrors(app, options);
  return app;
}

type _Auth = (need: Scope) => MiddlewareHandler<AdminEnv>;

type _Mutate = (c: Context<AdminEnv>, action: string, fields: Record<string, unknown>, run: () => Promise<Response> | Response) => Promise<Response>;

/** Runs around every call, routed or not. */
function _guard(verify: Verifier | undefined): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const refusal = verify === undefined ? _browserAttack(c) : undefined;
    if (refusal === undefined) await next();
    else c.res = _error(c, 403, "FORBIDDEN", refusal);
    c.header("Cache-Control", "no-store");
    c.header("X-Content-Type-Options", "nosniff");
    // The dashboard can stop members: no other page may frame it and trick a click.
    c.header("X-Frame-Options", "DENY");
  };
}

const _open: MiddlewareHandler<AdminEnv> = async (c, next) => {
  c.set("actor", ANONYMOUS);
  c.set("scope", "admin");
  await next();
};

function _auth(verify: Verifier | undefined): _Auth {
  return (need) => async (c, next) => {
    if (verify === undefined) return _open(c, next);
    const result = await verify(c.req.header("authorization") ?? null, c.env?.remoteAddress);
    if (!result.ok) {
      if (result.status === 429) return _error(c, 429, "RATE_LIMITED", result.error, { "Retry-After": String(result.retryAfter) });
      if (result.status === 403) return _error(c, 403, "FORBIDDEN", result.error);
      return _error(c, 401, "UNAUTHORIZED", result.error, { "WWW-Authenticate": 'Bearer realm="tandem-admin"' });
    }
    if (need === "admin" && result.scope !== "admin") return _error(c, 403, "FORBIDDEN", 'this call needs a token with scope "admin"');
    c.set("actor", result.subject);
    c.set("scope", result.scope);
    await next();
  };
}

/** Runs a mutating call and logs it with its outcome, whether it succeeded or not; `run` may add to `fields`. */
function _mutate(log: AdminAppOptions["log"]): _Mutate {
  return async (c, action, fields, run) => {
    let response: Response;
    let error: string | undefined;
    try {
      response = await run();
    } catch (thrown) {
      response = _fromError(c, thrown);
      error = (thrown as Error)?.message ?? String(thrown);
    }
    log({
      event: "admin",
      action,
      actor: c.get("actor"),
      client: c.env?.remoteAddress,
      ...fields,
      status: response.status,
      ...(error === undefined ? {} : { error }),
    });
    return response;
  };
}

function _probeRoutes(app: Hono<AdminEnv>, control: AdminControl): void {
  app.get("/healthz", (c) => c.text("ok"));
  app.get("/readyz", (c) => (control.ready() ? c.text("ready") : c.text("not ready", 503)));
}

function _statusRoutes(app: Hono<AdminEnv>, options: AdminAppOptions, auth: _Auth): void {
  const { control } = options;
  app.get("/api/v1/status", auth("read"), async (c) => c.json(await control.status()));
  // The dashboard asks once at sign-in, so a read-only viewer (a wall display) gets no controls at all.
  app.get("/api/v1/whoami", auth("read"), (c) => c.json({ subject: c.get("actor"), scope: c.get("scope") }));
  app.get("/api/v1/history", auth("read"), async (c) => {
    const history = (await control.history?.()) ?? null;
    return history === null ? _error(c, 404, "NOT_FOUND", "no traffic history kept") : c.json(history);
  });
  app.get("/metrics", options.publicMetrics ? _open : auth("read"), async (c) => c.body(await control.metrics(), 200, { "Content-Type": PROMETHEUS_TEXT }));
}

function _memberRoutes(app: Hono<AdminEnv>, control: AdminControl, auth: _Auth, mutate: _Mutate): void {
  app.patch("/api/v1/pools/:pool/members/:member", auth("admin"), bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => _error(c, 413, "TOO_LARGE", `the body is limited to ${MAX_BODY_BYTES} bytes`),
  }), (c) => {
    const { pool, member } = c.req.param();
    const fields: Record<string, unknown> = { pool, member };
    return mutate(c, "set-member", fields, async () => {
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        throw new AdminError("INVALID", "the body is not valid JSON");
      }
      const change = v.safeParse(MemberChangeSchema, body);
      if (!change.success) throw new AdminError("INVALID", describeIssues(change.issues));
      fields.change = change.output;
      return c.json(await control.setMember(pool, member, change.output, c.get("actor")));
    });
  });
}

function _sessionRoutes(app: Hono<AdminEnv>, control: AdminControl, auth: _Auth, mutate: _Mutate): void {
  app.get("/api/v1/pools/:pool/sessions", auth("read"), (c) => {
    const query = v.safeParse(SessionsQuerySchema, c.req.query());
    if (!query.success) return _error(c, 400, "INVALID", describeIssues(query.issues));
    const { offset, limit } = query.output;
    return c.json({ offset, limit, ...control.sessions(c.req.param("pool"), offset, limit) });
  });

  app.delete("/api/v1/pools/:pool/sessions/:key", auth("admin"), (c) => {
    const { pool, key } = c.req.param();
    return mutate(c, "delete-session", { pool, key }, () => {
      if (!control.deleteSession(pool, key, c.get("actor"))) throw new AdminError("NOT_FOUND", `no session "${key}" in pool "${pool}"`);
      return c.body(null, 204);
    });
  });
}

function _clusterRoutes(app: Hono<AdminEnv>, control: AdminControl, auth: _Auth): void {
  app.get("/api/v1/vrrp", auth("read"), (c) => {
    const status = control.vrrp?.() ?? null;
    return status === null ? _error(c, 404, "NOT_FOUND", "no vrrp configured") : c.json(status);
  });

  app.get("/api/v1/cluster", auth("read"), (c) => {
    const status = control.cluster?.() ?? null;
    return status === null ? _error(c, 404, "NOT_FOUND", "no cluster configured") : c.json(status);
  });

  app.get("/api/v1/rate-limits", auth("read"), async (c) => {
    const query = v.safeParse(RateLimitsQuerySchema, c.req.query());
    if (!query.success) return _error(c, 400, "INVALID", describeIssues(query.issues));
    return c.json({ limits: (await control.rateLimits?.(query.output.top)) ?? [] });
  });

  app.get("/api/v1/acme", auth("read"), (c) => {
    const status = control.acme?.() ?? null;
    return status === null ? _error(c, 404, "NOT_FOUND", "no listener with tls.acme") : c.json(status);
  });
}

function _reloadRoutes(app: Hono<AdminEnv>, control: AdminControl, auth: _Auth, mutate: _Mutate): void {
  app.post("/api/v1/reload", auth("admin"), (c) =>
    mutate(c, "reload", {}, async () => {
      const result = await control.reload(c.get("actor"));
      if (result.ok) return c.json({ ok: true, summary: result.summary });
      return c.json({ error: "the new config is invalid; the running one is kept", code: "INVALID_CONFIG", problems: result.problems }, 422);
    }));
}

function _pageAndErrors(app: Hono<AdminEnv>, options: AdminAppOptions): void {
  app.get("/", (c) => (options.dashboardHtml === undefined ? _error(c, 404, "NOT_FOUND", "no dashboard") : c.html(options.dashboardHtml)));

  app.notFound((c) => _error(c, 404, "NOT_FOUND", `no route ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    const response = _fromError(c, error);
    if (response.status === 500) options.log({ event: "error", message: String(error?.stack ?? error) });
    return response;
  });
}

function _error(c: Context<AdminEnv>, status: ContentfulStatusCode, code: string, error: string, headers?: Record<string, string>): Response {
  return c.json({ error, code }, status, headers);
}

function _fromError(c: Context<AdminEnv>, error: unknown): Response {
  if (error instanceof AdminError) return _error(c, error.code === "NOT_FOUND" ? 404 : 400, error.code, error.message);
  // The message may hold internals; the log line has it, the client does not need it.
  return _error(c, 500, "INTERNAL", "internal error");
}

/**
 * Without auth, listening on loopback is the only protection, and a web page in the operator's
 * browser can still reach loopback: by DNS rebinding (a hostile name resolving to 127.0.0.1,
 * caught by the Host check) or by a cross-site form POST (caught by the Origin check).
 */
function _browserAttack(c: Context<AdminEnv>): string | undefined {
  const url = new URL(c.req.url);
  if (!/^(?:localhost|[\d.]+|\[[0-9a-fA-F:.]+\])$/i.test(url.hostname)) return `host "${url.hostname}" is not an address or localhost`;
  const origin = c.req.header("origin");
  const reads = c.req.method === "GET" || c.req.method === "HEAD";
  if (!reads && origin !== undefined && origin !== url.origin) return "cross-origin requests are refused";
  return undefined;
}
