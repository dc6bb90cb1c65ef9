// Result cells as JSON, and how much room they take: the byte cap counts a row by its cells' JSON text.

/** A value of an SQL result as drivers return it (SQLite: bigint for INTEGER with safe integers, Uint8Array BLOBs). */
export type SqlValue = null | bigint | number | string | Uint8Array;

export type JsonCell = string | number | boolean | null;

/** JSON-safe cell: bigints as numbers when exact (else strings), bytes as base64, dates as ISO strings. */
export function jsonCell(v: unknown): JsonCell {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint")
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  return JSON.stringify(v);
}

/** Bytes a cell takes in the reply (about: its JSON text, quotes and a separator included). */
export function cellBytes(v: unknown): number {
  if (v === null || v === undefined) return 5;
  if (typeof v === "string") return Buffer.byteLength(v, "utf8") + 3;
  if (v instanceof Uint8Array) return Math.ceil(v.byteLength / 3) * 4 + 3;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return 24;
  if (v instanceof Date) return 27;
  return Buffer.byteLength(JSON.stringify(v) ?? "", "utf8") + 3;
}

/** Bytes a row takes in the reply. */
export function rowBytes(row: readonly unknown[]): number {
  let n = 2;
  for (const v of row) n += cellBytes(v);
  return n;
}
