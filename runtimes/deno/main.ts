/**
 * tandem on Deno: `deno task serve [--config FILE]`, or
 * `deno run --allow-net --allow-read --allow-env runtimes/deno/main.ts [serve|check|schema] [--config FILE]`.
 *
 * @module
 */
import { runCli } from "../../core/cli.ts";
import { platform } from "./platform.ts";

await runCli(platform);
