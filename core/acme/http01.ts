/**
 * The http-01 answers (RFC 8555 §8.3): while an order is pending, the CA fetches
 * `http://<domain>/.well-known/acme-challenge/<token>` and must get the key authorization back.
 * Plain listeners ask {@link Http01Tokens.answer} before anything else (redirectToHttps, routing),
 * so validation works while every pool is down and on a port-80 listener that only redirects.
 *
 * ```ts
 * const tokens = new Http01Tokens();
 * tokens.publish("tok", "tok.thumbprint");
 * tokens.answer({ method: "GET", target: "/.well-known/acme-challenge/tok" }); // 200 "tok.thumbprint"
 * ```
 *
 * @module
 */
import { type Answer, Fields, textAnswer } from "../http/message.ts";

const PREFIX = "/.well-known/acme-challenge/";
/** RFC 8555 §8.1: tokens are base64url. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export class Http01Tokens {
  readonly #keyAuthorizations = new Map<string, string>();

  publish(token: string, keyAuthorization: string): void {
    if (!TOKEN.test(token)) throw new Error(`http-01 token ${JSON.stringify(token)} is not base64url`);
    this.#keyAuthorizations.set(token, keyAuthorization);
  }

  withdraw(token: string): void {
    this.#keyAuthorizations.delete(token);
  }

  get size(): number {
    return this.#keyAuthorizations.size;
  }

  /**
   * The answer for a challenge request, undefined for any other request (it goes on as usual). An
   * unknown token under the challenge path is a 404 here, not the members' business.
   */
  answer(request: { method: string; target: string }): Answer | undefined {
    if (!request.target.startsWith(PREFIX)) return undefined;
    if (request.method !== "GET" && request.method !== "HEAD") return textAnswer(405, "405 method not allowed\n", ["allow", "GET, HEAD"]);
    const keyAuthorization = this.#keyAuthorizations.get(request.target.slice(PREFIX.length));
    if (keyAuthorization === undefined) return textAnswer(404, "404 no such acme challenge\n");
    return { status: 200, fields: new Fields(["content-type", "application/octet-stream", "cache-control", "no-store"]), body: new TextEncoder().encode(keyAuthorization) };
  }
}
