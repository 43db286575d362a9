/**
 * keepalived.conf to tandem's `vrrp` section. keepalived is read as keepalived(8) reads it
 * (keepalived.conf(5)): `{ }` blocks, `#`/`!` comments anywhere outside quotes, `"`/`'` quoted
 * strings with shell-like escapes, `include` (and includer/includem/includew/includeb/includea),
 * `$NAME=value` parameters (multi-line with `\`) substituted as `$NAME` or `${NAME}`, `~SEQ(...)`
 * sequence lines, and `@id` / `@^id` lines that depend on keepalived's config-id (`-i`).
 *
 * `vrrp_instance`, `vrrp_script` and the `global_defs` that matter become `vrrp`; LVS
 * (`virtual_server`, `real_server`) is out of scope; the rest is reported with why. keepalived
 * has no listeners or pools: the config is only valid with a balancer config imported beside it.
 *
 * @example
 * ```ts
 * const draft = new Draft(), report = new ImportReport();
 * await importKeepalived([{ path: "/etc/keepalived/keepalived.conf", text }], { draft, report, readInclude });
 * draft.get(["vrrp", "instances", 0, "vrid"]); // 51
 * ```
 * @module
 */
import type { Draft } from "./draft.ts";
import type { ImportContext, Parser, SourceFile } from "./parser.ts";
import { ImportError, type ImportReport, type Origin } from "./report.ts";

/** A directive and, when it opens a block, what the block holds. */
interface Statement {
  words: string[];
  origin: Origin;
  /** The `@id` / `@^id` it depends on: keepalived reads it only on the node whose config-id matches. */
  condition?: string;
  /** Parameters it names that were only defined under a condition, so its value is unknown here. */
  unresolved?: string;
  children?: Statement[];
}

type Token = { kind: "words"; words: string[]; origin: Origin; condition?: string; unresolved?: string } | { kind: "open" | "close"; origin: Origin };

const INCLUDES = new Set(["include", "includer", "includem", "includew", "includeb", "includea"]);
const LVS = "out of scope: tandem is an HTTP balancer, not LVS";
const NO_MAIL = "tandem sends no mail: use notify commands, or watch tandem_vrrp_state";
const GARP = "tandem sends one gratuitous ARP on becoming master (arping -U), and again when it wins after a split brain";
const PROTOCOL = "tandem speaks its own signed VRRPv3 over UDP (port 5798), not keepalived's IP protocol 112: replace keepalived on every node together";
const KEY = "set TANDEM_VRRP_KEY (16+ characters, the same on every node): tandem signs every advertisement with HMAC-SHA256";
const SCRIPT_USER = "tandem runs commands as its own user, without a shell (argv)";
const IPV4_ONLY = "tandem's VRRP is IPv4 only";
const SYNC_GROUP = "tandem has no sync groups: each instance fails over on its own (give the instances the same trackers so they move together)";
const NO_EQUIVALENT = "tandem has no equivalent";

