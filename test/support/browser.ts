/**
 * Headless Chromium for page tests, driven by `playwright-core` (no browser download: it drives
 * Debian's `chromium` package at /usr/bin/chromium). Works under `bun test` and `deno test`.
 *
 * Every {@link withPage} call starts its own browser with a fresh, temporary user-data-dir, and
 * closes it and removes the dir afterwards, whatever `fn` did.
 *
 * @example
 * ```ts
 * const skip = browserSkipReason();
 * test("page", { skip }, () =>
 *   withPage(async (page) => {
 *     await page.goto("http://127.0.0.1:8081/");
 *     await page.getByRole("button", { name: "Sign in" }).click();
 *   }));
 * ```
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Why page tests cannot run here, or false when they can. */
export function browserSkipReason(): string | false {
  if (!existsSync(CHROMIUM_PATH)) return `${CHROMIUM_PATH} not found: apt-get install chromium`;
  try {
    createRequire(import.meta.url).resolve("playwright-core");
  } catch {
    return "playwright-core not installed: npm ci";
  }
  return false;
}

/** True when Debian's chromium and the playwright-core package are both installed. */
export function chromiumAvailable(): boolean {
  return browserSkipReason() === false;
}

/** Runs `fn` with a new page (1440×900, light colour scheme) in a new headless Chromium. */
export async function withPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
  const { chromium } = await import("playwright-core");
  const userDataDir = await mkdtemp(join(tmpdir(), "tandem-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
      colorScheme: "light",
      timeout: 30_000,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(10_000);
      return await fn(page);
    } finally {
      await context.close();
    }
  } finally {
    await rm(userDataDir, { recursive: true, force: true });
  }
}
