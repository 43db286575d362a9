/**
 * Prometheus series of the ACME certificates, read from their status when /metrics is rendered.
 *
 * @module
 */
import type { Registry } from "../metrics/registry.ts";
import type { ManagedCertificateStatus } from "./managed-certificate.ts";

export function registerAcmeMetrics(registry: Registry, status: () => ManagedCertificateStatus[]): void {
  const label = (certificate: ManagedCertificateStatus) => [certificate.listener, certificate.domains[0]];
  registry.gaugeFn(
    "tandem_acme_certificate_ready",
    "1 while the listener serves its CA's certificate, 0 while the self-signed placeholder or the listener's own files serve.",
    ["listener", "domain"],
    () => status().map((certificate) => [label(certificate), certificate.state === "placeholder" || certificate.state === "files" ? 0 : 1]),
  );
  registry.gaugeFn(
    "tandem_acme_certificate_not_after_timestamp_seconds",
    "End of validity of the ACME certificate served (absent while the placeholder serves).",
    ["listener", "domain"],
    () => status().flatMap((certificate) => certificate.notAfter === undefined ? [] : [[label(certificate), certificate.notAfter / 1000]]),
  );
  registry.gaugeFn(
    "tandem_acme_next_attempt_timestamp_seconds",
    "When the next order, renewal or retry is due.",
    ["listener", "domain"],
    () => status().flatMap((certificate) => certificate.nextAttempt === undefined ? [] : [[label(certificate), certificate.nextAttempt / 1000]]),
  );
  registry.gaugeFn(
    "tandem_acme_consecutive_failures",
    "Failed orders since the last success (the retry wait doubles with each).",
    ["listener", "domain"],
    () => status().map((certificate) => [label(certificate), certificate.failures]),
  );
  registry.counterFn(
    "tandem_acme_orders_total",
    "Certificate orders, by outcome.",
    ["listener", "domain", "outcome"],
    () => status().flatMap((certificate) => [[[...label(certificate), "ok"], certificate.orders.ok], [[...label(certificate), "failed"], certificate.orders.failed]]),
  );
}