/** global_defs keywords of keepalived.conf(5) (2.2), with why each is not carried when it is not. */
const GLOBAL_REASONS: Record<string, string> = {
  router_id: "tandem names a node by vrrp.address",
  notification_email: NO_MAIL,
  notification_email_from: NO_MAIL,
  smtp_server: NO_MAIL,
  smtp_helo_name: NO_MAIL,
  smtp_connect_timeout: NO_MAIL,
  smtp_alert: NO_MAIL,
  smtp_alert_vrrp: NO_MAIL,
  smtp_alert_checker: NO_MAIL,
  no_email_faults: NO_MAIL,
  no_checker_emails: NO_MAIL,
  enable_script_security: SCRIPT_USER,
  script_user: SCRIPT_USER,
  vrrp_version: PROTOCOL,
  vrrp_mcast_group6: IPV4_ONLY,
  vrrp_strict: "tandem checks every advertisement strictly anyway (signed, from a known sender, fresh)",
  vrrp_skip_check_adv_addr: "tandem checks each advertisement's signed sender instead",
  vrrp_check_unicast_src: "tandem accepts only the vrrp.peers it lists (unicast)",
  vrrp_iptables: "tandem adds no firewall rules",
  vrrp_ipsets: "tandem adds no firewall rules",
  nftables: "tandem adds no firewall rules",
  nftables_priority: "tandem adds no firewall rules",
  nftables_ifindex: "tandem adds no firewall rules",
  nftables_counters: "tandem adds no firewall rules",
  vrrp_notify_fifo: "tandem has no notify FIFO: use notify commands, GET /api/v1/vrrp or tandem_vrrp_state",
  vrrp_notify_fifo_script: "tandem has no notify FIFO: use notify commands, GET /api/v1/vrrp or tandem_vrrp_state",
  notify_fifo: "tandem has no notify FIFO: use notify commands, GET /api/v1/vrrp or tandem_vrrp_state",
  notify_fifo_script: "tandem has no notify FIFO: use notify commands, GET /api/v1/vrrp or tandem_vrrp_state",
  vrrp_notify_priority_changes: "tandem has no notify FIFO: tandem_vrrp_effective_priority shows the priority",
  enable_snmp_vrrp: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  enable_snmp_checker: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  enable_snmp_rfc: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  enable_snmp_rfcv2: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  enable_snmp_rfcv3: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  enable_traps: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  snmp_socket: "tandem has no SNMP: the same state is in GET /api/v1/vrrp and the Prometheus metrics",
  enable_dbus: "tandem has no D-Bus interface: the admin API (GET /api/v1/vrrp) replaces it",
  dbus_service_name: "tandem has no D-Bus interface: the admin API (GET /api/v1/vrrp) replaces it",
};
for (const keyword of ["vrrp_garp_interval", "vrrp_gna_interval", "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat", "vrrp_garp_extra_if", "vrrp_min_garp", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert"]) {
  GLOBAL_REASONS[keyword] = GARP;
}
for (const keyword of ["lvs_flush", "lvs_flush_on_stop", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force", "lvs_notify_fifo", "lvs_notify_fifo_script", "lvs_sync_daemon", "lvs_sync_daemon_interface", "lvs_timeouts", "lvs_id", "checker_cpu_affinity", "checker_log_all_failures", "checker_no_swap", "checker_priority", "checker_process_name", "checker_rlimit_rttime", "checker_rt_priority", "nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark", "rs_init_notifies"]) {
  GLOBAL_REASONS[keyword] = LVS;
}
/** The other global_defs keywords keepalived knows (daemon settings with no tandem counterpart). */
const GLOBAL_OTHERS = new Set(
  ("bfd_cpu_affinity bfd_no_swap bfd_priority bfd_process_name bfd_rlimit_rttime bfd_rt_priority config_save_dir data_use_instance default_interface " +
    "disable_local_igmp dynamic_interfaces fifo_write_vrrp_states_on_reload include_check log_unknown_vrids max_auto_priority min_auto_priority_delay " +
    "process_monitor_rcv_bufs process_monitor_rcv_bufs_force process_name process_names random_seed reload_check_config reload_file reload_repeat " +
    "reload_time_file shutdown_script shutdown_script_timeout startup_script startup_script_timeout tmp_config_directory umask vmac_addr_prefix vmac_prefix " +
    "vrrp_cpu_affinity vrrp_down_timer_adverts vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs " +
    "vrrp_netlink_monitor_rcv_bufs_force vrrp_no_swap vrrp_priority vrrp_process_name vrrp_rlimit_rttime vrrp_rt_priority vrrp_rx_bufs_multiplier " +
    "vrrp_rx_bufs_policy vrrp_startup_delay net_namespace net_namespace_ipvs namespace_with_ipsets instance use_pid_dir linkbeat_use_polling child_wait_time").split(" "),
);

/** vrrp_instance keywords with no tandem counterpart, with why. */
const INSTANCE_REASONS: Record<string, string> = {
  smtp_alert: NO_MAIL,
  version: PROTOCOL,
  native_ipv6: IPV4_ONLY,
  lvs_sync_daemon_interface: LVS,
  notify_stop: "tandem runs no command on stop (a stopping master resigns, then removes its addresses)",
  notify_deleted: "tandem runs no command when an instance is removed by a reload",
  notify_master_rx_lower_pri: "tandem answers a lower master itself (it advertises at once and sends a gratuitous ARP again)",
  notify_priority_changes: "tandem has no notify FIFO: tandem_vrrp_effective_priority shows the priority",
  track_interface: `tandem does not watch interfaces: a track.commands entry can test a link, e.g. argv [sh, -c, "ip link show eth1 | grep -q 'state UP'"]`,
  track_file: "tandem does not watch files: a track.commands entry can test the file",
  track_process: "tandem does not watch processes: a track.commands entry (e.g. [pidof, NAME]) does the same",
  track_bfd: "tandem has no BFD",
  use_vmac: "tandem adds the addresses to the interface itself, without a macvlan (virtual MAC)",
  use_vmac_addr: "tandem adds the addresses to the interface itself, without a macvlan (virtual MAC)",
  vmac_xmit_base: "tandem adds the addresses to the interface itself, without a macvlan (virtual MAC)",
  use_ipvlan: "tandem adds the addresses to the interface itself, without an ipvlan",
  virtual_routes: "tandem adds addresses only: add the routes from notify.master (and remove them from notify.backup)",
  virtual_rules: "tandem adds addresses only: add the rules from notify.master (and remove them from notify.backup)",
  strict_mode: "tandem checks every advertisement strictly anyway (signed, from a known sender, fresh)",
  skip_check_adv_addr: "tandem checks each advertisement's signed sender instead",
  check_unicast_src: "tandem accepts only the vrrp.peers it lists (unicast)",
  authentication: KEY,
};
for (const keyword of ["garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat", "garp_extra_if", "lower_prio_no_advert", "higher_prio_send_advert"]) {
  INSTANCE_REASONS[keyword] = GARP;
}
for (const keyword of ["accept", "no_accept", "debug", "dont_track_primary", "down_timer_adverts", "kernel_rx_buf_size", "linkbeat_use_polling", "old_unicast_checksum", "promote_secondaries", "track_src_ip", "unicast_fault_no_peer", "unicast_ttl", "vrf"]) {
  INSTANCE_REASONS[keyword] = NO_EQUIVALENT;
}

/** Top-level blocks that are not VRRP instances or scripts, with why. */
const TOP_REASONS: Record<string, string> = {
  virtual_server: LVS,
  virtual_server_group: LVS,
  vrrp_sync_group: SYNC_GROUP,
  static_ipaddress: "tandem manages only the virtual addresses: leave static addresses to the system's network config",
  static_routes: "tandem manages only the virtual addresses: leave static routes to the system's network config",
  static_rules: "tandem manages only the virtual addresses: leave static rules to the system's network config",
  linkbeat_interfaces: NO_EQUIVALENT,
  garp_group: GARP,
  track_group: NO_EQUIVALENT,
  track_file: "tandem does not watch files: a track.commands entry can test the file",
  vrrp_track_file: "tandem does not watch files: a track.commands entry can test the file",
  vrrp_track_process: "tandem does not watch processes: a track.commands entry (e.g. [pidof, NAME]) does the same",
  bfd_instance: "tandem has no BFD",
  net_namespace: "run tandem itself in the namespace (ip netns exec)",
  net_namespace_ipvs: LVS,
  namespace_with_ipsets: NO_EQUIVALENT,
  instance: NO_EQUIVALENT,
  use_pid_dir: NO_EQUIVALENT,
  linkbeat_use_polling: NO_EQUIVALENT,
  child_wait_time: NO_EQUIVALENT,
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Redirections, pipes, lists, substitutions, globs: what needs a shell to mean anything. */
const SHELL_SYNTAX = /[<>|&;`$*?()]/;
const TANDEM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Reads keepalived.conf files (and what they include) into the draft's `vrrp` section. */
export const importKeepalived: Parser = async (files, context) => {
  for (const file of files) {
    const tokens: Token[] = [];
    await _lex(file, [file.path], { parameters: new Map(), conditional: new Set() }, tokens, context);
    new _Importer(context.draft, context.report).run(_tree(tokens));
  }
};

// ---------------------------------------------------------------------------------------------
// Reading: lines to tokens (comments, quotes, includes, parameters, conditions), tokens to blocks.

interface LexState {
  parameters: Map<string, string>;
  /** Parameters defined only under an `@id` condition: their value on this node is unknown. */
  conditional: Set<string>;
}

async function _lex(file: SourceFile, chain: string[], state: LexState, tokens: Token[], context: ImportContext): Promise<void> {
  const lines = file.text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const origin: Origin = { file: file.path, line: index + 1, text: lines[index] };
    const code = _stripComment(lines[index], origin).trim();
    if (code === "") continue;
    // keepalived finds includes before it reads conditions and parameters (keepalived.conf(5)).
    const include = /^(\S+)\s+(.*)$/.exec(code);
    if (include && INCLUDES.has(include[1])) {
      await _include(_words(include[2], origin).join(" "), origin, chain, state, tokens, context);
      continue;
    }
    const definition = /^(?:@\^?\S*\s+)?\$[A-Za-z_]\w*=\s*\\$/.test(code);
    if (definition) {
      // A multi-line definition: `$NAME= \` then lines ending in `\`, up to the first without.
      const body: string[] = [code.slice(0, -1)];
      while (index + 1 < lines.length) {
        index++;
        const part = _stripComment(lines[index], { ...origin, line: index + 1, text: lines[index] }).trim();
        if (part === "") continue;
        if (!part.endsWith("\\")) {
          body.push(part);
          break;
        }
        body.push(part.slice(0, -1));
      }
      _line(body[0] + body.slice(1).join("\n"), origin, undefined, state, tokens, context.report);
    } else _line(code, origin, undefined, state, tokens, context.report);
  }
}

/**
 * One line (or one line of an expanded multi-line parameter): its condition, a parameter
 * definition, a ~SEQ sequence, else its words after substitution.
 */
function _line(text: string, origin: Origin, inherited: string | undefined, state: LexState, tokens: Token[], report: ImportReport): void {
  let code = text;
  let condition = inherited;
  const conditional = /^@(\^?\S*)\s*([^]*)$/.exec(code);
  if (conditional) [condition, code] = [`@${conditional[1]}`, conditional[2]];
  const definition = /^\$([A-Za-z_]\w*)=([^]*)$/.exec(code);
  if (definition) {
    if (condition) {
      state.conditional.add(definition[1]);
      report.notCarried(origin, _conditionReason(condition));
    } else {
      state.parameters.set(definition[1], definition[2].trim());
      report.notCarried(origin, `a parameter definition: $${definition[1]} is substituted where it is used`);
    }
    return;
  }
  const sequence = /^~SEQ(x?)\(([^)]*)\)\s*(.*)$/.exec(code);
  if (sequence) {
    for (const value of _sequence(sequence[2], origin)) {
      state.parameters.set(sequence[2].split(",")[0].trim(), sequence[1] ? value.toString(16) : String(value));
      _line(sequence[3], origin, condition, state, tokens, report);
    }
    return;
  }
  const substituted = _substitute(code, state.parameters, origin);
  if (substituted.includes("\n")) {
    // A multi-line parameter: each of its lines is read in turn, with the parameters of that moment.
    for (const part of substituted.split("\n")) if (part.trim() !== "") _line(part.trim(), origin, condition, state, tokens, report);
    return;
  }
  const unresolved = [...substituted.matchAll(/\$\{?([A-Za-z_]\w*)/g)].map((match) => match[1]).find((name) => state.conditional.has(name));
  _tokenize(substituted, origin, condition, unresolved, tokens);
}

async function _include(pattern: string, origin: Origin, chain: string[], state: LexState, tokens: Token[], context: ImportContext): Promise<void> {
  const included = await context.readInclude(pattern, origin.file);
  for (const file of included) {
    if (chain.includes(file.path)) throw new ImportError(origin.file, origin.line, `include loop: ${[...chain, file.path].join(" includes ")}`);
  }
  context.report.notCarried(
    origin,
    included.length === 0 ? "an include that matches no file (keepalived reads nothing either)" : `an include: the directives of ${included.map((file) => file.path).join(", ")} are imported in its place`,
  );
  for (const file of included) await _lex(file, [...chain, file.path], state, tokens, context);
}

/** The line without its comment: `#` or `!` outside quotes starts one, anywhere in the line. */
function _stripComment(line: string, origin: Origin): string {
  let quote: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quote) {
      if (char === "\\") index++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === "#" || char === "!") return line.slice(0, index);
  }
  if (quote) throw new ImportError(origin.file, origin.line, `a quoted string (${quote}) is not closed on its line`);
  return line;
}

/** The values of `~SEQ(var, [start, [step,]] end)`, as keepalived.conf(5) defines the omitted ones. */
function _sequence(args: string, origin: Origin): number[] {
  const [name, ...bounds] = args.split(",").map((part) => part.trim());
  const numbers = bounds.map((bound) => Number(bound));
  if (!/^[A-Za-z_]\w*$/.test(name ?? "") || numbers.length < 1 || numbers.length > 3 || numbers.some((number) => !Number.isInteger(number))) {
    throw new ImportError(origin.file, origin.line, `~SEQ(${args}): expected ~SEQ(var, [start, [step,]] end) with integers`);
  }
  const end = numbers[numbers.length - 1];
  const start = numbers.length >= 2 ? numbers[0] : end >= 0 ? 1 : -1;
  const step = numbers.length === 3 ? numbers[1] : end >= start ? 1 : -1;
  if (step === 0) throw new ImportError(origin.file, origin.line, `~SEQ(${args}): a step of 0 never ends`);
  const values: number[] = [];
  for (let value = start; step > 0 ? value <= end : value >= end; value += step) values.push(value);
  return values;
}

/** `${NAME}` anywhere, `$NAME` before whitespace or the end; recursively, as keepalived does. Undefined names stay. */
function _substitute(code: string, parameters: Map<string, string>, origin: Origin): string {
  const builtins = new Map([["_PWD", origin.file.slice(0, Math.max(origin.file.lastIndexOf("/"), 0)) || "."], ["_HASH", "#"]]);
  let text = code;
  for (let depth = 0; depth < 32; depth++) {
    const next = text.replace(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)(?=\s|$)/g, (whole, braced, bare) => parameters.get(braced ?? bare) ?? builtins.get(braced ?? bare) ?? whole);
    // A multi-line value is read line by line (_line), each line substituted when its turn comes.
    if (next === text || next.includes("\n")) return next;
    text = next;
  }
  throw new ImportError(origin.file, origin.line, "parameter substitution does not end (a parameter refers to itself)");
}

/** A line's tokens: words (quotes joined, escapes read), `{` and `}` on their own. */
function _tokenize(line: string, origin: Origin, condition: string | undefined, unresolved: string | undefined, tokens: Token[]): void {
  let words: string[] = [];
  const flush = () => {
    if (words.length > 0) tokens.push({ kind: "words", words, origin, condition, unresolved });
    words = [];
  };
  for (const word of _words(line, origin, true)) {
    if (word === "{" || word === "}") {
      flush();
      tokens.push({ kind: word === "{" ? "open" : "close", origin });
    } else words.push(word);
  }
  flush();
}

/**
 * Whitespace-separated words; a quoted part (`"..."` or `'...'`) keeps its whitespace and joins
 * the unquoted text around it (`ab"c d"e` is one word), with escapes read as the shell does.
 * Unquoted `{` and `}` are words of their own when `braces` (keepalived's block delimiters).
 */
function _words(line: string, origin: Origin, braces = false): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (/\s/.test(char)) {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else if (braces && char === "$" && line[index + 1] === "{" && line.indexOf("}", index) > 0) {
      // A ${NAME} left after substitution (undefined) is text, not a block.
      const close = line.indexOf("}", index);
      current = (current ?? "") + line.slice(index, close + 1);
      index = close;
    } else if (braces && (char === "{" || char === "}")) {
      if (current !== undefined) words.push(current);
      words.push(char);
      current = undefined;
    } else if (char === '"' || char === "'") {
      const close = _closingQuote(line, index, char);
      if (close < 0) throw new ImportError(origin.file, origin.line, `a quoted string (${char}) is not closed on its line`);
      current = (current ?? "") + _unescape(line.slice(index + 1, close));
      index = close;
    } else current = (current ?? "") + char;
  }
  if (current !== undefined) words.push(current);
  return words;
}

