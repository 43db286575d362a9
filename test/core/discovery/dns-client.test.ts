import { test } from "node:test";
import assert from "node:assert/strict";
import { createDnsClient, dnsResolverFor, nameserversOf, parseNameserver } from "../../../core/discovery/dns-client.ts";
import { DiscoverSchema } from "../../../core/discovery/schema.ts";
import * as v from "valibot";
import type { DnsRecord } from "../../../core/discovery/dns-message.ts";
import type { RecordType } from "../../../core/discovery/schema.ts";
import type { Connect } from "../../../core/ports.ts";
import { type AnswerSpec, encodeAnswer } from "../../support/dns-answer.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { MemoryDatagramNetwork } from "../../support/memory-datagrams.ts";
import { streamPair } from "../../support/memory-stream.ts";

const CLIENT = "10.0.0.9";

/** The id and question of a query, as a nameserver reads them. */
function question(query: Uint8Array): { id: number; name: string } {
  const labels: string[] = [];
  for (let offset = 12; query[offset] !== 0; offset += query[offset] + 1) {
    labels.push(new TextDecoder().decode(query.subarray(offset + 1, offset + 1 + query[offset])));
  }
  return { id: (query[0] << 8) | query[1], name: labels.join(".") };
}

/** A nameserver on `address`:53 answering every query with `answer(question)`. */
async function nameserver(network: MemoryDatagramNetwork, address: string, answer: (asked: { id: number; name: string }) => Omit<AnswerSpec, "id"> & { id?: number }) {
  const socket = await network.bindFor(address)({ hostname: address, port: 53 }, (data, from) => {
    const asked = question(data);
    socket.send(encodeAnswer({ id: asked.id, ...answer(asked) }), from.address, from.port);
  });
  return socket;
}

const a = (name: string, address: string, ttl = 30): DnsRecord => ({ type: "a", name, ttl, address });
const noTcp: Connect = () => Promise.reject(new Error("no TCP in this test"));

function client(network: MemoryDatagramNetwork, clock: FakeClock, nameservers: string[], connect: Connect = noTcp) {
  return createDnsClient({ bindDatagram: network.bindFor(CLIENT), connect, clock, nameservers: nameservers.map(parseNameserver), timeout: 1000 });
}

test("an A lookup returns the records with their TTLs; a CNAME on the way caps the TTL", async () => {
  const network = new MemoryDatagramNetwork();
  await nameserver(network, "10.0.0.2", ({ name }) => ({
    question: { name, type: "a" as RecordType },
    answers: [{ type: "cname", name, ttl: 7, target: "real.internal" }, a("real.internal", "10.1.0.5", 60), a("real.internal", "10.1.0.6", 3)],
  }));
  const lookup = await client(network, new FakeClock(), ["10.0.0.2"])("app.internal", "a");
  assert.deepEqual(lookup, { outcome: "ok", records: [a("real.internal", "10.1.0.5", 7), a("real.internal", "10.1.0.6", 3)], additional: [] });
});

test("datagrams that are not the answer (another source, another id, another question) are dropped", async () => {
  const network = new MemoryDatagramNetwork();
  const clock = new FakeClock();
  // No server answers: only the forged datagrams arrive.
  const pending = client(network, clock, ["10.0.0.2"])("app.internal", "a");
  await new Promise((resolve) => setTimeout(resolve, 0));
  const query = network.sent.find((sent) => sent.from === CLIENT)!;
  const { id } = question(query.data);
  const forged = (spec: Partial<AnswerSpec>) => encodeAnswer({ id, question: { name: "app.internal", type: "a" }, answers: [a("app.internal", "6.6.6.6")], ...spec });
  network.inject(forged({}), { address: "10.0.0.66", port: 53 }, CLIENT, 0);
  network.inject(forged({ id: id ^ 1 }), { address: "10.0.0.2", port: 53 }, CLIENT, 0);
  network.inject(forged({ question: { name: "evil.internal", type: "a" } }), { address: "10.0.0.2", port: 53 }, CLIENT, 0);
  network.inject(new Uint8Array([1, 2, 3]), { address: "10.0.0.2", port: 53 }, CLIENT, 0);
  await new Promise((resolve) => setTimeout(resolve, 0));
  network.inject(encodeAnswer({ id, question: { name: "app.internal", type: "a" }, answers: [a("app.internal", "10.1.0.5")] }), { address: "10.0.0.2", port: 53 }, CLIENT, 0);
  const lookup = await pending;
  assert.equal(lookup.outcome, "ok");
  assert.deepEqual(lookup.outcome === "ok" && lookup.records, [a("app.internal", "10.1.0.5")]);
});

test("a silent nameserver times out and the next one is asked; all silent is a timeout", async () => {
  const network = new MemoryDatagramNetwork();
  const clock = new FakeClock();
  await nameserver(network, "10.0.0.3", ({ name }) => ({ question: { name, type: "a" as RecordType }, answers: [a(name, "10.1.0.7")] }));
  const pending = client(network, clock, ["10.0.0.2", "10.0.0.3"])("app.internal", "a");
  await new Promise((resolve) => setTimeout(resolve, 0));
  clock.advance(1000);
  const lookup = await pending;
  assert.equal(lookup.outcome, "ok");

  const silent = client(network, clock, ["10.0.0.2"])("app.internal", "a");
  await new Promise((resolve) => setTimeout(resolve, 0));
  clock.advance(1000);
  assert.deepEqual(await silent, { outcome: "timeout", reason: "no answer from 10.0.0.2:53 within 1000 ms" });
});

