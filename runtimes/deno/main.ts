/**
 * tandem on Deno: `deno task serve [--config FILE]`, or
 * `deno run --unstable-net --allow-net --allow-read --allow-write --allow-env runtimes/deno/main.ts [serve|check|schema] [--config FILE]`
 * (`--allow-write` for the state file, see `stateFile`).
 *
 * @module
 */
import { runCli } from "../../core/cli.ts";
import { platform } from "./platform.ts";

// `deno task` runs from the project root; relative paths (--config, tandem.yaml) mean the
// directory the operator typed the command in.
const invokedFrom = Deno.env.get("INIT_CWD");
if (invokedFrom) Deno.chdir(invokedFrom);

await runCli(platform);
