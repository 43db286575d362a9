/**
 * WebSocket through the real tandem process (Bun under `bun test`, Deno under `deno test`), the
 * edges README promises: a member that does not switch protocols (answers 200 or 403 instead of
 * 101) gives the client 502, and the member's 101 reaches the client unchanged, with the
 * subprotocol the member chose from the client's offer.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { farmConfig } from "../support/backends.ts";
import { onRequestHeads, rawExchange, type RawServer, startRawServer } from "../support/raw-http.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";

const LIMIT = { timeout: 30_000 };
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const accept = (key: string) => createHash("sha1").update(key + WS_GUID).digest("base64");

/** A text frame from the server (unmasked, FIN). */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("short frames only");
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

/**
 * One member whose answer to an upgrade depends on the path: `/refuse-200` and `/refuse-403`
 * answer as a plain HTTP server would, anything else switches protocols, choosing `chat.v2` when
 * the client offers it, then sends one text frame "hello <protocol>" and answers a close frame.
 */
async function startMember(): Promise<RawServer & { handshakes: string[] }> {
  const handshakes: string[] = [];
  const server = await startRawServer((socket) => {
    onRequestHeads(socket, (head) => {
      handshakes.push(head);
      const path = head.split(" ")[1];
      if (path === "/refuse-200") {
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nmember body: not a ws\n");
        return;
      }
      if (path === "/refuse-403") {
        socket.end("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\nmember body: go away\n");
        return;
      }
      const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1] ?? "";
      const offered = (/^sec-websocket-protocol:\s*(.*?)\s*$/im.exec(head)?.[1] ?? "").split(",").map((p) => p.trim());
      const chosen = offered.includes("chat.v2") ? "chat.v2" : undefined;
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept(key)}\r\n` +
          (chosen ? `Sec-WebSocket-Protocol: ${chosen}\r\n` : "") +
          "X-Member-Mark: 101-from-member\r\n\r\n",
      );
      socket.write(textFrame(`hello ${chosen ?? "none"}`));
      // From here on frames: a client's close frame gets a close frame back, so the client's close completes.
      socket.removeAllListeners("data");
      socket.on("data", (chunk: Buffer) => {
        if ((chunk[0] & 0x0f) === 8) socket.end(Buffer.from([0x88, 0]));
      });
    });
  });
  return Object.assign(server, { handshakes });
}

function handshake(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** Access records (lines with a method and a status). */
function accessRecords(tandem: TandemProcess): Record<string, unknown>[] {
  return tandem.lines.filter((line) => typeof line.method === "string" && typeof line.status === "number");
}

/** Opens a WebSocket offering `protocols` and resolves with the protocol the client agreed on and the first message. */
function openWebSocket(url: string, protocols: string[], timeoutMs = 10_000): Promise<{ protocol: string; message: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`WebSocket ${url}: no message within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.onmessage = (event) => {
      clearTimeout(timer);
      const result = { protocol: socket.protocol, message: String(event.data) };
      socket.onclose = () => resolve(result);
      socket.onerror = () => resolve(result);
      socket.close(1000, "done");
    };
    socket.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`WebSocket ${url} failed`));
    };
  });
}

/** Resolves with "error" or "open", whichever the client sees first. */
function webSocketOutcome(url: string, timeoutMs = 10_000): Promise<"open" | "error" | "timeout"> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const done = (outcome: "open" | "error" | "timeout") => {
      clearTimeout(timer);
      socket.onopen = socket.onerror = socket.onclose = null;
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(outcome);
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    socket.onopen = () => done("open");
    socket.onerror = () => done("error");
    socket.onclose = () => done("error");
  });
}

describe(`WebSocket edge cases on ${runtime}`, () => {
  test("a member that answers 200 or 403 to the upgrade gives the client 502; one that switches gives 101", LIMIT, async () => {
    const member = await startMember();
    let tandem: TandemProcess | undefined;
    try {
      tandem = await startTandem(farmConfig([{ name: "ws1", url: member.url }]));
      const port = tandem.ports[0];
      for (const refusal of ["/refuse-200", "/refuse-403"]) {
        const result = await rawExchange(port, handshake(refusal));
        assert.equal(result.response?.status, 502, `${refusal}: ${result.raw.toString("latin1").slice(0, 300)}`);
        // A status line, not the digits anywhere: the random request id may well contain "101".
        assert.doesNotMatch(result.raw.toString("latin1"), /member body|HTTP\/1\.1 101|upgrade: websocket/i, `${refusal}: nothing of the member's answer reaches the client`);
        assert.ok(member.handshakes.some((head) => head.startsWith(`GET ${refusal} `)), `${refusal}: the member saw the handshake`);
        const line = await tandem.waitForLine((l) => l.path === refusal && typeof l.status === "number");
        assert.equal(line.status, 502);
        assert.match(String(line.error), new RegExp(`answered ${refusal.slice(-3)}, not 101`));
      }
      // The browser API sees a failed handshake.
      assert.equal(await webSocketOutcome(`ws://127.0.0.1:${port}/refuse-403`), "error");

      // Control: the same tandem and member, on a path where the member switches protocols.
      const switched = await rawExchange(port, handshake("/switch"));
      assert.equal(switched.response?.status, 101, switched.raw.toString("latin1").slice(0, 300));
      assert.equal(await webSocketOutcome(`ws://127.0.0.1:${port}/switch`), "open");
      assert.deepEqual(
        accessRecords(tandem).filter((l) => String(l.path).startsWith("/refuse")).map((l) => l.status),
        [502, 502, 502],
      );
    } finally {
      await tandem?.stop("SIGKILL");
      await member.close();
    }
  });

  test("the member's 101 reaches the client unchanged, with the subprotocol it chose", LIMIT, async () => {
    const member = await startMember();
    let tandem: TandemProcess | undefined;
    try {
      tandem = await startTandem(farmConfig([{ name: "ws1", url: member.url }]));
      const port = tandem.ports[0];

      // On the wire: the client's offer reaches the member, the member's choice reaches the client.
      const result = await rawExchange(port, handshake("/chat", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n"));
      assert.equal(result.response?.status, 101, result.raw.toString("latin1").slice(0, 300));
      const headers = result.response!.headers;
      assert.equal(headers["sec-websocket-protocol"], "chat.v2");
      assert.equal(headers["sec-websocket-accept"], accept(KEY));
      assert.equal(headers["x-member-mark"], "101-from-member", "the member's own 101, not one tandem made up");
      const offer = member.handshakes.find((head) => head.startsWith("GET /chat "));
      assert.match(offer ?? "", /^sec-websocket-protocol: chat\.v1, chat\.v2$/im, "the member received the client's offer");

      // Control: without an offer the member chooses none, and none reaches the client.
      const plain = await rawExchange(port, handshake("/chat-plain"));
      assert.equal(plain.response?.status, 101);
      assert.equal(plain.response!.headers["sec-websocket-protocol"], undefined);

      // The runtime's own WebSocket client agrees on the member's choice and gets its frame.
      const opened = await openWebSocket(`ws://127.0.0.1:${port}/chat`, ["chat.v1", "chat.v2"]);
      assert.deepEqual(opened, { protocol: "chat.v2", message: "hello chat.v2" });
    } finally {
      await tandem?.stop("SIGKILL");
      await member.close();
    }
  });
});
