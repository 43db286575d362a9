// The Node peer: fastify with @fastify/reply-from as a reverse proxy, the way a Node shop would
// put one in front of two app servers. It alternates between the members (round robin, no
// stickiness, no health checks: reply-from has neither), adds X-Forwarded-For, and streams
// request bodies (the catch-all content-type parser hands reply-from the raw stream).
//
//   LISTEN=10.77.0.34:8080 MEMBERS=http://10.77.0.20:8001,http://10.77.0.20:8002 \
//   SINK=http://10.77.0.20:9000 node test/bench/node-peer/proxy.mjs
import Fastify from "fastify";
import replyFrom from "@fastify/reply-from";

const [host, port] = process.env.LISTEN.split(":");
const members = process.env.MEMBERS.split(",");
const sink = process.env.SINK;

// keepAliveTimeout: hold idle client connections as long as the other proxies do (the idle-connection scenario).
const app = Fastify({ logger: false, keepAliveTimeout: 300_000, requestTimeout: 0 });
await app.register(replyFrom, { undici: { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 300_000 } });

// Every body is passed through as a stream, whatever its type (no parsing, no size limit).
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

function forwardedFor(request, headers) {
  const client = request.socket.remoteAddress;
  const previous = headers["x-forwarded-for"];
  return { ...headers, "x-forwarded-for": previous ? `${previous}, ${client}` : client };
}

let next = 0;
app.all("/upload", (request, reply) => reply.from(sink + request.url, { rewriteRequestHeaders: forwardedFor }));
app.all("/*", (request, reply) => {
  const member = members[next];
  next = (next + 1) % members.length;
  return reply.from(member + request.url, { rewriteRequestHeaders: forwardedFor });
});

await app.listen({ host, port: Number(port) });
console.log(`reply-from listening on ${host}:${port}`);
