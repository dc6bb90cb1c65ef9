// MySQL/MariaDB → DatabaseSchema (mysql2), read as the reference tool reads it through SQLAlchemy + PyMySQL: tables
// by name, columns in declared order, SQLAlchemy's type names, primary/foreign keys of the current database, table and
// column comments, and up to five distinct sample values per column turned into text as Python would.
import type { Connection, FieldPacket, Pool } from "mysql2/promise";
import type { ColumnSchema, DatabaseSchema, ForeignKey, TableSchema } from "./model.js";
import { examplesToStrings, pyDatetimeFromIso, type PyValue } from "./pyvalues.js";
import { valueReadLimits, type ValueColumn, type ValueReadOptions } from "./values.js";

export interface MysqlReadOptions {
  /** Database to read (default: the connection's current database). */
  database?: string;
  /** Database id printed after 【DB_ID】 (default: the database name). */
  dbId?: string;
  /** Distinct values sampled per column (the reference samples 5). */
  sampleValues?: number;
}

const TYPE_NAMES: Record<string, string> = {
  int: "INTEGER",
  integer: "INTEGER",
  dec: "DECIMAL",
  numeric: "DECIMAL",
  bool: "TINYINT",
  boolean: "TINYINT",
};
const INTEGER_TYPES = new Set(["tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"]);
const BINARY_TYPES = new Set([
  "binary",
  "varbinary",
  "tinyblob",
  "blob",
  "mediumblob",
  "longblob",
  "bit",
  "geometry",
  "point",
  "linestring",
  "polygon",
]);

/** SQLAlchemy's str() of a reflected MySQL column type ("VARCHAR(20)", "INTEGER", "INTEGER UNSIGNED"). */
export function mysqlTypeText(dataType: string, columnType: string): string {
  const name = TYPE_NAMES[dataType.toLowerCase()] ?? dataType.toUpperCase();
  const paren = /\(([^)]*)\)/.exec(columnType);
  let text = paren
    ? `${name}(${paren[1]!
        .split(",")
        .map((s) => s.trim())
        .join(", ")})`
    : name;
  if (/\bunsigned\b/i.test(columnType)) text += " UNSIGNED";
  if (/\bzerofill\b/i.test(columnType)) text += " ZEROFILL";
  return text;
}

/** str(timedelta) of a MySQL TIME value ("-838:59:59" … "838:59:59"), as PyMySQL returns TIME. */
export function pyTimedeltaStr(text: string): string {
  const m = /^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return text;
  const micro = Number((m[5] ?? "").padEnd(6, "0") || "0");
  let total = (Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4])) * 1e6 + micro;
  if (m[1]) total = -total;
  const dayUs = 86400 * 1e6;
  const days = Math.floor(total / dayUs);
  let rest = total - days * dayUs;
  const us = rest % 1e6;
  rest = (rest - us) / 1e6;
  const h = Math.floor(rest / 3600);
  const mi = Math.floor((rest % 3600) / 60);
  const s = rest % 60;
  let out = `${h}:${String(mi).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  if (us) out += `.${String(us).padStart(6, "0")}`;
  if (days) out = `${days} day${Math.abs(days) === 1 ? "" : "s"}, ${out}`;
  return out;
}

/** A MySQL value (as its text, or bytes for binary types) as the Python value PyMySQL + SQLAlchemy would give. */
export function mysqlValue(dataType: string, raw: Buffer): PyValue {
  const t = dataType.toLowerCase();
  if (BINARY_TYPES.has(t)) return { kind: "bytes", value: new Uint8Array(raw) };
  const text = raw.toString("utf8");
  if (INTEGER_TYPES.has(t)) return { kind: "int", value: BigInt(text) };
  if (t === "decimal" || t === "numeric") return { kind: "decimal", value: text };
  if (t === "float" || t === "double" || t === "real") return { kind: "float", value: Number(text) };
  if (t === "date") return /^0000-/.test(text) ? { kind: "str", value: text } : { kind: "date", value: text };
  if (t === "datetime" || t === "timestamp") {
    try {
      return { kind: "date", value: pyDatetimeFromIso(text) };
    } catch {
      return { kind: "str", value: text }; // zero dates stay text, as PyMySQL leaves them
    }
  }
  if (t === "time") return { kind: "text", value: pyTimedeltaStr(text) };
  return { kind: "str", value: text };
}

function q(name: string): string {
  return "`" + name.replace(/`/g, "``") + "`";
}

type Row = Record<string, unknown>;

async function rows(conn: Connection | Pool, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [r] = (await conn.query(sql, params)) as unknown as [Row[], FieldPacket[]];
  return r;
}

/** Read a MySQL/MariaDB database into the schema model through an open mysql2/promise connection. */
export async function readMysqlSchema(
  conn: Connection | Pool,
  options: MysqlReadOptions = {},
): Promise<DatabaseSchema> {
  const sample = options.sampleValues ?? 5;
  const database = options.database ?? ((await rows(conn, "SELECT DATABASE() AS db"))[0]?.db as string | null);
  if (!database)
    throw new Error("MySQL: no database selected (give one in the URL, config dbname or options.database)");
  const tableRows = await rows(
    conn,
    "SELECT TABLE_NAME AS name, TABLE_COMMENT AS comment FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [database],
  );
  if (tableRows.length === 0) {
    const exists = await rows(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [
      database,
    ]);
    if (exists.length === 0) throw new Error(`MySQL: database ${database} does not exist`);
  }
  const colRows = await rows(
    conn,
    `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable,
            COLUMN_COMMENT AS comment
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [database],
  );
  const keyRows = await rows(
    conn,
    `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS col, CONSTRAINT_NAME AS cname, REFERENCED_TABLE_SCHEMA AS refSchema,
            REFERENCED_TABLE_NAME AS refTable, REFERENCED_COLUMN_NAME AS refCol
       FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ?
      ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`,
    [database],
  );
  const text = (v: unknown) =>
    v === null || v === undefined ? "" : Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  const tables: TableSchema[] = [];
  const foreignKeys: ForeignKey[] = [];
  for (const t of tableRows) {
    const name = text(t.name);
    const pk = new Set(
      keyRows.filter((k) => text(k.tbl) === name && text(k.cname) === "PRIMARY").map((k) => text(k.col)),
    );
    const columns: ColumnSchema[] = [];
    for (const c of colRows.filter((c) => text(c.tbl) === name)) {
      const colName = text(c.name);
      const dataType = text(c.dataType);
      columns.push({
        name: colName,
        type: mysqlTypeText(dataType, text(c.columnType)),
        comment: text(c.comment).trim(),
        primaryKey: pk.has(colName),
        nullable: text(c.nullable) === "YES",
        examples: sample > 0 ? await sampleColumn(conn, name, colName, dataType, sample) : [],
      });
    }
    tables.push({ name, comment: text(t.comment).trim(), columns });
    for (const k of keyRows) {
      if (text(k.tbl) !== name || k.refTable === null || k.refTable === undefined) continue;
      if (text(k.refSchema) !== database) continue; // the reference prints keys within one schema only
      foreignKeys.push({ table: name, column: text(k.col), refTable: text(k.refTable), refColumn: text(k.refCol) });
    }
  }
  return { dbId: options.dbId ?? database, tables, foreignKeys };
}