function _closingQuote(line: string, open: number, quote: string): number {
  for (let index = open + 1; index < line.length; index++) {
    if (line[index] === "\\") index++;
    else if (line[index] === quote) return index;
  }
  return -1;
}

const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", E: "\x1b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

function _unescape(text: string): string {
  return text.replace(/\\(?:([0-7]{1,3})|x([0-9A-Fa-f]+)|c(.)|(.))/gs, (_, octal, hex, control, other) => {
    if (octal) return String.fromCharCode(parseInt(octal, 8) & 0xff);
    if (hex) return String.fromCharCode(parseInt(hex.slice(-2), 16));
    if (control) return String.fromCharCode(control.toUpperCase().charCodeAt(0) ^ 0x40);
    return ESCAPES[other] ?? other;
  });
}

/** Tokens to statements with their blocks; a `{` opens the block of the statement before it. */
function _tree(tokens: Token[]): Statement[] {
  const root: Statement[] = [];
  const open: Statement[] = [];
  let level = root;
  for (const token of tokens) {
    if (token.kind === "words") {
      level.push({ words: token.words, origin: token.origin, condition: token.condition, unresolved: token.unresolved });
    } else if (token.kind === "open") {
      const owner = level[level.length - 1];
      if (owner === undefined || owner.children !== undefined) throw new ImportError(token.origin.file, token.origin.line, "a '{' with no keyword before it");
      owner.children = [];
      open.push(owner);
      level = owner.children;
    } else {
      if (open.pop() === undefined) throw new ImportError(token.origin.file, token.origin.line, "a '}' that closes no block");
      level = open.length === 0 ? root : open[open.length - 1].children!;
    }
  }
  const unclosed = open[open.length - 1];
  if (unclosed) throw new ImportError(unclosed.origin.file, unclosed.origin.line, `'${unclosed.words.join(" ")} {' is never closed (a '}' is missing)`);
  return root;
}

