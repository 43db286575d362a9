import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** core/ must run unchanged on edge platforms: no runtime globals, no node: modules. */
test("core/ uses no runtime API (Bun., Deno., node:, process)", () => {
  const root = new URL("../../core/", import.meta.url).pathname;
  const offences: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(".ts")) {
        const code = readFileSync(path, "utf8")
          .replace(/\/\*[\s\S]*?\*\//g, "")
          .replace(/^\s*\/\/.*$/gm, "");
        for (const pattern of [/\bBun\./, /\bDeno\./, /["']node:/, /\bprocess\./, /\brequire\(/]) {
          if (pattern.test(code)) offences.push(`${path}: ${pattern}`);
        }
      }
    }
  };
  walk(root);
  assert.deepEqual(offences, []);
});
