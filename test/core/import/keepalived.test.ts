/**
 * keepalived.conf import: Debian's samples, the classic lb1/lb2 pair written out in full, the
 * language itself (comments, quotes, blocks, includes, parameters, conditions, sequences) and
 * malformed input, through importKeepalived with a Draft and an ImportReport.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { formatProblem, validateConfig } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importKeepalived, keepalivedHints } from "../../../core/import/keepalived.ts";
import { ImportError, ImportReport, type ReportEntry } from "../../../core/import/report.ts";

const FIXTURES = new URL("./fixtures/keepalived/", import.meta.url).pathname;
const LVS = "out of scope: tandem is an HTTP balancer, not LVS";

type Files = Record<string, string>;

/** Imports `files` (the first is given, the others only reachable by include; patterns are exact names or `dir/*.conf`). */
async function run(files: Files, given = [Object.keys(files)[0]]): Promise<{ draft: Draft; report: ImportReport }> {
  const draft = new Draft();
  const report = new ImportReport();
  const readInclude = async (pattern: string, from: string) => {
    const base = from.slice(0, from.lastIndexOf("/") + 1);
    // Resolves "." and ".." as the file system would.
    const wanted = (pattern.startsWith("/") ? pattern : base + pattern).split("/").reduce<string[]>((parts, part) => (part === ".." ? parts.slice(0, -1) : part === "." ? parts : [...parts, part]), []).join("/");
    const matcher = new RegExp(`^${wanted.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
    return Object.keys(files).filter((path) => matcher.test(path)).sort().map((path) => ({ path, text: files[path] }));
  };
  await importKeepalived(given.map((path) => ({ path, text: files[path] })), { draft, report, readInclude });
  return { draft, report };
}

/** Lines that hold a directive, by an independent reading: not blank, not a comment, not braces alone. */
function directiveLines(text: string): number[] {
  return text.split("\n").flatMap((line, index) => {
    let quote: string | undefined;
    let code = line;
    for (let at = 0; at < line.length; at++) {
      if (quote) quote = line[at] === quote ? undefined : quote;
      else if (line[at] === '"' || line[at] === "'") quote = line[at];
      else if (line[at] === "#" || line[at] === "!") {
        code = line.slice(0, at);
        break;
      }
    }
    return /^[\s{}]*$/.test(code) ? [] : [index + 1];
  });
}

/** Every directive line of `path` has exactly one report entry, and nothing else has one. */
function assertEveryDirectiveOnce(report: ImportReport, path: string, text: string): void {
  const lines = report.entries.filter((entry) => entry.origin.file === path).map((entry) => entry.origin.line).sort((a, b) => a - b);
  assert.deepEqual(lines, directiveLines(text), `${path}: one report entry per directive line`);
}

function entryAt(report: ImportReport, line: number, file?: string): ReportEntry {
  const found = report.entries.filter((entry) => entry.origin.line === line && (file === undefined || entry.origin.file === file));
  assert.equal(found.length, 1, `one entry at line ${line}: ${JSON.stringify(found)}`);
  return found[0];
}

function counts(report: ImportReport): [number, number, number] {
  const count = (disposition: string) => report.entries.filter((entry) => entry.disposition === disposition).length;
  return [count("carried"), count("approximated"), count("not carried")];
}

/** The draft with what the haproxy parser would have given (listeners, pools), validated. */
function withBalancer(draft: Draft) {
  const config = structuredClone(draft.config);
  config.listeners = [{ address: ":80" }];
  config.pools = { web: { members: [{ name: "web1", url: "http://10.0.0.21:8080" }] } };
  return validateConfig(config);
}

async function rejects(files: Files, message: string): Promise<void> {
  await assert.rejects(run(files), (error: unknown) => {
    assert.ok(error instanceof ImportError, String(error));
    assert.equal(error.message, message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Debian's samples

/** [carried, approximated, not carried] per sample, and whether it has VRRP instances. */
const SAMPLES: Record<string, { counts: [number, number, number]; instances: number }> = {
  "etc-keepalived.conf.sample": { counts: [9, 1, 104], instances: 1 },
  "keepalived.conf.HTTP_GET.port": { counts: [0, 0, 23], instances: 0 },
  "keepalived.conf.IPv6": { counts: [0, 0, 17], instances: 0 },
  "keepalived.conf.PING_CHECK": { counts: [0, 0, 17], instances: 0 },
  "keepalived.conf.SMTP_CHECK": { counts: [0, 0, 50], instances: 0 },
  "keepalived.conf.SSL_GET": { counts: [9, 1, 46], instances: 1 },
  "keepalived.conf.UDP_CHECK": { counts: [0, 0, 19], instances: 0 },
  "keepalived.conf.conditional_conf": { counts: [7, 1, 17], instances: 1 },
  "keepalived.conf.fwmark": { counts: [0, 0, 18], instances: 0 },
  "keepalived.conf.inhibit": { counts: [0, 0, 23], instances: 0 },
  "keepalived.conf.misc_check": { counts: [0, 0, 17], instances: 0 },
  "keepalived.conf.misc_check_arg": { counts: [0, 0, 17], instances: 0 },
  "keepalived.conf.quorum": { counts: [0, 0, 62], instances: 0 },
  "keepalived.conf.sample": { counts: [10, 0, 23], instances: 1 },
  "keepalived.conf.status_code": { counts: [0, 0, 26], instances: 0 },
  "keepalived.conf.track_interface": { counts: [6, 1, 16], instances: 1 },
  "keepalived.conf.virtual_server_group": { counts: [0, 0, 38], instances: 0 },
  "keepalived.conf.virtualhost": { counts: [0, 0, 26], instances: 0 },
  "keepalived.conf.vrrp": { counts: [36, 2, 19], instances: 4 },
  "keepalived.conf.vrrp.localcheck": { counts: [80, 13, 8], instances: 9 },
  "keepalived.conf.vrrp.lvs_syncd": { counts: [27, 1, 17], instances: 3 },
  "keepalived.conf.vrrp.routes": { counts: [6, 1, 18], instances: 1 },
  "keepalived.conf.vrrp.rules": { counts: [6, 1, 10], instances: 1 },
  "keepalived.conf.vrrp.scripts": { counts: [24, 3, 11], instances: 3 },
  "keepalived.conf.vrrp.static_ipaddress": { counts: [6, 1, 11], instances: 1 },
  "keepalived.conf.vrrp.sync": { counts: [54, 7, 16], instances: 9 },
};

test("every Debian sample is a fixture here, and each is listed with its expected report", () => {
  const fixtures = readdirSync(FIXTURES).filter((name) => name.includes("keepalived.conf")).sort();
  assert.deepEqual(fixtures, Object.keys(SAMPLES).sort());
});

for (const [name, expected] of Object.entries(SAMPLES)) {
  test(`Debian sample ${name}: every directive reported once, LVS out of scope, the vrrp section valid beside a balancer`, async () => {
    const path = `/etc/keepalived/${name}`;
    const text = readFileSync(FIXTURES + name, "utf8");
    const { draft, report } = await run({ [path]: text });
    assertEveryDirectiveOnce(report, path, text);
    assert.deepEqual(counts(report), expected.counts, report.format());
    assert.ok(!report.entries.some((entry) => entry.detail === "unknown directive"), "keepalived's own keywords are all known");
    // Every line inside a virtual_server (LVS) is out of scope, whatever its keyword.
    let depth = 0;
    let lvs = false;
    text.split("\n").forEach((line, index) => {
      const code = line.replace(/[#!].*/, "");
      if (depth === 0) lvs = /^\s*virtual_server(_group)?\s/.test(code);
      if (lvs && directiveLines(line).length > 0) assert.equal(entryAt(report, index + 1).detail, LVS, line);
      depth += (code.match(/\{/g) ?? []).length - (code.match(/\}/g) ?? []).length;
    });
    for (const entry of report.entries.filter((entry) => /^\s*auth_pass\b/.test(entry.origin.text))) {
      assert.match(entry.detail, /set TANDEM_VRRP_KEY/);
    }
    const instances = (draft.get(["vrrp", "instances"]) as unknown[] | undefined) ?? [];
    assert.equal(instances.length, expected.instances);
    if (instances.length === 0) {
      assert.equal(draft.config.vrrp, undefined, "LVS alone gives no vrrp section");
      return;
    }
    assert.ok(!/auth_pass|1111/.test(JSON.stringify(draft.config)), "no secret in the config");
    // The samples use multicast with the address from the interface: without unicast_src_ip or
    // mcast_src_ip there is no vrrp.address, which the operator is told to add.
    assert.equal(draft.get(["vrrp", "address"]), undefined);
    const alone = validateConfig(draft.config);
    assert.ok(!alone.ok);
    assert.deepEqual(alone.problems.map(formatProblem), [
      "listeners: a value (required) (got nothing)",
      "pools: a value (required) (got nothing)",
      "vrrp.address: a value (required) (got nothing)",
    ]);
    assert.equal(keepalivedHints(draft.config).length, 2);
    draft.set(["vrrp", "address"], "192.168.100.1");
    const validated = withBalancer(draft);
    assert.ok(validated.ok, validated.ok ? "" : validated.problems.map(formatProblem).join("\n"));
  });
}

test("Debian's vrrp.localcheck: the haproxy check becomes tandem's readiness, shell-syntax checks run through sh -c, positive weights raise the priority", async () => {
  const path = "/etc/keepalived/keepalived.conf";
  const { draft, report } = await run({ [path]: readFileSync(FIXTURES + "keepalived.conf.vrrp.localcheck", "utf8") });
  assert.equal(draft.get(["vrrp", "instances", 0, "priority"]), 102, "priority 100, chk_haproxy weight 2 adds 2 while passing");
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "track", "readiness"]), { weight: 2, interval: "2s" });
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "track", "commands"]), [
    { argv: ["killall", "-0", "sshd"], interval: "2s", timeout: "2s", rise: 2, fall: 2, weight: 4 },
    { argv: ["/bin/sh", "-c", "</dev/tcp/127.0.0.1/80"], interval: "1s", timeout: "1s", rise: 1, fall: 1, weight: 2 },
    { argv: ["/bin/sh", "-c", "</dev/tcp/127.0.0.1/443"], interval: "1s", timeout: "1s", rise: 1, fall: 1, weight: 2 },
    { argv: ["/bin/sh", "-c", "</dev/tcp/127.0.0.1/25"], interval: "1s", timeout: "1s", rise: 1, fall: 1, weight: 2 },
  ]);
  assert.match(entryAt(report, 20).detail, /vrrp\.instances\[0\]\.track\.readiness, vrrp\.instances\[1\]\.track\.readiness: replaced by tandem's own readiness/);
  assert.match(entryAt(report, 25).detail, /run through \/bin\/sh -c/);
  assert.match(entryAt(report, 57).detail, /priority raised by 2, weight 2/);
  assert.match(entryAt(report, 51).detail, /tandem does not watch interfaces/);
  const yaml = draft.toYaml();
  assert.ok(!yaml.includes("&"), "no YAML anchors: each instance has its own argv");
  assert.match(yaml, /priority: 102 # keepalived.conf:46 priority 100; keepalived.conf:57 chk_haproxy weight 2/);
});

test("Debian's vrrp sample: a label is dropped, an address listed twice is added once, the sample's PASS is a secret", async () => {
  const path = "/etc/keepalived/keepalived.conf";
  const { draft, report } = await run({ [path]: readFileSync(FIXTURES + "keepalived.conf.vrrp", "utf8") });
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "virtualAddresses"]), ["192.168.200.16", "192.168.200.17", "192.168.200.18"]);
  assert.deepEqual(entryAt(report, 32), {
    origin: { file: path, line: 32, text: "        192.168.200.18 label eth0:1" },
    disposition: "not carried",
    detail: "vrrp.instances[0].virtualAddresses[2] holds 192.168.200.18 already (an address is added once)",
  });
  assert.equal(entryAt(report, 23).detail, "a secret, not written to the config: set TANDEM_VRRP_KEY (16+ characters, the same on every node; keepalived's 8-character PASS is too short to reuse)");
  assert.equal(entryAt(report, 16).disposition, "not carried");
  assert.match(entryAt(report, 14).detail, /^tandem has no initial state/);
});

test("Debian's conditional_conf: lines for one config-id are reported, not guessed", async () => {
  const path = "/etc/keepalived/keepalived.conf";
  const { draft, report } = await run({ [path]: readFileSync(FIXTURES + "keepalived.conf.conditional_conf", "utf8") });
  assert.equal(entryAt(report, 19).detail, "conditional on keepalived's config-id (-i high): tandem import reads one node's config; write this node's lines without the condition");
  assert.equal(draft.get(["vrrp", "instances", 0, "priority"]), undefined);
  assert.equal(entryAt(report, 25).detail, "vrrp_script check_VI_0's script depends on the config-id (@)");
});

// ---------------------------------------------------------------------------------------------
// The classic pair

const pair = (node: { state: string; priority: number; self: string; peer: string }) => `! Configuration File for keepalived (${node.self})
global_defs {
   router_id ${node.state === "MASTER" ? "lb1" : "lb2"}
   enable_script_security
   script_user keepalived_script
   vrrp_version 3
}

vrrp_script check_haproxy {
    script "/usr/bin/killall -0 haproxy"   # is haproxy running?
    interval 2
    weight -60
    fall 2
    rise 2
}

vrrp_script check_disk {
    script "/usr/local/bin/check-disk --min 10%"
    interval 5
    timeout 3
}

vrrp_instance VI_WEB {
    state ${node.state}
    interface eth0
    virtual_router_id 51
    priority ${node.priority}
    advert_int 1
    preempt_delay 30
    unicast_src_ip ${node.self}
    unicast_peer {
        ${node.peer}
    }
    authentication {
        auth_type PASS
        auth_pass s3cr3tpw
    }
    virtual_ipaddress {
        10.0.0.100/24 dev eth0 label eth0:1
    }
    virtual_ipaddress_excluded {
        10.0.0.101/24
    }
    track_script {
        check_haproxy
        check_disk weight -10
    }
    notify_master "/etc/keepalived/notify.sh MASTER"
    notify_backup "/etc/keepalived/notify.sh BACKUP"
    notify_fault "/etc/keepalived/notify.sh FAULT" root
    garp_master_delay 1
    garp_master_refresh 60
}
`;

const vrrpOf = (node: { state: string; priority: number; self: string; peer: string }) => ({
  address: node.self,
  peers: [node.peer],
  instances: [{
    name: "VI_WEB",
    interface: "eth0",
    vrid: 51,
    priority: node.priority,
    advertInterval: "1s",
    // keepalived clears preempt_delay with state MASTER.
    ...(node.state === "BACKUP" ? { preemptDelay: "30s" } : {}),
    virtualAddresses: ["10.0.0.100/24", "10.0.0.101/24"],
    track: {
      readiness: { weight: 60, interval: "2s" },
      commands: [{ argv: ["/usr/local/bin/check-disk", "--min", "10%"], interval: "5s", timeout: "3s", rise: 1, fall: 1, weight: 10 }],
    },
    notify: {
      master: ["/etc/keepalived/notify.sh", "MASTER"],
      backup: ["/etc/keepalived/notify.sh", "BACKUP"],
      fault: ["/etc/keepalived/notify.sh", "FAULT"],
    },
  }],
});

for (const node of [{ state: "MASTER", priority: 150, self: "10.0.0.11", peer: "10.0.0.12" }, { state: "BACKUP", priority: 100, self: "10.0.0.12", peer: "10.0.0.11" }]) {
  test(`the classic pair, ${node.state} node ${node.self}: unicast peers, check_haproxy as readiness, notify commands, no secret`, async () => {
    const path = "/etc/keepalived/keepalived.conf";
    const text = pair(node);
    const { draft, report } = await run({ [path]: text });
    assertEveryDirectiveOnce(report, path, text);
    assert.deepEqual(draft.config, { vrrp: vrrpOf(node) });
    const validated = withBalancer(draft);
    assert.ok(validated.ok, validated.ok ? "" : validated.problems.map(formatProblem).join("\n"));
    assert.equal(validated.config.vrrp?.instances[0].preempt, true);
    assert.equal(validated.config.vrrp?.instances[0].advertInterval, 1000);

    const detail = (line: number) => entryAt(report, line).detail;
    assert.equal(detail(3), "tandem names a node by vrrp.address");
    assert.match(detail(6), /own signed VRRPv3 over UDP/);
    assert.match(detail(10), /^vrrp\.instances\[0\]\.track\.readiness: replaced by tandem's own readiness/);
    assert.equal(detail(12), "vrrp.instances[0].track.readiness.weight");
    assert.equal(entryAt(report, 13).disposition, "not carried");
    assert.match(detail(13), /readiness has no fall/);
    assert.equal(detail(19), "vrrp.instances[0].track.commands[0].interval");
    assert.equal(detail(20), "vrrp.instances[0].track.commands[0].timeout");
    assert.equal(entryAt(report, 24).disposition, "approximated", "state");
    assert.equal(detail(29), node.state === "MASTER" ? "keepalived clears preempt_delay with state MASTER: no delay" : "vrrp.instances[0].preemptDelay");
    assert.equal(detail(30), "vrrp.address");
    assert.equal(detail(32), "vrrp.peers[0]");
    assert.match(detail(34), /^set TANDEM_VRRP_KEY/);
    assert.match(detail(36), /^a secret, not written to the config: set TANDEM_VRRP_KEY/);
    assert.equal(detail(39), "vrrp.instances[0].virtualAddresses[0], without label eth0:1 (tandem runs ip addr add 10.0.0.100/24 dev <interface>)");
    assert.match(detail(42), /advertised with the other addresses/);
    assert.equal(entryAt(report, 45).disposition, "approximated");
    assert.equal(detail(45), "vrrp.instances[0].track.readiness: it checked haproxy, which tandem replaces: tandem tracks its own readiness instead (every pool has a usable member, what /readyz says)");
    assert.equal(detail(46), "vrrp.instances[0].track.commands[0]");
    assert.equal(detail(48), "vrrp.instances[0].notify.master");
    assert.equal(detail(50), "vrrp.instances[0].notify.fault, run as tandem's user, not root");
    assert.match(detail(51), /gratuitous ARP/);

    const yaml = draft.toYaml();
    assert.ok(!yaml.includes("s3cr3tpw"), "auth_pass is never written");
    assert.ok(yaml.includes("      vrid: 51 # keepalived.conf:26 virtual_router_id 51\n"), yaml);
    assert.ok(yaml.includes(`  address: ${node.self} # keepalived.conf:30 unicast_src_ip ${node.self}\n`), yaml);
    assert.ok(yaml.includes("            - --min\n"), yaml);
  });
}

