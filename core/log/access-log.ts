/**
 * Where access lines go, in the configured format: stdout (the default), a file (appended to,
 * reopened on SIGUSR1 after logrotate moved it), or syslog (RFC 5424 over UDP, or a local
 * datagram socket such as `/dev/log`). A reload that changes the destination opens the new one
 * before the old one closes; every worker opens its own, and a file is appended to in whole lines,
 * so the workers' lines never mix.
 *
 * ```ts
 * const accessLog = new AccessLog(platform, "/etc/tandem/tandem.yaml");
 * const problems = await accessLog.configure(config.accessLog);
 * createBalancer(config, { ..., accessLog: accessLog.write });
 * platform.onSignal("SIGUSR1", () => void accessLog.reopen());
 * ```
 *
 * @module
 */
import type { AccessLogConfig, AccessLogFormat, SyslogConfig } from "../config/schema.ts";
import { resolvePath } from "../config/files.ts";
import { splitAddress } from "../config/fields.ts";
import { logEvent } from "../log.ts";
import type { AppendFile, Platform, UnixDatagramSocket } from "../platform.ts";
import type { DatagramSocket } from "../ports.ts";
import type { AccessRecord } from "./access-record.ts";
import { formatAccessLine } from "./format.ts";
import { syslogMessage } from "./syslog.ts";

/** A file destination writes at most this much at once, and sooner once this much is waiting. */
const FILE_BATCH_BYTES = 64 * 1024;

interface _Destination {
  /** What identifies it across reloads: the same key keeps the open file or socket. */
  readonly key: string;
  write(line: string): void;
  reopen(): Promise<void>;
  close(): void;
}

export class AccessLog {
  readonly #platform: Platform;
  readonly #configPath: string | undefined;
  #format: AccessLogFormat = "json";
  #destination: _Destination | undefined;

  constructor(platform: Platform, configPath: string | undefined) {
    this.#platform = platform;
    this.#configPath = configPath;
  }

  /** Takes a config's `accessLog`; returns what could not be opened (the previous destination then stays). */
  async configure(config: AccessLogConfig | false): Promise<string[]> {
    if (config === false) {
      this.close();
      return [];
    }
    const key = _keyOf(config, this.#configPath);
    if (this.#destination?.key !== key) {
      let opened: _Destination;
      try {
        opened = await this.#open(config, key);
      } catch (error) {
        const where = config.file !== undefined ? "accessLog.file" : "accessLog.syslog.address";
        return [`${where}: cannot open ${key.slice(key.indexOf(":") + 1)}: ${(error as Error).message}`];
      }
      this.#destination?.close();
      this.#destination = opened;
    } else if (this.#destination instanceof _Syslog && config.syslog) {
      this.#destination.settings = config.syslog;
    }
    this.#format = config.format;
    return [];
  }

  /** Formats and sends one request's line (bound: the balancer takes it as its port). */
  readonly write = (record: AccessRecord): void => {
    this.#destination?.write(formatAccessLine(this.#format, record, this.#platform.worker?.index));
  };

  /** SIGUSR1: the file is opened again under its name (logrotate moved the old one away), the local socket reconnected. */
  async reopen(): Promise<void> {
    const destination = this.#destination;
    if (destination === undefined) return;
    try {
      await destination.reopen();
      logEvent(this.#platform, "access-log-reopened", { destination: destination.key });
    } catch (error) {
      logEvent(this.#platform, "access-log-reopen-failed", { destination: destination.key, message: (error as Error).message });
    }
  }

  /** Writes what is waiting and closes (shutdown, or a config without access log). */
  close(): void {
    this.#destination?.close();
    this.#destination = undefined;
  }

  #open(config: AccessLogConfig, key: string): Promise<_Destination> {
    const platform = this.#platform;
    if (config.file !== undefined) return _File.open(platform, key, resolvePath(this.#configPath, config.file));
    if (config.syslog !== undefined) return _Syslog.open(platform, key, config.syslog);
    return Promise.resolve({ key, write: (line) => platform.stdout(line), reopen: () => Promise.resolve(), close() {} });
  }
}

function _keyOf(config: AccessLogConfig, configPath: string | undefined): string {
  if (config.file !== undefined) return `file:${resolvePath(configPath, config.file)}`;
  if (config.syslog !== undefined) return `syslog:${config.syslog.address}`;
  return "stdout";
}

/**
 * Lines wait for the end of the current turn of the event loop and go out in one write: one
 * system call for the lines of many requests instead of one each.
 */
class _File implements _Destination {
  #file: AppendFile;
  #pending = "";
  #scheduled = false;
  /** A failed write is reported once, not once per line, until a write succeeds again. */
  #failing = false;

  private constructor(readonly platform: Platform, readonly key: string, readonly path: string, file: AppendFile) {
    this.#file = file;
  }

  static async open(platform: Platform, key: string, path: string): Promise<_File> {
    return new _File(platform, key, path, await platform.openAppendFile(path));
  }

  write(line: string): void {
    this.#pending += `${line}\n`;
    if (this.#pending.length >= FILE_BATCH_BYTES) return this.#flush();
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.platform.clock.setTimer(this.#flush, 0);
  }

  /** The new file is open before the old one closes: no line is lost in between. */
  async reopen(): Promise<void> {
    const next = await this.platform.openAppendFile(this.path);
    this.#flush();
    const previous = this.#file;
    this.#file = next;
    previous.close();
  }

  close(): void {
    this.#flush();
    this.#file.close();
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const text = this.#pending;
    if (text === "") return;
    this.#pending = "";
    try {
      this.#file.write(text);
      this.#failing = false;
    } catch (error) {
      if (this.#failing) return;
      this.#failing = true;
      logEvent(this.platform, "access-log-write-failed", { file: this.path, message: (error as Error).message });
    }
  };
}

/** One RFC 5424 message per line, over UDP or a local datagram socket. */
class _Syslog implements _Destination {
  static readonly #encoder = new TextEncoder();
  #socket: _Sender;

  private constructor(readonly platform: Platform, readonly key: string, public settings: SyslogConfig, socket: _Sender) {
    this.#socket = socket;
  }

  static async open(platform: Platform, key: string, settings: SyslogConfig): Promise<_Syslog> {
    return new _Syslog(platform, key, settings, await _connect(platform, settings.address));
  }

  write(line: string): void {
    this.#socket.send(_Syslog.#encoder.encode(syslogMessage(this.settings, this.platform.clock.now(), line)));
  }

  /** A local socket's receiver may have been restarted (a new socket under the same name): connect again. */
  async reopen(): Promise<void> {
    if (!this.settings.address.startsWith("/")) return;
    const next = await _connect(this.platform, this.settings.address);
    const previous = this.#socket;
    this.#socket = next;
    previous.close();
  }

  close(): void {
    this.#socket.close();
  }
}

type _Sender = Pick<UnixDatagramSocket, "send" | "close">;

function _connect(platform: Platform, address: string): Promise<_Sender> {
  if (address.startsWith("/")) return platform.connectUnixDatagram(address);
  return _udp(platform, address);
}

async function _udp(platform: Platform, address: string): Promise<_Sender> {
  const { hostname, port } = splitAddress(address);
  const socket: DatagramSocket = await platform.bindDatagram({ hostname: hostname.includes(":") ? "::" : "0.0.0.0", port: 0 }, () => {});
  return { send: (data) => socket.send(data, hostname, port), close: () => socket.close() };
}
