/**
 * `workers: N`: N worker threads in one process, each with the full data plane on the same
 * ports (SO_REUSEPORT, so the kernel spreads connections over them), the way HAProxy runs
 * `nbthread` listeners. The main thread only supervises: it owns the signals, forwards them,
 * and restarts a worker that died. Threads rather than processes because both runtimes run
 * web-standard Workers, and state crosses between them as messages instead of over sockets
 * (see `worker-sync.ts`).
 *
 * Worker 0 is the lead: it alone serves the admin plane, runs active health checks and speaks
 * for the node to replication peers and VRRP; the others follow its state.
 *
 * @module
 */
import type { Config } from "./config/schema.ts";
import type { Platform, Signal, WorkerCommand, WorkerReport, WorkerThread } from "./platform.ts";
import { logEvent } from "./log.ts";

/** Restart delays after a crash: 1 s doubling to 30 s, so a worker that cannot start does not spin. */
const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before dying restarts after the shortest delay again. */
const STABLE_MS = 60_000;
/** How long after the drain timeout a worker may take to report its exit before it is terminated. */
const EXIT_GRACE_MS = 5_000;

/**
 * Runs `config.workers` workers until SIGTERM/SIGINT, then lets each drain and exits 0 (1 when a
 * worker had to be terminated or exited non-zero). SIGHUP reaches every worker, and each reloads
 * the config file itself. A worker that fails before it served (a port in use, an admin address
 * refused, a file gone) stops the whole process with exit status 1 and one `fatal` line: retrying
 * cannot fix it, and a supervisor that kept restarting would look alive to systemd while serving
 * nothing. Only a worker that dies after it started serving is restarted.
 */
export function superviseWorkers(platform: Platform, config: Config): Promise<never> {
  const count = config.workers;
  /** `delay`: how long a restart waits if this worker dies soon. */
  const workers: { thread: WorkerThread; startedAt: number; delay: number; exited: boolean; serving: boolean }[] = [];
  let stopping = false;
  let failed = false;
  let resolveAllExited: () => void;
  const allExited = new Promise<void>((resolve) => (resolveAllExited = resolve));

  const start = (index: number, delay: number) => {
    const thread = platform.startWorker();
    const slot = { thread, startedAt: platform.clock.now(), delay, exited: false, serving: false };
    workers[index] = slot;
    const ended = (code: number, reason?: string) => {
      if (slot.exited) return;
      slot.exited = true;
      thread.terminate();
      if (code !== 0) failed = true;
      if (stopping) {
        if (workers.every((worker) => worker.exited)) resolveAllExited();
        return;
      }
      if (!slot.serving) return fatal(index, code, reason);
      const ranFor = platform.clock.now() - slot.startedAt;
      const wait = ranFor >= STABLE_MS ? RESTART_MIN_MS : slot.delay;
      logEvent(platform, "worker-exited", { worker: index, code, reason, restartInMs: wait });
      platform.clock.setTimer(() => {
        if (!stopping) start(index, Math.min(wait * 2, RESTART_MAX_MS));
      }, wait);
    };
    thread.onReport((report) => {
      if (report.type === "started") slot.serving = true;
      else ended(report.code, report.reason);
    });
    thread.onCrash((reason) => ended(1, reason));
    thread.postMessage({ type: "start", index, count, args: platform.args, startTime: platform.startTime });
  };

  const fatal = (index: number, code: number, reason: string | undefined) => {
    stopping = true;
    for (const worker of workers) if (!worker.exited) worker.thread.terminate();
    logEvent(platform, "fatal", { worker: index, code, reason: reason ?? "the worker exited before it served" });
    platform.exit(1);
  };
  const forward = (signal: Signal) => {
    for (const worker of workers) if (!worker.exited) worker.thread.postMessage({ type: "signal", signal });
  };
  const stop = async (signal: Signal) => {
    forward(signal);
    if (stopping) return;
    stopping = true;
    // A worker waiting out its restart delay has nothing to drain.
    if (workers.every((worker) => worker.exited)) resolveAllExited();
    let timedOut = false;
    await Promise.race([
      allExited,
      new Promise<void>((resolve) =>
        platform.clock.setTimer(() => {
          timedOut = true;
          resolve();
        }, config.drainTimeout + EXIT_GRACE_MS)
      ),
    ]);
    for (const worker of workers) if (!worker.exited) worker.thread.terminate();
    logEvent(platform, "workers-stopped", { signal, terminated: timedOut });
    platform.exit(failed || timedOut ? 1 : 0);
  };
  platform.onSignal("SIGTERM", () => void stop("SIGTERM"));
  platform.onSignal("SIGINT", () => void stop("SIGINT"));
  platform.onSignal("SIGHUP", () => forward("SIGHUP"));
  platform.onSignal("SIGUSR1", () => forward("SIGUSR1"));
  for (let index = 0; index < count; index++) start(index, RESTART_MIN_MS);
  logEvent(platform, "workers-started", { count, runtime: platform.runtime });
  return new Promise<never>(() => {});
}

/**
 * The worker thread's side: turns the main thread's commands into a {@link Platform} whose
 * signals are the forwarded ones and whose `exit` reports to the main thread, then runs `main`
 * with it. Returns the handler for the thread's incoming messages.
 */
export function workerThreadHandler(
  base: Platform,
  thread: { report(report: WorkerReport): void; close(): void },
  main: (platform: Platform) => Promise<void>,
): (command: WorkerCommand) => void {
  const handlers = new Map<Signal, (() => void)[]>();
  /**
   * Signals forwarded before `main` registered a handler for them: a worker still starting would
   * otherwise miss the SIGTERM and hold the whole shutdown until the main thread terminates it.
   */
  const early = new Set<Signal>();
  /** What the worker printed to stderr before it served: the reason of an exit at start. */
  const said: string[] = [];
  let serving = false;
  return (command) => {
    if (command.type === "signal") {
      const registered = handlers.get(command.signal);
      if (registered === undefined) early.add(command.signal);
      else for (const handler of registered) handler();
      return;
    }
    const platform: Platform = {
      ...base,
      args: command.args,
      startTime: command.startTime,
      worker: { index: command.index, count: command.count },
      onSignal(signal, handler) {
        handlers.set(signal, [...(handlers.get(signal) ?? []), handler]);
        // After the registering call returns, as a signal arriving then would be handled.
        if (early.delete(signal)) queueMicrotask(handler);
      },
      stderr(line) {
        if (!serving) said.push(line);
        base.stderr(line);
      },
      exit(code): never {
        thread.report(said.length > 0 ? { type: "exit", code, reason: said.join("; ") } : { type: "exit", code });
        thread.close();
        // Nothing after exit() may run on: end this task the way process exit would.
        throw new WorkerExit(code);
      },
    };
    main(platform).then(() => {
      serving = true;
      said.length = 0;
      thread.report({ type: "started" });
    }, (error) => {
      if (error instanceof WorkerExit) return;
      base.stderr(`worker ${command.index}: ${(error as Error)?.stack ?? error}`);
      thread.report({ type: "exit", code: 1, reason: String((error as Error)?.message ?? error) });
      thread.close();
    });
  };
}

/** Thrown by a worker's `exit` to unwind the task that called it. */
export class WorkerExit extends Error {
  constructor(readonly code: number) {
    super(`worker exited with ${code}`);
  }
}
