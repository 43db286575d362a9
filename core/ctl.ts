/**
 * `tandem ctl`: query and change a running tandem from a shell, over its admin HTTP API (see
 * `admin/app.ts`), as HAProxy's runtime API (`show stat`, `set server … state drain`, `set
 * weight`, `show table`) and mod_jk's jkstatus are used.
 *
 * ```sh
 * export TANDEM_TOKEN=$(tandem token --scope admin --config tandem.yaml)
 * tandem ctl status --config tandem.yaml
 * tandem ctl drain shop/tc1 --admin 127.0.0.1:8404
 * ```
 *
 * Every outcome has its own exit status ({@link CTL_EXIT}), so scripts can tell a refused token
 * from an unknown member or a balancer that is down.
 *
 * @module
 */
import type { MemberStatus, StatusDocument, StickyEntry } from "./admin/model.ts";
import { parseDuration } from "./config/duration.ts";
import { splitAddress } from "./config/fields.ts";
import type { Config } from "./config/schema.ts";
import type { Platform } from "./platform.ts";

/** Exit statuses of `tandem ctl`. */
export const CTL_EXIT = {
  ok: 0,
  /** The server refused or failed the call: an invalid config on reload (422), a bad value (400), 5xx, not tandem's API. */
  refused: 1,
  /** The command line: unknown subcommand, missing or malformed argument, no admin address. */
  usage: 2,
  /** No answer from the admin API: connection refused, timeout, unknown host. */
  unreachable: 3,
  /** No token where one is needed, an unreadable token file, or the token was refused (401, 429). */
  unauthorized: 4,
  /** The token's scope does not allow the call (403): a read token for a change. */
  forbidden: 5,
  /** No such pool, member or session (404). */
  notFound: 6,
} as const;

export const CTL_USAGE = `usage: tandem ctl SUBCOMMAND [--admin URL] [--config FILE] [--token-file FILE] [--timeout 10s] [--json]

Queries and changes a running tandem through its admin API.

subcommands:
  status                   every member: state, activation, weight, active, requests, errors, last check
  drain POOL/MEMBER        activation "disabled": no new sessions, its sticky sessions stay
  stop POOL/MEMBER         activation "stopped": no requests at all
  enable POOL/MEMBER       activation "active"
  weight POOL/MEMBER N     set the weight (0 to 256)
  sessions POOL            the pool's learned sticky sessions (learn mode)
  forget POOL KEY          forget one learned session
  reload                   re-read the config file; an invalid one is refused with its problems

options:
  --admin URL              the admin API, "http://host:port" or "host:port"; without it, admin.address
                           of the config file, else 127.0.0.1:8404
  --config FILE, -c FILE   the config file to read admin.address from (default: tandem.yaml, if present)
  --token-file FILE        read the token from FILE; without it, from TANDEM_TOKEN
                           (mint one with: tandem token --scope read|admin)
  --timeout DURATION       how long to wait for an answer (default 10s)
  --json                   print the API's JSON document instead of text

exit status: 0 done, 1 refused by the server (reload: invalid config), 2 usage, 3 admin API unreachable,
             4 no token or token refused, 5 token scope too narrow (403), 6 unknown pool, member or session`;

/** What `tandem ctl` got from the command line, besides the subcommand and its arguments. */
export interface CtlOptions {
  admin?: string;
  configPath?: string;
  tokenFile?: string;
  timeout?: string;
  json: boolean;
}

/** How the CLI reads a config file: exits with its problems when it cannot. */
export type LoadConfig = (path: string) => Promise<Config>;

const DEFAULT_CONFIG = "tandem.yaml";
const DEFAULT_ADMIN = "127.0.0.1:8404";
const DEFAULT_TIMEOUT_MS = 10_000;
/** The API's largest page of sessions. */
const SESSIONS_PAGE = 1000;
const ACTIVATION_OF: Record<string, "active" | "disabled" | "stopped"> = { enable: "active", drain: "disabled", stop: "stopped" };

