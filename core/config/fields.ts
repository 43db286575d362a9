/**
 * Field rules shared by every part of the config schema (pools, health, admin), so a duration or
 * an address reads and fails the same way wherever it appears.
 *
 * @module
 */
import * as v from "valibot";
import { parseDuration } from "./duration.ts";

/** `500ms`, `2s`, `1m`... or a number of milliseconds, at least `min`; milliseconds after parsing. */
export const durationValue = (min = 0) =>
  v.pipe(
    v.union([
      v.pipe(v.number(), v.integer(), v.minValue(min, `at least ${min} ms`)),
      v.pipe(
        v.string(),
        v.check(
          (text) => (parseDuration(text) ?? -1) >= min,
          min === 0 ? 'a duration such as "500ms", "5s", "1m"' : `a duration such as "500ms", "5s", "1m" of at least ${min} ms`,
        ),
      ),
    ], 'a duration such as "500ms", "5s", "1m" or a number of milliseconds'),
    v.transform((value) => (typeof value === "number" ? value : parseDuration(value)!)),
    v.metadata({ duration: true }),
  );

export const duration = (fallback: string | number, min = 0) => v.optional(durationValue(min), fallback);

/** `host:port`, `[v6]:port` or `:port` (all addresses). Port 0 asks the system for a free port. */
export const address = v.pipe(
  v.string(),
  v.check(
    (text) => /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/.test(text) && Number(text.slice(text.lastIndexOf(":") + 1)) <= 65535,
    'an address "host:port" with a port from 0 to 65535, such as "127.0.0.1:8080"',
  ),
);

export const ACTIVATIONS = ["active", "disabled", "stopped"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** Splits "host:port", "[v6]:port" or ":port" (all interfaces). */
export function splitAddress(address: string): { hostname: string; port: number } {
  const colon = address.lastIndexOf(":");
  let hostname = address.slice(0, colon);
  if (hostname.startsWith("[")) hostname = hostname.slice(1, -1);
  return { hostname: hostname || "0.0.0.0", port: Number(address.slice(colon + 1)) };
}
