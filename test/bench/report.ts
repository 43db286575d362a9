/**
 * Medians and markdown tables. A table's rows hold one median per column; columns marked `ratio`
 * also show the value divided by the HAProxy row's, so every figure reads against the reference.
 *
 * @module
 */

export interface Column {
  key: string;
  label: string;
  /** Decimal places. */
  digits?: number;
  /** Show `(0.85×)`: this value over the HAProxy row's. */
  ratio?: boolean;
  /** Words rather than figures: left-aligned. */
  text?: boolean;
}

export interface Row {
  id: string;
  label: string;
  values: Record<string, number | string | undefined>;
}

export interface Table {
  title: string;
  /** One line on how it was measured. */
  method: string;
  columns: Column[];
  rows: Row[];
  notes: string[];
}

export function median(values: readonly number[]): number | undefined {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Medians of each numeric key over a list of per-round samples. */
export function medians<T extends object>(samples: readonly T[], keys: readonly (keyof T & string)[]): Record<string, number | undefined> {
  return Object.fromEntries(keys.map((key) => [key, median(samples.map((sample) => sample[key] as number))]));
}

/** 69639 → "69 639"; 3.456 → "3.46" (digits 2). */
export function formatNumber(value: number, digits = 0): string {
  const fixed = value.toFixed(digits);
  const [whole, fraction] = fixed.split(".");
  const grouped = Math.abs(value) >= 10_000 ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, " ") : whole;
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/** The reference row: HAProxy with one thread (the first row whose id starts with `haproxy`). */
function _reference(table: Table): Row | undefined {
  return table.rows.find((row) => row.id.startsWith("haproxy"));
}

function _cell(table: Table, row: Row, column: Column): string {
  const value = row.values[column.key];
  if (value === undefined && column.key === "error") return "";
  if (value === undefined || (typeof value === "number" && !Number.isFinite(value))) return "n/a";
  if (typeof value === "string") return value;
  let text = formatNumber(value, column.digits ?? 0);
  const reference = _reference(table);
  const base = reference?.values[column.key];
  if (column.ratio && reference && reference !== row && typeof base === "number" && base > 0) text += ` (${(value / base).toFixed(2)}×)`;
  return text;
}

export function renderTable(table: Table): string {
  const lines = [`### ${table.title}`, "", table.method, ""];
  lines.push(`| proxy | ${table.columns.map((column) => column.label).join(" | ")} |`);
  lines.push(`|---|${table.columns.map((column) => (column.text ? "---" : "---:")).join("|")}|`);
  for (const row of table.rows) lines.push(`| ${row.label} | ${table.columns.map((column) => _cell(table, row, column)).join(" | ")} |`);
  if (table.notes.length > 0) lines.push("", ...table.notes);
  return `${lines.join("\n")}\n`;
}