// ---------------------------------------------------------------------------------------------
// Meaning: statements to the draft's `vrrp` keys and report entries.

interface ScriptSettings {
  statement: Statement;
  argv?: string[];
  /** The script is shell syntax, run through /bin/sh -c. */
  shell: boolean;
  intervalMs: number;
  timeoutMs?: number;
  weight: number;
  reverse: boolean;
  rise: number;
  fall: number;
  /** Where each setting's line put it, for the report once the instances that track it are known. */
  lines: { statement: Statement; setting?: keyof Omit<ScriptSettings, "statement" | "lines" | "users"> }[];
  /** Draft paths of the trackers made from it, by kind. */
  users: { path: string; readiness: boolean }[];
}

class _Importer {
  readonly #scripts = new Map<string, ScriptSettings>();
  #instances = 0;
  readonly #names = new Set<string>();
  #address?: { value: string; origin: Origin };
  #multicast?: { value: string; origin: Origin };
  readonly #peers: string[] = [];

  constructor(readonly draft: Draft, readonly report: ImportReport) {}

  run(statements: Statement[]): void {
    const live = statements.filter((statement) => !this.#skipped(statement));
    // Scripts first: an instance may track one defined further down.
    for (const statement of live) if (statement.words[0] === "vrrp_script" && statement.children) this.#readScript(statement);
    for (const statement of live) this.#top(statement);
    for (const script of this.#scripts.values()) this.#reportScript(script);
  }

  /** Reports (with why) a statement keepalived would read only on some node, or whose value is unknown here; true when so. */
  #skipped(statement: Statement): boolean {
    const reason = statement.condition ? _conditionReason(statement.condition) : statement.unresolved ? `depends on $${statement.unresolved}, which is defined only under an @ condition` : undefined;
    if (reason === undefined) return false;
    this.#all(statement, reason);
    return true;
  }

  /** Reports a statement and everything in its block as not carried, for one reason. */
  #all(statement: Statement, why: string): void {
    this.report.notCarried(statement.origin, why);
    for (const child of statement.children ?? []) this.#all(child, why);
  }

