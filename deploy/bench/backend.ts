// A minimal keep-alive HTTP backend for benchmarks: 13-byte body, no work per request.
const server = Bun.serve({ hostname: "127.0.0.1", port: Number(Bun.argv[2] ?? 0), fetch: () => new Response("hello tandem\n") });
console.log(server.port);
