// PostgreSQL → DatabaseSchema (pg), read as the reference tool reads it through SQLAlchemy + psycopg2: tables of
// every user schema (or of one), columns in declared order, SQLAlchemy's type names, primary/foreign keys, table and
// column comments, up to five distinct sample values per column. Tables outside `public` are named "schema.table".
import type pg from "pg";
import type { ColumnSchema, DatabaseSchema, ForeignKey, TableSchema } from "./model.js";
import { examplesToStrings, pyDatetimeFromIso, pyTimeFromIso, type PyValue } from "./pyvalues.js";
import { valueReadLimits, type ValueColumn, type ValueReadOptions } from "./values.js";

export interface PostgresReadOptions {
  /** Only this schema (default: every schema but pg_* and information_schema). */
  schema?: string;
  /** Database id printed after 【DB_ID】 (default: the database name). */
  dbId?: string;
  /** Distinct values sampled per column (the reference samples 5). */
  sampleValues?: number;
}

const PG_NAMES: Record<string, string> = {
  integer: "INTEGER",
  bigint: "BIGINT",
  smallint: "SMALLINT",
  "character varying": "VARCHAR",
  character: "CHAR",
  text: "TEXT",
  numeric: "NUMERIC",
  real: "REAL",
  "double precision": "DOUBLE PRECISION",
  boolean: "BOOLEAN",
  date: "DATE",
  bytea: "BYTEA",
  uuid: "UUID",
  json: "JSON",
  jsonb: "JSONB",
  interval: "INTERVAL",
  money: "MONEY",
  inet: "INET",
  cidr: "CIDR",
  "bit varying": "BIT VARYING",
  bit: "BIT",
  oid: "OID",
  name: "VARCHAR",
  '"char"': "VARCHAR",
};

/** SQLAlchemy's str() of a reflected PostgreSQL type, from format_type() ("character varying(20)" → "VARCHAR(20)"). */
export function postgresTypeText(formatted: string): string {
  let base = formatted.trim();
  let arrays = "";
  while (base.endsWith("[]")) {
    arrays += "[]";
    base = base.slice(0, -2);
  }
  const tm = /^(timestamp|time)(?:\((\d+)\))? (with|without) time zone$/.exec(base);
  if (tm) return `${tm[1]!.toUpperCase()}${tm[2] ? `(${tm[2]})` : ""} ${tm[3]!.toUpperCase()} TIME ZONE${arrays}`;
  const m = /^([^(]+?)(?:\(([^)]*)\))?$/.exec(base);
  const word = m ? m[1]! : base;
  const args =
    m && m[2]
      ? `(${m[2]
          .split(",")
          .map((s) => s.trim())
          .join(", ")})`
      : "";
  const name = PG_NAMES[word] ?? word.toUpperCase();
  return `${name}${args}${arrays}`;
}

/** A PostgreSQL value (its text form) as the Python value psycopg2 + SQLAlchemy would give. */
export function postgresValue(typeName: string, text: string): PyValue {
  switch (typeName) {
    case "int2":
    case "int4":
    case "int8":
    case "oid":
      return { kind: "int", value: BigInt(text) };
    case "numeric":
      return { kind: "decimal", value: text };
    case "float4":
    case "float8":
      return {
        kind: "float",
        value: text === "NaN" ? NaN : text === "Infinity" ? Infinity : text === "-Infinity" ? -Infinity : Number(text),
      };
    case "bool":
      return { kind: "bool", value: text === "t" };
    case "date":
      return /^\d{4}-\d{2}-\d{2}$/.test(text) ? { kind: "date", value: text } : { kind: "str", value: text };
    case "timestamp":
    case "timestamptz":
      try {
        return { kind: "date", value: pyDatetimeFromIso(text) };
      } catch {
        return { kind: "str", value: text };
      }
    case "time":
    case "timetz":
      try {
        return { kind: "text", value: pyTimeFromIso(text) };
      } catch {
        return { kind: "str", value: text };
      }
    case "bytea":
      return {
        kind: "bytes",
        value: /^\\x[0-9a-f]*$/i.test(text)
          ? new Uint8Array(Buffer.from(text.slice(2), "hex"))
          : new Uint8Array(Buffer.from(text)),
      };
    default:
      return { kind: "str", value: text };
  }
}

