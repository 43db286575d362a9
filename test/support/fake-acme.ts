/**
 * An ACME CA in memory, for the client's unit tests: a `fetch` that checks what a real CA checks
 * (JWS signatures with jose, single-use nonces, the `url` header, `kid` of a known account) and
 * lets a test script what a real CA does rarely: badNonce, a problem on a given path, authorizations
 * and orders that stay pending or processing with Retry-After, a failed challenge, ARI windows.
 * It issues through the test's `issue` (which signs the CSR it was sent, e.g. with openssl).
 *
 * @example
 * ```ts
 * const ca = new FakeAcme({ issue: async (csr) => signWithOpenssl(csr) });
 * const client = await AcmeClient.open({ fetch: ca.fetch, clock }, { directory: ca.directory });
 * ```
 */
import { base64url, flattenedVerify, importJWK, type JWK } from "jose";

export interface FakeAcmeOptions {
  /** The chain (PEM, leaf first) for a CSR (DER) the client sent to finalize. */
  issue(csr: Uint8Array): Promise<string>;
  /** Offer renewalInfo (RFC 9773) in the directory. */
  ari?: boolean;
  externalAccountRequired?: boolean;
}

export interface Problem {
  status: number;
  type: string;
  detail: string;
  retryAfter?: string;
  subproblems?: unknown[];
  instance?: string;
}

interface Received {
  method: string;
  path: string;
  header?: Record<string, unknown>;
  payload?: unknown;
}

const BASE = "https://ca.test";

export class FakeAcme {
  readonly directory = `${BASE}/directory`;
  readonly options: FakeAcmeOptions;
  /** Every request, in order, with its verified JWS header and payload. */
  readonly received: Received[] = [];
  /** Refuse this many good nonces with badNonce. */
  rejectNonces = 0;
  /** The next request to a path starting with the key is answered with the problem (once). */
  readonly problems = new Map<string, Problem>();
  /** Polls of the authorization that still see "pending" after the challenge was accepted. */
  pendingPolls = 0;
  /** Polls of the order that see "processing" after finalize, each with this Retry-After. */
  processingPolls = 0;
  retryAfter = "3";
  /** The challenge's outcome. */
  challengeSucceeds = true;
  renewalWindow: { start: string; end: string } = { start: "2027-01-01T00:00:00Z", end: "2027-01-03T00:00:00Z" };
  /** The CSRs sent to finalize (DER), and the chains issued for them. */
  readonly csrs: Uint8Array[] = [];
  readonly issued: string[] = [];
  readonly #nonces = new Set<string>();
  readonly #accounts = new Map<string, JWK>();
  #nonceCounter = 0;
  #order: { status: string; identifiers: { value: string }[]; replaces?: string } | undefined;
  #challengeAccepted = false;

  constructor(options: FakeAcmeOptions) {
    this.options = options;
  }

