/**
 * Runs programs with `Deno.Command`, as the core's {@link RunCommand} port: VIP management
 * (`ip`, `arping`), VRRP trackers and notify commands. The program gets this process's
 * environment plus `env`, and SIGKILL after `timeoutMs`. Needs `--allow-run`.
 *
 * @example
 * ```ts
 * const { code, output } = await runCommand(["ip", "addr", "add", "192.0.2.10/24", "dev", "eth0"], { timeoutMs: 5000 });
 * ```
 *
 * @module
 */
import type { RunCommand } from "../../core/ports.ts";
import { CommandOutput } from "../shared/command-output.ts";

export const runCommand: RunCommand = async (argv, { env, timeoutMs }) => {
  const [program, ...args] = argv;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, { args, env, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  } catch (error) {
    return { code: null, output: `cannot run ${program}: ${(error as Error).message}`, cannotStart: true };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited in the meantime.
    }
  }, timeoutMs);
  const output = new CommandOutput();
  const reading = Promise.all([output.collect(child.stdout), output.collect(child.stderr)]);
  const status = await child.status;
  clearTimeout(timer);
  await output.settle(reading);
  // Deno reports 128 + n as the code of a program ended by signal n; the port wants null.
  const code = status.signal === null ? status.code : null;
  const note = code !== null ? undefined : timedOut ? `killed after ${timeoutMs} ms` : `ended by ${status.signal}`;
  return { code, output: output.text(note) };
};
