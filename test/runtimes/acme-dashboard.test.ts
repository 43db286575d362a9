/**
 * The dashboard's Certificates (ACME) panel on the real admin API, in headless Chromium, with a
 * real CA (pebble): the placeholder with the CA's refusal and the failures counted, then, after a
 * reload to a name the CA accepts, the certificate with its expiry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { mintToken } from "../../core/admin/auth.ts";
import { browserSkipReason, withPage } from "../support/browser.ts";
import { pebbleMissing, startPebble } from "../support/pebble.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { startTandem, type TandemProcess } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("acme-dashboard.test.ts", browserSkipReason() || pebbleMissing);
const SECRET = "the acme dashboard test's admin secret";

const certificateRow = (page: Page, domain: string): Locator =>
  page.getByRole("table", { name: "Certificates (ACME)" }).locator("tbody tr")
    .filter({ has: page.locator("th > span:first-child").getByText(domain, { exact: true }) });
const cells = (row: Locator) => row.locator("td").allInnerTexts();

test("dashboard: the ACME panel shows the placeholder with the CA's refusal, then the certificate and its expiry", { skip, timeout: 120_000 }, async () => {
  const pebble = await startPebble({ blockedDomains: ["refused.test"] });
  const storage = mkdtempSync(join(tmpdir(), "tandem-acme-dashboard-"));
  const address = `127.0.0.1:${await freePort()}`;
  const config = (domain: string) => ({
    listeners: [
      { address: "127.0.0.1:0", tls: { acme: { directory: pebble.directory, trustedCa: pebble.tlsCertFile, domains: [domain], storage, retryMin: "1s", retryMax: "1m" } } },
      { address: `127.0.0.1:${pebble.httpPort}` },
    ],
    accessLog: false,
    admin: { address, auth: { secret: SECRET } },
    pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } },
    stateFile: false,
  });
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem(config("refused.test"));
    await tandem.waitForLine((l) => l.event === "admin-listening");
    await tandem.waitForLine((l) => l.event === "acme-failed" && l.failures === 2, 30_000);
    const token = await mintToken({ secret: SECRET, audience: "tandem-admin", subject: "acme-dashboard", scope: "read", ttlSeconds: 600 });
    await withPage(async (page) => {
      await page.goto(`http://${address}/`);
      await page.getByLabel("Admin token").fill(token);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("region", { name: "Certificates (ACME)" }).waitFor();
      const refused = certificateRow(page, "refused.test");
      await waitFor(async () => (await cells(refused))[0] === "placeholder", 10_000, "the placeholder row");
      const [state, expires, next, failures, error] = await cells(refused);
      assert.equal(state, "placeholder");
      assert.equal(expires, "–", "no CA certificate yet");
      assert.match(next, /^in \d+(s|m)$/);
      assert.ok(Number(failures) >= 2, failures);
      assert.match(error, /^rejected-identifier: .*refused\.test/);
      assert.equal(await refused.locator("th .sub").innerText(), "127.0.0.1:0");

      writeFileSync(tandem!.configPath!, JSON.stringify(config("accepted.test")));
      tandem!.signal("SIGHUP");
      await tandem!.waitForLine((l) => l.event === "acme-certificate-obtained", 60_000);
      const accepted = certificateRow(page, "accepted.test");
      await waitFor(async () => (await cells(accepted))[0] === "valid", 10_000, "the valid row");
      const [, validExpires, validNext, validFailures, validError] = await cells(accepted);
      // pebble's certificates last 5 years unless configured otherwise.
      assert.match(validExpires, /^in \d+d \d+h$/);
      assert.match(validNext, /^in \d+d \d+h$/);
      assert.equal(validFailures, "0");
      assert.equal(validError, "–");
      assert.equal(await certificateRow(page, "refused.test").count(), 0, "the old listener's row is gone");
    });
  } finally {
    await tandem?.stop();
    await pebble.stop();
  }
});