test("keepalived.conf alone: not valid, and the hints say to import it with the balancer's config and where vrrp.address comes from", async () => {
  const { draft } = await run({ "/etc/keepalived/keepalived.conf": pair({ state: "MASTER", priority: 150, self: "10.0.0.11", peer: "10.0.0.12" }) });
  const validated = validateConfig(draft.config);
  assert.ok(!validated.ok);
  assert.deepEqual(validated.problems.map(formatProblem), ["listeners: a value (required) (got nothing)", "pools: a value (required) (got nothing)"]);
  assert.deepEqual(keepalivedHints(draft.config), [
    "keepalived.conf gives the vrrp section only (failover), no listeners or pools: import it together with the balancer's config, e.g. tandem import haproxy.cfg keepalived.conf",
  ]);
  assert.deepEqual(keepalivedHints({ listeners: [], pools: {} }), [], "nothing to say beside a balancer config with no vrrp");
});

// ---------------------------------------------------------------------------------------------
// The language

test("comments start with # or ! anywhere outside quotes; quoted parts join, keep spaces and read escapes; single quotes group a script's arguments", async () => {
  const text = [
    "vrrp_instance VI_1 { # the web VIP",
    "  interface eth0 ! the LAN",
    "  virtual_router_id 7",
    `  notify_master "/bin/echo a#b!c"`,
    `  notify_backup /bin/logger" -t "'vrrp backup'`,
    `  notify_fault "/bin/printf \\x41\\"\\101"`,
    `  notify "/usr/bin/curl -s 'http://127.0.0.1/state change'"`,
    "}",
  ].join("\n");
  const { draft, report } = await run({ "/k.conf": text });
  assertEveryDirectiveOnce(report, "/k.conf", text);
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "notify"]), {
    master: ["/bin/echo", "a#b!c"],
    backup: ["/bin/logger", "-t", "vrrp", "backup"],
    fault: ["/bin/printf", 'A"A'],
  });
  assert.equal(entryAt(report, 7).detail, "every state has its own notify_* command already");
});

