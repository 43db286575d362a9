/**
 * The runtime's socket and process ports over loopback: UDP (unicast, multicast), TCP and
 * mutual-TLS listeners with the connect adapter as client, and runCommand.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { ConnectOptions, RemoteAddress, StreamConnection, StreamListener } from "../../core/ports.ts";
import { makeCertificates } from "../support/certs.ts";
import { bindDatagram, connect, listenStream, runCommand, runtime } from "../support/runtime-connect.ts";
import { eventually, progressStopped, sleep } from "../support/waiting.ts";

const text = (data: Uint8Array) => new TextDecoder().decode(data);
const bytes = (value: string) => new TextEncoder().encode(value);
const MiB = 1024 * 1024;

/** A byte that depends on its position in the stream, so lost, repeated or reordered bytes show. */
const patternByte = (position: number) => (position * 7 + (position >> 16)) % 251;

function pattern(offset: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = patternByte(offset + i);
  return data;
}

/** Writes `total` bytes of the pattern in `chunk`-sized writes, waiting whenever write asks to; `sent` tracks progress. */
async function writePattern(connection: StreamConnection, total: number, chunk: number, sent: { bytes: number } = { bytes: 0 }) {
  while (sent.bytes < total) {
    const length = Math.min(chunk, total - sent.bytes);
    await connection.write(pattern(sent.bytes, length));
    sent.bytes += length;
  }
}

/** Reads exactly `total` bytes, checking each against the pattern, pausing 1 ms after each chunk of the first `slowBytes`. */
async function readPattern(connection: StreamConnection, total: number, slowBytes = 0): Promise<void> {
  let received = 0;
  while (received < total) {
    const chunk = await connection.read();
    if (chunk === null) throw new Error(`the stream ended after ${received} of ${total} bytes`);
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== patternByte(received + i)) throw new Error(`byte ${received + i} is ${chunk[i]}, expected ${patternByte(received + i)}`);
    }
    received += chunk.length;
    if (received < slowBytes) await sleep(1);
  }
  assert.equal(received, total, "no bytes beyond the end");
}

/** A listener whose accepted connections (with their remote address) queue up for the test. */
async function acceptingListener(tls?: { cert: string; key: string; caCerts: string[] }) {
  const accepted: { connection: StreamConnection; remote: RemoteAddress }[] = [];
  const listener = await listenStream({ hostname: "127.0.0.1", port: 0, tls }, (connection, remote) => accepted.push({ connection, remote }));
  const next = () => eventually(() => accepted.shift(), 5000, "an accepted connection");
  return { listener, accepted, next };
}

/**
 * Both sides write more than the kernel's socket buffers can take (tcp_rmem may grow to 32 MiB)
 * while neither reads: the writers must be held back, not buffered in memory; then each reader
 * reads, slowly at first, and every byte arrives in order.
 */
async function checkBackpressure(tls?: { server: { cert: string; key: string; caCerts: string[] }; client: ConnectOptions["tls"] }) {
  const { listener, next } = await acceptingListener(tls?.server);
  await closing(listener, async () => {
    const client = await connect({ hostname: "127.0.0.1", port: listener.port, tls: tls?.client });
    const { connection: server } = await next();
    try {
      const total = 96 * MiB;
      const sides = [{ writer: client, reader: server, sent: { bytes: 0 } }, { writer: server, reader: client, sent: { bytes: 0 } }];
      const writing = sides.map(({ writer, sent }) => writePattern(writer, total, 1 * MiB, sent));
      // Held back: both writers stop taking bytes. A writer that buffered in memory would go on to
      // take all of them, so where they stop is the check, however long a busy machine takes to get there.
      const heldAt = await progressStopped(sides.map(({ sent }) => () => sent.bytes), total, "the writers to stop taking bytes");
      for (const held of heldAt) assert.ok(held < total / 2, `a writer was held back (${held} of ${total} bytes taken while nobody read)`);
      await Promise.all([...writing, ...sides.map(({ reader }) => readPattern(reader, total, 4 * MiB))]);
      client.close();
      assert.equal(await server.read(), null);
    } finally {
      client.close();
      server.close();
    }
  });
}

async function closing<T>(listener: StreamListener, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    listener.close();
  }
}

