/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A worker thread of `workers: N` on Deno, started by the main thread (see core/workers.ts).
 * It inherits the main thread's permissions.
 *
 * @module
 */
import { runCli } from "../../core/cli.ts";
import type { WorkerCommand } from "../../core/platform.ts";
import { workerThreadHandler } from "../../core/workers.ts";
import { platform } from "./platform.ts";

const handle = workerThreadHandler(platform, {
  report: (report) => postMessage(report),
  close: () => self.close(),
}, runCli);
self.addEventListener("message", (event) => handle((event as MessageEvent<WorkerCommand>).data));
