/**
 * Runs programs with `Bun.spawn`, as the core's {@link RunCommand} port: VIP management (`ip`,
 * `arping`), VRRP trackers and notify commands. The program gets this process's environment plus
 * `env`, and SIGKILL after `timeoutMs`.
 *
 * @example
 * ```ts
 * const { code, output } = await runCommand(["ip", "addr", "add", "192.0.2.10/24", "dev", "eth0"], { timeoutMs: 5000 });
 * ```
 *
 * @module
 */
import type { Subprocess } from "bun";
import type { RunCommand } from "../../core/ports.ts";
import { CommandOutput } from "../shared/command-output.ts";

export const runCommand: RunCommand = async (argv, { env, timeoutMs }) => {
  let child: Subprocess<"ignore", "pipe", "pipe">;
  try {
    child = Bun.spawn([...argv], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (error) {
    return { code: null, output: `cannot run ${argv[0]}: ${(error as Error).message}`, cannotStart: true };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const output = new CommandOutput();
  const reading = Promise.all([output.collect(child.stdout), output.collect(child.stderr)]);
  await child.exited;
  clearTimeout(timer);
  await output.settle(reading);
  // exitCode is null when a signal ended the program.
  const note = timedOut && child.exitCode === null ? `killed after ${timeoutMs} ms` : child.signalCode ? `ended by ${child.signalCode}` : undefined;
  return { code: child.exitCode, output: output.text(note) };
};
