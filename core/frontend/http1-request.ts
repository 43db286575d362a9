/**
 * The client side's HTTP/1.1 wire format: a strict request-head parser (RFC 9112, at least as
 * strict as HAProxy 2.6) and the response-head encoder. Pure functions over bytes; the server loop
 * owns the sockets.
 *
 * Strictness is the point: the members behind the balancer parse what it forwards with their own
 * parsers, and any request two parsers could read differently (two lengths, two hosts, folded or
 * padded field names) is how request smuggling starts. Whatever is not plainly valid is refused.
 *
 * ```ts
 * import { parseRequestHead } from "./http1-request.ts";
 * const bytes = new TextEncoder().encode("GET /a?b=1 HTTP/1.1\r\nHost: app.example");
 * const head = parseRequestHead(bytes, { headBytes: 16384, fields: 100, targetBytes: 8192 });
 * console.log(head.host, head.path, head.keepAlive); // app.example /a?b=1 true
 * ```
 *
 * @module
 */
import { Fields } from "../http/message.ts";
import { encodeLatin1, fieldValue, latin1 } from "../proxy/http1-parse.ts";

/** A request the server refuses: `status` and a short `reason` go into the error answer. */
export class RequestError extends Error {
  readonly code = "BAD_REQUEST";
  constructor(readonly status: number, readonly reason: string) {
    super(reason);
    this.name = "RequestError";
  }
}

export interface RequestLimits {
  /** Request line and fields together, without the final CRLFCRLF (else 431). */
  headBytes: number;
  /** Field lines (else 431). */
  fields: number;
  /** Request target (else 414). */
  targetBytes: number;
}

/** How the request body is delimited on the wire. */
export type RequestBodyFraming =
  | { readonly type: "none" }
  | { readonly type: "length"; readonly length: number }
  | { readonly type: "chunked" };

/** The facts the balancer needs from a request head, parsed once. */
export interface RequestHead {
  /** As sent (methods are case-sensitive; unknown ones are forwarded). */
  method: string;
  /** As sent on the request line. */
  target: string;
  /** Origin-form path and query: the target itself, or the path of an absolute-form target. */
  path: string;
  /** The Host field, or the authority of an absolute-form target (RFC 9112 §3.2.2). */
  host: string;
  version: "HTTP/1.0" | "HTTP/1.1";
  /** Every field line in order, names lower-cased, values without their surrounding whitespace. */
  fields: Fields;
  framing: RequestBodyFraming;
  /** The client allows another request on this connection after this one. */
  keepAlive: boolean;
  /** HTTP/1.1 with `Expect: 100-continue` (RFC 9110 §10.1.1: ignored on HTTP/1.0). */
  expectContinue: boolean;
  /** A WebSocket handshake: GET over HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`. */
  upgrade: boolean;
}

/** How the response body goes on the wire. */
export type ResponseBodyFraming =
  /** No body bytes follow (HEAD, 1xx, 204, 304); a HEAD answer's Content-Length stays as given. */
  | { readonly type: "none" }
  | { readonly type: "length"; readonly length: number }
  | { readonly type: "chunked" }
  /** HTTP/1.0 clients without a known length: the body ends when the connection closes. */
  | { readonly type: "close" };

const NO_BODY = { type: "none" } as const;
const CHUNKED = { type: "chunked" } as const;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII except "#": a fragment is never sent, and a target carrying one is malformed. */
const TARGET = /^[!"$-~]+$/;
const SUPPORTED_VERSION = /^HTTP\/1\.[01]$/;
const ANY_VERSION = /^HTTP\/[0-9]\.[0-9]$/;
/** A CTL other than HTAB, including a bare CR or LF inside a line. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const ABSOLUTE = /^https?:\/\/([^/?]*)(.*)$/i;
/**
 * RFC 3986 host [":" port]: an IP-literal (its inside left to the URL parser) or a reg-name of
 * unreserved, pct-encoded and sub-delims characters (which includes every IPv4 address). The empty
 * port RFC 3986 allows is refused: no client sends it, and it is one more spelling to agree on.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[-A-Za-z0-9._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::([0-9]{1,5}))?$/;
const LENGTH = /^[0-9]{1,15}$/;
const OWS = /^[ \t]+|[ \t]+$/g;

/** The fields the parser looks at, gathered in one pass over the field lines. */
interface _Special {
  hosts: string[];
  contentLength: number;
  transferEncodings: string[];
  close: boolean;
  keepAliveToken: boolean;
  upgradeToken: boolean;
  websocket: boolean;
  expect: string | undefined;
}

/**
 * Parses a request head without its final CRLFCRLF. Throws {@link RequestError}, and nothing else,
 * for anything it will not forward.
 */
export function parseRequestHead(bytes: Uint8Array, limits: RequestLimits): RequestHead {
  if (bytes.length > limits.headBytes) throw new RequestError(431, "request head too large");
  const text = latin1(bytes);
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd < 0) lineEnd = text.length;
  const { method, target, version } = _requestLine(text.slice(0, lineEnd), limits);
  const fields: string[] = [];
  const special: _Special = {
    hosts: [],
    contentLength: -1,
    transferEncodings: [],
    close: false,
    keepAliveToken: false,
    upgradeToken: false,
    websocket: false,
    expect: undefined,
  };
  for (let start = lineEnd + 2; start < text.length; start = lineEnd + 2) {
    lineEnd = text.indexOf("\r\n", start);
    if (lineEnd < 0) lineEnd = text.length;
    if (fields.length === limits.fields * 2) throw new RequestError(431, "too many header fields");
    const [name, value] = _fieldLine(text.slice(start, lineEnd));
    fields.push(name, value);
    _noteField(name, value, special);
  }
  const http10 = version === "HTTP/1.0";
  const { host, path } = _hostAndPath(target, special.hosts);
  const upper = method.toUpperCase();
  return {
    method,
    target,
    path,
    host,
    version,
    fields: new Fields(fields),
    framing: _framing(upper, http10, special),
    keepAlive: !special.close && (!http10 || special.keepAliveToken),
    expectContinue: !http10 && _expectsContinue(special.expect),
    upgrade: !http10 && upper === "GET" && special.websocket && special.upgradeToken,
  };
}

