/**
 * RFC 5424 syslog messages, as HAProxy's `log … format rfc5424` sends them: severity info,
 * the configured facility and tag (APP-NAME), no hostname (`-`: the receiver knows where a
 * datagram came from), no structured data, the line as MSG. One message per datagram (RFC 5426
 * over UDP, and the local socket takes the same).
 *
 * ```ts
 * import { syslogMessage } from "./syslog.ts";
 * syslogMessage({ facility: "local0", tag: "tandem" }, Date.UTC(2026, 11, 5), "GET / 200");
 * // "<134>1 2026-12-05T00:00:00.000Z - tandem - - - GET / 200"
 * ```
 *
 * @module
 */
import { SYSLOG_FACILITIES, type SyslogConfig } from "../config/schema.ts";

/** Severity 6: access lines are informational. */
const INFO = 6;

export function syslogMessage({ facility, tag }: Pick<SyslogConfig, "facility" | "tag">, time: number, line: string): string {
  const priority = SYSLOG_FACILITIES.indexOf(facility) * 8 + INFO;
  return `<${priority}>1 ${new Date(time).toISOString()} - ${tag} - - - ${line}`;
}
