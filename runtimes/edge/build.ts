/**
 * Builds the edge worker: one ES module with the core, its dependencies and (optionally) the
 * config inside, for Cloudflare Workers, workerd and `deno serve`, plus a workerd config to run it
 * locally. The config is validated first, with the same messages as `tandem check`, and what does
 * not apply on the edge is listed as warnings.
 *
 * ```sh
 * bun run runtimes/edge/build.ts --config tandem.yaml --out dist/edge/
 * workerd serve dist/edge/workerd.capnp          # or: wrangler deploy dist/edge/worker.js
 * deno serve --allow-net dist/edge/worker.js
 * ```
 *
 * Without `--config` the worker reads its config from the `TANDEM_CONFIG` binding or variable.
 * Exits 0 when built, 1 when the config is invalid or the bundle fails, 2 on bad arguments.
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { edgeWarnings, formatEdgeWarning } from "../../core/config/edge-warnings.ts";
import { formatProblem, parseConfig } from "../../core/config/load.ts";
import { workerdConfig } from "./workerd-config.ts";

const USAGE = "usage: bun run runtimes/edge/build.ts [--config FILE] [--out DIR] [--listen HOST:PORT] [--compatibility-date YYYY-MM-DD]";
const MODULE = "worker.js";

interface BuildArgs {
  config?: string;
  out: string;
  listen: string;
  compatibilityDate: string;
}

/** Builds into `args.out`; returns the problems that stopped it (none when built). */
export async function buildEdgeWorker(args: BuildArgs): Promise<string[]> {
  let bundled: unknown;
  if (args.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(args.config, "utf8");
    } catch (error) {
      return [`${args.config}: cannot read: ${(error as Error).message}`];
    }
    const result = parseConfig(text);
    if (!result.ok) return [`${args.config}: ${result.problems.length} problem(s):`, ...result.problems.map((p) => `  ${formatProblem(p)}`)];
    const warnings = edgeWarnings(result.config);
    for (const warning of warnings.filter((warning) => !warning.refused)) console.error(`warning: ${formatEdgeWarning(warning)}`);
    const refused = warnings.filter((warning) => warning.refused).map(formatEdgeWarning);
    if (refused.length > 0) return [`${args.config}: not for the edge:`, ...refused.map((line) => `  ${line}`)];
    // The operator's document, not the defaulted result: the worker validates it again at start.
    bundled = parseYaml(text);
  }
  const workerPath = new URL("worker.ts", import.meta.url).pathname;
  const entry = bundled === undefined
    ? `export { default } from ${JSON.stringify(workerPath)};`
    : `import { createEdgeWorker } from ${JSON.stringify(workerPath)};\nexport default createEdgeWorker({ config: ${JSON.stringify(bundled)} });`;
  const output = await Bun.build({
    entrypoints: ["tandem-edge-entry"],
    target: "browser",
    format: "esm",
    minify: true,
    plugins: [{
      name: "tandem-edge-entry",
      setup(build) {
        build.onResolve({ filter: /^tandem-edge-entry$/ }, () => ({ path: "entry.ts", namespace: "tandem-edge" }));
        build.onLoad({ filter: /.*/, namespace: "tandem-edge" }, () => ({ contents: entry, loader: "ts" }));
      },
    }],
  }).catch((error: unknown) => ({ success: false as const, logs: [error], outputs: [] }));
  if (!output.success) return ["bundle failed:", ...output.logs.map((log) => `  ${String(log)}`)];
  const code = await output.outputs[0].text();
  // Workers have no Node built-ins unless a compatibility flag adds them; the core must not need them.
  const nodeImport = /(?:from|import|require)\s*\(?\s*["']node:[^"']+["']/.exec(code);
  if (nodeImport) return [`bundle imports a Node built-in (${nodeImport[0]}): the core must stay runtime-free`];
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, MODULE), code);
  writeFileSync(join(args.out, "workerd.capnp"), workerdConfig({ module: MODULE, address: args.listen, compatibilityDate: args.compatibilityDate }));
  return [];
}

function _parseArgs(argv: string[]): BuildArgs | string {
  const args: BuildArgs = { out: "dist/edge", listen: "127.0.0.1:8787", compatibilityDate: "2025-09-01" };
  const names: Record<string, keyof BuildArgs> = { "--config": "config", "--out": "out", "--listen": "listen", "--compatibility-date": "compatibilityDate" };
  for (let i = 0; i < argv.length; i++) {
    const key = names[argv[i]];
    const value = argv[i + 1];
    if (key === undefined) return `unknown argument: ${argv[i]}`;
    if (value === undefined) return `${argv[i]} needs a value`;
    args[key] = value;
    i++;
  }
  return args;
}

if (import.meta.main) {
  const args = _parseArgs(Bun.argv.slice(2));
  if (typeof args === "string") {
    console.error(`${args}\n${USAGE}`);
    process.exit(2);
  }
  const problems = await buildEdgeWorker(args);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) process.exit(1);
  console.log(`built ${join(args.out, MODULE)} and ${join(args.out, "workerd.capnp")}${args.config ? ` with ${args.config}` : " (config from TANDEM_CONFIG)"}`);
}