test("the generic notify becomes each state's command with keepalived's four arguments", async () => {
  const { draft, report } = await run({ "/k.conf": `vrrp_instance web {\n interface eth0\n virtual_router_id 7\n priority 120\n notify_master /bin/up\n notify "/usr/bin/curl -s 'http://127.0.0.1/state change'"\n}\n` });
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "notify"]), {
    master: ["/bin/up"],
    backup: ["/usr/bin/curl", "-s", "http://127.0.0.1/state change", "INSTANCE", "web", "BACKUP", "120"],
    fault: ["/usr/bin/curl", "-s", "http://127.0.0.1/state change", "INSTANCE", "web", "FAULT", "120"],
  });
  assert.equal(entryAt(report, 6).disposition, "approximated");
});

test("blocks: a one-line block, a brace on the next line, braces without spaces", async () => {
  const text = "vrrp_instance VI_1\n{\n  interface eth0\n  virtual_router_id 9\n  virtual_ipaddress { 10.0.0.5/24 }\n  virtual_ipaddress_excluded {10.0.0.6}\n  unicast_peer{10.0.0.12}\n}\n";
  const { draft, report } = await run({ "/k.conf": text });
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "virtualAddresses"]), ["10.0.0.5/24", "10.0.0.6"]);
  assert.deepEqual(draft.get(["vrrp", "peers"]), ["10.0.0.12"]);
  // A one-line block's statements share its line: one entry per statement.
  assert.equal(report.entries.filter((entry) => entry.origin.line === 5).length, 2);
  assert.equal(report.entries.filter((entry) => entry.origin.line === 5 && entry.detail.startsWith("vrrp.instances[0].virtualAddresses[")).length, 1);
});

