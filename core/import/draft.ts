/**
 * The tandem config an import builds, key by key, remembering for each key the directive(s) it
 * came from, so the YAML written at the end quotes them beside it (`strategy: leastconn # haproxy.cfg:31
 * balance leastconn`). Paths are arrays of keys and indices: `["pools", "app", "members", 0, "url"]`.
 *
 * @example
 * ```ts
 * const draft = new Draft();
 * draft.set(["pools", "app", "strategy"], "leastconn", origin);
 * draft.toYaml(); // "pools:\n  app:\n    strategy: leastconn # haproxy.cfg:31 balance leastconn\n"
 * ```
 * @module
 */
import { Document, isCollection, isNode, isScalar } from "yaml";
import type { Origin } from "./report.ts";

export type Path = readonly (string | number)[];

export class Draft {
  /** The config as tandem reads it (before defaults). */
  readonly config: Record<string, unknown> = {};
  readonly #origins = new Map<string, Origin[]>();

  /** Sets the value at `path`, creating the objects and arrays on the way; `origin` is quoted beside it. */
  set(path: Path, value: unknown, origin?: Origin): void {
    if (path.length === 0) throw new Error("Draft.set: an empty path");
    let node = this.config as Record<string | number, unknown>;
    path.slice(0, -1).forEach((key, index) => {
      if (node[key] === undefined || node[key] === null) node[key] = typeof path[index + 1] === "number" ? [] : {};
      node = node[key] as Record<string | number, unknown>;
    });
    node[path[path.length - 1]] = value;
    if (origin) this.cite(path, origin);
  }

  /** The value at `path`, or undefined. */
  get(path: Path): unknown {
    let node: unknown = this.config;
    for (const key of path) {
      if (node === undefined || node === null || typeof node !== "object") return undefined;
      node = (node as Record<string | number, unknown>)[key];
    }
    return node;
  }

  /** Quotes `origin` beside the key at `path` (which may be set later). */
  cite(path: Path, origin: Origin): void {
    const key = JSON.stringify(path);
    const origins = this.#origins.get(key) ?? [];
    if (!origins.some((o) => o.file === origin.file && o.line === origin.line)) origins.push(origin);
    this.#origins.set(key, origins);
  }

  /** YAML with a comment per cited key: beside a scalar, above a map or a list item. */
  toYaml(header?: string): string {
    const document = new Document(this.config);
    for (const [key, origins] of this.#origins) {
      const path = JSON.parse(key) as (string | number)[];
      const node = document.getIn(path, true);
      if (!isNode(node)) continue;
      const text = origins.map((origin) => `${_basename(origin.file)}:${origin.line} ${origin.text.trim()}`).join("; ");
      if (isScalar(node)) node.comment = ` ${text}`;
      else if (isCollection(node)) node.commentBefore = [node.commentBefore, ` ${text}`].filter(Boolean).join("\n");
    }
    if (header) document.commentBefore = header.split("\n").map((line) => ` ${line}`).join("\n");
    return document.toString({ lineWidth: 0 });
  }
}

function _basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
