/**
 * Real Apache Tomcat 10 backends for runtime tests (Debian package `tomcat10`).
 *
 * Each instance gets a private CATALINA_BASE in a temp dir: the packaged conf/ files, a server.xml
 * with one HTTP connector on a free 127.0.0.1 port (no shutdown port, no AJP) and
 * `<Engine jvmRoute="...">`, and a ROOT webapp whose index.jsp counts requests per HttpSession:
 *
 *     GET /  ->  {"backend":"tc1","session":"<id>.tc1","count":1}   (application/json)
 *     Set-Cookie: JSESSIONID=<id>.tc1; Path=/; HttpOnly
 *
 * Tomcat runs as `catalina.sh run` (what Debian's systemd unit runs) under a small sh watchdog
 * that SIGKILLs the JVM when our end of its stdin closes, so a crashed test runner leaves no Tomcat
 * behind. `stop()` is a hard kill: the node disappears the way a dead machine does; `restart()`
 * brings it back on the same port, with no sessions, the way a rebooted machine does.
 *
 * `options.engine` puts an `<Engine>` of the caller's in server.xml (e.g. one with a Valve, read
 * from a documented example), and `options.files` adds pages to the ROOT webapp.
 *
 * @example
 * ```ts
 * if (tomcatAvailable()) {
 *   const tomcat = await startTomcat("tc1");
 *   try {
 *     const body = await (await fetch(tomcat.url)).json(); // { backend: "tc1", session, count: 1 }
 *   } finally {
 *     await tomcat.stop();
 *   }
 * }
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { freePort, waitFor } from "./ports.ts";

export interface TomcatOptions {
  /**
   * The whole `<Engine>…</Engine>` element of server.xml instead of the default one (a single
   * `<Host name="localhost" appBase="webapps">`). It must say `jvmRoute="<jvmRoute>"`, and its Host
   * must serve webapps/ROOT, where the pages are.
   */
  engine?: string;
  /** More files of the ROOT webapp, by path relative to it: `{"whoami.jsp": "<%@ page … %>…"}`. */
  files?: Record<string, string>;
}

export interface TomcatInstance {
  name: string;
  jvmRoute: string;
  port: number;
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** SIGKILLs the JVM, waits until it is gone (port refuses connections), removes its files. */
  stop(): Promise<void>;
  /**
   * The node coming back: stops it if it still runs, then starts it again with the same jvmRoute
   * on the same port (fresh files, so no sessions survive, as after a crash) and resolves once
   * `GET /` answered 200. `stop()` then stops the new JVM.
   */
  restart(): Promise<void>;
}

const CATALINA_HOME = "/usr/share/tomcat10";
/** Pristine copies first (world-readable); /etc/tomcat10 is root:tomcat 0640 and may be edited. */
const CONF_SOURCES = [`${CATALINA_HOME}/etc`, "/etc/tomcat10"];
const CONF_FILES = ["web.xml", "catalina.properties", "context.xml"];
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;

/** True when Debian's tomcat10 is installed and `java` is on PATH. */
export function tomcatAvailable(): boolean {
  return existsSync(`${CATALINA_HOME}/bin/catalina.sh`) &&
    _confSource() !== undefined && _findJava() !== undefined;
}

/**
 * Starts a Tomcat whose sessions carry `jvmRoute`, and resolves once `GET /` answered 200
 * (which also compiled the JSP, so later requests are fast). Retries on a lost port race.
 */
