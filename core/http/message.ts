/**
 * The compact HTTP message the balancer works on, whichever front end the request came through:
 * a field list parsed once (no `Headers` copies), a body pulled piece by piece (no web streams),
 * and the few facts about the request the steps need. The socket front end builds it straight
 * from the wire; the web front end (edge, HTTP/2 and HTTP/3 later) converts Request and Response
 * to and from it in `web.ts`.
 *
 * ```ts
 * import { Fields } from "./message.ts";
 * const fields = new Fields(["host", "app.example", "cookie", "a=1"]);
 * fields.append("x-forwarded-for", "192.0.2.7");
 * console.log(fields.get("cookie")); // a=1
 * ```
 *
 * @module
 */

/**
 * What the steps do with a message's fields. `Headers` has the same shape, so a sticky mode or
 * header rule written against it takes either.
 */
export interface FieldMap {
  get(name: string): string | null;
  has(name: string): boolean;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  getSetCookie(): string[];
}

/**
 * A message's field lines in the order they came, names lower-cased (as `Headers` gives them and
 * as HAProxy sends them), values as they came. Several lines of one name stay several lines: each
 * Set-Cookie keeps its own, and a member sees the client's lines as the client sent them.
 */
export class Fields implements FieldMap {
  /** name, value, name, value, … */
  readonly #list: string[];

  /** `list` alternates lower-case names and values; the Fields owns it from here on. */
  constructor(list: string[] = []) {
    this.#list = list;
  }

  /** The fields of any `Headers`-like iterable (names lower-cased). */
  static of(entries: Iterable<[string, string]>): Fields {
    const list: string[] = [];
    for (const [name, value] of entries) list.push(name.toLowerCase(), value);
    return new Fields(list);
  }

  /** name, value, name, value, … for writing a head; not to be changed. */
  get list(): readonly string[] {
    return this.#list;
  }

  /** Every line of `name` joined as one value (`; ` for Cookie, RFC 9113 §8.2.3; `, ` for the rest). */
  get(name: string): string | null {
    const list = this.#list;
    const lower = name.toLowerCase();
    let value: string | null = null;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] !== lower) continue;
      value = value === null ? list[i + 1] : `${value}${lower === "cookie" ? "; " : ", "}${list[i + 1]}`;
    }
    return value;
  }

  has(name: string): boolean {
    const list = this.#list;
    const lower = name.toLowerCase();
    for (let i = 0; i < list.length; i += 2) if (list[i] === lower) return true;
    return false;
  }

  /** Replaces every line of `name` with one, where the first one was (at the end when there was none). */
  set(name: string, value: string): void {
    const list = this.#list;
    const lower = name.toLowerCase();
    let i = 0;
    while (i < list.length && list[i] !== lower) i += 2;
    if (i === list.length) {
      list.push(lower, value);
      return;
    }
    list[i + 1] = value;
    this.#deleteFrom(lower, i + 2);
  }

  append(name: string, value: string): void {
    this.#list.push(name.toLowerCase(), value);
  }

  delete(name: string): void {
    this.#deleteFrom(name.toLowerCase(), 0);
  }

  /** Removes every line whose name is in `names` (lower case), in one pass. */
  deleteAll(names: ReadonlySet<string>): void {
    const list = this.#list;
    let kept = 0;
    while (kept < list.length && !names.has(list[kept])) kept += 2;
    for (let i = kept; i < list.length; i += 2) {
      if (names.has(list[i])) continue;
      list[kept] = list[i];
      list[kept + 1] = list[i + 1];
      kept += 2;
    }
    list.length = kept;
  }

  getSetCookie(): string[] {
    const list = this.#list;
    const lines: string[] = [];
    for (let i = 0; i < list.length; i += 2) if (list[i] === "set-cookie") lines.push(list[i + 1]);
    return lines;
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    const list = this.#list;
    for (let i = 0; i < list.length; i += 2) yield [list[i], list[i + 1]];
  }

  #deleteFrom(lower: string, start: number): void {
    const list = this.#list;
    let kept = start;
    while (kept < list.length && list[kept] !== lower) kept += 2;
    if (kept === list.length) return;
    for (let i = kept; i < list.length; i += 2) {
      if (list[i] === lower) continue;
      list[kept] = list[i];
      list[kept + 1] = list[i + 1];
      kept += 2;
    }
    list.length = kept;
  }
}

