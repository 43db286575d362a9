/**
 * `tandem import`: HAProxy, keepalived, mod_jk and mod_proxy_balancer configs to one tandem config.
 * Each file's language is named (`--from`) or detected from its content; files of one language go
 * to its parser together (workers.properties with uriworkermap.properties and `JkMount` lines), and
 * the languages combine into one config (haproxy.cfg gives listeners and pools, keepalived.conf
 * the `vrrp` section). The result must pass the same validation as `tandem check`; the YAML quotes
 * beside each key the directive it came from, and the report accounts for every directive.
 *
 * @module
 */
import { validateConfig, formatProblem } from "../config/load.ts";
import { Draft } from "./draft.ts";
import { importHaproxy } from "./haproxy.ts";
import { importHttpd } from "./httpd.ts";
import { importKeepalived, keepalivedHints } from "./keepalived.ts";
import { importModjk } from "./modjk.ts";
import type { ImportContext, Parser, SourceFile } from "./parser.ts";
import { ImportError, ImportReport } from "./report.ts";

export const SOURCE_FORMATS = ["haproxy", "keepalived", "modjk", "httpd"] as const;
export type SourceFormat = typeof SOURCE_FORMATS[number];

const PARSERS: Record<SourceFormat, Parser> = {
  haproxy: importHaproxy,
  // Before keepalived: its tracked scripts and addresses refer to what the balancer config made.
  modjk: importModjk,
  httpd: importHttpd,
  keepalived: importKeepalived,
};

export type ImportOutcome =
  | { ok: true; yaml: string; report: ImportReport }
  | { ok: false; errors: string[]; report: ImportReport };

/** Imports `files`; never throws for bad input (it is in `errors`, with file and line). */
export async function importConfigs(files: SourceFile[], options: { from?: SourceFormat; readInclude: ImportContext["readInclude"] }): Promise<ImportOutcome> {
  const report = new ImportReport();
  const draft = new Draft();
  const byFormat = new Map<SourceFormat, SourceFile[]>();
  const errors: string[] = [];
  for (const file of files) {
    const format = options.from ?? detectFormat(file.text);
    if (format === undefined) errors.push(`${file.path}: not recognised as ${SOURCE_FORMATS.join(", ")} (name it with --from)`);
    else byFormat.set(format, [...(byFormat.get(format) ?? []), file]);
  }
  if (errors.length > 0) return { ok: false, errors, report };
  try {
    for (const [format, parse] of Object.entries(PARSERS) as [SourceFormat, Parser][]) {
      const mine = byFormat.get(format);
      if (mine) await parse(mine, { draft, report, readInclude: options.readInclude });
    }
  } catch (error) {
    if (error instanceof ImportError) return { ok: false, errors: [error.message], report };
    throw error;
  }
  const validated = validateConfig(draft.config);
  if (!validated.ok) {
    const hints = byFormat.has("keepalived") ? keepalivedHints(draft.config) : [];
    return { ok: false, errors: [...hints, ...validated.problems.map((problem) => `the imported config is not valid: ${formatProblem(problem)}`)], report };
  }
  const sources = files.map((file) => file.path).join(", ");
  return { ok: true, yaml: draft.toYaml(`Imported by tandem import from ${sources}.\nEach comment quotes the directive a key came from; the report lists every directive.`), report };
}

/** The language of a config file from what it contains, or undefined. */
export function detectFormat(text: string): SourceFormat | undefined {
  const code = text.split("\n").filter((line) => !/^\s*[#;]/.test(line)).join("\n");
  if (/^\s*(vrrp_instance|vrrp_script|vrrp_sync_group|global_defs|virtual_server)\b[^\n{]*\n?\s*\{/m.test(code)) return "keepalived";
  // A keepalived.conf made of includes only (conf.d style); httpd spells it Include, mostly.
  if (/^\s*include\s+\S/m.test(code) && code.split("\n").every((line) => /^\s*(include\s+\S.*)?$/.test(line))) return "keepalived";
  if (/^\s*(global|defaults|frontend|backend|listen|peers|resolvers)\b/m.test(code) && /^\s+(server|bind|mode|balance|timeout|default_backend|use_backend|maxconn|log)\b/m.test(code)) return "haproxy";
  // jk.conf is httpd syntax, but its JkMount lines belong with workers.properties.
  if (/^\s*(JkMount|JkUnMount|JkWorkersFile|JkMountFile)\b/mi.test(code)) return "modjk";
  if (/<Proxy\s+"?balancer:\/\//i.test(code) || /^\s*(ProxyPass|BalancerMember|ProxySet)\b/mi.test(code)) return "httpd";
  if (/^\s*worker\.[\w.-]+\s*=/m.test(code) || /^\s*!?\/\S*\s*=\s*[\w.-]+\s*$/m.test(code)) return "modjk";
  return undefined;
}
