/**
 * A worker thread of `workers: N` on Bun, started by the main thread (see core/workers.ts).
 *
 * @module
 */
import { runCli } from "../../core/cli.ts";
import type { WorkerCommand } from "../../core/platform.ts";
import { workerThreadHandler } from "../../core/workers.ts";
import { platform } from "./platform.ts";

const handle = workerThreadHandler(platform, {
  report: (report) => postMessage(report),
  // Bun's workers have no self.close(): the main thread terminates a worker once it reported its exit.
  close: () => {},
}, runCli);
self.addEventListener("message", (event) => handle((event as MessageEvent<WorkerCommand>).data));
