import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeAdvertisement, encodeAdvertisement, importVrrpKey, macValid, TRAILER_BYTES } from "../../../../core/cluster/vrrp/packet.ts";
import { createAdvertReceiver } from "../../../../core/cluster/vrrp/receiver.ts";
import { FakeClock } from "../../../support/fake-clock.ts";

const SECRET = "correct horse battery staple";
const advert = { vrid: 51, priority: 150, maxAdvertInterval: 100, addresses: ["10.0.0.100", "192.168.1.254"] };
const trailer = { sender: "10.0.0.11", epoch: 1_763_700_000_000, counter: 7 };

describe("VRRP advertisement codec", () => {
  test("round trip keeps the VRRPv3 layout and every field", async () => {
    const key = await importVrrpKey(SECRET);
    const bytes = await encodeAdvertisement(advert, trailer, key);
    assert.equal(bytes.length, 8 + 4 * 2 + TRAILER_BYTES);
    // Version 3, type 1, VRID, priority, count, then the 12-bit interval.
    assert.deepEqual([...bytes.subarray(0, 6)], [0x31, 51, 150, 2, 0, 100]);
    assert.deepEqual([...bytes.subarray(8, 16)], [10, 0, 0, 100, 192, 168, 1, 254]);
    const decoded = decodeAdvertisement(bytes);
    assert.deepEqual(decoded, { ok: true, advert, trailer });
    assert.equal(await macValid(bytes, key), true);
    assert.equal(await macValid(bytes, await importVrrpKey(`${SECRET}!`)), false, "another key");
  });

  test("the 12-bit interval field holds 40.95 s", async () => {
    const key = await importVrrpKey(SECRET);
    const bytes = await encodeAdvertisement({ ...advert, maxAdvertInterval: 4095, addresses: [] }, trailer, key);
    const decoded = decodeAdvertisement(bytes);
    assert.ok(decoded.ok);
    assert.equal(decoded.advert.maxAdvertInterval, 4095);
    assert.deepEqual(decoded.advert.addresses, []);
  });

  test("malformed datagrams are rejected with their reason, before any MAC", async () => {
    const key = await importVrrpKey(SECRET);
    const good = await encodeAdvertisement(advert, trailer, key);
    const edit = (change: (bytes: Uint8Array) => void) => {
      const copy = good.slice();
      change(copy);
      return copy;
    };
    const cases: [string, Uint8Array][] = [
      ["truncated", new Uint8Array(0)],
      ["truncated", good.subarray(0, 8)],
      ["truncated", good.subarray(0, good.length - 1)],
      ["version", edit((b) => (b[0] = 0x21))],
      ["type", edit((b) => (b[0] = 0x32))],
      ["truncated", edit((b) => (b[3] = 3))],
      ["count", edit((b) => (b[3] = 1))],
      ["checksum", edit((b) => (b[2] = 151))],
      ["checksum", edit((b) => (b[9] ^= 1))],
      ["count", new Uint8Array([...good, 0])],
    ];
    for (const [reason, bytes] of cases) {
      assert.deepEqual(decodeAdvertisement(bytes), { ok: false, reason }, `expected ${reason} for ${bytes.length} bytes`);
    }
    const zeroInterval = await encodeAdvertisement({ ...advert, maxAdvertInterval: 0 }, trailer, key);
    assert.deepEqual(decodeAdvertisement(zeroInterval), { ok: false, reason: "interval" });
  });

  test("a flipped bit in the trailer or the MAC fails the MAC", async () => {
    const key = await importVrrpKey(SECRET);
    const good = await encodeAdvertisement(advert, trailer, key);
    for (const offset of [16, 20, 30, good.length - 1]) {
      const copy = good.slice();
      copy[offset] ^= 0x80;
      assert.equal(decodeAdvertisement(copy).ok, true, "the structure still decodes");
      assert.equal(await macValid(copy, key), false, `offset ${offset}`);
    }
  });
});