function _requestLine(line: string, limits: RequestLimits) {
  const firstSpace = line.indexOf(" ");
  const secondSpace = line.indexOf(" ", firstSpace + 1);
  if (firstSpace < 0 || secondSpace < 0) throw new RequestError(400, "malformed request line");
  const method = line.slice(0, firstSpace);
  const target = line.slice(firstSpace + 1, secondSpace);
  const version = line.slice(secondSpace + 1);
  if (!TOKEN.test(method)) throw new RequestError(400, "malformed method");
  if (!SUPPORTED_VERSION.test(version)) {
    if (ANY_VERSION.test(version)) throw new RequestError(505, "HTTP version not supported");
    throw new RequestError(400, "malformed HTTP version");
  }
  if (target.length > limits.targetBytes) throw new RequestError(414, "request target too long");
  if (!TARGET.test(target)) throw new RequestError(400, "malformed request target");
  // CONNECT's authority-form would make the balancer a tunnel, which it is not.
  if (method === "CONNECT") throw new RequestError(400, "CONNECT not supported");
  return { method, target, version: version as RequestHead["version"] };
}

function _fieldLine(line: string): [string, string] {
  const first = line.charCodeAt(0);
  if (first === 32 || first === 9) throw new RequestError(400, "obsolete line folding");
  const colon = line.indexOf(":");
  if (colon < 0) throw new RequestError(400, "header line without a colon");
  const name = line.slice(0, colon);
  // Whitespace before the colon fails here too (RFC 9112 §5.1 requires a 400 for it).
  if (!TOKEN.test(name)) throw new RequestError(400, "malformed header name");
  const value = fieldValue(line, colon + 1, line.length);
  if (CONTROL.test(value)) throw new RequestError(400, "control character in header value");
  return [name.toLowerCase(), value];
}

function _noteField(name: string, value: string, special: _Special): void {
  switch (name) {
    case "host":
      special.hosts.push(value);
      break;
    case "content-length":
      special.contentLength = _contentLength(value, special.contentLength);
      break;
    case "transfer-encoding":
      special.transferEncodings.push(value);
      break;
    case "connection":
      for (const token of _tokens(value)) {
        if (token === "close") special.close = true;
        else if (token === "keep-alive") special.keepAliveToken = true;
        else if (token === "upgrade") special.upgradeToken = true;
      }
      break;
    case "upgrade": {
      const protocols = _tokens(value);
      // RFC 7540's h2c upgrade through a proxy reaches the member as a tunnel (h2c smuggling).
      if (protocols.includes("h2c")) throw new RequestError(400, "h2c upgrade is not supported");
      if (protocols.includes("websocket")) special.websocket = true;
      break;
    }
    case "expect":
      special.expect = special.expect === undefined ? value : `${special.expect},${value}`;
  }
}

/**
 * Digits only, no sign, no hex, no padding inside. Repeats of the same value (in one field as a
 * list or in several fields) are accepted as RFC 9110 §8.6 and HAProxy allow; the server forwards
 * a single Content-Length, so the member never sees the repeat.
 */
