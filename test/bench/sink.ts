/**
 * The upload scenario's backend: reads every request body to the end and answers with the number
 * of bytes it got. nginx cannot stand in here: `return 200` answers without reading the body, so
 * a proxy would never have to stream it.
 *
 *   bun test/bench/sink.ts 10.77.0.20 9000
 */
const [hostname, port] = Bun.argv.slice(2);
Bun.serve({
  hostname,
  port: Number(port),
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  idleTimeout: 255,
  async fetch(request) {
    let bytes = 0;
    const reader = request.body?.getReader();
    if (reader) for (let read = await reader.read(); !read.done; read = await reader.read()) bytes += read.value.byteLength;
    return new Response(`${bytes}\n`);
  },
});
console.log(`sink listening on ${hostname}:${port}`);
