import { test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "../../../core/config/load.ts";
import { configJsonSchema } from "../../../core/config/json-schema.ts";
import { edgeWarnings } from "../../../core/config/edge-warnings.ts";

const BASE = { listeners: [{ address: "127.0.0.1:0" }], pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } } };

test("accessLog: true is the object form's defaults, false is off, an object is checked field by field", () => {
  const accessLog = (value: unknown) => {
    const result = validateConfig(value === undefined ? BASE : { ...BASE, accessLog: value });
    return result.ok ? result.config.accessLog : result.problems.map((problem) => `${problem.path}: ${problem.expected}`);
  };
  const defaults = { format: "json", requestId: { header: "X-Request-Id", trustedClients: [] }, tracing: { start: false } };
  assert.deepEqual(accessLog(undefined), defaults);
  assert.deepEqual(accessLog(true), defaults);
  assert.equal(accessLog(false), false);
  assert.deepEqual(accessLog({ format: "httplog", syslog: {} }), { ...defaults, format: "httplog", syslog: { address: "/dev/log", facility: "local0", tag: "tandem" } });
  assert.deepEqual(accessLog({ format: "clf" }), ['accessLog.format: one of "json" | "httplog" | "combined"']);
  assert.deepEqual(accessLog({ file: "a.log", syslog: {} }), ["accessLog: either file or syslog, not both"]);
  assert.deepEqual(accessLog("json"), ["accessLog: true, false or an object {format, file | syslog, requestId, tracing}"]);
});

test("the JSON Schema for editors takes true, false and the object form", () => {
  const schema = configJsonSchema() as { properties: Record<string, { $ref?: string }>; $defs?: Record<string, { anyOf?: { type: string }[] }> };
  const ref = schema.properties.accessLog.$ref;
  const definition = ref === undefined ? schema.properties.accessLog as { anyOf?: { type: string }[] } : schema.$defs![ref.split("/").at(-1)!];
  assert.deepEqual(definition.anyOf?.map((option) => option.type), ["boolean", "object"]);
});

test("check --edge warns that the edge writes access lines as JSON to the platform's log, whatever the file, syslog or format", () => {
  const warned = (accessLog: unknown) => {
    const result = validateConfig({ ...BASE, accessLog });
    assert.ok(result.ok);
    return edgeWarnings(result.config).map((warning) => warning.path).filter((path) => path.startsWith("accessLog"));
  };
  assert.deepEqual(warned({ format: "httplog", file: "a.log" }), ["accessLog.file", "accessLog.format"]);
  assert.deepEqual(warned({ syslog: { address: "10.0.0.9:514" } }), ["accessLog.syslog"]);
  assert.deepEqual(warned(true), []);
  assert.deepEqual(warned(false), []);
});
