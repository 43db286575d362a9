/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): reading the trace id of a
 * `traceparent` field, and starting a trace for a request that came without one, so that the
 * access line of a request and its member's spans carry the same trace id.
 *
 * ```ts
 * import { newTraceparent, traceIdOf } from "./trace-context.ts";
 * traceIdOf("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"); // "0af7651916cd43dd8448eb211c80319c"
 * traceIdOf(newTraceparent()); // 32 random hex digits
 * ```
 *
 * @module
 */

/** `version-traceid-parentid-flags`: 2 + 1 + 32 + 1 + 16 + 1 + 2 characters in version 00. */
const VERSION_00_LENGTH = 55;

/**
 * The trace id of a valid `traceparent` value, else undefined. Version 00 must be exactly that
 * long; a later version may carry more after its flags (the spec tells parsers to read the first
 * four parts). Version ff and all-zero ids are invalid.
 */
export function traceIdOf(traceparent: string | null): string | undefined {
  if (traceparent === null || traceparent.length < VERSION_00_LENGTH) return undefined;
  if (traceparent.charCodeAt(2) !== 45 || traceparent.charCodeAt(35) !== 45 || traceparent.charCodeAt(52) !== 45) return undefined;
  const version = traceparent.slice(0, 2);
  if (version === "ff" || !_isHex(traceparent, 0, 2)) return undefined;
  if (traceparent.length > VERSION_00_LENGTH && (version === "00" || traceparent.charCodeAt(VERSION_00_LENGTH) !== 45)) return undefined;
  if (!_isHex(traceparent, 3, 35) || !_isHex(traceparent, 36, 52) || !_isHex(traceparent, 53, 55)) return undefined;
  if (_isZero(traceparent, 3, 35) || _isZero(traceparent, 36, 52)) return undefined;
  return traceparent.slice(3, 35);
}

/** A new sampled `traceparent` (version 00) with random trace and parent ids. */
export function newTraceparent(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  // An all-zero id is invalid: one set bit rules it out at no cost to randomness worth having.
  bytes[0] |= 1;
  bytes[16] |= 1;
  let hex = "";
  for (const byte of bytes) hex += HEX[byte];
  return `00-${hex.slice(0, 32)}-${hex.slice(32)}-01`;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** Lower-case hex only: the spec forbids upper case. */
function _isHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false;
  }
  return true;
}

function _isZero(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) !== 48) return false;
  return true;
}
