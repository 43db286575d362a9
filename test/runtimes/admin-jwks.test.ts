/**
 * The admin plane with `admin.auth.jwksFile` on the real process (Bun under `bun test`, Deno
 * under `deno test`): tokens signed with the private halves of an EdDSA and an ES256 key in the
 * JWKS are accepted for their scope; a token signed by another key, or HS256, is refused. And a
 * reload leaves the admin listener and its keys as they were (README: "The admin listener and its
 * keys are read at start; a reload does not change them"), while a restart takes the new ones.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { type Backend, startBackend } from "../support/backends.ts";
import { call } from "../support/admin-call.ts";
import { freePort } from "../support/ports.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";

const LIMIT = { timeout: 60_000 };
const AUDIENCE = "tandem-admin";
const HS_SECRET = "an-hs256-secret-of-at-least-32-characters-0123";

type Alg = "EdDSA" | "ES256";

interface KeyPair {
  alg: Alg;
  /** The public key as it goes in the JWKS file. */
  jwk: JWK;
  sign(scope: string, subject?: string): Promise<string>;
}

async function keyPair(alg: Alg, kid: string): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const sign = (scope: string, subject = `${kid}-user`) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope }).setProtectedHeader({ alg, kid, typ: "JWT" }).setSubject(subject).setAudience(AUDIENCE)
      .setIssuedAt(now).setExpirationTime(now + 600).sign(privateKey);
  };
  return { alg, jwk, sign };
}

function hs256(scope: string, secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject("hs-user").setAudience(AUDIENCE)
    .setIssuedAt(now).setExpirationTime(now + 600).sign(new TextEncoder().encode(secret));
}

function writeJwks(path: string, keys: KeyPair[]): void {
  writeFileSync(path, JSON.stringify({ keys: keys.map((k) => k.jwk) }, null, 2));
}

