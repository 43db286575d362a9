/**
 * HAProxy's `server-template` with the `resolvers` section it names, as a pool's `discover`
 * block: the FQDN (SRV when it starts with `_`, as HAProxy decides), the count as `servers`,
 * `hold valid`/`nx`/`obsolete`, `timeout resolve`/`retry` and the nameservers. Each resolvers
 * line is reported once, carried by the first template that uses its section.
 *
 * @module
 */
import { serverAddress } from "./haproxy-addresses.ts";
import type { Ledger } from "./haproxy-ledger.ts";
import { type Directive, formatDuration, parseInteger, parseTime, type Section } from "./haproxy-lex.ts";

/** Template arguments carried here or by the pool's health (check and its timings). */
const _TEMPLATE_HANDLED = new Set([
  "resolvers", "resolve-prefer", "ssl", "weight", "check", "inter", "fastinter", "downinter", "rise", "fall", "slowstart", "observe", "error-limit",
  "verify", "ca-file", "init-addr", "enabled",
]);

/** What a resolvers section comes to in a discover block. */
interface _Resolvers {
  settings: Record<string, unknown>;
  notes: string[];
}

export class HaproxyResolvers {
  readonly #sections = new Map<string, Section>();
  readonly #read = new Map<string, _Resolvers>();
  readonly #ledger: Ledger;

  constructor(sections: readonly Section[], ledger: Ledger) {
    this.#ledger = ledger;
    for (const section of sections) if (section.keyword === "resolvers" && section.name) this.#sections.set(section.name, section);
  }

  /**
   * The discover block of `server-template <prefix> <count | first-last> <fqdn>[:<port>] … resolvers <id>`,
   * with notes on what differs, or why there can be none.
   */
  template(directive: Directive, params: Map<string, string | boolean>, frontendPort: number | undefined): { discover: Record<string, unknown>; notes: string[] } | { why: string } {
    const { words, origin } = directive;
    const [, , count, address] = words;
    if (count === undefined || address === undefined) return { why: "server-template: a prefix, a count and an FQDN are required" };
    const range = /^(\d+)-(\d+)$/.exec(count);
    const servers = range ? Number(range[2]) - Number(range[1]) + 1 : parseInteger(count, origin, "server-template count", 1, 1024);
    if (servers < 1 || servers > 1024) return { why: `server-template: ${count} is not a count tandem takes (1 to 1024)` };
    const resolversName = params.get("resolvers");
    if (typeof resolversName !== "string") return { why: "server-template without resolvers: HAProxy resolves it once at start; list the members" };
    const notes: string[] = [];
    const srv = address.startsWith("_");
    const discover: Record<string, unknown> = { servers };
    if (srv) {
      discover.name = address.replace(/:\d*$/, "");
      discover.type = "srv";
    } else {
      const target = serverAddress(address, frontendPort);
      if ("why" in target) return { why: target.why };
      if (target.note) notes.push(target.note);
      discover.name = target.host;
      discover.port = target.port;
      // HAProxy asks AAAA first unless told otherwise; tandem asks one type.
      discover.type = params.get("resolve-prefer") === "ipv6" ? "aaaa" : "a";
      if (params.get("resolve-prefer") !== "ipv4" && params.get("resolve-prefer") !== "ipv6") notes.push("tandem asks A records only (HAProxy preferred AAAA, then A): type aaaa for IPv6 members");
    }
    if (params.get("ssl") === true) discover.scheme = "https";
    if (typeof params.get("weight") === "string" && !srv) discover.weight = parseInteger(params.get("weight") as string, origin, "server-template weight", 1, 256);
    const ignored = [...params.entries()].filter(([key, value]) => !_TEMPLATE_HANDLED.has(key) && value !== false).map(([key, value]) => (value === true ? key : `${key} ${value}`));
    if (ignored.length > 0) notes.push(`not carried: ${ignored.join(", ")}`);
    const resolvers = this.#resolvers(resolversName);
    if ("why" in resolvers) return resolvers;
    return { discover: { ...discover, ...resolvers.settings }, notes: [...notes, ...resolvers.notes] };
  }

  /** Resolvers sections no template used. */
  finish(): void {
    for (const [name, section] of this.#sections) {
      if (this.#read.has(name)) continue;
      const why = "no server-template of a carried backend uses this resolvers section";
      this.#ledger.notCarried(section.header.origin, why);
      for (const directive of section.directives) this.#ledger.notCarried(directive.origin, why);
    }
  }

  #resolvers(name: string): _Resolvers | { why: string } {
    const known = this.#read.get(name);
    if (known) return known;
    const section = this.#sections.get(name);
    if (!section) return { why: `resolvers "${name}": no such section` };
    const settings: Record<string, unknown> = {};
    const notes: string[] = [];
    const nameservers: string[] = [];
    const hold: Record<string, string> = {};
    let resolvConf = false;
    for (const directive of section.directives) {
      const { words, origin: at } = directive;
      const key = `${words[0]}${words[0] === "hold" || words[0] === "timeout" ? ` ${words[1]}` : ""}`;
      const time = (word: string | undefined) => formatDuration(parseTime(word ?? "", at, key));
      switch (key) {
        case "nameserver": {
          const target = serverAddress(words[2] ?? "", 53);
          if ("why" in target || /^[a-z]+@/.test(words[2] ?? "")) {
            this.#ledger.notCarried(at, `${words[2]}: tandem asks nameservers over UDP and TCP at an IP address`);
            continue;
          }
          nameservers.push(target.host.includes(":") ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`);
          this.#ledger.carried(at, "discover.nameservers");
          continue;
        }
        case "parse-resolv-conf":
          resolvConf = true;
          this.#ledger.carried(at, "discover.nameservers (default: /etc/resolv.conf)");
          continue;
        case "hold valid":
        case "hold nx":
          hold[words[1]] = time(words[2]);
          this.#ledger.carried(at, `discover.hold.${words[1]}`);
          continue;
        case "hold obsolete":
          settings.removeAfter = time(words[2]);
          this.#ledger.carried(at, "discover.removeAfter");
          continue;
        case "hold timeout":
        case "hold refused":
        case "hold other":
          this.#ledger.approximated(at, "tandem holds the last good answer for hold.valid whatever the failure");
          continue;
        case "timeout resolve":
          settings.interval = time(words[2]);
          this.#ledger.carried(at, "discover.interval (or the records' TTL when lower)");
          continue;
        case "timeout retry":
          settings.timeout = time(words[2]);
          this.#ledger.carried(at, "discover.timeout");
          continue;
        case "accepted_payload_size":
          this.#ledger.approximated(at, "tandem offers 1232 bytes and asks again over TCP when an answer is truncated");
          continue;
        case "resolve_retries":
          this.#ledger.approximated(at, "tandem asks each nameserver once per lookup and looks up again after the interval");
          continue;
        default:
          this.#ledger.notCarried(at, "tandem's discovery has no such setting");
      }
    }
    if (Object.keys(hold).length > 0) settings.hold = hold;
    if (nameservers.length > 0) settings.nameservers = nameservers;
    if (nameservers.length > 0 && resolvConf) notes.push("nameserver lines and parse-resolv-conf: tandem asks the nameserver lines only");
    if (nameservers.length === 0 && !resolvConf) notes.push("the resolvers section names no nameserver: tandem asks those of /etc/resolv.conf");
    this.#ledger.carried(section.header.origin, `discover (resolvers ${name})`);
    const read = { settings, notes };
    this.#read.set(name, read);
    return read;
  }
}
