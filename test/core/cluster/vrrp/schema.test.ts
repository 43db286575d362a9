import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatProblem, validateConfig } from "../../../../core/config/load.ts";

const base = { listeners: [{ address: ":8080" }], pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9000" }] } } };
const problems = (vrrp: unknown) => {
  const result = validateConfig({ ...base, vrrp });
  return result.ok ? [] : result.problems.map(formatProblem);
};

describe("vrrp config", () => {
  test("defaults: port 5798, multicast 224.0.0.18, priority 100, 1 s interval, preempt on", () => {
    const result = validateConfig({ ...base, vrrp: { key: "0123456789abcdef", address: "10.0.0.11", instances: [{ name: "web", vrid: 51, interface: "eth0" }] } });
    assert.ok(result.ok);
    const vrrp = result.config.vrrp!;
    assert.deepEqual([vrrp.port, vrrp.multicast, vrrp.peers], [5798, "224.0.0.18", undefined]);
    const instance = vrrp.instances[0];
    assert.deepEqual(
      [instance.priority, instance.advertInterval, instance.preempt, instance.preemptDelay, instance.virtualAddresses, instance.track.commands, instance.notify.timeout],
      [100, 1000, true, 0, [], [], 10_000],
    );
  });

  test("field problems come out with their path", () => {
    assert.deepEqual(problems({
      key: "short",
      address: "10.0.0.256",
      multicast: "10.0.0.1",
      instances: [{
        name: "web",
        vrid: 0,
        priority: 256,
        advertInterval: "5ms",
        interface: "eth0",
        virtualAddresses: ["10.0.0.100/33"],
        track: { commands: [{ argv: [] }], readiness: { weight: 255 } },
      }],
    }), [
      "vrrp.key: a key of at least 16 characters (got length 5)",
      'vrrp.address: an IPv4 address such as "10.0.0.11" (got "10.0.0.256")',
      'vrrp.multicast: an IPv4 multicast group (224.0.0.0/4) (got "10.0.0.1")',
      "vrrp.instances[0].vrid: an integer from 1 to 255 (got 0)",
      "vrrp.instances[0].priority: an integer from 1 to 255 (got 256)",
      "vrrp.instances[0].advertInterval: an advertisement interval from 10ms to 40.95s in whole centiseconds (got 5)",
      'vrrp.instances[0].virtualAddresses[0]: an IPv4 address with an optional prefix length, such as "10.0.0.100/24" (got "10.0.0.100/33")',
      "vrrp.instances[0].track.readiness.weight: an integer from 1 to 254 (got 255)",
      "vrrp.instances[0].track.commands[0].argv: a program and its arguments (got length 0)",
    ]);
  });

  test("cross-field problems: duplicate names, VRIDs and addresses, own address as peer or VIP", () => {
    assert.deepEqual(problems({
      address: "10.0.0.11",
      peers: ["10.0.0.12", "10.0.0.11", "10.0.0.12"],
      instances: [
        { name: "web", vrid: 51, interface: "eth0", virtualAddresses: ["10.0.0.100/24"] },
        { name: "web", vrid: 51, interface: "eth0", virtualAddresses: ["10.0.0.100", "10.0.0.12/24"] },
      ],
    }), [
      'vrrp.peers[1]: another node\'s address, not vrrp.address (got "10.0.0.11")',
      'vrrp.peers[2]: a peer listed once (got "10.0.0.12" again)',
      'vrrp.instances[1].name: an instance name used once (got "web" again)',
      "vrrp.instances[1].vrid: a vrid used by one instance only (got 51 again)",
      'vrrp.instances[1].virtualAddresses[0]: a virtual address held by one instance only (got "10.0.0.100" again)',
      'vrrp.instances[1].virtualAddresses[1]: an address no node owns (got "10.0.0.12/24" (a node\'s own address))',
    ]);
    assert.deepEqual(problems({ address: "10.0.0.11", peers: [], instances: [] }), [
      "vrrp.peers: at least one peer address (omit peers for multicast) (got length 0)",
      "vrrp.instances: at least one instance (got length 0)",
    ]);
  });
});