describe("VRRP receiver: admission and drops", () => {
  const setup = async (peers?: string[]) => {
    const key = await importVrrpKey(SECRET);
    const logs: Record<string, unknown>[] = [];
    const clock = new FakeClock();
    const receiver = createAdvertReceiver({ key, ownAddress: "10.0.0.12", peers, knownVrid: (vrid) => vrid === 51, clock, log: (line) => logs.push(line) });
    const from = (address: string) => ({ address, port: 5798 });
    const signed = (fields: Partial<typeof trailer> = {}, advertFields: Partial<typeof advert> = {}, signingKey = key) =>
      encodeAdvertisement({ ...advert, ...advertFields }, { ...trailer, ...fields }, signingKey);
    return { receiver, logs, clock, from, signed };
  };

  test("accepts fresh advertisements and drops replays by (epoch, counter)", async () => {
    const { receiver, from, signed } = await setup();
    const first = await signed();
    assert.equal((await receiver.admit(first, from("10.0.0.11"))).ok, true);
    assert.deepEqual(await receiver.admit(first, from("10.0.0.11")), { ok: false, reason: "replay", vrid: 51 });
    assert.equal((await receiver.admit(await signed({ counter: 8 }), from("10.0.0.11"))).ok, true);
    assert.deepEqual(await receiver.admit(await signed({ counter: 6 }), from("10.0.0.11")), { ok: false, reason: "replay", vrid: 51 });
    // A restart: a newer epoch with the counter from 1 again is fine; the old epoch is then stale.
    assert.equal((await receiver.admit(await signed({ epoch: trailer.epoch + 5000, counter: 1 }), from("10.0.0.11"))).ok, true);
    assert.deepEqual(await receiver.admit(await signed({ counter: 100 }), from("10.0.0.11")), { ok: false, reason: "replay", vrid: 51 });
    assert.equal(receiver.drops.replay, 3);
  });

  test("every kind of bad datagram is dropped and counted by reason", async () => {
    const { receiver, from, signed } = await setup(["10.0.0.11"]);
    const good = await signed();
    const forged = good.slice();
    forged[forged.length - 5] ^= 1;
    const outcomes = [
      await receiver.admit(good, from("10.0.0.66")),
      await receiver.admit(good.subarray(0, 20), from("10.0.0.11")),
      await receiver.admit(await signed({}, { vrid: 52 }), from("10.0.0.11")),
      await receiver.admit(forged, from("10.0.0.11")),
      await receiver.admit(await signed({}, {}, await importVrrpKey("some other secret key")), from("10.0.0.11")),
      await receiver.admit(await signed({ sender: "10.0.0.13" }), from("10.0.0.11")),
    ];
    assert.deepEqual(outcomes.map((outcome) => outcome.ok ? "ok" : outcome.reason), ["unknown-sender", "truncated", "vrid", "auth", "auth", "sender-mismatch"]);
    assert.equal((await receiver.admit(good, from("10.0.0.11"))).ok, true, "the real one still passes after all that");
    assert.deepEqual(
      Object.entries(receiver.drops).filter(([, count]) => count > 0),
      [["truncated", 1], ["unknown-sender", 1], ["vrid", 1], ["auth", 2], ["sender-mismatch", 1]],
    );
  });

  test("its own looped-back multicast is ignored, not counted", async () => {
    const { receiver, from, signed } = await setup();
    assert.deepEqual(await receiver.admit(await signed({ sender: "10.0.0.12" }), from("10.0.0.12")), { ok: false, reason: "own" });
    assert.equal(Object.values(receiver.drops).reduce((a, b) => a + b, 0), 0);
  });

  test("drop logs are rate-limited per reason and say how many were left out", async () => {
    const { receiver, logs, clock, from } = await setup();
    for (let i = 0; i < 50; i++) await receiver.admit(new Uint8Array(3), from("10.0.0.11"));
    assert.equal(logs.length, 1);
    clock.advance(10_000);
    await receiver.admit(new Uint8Array(3), from("10.0.0.11"));
    assert.equal(logs.length, 2);
    assert.equal(logs[1].suppressed, 49);
    assert.equal(receiver.drops.truncated, 51);
  });
});