export async function startTomcat(jvmRoute: string, options: TomcatOptions = {}): Promise<TomcatInstance> {
  if (!/^[A-Za-z0-9_-]+$/.test(jvmRoute)) {
    throw new Error(`startTomcat: jvmRoute must match [A-Za-z0-9_-]+, got ${JSON.stringify(jvmRoute)}`);
  }
  if (options.engine !== undefined && !new RegExp(`<Engine\\b[^>]*\\bjvmRoute="${jvmRoute}"`).test(options.engine)) {
    throw new Error(`startTomcat: options.engine must be an <Engine jvmRoute="${jvmRoute}"> element`);
  }
  for (const file of Object.keys(options.files ?? {})) {
    if (file.split("/").some((part) => part === "" || part === "." || part === "..")) {
      throw new Error(`startTomcat: options.files: ${JSON.stringify(file)} is not a relative path inside ROOT`);
    }
  }
  if (!tomcatAvailable()) {
    throw new Error("startTomcat: tomcat10 or java not found (apt-get install tomcat10)");
  }
  const base = await mkdtemp(join(tmpdir(), `tandem-tomcat-${jvmRoute}-`));
  let running: _Running;
  try {
    await _writeBase(base, jvmRoute, options);
    for (let attempt = 1;; attempt++) {
      const port = await freePort();
      await writeFile(join(base, "conf", "server.xml"), _serverXml(port, jvmRoute, options));
      try {
        running = await _launch(base, jvmRoute, port);
        break;
      } catch (error) {
        if (!(error instanceof _PortTakenError) || attempt >= START_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }
  const { port } = running;
  let restarting: Promise<void> | undefined;
  return {
    name: jvmRoute,
    jvmRoute,
    port,
    url: `http://127.0.0.1:${port}/`,
    // A stop() during a restart waits for the new JVM and stops that one.
    stop: async () => {
      await restarting?.catch(() => {});
      await running.stop();
    },
    restart: () =>
      restarting ??= (async () => {
        await running.stop();
        running = await _relaunch(jvmRoute, port, options);
      })().finally(() => (restarting = undefined)),
  };
}

/** The same node again on the same port: a port taken meanwhile is waited out, not changed. */
async function _relaunch(jvmRoute: string, port: number, options: TomcatOptions): Promise<_Running> {
  const base = await mkdtemp(join(tmpdir(), `tandem-tomcat-${jvmRoute}-`));
  try {
    await _writeBase(base, jvmRoute, options);
    await writeFile(join(base, "conf", "server.xml"), _serverXml(port, jvmRoute, options));
    for (let attempt = 1;; attempt++) {
      try {
        return await _launch(base, jvmRoute, port);
      } catch (error) {
        if (!(error instanceof _PortTakenError) || attempt >= START_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }
}

/** One JVM of an instance. */
interface _Running {
  port: number;
  stop(): Promise<void>;
}

class _PortTakenError extends Error {}

/** Runs its arguments (catalina.sh run) and kills them with SIGKILL once stdin reaches EOF. */
const WATCHDOG = `
exec 3<&0
"$@" </dev/null 3<&- &
tomcat=$!
echo "$tomcat" > "$CATALINA_BASE/tomcat.pid"
( while read -r _ <&3; do :; done; kill -9 "$tomcat" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
watchdog=$!
exec 3<&-
wait "$tomcat"
status=$?
kill "$watchdog" 2>/dev/null
exit "$status"
`;

async function _launch(base: string, jvmRoute: string, port: number): Promise<_Running> {
  const started = Date.now();
  await rm(join(base, "tomcat.pid"), { force: true }); // never SIGKILL a previous attempt's pid
  const child = spawn("sh", ["-c", WATCHDOG, "tomcat-watchdog", `${CATALINA_HOME}/bin/catalina.sh`, "run"], {
    cwd: base,
    env: {
      ...process.env,
      CATALINA_HOME,
      CATALINA_BASE: base,
      CATALINA_TMPDIR: join(base, "temp"),
      // Small, quick-starting JVM: several instances share a 2-core CI machine.
      JAVA_OPTS: [
        "-Djava.awt.headless=true",
        "-Djava.security.egd=file:/dev/./urandom",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-XX:-UsePerfData",
        "-Xms32m",
        "-Xmx256m",
      ].join(" "),
      CATALINA_OPTS: "",
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const output: string[] = [];
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? 128 : null);
      resolve();
    });
    child.once("error", (error) => {
      output.push(`spawn error: ${error.message}`);
      exitCode = -1;
      resolve();
    });
  });
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line) output.push(line);
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  const url = `http://127.0.0.1:${port}/`;
  let stopped: Promise<void> | undefined;
  const stop = () => stopped ??= _stop(child, base, exited, () => exitCode !== undefined);
  const instance: _Running = { port, stop };

  try {
    await waitFor(async () => {
      if (exitCode !== undefined) return true; // stop polling; reported below
      if (output.some((line) => line.includes("Address already in use"))) return true;
      return await _answers200(url);
    }, READY_TIMEOUT_MS, `Tomcat ${jvmRoute} to answer 200 on ${url}`);
  } catch (error) {
    await _stop(child, base, exited, () => exitCode !== undefined, { keepBase: true });
    throw new Error(`${(error as Error).message}\n--- Tomcat output (tail) ---\n${output.slice(-40).join("\n")}`);
  }
  if (output.some((line) => line.includes("Address already in use"))) {
    await _stop(child, base, exited, () => exitCode !== undefined, { keepBase: true });
    throw new _PortTakenError(`port ${port} was taken before Tomcat bound it`);
  }
  if (exitCode !== undefined) {
    await _stop(child, base, exited, () => true, { keepBase: true });
    throw new Error(
      `Tomcat ${jvmRoute} exited with ${exitCode} before answering on ${url}\n` +
        `--- Tomcat output (tail) ---\n${output.slice(-40).join("\n")}`,
    );
  }
  if (process.env.TANDEM_TEST_VERBOSE) {
    console.error(`tomcat ${jvmRoute}: ready on ${url} in ${Date.now() - started} ms`);
  }
  return instance;
}

async function _answers200(url: string): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5_000);
  try {
    const response = await fetch(url, { signal: controller.signal });
    await response.arrayBuffer(); // drain: Deno reports unconsumed bodies as leaks
    return response.status === 200;
  } finally {
    clearTimeout(timer);
  }
}

async function _stop(
  child: ChildProcess,
  base: string,
  exited: Promise<void>,
  hasExited: () => boolean,
  options: { keepBase?: boolean } = {},
): Promise<void> {
  if (!hasExited()) {
    const pid = Number.parseInt(await readFile(join(base, "tomcat.pid"), "utf8").catch(() => ""), 10);
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    child.stdin?.end(); // the watchdog kills the JVM too, in case the pid file was not written yet
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
    });
    const late = await Promise.race([exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      child.kill("SIGKILL");
      await exited;
    }
  }
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
  // logs/ and work/ help when a start failed; a failed start still removes them via startTomcat.
  if (!options.keepBase) await rm(base, { recursive: true, force: true });
}