test("NXDOMAIN and NODATA are nx; SERVFAIL and REFUSED try the next nameserver and are reported when all fail", async () => {
  const network = new MemoryDatagramNetwork();
  const clock = new FakeClock();
  await nameserver(network, "10.0.0.2", ({ name }) => ({ rcode: name.startsWith("gone") ? 3 : 2, question: { name, type: "a" as RecordType } }));
  await nameserver(network, "10.0.0.3", ({ name }) => ({ rcode: name.startsWith("empty") ? 0 : 5, question: { name, type: "a" as RecordType } }));
  const resolve = client(network, clock, ["10.0.0.2", "10.0.0.3"]);
  assert.equal((await resolve("gone.internal", "a")).outcome, "nx");
  assert.equal((await resolve("empty.internal", "a")).outcome, "nx");
  assert.deepEqual(await resolve("app.internal", "a"), { outcome: "refused", reason: "10.0.0.3:53: REFUSED for app.internal" });
  assert.equal((await client(network, clock, ["10.0.0.2"])("app.internal", "a")).outcome, "servfail");
});

test("a truncated answer is asked again over TCP, length-prefixed (RFC 7766)", async () => {
  const network = new MemoryDatagramNetwork();
  const clock = new FakeClock();
  await nameserver(network, "10.0.0.2", ({ name }) => ({ truncated: true, question: { name, type: "srv" as RecordType } }));
  const connected: string[] = [];
  const connect: Connect = ({ hostname, port }) => {
    connected.push(`${hostname}:${port}`);
    const [ours, theirs] = streamPair();
    void (async () => {
      const framed = (await theirs.read())!;
      const asked = question(framed.subarray(2));
      const answer = encodeAnswer({
        id: asked.id,
        question: { name: asked.name, type: "srv" },
        answers: [{ type: "srv", name: asked.name, ttl: 9, priority: 0, weight: 5, port: 8080, target: "tc1.internal" }],
        additional: [a("tc1.internal", "10.1.0.8")],
      });
      const reply = new Uint8Array(2 + answer.length);
      new DataView(reply.buffer).setUint16(0, answer.length);
      reply.set(answer, 2);
      // In two pieces, as TCP may deliver it.
      theirs.write(reply.subarray(0, 5));
      theirs.write(reply.subarray(5));
    })();
    return Promise.resolve(ours);
  };
  const lookup = await client(network, clock, ["10.0.0.2"], connect)("_http._tcp.app.internal", "srv");
  assert.deepEqual(connected, ["10.0.0.2:53"]);
  assert.deepEqual(lookup, {
    outcome: "ok",
    records: [{ type: "srv", name: "_http._tcp.app.internal", ttl: 9, priority: 0, weight: 5, port: 8080, target: "tc1.internal" }],
    additional: [a("tc1.internal", "10.1.0.8")],
  });
});

test("resolv.conf nameservers and configured ones parse with their ports", () => {
  assert.deepEqual(nameserversOf("# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver fd00::53 # v6\noptions ndots:2\nnameserver fe80::1%eth0\n"), [
    { address: "10.0.0.2", port: 53 },
    { address: "fd00::53", port: 53 },
    { address: "fe80::1", port: 53 },
  ]);
  assert.deepEqual(["10.0.0.2", "10.0.0.2:5353", "fd00::2", "[fd00::2]:5300"].map(parseNameserver), [
    { address: "10.0.0.2", port: 53 },
    { address: "10.0.0.2", port: 5353 },
    { address: "fd00::2", port: 53 },
    { address: "fd00::2", port: 5300 },
  ]);
});

test("without nameservers in the block, those of /etc/resolv.conf are asked, read at every lookup", async () => {
  const network = new MemoryDatagramNetwork();
  const clock = new FakeClock();
  await nameserver(network, "10.0.0.3", ({ name }) => ({ question: { name, type: "a" as RecordType }, answers: [a(name, "10.1.0.9")] }));
  let resolvConf: string | undefined = "nameserver 10.0.0.3\n";
  const read: string[] = [];
  const resolverFor = dnsResolverFor({
    bindDatagram: network.bindFor(CLIENT),
    connect: noTcp,
    clock,
    readTextFile: (path) => {
      read.push(path);
      return resolvConf === undefined ? Promise.reject(new Error("ENOENT")) : Promise.resolve(resolvConf);
    },
  });
  const resolve = resolverFor(v.parse(DiscoverSchema, { name: "app.internal", port: 80 }));
  assert.equal((await resolve("app.internal", "a")).outcome, "ok");
  resolvConf = "# nothing\n";
  assert.deepEqual(await resolve("app.internal", "a"), { outcome: "error", reason: "no nameserver line in /etc/resolv.conf" });
  resolvConf = undefined;
  assert.deepEqual(await resolve("app.internal", "a"), { outcome: "error", reason: "cannot read /etc/resolv.conf: ENOENT" });
  assert.deepEqual(read, ["/etc/resolv.conf", "/etc/resolv.conf", "/etc/resolv.conf"]);
  // Configured nameservers: the file is not read.
  await resolverFor(v.parse(DiscoverSchema, { name: "app.internal", port: 80, nameservers: ["10.0.0.3"] }))("app.internal", "a");
  assert.equal(read.length, 3);
});