function _contentLength(value: string, previous: number): number {
  let length = previous;
  for (const part of value.split(",")) {
    const digits = part.replace(OWS, "");
    if (!LENGTH.test(digits)) throw new RequestError(400, "invalid content-length");
    const parsed = Number(digits);
    if (length !== -1 && length !== parsed) throw new RequestError(400, "conflicting content-length");
    length = parsed;
  }
  return length;
}

function _tokens(value: string): string[] {
  return value.toLowerCase().split(",").map((token) => token.replace(OWS, ""));
}

function _hostAndPath(target: string, hosts: string[]): { host: string; path: string } {
  if (hosts.length === 0) throw new RequestError(400, "missing host");
  if (hosts.length > 1) throw new RequestError(400, "duplicate host");
  const field = _validHost(hosts[0]);
  if (target.charCodeAt(0) === 47) return { host: field, path: target };
  const absolute = ABSOLUTE.exec(target);
  // Asterisk-form (OPTIONS *) has no path a member could route, so it is refused like any
  // other target that is neither origin-form nor an http(s) absolute-form.
  if (!absolute) throw new RequestError(400, "unsupported request target");
  const rest = absolute[2];
  const path = rest === "" ? "/" : rest.charCodeAt(0) === 63 ? `/${rest}` : rest;
  return { host: _validHost(absolute[1]), path };
}

function _validHost(value: string): string {
  const match = HOST.exec(value);
  if (!match || (match[1] !== undefined && Number(match[1]) > 65535)) {
    throw new RequestError(400, "invalid host");
  }
  return value;
}

function _framing(upperMethod: string, http10: boolean, special: _Special): RequestBodyFraming {
  const { contentLength, transferEncodings } = special;
  let framing: RequestBodyFraming = NO_BODY;
  if (transferEncodings.length > 0) {
    if (http10) throw new RequestError(400, "transfer-encoding in an HTTP/1.0 request");
    if (contentLength !== -1) throw new RequestError(400, "both content-length and transfer-encoding");
    if (transferEncodings.length > 1) throw new RequestError(400, "duplicate transfer-encoding");
    framing = _transferCoding(transferEncodings[0]);
  } else if (contentLength > 0) {
    framing = { type: "length", length: contentLength };
  }
  // A web Request cannot carry a GET or HEAD body, and forwarding the framing without the body
  // would leave the body's bytes to be read as the next request on the member connection. The
  // Request normalises these two methods' case, so "get" counts too.
  if (framing !== NO_BODY && (upperMethod === "GET" || upperMethod === "HEAD")) {
    throw new RequestError(400, `${upperMethod} request with a body`);
  }
  return framing;
}

/**
 * Only a lone `chunked` is decoded. A list ending in chunked is valid HTTP but needs codings the
 * proxy does not implement (501); anything else leaves the body's end unknown (400).
 */
function _transferCoding(value: string): RequestBodyFraming {
  if (value.toLowerCase() === "chunked") return CHUNKED;
  const codings = _tokens(value);
  const last = codings.length - 1;
  const wellFormed = codings.every((coding, i) => TOKEN.test(coding) && (coding !== "chunked" || i === last));
  if (wellFormed && codings[last] === "chunked") throw new RequestError(501, "unsupported transfer-encoding");
  throw new RequestError(400, "invalid transfer-encoding");
}

function _expectsContinue(expect: string | undefined): boolean {
  if (expect === undefined) return false;
  if (expect.toLowerCase() !== "100-continue") throw new RequestError(417, "unsupported expectation");
  return true;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The standard reason phrase, "" for codes without one (the status line keeps its space). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "";
}

/**
 * Response head bytes, final CRLFCRLF included. The framing and connection fields come from the
 * arguments alone (the handler's Content-Length, Transfer-Encoding, Connection and Keep-Alive are
 * replaced), so the head always describes exactly the body the server writes. `connection` is
 * the Connection value to send; a close-delimited body always says close.
 */
export function encodeResponseHead(
  status: number,
  fields: Fields,
  framing: ResponseBodyFraming,
  connection?: "close" | "keep-alive",
): Uint8Array {
  // RFC 9110 §8.6: a HEAD or 304 answer may announce the length a GET would have had.
  const keepLength = framing.type === "none" && status >= 200 && status !== 204;
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  const list = fields.list;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    if (
      name === "transfer-encoding" || name === "connection" || name === "keep-alive" ||
      (name === "content-length" && !keepLength)
    ) continue;
    head += `${name}: ${list[i + 1]}\r\n`;
  }
  if (framing.type === "length") head += `content-length: ${framing.length}\r\n`;
  else if (framing.type === "chunked") head += "transfer-encoding: chunked\r\n";
  if (connection === "close" || framing.type === "close") head += "connection: close\r\n";
  else if (connection === "keep-alive") head += "connection: keep-alive\r\n";
  return encodeLatin1(`${head}\r\n`);
}
