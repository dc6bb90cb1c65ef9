// SQLite → DatabaseSchema, reading what the reference tool reads through SQLAlchemy: tables by name, columns in
// declared order with SQLAlchemy's reflected types, primary keys, foreign keys (deduplicated, in SQLAlchemy's order)
// and up to five distinct sample values per column, turned into text as Python would.
import Database from "better-sqlite3";
import { basename, extname } from "node:path";
import type { ColumnSchema, DatabaseSchema, ForeignKey, TableSchema } from "./model.js";
import { examplesToStrings, pyDateFromIso, pyDatetimeFromIso, pyTimeFromIso, type PyValue } from "./pyvalues.js";
import { valueReadLimits, type ValueColumn, type ValueReadOptions } from "./values.js";

export interface SqliteReadOptions {
  /** Database id printed after 【DB_ID】 (default: the file name without extension). */
  dbId?: string;
  /** Distinct values sampled per column (the reference samples 5). */
  sampleValues?: number;
}

/** A reflected SQLite column type: the SQLAlchemy type class SQLite's affinity rules pick, and what it means for values. */
export interface SqliteReflectedType {
  /** SQLAlchemy type name as str(type) prints it, with its arguments ("VARCHAR(20)", "INTEGER", "NULL"). */
  text: string;
  kind: "plain" | "boolean" | "date" | "datetime" | "time" | "decimal";
  /** Digits kept when a value becomes a Decimal (kind "decimal"). */
  decimalScale: number;
}

const NAMED: Record<string, string> = {
  BIGINT: "BIGINT",
  BLOB: "BLOB",
  BOOL: "BOOLEAN",
  BOOLEAN: "BOOLEAN",
  CHAR: "CHAR",
  DATE: "DATE",
  DATE_CHAR: "DATE",
  DATETIME: "DATETIME",
  DATETIME_CHAR: "DATETIME",
  DOUBLE: "DOUBLE",
  DECIMAL: "DECIMAL",
  FLOAT: "FLOAT",
  INT: "INTEGER",
  INTEGER: "INTEGER",
  JSON: "JSON",
  JSONB: "JSONB",
  NUMERIC: "NUMERIC",
  REAL: "REAL",
  SMALLINT: "SMALLINT",
  TEXT: "TEXT",
  TIME: "TIME",
  TIME_CHAR: "TIME",
  TIMESTAMP: "TIMESTAMP",
  VARCHAR: "VARCHAR",
  NVARCHAR: "NVARCHAR",
  NCHAR: "NCHAR",
};
// How many positional arguments each type's constructor takes (more → SQLAlchemy drops them all).
const MAX_ARGS: Record<string, number> = {
  CHAR: 2,
  VARCHAR: 2,
  NVARCHAR: 2,
  NCHAR: 2,
  TEXT: 2,
  NUMERIC: 4,
  DECIMAL: 4,
  FLOAT: 3,
  REAL: 3,
  DOUBLE: 3,
};

/** SQLite declared type → the type SQLAlchemy reflects (its affinity rules), as the reference tool sees it. */
export function sqliteReflectedType(declared: string): SqliteReflectedType {
  const upper = declared.toUpperCase();
  const m = /^([\p{L}\p{N}_ ]+)(\(.*?\))?/u.exec(upper);
  const word = m ? m[1]! : "";
  let name: string;
  if (Object.hasOwn(NAMED, word)) name = NAMED[word]!;
  else if (word.includes("INT")) name = "INTEGER";
  else if (word.includes("CHAR") || word.includes("CLOB") || word.includes("TEXT")) name = "TEXT";
  else if (word.includes("BLOB") || !word) name = "NULL";
  else if (word.includes("REAL") || word.includes("FLOA") || word.includes("DOUB")) name = "REAL";
  else name = "NUMERIC";
  let args = m && m[2] ? [...m[2].matchAll(/\d+/g)].map((x) => Number(x[0])) : [];
  if (args.length > (MAX_ARGS[name] ?? 0)) args = [];
  const text = args.length ? `${name}(${args.join(", ")})` : name;
  let kind: SqliteReflectedType["kind"] = "plain";
  let decimalScale = 10;
  if (name === "BOOLEAN") kind = "boolean";
  else if (name === "DATE") kind = "date";
  else if (name === "DATETIME" || name === "TIMESTAMP") kind = "datetime";
  else if (name === "TIME") kind = "time";
  else if (name === "NUMERIC" || name === "DECIMAL") {
    // Numeric(precision, scale, decimal_return_scale, asdecimal=True)
    if (args.length < 4 || args[3]) kind = "decimal";
    decimalScale = args[2] ?? args[1] ?? 10;
  } else if (name === "FLOAT" || name === "REAL" || name === "DOUBLE") {
    // Float(precision, asdecimal=False, decimal_return_scale): FLOAT(10,2) reads as asdecimal=2.
    if (args[1]) kind = "decimal";
    decimalScale = args[2] ?? 10;
  }
  return { text, kind, decimalScale };
}

