/**
 * An in-memory Upstream port for balancer tests: member N listens on "port" 9000+N and answers
 * with its name, unless a test scripts it to fail. Records what each member received.
 */
import type { Upstream } from "../../core/balancer/balancer.ts";
import { validateConfig } from "../../core/config/load.ts";
import type { Config } from "../../core/config/schema.ts";
import { Fields } from "../../core/http/message.ts";
import { fromWebResponse } from "../../core/http/web.ts";
import { UpstreamError, type UpstreamRequest } from "../../core/proxy/http1-client.ts";

export type Behaviour = "ok" | "refuse" | "junk" | "timeout" | "hang" | ((request: UpstreamRequest) => Response | Promise<Response>);

export interface FakeFarm {
  upstream: Upstream;
  /** Requests received, per member name, in order. */
  received: Map<string, UpstreamRequest[]>;
  behave(member: string, behaviour: Behaviour): void;
  /** Names of members that served, in order. */
  served: string[];
  /** Every request any member received, in order. */
  requests: UpstreamRequest[];
}

export function memberUrl(index: number): string {
  return `http://127.0.0.1:${9000 + index}`;
}

export function fakeFarm(names: string[]): FakeFarm {
  const behaviours = new Map<string, Behaviour>();
  const received = new Map<string, UpstreamRequest[]>(names.map((name) => [name, []]));
  const served: string[] = [];
  const requests: UpstreamRequest[] = [];
  const upstream: Upstream = async (origin, request) => {
    const name = names[origin.port - 9000];
    const behaviour = behaviours.get(name) ?? "ok";
    if (behaviour === "refuse") throw new UpstreamError("connect-failure", false, "connection refused");
    received.get(name)!.push(request);
    requests.push(request);
    if (behaviour === "junk") throw new UpstreamError("junk-response", true, "not HTTP");
    if (behaviour === "timeout") throw new UpstreamError("response-timeout", true, "no response");
    if (behaviour === "hang") return new Promise(() => {});
    served.push(name);
    if (typeof behaviour === "function") return fromWebResponse(await behaviour(request));
    // As the HTTP/1 client hands over a small body: bytes, not a stream.
    return { status: 200, fields: new Fields(["x-member", name, "content-type", "text/plain;charset=UTF-8"]), body: new TextEncoder().encode(name) };
  };
  return { upstream, received, served, requests, behave: (member, behaviour) => behaviours.set(member, behaviour) };
}

/** A validated config for one pool "app" with `members` (names, extra fields) and pool options. */
export function poolConfig(
  members: ({ name: string } & Record<string, unknown>)[],
  pool: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): Config {
  const result = validateConfig({
    listeners: [{ address: "127.0.0.1:0" }],
    accessLog: false,
    ...top,
    pools: { app: { ...pool, members: members.map((member, index) => ({ url: memberUrl(index), ...member })) } },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}
