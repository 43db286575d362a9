/**
 * What a reload reads and checks before anything is swapped: the file, its validation, the
 * guard a running process adds (workers sharing ports), and the files the config names. A
 * failure here changes nothing in the running process.
 *
 * @module
 */
import type { Platform } from "../platform.ts";
import { type ConfigFiles, loadConfigFiles } from "./files.ts";
import { asksForPortZero, formatProblem, parseConfig } from "./load.ts";
import type { Config } from "./schema.ts";

export type PreparedReload = { ok: true; config: Config; files: ConfigFiles } | { ok: false; problems: string[] };

export async function prepareReload(platform: Platform, path: string | undefined): Promise<PreparedReload> {
  if (path === undefined) return { ok: false, problems: ["no config file to reload (the embedded demo)"] };
  let text: string;
  try {
    text = await platform.readTextFile(path);
  } catch (error) {
    return { ok: false, problems: [`${path}: cannot read: ${(error as Error).message}`] };
  }
  const result = parseConfig(text);
  if (!result.ok) return { ok: false, problems: result.problems.map(formatProblem) };
  const { config } = result;
  // The file may leave `workers` out, and then a port-0 listener passes its check; the running workers still share every port.
  const { worker } = platform;
  const portZero = worker !== undefined && worker.count > 1 ? config.listeners.findIndex(asksForPortZero) : -1;
  if (portZero !== -1) {
    return { ok: false, problems: [`listeners[${portZero}].address: a fixed port: ${worker!.count} workers are running and each would get a different one for port 0 (got "${config.listeners[portZero].address}")`] };
  }
  const loaded = await loadConfigFiles(config, path, platform);
  return loaded.ok ? { ok: true, config, files: loaded.files } : loaded;
}
