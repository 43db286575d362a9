/**
 * When to renew and when to try again: plain functions of the certificate, the settings and a
 * random draw, so the schedule is tested with fixed draws and a fake clock.
 *
 * Renewing at a fixed point would make every balancer that got its certificate on the same day
 * (an HA pair, a fleet after an outage) ask the CA in the same minute; a draw spreads them. The
 * CA's ARI window (RFC 9773), when it offers one, wins over both: it knows of revocations.
 *
 * ```ts
 * const at = renewalTime({ notBefore: 0, notAfter: 90 * DAY }, { random: Math.random });
 * // between day 55 and day 60: a third of the lifetime left, minus up to 5 % of it
 * ```
 *
 * @module
 */

export interface Validity {
  notBefore: number;
  notAfter: number;
}

export interface RenewalSettings {
  /** Renew when this much validity is left (config `renewBefore`); default a third of the lifetime. */
  renewBefore?: number;
  /** A draw in [0, 1): where in its jitter range (or the ARI window) the renewal falls. */
  random: () => number;
}

/** How far before the chosen point a renewal may fall, as a share of the lifetime. */
const JITTER_SHARE = 0.05;

/** The time to start renewing `certificate`: inside the CA's window when it gave one. */
export function renewalTime(certificate: Validity, settings: RenewalSettings, window?: { start: number; end: number }): number {
  if (window !== undefined && window.end > window.start) return window.start + settings.random() * (window.end - window.start);
  const lifetime = Math.max(0, certificate.notAfter - certificate.notBefore);
  const before = settings.renewBefore ?? lifetime / 3;
  return certificate.notAfter - before - settings.random() * lifetime * JITTER_SHARE;
}

export interface Backoff {
  /** After the first failure. */
  min: number;
  /** The cap: failures keep being retried at least this often. */
  max: number;
}

/**
 * The wait after the `failures`-th failure in a row: doubling from `min`, capped at `max`, never
 * shorter than the CA's Retry-After (a rate limit's, which may be longer than `max`).
 */
export function retryDelay(failures: number, backoff: Backoff, retryAfterMs = 0): number {
  const doubled = backoff.min * 2 ** Math.min(Math.max(failures - 1, 0), 30);
  return Math.max(Math.min(doubled, backoff.max), retryAfterMs);
}

/** Whether a certificate for `domains` still serves them at `now`, or must be ordered anew. */
export function covers(certificate: Validity & { dnsNames: readonly string[] }, domains: readonly string[], now: number): boolean {
  return now < certificate.notAfter && domains.every((domain) => certificate.dnsNames.includes(domain));
}
