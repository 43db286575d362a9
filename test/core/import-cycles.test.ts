/**
 * The core's import graph has no cycles, type-only imports included: a module depends only on
 * what sits below it (contracts in parent files, implementations under them), so loading a
 * runtime adapter never loads the whole program and every module can be read bottom-up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(new URL("../../", import.meta.url).pathname);
const core = join(root, "core");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** Relative specifiers of every import and re-export, `import type` and `export type` included. */
const SPECIFIER = /^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\.{1,2}\/[^"']+)["']|^\s*import\s+["'](\.{1,2}\/[^"']+)["']/gm;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(SPECIFIER)].map((match) => resolve(dirname(file), match[1] ?? match[2]));
}

/** Every cycle, each once, as the list of files around it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") {
        const cycle = path.slice(path.indexOf(next));
        const key = [...cycle].sort().join(" ");
        if (!found.has(key)) found.set(key, cycle);
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return [...found.values()];
}

test("core/ has no import cycles, type-only imports included", () => {
  const graph = new Map(sources(core).map((file) => [file, importsOf(file)]));
  assert.ok(graph.size > 50, `only ${graph.size} files found under core/`);
  const named = cycles(graph).map((cycle) => [...cycle, cycle[0]].map((file) => relative(root, file)).join(" -> "));
  assert.deepEqual(named, []);
});

test("the cycle finder sees a cycle through a type-only import (control)", () => {
  const a = "/x/a.ts", b = "/x/b.ts", c = "/x/c.ts";
  assert.equal(cycles(new Map([[a, [b]], [b, [c]], [c, []]])).length, 0);
  assert.deepEqual(cycles(new Map([[a, [b]], [b, [c]], [c, [a]]])), [[a, b, c]]);
  const text = 'import type { X } from "./b.ts";\nexport { y } from "../c.ts";\nimport "./side.ts";\n';
  const matches = [...text.matchAll(SPECIFIER)].map((match) => match[1] ?? match[2]);
  assert.deepEqual(matches, ["./b.ts", "../c.ts", "./side.ts"]);
});