test("include: the files a pattern matches are imported in its place, relative to the including file; one that matches nothing is reported", async () => {
  const files = {
    "/etc/keepalived/keepalived.conf": "global_defs {\n  router_id lb1\n}\ninclude conf.d/*.conf\ninclude \"/etc/keepalived/missing/*.conf\"\n",
    "/etc/keepalived/conf.d/10-script.conf": "vrrp_script chk {\n  script \"/usr/bin/pgrep -x nginx\"\n}\n",
    "/etc/keepalived/conf.d/20-web.conf": "vrrp_instance web {\n  interface eth0\n  virtual_router_id 1\n  track_script {\n    chk\n  }\n}\n",
  };
  const { draft, report } = await run(files);
  for (const [path, text] of Object.entries(files)) assertEveryDirectiveOnce(report, path, text);
  assert.equal(entryAt(report, 4, "/etc/keepalived/keepalived.conf").detail, "an include: the directives of /etc/keepalived/conf.d/10-script.conf, /etc/keepalived/conf.d/20-web.conf are imported in its place");
  assert.equal(entryAt(report, 5, "/etc/keepalived/keepalived.conf").detail, "an include that matches no file (keepalived reads nothing either)");
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "track", "commands", 0, "argv"]), ["/usr/bin/pgrep", "-x", "nginx"]);
  assert.equal(entryAt(report, 2, "/etc/keepalived/conf.d/10-script.conf").detail, "vrrp.instances[0].track.commands[0].argv");
});

