/**
 * Prometheus series of the VRRP agent, read from its status when /metrics is rendered.
 *
 * @module
 */
import type { Registry } from "../../metrics/registry.ts";
import type { VrrpStatus } from "./agent.ts";
import { DROP_REASONS } from "./receiver.ts";
import type { VrrpState } from "./router.ts";

const STATES: readonly VrrpState[] = ["initialize", "backup", "master", "fault"];

export function registerVrrpMetrics(registry: Registry, status: () => VrrpStatus | undefined): void {
  const perInstance = (value: (instance: VrrpStatus["instances"][number]) => number) => () =>
    (status()?.instances ?? []).map((instance) => [[instance.name, String(instance.vrid)], value(instance)] as [string[], number]);
  registry.gaugeFn(
    "tandem_vrrp_state",
    "1 for the state each virtual router is in (initialize, backup, master, fault), else 0.",
    ["instance", "vrid", "state"],
    () => (status()?.instances ?? []).flatMap((instance) =>
      STATES.map((state) => [[instance.name, String(instance.vrid), state], instance.state === state ? 1 : 0] as [string[], number])
    ),
  );
  registry.gaugeFn("tandem_vrrp_priority", "Configured priority of each virtual router.", ["instance", "vrid"], perInstance((i) => i.priority));
  registry.gaugeFn(
    "tandem_vrrp_effective_priority",
    "Priority advertised now: the configured one less the weights of failing trackers.",
    ["instance", "vrid"],
    perInstance((i) => i.effectivePriority),
  );
  registry.counterFn("tandem_vrrp_transitions_total", "State changes of each virtual router.", ["instance", "vrid"], perInstance((i) => i.transitions));
  registry.counterFn("tandem_vrrp_send_errors_total", "Advertisements the system refused at the send (a dead unicast peer): lost, nothing else skipped.", [], () => {
    const current = status();
    return current === undefined ? [] : [[[], current.sendErrors]];
  });
  registry.gaugeFn("tandem_vrrp_sync_waiting", "1 while this node waits for its first resync after a start before it may preempt (vrrp.syncTimeout), else 0.", [], () => {
    const current = status();
    return current === undefined ? [] : [[[], current.sync.state === "waiting" ? 1 : 0]];
  });
  registry.counterFn(
    "tandem_vrrp_drops_total",
    "Received datagrams dropped, by reason (truncated, auth, replay, unknown-sender, vrid...).",
    ["reason"],
    () => {
      const drops = status()?.drops;
      return drops === undefined ? [] : DROP_REASONS.map((reason) => [[reason], drops[reason]] as [string[], number]);
    },
  );
}