/** Resolves true when something accepts a TCP connection at 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 10_000);
    socket.on("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

function config(backends: Backend[], adminAddress: string, auth: Record<string, unknown>) {
  return {
    listeners: [{ address: "127.0.0.1:0" }],
    accessLog: false,
    admin: { address: adminAddress, auth },
    pools: { app: { members: backends.map((b) => ({ name: b.name, url: b.url })) } },
  };
}

async function startAdmin(configValue: unknown, args: string[] = []): Promise<TandemProcess> {
  const tandem = await startTandem(configValue, { args });
  try {
    const line = await tandem.waitForLine((l) => l.event === "admin-listening");
    assert.equal(line.auth, true);
  } catch (error) {
    await tandem.stop("SIGKILL");
    throw error;
  }
  return tandem;
}

const statusOf = (base: string, token: string) => call(`${base}/api/v1/status`, { token });
const patchWeight = (base: string, token: string, weight: number) => call(`${base}/api/v1/pools/app/members/b1`, { token, method: "PATCH", body: { weight } });

describe(`admin.auth.jwksFile on ${runtime}`, () => {
  test("EdDSA and ES256 tokens from the JWKS are accepted for their scope; another key's or an HS256 token is refused", LIMIT, async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-jwks-"));
    const ed = await keyPair("EdDSA", "ed-1");
    const es = await keyPair("ES256", "es-1");
    // Strangers: other keys, one of them under a kid that is in the JWKS.
    const edStranger = await keyPair("EdDSA", "ed-1");
    const esStranger = await keyPair("ES256", "es-9");
    const jwksPath = join(dir, "jwks.json");
    writeJwks(jwksPath, [ed, es]);
    const backend = await startBackend("b1");
    let tandem: TandemProcess | undefined;
    try {
      const address = `127.0.0.1:${await freePort()}`;
      const base = `http://${address}`;
      tandem = await startAdmin(config([backend], address, { jwksFile: jwksPath }));

      for (const key of [ed, es]) {
        const read = await key.sign("read");
        const admin = await key.sign("admin");
        const status = await statusOf(base, read);
        assert.equal(status.status, 200, `${key.alg} read token on status: ${status.text}`);
        assert.equal(status.json.pools[0].members[0].name, "b1");
        const denied = await patchWeight(base, read, 2);
        assert.equal(denied.status, 403, `${key.alg} read token may not change a member: ${denied.text}`);
        assert.equal(denied.json.code, "FORBIDDEN");
        assert.equal((await statusOf(base, admin)).status, 200, `${key.alg} admin token reads too`);
        const weight = key.alg === "EdDSA" ? 3 : 4;
        const changed = await patchWeight(base, admin, weight);
        assert.equal(changed.status, 200, `${key.alg} admin token changes a member: ${changed.text}`);
        assert.equal((await statusOf(base, read)).json.pools[0].members[0].weight, weight);
        // The change is logged with the token's subject.
        await tandem.waitForLine((l) => l.event === "member-changed" && l.actor === `${key.jwk.kid}-user` && (l.after as { weight: number }).weight === weight, 5000);
      }

      const refused: [string, string][] = [
        ["EdDSA, another key under the JWKS's kid", await edStranger.sign("admin")],
        ["ES256, another key", await esStranger.sign("admin")],
        ["HS256 with a secret", await hs256("admin", HS_SECRET)],
        ["HS256 signed with the public JWK (algorithm confusion)", await hs256("admin", JSON.stringify(es.jwk))],
      ];
      for (const [what, token] of refused) {
        const status = await statusOf(base, token);
        assert.equal(status.status, 401, `${what}: ${status.text}`);
        assert.equal(status.json.code, "UNAUTHORIZED", what);
        const patched = await patchWeight(base, token, 9);
        assert.equal(patched.status, 401, `${what} may not change a member: ${patched.text}`);
      }
      assert.equal((await statusOf(base, await ed.sign("read"))).json.pools[0].members[0].weight, 4, "no refused token changed anything");
    } finally {
      await tandem?.stop("SIGKILL");
      await backend.close();
    }
  });

  test("a reload leaves the admin listener and its keys as they were; a restart takes the new ones", LIMIT, async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-jwks-reload-"));
    const oldKey = await keyPair("EdDSA", "old");
    const newKey = await keyPair("ES256", "new");
    const oldJwks = join(dir, "old-jwks.json");
    const newJwks = join(dir, "new-jwks.json");
    writeJwks(oldJwks, [oldKey]);
    writeJwks(newJwks, [newKey]);
    const backends = [await startBackend("b1"), await startBackend("b2")];
    let tandem: TandemProcess | undefined;
    try {
      const [oldPort, newPort] = [await freePort(), await freePort()];
      const oldBase = `http://127.0.0.1:${oldPort}`;
      const newBase = `http://127.0.0.1:${newPort}`;
      tandem = await startAdmin(config([backends[0]], `127.0.0.1:${oldPort}`, { jwksFile: oldJwks }));
      const configPath = tandem.configPath!;
      const oldRead = await oldKey.sign("read");
      const oldAdmin = await oldKey.sign("admin");
      const newRead = await newKey.sign("read");
      const hsRead = await hs256("read", HS_SECRET);
      assert.equal((await statusOf(oldBase, oldRead)).status, 200);
      assert.equal((await statusOf(oldBase, newRead)).status, 401);

      // The file now moves the admin listener, swaps the keys and adds a secret, and adds a member.
      const changed = config(backends, `127.0.0.1:${newPort}`, { jwksFile: newJwks, secret: HS_SECRET });
      writeFileSync(configPath, JSON.stringify(changed));
      const reload = await call(`${oldBase}/api/v1/reload`, { token: oldAdmin, method: "POST" });
      assert.equal(reload.status, 200, reload.text);
      await tandem.waitForLine((l) => l.event === "reloaded" && l.reloads === 1);
      const afterApi = await statusOf(oldBase, oldRead);
      assert.equal(afterApi.status, 200, "the old admin address and key still serve after the reload");
      assert.deepEqual(afterApi.json.pools[0].members.map((m: { name: string }) => m.name), ["b1", "b2"], "the rest of the file was reloaded");
      assert.equal(await listening(newPort), false, "no admin listener on the new address before a restart");
      assert.equal((await statusOf(oldBase, newRead)).status, 401, "the new JWKS key is not in force");
      assert.equal((await statusOf(oldBase, hsRead)).status, 401, "the new secret is not in force");

      // A SIGHUP after the old key file itself changed: the keys read at start stay.
      writeJwks(oldJwks, [newKey]);
      tandem.signal("SIGHUP");
      await tandem.waitForLine((l) => l.event === "reloaded" && l.reloads === 2);
      assert.equal((await statusOf(oldBase, oldRead)).status, 200, "the key read at start still works after the key file changed");
      assert.equal((await statusOf(oldBase, newRead)).status, 401);
      assert.equal(await listening(newPort), false);
      assert.equal((await call(`${oldBase}/api/v1/reload`, { token: oldAdmin, method: "POST" })).status, 200, "admin calls on the old listener still work");
      await tandem.waitForLine((l) => l.event === "reloaded" && l.reloads === 3);

      // Control: a restart on the same file takes the new address and keys.
      assert.equal(await tandem.stop("SIGTERM"), 0);
      tandem = undefined;
      assert.equal(JSON.parse(readFileSync(configPath, "utf8")).admin.address, `127.0.0.1:${newPort}`);
      tandem = await startAdmin(undefined, ["--config", configPath]);
      assert.equal(await listening(newPort), true, "control: the probe sees the admin listener on its new address");
      assert.equal(await listening(oldPort), false, "the old admin address is gone after the restart");
      assert.equal((await statusOf(newBase, newRead)).status, 200, "the new JWKS key works after the restart");
      assert.equal((await statusOf(newBase, hsRead)).status, 200, "the new secret works after the restart");
      assert.equal((await statusOf(newBase, await oldKey.sign("read"))).status, 401, "the old key is gone after the restart");
    } finally {
      await tandem?.stop("SIGKILL");
      await Promise.all(backends.map((b) => b.close()));
    }
  });
});
