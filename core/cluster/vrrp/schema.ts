/**
 * The top-level `vrrp` config key: the failover agent (the keepalived role). Names follow
 * keepalived where one exists (`priority`, `advert_int`, `nopreempt`, `preempt_delay`,
 * `track_script`, `notify_master`), written the way the rest of tandem's config is.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * const vrrp = v.parse(VrrpSchema, {
 *   key: "a shared secret of 16+ chars",
 *   address: "10.0.0.11",
 *   instances: [{ name: "web", vrid: 51, interface: "eth0", virtualAddresses: ["10.0.0.100/24"] }],
 * });
 * vrrp.instances[0].advertInterval; // 1000
 * ```
 * @module
 */
import * as v from "valibot";
import { duration, durationValue } from "../../config/fields.ts";

/** UDP port of the advertisements: the RFC's number, unprivileged and unassigned by IANA. */
export const DEFAULT_VRRP_PORT = 5798;
/** The IPv4 group RFC 5798 assigns to VRRP. */
export const DEFAULT_VRRP_GROUP = "224.0.0.18";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv4 = v.pipe(v.string(), v.regex(IPV4, 'an IPv4 address such as "10.0.0.11"'));
const multicastGroup = v.pipe(
  ipv4,
  v.check((text) => Number(text.split(".")[0]) >= 224 && Number(text.split(".")[0]) <= 239, "an IPv4 multicast group (224.0.0.0/4)"),
);
const virtualAddress = v.pipe(
  v.string(),
  v.check((text) => {
    const [address, prefix, ...rest] = text.split("/");
    return rest.length === 0 && IPV4.test(address) && (prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32));
  }, 'an IPv4 address with an optional prefix length, such as "10.0.0.100/24"'),
);
const integer = (min: number, max: number) => {
  const expected = `an integer from ${min} to ${max}`;
  return v.pipe(v.number(), v.integer(expected), v.minValue(min, expected), v.maxValue(max, expected));
};
const argv = v.pipe(v.array(v.pipe(v.string(), v.minLength(1, "a non-empty string"))), v.minLength(1, "a program and its arguments"));
const name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a name of letters, digits, '.', '_' or '-'"));

/** Omitted `weight`: a failing tracker sends the instance to Fault. */
const trackWeight = v.optional(integer(1, 254));

export const TrackCommandSchema = v.strictObject({
  /** Program and arguments (no shell); exit code 0 passes. */
  argv,
  interval: duration("2s", 10),
  timeout: duration("2s", 10),
  /** Consecutive passes that make a failing tracker pass again. */
  rise: v.optional(integer(1, 100), 1),
  /** Consecutive failures that make a passing tracker fail (it starts passing, as keepalived's do). */
  fall: v.optional(integer(1, 100), 1),
  /** Lowered from the priority while failing; omitted = Fault. */
  weight: trackWeight,
});

export const TrackSchema = v.strictObject({
  /** The balancer's own readiness: every pool has a usable member (what /readyz answers). */
  readiness: v.optional(v.strictObject({ weight: trackWeight, interval: duration("500ms", 10) })),
  commands: v.optional(v.array(TrackCommandSchema), []),
});

export const NotifySchema = v.strictObject({
  master: v.optional(argv),
  backup: v.optional(argv),
  fault: v.optional(argv),
  timeout: duration("10s", 1),
});

const ADVERT_INTERVAL = "an advertisement interval from 10ms to 40.95s in whole centiseconds";

export const VrrpInstanceSchema = v.strictObject({
  name,
  vrid: integer(1, 255),
  /** 255 = the address owner (takes over at once); 0 is reserved for resigning. */
  priority: v.optional(integer(1, 255), 100),
  advertInterval: v.optional(
    v.pipe(
      durationValue(),
      v.check((ms) => ms >= 10 && ms <= 40_950 && ms % 10 === 0, ADVERT_INTERVAL),
    ),
    "1s",
  ),
  /** A higher-priority backup takes over from a lower master (keepalived's default; false = `nopreempt`). */
  preempt: v.optional(v.boolean(), true),
  /** After becoming Backup (start, end of a fault), lower masters are left alone this long. */
  preemptDelay: duration(0),
  /** Where the virtual addresses go (`ip addr add ... dev <interface>`). */
  interface: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:@-]{1,15}$/, "a network interface name such as eth0")),
  /** Added on Master, removed otherwise; empty = notify commands only (cloud APIs). */
  virtualAddresses: v.optional(v.array(virtualAddress), []),
  track: v.optional(TrackSchema, {}),
  notify: v.optional(NotifySchema, {}),
});

