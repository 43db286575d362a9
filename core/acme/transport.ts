/**
 * Talking to an ACME server (RFC 8555 §6, §7.1.1-7.2): the directory, the nonce pool, signed
 * POSTs (retried on badNonce with the fresh nonce the refusal carries, §6.5), Retry-After, and
 * problem documents turned into AcmeErrors.
 *
 * ```ts
 * import { AcmeTransport } from "./transport.ts";
 * const transport = new AcmeTransport(ports, "https://acme-staging-v02.api.letsencrypt.org/directory");
 * console.log((await transport.directory()).newOrder);
 * ```
 *
 * @module
 */
import type { Clock } from "../ports.ts";
import { AcmeError, invalidResponse, problemError } from "./errors.ts";
import { type RequestIdentity, signedBody } from "./jws.ts";
import type { SigningKey } from "./keys.ts";

export interface AcmePorts {
  fetch(url: string, init?: RequestInit): Promise<Response>;
  clock: Clock;
  /** Waits `ms`; defaults to a timer on `clock` (tests hand in a fake clock's advance). */
  sleep?(ms: number): Promise<void>;
}

/** RFC 8555 §7.1.1, with RFC 9773's renewalInfo. */
export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert?: string;
  keyChange?: string;
  renewalInfo?: string;
  meta?: { termsOfService?: string; externalAccountRequired?: boolean; website?: string };
}

export interface AcmeResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body; undefined when the body is not JSON (a certificate chain). */
  body: unknown;
  text: string;
  retryAfterMs?: number;
}

/** Who signs: the account key, named by its JWK (before the account exists) or by the account URL. */
export interface Signer {
  key: SigningKey;
  accountUrl?: string;
}

/** A CA that keeps answering badNonce is broken, not unlucky: give up after this many. */
const BAD_NONCE_RETRIES = 3;
const REQUEST_TIMEOUT_MS = 30_000;
/** Far above any directory, order or certificate chain (a few KiB): more is a broken or hostile CA. */
const MAX_BODY_BYTES = 256 * 1024;
/** Nonces expire at the CA; the newest few are all worth keeping (GETs bring nonces no POST uses). */
const MAX_POOLED_NONCES = 8;
const REQUIRED_RESOURCES = ["newNonce", "newAccount", "newOrder"] as const;

export class AcmeTransport {
  readonly #ports: AcmePorts;
  readonly #directoryUrl: string;
  #directory: Directory | undefined;
  readonly #nonces: string[] = [];

  constructor(ports: AcmePorts, directoryUrl: string) {
    this.#ports = ports;
    this.#directoryUrl = directoryUrl;
  }

  /** The directory, fetched once. */
  async directory(): Promise<Directory> {
    if (this.#directory) return this.#directory;
    const response = await this.get(this.#directoryUrl);
    const body = response.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== "object") throw invalidResponse(`the directory ${this.#directoryUrl} is not a JSON object`, response.status);
    for (const name of REQUIRED_RESOURCES) {
      if (typeof body[name] !== "string") throw invalidResponse(`the directory ${this.#directoryUrl} has no ${name} URL`, response.status);
    }
    this.#directory = body as unknown as Directory;
    return this.#directory;
  }

  /** An unauthenticated GET (the directory, renewalInfo). */
  async get(url: string): Promise<AcmeResponse> {
    return await this.#send(url, { method: "GET" });
  }

  /** A signed POST; `payload` undefined makes a POST-as-GET. */
  async post(url: string, signer: Signer, payload: unknown, accept?: string): Promise<AcmeResponse> {
    for (let attempt = 0;; attempt++) {
      const nonce = await this.#nonce();
      const identity: RequestIdentity = signer.accountUrl
        ? { url, nonce, kid: signer.accountUrl }
        : { url, nonce, jwk: signer.key.publicJwk };
      const headers: Record<string, string> = { "content-type": "application/jose+json" };
      if (accept) headers.accept = accept;
      try {
        return await this.#send(url, { method: "POST", headers, body: await signedBody(signer.key, identity, payload) });
      } catch (error) {
        if (!(error instanceof AcmeError) || error.code !== "bad-nonce" || attempt >= BAD_NONCE_RETRIES) throw error;
      }
    }
  }

  /** Waits, honouring the port's sleep when given. */
  sleep(ms: number): Promise<void> {
    if (this.#ports.sleep) return this.#ports.sleep(ms);
    return new Promise((resolve) => this.#ports.clock.setTimer(resolve, ms));
  }

  get clock(): Clock {
    return this.#ports.clock;
  }

  async #nonce(): Promise<string> {
    const pooled = this.#nonces.pop();
    if (pooled) return pooled;
    const { newNonce } = await this.directory();
    await this.#send(newNonce, { method: "HEAD" });
    const fresh = this.#nonces.pop();
    if (!fresh) throw invalidResponse(`${newNonce} gave no Replay-Nonce`);
    return fresh;
  }

  async #send(url: string, init: RequestInit): Promise<AcmeResponse> {
    let response: Response;
    try {
      response = await this.#ports.fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (error) {
      throw new AcmeError("connection", `cannot reach the CA at ${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const nonce = response.headers.get("replay-nonce");
    if (nonce) this.#nonces.push(nonce);
    if (this.#nonces.length > MAX_POOLED_NONCES) this.#nonces.shift();
    const text = init.method === "HEAD" ? "" : await _boundedText(response, url);
    const retryAfterMs = retryAfter(response.headers.get("retry-after"));
    let body: unknown;
    if (/json/i.test(response.headers.get("content-type") ?? "")) {
      try {
        body = JSON.parse(text);
      } catch {
        throw invalidResponse(`${url} sent malformed JSON`, response.status);
      }
    }
    if (response.status >= 400) throw problemError(body, response.status, retryAfterMs, `${init.method} ${url}`);
    return { status: response.status, headers: response.headers, body, text, retryAfterMs };
  }
}

/** The body as text, refused past MAX_BODY_BYTES without reading the rest. */
async function _boundedText(response: Response, url: string): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel();
        throw invalidResponse(`${url} sent more than ${MAX_BODY_BYTES} bytes`, response.status);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof AcmeError) throw error;
    throw new AcmeError("connection", `the answer from ${url} broke off: ${error instanceof Error ? error.message : String(error)}`);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Retry-After (RFC 9110 §10.2.3) as milliseconds from now: delay-seconds or an HTTP date (whose
 * "now" is wall-clock time, so this compares with Date.now(), not the monotonic port clock).
 */
export function retryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
