/**
 * A request body as the handler reads it: decoded from Content-Length or chunked framing out of
 * the connection's buffer, and pulled on demand.
 *
 * @module
 */
import type { BodyReader } from "../http/message.ts";
import { ChunkedDecoder, ProtocolError } from "../proxy/http1-parse.ts";
import { type RequestHead, RequestError } from "./http1-request.ts";

const EMPTY = new Uint8Array(0);

/** What the body needs from its connection (the server's per-connection loop). */
export interface BodySource {
  /** Up to `max` buffered bytes (possibly none). */
  take(max: number): Uint8Array;
  /** Every buffered byte. */
  takeBuffered(): Uint8Array;
  /** Gives back bytes read past the body's end: the next request. */
  unread(bytes: Uint8Array): void;
  /** Resolves when more bytes arrived (or the connection ended). */
  awaitBody(): Promise<void>;
  /** Tells a client waiting on `Expect: 100-continue` to send. */
  sendContinue(): Promise<void>;
}

/**
 * The request body, decoded (Content-Length or chunked) and pulled on demand: nothing is read
 * before the handler asks, so a client waiting for 100 Continue is told to go on only then.
 */
export class RequestBody implements BodyReader {
  /** The body ended exactly at its framing. */
  done = false;
  /** The chunked framing broke: the client gets this, whatever the handler answered to the failed upload. */
  malformed: RequestError | undefined;
  bytesRead = 0;
  #remaining: number;
  #decoder: ChunkedDecoder | undefined;
  /** The chunk last pushed into the decoder: the bytes past the body's end are its tail. */
  #pushed: Uint8Array = EMPTY;
  #started = false;

  constructor(readonly connection: BodySource, readonly head: RequestHead) {
    const framing = head.framing;
    this.#remaining = framing.type === "length" ? framing.length : 0;
    if (framing.type === "chunked") this.#decoder = new ChunkedDecoder();
  }

  /** Rejects when the chunked framing breaks: the upstream then sees a failed upload, never a shortened one. */
  async read(): Promise<Uint8Array | null> {
    if (!this.#started) {
      this.#started = true;
      if (this.head.expectContinue) await this.connection.sendContinue();
    }
    for (;;) {
      let piece: Uint8Array | null;
      try {
        piece = this.#decoder ? this.#chunk(this.#decoder) : this.#counted();
      } catch (error) {
        if (error instanceof ProtocolError) this.malformed = new RequestError(400, error.message);
        throw error;
      }
      if (piece) {
        this.bytesRead += piece.length;
        return piece;
      }
      if (this.done) return null;
      await this.connection.awaitBody();
    }
  }

  /** Nothing to stop: unread bytes stay on the connection, which then carries no other request. */
  cancel(): void {}

  #counted(): Uint8Array | null {
    const piece = this.connection.take(this.#remaining);
    this.#remaining -= piece.length;
    if (this.#remaining === 0) this.done = true;
    return piece.length > 0 ? piece : null;
  }

  /**
   * Pushes only when the decoder has used up what it had, so the bytes past the body's end all
   * come from the last push. Malformed framing throws.
   */
  #chunk(decoder: ChunkedDecoder): Uint8Array | null {
    for (;;) {
      const piece = decoder.next();
      if (piece) return piece;
      if (decoder.done) {
        this.done = true;
        this.connection.unread(this.#pushed.subarray(this.#pushed.length - decoder.excess));
        return null;
      }
      const bytes = this.connection.takeBuffered();
      if (bytes.length === 0) return null;
      decoder.push(bytes);
      this.#pushed = bytes;
    }
  }
}