/** Ends `tandem ctl` with a status of {@link CTL_EXIT} and the reason on stderr. */
class CtlFailure extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Runs `tandem ctl <args>` and exits with one of {@link CTL_EXIT}. */
export async function runCtl(platform: Platform, args: readonly string[], options: CtlOptions, loadConfig: LoadConfig): Promise<never> {
  try {
    await _run(platform, args, options, loadConfig);
    return platform.exit(CTL_EXIT.ok);
  } catch (error) {
    if (!(error instanceof CtlFailure)) throw error;
    platform.stderr(`ctl: ${error.message}`);
    if (error.code === CTL_EXIT.usage) platform.stderr(CTL_USAGE);
    return platform.exit(error.code);
  }
}

async function _run(platform: Platform, args: readonly string[], options: CtlOptions, loadConfig: LoadConfig): Promise<void> {
  const [subcommand, ...rest] = args;
  const arity = (count: number, names: string) => {
    if (rest.length !== count) throw new CtlFailure(CTL_EXIT.usage, `${subcommand} takes ${names}${rest.length > count ? ` (unexpected: ${rest.slice(count).join(" ")})` : ""}`);
  };
  // The arguments are checked before anything is read or asked.
  switch (subcommand) {
    case undefined:
      throw new CtlFailure(CTL_EXIT.usage, "a subcommand is needed");
    case "status":
    case "reload":
      arity(0, "no argument");
      break;
    case "drain":
    case "enable":
    case "stop":
      arity(1, "POOL/MEMBER");
      _target(rest[0]);
      break;
    case "weight":
      arity(2, "POOL/MEMBER N");
      _target(rest[0]);
      _weight(rest[1]);
      break;
    case "sessions":
      arity(1, "POOL");
      break;
    case "forget":
      arity(2, "POOL KEY");
      break;
    default:
      throw new CtlFailure(CTL_EXIT.usage, `unknown subcommand: ${subcommand}`);
  }
  const api = await _connect(platform, options, loadConfig);
  const print = (value: unknown) => platform.stdout(JSON.stringify(value, null, 2));
  switch (subcommand) {
    case "status": {
      const document = await api.call("GET", "/api/v1/status") as StatusDocument;
      if (options.json) return print(document);
      for (const line of formatStatus(document, Date.now())) platform.stdout(line);
      const missing = document.workers?.missing ?? [];
      if (missing.length > 0) platform.stderr(`warning: worker(s) ${missing.join(", ")} did not answer in time; their counters are not included`);
      return;
    }
    case "drain":
    case "enable":
    case "stop":
    case "weight": {
      const { pool, member } = _target(rest[0]);
      const change = subcommand === "weight" ? { weight: _weight(rest[1]) } : { activation: ACTIVATION_OF[subcommand] };
      const status = await api.call("PATCH", `/api/v1/pools/${encodeURIComponent(pool)}/members/${encodeURIComponent(member)}`, change) as MemberStatus;
      if (options.json) return print(status);
      return platform.stdout(`${pool}/${member}: activation ${status.activation}, weight ${_weightText(status)}, state ${status.state}`);
    }
    case "sessions": {
      const pool = rest[0];
      const entries: StickyEntry[] = [];
      let total = 0;
      // Oldest first, page by page; entries that expire meanwhile may shift a page.
      do {
        const page = await api.call("GET", `/api/v1/pools/${encodeURIComponent(pool)}/sessions?offset=${entries.length}&limit=${SESSIONS_PAGE}`) as { total: number; entries: StickyEntry[] };
        total = page.total;
        entries.push(...page.entries);
        if (page.entries.length === 0) break;
      } while (entries.length < total);
      if (options.json) return print({ pool, total: entries.length, entries });
      platform.stdout(`# pool ${pool}: ${entries.length} learned session(s)`);
      if (entries.length > 0) for (const line of _table(["KEY", "MEMBER", "EXPIRES"], entries.map((e) => [e.key, e.member, e.expiresAt]), [])) platform.stdout(line);
      return;
    }
    case "forget": {
      const [pool, key] = rest;
      await api.call("DELETE", `/api/v1/pools/${encodeURIComponent(pool)}/sessions/${encodeURIComponent(key)}`);
      if (options.json) return print({ pool, key, forgotten: true });
      return platform.stdout(`${pool}: session ${JSON.stringify(key)} forgotten`);
    }
    case "reload": {
      const result = await api.call("POST", "/api/v1/reload", undefined, [422]) as { summary?: string; problems?: string[]; error?: string };
      if (options.json) print(result);
      if (result.problems !== undefined) {
        const problems = result.problems;
        throw new CtlFailure(CTL_EXIT.refused, `reload refused: ${result.error ?? "the new config is invalid"}; ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join("\n")}`);
      }
      if (!options.json) platform.stdout(`reloaded (${result.summary})`);
      return;
    }
  }
}