  #top(statement: Statement): void {
    const [keyword] = statement.words;
    if (keyword === "vrrp_script" && statement.children) return; // reported with its users, at the end
    if (keyword === "global_defs" && statement.children) return this.#globalDefs(statement);
    if (keyword === "vrrp_instance" && statement.children) return this.#instance(statement);
    if (keyword === "real_server") return this.#all(statement, LVS);
    const reason = TOP_REASONS[keyword];
    this.#all(statement, reason ?? (statement.children ? "unknown block (with everything in it)" : "unknown directive"));
  }

  #globalDefs(block: Statement): void {
    this.report.notCarried(block.origin, "global definitions: each is reported on its own line");
    for (const statement of block.children!) {
      if (this.#skipped(statement)) continue;
      const [keyword, value] = statement.words;
      if (keyword === "vrrp_mcast_group4") this.#setMulticast(statement, value);
      else if (GLOBAL_REASONS[keyword]) this.#all(statement, GLOBAL_REASONS[keyword]);
      else if (GLOBAL_OTHERS.has(keyword)) this.#all(statement, `${NO_EQUIVALENT} (a keepalived daemon setting)`);
      else this.#all(statement, "unknown directive");
    }
  }

  #readScript(block: Statement): void {
    const name = block.words[1] ?? "";
    const script: ScriptSettings = { statement: block, shell: false, intervalMs: 1000, weight: 0, reverse: false, rise: 1, fall: 1, lines: [], users: [] };
    for (const statement of block.children!) {
      if (statement.condition || statement.unresolved) {
        script.lines.push({ statement });
        continue;
      }
      const [keyword, ...args] = statement.words;
      if (keyword === "script") {
        const text = args.join(" ");
        // keepalived 1.2 ran scripts through sh -c, and samples still use shell syntax
        // ("</dev/tcp/127.0.0.1/80"); tandem runs argv without a shell, so those keep theirs.
        script.shell = SHELL_SYNTAX.test(text);
        script.argv = script.shell ? ["/bin/sh", "-c", text] : args.length === 1 ? _argv(args[0]) : args;
        script.lines.push({ statement, setting: "argv" });
      } else if (keyword === "interval") {
        script.intervalMs = _seconds(statement, args[0]);
        script.lines.push({ statement, setting: "intervalMs" });
      } else if (keyword === "timeout") {
        script.timeoutMs = _seconds(statement, args[0]);
        script.lines.push({ statement, setting: "timeoutMs" });
      } else if (keyword === "weight") {
        script.weight = _integer(statement, args[0], -253, 253);
        script.reverse = args[1] === "reverse";
        script.lines.push({ statement, setting: "weight" });
      } else if (keyword === "rise" || keyword === "fall") {
        script[keyword] = _integer(statement, args[0], 1, Number.MAX_SAFE_INTEGER);
        script.lines.push({ statement, setting: keyword });
      } else script.lines.push({ statement });
    }
    this.#scripts.set(name, script);
  }

  #instance(block: Statement): void {
    const index = this.#instances++;
    const base = ["vrrp", "instances", index] as const;
    const key = (...rest: (string | number)[]) => _key([...base, ...rest]);
    const at = (...rest: (string | number)[]) => [...base, ...rest];
    const source = block.words[1] ?? `instance${index + 1}`;
    const name = _uniqueName(source, this.#names);
    this.draft.set(at("name"), name, block.origin);
    if (name === source) this.report.carried(block.origin, key("name"));
    else this.report.approximated(block.origin, `${key("name")}: renamed ${JSON.stringify(source)} to "${name}" (tandem names: letters, digits, '.', '_', '-')`);

    const statements = block.children!.filter((statement) => !this.#skipped(statement));
    const find = (keyword: string) => statements.find((statement) => statement.words[0] === keyword);
    if (!block.children!.some((statement) => statement.words[0] === "virtual_router_id")) throw new ImportError(block.origin.file, block.origin.line, `vrrp_instance ${source} has no virtual_router_id (keepalived refuses it too)`);
    let interfaceName = find("interface")?.words[1];
    // keepalived clears nopreempt and preempt_delay with state MASTER, nopreempt at priority 255,
    // and preempt_delay beside nopreempt (vrrp.c, logged as warnings): the instance preempts.
    const initialMaster = find("state")?.words[1] === "MASTER";
    const owner = find("priority")?.words[1] === "255";
    const nopreempt = find("nopreempt") !== undefined && !initialMaster && !owner;
    let priority = 100;
    let priorityStatement: Statement | undefined;
    let vipCount = 0;
    const trackers: { statement: Statement; script: ScriptSettings; weight: number; reverse: boolean }[] = [];
    const notify = new Map<string, { statement: Statement; argv: string[]; users: string[] }>();
    let generalNotify: Statement | undefined;

    for (const statement of statements) {
      const [keyword, ...args] = statement.words;
      switch (keyword) {
        case "state":
          if (args[0] === "MASTER" || args[0] === "BACKUP") {
            this.report.approximated(statement.origin, "tandem has no initial state: every instance starts as Backup and takes over when it hears no higher priority for Master_Down_Interval (at once at priority 255), which is what keepalived does with state MASTER below 255");
          } else this.report.notCarried(statement.origin, `unknown state ${JSON.stringify(args[0] ?? "")} (keepalived knows MASTER and BACKUP)`);
          break;
        case "interface":
          this.draft.set(at("interface"), args[0], statement.origin);
          this.report.carried(statement.origin, key("interface"));
          break;
        case "virtual_router_id":
          this.draft.set(at("vrid"), _integer(statement, args[0], 1, 255), statement.origin);
          this.report.carried(statement.origin, key("vrid"));
          break;
        case "priority":
          priority = _integer(statement, args[0], 1, 255);
          priorityStatement = statement;
          this.draft.set(at("priority"), priority, statement.origin);
          this.report.carried(statement.origin, key("priority"));
          break;
        case "advert_int": {
          const ms = _seconds(statement, args[0]);
          const centiseconds = Math.min(4095, Math.max(1, Math.round(ms / 10)));
          this.draft.set(at("advertInterval"), _duration(centiseconds * 10), statement.origin);
          if (centiseconds * 10 === ms) this.report.carried(statement.origin, key("advertInterval"));
          else this.report.approximated(statement.origin, `${key("advertInterval")}: ${_duration(centiseconds * 10)} (whole centiseconds from 10ms to 40.95s)`);
          break;
        }
        case "nopreempt":
          if (nopreempt) {
            this.draft.set(at("preempt"), false, statement.origin);
            this.report.carried(statement.origin, key("preempt"));
          } else this.report.notCarried(statement.origin, `keepalived clears nopreempt ${initialMaster ? "with state MASTER" : "at priority 255"}: the instance preempts, as tandem's do by default`);
          break;
        case "preempt":
          this.draft.set(at("preempt"), true, statement.origin);
          this.report.carried(statement.origin, key("preempt"));
          break;
        case "preempt_delay": {
          const delay = _duration(_seconds(statement, args[0]));
          if (initialMaster || nopreempt) {
            this.report.notCarried(statement.origin, `keepalived clears preempt_delay ${initialMaster ? "with state MASTER" : "beside nopreempt"}: no delay`);
          } else {
            this.draft.set(at("preemptDelay"), delay, statement.origin);
            this.report.carried(statement.origin, key("preemptDelay"));
          }
          break;
        }
        case "unicast_src_ip":
        case "mcast_src_ip":
          this.#setAddress(statement, args[0]);
          break;
        case "mcast_dst_ip":
          this.#setMulticast(statement, args[0]);
          break;
        case "unicast_peer":
          this.#listHead(statement, ["vrrp", "peers"]);
          for (const peer of statement.children ?? []) this.#peer(peer);
          break;
        case "virtual_ipaddress":
        case "virtual_ipaddress_excluded":
          if (statement.children === undefined) {
            this.report.notCarried(statement.origin, `${keyword} without its { } block`);
            break;
          }
          this.draft.set(at("virtualAddresses"), this.draft.get(at("virtualAddresses")) ?? []);
          this.#listHead(statement, at("virtualAddresses"));
          for (const vip of statement.children) {
            if (this.#skipped(vip)) continue;
            const written = this.#virtualAddress(vip, at("virtualAddresses", vipCount), keyword === "virtual_ipaddress_excluded", interfaceName);
            if (written.interface && interfaceName === undefined) {
              interfaceName = written.interface;
              this.draft.set(at("interface"), interfaceName, vip.origin);
            }
            if (written.added) vipCount++;
          }
          break;
        case "track_script":
          if (statement.children === undefined) {
            this.report.notCarried(statement.origin, "track_script without its { } block");
            break;
          }
          this.#listHead(statement, at("track"));
          for (const entry of statement.children) {
            if (this.#skipped(entry)) continue;
            const [scriptName, ...options] = entry.words;
            const script = this.#scripts.get(scriptName);
            if (script === undefined) {
              this.#all(entry, `no vrrp_script ${scriptName} (keepalived ignores it too)`);
              continue;
            }
            const weightAt = options.indexOf("weight");
            const weight = weightAt >= 0 ? _integer(entry, options[weightAt + 1], -253, 253) : script.weight;
            const reverse = weightAt >= 0 ? options.includes("reverse") : script.reverse;
            trackers.push({ statement: entry, script, weight, reverse });
          }
          break;
        case "notify_master":
        case "notify_backup":
        case "notify_fault":
          notify.set(keyword.slice("notify_".length), { statement, argv: _argv(args[0] ?? ""), users: args.slice(1) });
          break;
        case "notify":
          generalNotify = statement;
          break;
        case "authentication":
          this.report.notCarried(statement.origin, KEY);
          for (const child of statement.children ?? []) {
            if (this.#skipped(child)) continue;
            const [setting] = child.words;
            if (setting === "auth_pass") this.#all(child, "a secret, not written to the config: set TANDEM_VRRP_KEY (16+ characters, the same on every node; keepalived's 8-character PASS is too short to reuse)");
            else if (setting === "auth_type") this.#all(child, `tandem's HMAC-SHA256 replaces ${child.words[1] ?? "it"}: ${KEY}`);
            else this.#all(child, "unknown directive");
          }
          break;
        default:
          this.#all(statement, INSTANCE_REASONS[keyword] ?? (statement.children ? "unknown block (with everything in it)" : "unknown directive"));
      }
    }

    this.#notify(at, key, notify, generalNotify, source, priority);
    const raised = this.#trackers(at, key, trackers, priority);
    if (raised !== priority) {
      this.draft.set(at("priority"), raised, priorityStatement?.origin);
      for (const tracker of trackers) if (tracker.weight > 0 && !tracker.reverse) this.draft.cite(at("priority"), tracker.statement.origin);
    }
  }

  /** The opening line of a list block (`virtual_ipaddress {`): its entries are reported one by one. */
  #listHead(statement: Statement, path: (string | number)[]): void {
    this.draft.cite(path, statement.origin);
    this.report.carried(statement.origin, _key(path));
  }

  #setAddress(statement: Statement, value: string | undefined): void {
    if (value === undefined || !IPV4.test(value)) {
      this.report.notCarried(statement.origin, `${IPV4_ONLY} (got ${JSON.stringify(value ?? "")})`);
    } else if (this.#address === undefined || this.#address.value === value) {
      this.#address ??= { value, origin: statement.origin };
      this.draft.set(["vrrp", "address"], value, statement.origin);
      this.report.carried(statement.origin, "vrrp.address");
    } else {
      this.report.notCarried(statement.origin, `tandem has one address per node: vrrp.address is ${this.#address.value} (${this.#address.origin.file}:${this.#address.origin.line})`);
    }
  }

  #setMulticast(statement: Statement, value: string | undefined): void {
    const group = value !== undefined && IPV4.test(value) && Number(value.split(".")[0]) >= 224 && Number(value.split(".")[0]) <= 239;
    if (!group) {
      this.report.notCarried(statement.origin, `${IPV4_ONLY}: an IPv4 multicast group (224.0.0.0/4) is needed (got ${JSON.stringify(value ?? "")})`);
    } else if (this.#multicast === undefined || this.#multicast.value === value) {
      this.#multicast ??= { value, origin: statement.origin };
      this.draft.set(["vrrp", "multicast"], value, statement.origin);
      this.report.carried(statement.origin, "vrrp.multicast");
    } else {
      this.report.notCarried(statement.origin, `tandem has one multicast group per node: vrrp.multicast is ${this.#multicast.value} (${this.#multicast.origin.file}:${this.#multicast.origin.line})`);
    }
  }

  #peer(statement: Statement): void {
    if (this.#skipped(statement)) return;
    const [address, ...options] = statement.words;
    if (!IPV4.test(address)) return this.#all(statement, `${IPV4_ONLY} (got ${JSON.stringify(address)})`);
    let index = this.#peers.indexOf(address);
    if (index < 0) {
      index = this.#peers.push(address) - 1;
      this.draft.set(["vrrp", "peers", index], address, statement.origin);
    } else this.draft.cite(["vrrp", "peers", index], statement.origin);
    if (options.length === 0) this.report.carried(statement.origin, `vrrp.peers[${index}]`);
    else this.report.approximated(statement.origin, `vrrp.peers[${index}], without ${options.join(" ")} (tandem checks senders by signature, not TTL)`);
  }

  /** One `virtual_ipaddress` entry: `<address>[/<prefix>] [brd X] [dev IF] [scope S] [label L] ...`. */
  #virtualAddress(statement: Statement, path: (string | number)[], excluded: boolean, interfaceName: string | undefined): { added: boolean; interface?: string } {
    const [address, ...options] = statement.words;
    const [ip, prefix, ...rest] = address.split("/");
    if (ip.includes(":")) {
      this.#all(statement, IPV4_ONLY);
      return { added: false };
    }
    if (!IPV4.test(ip) || rest.length > 0 || (prefix !== undefined && !(/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32))) {
      throw new ImportError(statement.origin.file, statement.origin.line, `${JSON.stringify(address)}: not an IPv4 address with an optional prefix length`);
    }
    const devAt = options.indexOf("dev");
    const dev = devAt >= 0 ? options[devAt + 1] : undefined;
    if (dev !== undefined && interfaceName !== undefined && dev !== interfaceName) {
      this.#all(statement, `tandem adds an instance's addresses on its interface (${interfaceName}), not on ${dev}: make an instance with interface ${dev} for it`);
      return { added: false };
    }
    const held = (this.draft.get(path.slice(0, -1)) as string[] | undefined) ?? [];
    const same = held.findIndex((vip) => vip.split("/")[0] === ip);
    if (same >= 0) {
      this.draft.cite([...path.slice(0, -1), same], statement.origin);
      this.report.notCarried(statement.origin, `${_key([...path.slice(0, -1), same])} holds ${ip} already (an address is added once)`);
      return { added: false };
    }
    this.draft.set(path, address, statement.origin);
    const dropped = options.filter((_, index) => index !== devAt && index !== devAt + 1);
    const notes = [
      ...(dropped.length > 0 ? [`without ${dropped.join(" ")} (tandem runs ip addr add ${address} dev <interface>)`] : []),
      ...(excluded ? ["advertised with the other addresses (keepalived leaves excluded addresses out of its advertisements)"] : []),
      ...(dev !== undefined && interfaceName === undefined ? [`its dev ${dev} becomes the instance's interface`] : []),
    ];
    const key = _key(path);
    if (notes.length === 0) this.report.carried(statement.origin, key);
    else this.report.approximated(statement.origin, `${key}, ${notes.join("; ")}`);
    return { added: true, interface: dev };
  }

  #notify(
    at: (...rest: (string | number)[]) => (string | number)[],
    key: (...rest: (string | number)[]) => string,
    notify: Map<string, { statement: Statement; argv: string[]; users: string[] }>,
    general: Statement | undefined,
    instance: string,
    priority: number,
  ): void {
    for (const [state, { statement, argv, users }] of notify) {
      if (argv.length === 0) {
        this.report.notCarried(statement.origin, "a notify without a command");
        continue;
      }
      this.draft.set(at("notify", state), argv, statement.origin);
      if (users.length === 0) this.report.carried(statement.origin, key("notify", state));
      else this.report.approximated(statement.origin, `${key("notify", state)}, run as tandem's user, not ${users.join(":")}`);
    }
    if (general === undefined) return;
    // keepalived's `notify` gets "INSTANCE <name> <STATE> <priority>" appended; tandem gives the
    // same in TANDEM_VRRP_* variables, so it becomes the command of each state without its own.
    const argv = _argv(general.words[1] ?? "");
    const states = ["master", "backup", "fault"].filter((state) => !notify.has(state));
    if (argv.length === 0 || states.length === 0) {
      this.report.notCarried(general.origin, argv.length === 0 ? "a notify without a command" : "every state has its own notify_* command already");
      return;
    }
    for (const state of states) this.draft.set(at("notify", state), [...argv, "INSTANCE", instance, state.toUpperCase(), String(priority)], general.origin);
    this.report.approximated(
      general.origin,
      `${states.map((state) => key("notify", state)).join(", ")}: the command with INSTANCE ${instance} <STATE> ${priority} appended (the configured priority; TANDEM_VRRP_STATE and TANDEM_VRRP_PRIORITY hold the current ones)`,
    );
  }

  /** track_script entries to track.commands / track.readiness; returns the priority raised by positive weights. */
  #trackers(
    at: (...rest: (string | number)[]) => (string | number)[],
    key: (...rest: (string | number)[]) => string,
    trackers: { statement: Statement; script: ScriptSettings; weight: number; reverse: boolean }[],
    priority: number,
  ): number {
    let commands = 0;
    let raised = priority;
    let readiness = false;
    for (const { statement, script, weight, reverse } of trackers) {
      const name = statement.words[0];
      if (reverse) {
        this.report.notCarried(statement.origin, "tandem has no reverse trackers (a tracker lowers the priority, or faults, while it fails)");
        continue;
      }
      if (script.argv === undefined || script.argv.length === 0) {
        const conditional = script.lines.some((line) => line.statement.words[0] === "script");
        this.report.notCarried(statement.origin, conditional ? `vrrp_script ${name}'s script depends on the config-id (@)` : `vrrp_script ${name} has no script (keepalived ignores it too)`);
        continue;
      }
      const checksHaproxy = script.argv.some((arg) => /haproxy/i.test(arg));
      if (checksHaproxy && readiness) {
        this.report.notCarried(statement.origin, `${key("track", "readiness")} already replaces an haproxy check`);
        continue;
      }
      const path = checksHaproxy ? at("track", "readiness") : at("track", "commands", commands++);
      this.draft.set(path, {}, statement.origin);
      let how: string;
      if (weight > 0) {
        // keepalived adds a positive weight while the script passes; tandem subtracts while failing.
        // Raising the priority by the same amount gives the same two priorities.
        raised += weight;
        this.draft.set([...path, "weight"], weight, statement.origin);
        how = `keepalived adds ${weight} to the priority while it passes; tandem lowers it while failing: priority raised by ${weight}, weight ${weight}`;
      } else if (weight < 0) {
        this.draft.set([...path, "weight"], -weight, statement.origin);
        how = "";
      } else how = "";
      if (checksHaproxy) {
        readiness = true;
        how = [`it checked haproxy, which tandem replaces: tandem tracks its own readiness instead (every pool has a usable member, what /readyz says)`, how].filter(Boolean).join("; ");
        if (script.intervalMs !== 1000) this.draft.set([...path, "interval"], _duration(script.intervalMs));
      } else {
        this.draft.set([...path, "argv"], [...script.argv]);
        this.draft.set([...path, "interval"], _duration(script.intervalMs));
        // keepalived's timeout defaults to the interval.
        this.draft.set([...path, "timeout"], _duration(script.timeoutMs ?? script.intervalMs));
        this.draft.set([...path, "rise"], Math.min(script.rise, 100));
        this.draft.set([...path, "fall"], Math.min(script.fall, 100));
      }
      script.users.push({ path: _key(path), readiness: checksHaproxy });
      for (const line of script.lines) this.draft.cite(line.setting === "argv" || line.setting === undefined ? path : [...path, line.setting === "intervalMs" ? "interval" : line.setting === "timeoutMs" ? "timeout" : line.setting], line.statement.origin);
      if (how === "") this.report.carried(statement.origin, _key(path));
      else this.report.approximated(statement.origin, `${_key(path)}: ${how}`);
    }
    // keepalived never raises a priority past 254 (255 is the address owner's alone).
    return priority === 255 ? 255 : Math.min(raised, 254);
  }

  /** A vrrp_script's lines, once the instances that track it are known. */
  #reportScript(script: ScriptSettings): void {
    const users = script.users;
    if (users.length === 0) return this.#all(script.statement, "tracked by no vrrp_instance that was carried (keepalived runs a script only for its trackers)");
    const paths = users.map((user) => user.path).join(", ");
    this.report.carried(script.statement.origin, paths);
    const commandPaths = users.filter((user) => !user.readiness).map((user) => user.path);
    const readinessPaths = users.filter((user) => user.readiness).map((user) => user.path);
    const keys = (field: string) => commandPaths.map((path) => `${path}.${field}`).join(", ");
    for (const { statement, setting } of script.lines) {
      if (statement.condition || statement.unresolved) {
        this.#skipped(statement);
        continue;
      }
      const [keyword, value] = statement.words;
      const forReadiness = readinessPaths.length > 0 ? `${readinessPaths.join(", ")}: ` : "";
      if (setting === undefined) {
        const why = keyword === "user" ? SCRIPT_USER : keyword === "init_fail" ? "tandem's trackers start passing, as keepalived's do without init_fail" : "unknown directive";
        this.report.notCarried(statement.origin, why);
      } else if (setting === "weight") {
        this.report.carried(statement.origin, [...commandPaths, ...readinessPaths].map((path) => `${path}.weight`).join(", ") + (script.weight === 0 ? " (none: a failure is a fault)" : ""));
      } else if (commandPaths.length === 0) {
        if (setting === "argv") this.report.approximated(statement.origin, `${forReadiness}replaced by tandem's own readiness (the script checked haproxy)`);
        else if (setting === "intervalMs") this.report.carried(statement.origin, readinessPaths.map((path) => `${path}.interval`).join(", "));
        else this.report.notCarried(statement.origin, `${forReadiness}readiness has no ${keyword}: it follows /readyz`);
      } else {
        const field = setting === "intervalMs" ? "interval" : setting === "timeoutMs" ? "timeout" : setting;
        const clamped = (setting === "rise" || setting === "fall") && script[setting] > 100;
        if (setting === "argv" && script.shell) this.report.approximated(statement.origin, `${keys(field)}: run through /bin/sh -c, as it is shell syntax (tandem runs argv without a shell)`);
        else if (clamped) this.report.approximated(statement.origin, `${keys(field)}: 100 (tandem's most), not ${value}`);
        else this.report.carried(statement.origin, keys(field));
      }
    }
  }
}