test("parameters: $NAME and ${NAME}, multi-line definitions read line by line, ~SEQ sequences", async () => {
  const text = [
    "$IF=eth0",
    "$INSTANCE= \\",
    "vrrp_instance VI_${NUM} { \\",
    "    interface $IF \\",
    "    virtual_router_id ${NUM} \\",
    "    virtual_ipaddress { \\",
    "        10.0.${NUM}.254/24 \\",
    "    } \\",
    "}",
    "$NUM=1",
    "$INSTANCE",
    "~SEQ(NUM, 2, 3) $INSTANCE",
    "vrrp_instance ${UNDEFINED} {",
    "  interface ${_HASH}eth9",
    "  virtual_router_id 9",
    "}",
  ].join("\n");
  const { draft, report } = await run({ "/k.conf": text });
  const instances = draft.get(["vrrp", "instances"]) as { name: string; vrid: number; interface: string; virtualAddresses: string[] }[];
  assert.deepEqual(instances.map((instance) => [instance.name, instance.vrid, instance.interface, instance.virtualAddresses]), [
    ["VI_1", 1, "eth0", ["10.0.1.254/24"]],
    ["VI_2", 2, "eth0", ["10.0.2.254/24"]],
    ["VI_3", 3, "eth0", ["10.0.3.254/24"]],
    ["UNDEFINED", 9, "#eth9", undefined],
  ]);
  assert.equal(entryAt(report, 1).detail, "a parameter definition: $IF is substituted where it is used");
  assert.equal(entryAt(report, 2).detail, "a parameter definition: $INSTANCE is substituted where it is used");
  assert.equal(report.entries.filter((entry) => entry.origin.line === 11).length, 5, "the expansion's five directives, at the line that used it");
  assert.match(entryAt(report, 13).detail, /renamed "\$\{UNDEFINED\}" to "UNDEFINED"/);
});