/** `show stat` for tandem: one line per member, widths fitted to the content. */
export function formatStatus(document: StatusDocument, now: number): string[] {
  const rows = document.pools.flatMap((pool) =>
    pool.members.map((m) => [
      pool.name,
      m.name,
      m.state,
      m.activation,
      _weightText(m),
      String(m.active),
      String(m.requests),
      String(m.failures),
      m.lastCheck === null ? "-" : `${m.lastCheck.ok ? "ok" : "failed"}: ${m.lastCheck.reason}, ${_age(now - Date.parse(m.lastCheck.at))} ago`,
    ])
  );
  return _table(["POOL", "MEMBER", "STATE", "ACTIVATION", "WEIGHT", "ACTIVE", "REQUESTS", "ERRORS", "LAST CHECK"], rows, [4, 5, 6, 7]);
}

/** "2/3" while slow start holds the member below its weight, else "3". */
function _weightText(member: Pick<MemberStatus, "weight" | "effectiveWeight">): string {
  return member.effectiveWeight === member.weight ? String(member.weight) : `${member.effectiveWeight}/${member.weight}`;
}

function _age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** Columns separated by two spaces; `right` lists the columns aligned right (numbers). */
function _table(header: string[], rows: string[][], right: number[]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => {
      if (column === cells.length - 1) return cell;
      return right.includes(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column]);
    }).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

function _target(text: string): { pool: string; member: string } {
  const slash = text.indexOf("/");
  if (slash <= 0 || slash === text.length - 1 || text.indexOf("/", slash + 1) !== -1) {
    throw new CtlFailure(CTL_EXIT.usage, `expected POOL/MEMBER, such as app/web1 (got ${JSON.stringify(text)})`);
  }
  return { pool: text.slice(0, slash), member: text.slice(slash + 1) };
}

function _weight(text: string): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) > 256) throw new CtlFailure(CTL_EXIT.usage, `the weight is an integer from 0 to 256 (got ${JSON.stringify(text)})`);
  return Number(text);
}

interface Api {
  /** The JSON answer of a 2xx (or of a status in `accept`), else a CtlFailure with the status's exit code. */
  call(method: string, path: string, body?: unknown, accept?: number[]): Promise<unknown>;
}

/** Finds the admin API and the token; the config is read only when --admin is not given. */
async function _connect(platform: Platform, options: CtlOptions, loadConfig: LoadConfig): Promise<Api> {
  const timeout = options.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(options.timeout);
  if (timeout === undefined || timeout < 1) throw new CtlFailure(CTL_EXIT.usage, `--timeout must be a duration such as "10s" (got ${JSON.stringify(options.timeout)})`);
  const base = await _adminBase(platform, options, loadConfig);
  const token = await _token(platform, options);
  return {
    async call(method, path, body, accept = []) {
      const headers: Record<string, string> = { accept: "application/json" };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      let response: Response;
      let text: string;
      try {
        response = await platform.fetch(base + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          redirect: "manual",
          signal: AbortSignal.timeout(timeout),
        });
        text = await response.text();
      } catch (error) {
        const name = (error as Error)?.name;
        const reason = name === "TimeoutError" || name === "AbortError" ? `no answer within ${timeout / 1000} s` : _reason(error);
        throw new CtlFailure(CTL_EXIT.unreachable, `cannot reach the admin API at ${base}: ${reason}`);
      }
      let json: { error?: unknown; code?: unknown } | undefined;
      try {
        json = text === "" ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (response.ok || accept.includes(response.status)) {
        if (response.status === 204 || json !== undefined) return json ?? {};
        throw new CtlFailure(CTL_EXIT.refused, `${base}${path} answered ${response.status} without JSON: is this tandem's admin API?`);
      }
      throw _failure(base, response, json, token !== undefined);
    },
  };
}

