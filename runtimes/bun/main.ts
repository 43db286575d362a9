/**
 * tandem on Bun: `bun run runtimes/bun/main.ts [serve|check|schema] [--config FILE]`.
 *
 * @module
 */
import { runCli } from "../../core/cli.ts";
import { platform } from "./platform.ts";

await runCli(platform);
