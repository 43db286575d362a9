/**
 * The runtimes' `startWorker`: both run web-standard Workers, so one adapter serves them.
 *
 * @module
 */
import type { WorkerReport, WorkerThread } from "../../core/platform.ts";

/**
 * A {@link WorkerThread} over a web-standard Worker running `module` (both runtimes have them).
 * Crash reports are taken over (`preventDefault`) so that a dying worker never takes the main
 * thread down with it.
 */
export function startWebWorker(module: URL): WorkerThread {
  const worker = new Worker(module, { type: "module" });
  return {
    postMessage: (command) => worker.postMessage(command),
    onReport(handler) {
      worker.addEventListener("message", (event) => handler((event as MessageEvent<WorkerReport>).data));
    },
    onCrash(handler) {
      worker.addEventListener("error", (event) => {
        event.preventDefault();
        handler(String((event as ErrorEvent).message ?? event));
      });
    },
    terminate: () => worker.terminate(),
  };
}
