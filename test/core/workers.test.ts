import { test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "../../core/config/load.ts";
import type { Config } from "../../core/config/schema.ts";
import type { Platform, Signal } from "../../core/platform.ts";
import type { WorkerCommand, WorkerReport, WorkerThread } from "../../core/platform.ts";
import { superviseWorkers, workerThreadHandler } from "../../core/workers.ts";
import { FakeClock } from "../support/fake-clock.ts";

/** A worker thread that records what it was told and reports what the test makes it report. */
class FakeThread implements WorkerThread {
  readonly commands: WorkerCommand[] = [];
  terminated = false;
  #report: (report: WorkerReport) => void = () => {};
  #crash: (reason: string) => void = () => {};
  postMessage(command: WorkerCommand): void {
    this.commands.push(command);
  }
  onReport(handler: (report: WorkerReport) => void): void {
    this.#report = handler;
  }
  onCrash(handler: (reason: string) => void): void {
    this.#crash = handler;
  }
  terminate(): void {
    this.terminated = true;
  }
  /** The worker's listeners are up: from now on a crash is restarted. */
  serve(): void {
    this.#report({ type: "started" });
  }
  exit(code: number, reason?: string): void {
    this.#report(reason === undefined ? { type: "exit", code } : { type: "exit", code, reason });
  }
  crash(reason: string): void {
    this.#crash(reason);
  }
  get signals(): Signal[] {
    return this.commands.flatMap((command) => (command.type === "signal" ? [command.signal] : []));
  }
}

function config(workers: number, drainTimeout = "10s"): Config {
  const result = validateConfig({
    workers,
    drainTimeout,
    listeners: [{ address: "127.0.0.1:8080" }],
    pools: { web: { members: [{ name: "a", url: "http://127.0.0.1:9000" }] } },
  });
  assert.ok(result.ok);
  return result.config;
}

function fakePlatform() {
  const clock = new FakeClock(1_000_000);
  const threads: FakeThread[] = [];
  const signals = new Map<Signal, () => void>();
  const lines: Record<string, unknown>[] = [];
  const exits: number[] = [];
  const platform = {
    runtime: "fake",
    args: ["serve", "--config", "tandem.yaml"],
    startTime: 1_700_000_000_000,
    clock,
    startWorker() {
      const thread = new FakeThread();
      threads.push(thread);
      return thread;
    },
    onSignal: (signal: Signal, handler: () => void) => void signals.set(signal, handler),
    stdout: (line: string) => void lines.push(JSON.parse(line)),
    stderr: () => {},
    exit: (code: number) => void exits.push(code),
  } as unknown as Platform;
  const signal = (name: Signal) => signals.get(name)!();
  return { platform, clock, threads, signal, lines, exits };
}

/** Lets the supervisor's promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

test("workers: each thread is told its index, the count, the program's arguments and the process's start", () => {
  const { platform, threads, lines } = fakePlatform();
  void superviseWorkers(platform, config(3));
  assert.equal(threads.length, 3);
  assert.deepEqual(threads.map((thread) => thread.commands[0]), [0, 1, 2].map((index) => ({
    type: "start",
    index,
    count: 3,
    args: ["serve", "--config", "tandem.yaml"],
    startTime: 1_700_000_000_000,
  })));
  assert.equal(lines.at(-1)?.event, "workers-started");
});

test("workers: SIGHUP reaches every worker; SIGTERM too, and the process exits 0 once all have exited", async () => {
  const { platform, threads, signal, exits, lines } = fakePlatform();
  void superviseWorkers(platform, config(2));
  signal("SIGHUP");
  assert.deepEqual(threads.map((thread) => thread.signals), [["SIGHUP"], ["SIGHUP"]]);
  signal("SIGTERM");
  assert.deepEqual(threads.map((thread) => thread.signals), [["SIGHUP", "SIGTERM"], ["SIGHUP", "SIGTERM"]]);
  threads[0].exit(0);
  await settle();
  assert.deepEqual(exits, [], "waits for the last worker");
  threads[1].exit(0);
  await settle();
  assert.deepEqual(exits, [0]);
  assert.equal(lines.at(-1)?.event, "workers-stopped");
  assert.ok(threads.every((thread) => thread.terminated));
});

test("workers: a second SIGTERM is forwarded (workers force their exit); a non-zero worker exit makes the process exit 1", async () => {
  const { platform, threads, signal, exits } = fakePlatform();
  void superviseWorkers(platform, config(2));
  signal("SIGTERM");
  signal("SIGTERM");
  assert.deepEqual(threads[1].signals, ["SIGTERM", "SIGTERM"]);
  threads[0].exit(0);
  threads[1].exit(1);
  await settle();
  assert.deepEqual(exits, [1]);
});

test("workers: a worker that does not exit within drainTimeout + 5 s is terminated and the process exits 1", async () => {
  const { platform, clock, threads, signal, exits, lines } = fakePlatform();
  void superviseWorkers(platform, config(2, "10s"));
  signal("SIGTERM");
  threads[0].exit(0);
  clock.advance(14_999);
  await settle();
  assert.deepEqual(exits, []);
  clock.advance(1);
  await settle();
  assert.deepEqual(exits, [1]);
  assert.ok(threads[1].terminated);
  assert.equal(lines.at(-1)?.terminated, true);
});

test("workers: a crashed worker restarts after 1 s, then 2 s, 4 s… capped at 30 s, and after 60 s of service at 1 s again", () => {
  const { platform, clock, threads, lines } = fakePlatform();
  void superviseWorkers(platform, config(2));
  const delays: number[] = [];
  for (let crash = 0; crash < 7; crash++) {
    threads.at(-1)!.serve();
    threads.at(-1)!.crash("boom");
    const exited = lines.at(-1)!;
    assert.equal(exited.event, "worker-exited");
    delays.push(exited.restartInMs as number);
    const before = threads.length;
    clock.advance((exited.restartInMs as number) - 1);
    assert.equal(threads.length, before, "not before the delay");
    clock.advance(1);
    assert.equal(threads.length, before + 1);
    assert.deepEqual(threads.at(-1)!.commands[0], { type: "start", index: 1, count: 2, args: platform.args, startTime: platform.startTime });
  }
  assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  threads.at(-1)!.serve();
  clock.advance(60_000);
  threads.at(-1)!.exit(0);
  assert.equal(lines.at(-1)!.restartInMs, 1_000);
  assert.equal(lines.at(-1)!.worker, 1);
});

test("workers: no restart once stopping, and a crash report after an exit report counts once", async () => {
  const { platform, clock, threads, signal, exits } = fakePlatform();
  void superviseWorkers(platform, config(1));
  threads[0].serve();
  threads[0].exit(0);
  threads[0].crash("after exit");
  signal("SIGTERM");
  await settle();
  assert.deepEqual(exits, [0], "the worker waiting for its restart had nothing to drain");
  clock.advance(60_000);
  assert.equal(threads.length, 1);
});

test("worker side: forwarded signals reach the handlers serve registered; exit reports and unwinds", async () => {
  const reports: WorkerReport[] = [];
  let closed = false;
  let inner: Platform | undefined;
  let finished: () => void;
  const ran = new Promise<void>((resolve) => (finished = resolve));
  const base = { runtime: "fake", args: [], stderr: () => {} } as unknown as Platform;
  const handle = workerThreadHandler(base, { report: (report) => reports.push(report), close: () => (closed = true) }, async (platform) => {
    inner = platform;
    await new Promise<void>((resolve) => platform.onSignal("SIGTERM", resolve));
    try {
      platform.exit(3);
    } finally {
      finished();
    }
  });
  handle({ type: "start", index: 1, count: 2, args: ["serve"], startTime: 1_700_000_000_000 });
  assert.deepEqual(inner?.worker, { index: 1, count: 2 });
  assert.deepEqual(inner?.args, ["serve"]);
  assert.equal(inner?.startTime, 1_700_000_000_000, "the process's start, not the thread's");
  handle({ type: "signal", signal: "SIGHUP" });
  assert.deepEqual(reports, [], "no handler for SIGHUP: nothing happens");
  handle({ type: "signal", signal: "SIGTERM" });
  await ran;
  await settle();
  assert.deepEqual(reports, [{ type: "exit", code: 3 }]);
  assert.ok(closed);
});

test("worker side: a signal forwarded before main registered its handler reaches it once registered, once", async () => {
  const base = { runtime: "fake", args: [], stderr: () => {} } as unknown as Platform;
  let registerNow: () => void;
  const registering = new Promise<void>((resolve) => (registerNow = resolve));
  const seen: string[] = [];
  const handle = workerThreadHandler(base, { report: () => {}, close: () => {} }, async (platform) => {
    await registering;
    platform.onSignal("SIGTERM", () => seen.push("SIGTERM"));
    platform.onSignal("SIGUSR1", () => seen.push("SIGUSR1"));
  });
  handle({ type: "start", index: 1, count: 2, args: ["serve"], startTime: 0 });
  handle({ type: "signal", signal: "SIGTERM" });
  assert.deepEqual(seen, [], "no handler yet");
  registerNow!();
  await settle();
  assert.deepEqual(seen, ["SIGTERM"], "the early SIGTERM is delivered; SIGUSR1 never came");
  handle({ type: "signal", signal: "SIGTERM" });
  assert.deepEqual(seen, ["SIGTERM", "SIGTERM"], "later ones as before");
});

test("worker side: a worker whose main fails reports exit 1 instead of dying silently", async () => {
  const reports: WorkerReport[] = [];
  const errors: string[] = [];
  const base = { runtime: "fake", args: [], stderr: (line: string) => errors.push(line) } as unknown as Platform;
  const handle = workerThreadHandler(base, { report: (report) => reports.push(report), close: () => {} }, () => Promise.reject(new Error("cannot listen")));
  handle({ type: "start", index: 0, count: 2, args: [], startTime: 0 });
  await settle();
  assert.deepEqual(reports, [{ type: "exit", code: 1, reason: "cannot listen" }]);
  assert.match(errors[0], /worker 0: .*cannot listen/);
});

test("worker side: started once main is done; an exit before it carries what the worker printed", async () => {
  const reports: WorkerReport[] = [];
  const base = { runtime: "fake", args: [], stderr: () => {} } as unknown as Platform;
  const failing = workerThreadHandler(base, { report: (report) => reports.push(report), close: () => {} }, async (platform) => {
    platform.stderr("listeners[0]: cannot listen on 127.0.0.1:80: in use");
    platform.exit(1);
  });
  failing({ type: "start", index: 0, count: 2, args: [], startTime: 0 });
  await settle();
  assert.deepEqual(reports, [{ type: "exit", code: 1, reason: "listeners[0]: cannot listen on 127.0.0.1:80: in use" }]);
  reports.length = 0;
  const serving = workerThreadHandler(base, { report: (report) => reports.push(report), close: () => {} }, () => Promise.resolve());
  serving({ type: "start", index: 1, count: 2, args: [], startTime: 0 });
  await settle();
  assert.deepEqual(reports, [{ type: "started" }]);
});

test("workers: a worker that fails before it served stops the process: one fatal line with its reason, no restart", () => {
  const { platform, clock, threads, lines, exits } = fakePlatform();
  void superviseWorkers(platform, config(3));
  threads[0].serve();
  threads[2].exit(1, "listeners[0]: cannot listen on 127.0.0.1:8080: in use");
  assert.deepEqual(exits, [1]);
  const fatal = lines.filter((line) => line.event === "fatal");
  assert.deepEqual(fatal.map((line) => [line.worker, line.code, line.reason]), [[2, 1, "listeners[0]: cannot listen on 127.0.0.1:8080: in use"]]);
  assert.ok(threads.every((thread) => thread.terminated), "the other workers are stopped");
  clock.advance(60_000);
  assert.equal(threads.length, 3, "nothing restarts");
  assert.equal(lines.filter((line) => line.event === "worker-exited").length, 0);
});

test("config: workers > 1 with a port-0 listener is refused with the reason", () => {
  const result = validateConfig({
    workers: 2,
    listeners: [{ address: "127.0.0.1:0" }],
    pools: { web: { members: [{ name: "a", url: "http://127.0.0.1:9000" }] } },
  });
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.problems.some((problem) => problem.path === "listeners[0].address" && /fixed port/.test(problem.expected)));
});