test("conditions: @id and @^id lines and parameters defined under them are reported, not guessed", async () => {
  const text = "@lb1 $PRIO=150\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 5\n  @lb1 priority 150\n  @^lb1 priority 100\n  priority $PRIO\n  @lb2 track_script {\n    chk\n  }\n}\n";
  const { draft, report } = await run({ "/k.conf": text });
  assertEveryDirectiveOnce(report, "/k.conf", text);
  assert.equal(draft.get(["vrrp", "instances", 0, "priority"]), undefined);
  assert.match(entryAt(report, 1).detail, /config-id \(-i lb1\)/);
  assert.match(entryAt(report, 6).detail, /config-id \(every node but -i lb1\)/);
  assert.equal(entryAt(report, 7).detail, "depends on $PRIO, which is defined only under an @ condition");
  assert.match(entryAt(report, 9).detail, /config-id \(-i lb2\)/, "a conditional block's contents too");
});

test("instances: names made valid, dev beside the interface, IPv6, reverse and positive weights, scripts nobody tracks, unknown keywords", async () => {
  const text = [
    "global_defs {",
    "  vrrp_mcast_group4 224.0.0.19",
    "  some_future_option yes",
    "}",
    "vrrp_script chk_a {",
    "  script /usr/bin/true",
    "  weight 10",
    "}",
    "vrrp_script unused {",
    "  script /usr/bin/false",
    "  user nobody",
    "}",
    'vrrp_instance "web vip" {',
    "  virtual_router_id 10",
    "  priority 250",
    "  advert_int 0.015",
    "  mcast_src_ip 10.0.0.11",
    "  virtual_ipaddress {",
    "    10.0.0.100/24 dev eth1 brd 10.0.0.255 scope global",
    "    10.0.0.101/24 dev eth2",
    "    fe80::1/64",
    "  }",
    "  track_script {",
    "    chk_a",
    "    chk_a weight 0 reverse",
    "    chk_missing",
    "  }",
    "  frobnicate 3",
    "  widgets {",
    "    a",
    "  }",
    "}",
    "vrrp_instance other {",
    "  interface eth0",
    "  virtual_router_id 11",
    "  unicast_src_ip 10.0.0.99",
    "  mcast_dst_ip 224.0.0.20",
    "}",
    "mystery_block {",
    "  x",
    "}",
  ].join("\n");
  const { draft, report } = await run({ "/k.conf": text });
  assertEveryDirectiveOnce(report, "/k.conf", text);
  const detail = (line: number) => entryAt(report, line).detail;
  assert.equal(draft.get(["vrrp", "multicast"]), "224.0.0.19");
  assert.equal(detail(3), "unknown directive");
  assert.equal(detail(9), "tracked by no vrrp_instance that was carried (keepalived runs a script only for its trackers)");
  assert.equal(draft.get(["vrrp", "instances", 0, "name"]), "web-vip");
  assert.equal(draft.get(["vrrp", "instances", 0, "interface"]), "eth1", "the first address's dev, as there is no interface line");
  assert.equal(draft.get(["vrrp", "instances", 0, "advertInterval"]), "20ms");
  assert.match(detail(16), /whole centiseconds/);
  assert.equal(draft.get(["vrrp", "address"]), "10.0.0.11");
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "virtualAddresses"]), ["10.0.0.100/24"]);
  assert.equal(detail(19), "vrrp.instances[0].virtualAddresses[0], without brd 10.0.0.255 scope global (tandem runs ip addr add 10.0.0.100/24 dev <interface>); its dev eth1 becomes the instance's interface");
  assert.match(detail(20), /not on eth2: make an instance with interface eth2/);
  assert.equal(detail(21), "tandem's VRRP is IPv4 only");
  assert.equal(draft.get(["vrrp", "instances", 0, "priority"]), 254, "250 + 10 while passing, at most 254 as in keepalived");
  assert.deepEqual(draft.get(["vrrp", "instances", 0, "track", "commands"]), [{ argv: ["/usr/bin/true"], interval: "1s", timeout: "1s", rise: 1, fall: 1, weight: 10 }]);
  assert.match(detail(25), /no reverse trackers/);
  assert.equal(detail(26), "no vrrp_script chk_missing (keepalived ignores it too)");
  assert.equal(detail(28), "unknown directive");
  assert.equal(detail(30), "unknown block (with everything in it)");
  assert.equal(detail(36), "tandem has one address per node: vrrp.address is 10.0.0.11 (/k.conf:17)");
  assert.equal(detail(37), "tandem has one multicast group per node: vrrp.multicast is 224.0.0.19 (/k.conf:2)");
  assert.equal(detail(40), "unknown block (with everything in it)");
  const validated = withBalancer(draft);
  assert.ok(validated.ok, validated.ok ? "" : validated.problems.map(formatProblem).join("\n"));
});

