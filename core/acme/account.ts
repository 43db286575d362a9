/**
 * The ACME account (RFC 8555 §7.3): found again by its key when one is stored, created (with the
 * External Account Binding a CA may require) when there is none or the CA no longer knows it.
 *
 * ```ts
 * import { openAccount } from "./account.ts";
 * const account = await openAccount(transport, { directory, email: "ops@example.com" });
 * console.log(account.url); // https://ca.example/acme/acct/123
 * ```
 *
 * @module
 */
import { AcmeError, invalidResponse } from "./errors.ts";
import { externalAccountBinding } from "./jws.ts";
import { generateKeyPem, loadKeyPem, type SigningKey } from "./keys.ts";
import type { AcmeTransport } from "./transport.ts";

export interface ExternalAccountBinding {
  keyId: string;
  /** The MAC key as the CA hands it out: base64url. */
  hmacKey: string;
}

export interface AccountOptions {
  directory: string;
  email?: string;
  eab?: ExternalAccountBinding;
  /** The stored account key (PKCS#8 PEM) to reuse; a new one is made when absent. */
  accountKeyPem?: string;
}

export interface OpenedAccount {
  url: string;
  keyPem: string;
  key: SigningKey;
}

/** Finds or creates the account. The new account's key (when one was made) is in `keyPem`. */
export async function openAccount(transport: AcmeTransport, options: AccountOptions): Promise<OpenedAccount> {
  const keyPem = options.accountKeyPem ?? await generateKeyPem("ec-p256");
  let key: SigningKey;
  try {
    key = await loadKeyPem(keyPem);
  } catch (error) {
    throw new AcmeError("bad-account-key", `the stored ACME account key cannot be used: ${(error as Error).message}`);
  }
  const directory = await transport.directory();
  if (options.accountKeyPem) {
    try {
      const existing = await transport.post(directory.newAccount, { key }, { onlyReturnExisting: true });
      return { url: _accountUrl(existing.headers, existing.body), keyPem, key };
    } catch (error) {
      // A CA that forgot the account (a test CA restarted, an account purged): make a new one.
      if (!(error instanceof AcmeError) || error.code !== "account-does-not-exist") throw error;
    }
  }
  if (directory.meta?.externalAccountRequired && !options.eab) {
    throw new AcmeError("eab-required", `the CA at ${options.directory} requires External Account Binding (set its key id and HMAC key)`);
  }
  const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
  if (options.email) payload.contact = [`mailto:${options.email}`];
  if (options.eab) {
    try {
      payload.externalAccountBinding = await externalAccountBinding(options.eab, key.publicJwk, directory.newAccount);
    } catch (error) {
      throw new AcmeError("bad-eab", `External Account Binding: ${(error as Error).message}`);
    }
  }
  const created = await transport.post(directory.newAccount, { key }, payload);
  return { url: _accountUrl(created.headers, created.body), keyPem, key };
}

function _accountUrl(headers: Headers, body: unknown): string {
  const status = (body as { status?: unknown } | undefined)?.status;
  if (status !== undefined && status !== "valid") {
    throw new AcmeError("unauthorized", `the ACME account is ${String(status)}; a new account key is needed`);
  }
  const url = headers.get("location");
  if (!url) throw invalidResponse("newAccount answered without a Location (the account URL)");
  return url;
}