export const VrrpSchema = v.pipe(
  v.strictObject({
    /** HMAC-SHA256 key shared by the nodes; TANDEM_VRRP_KEY overrides it. */
    key: v.optional(v.pipe(v.string(), v.minLength(16, "a key of at least 16 characters"))),
    /** This node's IPv4 address: the source of its advertisements and its identity to peers. */
    address: ipv4,
    port: v.optional(integer(1, 65535), DEFAULT_VRRP_PORT),
    /** Multicast group, used when there are no peers. */
    multicast: v.optional(multicastGroup, DEFAULT_VRRP_GROUP),
    /** Unicast: advertisements go to each peer and only peers are heard (clouds block multicast). */
    peers: v.optional(v.pipe(v.array(ipv4), v.minLength(1, "at least one peer address (omit peers for multicast)"))),
    /**
     * With replication (`cluster`): after a start, the longest wait for the first full resync from
     * a peer before this node may preempt (0: no wait). A node that took the address back before it
     * had the session table would send known sessions to new members.
     */
    syncTimeout: duration("5s"),
    instances: v.pipe(v.array(VrrpInstanceSchema), v.minLength(1, "at least one instance")),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const problem of vrrpProblems(dataset.value)) {
      addIssue({ message: problem.expected, received: problem.received, path: problem.path.map((key) => ({ type: "unknown", origin: "value", input: dataset.value, key, value: undefined })) as never });
    }
  }),
);

export type VrrpConfig = v.InferOutput<typeof VrrpSchema>;
export type VrrpInstanceConfig = v.InferOutput<typeof VrrpInstanceSchema>;
export type TrackCommandConfig = v.InferOutput<typeof TrackCommandSchema>;

/** Rules spanning fields, as path keys (relative to `vrrp`) with what was expected. */
export function vrrpProblems(config: VrrpConfig): { path: (string | number)[]; expected: string; received: string }[] {
  const problems: { path: (string | number)[]; expected: string; received: string }[] = [];
  const seen = (values: unknown[], value: unknown, index: number) => values.indexOf(value) !== index;
  const peers = config.peers ?? [];
  peers.forEach((peer, index) => {
    if (peer === config.address) problems.push({ path: ["peers", index], expected: "another node's address, not vrrp.address", received: `"${peer}"` });
    else if (seen(peers, peer, index)) problems.push({ path: ["peers", index], expected: "a peer listed once", received: `"${peer}" again` });
  });
  const names = config.instances.map((instance) => instance.name);
  const vrids = config.instances.map((instance) => instance.vrid);
  const vips = config.instances.flatMap((instance) => instance.virtualAddresses.map((vip) => vip.split("/")[0]));
  config.instances.forEach((instance, index) => {
    if (seen(names, instance.name, index)) problems.push({ path: ["instances", index, "name"], expected: "an instance name used once", received: `"${instance.name}" again` });
    if (seen(vrids, instance.vrid, index)) problems.push({ path: ["instances", index, "vrid"], expected: "a vrid used by one instance only", received: `${instance.vrid} again` });
    instance.virtualAddresses.forEach((vip, vipIndex) => {
      const address = vip.split("/")[0];
      if (address === config.address || peers.includes(address)) {
        problems.push({ path: ["instances", index, "virtualAddresses", vipIndex], expected: "an address no node owns", received: `"${vip}" (a node's own address)` });
      } else if (vips.indexOf(address) !== vips.lastIndexOf(address) && vips.indexOf(address) !== _vipIndex(config, index, vipIndex)) {
        problems.push({ path: ["instances", index, "virtualAddresses", vipIndex], expected: "a virtual address held by one instance only", received: `"${vip}" again` });
      }
    });
  });
  return problems;
}

/** Position of an instance's virtual address in the flat list of every instance's. */
function _vipIndex(config: VrrpConfig, instanceIndex: number, vipIndex: number): number {
  return config.instances.slice(0, instanceIndex).reduce((sum, instance) => sum + instance.virtualAddresses.length, 0) + vipIndex;
}

/** Dotted-quad to an unsigned integer, for the RFC's "higher primary address wins" rule. */
export function ipv4ToNumber(address: string): number {
  return address.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
}
