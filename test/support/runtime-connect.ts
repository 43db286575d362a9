/** The socket and process ports of the runtime running the test. */
import type { BindDatagram, Connect, ListenStream, RunCommand } from "../../core/ports.ts";

// A computed specifier: each runner must neither load nor type-check the other runtime's adapter.
export const runtime = (globalThis as { Deno?: unknown }).Deno !== undefined ? "deno" : "bun";
export const { connect }: { connect: Connect } = await import(`../../runtimes/${runtime}/connect.ts`);
export const { bindDatagram }: { bindDatagram: BindDatagram } = await import(`../../runtimes/${runtime}/udp.ts`);
export const { listenStream }: { listenStream: ListenStream } = await import(`../../runtimes/${runtime}/listen.ts`);
export const { runCommand }: { runCommand: RunCommand } = await import(`../../runtimes/${runtime}/command.ts`);