function _conditionReason(condition: string): string {
  const negated = condition.startsWith("@^");
  const id = condition.slice(negated ? 2 : 1);
  return `conditional on keepalived's config-id (${negated ? `every node but -i ${id}` : `-i ${id}`}): tandem import reads one node's config; write this node's lines without the condition`;
}

/** keepalived's script string to argv: unquoted whitespace separates, single quotes group. */
function _argv(script: string): string[] {
  const argv: string[] = [];
  let current: string | undefined;
  let quoted = false;
  for (const char of script) {
    if (char === "'") {
      quoted = !quoted;
      current ??= "";
    } else if (!quoted && /\s/.test(char)) {
      if (current !== undefined) argv.push(current);
      current = undefined;
    } else current = (current ?? "") + char;
  }
  if (current !== undefined) argv.push(current);
  return argv;
}

function _integer(statement: Statement, text: string | undefined, min: number, max: number): number {
  const [keyword] = statement.words;
  if (text === undefined || !/^[-+]?\d+$/.test(text)) throw new ImportError(statement.origin.file, statement.origin.line, `${keyword}: expected an integer (got ${JSON.stringify(text ?? "nothing")})`);
  const value = Number(text);
  if (value < min || value > max) throw new ImportError(statement.origin.file, statement.origin.line, `${keyword}: expected ${min} to ${max} (got ${text})`);
  return value;
}

