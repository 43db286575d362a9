/**
 * Admission of received datagrams: who may speak (the peer allow-list), whether the bytes are an
 * advertisement for a virtual router this node runs, whether the key signed them, and whether
 * they are new (the last epoch and counter per sender). Every drop is counted by reason and
 * logged at most once per {@link LOG_EVERY_MS} per reason, so a flood cannot fill the log.
 *
 * Checks run cheapest first; the MAC is computed only for well-formed datagrams from allowed
 * senders for a known VRID.
 *
 * @module
 */
import type { Clock, LogSink, RemoteAddress } from "../../ports.ts";
import { type Advertisement, decodeAdvertisement, type DecodeFailure, macValid, type Trailer } from "./packet.ts";

export type DropReason = DecodeFailure | "unknown-sender" | "vrid" | "auth" | "sender-mismatch" | "replay" | "overload";

export const DROP_REASONS: readonly DropReason[] = [
  "truncated",
  "version",
  "type",
  "count",
  "checksum",
  "interval",
  "unknown-sender",
  "vrid",
  "auth",
  "sender-mismatch",
  "replay",
  "overload",
];

const LOG_EVERY_MS = 10_000;

export type Admission =
  | { ok: true; advert: Advertisement; trailer: Trailer }
  | { ok: false; reason: DropReason; vrid?: number }
  /** The node's own multicast coming back: not a drop. */
  | { ok: false; reason: "own" };

export interface ReceiverOptions {
  key: CryptoKey;
  /** This node's address: its own looped-back multicast is ignored. */
  ownAddress: string;
  /** Unicast: only these senders are heard. Undefined: anyone holding the key. */
  peers: readonly string[] | undefined;
  knownVrid: (vrid: number) => boolean;
  clock: Clock;
  log: LogSink;
}

export interface AdvertReceiver {
  admit(bytes: Uint8Array, from: RemoteAddress): Promise<Admission>;
  /** Counts (and logs) a datagram the caller had no capacity to check. */
  refuse(reason: "overload", from: RemoteAddress): void;
  /** Drops so far by reason (every reason present, 0 when none). */
  readonly drops: Readonly<Record<DropReason, number>>;
}

export function createAdvertReceiver(options: ReceiverOptions): AdvertReceiver {
  const { key, ownAddress, clock, log } = options;
  const peers = options.peers === undefined ? undefined : new Set(options.peers);
  const drops = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
  /** Per reason: when the last line was logged and how many drops it has not told of yet. */
  const logged = new Map<DropReason, { at: number; unlogged: number }>();
  /** Per authenticated sender: the newest (epoch, counter) accepted. */
  const newest = new Map<string, { epoch: number; counter: number }>();

  const drop = (reason: DropReason, from: RemoteAddress, vrid?: number): Admission => {
    drops[reason]++;
    const now = clock.now();
    const state = logged.get(reason);
    if (state === undefined || now - state.at >= LOG_EVERY_MS) {
      log({ event: "vrrp-drop", reason, from: from.address, vrid, suppressed: state?.unlogged ?? 0 });
      logged.set(reason, { at: now, unlogged: 0 });
    } else {
      state.unlogged++;
    }
    return { ok: false, reason, vrid };
  };

  return {
    drops,
    refuse: (reason, from) => void drop(reason, from),
    async admit(bytes, from) {
      if (from.address === ownAddress) return { ok: false, reason: "own" };
      if (peers !== undefined && !peers.has(from.address)) return drop("unknown-sender", from);
      const decoded = decodeAdvertisement(bytes);
      if (!decoded.ok) return drop(decoded.reason, from);
      const { advert, trailer } = decoded;
      if (!options.knownVrid(advert.vrid)) return drop("vrid", from, advert.vrid);
      if (!(await macValid(bytes, key))) return drop("auth", from, advert.vrid);
      // Signed by a key holder, but relayed from elsewhere: its counter state belongs to another sender.
      if (trailer.sender !== from.address) return drop("sender-mismatch", from, advert.vrid);
      const last = newest.get(trailer.sender);
      if (last !== undefined && (trailer.epoch < last.epoch || (trailer.epoch === last.epoch && trailer.counter <= last.counter))) {
        return drop("replay", from, advert.vrid);
      }
      newest.set(trailer.sender, { epoch: trailer.epoch, counter: trailer.counter });
      return { ok: true, advert, trailer };
    },
  };
}