// ---------------------------------------------------------------------------------------------
// Malformed input

test("malformed: an unterminated block names the line that opened it", async () => {
  await rejects({ "/etc/keepalived/keepalived.conf": "vrrp_instance VI_1 {\n  interface eth0\n  virtual_ipaddress {\n    10.0.0.1\n}\n" },
    "/etc/keepalived/keepalived.conf:1: 'vrrp_instance VI_1 {' is never closed (a '}' is missing)");
});

test("malformed: a '}' that closes nothing, a '{' after nothing, an unclosed quote", async () => {
  await rejects({ "/k.conf": "global_defs {\n}\n}\n" }, "/k.conf:3: a '}' that closes no block");
  await rejects({ "/k.conf": "global_defs {\n}\n{\n}\n" }, "/k.conf:3: a '{' with no keyword before it");
  await rejects({ "/k.conf": 'vrrp_instance VI_1 {\n  notify_master "/bin/up\n}\n' }, '/k.conf:2: a quoted string (") is not closed on its line');
});

test("malformed: bad numbers where keepalived needs one", async () => {
  const instance = (line: string) => ({ "/k.conf": `vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  ${line}\n}\n` });
  await rejects(instance("priority high"), '/k.conf:4: priority: expected an integer (got "high")');
  await rejects(instance("priority 0"), "/k.conf:4: priority: expected 1 to 255 (got 0)");
  await rejects(instance("advert_int 1s"), '/k.conf:4: advert_int: expected a number of seconds (got "1s")');
  await rejects(instance("preempt_delay"), '/k.conf:4: preempt_delay: expected a number of seconds (got "nothing")');
  await rejects({ "/k.conf": "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n}\n" }, "/k.conf:3: virtual_router_id: expected 1 to 255 (got 300)");
  await rejects({ "/k.conf": "vrrp_script s {\n  script /bin/true\n  weight -300\n}\n" }, "/k.conf:3: weight: expected -253 to 253 (got -300)");
  await rejects(instance("virtual_ipaddress {\n    10.0.0.300/24\n  }"), '/k.conf:5: "10.0.0.300/24": not an IPv4 address with an optional prefix length');
  await rejects({ "/k.conf": "vrrp_instance VI_1 {\n  interface eth0\n}\n" }, "/k.conf:1: vrrp_instance VI_1 has no virtual_router_id (keepalived refuses it too)");
  await rejects({ "/k.conf": "~SEQ(N, 1, 0, 3) x\n" }, "/k.conf:1: ~SEQ(N, 1, 0, 3): a step of 0 never ends");
});