/** keepalived's <TIMER>: seconds, fractions allowed, to whole milliseconds. */
function _seconds(statement: Statement, text: string | undefined): number {
  const [keyword] = statement.words;
  if (text === undefined || !/^\d+(\.\d+)?$|^\.\d+$/.test(text)) throw new ImportError(statement.origin.file, statement.origin.line, `${keyword}: expected a number of seconds (got ${JSON.stringify(text ?? "nothing")})`);
  return Math.round(Number(text) * 1000);
}

function _duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function _key(path: readonly (string | number)[]): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${part}` : part), "");
}

/** A valid, unused tandem name from a keepalived one (VI_1 stays VI_1; "web vip" becomes web-vip). */
function _uniqueName(source: string, used: Set<string>): string {
  let name = source.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+|-+$/g, "") || "instance";
  if (!TANDEM_NAME.test(name)) name = `instance-${name}`;
  let candidate = name;
  for (let suffix = 2; used.has(candidate); suffix++) candidate = `${name}-${suffix}`;
  used.add(candidate);
  return candidate;
}

/**
 * What an operator needs to know when a config with keepalived's `vrrp` fails validation: that
 * keepalived.conf alone has no balancer, and where vrrp.address comes from. Empty when neither.
 */
export function keepalivedHints(config: Record<string, unknown>): string[] {
  const hints: string[] = [];
  if (config.listeners === undefined && config.pools === undefined) {
    hints.push("keepalived.conf gives the vrrp section only (failover), no listeners or pools: import it together with the balancer's config, e.g. tandem import haproxy.cfg keepalived.conf");
  }
  const vrrp = config.vrrp as Record<string, unknown> | undefined;
  if (vrrp !== undefined && vrrp.address === undefined) {
    hints.push("vrrp.address: keepalived finds this node's address on the interface, tandem needs it written: add unicast_src_ip (or mcast_src_ip) with this node's address to each vrrp_instance, and import again");
  }
  return hints;
}
