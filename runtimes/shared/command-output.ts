/**
 * The output side of the runtimes' `runCommand`: stdout and stderr read side by side into one
 * buffer in the order chunks arrive, cut to {@link OUTPUT_LIMIT} bytes (the rest is read and
 * dropped so that the program never blocks on a full pipe). Web streams only, so Bun and Deno
 * share it.
 *
 * @example
 * ```ts
 * const output = new CommandOutput();
 * const reading = Promise.all([output.collect(child.stdout), output.collect(child.stderr)]);
 * await exited;
 * await output.settle(reading);
 * return { code, output: output.text() };
 * ```
 *
 * @module
 */

/** At most this many bytes of output are kept (the port's "first 4 KiB"). */
export const OUTPUT_LIMIT = 4096;

/**
 * How long output is still awaited once the program has exited: a child it left in the
 * background (`arping &`) can hold the pipes open far longer.
 */
const OUTPUT_GRACE_MS = 100;

export class CommandOutput {
  #bytes = new Uint8Array(OUTPUT_LIMIT);
  #length = 0;
  #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];

  /** Reads `stream` to its end (or until {@link settle} cancels it). */
  async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.getReader();
    this.#readers.push(reader);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const taken = Math.min(value.length, OUTPUT_LIMIT - this.#length);
        this.#bytes.set(value.subarray(0, taken), this.#length);
        this.#length += taken;
      }
    } catch {
      // Cancelled by settle, or the pipe broke: what was read so far is the output.
    }
  }

  /** Waits for `reading` (the collect calls) a short while, then stops reading. */
  async settle(reading: Promise<unknown>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([reading, new Promise((resolve) => (timer = setTimeout(resolve, OUTPUT_GRACE_MS)))]);
    clearTimeout(timer);
    await Promise.all(this.#readers.map((reader) => reader.cancel().catch(() => {})));
  }

  /** The output as text, with `note` (why the program ended) last; never over the limit. */
  text(note?: string): string {
    const suffix = note === undefined ? "" : `${this.#length > 0 ? "\n" : ""}[${note}]`;
    const room = OUTPUT_LIMIT - new TextEncoder().encode(suffix).length;
    // stream: true leaves out a character cut in half at the end instead of adding U+FFFD.
    const text = new TextDecoder().decode(this.#bytes.subarray(0, Math.min(this.#length, room)), { stream: true });
    return text + suffix;
  }
}