type Raw = { v: unknown; t: "integer" | "real" | "text" | "blob" | "null" };

function rawToPy(r: Raw): PyValue {
  switch (r.t) {
    case "integer":
      return { kind: "int", value: r.v as bigint };
    case "real":
      return { kind: "float", value: r.v as number };
    case "text":
      return { kind: "str", value: r.v as string };
    default:
      return { kind: "bytes", value: r.v as Uint8Array };
  }
}

function pyPercentF(r: Raw, scale: number): string {
  if (r.t === "integer") return Number(r.v as bigint).toFixed(scale);
  if (r.t === "real") return (r.v as number).toFixed(scale);
  throw new TypeError(`must be real number, not ${r.t === "text" ? "str" : "bytes"}`);
}

/** A stored value after SQLAlchemy's result processing for the column type; throws where SQLAlchemy would. */
export function sqliteProcessValue(r: Raw, type: SqliteReflectedType): PyValue {
  const need = (what: string) => {
    if (r.t !== "text") throw new TypeError(`fromisoformat: argument must be str`);
    return what;
  };
  switch (type.kind) {
    case "boolean": {
      if (r.t === "integer") return { kind: "bool", value: (r.v as bigint) !== 0n };
      if (r.t === "real") return { kind: "bool", value: (r.v as number) !== 0 };
      if (r.t === "text") return { kind: "bool", value: (r.v as string).length > 0 };
      return { kind: "bool", value: (r.v as Uint8Array).length > 0 };
    }
    case "date":
      need("date");
      return { kind: "date", value: pyDateFromIso(r.v as string) };
    case "datetime":
      need("datetime");
      return { kind: "date", value: pyDatetimeFromIso(r.v as string) };
    case "time":
      need("time");
      return { kind: "text", value: pyTimeFromIso(r.v as string) };
    case "decimal":
      return { kind: "decimal", value: pyPercentF(r, type.decimalScale) };
    default:
      return rawToPy(r);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function isEmptyValue(p: PyValue): boolean {
  return p.kind === "str" && p.value === "";
}

// SQLAlchemy matches FOREIGN KEY clauses of the stored CREATE TABLE text (names bare or double-quoted) to order and
// name the keys PRAGMA foreign_key_list reports; keys it cannot match follow in pragma order.
const FK_CLAUSE =
  /(?:CONSTRAINT\s+(?:"(.+?)"|(\w+))\s+)?FOREIGN\s+KEY\s*\(\s*(.+?)\s*\)\s+REFERENCES\s+(?:(?:"(.+?)")|([a-z0-9_]+))\s*\(\s*((?:(?:"[^"]+"|[a-z0-9_]+)\s*(?:,\s*)?)+)\)\s*((?:ON\s+(?:DELETE|UPDATE)\s+(?:SET\s+NULL|SET\s+DEFAULT|CASCADE|RESTRICT|NO\s+ACTION)\s*)*)((?:NOT\s+)?DEFERRABLE)?(?:\s+INITIALLY\s+(DEFERRED|IMMEDIATE))?/gis;

function colsInSig(sig: string): string[] {
  return [...sig.matchAll(/(?:"(.+?)")|([a-z0-9_]+)/gi)].map((m) => (m[1] ?? m[2])!);
}

interface RawFk {
  cols: string[];
  refTable: string;
  refCols: string[];
}

function orderForeignKeys(pragmaFks: RawFk[], tableSql: string | null): RawFk[] {
  const sig = (cols: string[], table: string, refCols: string[]) => JSON.stringify([...cols, table, ...refCols]);
  const bySig = new Map<string, RawFk>();
  for (const fk of pragmaFks) {
    const k = sig(fk.cols, fk.refTable, fk.refCols);
    if (bySig.has(k))
      bySig.set(k, fk); // a dict comprehension: later value, first position
    else bySig.set(k, fk);
  }
  const out: RawFk[] = [];
  if (tableSql) {
    for (const m of tableSql.matchAll(FK_CLAUSE)) {
      const cols = colsInSig(m[3]!);
      const refCols = m[6] ? colsInSig(m[6]) : cols;
      const k = sig(cols, (m[4] ?? m[5])!, refCols);
      const fk = bySig.get(k);
      if (!fk) continue;
      bySig.delete(k);
      out.push(fk);
    }
  }
  out.push(...bySig.values());
  return out;
}

/** Read a SQLite file into the schema model (read-only). */
export function readSqliteSchema(path: string, options: SqliteReadOptions = {}): DatabaseSchema {
  const sample = options.sampleValues ?? 5;
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const names = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name",
        )
        .all() as Array<{ name: string }>
    ).map((r) => r.name);
    const tables: TableSchema[] = [];
    const foreignKeys: ForeignKey[] = [];
    const pkColumns = (table: string) =>
      (
        db.prepare(`PRAGMA table_xinfo(${quoteIdent(table)})`).all() as Array<{
          name: string;
          pk: number;
          hidden: number;
        }>
      )
        .filter((c) => c.pk > 0 && c.hidden !== 1)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
    for (const table of names) {
      const info = db.prepare(`PRAGMA table_xinfo(${quoteIdent(table)})`).all() as Array<{
        name: string;
        type: string;
        notnull: number;
        pk: number;
        hidden: number;
      }>;
      const tableSql =
        (
          db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) as
            { sql: string | null } | undefined
        )?.sql ?? null;
      const pragmaFks = db.prepare(`PRAGMA foreign_key_list(${quoteIdent(table)})`).all() as Array<{
        id: number;
        table: string;
        from: string;
        to: string | null;
      }>;
      const grouped = new Map<number, RawFk>();
      for (const row of pragmaFks) {
        let fk = grouped.get(row.id);
        if (!fk) {
          let refCols: string[] = [];
          if (!row.to) {
            try {
              refCols = pkColumns(row.table);
            } catch {
              refCols = [];
            }
          }
          fk = { cols: [], refTable: row.table, refCols };
          grouped.set(row.id, fk);
        }
        fk.cols.push(row.from);
        if (row.to) fk.refCols.push(row.to);
      }
      for (const fk of orderForeignKeys([...grouped.values()], tableSql)) {
        fk.cols.forEach((c, i) => {
          if (i < fk.refCols.length)
            foreignKeys.push({ table, column: c, refTable: fk.refTable, refColumn: fk.refCols[i]! });
        });
      }
      const columns: ColumnSchema[] = [];
      for (const c of info) {
        if (c.hidden === 1) continue;
        let declared = c.type.toUpperCase();
        if (c.hidden === 2 || c.hidden === 3)
          declared = declared
            .replace(/generated/gi, "")
            .replace(/always/gi, "")
            .trim();
        const type = sqliteReflectedType(declared);
        columns.push({
          name: c.name,
          type: type.text,
          comment: "",
          primaryKey: c.pk > 0,
          nullable: c.notnull === 0,
          examples: sample > 0 ? sampleColumn(db, table, c.name, type, sample) : [],
        });
      }
      tables.push({ name: table, comment: "", columns });
    }
    return { dbId: options.dbId ?? basename(path, extname(path)), tables, foreignKeys };
  } finally {
    db.close();
  }
}

function sampleColumn(
  db: Database.Database,
  table: string,
  column: string,
  type: SqliteReflectedType,
  limit: number,
): string[] {
  try {
    const stmt = db.prepare(
      `SELECT v, typeof(v) AS t FROM (SELECT DISTINCT ${quoteIdent(table)}.${quoteIdent(column)} AS v FROM ${quoteIdent(table)} LIMIT ${limit})`,
    );
    stmt.safeIntegers(true);
    const rows = stmt.raw(true).all() as Array<[unknown, Raw["t"]]>;
    const values: PyValue[] = [];
    for (const [v, t] of rows) {
      if (t === "null") continue;
      const p = sqliteProcessValue({ v, t }, type);
      if (!isEmptyValue(p)) values.push(p);
    }
    return examplesToStrings(values);
  } catch {
    // As the reference: a column whose values cannot be read as its type shows no examples.
    return [];
  }
}

/**
 * The distinct text values of a SQLite file's columns, for a ValueIndex (read-only): every column whose declared type
 * does not make it an integer or real column, values stored as TEXT of 1..maxLength characters, up to perColumn per
 * column and `total` in all (columns cut short are marked `truncated`).
 */
export function readSqliteValues(path: string, options: ValueReadOptions = {}): ValueColumn[] {
  const limits = valueReadLimits(options);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const names = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name",
        )
        .all() as Array<{ name: string }>
    ).map((r) => r.name);
    const out: ValueColumn[] = [];
    let left = limits.total;
    for (const table of names) {
      const info = db.prepare(`PRAGMA table_xinfo(${quoteIdent(table)})`).all() as Array<{
        name: string;
        type: string;
        hidden: number;
      }>;
      for (const c of info) {
        if (c.hidden === 1 || left <= 0) continue;
        const declared = c.type.toUpperCase();
        if (declared.includes("INT") || /REAL|FLOA|DOUB/.test(declared)) continue;
        const want = Math.min(limits.perColumn, left);
        let values: string[];
        try {
          values = (
            db
              .prepare(
                `SELECT DISTINCT ${quoteIdent(c.name)} AS v FROM ${quoteIdent(table)} WHERE typeof(${quoteIdent(c.name)}) = 'text' AND length(${quoteIdent(c.name)}) BETWEEN 1 AND ${limits.maxLength} LIMIT ${want + 1}`,
              )
              .pluck()
              .all() as string[]
          ).filter((v) => v.trim() !== "");
        } catch {
          continue; // a column SQLite cannot read (e.g. a broken generated column) has no values
        }
        const truncated = values.length > want;
        if (truncated) values = values.slice(0, want);
        if (values.length === 0) continue;
        left -= values.length;
        out.push({ table, column: c.name, values, ...(truncated ? { truncated: true } : {}) });
      }
    }
    return out;
  } finally {
    db.close();
  }
}
