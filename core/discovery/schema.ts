/**
 * A pool's `discover` block: members from DNS (HAProxy `server-template` with `resolvers`, nginx
 * `server … resolve`). The name is re-resolved on a timer and members come and go with its records.
 *
 * @module
 */
import * as v from "valibot";
import { duration } from "../config/fields.ts";

export const RECORD_TYPES = ["a", "aaaa", "srv"] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

const hostName = v.pipe(
  v.string(),
  v.regex(/^(?=.{1,253}\.?$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$/, 'a DNS name such as "app.internal" or "_http._tcp.app.internal"'),
);

/** A nameserver given as an IP address, with an optional port (53). */
const nameserver = v.pipe(
  v.string(),
  v.regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$/, 'a nameserver IP address such as "10.0.0.2", "10.0.0.2:5353" or "[fd00::2]:53"'),
);

export const DiscoverSchema = v.pipe(
  v.strictObject({
    /** The name to resolve: a host for `a`/`aaaa`, the service name (`_http._tcp.app.internal`) for `srv`. */
    name: hostName,
    type: v.optional(v.picklist(RECORD_TYPES), "a"),
    /** The members' port for `a`/`aaaa` records (SRV records carry their own). */
    port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))),
    scheme: v.optional(v.picklist(["http", "https"]), "http"),
    /** Members from DNS at most (HAProxy `server-template`'s count); more records than this are left out. */
    servers: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)), 16),
    /** Weight of each member from `a`/`aaaa` records (SRV records carry their own). */
    weight: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(256)), 1),
    /** Time between resolutions; the records' TTL when it is lower (never under 1 s). */
    interval: duration("5s", 1000),
    /** One query's wait for an answer from one nameserver. */
    timeout: duration("2s", 1),
    hold: v.optional(
      v.strictObject({
        /** Nameservers do not answer (timeout, SERVFAIL, REFUSED): the last good answer stands this long (HAProxy `hold valid`). */
        valid: duration("10s"),
        /** The name does not exist (NXDOMAIN) or has no such records: the last good answer stands this long (HAProxy `hold nx`). */
        nx: duration("30s"),
      }),
      {},
    ),
    /** A member whose record is gone drains (no new sessions, its sessions still served) this long, then leaves the pool. */
    removeAfter: duration("30s"),
    /** Default: the `nameserver` lines of /etc/resolv.conf. */
    nameservers: v.optional(v.pipe(v.array(nameserver), v.minLength(1, "at least one nameserver"))),
  }),
  v.forward(
    v.check((discover) => discover.type === "srv" || discover.port !== undefined, "a port for a/aaaa records (SRV records carry their own)"),
    ["port"],
  ),
  v.forward(
    v.check((discover) => discover.type !== "srv" || discover.port === undefined, "no port with srv: the records carry it"),
    ["port"],
  ),
);

export type DiscoverConfig = v.InferOutput<typeof DiscoverSchema>;
