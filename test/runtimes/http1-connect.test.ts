import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import https from "node:https";
import { systemClock } from "../../core/clock.ts";
import { connect, runtime } from "../support/runtime-connect.ts";
import { eventually, progressStopped } from "../support/waiting.ts";
import { Fields } from "../../core/http/message.ts";
import { toWebResponse } from "../../core/http/web.ts";
import { Http1Client, type Origin, UpstreamError } from "../../core/proxy/http1-client.ts";


const clock = systemClock;
const TIMEOUTS = { connect: 2000, response: 5000, idle: 5000 };

// Test-only P-256 keys, valid 2000-2099. The leaf is for DNS:backend.test and IP:127.0.0.1.
const CA = `-----BEGIN CERTIFICATE-----
MIIBZDCCAQugAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA50YW5kZW0g
dGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMDk5MTIzMTAwMDAwMFowGTEXMBUG
A1UEAwwOdGFuZGVtIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATg
Ezmqxgwfzv389ZoMQgCAm7CZVSfobLEUOcoy3xlUz0gf5PzLto8pezfs/g2GOB3H
eLmeQwxM1qAxz7JpqPFpo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQE
AwICBDAdBgNVHQ4EFgQUvg0Dg09q676wXN+GemdnOxz1G38wCgYIKoZIzj0EAwID
RwAwRAIgeypQigvSok2mstpZ/Cv0sqNSTw85axCJwqtyeZAWlAkCIBIBEPpdspap
tEuIOVWpz+mgnT/g03TOmTfQ7pHzEd4+
-----END CERTIFICATE-----
`;
const LEAF = `-----BEGIN CERTIFICATE-----
MIIBsDCCAVegAwIBAgIBAjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA50YW5kZW0g
dGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMDk5MTIzMTAwMDAwMFowFzEVMBMG
A1UEAwwMYmFja2VuZC50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5T8b
sQjo+nMO8LOR2oKypY4EA+HGEonEZ4m7mZEX1xCv33HdJm9Tcf14xkUxrxZR0U07
XlKmaG+mPba6pY/X4qOBjzCBjDAJBgNVHRMEAjAAMAsGA1UdDwQEAwIHgDATBgNV
HSUEDDAKBggrBgEFBQcDATAdBgNVHREEFjAUggxiYWNrZW5kLnRlc3SHBH8AAAEw
HQYDVR0OBBYEFIXoW2j1mejTCdodrfsH0aVS/16PMB8GA1UdIwQYMBaAFL4NA4NP
auu+sFzfhnpnZzsc9Rt/MAoGCCqGSM49BAMCA0cAMEQCIG6BPJuSB5j9LK8pMDqi
/dlcPBCH6uP/yuGQ5a+EpASVAiBxcFVlyfa9iJL7q4ZztEbK1tvtE8I6mJLAaSBI
vjnDdQ==
-----END CERTIFICATE-----
`;
const LEAF_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgR/SLaUVKboFsDj2w
hOYwQJUfownpQG2g0Evvm6YUU82hRANCAATlPxuxCOj6cw7ws5HagrKljgQD4cYS
icRnibuZkRfXEK/fcd0mb1Nx/XjGRTGvFlHRTTteUqZob6Y9trqlj9fi
-----END PRIVATE KEY-----
`;
const OTHER_CA = `-----BEGIN CERTIFICATE-----
MIIBWDCB/6ADAgECAgEDMAoGCCqGSM49BAMCMBMxETAPBgNVBAMMCG90aGVyIENB
MCAXDTAwMDEwMTAwMDAwMFoYDzIwOTkxMjMxMDAwMDAwWjATMREwDwYDVQQDDAhv
dGhlciBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABErQlH+I5Mb5iIpZLR+6
39JezQSoKGW6AW2/9A2vhpO3g+/gwJehuUT5vXLUzpwKLOsHAZDHVyQNHP/x0lsJ
IV+jQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMB0GA1UdDgQW
BBSckh8aHJjNIlJSUIQ7QDuDyD6iADAKBggqhkjOPQQDAgNIADBFAiEApXHBb5ve
iGiCZcZWMEwOI//himHo0BH+6x/DavC5XPgCIAx6QKZXfLSRIMqKfK0hRnNJX2Md
rfD/+s3+8p+ETOKY
-----END CERTIFICATE-----
`;

async function listening<T extends net.Server>(server: T): Promise<{ server: T; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** Checksum that notices lost, repeated or reordered bytes. */
function digest(data: Uint8Array, offset: number, sum: number): number {
  for (let i = 0; i < data.length; i++) sum = (sum + data[i] * ((offset + i) % 251 + 1)) % 1_000_000_007;
  return sum;
}

describe(`${runtime} connect adapter`, () => {
  test("TLS: verified against caCerts with serverName, rejected for a wrong CA or name", async () => {
    const { server, port } = await listening(https.createServer({ key: LEAF_KEY, cert: LEAF }, (req, res) => {
      res.end(`secure ${req.headers.host}`);
    }));
    const client = new Http1Client({ connect, clock });
    const get = async (tls: Origin["tls"]) =>
      toWebResponse(await client.request(
        { hostname: "127.0.0.1", port, tls },
        { method: "GET", target: "/", fields: new Fields(["host", "backend.test"]), body: null, framing: null },
        TIMEOUTS,
      ));
    try {
      const good = await get({ serverName: "backend.test", caCerts: [CA], verify: true });
      assert.equal(await good.text(), "secure backend.test");
      assert.equal(client.idleConnections, 1);
      for (const tls of [
        { serverName: "backend.test", caCerts: [OTHER_CA], verify: true },
        { serverName: "wrong.test", caCerts: [CA], verify: true },
        { serverName: "backend.test", verify: true },
      ]) {
        await assert.rejects(get(tls), (error: unknown) => {
          assert.ok(error instanceof UpstreamError);
          assert.equal(error.kind, "connect-failure", error.message);
          assert.equal(error.sent, false);
          return true;
        }, tls.serverName);
      }
      const unverified = await get({ serverName: "wrong.test", verify: false });
      assert.equal(await unverified.text(), "secure backend.test");
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("a reader that stops reading stops the socket from reading (backpressure)", async () => {
    const total = 64 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024, 3);
    let written = 0;
    const { server, port } = await listening(net.createServer((socket) => {
      socket.on("error", () => {});
      const pump = () => {
        while (written < total) {
          written += block.length;
          if (!socket.write(block)) return void socket.once("drain", pump);
        }
        socket.end();
      };
      pump();
    }));
    const conn = await connect({ hostname: "127.0.0.1", port });
    try {
      const [held] = await progressStopped([() => written], total, "the server's writes to stop");
      assert.ok(held < total / 2, `server could write ${held} bytes to a client that does not read`);
      let received = 0;
      for (let i = 0; i < 1_000_000; i++) {
        const chunk = await conn.read();
        if (chunk === null) break;
        received += chunk.length;
      }
      assert.equal(received, total);
    } finally {
      conn.close();
      conn.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("one large write to a slow reader arrives complete and in order", async () => {
    const size = 24 * 1024 * 1024 + 7;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 12)) % 256;
    let result: Promise<{ bytes: number; sum: number }> | undefined;
    const { server, port } = await listening(net.createServer((socket) => {
      result = new Promise((resolve) => {
        let bytes = 0;
        let sum = 0;
        socket.on("data", (chunk: Buffer) => {
          sum = digest(chunk, bytes, sum);
          bytes += chunk.length;
          // Reading slowly makes the client's socket report partial writes.
          socket.pause();
          setTimeout(() => socket.resume(), 1);
        });
        socket.on("end", () => {
          resolve({ bytes, sum });
          socket.end();
        });
      });
    }));
    const conn = await connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(data);
      // Every byte is with the kernel now; closing must not lose the ones still in flight.
      conn.close();
      assert.deepEqual(await (await eventually(() => result, 10_000, "the server's side of the connection")), { bytes: size, sum: digest(data, 0, 0) });
    } finally {
      conn.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("an aborted signal or a closed port rejects the connect", async () => {
    const { server, port } = await listening(net.createServer((socket) => socket.destroy()));
    await assert.rejects(connect({ hostname: "127.0.0.1", port, signal: AbortSignal.abort() }));
    await new Promise((resolve) => server.close(resolve));
    await assert.rejects(connect({ hostname: "127.0.0.1", port }));
  });
});