function _failure(base: string, response: Response, json: { error?: unknown; code?: unknown } | undefined, hadToken: boolean): CtlFailure {
  const status = response.status;
  if (typeof json?.error !== "string" || typeof json.code !== "string") {
    return new CtlFailure(CTL_EXIT.refused, `${base} answered ${status} ${response.statusText} without tandem's JSON error: is this tandem's admin API?`);
  }
  const error = json.error;
  switch (status) {
    case 401:
      if (!hadToken) return new CtlFailure(CTL_EXIT.unauthorized, `no token: the admin API at ${base} needs one; set TANDEM_TOKEN or pass --token-file FILE (tandem token --scope read|admin mints one)`);
      return new CtlFailure(CTL_EXIT.unauthorized, `the admin API refused the token (401): ${error}`);
    case 429:
      return new CtlFailure(CTL_EXIT.unauthorized, `the admin API refused the token (429): ${error} from this address; retry in ${response.headers.get("retry-after") ?? "a few"} s with a valid token`);
    case 403:
      return new CtlFailure(CTL_EXIT.forbidden, `forbidden (403): ${error}${/scope "admin"/.test(error) ? "; a change needs a token minted with tandem token --scope admin" : ""}`);
    case 404:
      return new CtlFailure(CTL_EXIT.notFound, `not found (404): ${error}`);
    default:
      return new CtlFailure(CTL_EXIT.refused, `refused (${status}): ${error}`);
  }
}

/** `http://host:port` of the admin API, without a trailing slash. */
async function _adminBase(platform: Platform, options: CtlOptions, loadConfig: LoadConfig): Promise<string> {
  if (options.admin !== undefined) {
    const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(options.admin) ? options.admin : `http://${options.admin}`;
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "" || url.hash !== "") {
      throw new CtlFailure(CTL_EXIT.usage, `--admin must be a URL such as http://127.0.0.1:8404 or an address host:port (got ${JSON.stringify(options.admin)})`);
    }
    return url.href.replace(/\/+$/, "");
  }
  const path = options.configPath ?? ((await platform.exists(DEFAULT_CONFIG)) ? DEFAULT_CONFIG : undefined);
  if (path === undefined) return _baseOf(DEFAULT_ADMIN);
  const config = await loadConfig(path);
  if (config.admin === undefined) {
    throw new CtlFailure(CTL_EXIT.usage, `${path} has no admin section, so its tandem has no admin API (pass --admin URL for another one)`);
  }
  return _baseOf(config.admin.address);
}

/** The URL to reach a listener bound to `address`: a wildcard address is reached on loopback. */
function _baseOf(address: string): string {
  const { hostname, port } = splitAddress(address);
  const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function _token(platform: Platform, options: CtlOptions): Promise<string | undefined> {
  let token: string | undefined;
  if (options.tokenFile !== undefined) {
    try {
      token = await platform.readTextFile(options.tokenFile);
    } catch (error) {
      throw new CtlFailure(CTL_EXIT.unauthorized, `cannot read the token file ${options.tokenFile}: ${_reason(error)}`);
    }
    token = _bare(token);
    if (token === undefined) throw new CtlFailure(CTL_EXIT.unauthorized, `the token file ${options.tokenFile} is empty`);
    return token;
  }
  return _bare(platform.env("TANDEM_TOKEN") ?? "");
}

/** The token without surrounding white space or a "Bearer " someone copied with it; undefined when empty. */
function _bare(text: string): string | undefined {
  const token = text.trim().replace(/^Bearer\s+/i, "");
  return token === "" ? undefined : token;
}

/** An error's message, with its cause's (Deno nests the socket error) and code (Bun) when they add something. */
function _reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [error.message];
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error && !error.message.includes(cause.message)) parts.push(cause.message);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && !parts.some((part) => part.includes(code))) parts.push(code);
  return parts.join(": ");
}