test("malformed: an include loop names the include that closes it", async () => {
  await rejects({
    "/etc/keepalived/keepalived.conf": "global_defs {\n}\ninclude conf.d/a.conf\n",
    "/etc/keepalived/conf.d/a.conf": "include b.conf\n",
    "/etc/keepalived/conf.d/b.conf": "! back to the start\ninclude ../keepalived.conf\n",
  }, "/etc/keepalived/conf.d/b.conf:2: include loop: /etc/keepalived/keepalived.conf includes /etc/keepalived/conf.d/a.conf includes /etc/keepalived/conf.d/b.conf includes /etc/keepalived/keepalived.conf");
  await rejects({ "/k.conf": "$A=${B}x\n$B=${A}y\nrouter ${A}\n" }, "/k.conf:3: parameter substitution does not end (a parameter refers to itself)");
});

test("preemption as keepalived settles it: nopreempt and preempt_delay are cleared with state MASTER, nopreempt at priority 255, preempt_delay beside nopreempt", async () => {
  const instance = (lines: string) => ({ "/k.conf": `vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 5\n${lines}\n}\n` });
  const backup = await run(instance("  state BACKUP\n  nopreempt\n  preempt_delay 10"));
  assert.equal(backup.draft.get(["vrrp", "instances", 0, "preempt"]), false);
  assert.equal(backup.draft.get(["vrrp", "instances", 0, "preemptDelay"]), undefined);
  assert.equal(entryAt(backup.report, 6).detail, "keepalived clears preempt_delay beside nopreempt: no delay");
  const master = await run(instance("  state MASTER\n  nopreempt"));
  assert.equal(master.draft.get(["vrrp", "instances", 0, "preempt"]), undefined);
  assert.equal(entryAt(master.report, 5).detail, "keepalived clears nopreempt with state MASTER: the instance preempts, as tandem's do by default");
  const owner = await run(instance("  priority 255\n  nopreempt"));
  assert.equal(owner.draft.get(["vrrp", "instances", 0, "preempt"]), undefined);
  assert.match(entryAt(owner.report, 5).detail, /at priority 255/);
  const delayed = await run(instance("  preempt_delay 2.5"));
  assert.equal(delayed.draft.get(["vrrp", "instances", 0, "preemptDelay"]), "2500ms");
});
