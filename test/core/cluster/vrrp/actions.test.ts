/**
 * What a master's instance runs outside the process, with a recording runCommand: the addresses
 * move whatever happens to arping, a missing arping is said once per agent (not per address,
 * announcement or instance), and an arping that ran but failed is tried again.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { createArping, createInstanceActions } from "../../../../core/cluster/vrrp/actions.ts";
import { VrrpSchema } from "../../../../core/cluster/vrrp/schema.ts";
import type { CommandResult } from "../../../../core/ports.ts";
import { FakeClock } from "../../../support/fake-clock.ts";

const instanceConfig = (name: string, vrid: number, virtualAddresses: string[]) =>
  v.parse(VrrpSchema, { key: "a shared secret for the tests", address: "10.0.0.11", instances: [{ name, vrid, interface: "eth0", virtualAddresses }] }).instances[0];

/** A node's commands as run, with arping answered by `arping`; every other command succeeds. */
function recordingNode(arping: () => CommandResult) {
  const clock = new FakeClock();
  const commands: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const runCommand = (argv: readonly string[]) => {
    commands.push(argv.join(" "));
    return Promise.resolve(argv[0] === "arping" ? arping() : { code: 0, output: "" });
  };
  const log = (line: Record<string, unknown>) => void logs.push(line);
  const ports = { runCommand, log, clock, arping: createArping(runCommand, log) };
  const actionsFor = (name: string, vrid: number, addresses: string[]) => createInstanceActions(instanceConfig(name, vrid, addresses), ports, () => true);
  return { clock, commands, logs, actionsFor };
}

const notInstalled = (): CommandResult => ({ code: null, output: "cannot run arping: Executable not found in $PATH: \"arping\"", cannotStart: true });

describe("VRRP instance actions: gratuitous ARP", () => {
  test("arping missing: the addresses still move, one vrrp-arping-missing line for every address, announcement and instance, arping not tried again", async () => {
    const node = recordingNode(notInstalled);
    const web = node.actionsFor("web", 51, ["10.0.0.100/24", "10.0.0.101/24"]);
    const api = node.actionsFor("api", 52, ["10.0.0.102/24"]);
    web.becameMaster(150);
    await web.settled();
    node.clock.advance(1_000);
    web.reannounce();
    node.clock.advance(0);
    web.leftMaster("backup", 150);
    web.becameMaster(150);
    api.becameMaster(150);
    await Promise.all([web.settled(), api.settled()]);

    assert.deepEqual(node.commands.filter((command) => command.startsWith("arping")), ["arping -U -c 1 -I eth0 10.0.0.100"], "tried once, then skipped");
    // The two instances' queues interleave: their commands are compared as a set with counts.
    assert.deepEqual(node.commands.filter((command) => command.startsWith("ip -4 addr add")).sort(), [
      "ip -4 addr add 10.0.0.100/24 dev eth0",
      "ip -4 addr add 10.0.0.100/24 dev eth0",
      "ip -4 addr add 10.0.0.101/24 dev eth0",
      "ip -4 addr add 10.0.0.101/24 dev eth0",
      "ip -4 addr add 10.0.0.102/24 dev eth0",
    ]);
    assert.deepEqual(node.logs.map((line) => line.event), ["vrrp-arping-missing"], "one line, and no vrrp-command-failed");
    assert.match(String(node.logs[0].message), /arping cannot run.*iputils-arping/);
    assert.match(String(node.logs[0].output), /Executable not found/);
  });

  test("the control: an installed arping announces every address at each becoming master and reannounce, nothing logged", async () => {
    const node = recordingNode(() => ({ code: 0, output: "" }));
    const web = node.actionsFor("web", 51, ["10.0.0.100/24", "10.0.0.101/24"]);
    web.becameMaster(150);
    await web.settled();
    node.clock.advance(1_000);
    web.reannounce();
    node.clock.advance(0);
    await web.settled();
    const announcement = ["arping -U -c 1 -I eth0 10.0.0.100", "arping -U -c 1 -I eth0 10.0.0.101"];
    assert.deepEqual(node.commands.filter((command) => command.startsWith("arping")), [...announcement, ...announcement]);
    assert.deepEqual(node.logs, []);
  });

  test("a reannounce within a second of the last announcement is put off to the end of that second, not dropped; calls meanwhile add nothing", async () => {
    const node = recordingNode(() => ({ code: 0, output: "" }));
    const web = node.actionsFor("web", 51, ["10.0.0.100/24"]);
    const arpings = () => node.commands.filter((command) => command.startsWith("arping")).length;
    web.becameMaster(150);
    await web.settled();
    assert.equal(arpings(), 1);
    node.clock.advance(300);
    web.reannounce();
    web.reannounce();
    await web.settled();
    assert.equal(arpings(), 1, "not within the second");
    node.clock.advance(699);
    await web.settled();
    assert.equal(arpings(), 1);
    node.clock.advance(1);
    await web.settled();
    assert.equal(arpings(), 2, "once, at the end of the second");
    node.clock.advance(5_000);
    web.reannounce();
    node.clock.advance(0);
    await web.settled();
    assert.equal(arpings(), 3, "a second later, at once");
  });

  test("an arping that ran and failed, or was killed at its timeout, is logged as a failed command and tried again next time", async () => {
    const answers: CommandResult[] = [{ code: null, output: "[killed after 5000 ms]" }, { code: 2, output: "arping: socket: Operation not permitted" }, { code: 0, output: "" }];
    const node = recordingNode(() => answers.shift()!);
    const web = node.actionsFor("web", 51, ["10.0.0.100/24"]);
    web.becameMaster(150);
    await web.settled();
    for (let announcement = 0; announcement < 2; announcement++) {
      node.clock.advance(1_000);
      web.reannounce();
      node.clock.advance(0);
      await web.settled();
    }
    assert.equal(node.commands.filter((command) => command.startsWith("arping")).length, 3);
    assert.deepEqual(node.logs.map((line) => [line.event, line.code]), [["vrrp-command-failed", null], ["vrrp-command-failed", 2]]);
  });
});