function qi(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const RAW_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** Read a PostgreSQL database into the schema model through an open pg client (or pool). */
export async function readPostgresSchema(
  client: pg.ClientBase | pg.Pool,
  options: PostgresReadOptions = {},
): Promise<DatabaseSchema> {
  const sample = options.sampleValues ?? 5;
  const dbName = (await client.query("SELECT current_database() AS db")).rows[0].db as string;
  const schemaFilter = options.schema
    ? { sql: "n.nspname = $1", params: [options.schema] }
    : { sql: "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'", params: [] };
  if (options.schema) {
    const found = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [options.schema]);
    if (found.rowCount === 0)
      throw new Error(`PostgreSQL: schema ${options.schema} does not exist in database ${dbName}`);
  }
  const tableRows = (
    await client.query(
      `SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name, COALESCE(obj_description(c.oid, 'pg_class'), '') AS comment
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${schemaFilter.sql}
        ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`,
      schemaFilter.params,
    )
  ).rows as Array<{ oid: string; schema: string; name: string; comment: string }>;
  const display = (schema: string, name: string) => (schema === "public" ? name : `${schema}.${name}`);
  const tables: TableSchema[] = [];
  const foreignKeys: ForeignKey[] = [];
  for (const t of tableRows) {
    const cols = (
      await client.query(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS formatted, ty.typname AS typname,
                bt.typname AS basetype, NOT a.attnotnull AS nullable, COALESCE(col_description(a.attrelid, a.attnum), '') AS comment,
                EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey)) AS pk
           FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_type bt ON bt.oid = ty.typbasetype AND ty.typtype = 'd'
          WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        [t.oid],
      )
    ).rows as Array<{
      name: string;
      formatted: string;
      typname: string;
      basetype: string | null;
      nullable: boolean;
      comment: string;
      pk: boolean;
    }>;
    const columns: ColumnSchema[] = [];
    for (const c of cols) {
      columns.push({
        name: c.name,
        type: postgresTypeText(c.formatted),
        comment: c.comment.trim(),
        primaryKey: c.pk,
        nullable: c.nullable,
        examples:
          sample > 0 ? await sampleColumn(client, t.schema, t.name, c.name, c.basetype ?? c.typname, sample) : [],
      });
    }
    tables.push({ name: display(t.schema, t.name), comment: t.comment.trim(), columns });
    const fks = (
      await client.query(
        `SELECT k.conname, a.attname AS col, rn.nspname AS refschema, rc.relname AS reftable, ra.attname AS refcol
           FROM pg_constraint k
           JOIN LATERAL unnest(k.conkey, k.confkey) WITH ORDINALITY AS u(attnum, refattnum, ord) ON true
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
           JOIN pg_class rc ON rc.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
           JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.refattnum
          WHERE k.conrelid = $1::int8::oid AND k.contype = 'f'
          ORDER BY k.conname COLLATE "C", u.ord`,
        [t.oid],
      )
    ).rows as Array<{ col: string; refschema: string; reftable: string; refcol: string }>;
    for (const fk of fks) {
      if (options.schema && fk.refschema !== options.schema) continue; // keys into schemas not read are left out
      foreignKeys.push({
        table: display(t.schema, t.name),
        column: fk.col,
        refTable: display(fk.refschema, fk.reftable),
        refColumn: fk.refcol,
      });
    }
  }
  return { dbId: options.dbId ?? dbName, tables, foreignKeys };
}

async function sampleColumn(
  client: pg.ClientBase | pg.Pool,
  schema: string,
  table: string,
  column: string,
  typeName: string,
  limit: number,
): Promise<string[]> {
  try {
    const r = await client.query({
      text: `SELECT DISTINCT ${qi(table)}.${qi(column)} FROM ${qi(schema)}.${qi(table)} LIMIT ${limit}`,
      rowMode: "array",
      types: RAW_TYPES,
    });
    const values: PyValue[] = [];
    for (const [raw] of r.rows as Array<[string | null]>) {
      if (raw === null) continue;
      const v = postgresValue(typeName, raw);
      if (v.kind === "str" && v.value === "") continue;
      values.push(v);
    }
    return examplesToStrings(values);
  } catch {
    return [];
  }
}

const PG_TEXT_TYPES = new Set(["text", "varchar", "bpchar", "char", "name", "citext"]);

/**
 * The distinct text values of a PostgreSQL database's character columns (text, varchar, char, citext, enums), for a
 * ValueIndex: values of 1..maxLength characters, up to perColumn per column and `total` in all. Tables are named as
 * readPostgresSchema names them ("schema.table" outside public).
 */
export async function readPostgresValues(
  client: pg.ClientBase | pg.Pool,
  options: ValueReadOptions & { schema?: string } = {},
): Promise<ValueColumn[]> {
  const limits = valueReadLimits({ perColumn: options.perColumn, total: options.total, maxLength: options.maxLength });
  const filter = options.schema
    ? { sql: "n.nspname = $1", params: [options.schema] }
    : { sql: "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'", params: [] };
  const cols = (
    await client.query(
      `SELECT n.nspname AS schema, c.relname AS tbl, a.attname AS name, COALESCE(bt.typname, ty.typname) AS typname, ty.typtype = 'e' AS isenum
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_type bt ON bt.oid = ty.typbasetype AND ty.typtype = 'd'
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped AND ${filter.sql}
        ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C", a.attnum`,
      filter.params,
    )
  ).rows as Array<{ schema: string; tbl: string; name: string; typname: string; isenum: boolean }>;
  const out: ValueColumn[] = [];
  let left = limits.total;
  for (const c of cols) {
    if (left <= 0) break;
    if (!c.isenum && !PG_TEXT_TYPES.has(c.typname)) continue;
    const want = Math.min(limits.perColumn, left);
    let values: string[];
    try {
      const r = await client.query({
        text: `SELECT DISTINCT ${qi(c.name)}::text FROM ${qi(c.schema)}.${qi(c.tbl)} WHERE ${qi(c.name)} IS NOT NULL AND length(${qi(c.name)}::text) BETWEEN 1 AND ${limits.maxLength} LIMIT ${want + 1}`,
        rowMode: "array",
      });
      values = (r.rows as Array<[string]>).map(([v]) => v).filter((v) => typeof v === "string" && v.trim() !== "");
    } catch {
      continue;
    }
    const truncated = values.length > want;
    if (truncated) values = values.slice(0, want);
    if (values.length === 0) continue;
    left -= values.length;
    out.push({
      table: c.schema === "public" ? c.tbl : `${c.schema}.${c.tbl}`,
      column: c.name,
      values,
      ...(truncated ? { truncated: true } : {}),
    });
  }
  return out;
}