async function sampleColumn(
  conn: Connection | Pool,
  table: string,
  column: string,
  dataType: string,
  limit: number,
): Promise<string[]> {
  try {
    const [r] = (await conn.query({
      sql: `SELECT DISTINCT ${q(table)}.${q(column)} FROM ${q(table)} LIMIT ${limit}`,
      rowsAsArray: true,
      typeCast: (field: { buffer(): Buffer | null }) => field.buffer(),
    })) as unknown as [Array<[Buffer | null]>, FieldPacket[]];
    const values: PyValue[] = [];
    for (const [raw] of r) {
      if (raw === null) continue;
      const v = mysqlValue(dataType, raw);
      if (v.kind === "str" && v.value === "") continue;
      values.push(v);
    }
    return examplesToStrings(values);
  } catch {
    return [];
  }
}

const MYSQL_TEXT_TYPES = new Set(["char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"]);

/**
 * The distinct text values of a MySQL/MariaDB database's character columns (CHAR, VARCHAR, TEXT, ENUM, SET), for a
 * ValueIndex: values of 1..maxLength characters, up to perColumn per column and `total` in all.
 */
export async function readMysqlValues(
  conn: Connection | Pool,
  options: ValueReadOptions & { database?: string } = {},
): Promise<ValueColumn[]> {
  const limits = valueReadLimits({ perColumn: options.perColumn, total: options.total, maxLength: options.maxLength });
  const database = options.database ?? ((await rows(conn, "SELECT DATABASE() AS db"))[0]?.db as string | null);
  if (!database)
    throw new Error("MySQL: no database selected (give one in the URL, config dbname or options.database)");
  const cols = await rows(
    conn,
    `SELECT c.TABLE_NAME AS tbl, c.COLUMN_NAME AS name, c.DATA_TYPE AS dataType
       FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
      WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
    [database],
  );
  const text = (v: unknown) =>
    v === null || v === undefined ? "" : Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  const out: ValueColumn[] = [];
  let left = limits.total;
  for (const c of cols) {
    if (left <= 0) break;
    if (!MYSQL_TEXT_TYPES.has(text(c.dataType).toLowerCase())) continue;
    const table = text(c.tbl);
    const column = text(c.name);
    const want = Math.min(limits.perColumn, left);
    let values: string[];
    try {
      const [r] = (await conn.query({
        sql: `SELECT DISTINCT ${q(column)} FROM ${q(table)} WHERE ${q(column)} IS NOT NULL AND CHAR_LENGTH(${q(column)}) BETWEEN 1 AND ${limits.maxLength} LIMIT ${want + 1}`,
        rowsAsArray: true,
      })) as unknown as [Array<[unknown]>, FieldPacket[]];
      values = r.map(([v]) => text(v)).filter((v) => v.trim() !== "");
    } catch {
      continue;
    }
    const truncated = values.length > want;
    if (truncated) values = values.slice(0, want);
    if (values.length === 0) continue;
    left -= values.length;
    out.push({ table, column, values, ...(truncated ? { truncated: true } : {}) });
  }
  return out;
}
