/**
 * The embedded demo's backend: a tiny Tomcat-like session app. It issues `JSESSIONID=<id>.<route>`
 * (the jvmRoute convention), counts requests per session and says who served them, so a curl loop
 * shows stickiness at a glance.
 *
 * @module
 */
import { parseCookieHeader } from "../sticky/cookies.ts";

/** A fetch handler for one demo backend named `name` with jvmRoute `route`. */
export function createSessionApp(name: string, route: string): (request: Request) => Response {
  const sessions = new Map<string, number>();
  return (request) => {
    const suffix = `.${route}`;
    const cookie = parseCookieHeader(request.headers.get("cookie")).find(([key, value]) =>
      key === "JSESSIONID" && value.endsWith(suffix) && sessions.has(value.slice(0, -suffix.length))
    );
    const headers = new Headers();
    let id: string;
    if (cookie) {
      id = cookie[1].slice(0, -suffix.length);
    } else {
      // A session from another node (failover) is not known here: start a new one, as Tomcat does.
      id = crypto.randomUUID().replace(/-/g, "").slice(0, 16).toUpperCase();
      headers.append("set-cookie", `JSESSIONID=${id}${suffix}; Path=/; HttpOnly; SameSite=Lax`);
    }
    const count = (sessions.get(id) ?? 0) + 1;
    sessions.set(id, count);
    const session = `${id}${suffix}`;
    if ((request.headers.get("accept") ?? "").includes("application/json")) {
      headers.set("content-type", "application/json");
      return new Response(JSON.stringify({ backend: name, session, count }) + "\n", { headers });
    }
    headers.set("content-type", "text/plain; charset=utf-8");
    return new Response(`Hello from ${name} (session ${session}, request #${count})\n`, { headers });
  };
}