/**
 * A body pulled one piece at a time. Each `read` waits for the next piece (backpressure is the
 * reader not asking); a body that breaks rejects.
 */
export interface BodyReader {
  /** The next piece, never empty; null at the end. */
  read(): Promise<Uint8Array | null>;
  /** The reader stops before the end: whatever feeds the body may stop too (`reason`: why, where the reader knows). */
  cancel(reason?: unknown): void;
  /** Bytes handed out so far, where the reader counts them (the socket front end's request bodies, chunked ones too). */
  readonly bytesRead?: number;
}

/**
 * How a request body goes to a member: `length` bytes, chunked (-1), or no body at all (null).
 * The framing fields on the wire come from here alone, never from the request's own fields.
 */
export type RequestFraming = number | null;

/**
 * What the balancer's waits listen to for a client that leaves: the part of `AbortSignal` they
 * use, so a web Request's own signal serves as it is.
 */
export interface ClientSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * A {@link ClientSignal} at a fraction of an AbortController's cost (measured on Bun: 3 µs of
 * CPU per proxied request between them), made by the socket front end for every request.
 */
export class ClientAbort implements ClientSignal {
  aborted = false;
  /** Nearly always one listener at a time: the wait in progress. */
  #listener: (() => void) | undefined;
  #others: (() => void)[] | undefined;

  addEventListener(_type: "abort", listener: () => void): void {
    if (this.#listener === undefined) this.#listener = listener;
    else (this.#others ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    if (this.#listener === listener) this.#listener = undefined;
    else if (this.#others) {
      const index = this.#others.indexOf(listener);
      if (index >= 0) this.#others.splice(index, 1);
    }
  }

  /** Runs every listener once. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const first = this.#listener;
    const others = this.#others;
    this.#listener = this.#others = undefined;
    first?.();
    if (others) for (const listener of others) listener();
  }
}

/** A client's request as a front end hands it to the balancer. */
export interface ClientRequest {
  /** As sent (methods are case-sensitive). */
  method: string;
  /** Origin-form path and query, normalised as a URL parser would (dot segments resolved). */
  target: string;
  /** The target's authority (Host, or an absolute-form target's), lower-cased and checked. */
  host: string;
  /** The fields as the client sent them, bar those the front end answered itself (Expect). */
  fields: Fields;
  body: BodyReader | null;
  framing: RequestFraming;
  /** A WebSocket handshake (GET, `Upgrade: websocket`, `Connection: upgrade`). */
  webSocket: boolean;
  /** Aborts when the client leaves before its answer is written. */
  signal: ClientSignal;
  /** `HTTP/1.1` or `HTTP/1.0` from the request line; undefined on the web front end, where the runtime does not say. */
  version?: string;
}

/**
 * An answer as the balancer gives it back, or a member gave it: a body that came whole is bytes
 * (one write, no reader), a longer one is read piece by piece.
 */
export interface Answer {
  status: number;
  fields: Fields;
  body: Uint8Array | BodyReader | null;
}

/** The path of an origin-form target, without its query. */
export function pathOf(target: string): string {
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

/** The host of an authority without its port (`[::1]:8080` → `[::1]`). */
export function hostnameOf(authority: string): string {
  if (authority.startsWith("[")) return authority.slice(0, authority.indexOf("]") + 1);
  const colon = authority.lastIndexOf(":");
  return colon === -1 ? authority : authority.slice(0, colon);
}

const encoder = new TextEncoder();

/** A short plain-text answer tandem gives by itself; `extra` alternates names and values. */
export function textAnswer(status: number, text: string, extra: string[] = []): Answer {
  const fields = new Fields(["content-type", "text/plain; charset=utf-8", "cache-control", "no-store", ...extra]);
  return { status, fields, body: encoder.encode(text) };
}
