/** The Connect port of the runtime running the test. */
import type { Connect } from "../../core/ports.ts";

// A computed specifier: each runner must neither load nor type-check the other runtime's adapter.
export const runtime = (globalThis as { Deno?: unknown }).Deno !== undefined ? "deno" : "bun";
export const { connect }: { connect: Connect } = await import(`../../runtimes/${runtime}/connect.ts`);