describe(`${runtime} UDP sockets`, () => {
  test("unicast: datagrams up to 1400 bytes arrive whole with the sender's address; close stops delivery", async () => {
    const received: { data: Uint8Array; from: RemoteAddress }[] = [];
    const receiver = await bindDatagram({ hostname: "127.0.0.1", port: 0 }, (data, from) => received.push({ data, from }));
    const sender = await bindDatagram({ hostname: "127.0.0.1", port: 0 }, () => {});
    let controlReceived = 0;
    const control = await bindDatagram({ hostname: "127.0.0.1", port: 0 }, () => controlReceived++);
    try {
      assert.ok(receiver.port > 0 && sender.port > 0 && receiver.port !== sender.port);
      const large = pattern(0, 1400);
      sender.send(bytes("hello"), "127.0.0.1", receiver.port);
      sender.send(large, "127.0.0.1", receiver.port);
      await eventually(() => (received.length >= 2 ? true : undefined), 5000, "two datagrams");
      // UDP does not keep order (node:dgram may even send them in another order).
      const small = received.find((datagram) => datagram.data.length === 5);
      assert.equal(text(small!.data), "hello");
      assert.deepEqual(small!.from, { address: "127.0.0.1", port: sender.port });
      assert.deepEqual(received.find((datagram) => datagram.data.length === 1400)?.data, large);

      receiver.close();
      receiver.close();
      sender.send(bytes("after close"), "127.0.0.1", receiver.port);
      // A closed socket drops what it is given, like a lost datagram.
      receiver.send(bytes("from a closed socket"), "127.0.0.1", control.port);
      // The control, sent last on the same path: once it is in, the others would be too.
      sender.send(bytes("control"), "127.0.0.1", control.port);
      await eventually(() => (controlReceived > 0 ? true : undefined), 5000, "the control datagram");
      assert.equal(received.length, 2, "the closed socket received nothing");
      assert.equal(controlReceived, 1, "nothing came from the closed socket");
    } finally {
      receiver.close();
      sender.close();
      control.close();
    }
  });

  test("multicast: a socket joined to a group on loopback receives what is sent to the group, its own datagrams too", async () => {
    const group = "239.255.77.1";
    const received: { data: string; from: RemoteAddress }[] = [];
    // Bound to the wildcard: on Linux a socket bound to a unicast address never sees group datagrams.
    const member = await bindDatagram(
      { hostname: "0.0.0.0", port: 0, multicast: { group, interfaceAddress: "127.0.0.1", ttl: 1 } },
      (data, from) => received.push({ data: text(data), from }),
    );
    const sender = await bindDatagram(
      { hostname: "127.0.0.1", port: 0, multicast: { group: "239.255.77.2", interfaceAddress: "127.0.0.1", ttl: 1 } },
      () => {},
    );
    try {
      sender.send(bytes("advert"), group, member.port);
      await eventually(() => received[0], 5000, "the group datagram");
      assert.deepEqual(received[0], { data: "advert", from: { address: "127.0.0.1", port: sender.port } });
      member.send(bytes("own advert"), group, member.port);
      await eventually(() => received[1], 5000, "the member's own datagram, looped back");
      assert.deepEqual(received[1], { data: "own advert", from: { address: "127.0.0.1", port: member.port } });
    } finally {
      member.close();
      sender.close();
    }
  });

  test("binding a port in use or joining on an address this host lacks rejects", async () => {
    const first = await bindDatagram({ hostname: "127.0.0.1", port: 0 }, () => {});
    try {
      await assert.rejects(bindDatagram({ hostname: "127.0.0.1", port: first.port }, () => {}));
      await assert.rejects(bindDatagram({ hostname: "0.0.0.0", port: 0, multicast: { group: "239.255.77.3", interfaceAddress: "192.0.2.77", ttl: 1 } }, () => {}));
    } finally {
      first.close();
    }
  });
});

describe(`${runtime} TCP listener`, () => {
  test("8 MiB each way at once, then a close on either side settles the other's read with null", async () => {
    const { listener, next } = await acceptingListener();
    await closing(listener, async () => {
      assert.equal(listener.hostname, "127.0.0.1");
      for (const closer of ["client", "server"] as const) {
        const client = await connect({ hostname: "127.0.0.1", port: listener.port });
        const { connection: server, remote } = await next();
        assert.deepEqual(remote.address, "127.0.0.1");
        assert.ok(remote.port > 0);
        const total = 8 * MiB;
        await Promise.all([
          writePattern(client, total, 256 * 1024),
          writePattern(server, total, 1 * MiB),
          readPattern(client, total),
          readPattern(server, total),
        ]);
        const [closing, other] = closer === "client" ? [client, server] : [server, client];
        const pending = other.read();
        closing.close();
        assert.equal(await pending, null, `${closer} closed: the other side reads null`);
        assert.equal(await closing.read(), null, "the closed side reads null too");
        assert.throws(() => closing.write(bytes("late")));
        closing.close();
        other.close();
      }
    });
  });

  test("backpressure: readers that do not read hold both writers back, and every byte arrives later", async () => {
    await checkBackpressure();
  });

  test("close of the listener stops accepting but leaves accepted connections open", async () => {
    const { listener, next } = await acceptingListener();
    const client = await connect({ hostname: "127.0.0.1", port: listener.port });
    const { connection: server } = await next();
    listener.close();
    listener.close();
    await assert.rejects(connect({ hostname: "127.0.0.1", port: listener.port }));
    await client.write(bytes("still here"));
    assert.equal(text((await server.read())!), "still here");
    client.close();
    server.close();
  });

  test("listening on a port in use rejects", async () => {
    const { listener } = await acceptingListener();
    await closing(listener, async () => {
      await assert.rejects(listenStream({ hostname: "127.0.0.1", port: listener.port }, () => {}));
    });
  });
});