  readonly fetch = async (url: string, init?: RequestInit): Promise<Response> => {
    const path = url.startsWith(BASE) ? url.slice(BASE.length) : url;
    const method = init?.method ?? "GET";
    if (method === "GET" && path === "/directory") return this.#json(200, this.#directory());
    if (method === "HEAD" && path === "/nonce") return new Response(null, { status: 200, headers: this.#nonceHeader() });
    if (method === "GET" && path.startsWith("/renewal-info/")) {
      return this.#json(200, { suggestedWindow: this.renewalWindow, explanationURL: "https://ca.test/why" }, { "retry-after": "21600" });
    }
    if (method !== "POST") return this.#json(405, { type: "urn:ietf:params:acme:error:malformed", detail: `${method} ${path}` });

    let header: Record<string, unknown>;
    let payload: unknown;
    try {
      ({ header, payload } = await this.#verify(url, String(init?.body)));
    } catch (error) {
      const problem = error as Problem;
      return this.#problem(problem.status ? problem : { status: 400, type: "malformed", detail: String(error) });
    }
    this.received.push({ method, path, header, payload });
    for (const [prefix, problem] of this.problems) {
      if (path.startsWith(prefix)) {
        this.problems.delete(prefix);
        return this.#problem(problem);
      }
    }
    return this.#route(path, header, payload);
  };

  #directory() {
    return {
      newNonce: `${BASE}/nonce`,
      newAccount: `${BASE}/new-account`,
      newOrder: `${BASE}/new-order`,
      ...(this.options.ari ? { renewalInfo: `${BASE}/renewal-info/` } : {}),
      meta: { termsOfService: `${BASE}/terms`, externalAccountRequired: this.options.externalAccountRequired ?? false },
    };
  }

  async #route(path: string, header: Record<string, unknown>, payload: unknown): Promise<Response> {
    const body = payload as Record<string, unknown> | undefined;
    if (path === "/new-account") {
      const jwk = header.jwk as JWK;
      const existing = [...this.#accounts].find(([, key]) => JSON.stringify(key) === JSON.stringify(jwk));
      if (existing) return this.#json(200, { status: "valid" }, { location: existing[0] });
      if (body?.onlyReturnExisting) return this.#problem({ status: 400, type: "accountDoesNotExist", detail: "no account for this key" });
      if (this.options.externalAccountRequired && !body?.externalAccountBinding) {
        return this.#problem({ status: 400, type: "externalAccountRequired", detail: "EAB required" });
      }
      const url = `${BASE}/account/${this.#accounts.size + 1}`;
      this.#accounts.set(url, jwk);
      return this.#json(201, { status: "valid" }, { location: url });
    }
    if (path === "/new-order") {
      this.#order = { status: "pending", identifiers: body?.identifiers as { value: string }[], replaces: body?.replaces as string | undefined };
      this.#challengeAccepted = false;
      return this.#json(201, this.#orderBody(), { location: `${BASE}/order/1` });
    }
    if (path === "/authz/1") {
      let status = "pending";
      if (this.#challengeAccepted) {
        if (this.pendingPolls > 0) this.pendingPolls--;
        else status = this.challengeSucceeds ? "valid" : "invalid";
      }
      if (status === "valid" && this.#order) this.#order.status = "ready";
      if (status === "invalid" && this.#order) this.#order.status = "invalid";
      const error = status === "invalid" ? { type: "urn:ietf:params:acme:error:incorrectResponse", detail: "key authorization mismatch" } : undefined;
      return this.#json(200, {
        status,
        identifier: { type: "dns", value: this.#order?.identifiers[0].value },
        challenges: [
          { type: "dns-01", url: `${BASE}/chall/dns`, token: "dns-token", status: "pending" },
          { type: "http-01", url: `${BASE}/chall/1`, token: "http-token_1", status, ...(error ? { error } : {}) },
        ],
      }, status === "pending" ? { "retry-after": this.retryAfter } : {});
    }
    if (path === "/chall/1") {
      this.#challengeAccepted = true;
      return this.#json(200, { type: "http-01", url: `${BASE}/chall/1`, token: "http-token_1", status: "processing" });
    }
    if (path === "/finalize/1") {
      const csr = base64url.decode(String(body?.csr));
      this.csrs.push(csr);
      this.issued.push(await this.options.issue(csr));
      if (this.#order) this.#order.status = this.processingPolls > 0 ? "processing" : "valid";
      return this.#json(200, this.#orderBody(), { location: `${BASE}/order/1` });
    }
    if (path === "/order/1") {
      if (this.#order?.status === "processing") {
        if (this.processingPolls > 0) {
          this.processingPolls--;
          return this.#json(200, this.#orderBody(), { "retry-after": this.retryAfter });
        }
        this.#order.status = "valid";
      }
      return this.#json(200, this.#orderBody());
    }
    if (path === "/cert/1") {
      return new Response(this.issued.at(-1), { status: 200, headers: { "content-type": "application/pem-certificate-chain", ...this.#nonceHeader() } });
    }
    return this.#problem({ status: 404, type: "malformed", detail: `no resource ${path}` });
  }

  #orderBody() {
    const order = this.#order!;
    return {
      status: order.status,
      identifiers: order.identifiers,
      authorizations: [`${BASE}/authz/1`],
      finalize: `${BASE}/finalize/1`,
      ...(order.replaces ? { replaces: order.replaces } : {}),
      ...(order.status === "valid" ? { certificate: `${BASE}/cert/1` } : {}),
    };
  }

  async #verify(url: string, text: string): Promise<{ header: Record<string, unknown>; payload: unknown }> {
    const jws = JSON.parse(text) as { protected: string; payload: string; signature: string };
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(jws.protected))) as Record<string, unknown>;
    if (header.url !== url) throw { status: 401, type: "unauthorized", detail: `url ${header.url} is not ${url}` };
    if (("jwk" in header) === ("kid" in header)) throw { status: 400, type: "malformed", detail: "exactly one of jwk and kid" };
    const jwk = header.jwk as JWK | undefined ?? this.#accounts.get(String(header.kid));
    if (!jwk) throw { status: 400, type: "accountDoesNotExist", detail: `no account ${header.kid}` };
    const { payload } = await flattenedVerify(jws, await importJWK(jwk, String(header.alg)));
    const nonce = String(header.nonce);
    if (!this.#nonces.delete(nonce)) throw { status: 400, type: "badNonce", detail: `nonce ${nonce} unknown or used` };
    if (this.rejectNonces > 0) {
      this.rejectNonces--;
      throw { status: 400, type: "badNonce", detail: "rejected as a test" };
    }
    return { header, payload: payload.length ? JSON.parse(new TextDecoder().decode(payload)) : undefined };
  }

  #nonceHeader(): Record<string, string> {
    const nonce = `nonce-${++this.#nonceCounter}`;
    this.#nonces.add(nonce);
    return { "replay-nonce": nonce };
  }

  #json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...this.#nonceHeader(), ...headers } });
  }

  #problem(problem: Problem): Response {
    const type = problem.type.includes(":") ? problem.type : `urn:ietf:params:acme:error:${problem.type}`;
    const body = {
      type,
      detail: problem.detail,
      ...(problem.subproblems ? { subproblems: problem.subproblems } : {}),
      ...(problem.instance ? { instance: problem.instance } : {}),
    };
    return new Response(JSON.stringify(body), {
      status: problem.status,
      headers: { "content-type": "application/problem+json", ...this.#nonceHeader(), ...(problem.retryAfter ? { "retry-after": problem.retryAfter } : {}) },
    });
  }
}
