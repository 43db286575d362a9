/**
 * The JSON Schema of the config file, derived from the valibot schema so the two never drift.
 * Editors (VS Code's YAML extension, JetBrains) use it for completion and inline errors.
 *
 * @module
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import { ConfigSchema } from "./schema.ts";

export function configJsonSchema(): Record<string, unknown> {
  // Input mode: editors check what people write ("5s"), not what the transforms produce (5000).
  return {
    ...toJsonSchema(ConfigSchema, { typeMode: "input", errorMode: "ignore" }),
    title: "tandem configuration",
  } as Record<string, unknown>;
}