async function _writeBase(base: string, jvmRoute: string, options: TomcatOptions): Promise<void> {
  const source = _confSource()!;
  for (const dir of ["conf", "logs", "temp", "work", "webapps/ROOT"]) {
    await mkdir(join(base, dir), { recursive: true });
  }
  for (const file of CONF_FILES) await copyFile(join(source, file), join(base, "conf", file));
  // No TLD scanning of the ~30 library jars: the page uses no tag libraries; saves ~2 s per start.
  await appendFile(
    join(base, "conf", "catalina.properties"),
    "\ntomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n",
  );
  await writeFile(join(base, "conf", "logging.properties"), LOGGING_PROPERTIES);
  await writeFile(join(base, "webapps", "ROOT", "index.jsp"), _indexJsp(jvmRoute));
  for (const [file, text] of Object.entries(options.files ?? {})) {
    const path = join(base, "webapps", "ROOT", file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
}

function _serverXml(port: number, jvmRoute: string, options: TomcatOptions): string {
  const engine = options.engine ?? `<Engine name="Catalina" defaultHost="localhost" jvmRoute="${jvmRoute}">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by tandem's test/support/tomcat.ts: one HTTP connector, no shutdown port, no AJP. -->
<Server port="-1" shutdown="SHUTDOWN">
  <Listener className="org.apache.catalina.core.JreMemoryLeakPreventionListener" />
  <Listener className="org.apache.catalina.core.ThreadLocalLeakPreventionListener" />
  <Service name="Catalina">
    <Connector address="127.0.0.1" port="${port}" protocol="HTTP/1.1"
               connectionTimeout="20000" maxParameterCount="1000" />
    ${engine}
  </Service>
</Server>
`;
}

function _indexJsp(jvmRoute: string): string {
  // session.getId() already carries the ".<jvmRoute>" suffix, as does the JSESSIONID cookie.
  return `<%@ page contentType="application/json; charset=UTF-8" session="true" trimDirectiveWhitespaces="true" %><%
  Integer previous = (Integer) session.getAttribute("count");
  int count = (previous == null ? 0 : previous) + 1;
  session.setAttribute("count", count);
  out.print("{\\"backend\\":\\"${jvmRoute}\\",\\"session\\":\\"" + session.getId() + "\\",\\"count\\":" + count + "}");
%>`;
}

const LOGGING_PROPERTIES = `handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = INFO
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
`;

function _confSource(): string | undefined {
  return CONF_SOURCES.find((dir) => CONF_FILES.every((file) => _readable(join(dir, file))));
}

function _findJava(): string | undefined {
  const dirs = [
    ...(process.env.JAVA_HOME ? [join(process.env.JAVA_HOME, "bin")] : []),
    ...(process.env.PATH ?? "").split(delimiter).filter(Boolean),
  ];
  return dirs.map((dir) => join(dir, "java")).find((file) => _executable(file));
}

function _readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function _executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