// At the top level: Deno registers no tests that an async describe callback adds after an await.
const certs = await makeCertificates();
const pem = (path: string) => readFileSync(path, "utf8");
const ca = pem(certs.ca.cert);
const identity = (leaf: { cert: string; key: string }) => ({ cert: pem(leaf.cert), key: pem(leaf.key) });
const serverTls = { ...identity(certs.peer1), caCerts: [ca] };
const clientTls = (clientCertificate?: { cert: string; key: string }, serverName = "peer1.test") =>
  ({ serverName, caCerts: [ca], verify: true, clientCertificate });

describe(`${runtime} mutual TLS`, () => {

  test("a client with a certificate from the private CA connects and exchanges bytes both ways", async () => {
    const { listener, next } = await acceptingListener(serverTls);
    await closing(listener, async () => {
      const client = await connect({ hostname: "127.0.0.1", port: listener.port, tls: clientTls(identity(certs.peer2)) });
      const { connection: server, remote } = await next();
      assert.equal(remote.address, "127.0.0.1");
      const total = 2 * MiB;
      await Promise.all([writePattern(client, total, 64 * 1024), writePattern(server, total, 64 * 1024), readPattern(client, total), readPattern(server, total)]);
      server.close();
      assert.equal(await client.read(), null);
      client.close();
    });
  });

  test("a client without a certificate, or with one from another CA, is refused before onConnection", async () => {
    const { listener, accepted } = await acceptingListener(serverTls);
    await closing(listener, async () => {
      for (const [who, certificate] of [["no certificate", undefined], ["another CA's certificate", identity(certs.foreignPeer)]] as const) {
        // Under TLS 1.3 the client may finish its handshake before the server has judged its
        // certificate; then the refusal arrives as an alert on the first read.
        const refused = (async () => {
          const client = await connect({ hostname: "127.0.0.1", port: listener.port, tls: clientTls(certificate) });
          try {
            client.write(bytes("let me in"))?.catch(() => {});
            const answer = await client.read();
            if (answer !== null) throw new Error(`got ${answer.length} bytes`);
          } finally {
            client.close();
          }
        })();
        // Refused at connect, at the first read, or by an end without data: all fine. Data is not.
        const outcome = await refused.then(() => "ended", (error: Error) => error.message);
        assert.doesNotMatch(outcome, /^got \d+ bytes/, `${who}: the refused client was answered`);
      }
      // The control: a client with a good certificate, connected after both, is the first to reach
      // onConnection, so neither refused one got there before it.
      const client = await connect({ hostname: "127.0.0.1", port: listener.port, tls: clientTls(identity(certs.peer2)) });
      try {
        await eventually(() => accepted[0], 5000, "the good client's connection");
        await client.write(bytes("the good client"));
        assert.equal(text((await accepted[0].connection.read())!), "the good client", "onConnection was called for a refused client");
        assert.equal(accepted.length, 1);
      } finally {
        client.close();
        for (const { connection } of accepted) connection.close();
      }
    });
  });

  test("backpressure holds over TLS too, both ways", async () => {
    await checkBackpressure({ server: serverTls, client: clientTls(identity(certs.peer2)) });
  });

  test("with a client certificate the server is still verified: a wrong server name is refused", async () => {
    const { listener } = await acceptingListener(serverTls);
    await closing(listener, async () => {
      await assert.rejects(connect({ hostname: "127.0.0.1", port: listener.port, tls: clientTls(identity(certs.peer2), "peer9.test") }));
    });
  });
});

describe(`${runtime} runCommand`, () => {
  test("exit code and stdout with stderr", async () => {
    const result = await runCommand(["sh", "-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 10_000 });
    assert.equal(result.code, 3);
    assert.match(result.output, /out/);
    assert.match(result.output, /err/);
    assert.deepEqual(await runCommand(["true"], { timeoutMs: 10_000 }), { code: 0, output: "" });
  });

  test("env adds to the inherited environment", async () => {
    const result = await runCommand(["sh", "-c", 'printf "%s|%s" "$TANDEM_TEST_VALUE" "${PATH:+path}"'], { env: { TANDEM_TEST_VALUE: "a b=c" }, timeoutMs: 10_000 });
    assert.deepEqual(result, { code: 0, output: "a b=c|path" });
  });

  test("a timeout kills the program and gives code null", async () => {
    const started = Date.now();
    const result = await runCommand(["sleep", "30"], { timeoutMs: 200 });
    assert.equal(result.code, null);
    assert.match(result.output, /killed after 200 ms/);
    assert.ok(Date.now() - started < 30_000, "it did not wait for the 30 s program");
  });

  test("a program that cannot start gives code null and the reason", async () => {
    const result = await runCommand(["/nonexistent/tandem-no-such-program", "x"], { timeoutMs: 10_000 });
    assert.equal(result.code, null);
    assert.match(result.output, /tandem-no-such-program/);
  });

  test("output is cut to 4 KiB while the program still runs to its end", async () => {
    const result = await runCommand(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' a; echo done >&2; exit 4"], { timeoutMs: 10_000 });
    assert.equal(result.code, 4);
    assert.equal(new TextEncoder().encode(result.output).length, 4096);
    assert.match(result.output, /^a+$/);
  });
});
