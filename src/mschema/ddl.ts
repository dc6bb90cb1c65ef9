// DDL → DatabaseSchema: CREATE TABLE / ALTER TABLE … FOREIGN KEY / PRIMARY KEY / COMMENT ON statements parsed with
// node-sql-parser into the same model the live readers fill (no example values). Types are named as the live reader
// of the dialect would name them, so DDL and a live database give the same M-Schema. DDL the parser cannot read is
// reported as unparseable, never thrown.
import nodeSqlParser from "node-sql-parser";
import type { ColumnSchema, DatabaseSchema, Dialect, ForeignKey, TableSchema } from "./model.js";
import { sqliteReflectedType } from "./sqlite.js";
import { mysqlTypeText } from "./mysql.js";
import { postgresTypeText } from "./postgres.js";
import { parseTolerant } from "./ddl-tolerant.js";

const { Parser } = nodeSqlParser as unknown as {
  Parser: new () => { astify(sql: string, opt?: { database?: string }): unknown };
};

export type DdlParseResult =
  { ok: true; schema: DatabaseSchema; warnings: string[] } | { ok: false; text: string; warnings: string[] };

const PARSER_DB: Record<Dialect, string> = { mysql: "mysql", postgresql: "postgresql", sqlite: "sqlite" };

/** Dialect names as users write them ("MySQL", "PostgreSQL", "postgres", "SQLite") → Dialect. */
export function normalizeDialect(name: string): Dialect {
  const n = name.trim().toLowerCase();
  if (n === "mysql" || n === "mariadb") return "mysql";
  if (n === "postgresql" || n === "postgres" || n === "pg" || n === "pgsql") return "postgresql";
  if (n === "sqlite" || n === "sqlite3") return "sqlite";
  throw new Error(`unknown SQL dialect "${name}" (expected mysql, postgresql or sqlite)`);
}

/** Split SQL text into statements at top-level semicolons (quotes, comments and $$ bodies respected). */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = "";
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const two = sql.slice(i, i + 2);
    if (two === "--" || ch === "#") {
      const end = sql.indexOf("\n", i);
      const stop = end < 0 ? sql.length : end;
      cur += " ";
      i = stop;
      continue;
    }
    if (two === "/*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
      cur += " ";
      continue;
    }
    if (ch === "'" || ch === '"' || ch === "`" || ch === "[") {
      const close = ch === "[" ? "]" : ch;
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === close) {
          if (sql[j + 1] === close && close !== "]") {
            j += 2;
            continue;
          }
          break;
        }
        if (sql[j] === "\\" && ch === "'") j++;
        j++;
      }
      cur += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const dollar = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 40));
    if (dollar) {
      const end = sql.indexOf(dollar[0], i + dollar[0].length);
      const stop = end < 0 ? sql.length : end + dollar[0].length;
      cur += sql.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === ";") {
      if (cur.trim()) out.push(cur.trim());
      cur = "";
      i++;
      continue;
    }
    cur += ch;
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

// ---- AST helpers (node-sql-parser's AST is loosely typed; read it defensively) ----
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function identName(v: unknown): string {
  if (typeof v === "string") return v;
  if (v && typeof v === "object") {
    const o = v as Node;
    if (o.expr) return identName(o.expr);
    if (typeof o.value === "string") return o.value;
    if (o.column !== undefined) return identName(o.column);
  }
  throw new Error(`unexpected identifier ${JSON.stringify(v)}`);
}

function stringValue(v: unknown): string {
  if (typeof v === "string") {
    const m = /^'(.*)'$/s.exec(v);
    return m ? m[1]!.replace(/''/g, "'").replace(/\\'/g, "'") : v;
  }
  if (v && typeof v === "object") {
    const o = v as Node;
    if (o.type === "single_quote_string" && typeof o.value === "string") return o.value.replace(/''/g, "'");
    if (o.value !== undefined && o.type !== "null") return stringValue(o.value);
    if (o.expr) return stringValue(o.expr);
  }
  return "";
}

interface TableRef {
  schema: string | null;
  name: string;
}

function tableRef(t: Node): TableRef {
  return { schema: t.db ? identName(t.db) : t.schema ? identName(t.schema) : null, name: identName(t.table) };
}

function declaredType(def: Node): string {
  if (typeof def.rawType === "string") return def.rawType;
  const base = String(def.dataType ?? "").toUpperCase();
  const suffix = Array.isArray(def.suffix)
    ? def.suffix
        .filter((s: unknown) => typeof s === "string")
        .join(" ")
        .toUpperCase()
    : "";
  const args: number[] = [];
  if (typeof def.length === "number") args.push(def.length);
  if (typeof def.scale === "number") args.push(def.scale);
  return `${base}${args.length ? `(${args.join(",")})` : ""}${suffix ? ` ${suffix}` : ""}`;
}

/** A declared column type named as the dialect's live reader names it. */
export function ddlTypeText(declared: string, dialect: Dialect): string {
  if (dialect === "sqlite") return sqliteReflectedType(declared).text;
  if (dialect === "mysql") {
    const word = /^[A-Za-z_]+/.exec(declared.trim())?.[0] ?? declared;
    return mysqlTypeText(word.toLowerCase(), declared.toLowerCase());
  }
  return postgresTypeText(postgresDeclaredToFormatType(declared));
}

/** A PostgreSQL declared type written any way ("int4", "timestamptz(3)", "varchar(20)") as format_type() prints it. */
export function postgresDeclaredToFormatType(declared: string): string {
  let t = declared
    .trim()
    .toLowerCase()
    .replace(/\s+/g, " ")
    .replace(/\s*\(\s*/g, "(")
    .replace(/\s*,\s*/g, ",")
    .replace(/\s*\)/g, ")");
  let arrays = "";
  while (t.endsWith("[]")) {
    arrays += "[]";
    t = t.slice(0, -2).trim();
  }
  t = t
    .replace(/^character varying\b/, "varchar")
    .replace(/^double precision\b/, "float8")
    .replace(/^bit varying\b/, "varbit")
    .replace(/^(timestamp|time)(\(\d+\))? without time zone$/, "$1$2")
    .replace(/^(timestamp|time)(\(\d+\))? with time zone$/, "$1tz$2");
  const m = /^([a-z_0-9]+)(\([^)]*\))?(?: (.*))?$/.exec(t);
  if (!m) return t + arrays;
  let word = m[1]!;
  const args = m[2] ?? "";
  const rest = (m[3] ?? "").trim();
  const alias: Record<string, string> = {
    int: "integer",
    int4: "integer",
    serial: "integer",
    serial4: "integer",
    bigserial: "bigint",
    serial8: "bigint",
    int8: "bigint",
    smallserial: "smallint",
    serial2: "smallint",
    int2: "smallint",
    float8: "double precision",
    double: "double precision",
    float4: "real",
    varbit: "bit varying",
    bool: "boolean",
    decimal: "numeric",
    varchar: "character varying",
    char: "character",
    "character varying": "character varying",
    bpchar: "character",
  };
  if (word === "timestamptz" || word === "timetz") return `${word.slice(0, -2)}${args} with time zone${arrays}`;
  if (word === "timestamp" || word === "time") return `${word}${args} without time zone${arrays}`;
  word = alias[word] ?? word;
  if (word === "float") word = args && Number(args.slice(1, -1)) <= 24 ? "real" : "double precision";
  return `${word}${word === "real" || word === "double precision" ? "" : args}${rest ? ` ${rest}` : ""}${arrays}`;
}

interface Draft {
  ref: TableRef;
  table: TableSchema;
}

/** Parse DDL into the schema model; DDL it cannot read comes back unchanged with a warning. */
export function parseDdlSchema(
  ddl: string,
  dialect: Dialect | string,
  options: { dbId?: string } = {},
): DdlParseResult {
  const warnings: string[] = [];
  let d: Dialect;
  try {
    d = normalizeDialect(dialect);
  } catch (err) {
    return { ok: false, text: ddl, warnings: [(err as Error).message] };
  }
  try {
    return parseDdl(ddl, d, options.dbId ?? "Anonymous", warnings);
  } catch (err) {
    warnings.push(`DDL not understood (${(err as Error).message.split("\n")[0]}); schema passed through unchanged`);
    return { ok: false, text: ddl, warnings };
  }
}

const RELEVANT =
  /^\s*(create\s+(?:(?:global\s+|local\s+)?(?:temporary|temp|unlogged)\s+)?table|alter\s+table|comment\s+on)\b/i;

function parseDdl(ddl: string, dialect: Dialect, dbId: string, warnings: string[]): DdlParseResult {
  const parser = new Parser();
  const drafts: Draft[] = [];
  const pending: Array<{ from: TableRef; cols: string[]; to: TableRef; refCols: string[] }> = [];
  const pkLater: Array<{ ref: TableRef; cols: string[] }> = [];
  const comments: Array<{ kind: "table" | "column"; ref: TableRef; column?: string; text: string }> = [];
  const statements = splitStatements(ddl);
  let ignored = 0;
  for (const stmt of statements) {
    if (!RELEVANT.test(stmt)) {
      ignored++;
      continue;
    }
    let ast: unknown;
    let parseError: Error | null = null;
    try {
      ast = parser.astify(stmt, { database: PARSER_DB[dialect] });
    } catch (err) {
      parseError = err as Error;
      ast = undefined;
      if (!/^\s*comment/i.test(stmt)) {
        try {
          ast = parseTolerant(stmt);
          warnings.push(
            `statement ${statements.indexOf(stmt) + 1}: read by the tolerant reader (${firstLine(parseError)})`,
          );
        } catch {
          ast = undefined;
        }
      }
    }
    if (ast === undefined) {
      const err = parseError ?? new Error("parse failed");
      const mc = /^\s*comment\s+on\s+(table|column)\s+(.+?)\s+is\s+'((?:[^']|'')*)'\s*$/is.exec(stmt);
      if (mc) {
        const parts = splitQualified(mc[2]!);
        if (mc[1]!.toLowerCase() === "table")
          comments.push({ kind: "table", ref: refFromParts(parts), text: mc[3]!.replace(/''/g, "'") });
        else
          comments.push({
            kind: "column",
            ref: refFromParts(parts.slice(0, -1)),
            column: parts[parts.length - 1],
            text: mc[3]!.replace(/''/g, "'"),
          });
        continue;
      }
      throw new Error(
        `statement ${statements.indexOf(stmt) + 1} (${stmt.slice(0, 60).replace(/\s+/g, " ")}…): ${firstLine(err)}`,
      );
    }
    for (const node of (Array.isArray(ast) ? ast : [ast]) as Node[]) {
      if (node.type === "create" && node.keyword === "table") {
        const ref = tableRef(node.table[0]);
        if (!Array.isArray(node.create_definitions)) {
          warnings.push(`CREATE TABLE ${ref.name} has no column list (CREATE TABLE … AS / LIKE); left out`);
          continue;
        }
        const table: TableSchema = { name: ref.name, comment: "", columns: [] };
        const pk: string[] = [];
        for (const def of node.create_definitions as Node[]) {
          if (def.resource === "column") {
            const name = identName(def.column);
            const col: ColumnSchema = {
              name,
              type: ddlTypeText(declaredType(def.definition ?? {}), dialect),
              comment: def.comment ? stringValue(def.comment.value).trim() : "",
              primaryKey: false,
              nullable: !(def.nullable && def.nullable.type === "not null"),
              examples: [],
            };
            if (def.primary_key || (def.unique_or_primary && /primary/i.test(String(def.unique_or_primary))))
              pk.push(name);
            table.columns.push(col);
            if (def.reference_definition) {
              const rd = def.reference_definition as Node;
              pending.push({
                from: ref,
                cols: [name],
                to: tableRef(rd.table[0]),
                refCols: (rd.definition ?? []).map(identName),
              });
            }
          } else if (def.resource === "constraint") {
            const type = String(def.constraint_type ?? "").toLowerCase();
            if (type === "primary key") pk.push(...(def.definition as Node[]).map(identName));
            else if (type === "foreign key" && def.reference_definition) {
              const rd = def.reference_definition as Node;
              pending.push({
                from: ref,
                cols: (def.definition as Node[]).map(identName),
                to: tableRef(rd.table[0]),
                refCols: (rd.definition ?? []).map(identName),
              });
            }
          }
        }
        const pkLower = pk.map((n) => n.toLowerCase());
        for (const c of table.columns)
          if (pk.includes(c.name) || pkLower.includes(c.name.toLowerCase())) c.primaryKey = true;
        const tableComment = (node.table_options as Node[] | null | undefined)?.find(
          (o) => String(o.keyword).toLowerCase() === "comment",
        );
        if (tableComment) table.comment = stringValue(tableComment.value).trim();
        const existing = drafts.findIndex((x) => sameRef(x.ref, ref));
        if (existing >= 0) {
          warnings.push(`table ${ref.name} is created twice; the last definition is used`);
          drafts.splice(existing, 1);
        }
        drafts.push({ ref, table });
      } else if (node.type === "alter") {
        const ref = tableRef(node.table[0]);
        for (const e of (node.expr ?? []) as Node[]) {
          const cd = e.create_definitions as Node | undefined;
          if (e.action !== "add" || !cd || cd.resource !== "constraint") continue;
          const type = String(cd.constraint_type ?? "").toLowerCase();
          if (type === "foreign key" && cd.reference_definition) {
            const rd = cd.reference_definition as Node;
            pending.push({
              from: ref,
              cols: (cd.definition as Node[]).map(identName),
              to: tableRef(rd.table[0]),
              refCols: (rd.definition ?? []).map(identName),
            });
          } else if (type === "primary key") pkLater.push({ ref, cols: (cd.definition as Node[]).map(identName) });
        }
      } else if (node.type === "comment") {
        const target = node.target as Node;
        const text = stringValue(node.expr?.expr).trim();
        if (target.type === "table") comments.push({ kind: "table", ref: tableRef(target.name), text });
        else if (target.type === "column") {
          const n = target.name as Node;
          const parts = [n.db, n.schema, n.table].filter((x) => x);
          comments.push({ kind: "column", ref: refFromParts(parts.map(identName)), column: identName(n.column), text });
        }
      }
    }
  }
  if (drafts.length === 0) throw new Error(statements.length ? "no CREATE TABLE statement" : "empty schema text");
  const find = (ref: TableRef) =>
    drafts.find((x) => sameRef(x.ref, ref)) ?? drafts.find((x) => sameRef(x.ref, ref, true));
  for (const p of pkLater) {
    const t = find(p.ref);
    if (!t) warnings.push(`ALTER TABLE ${p.ref.name}: no such table`);
    else
      for (const c of t.table.columns)
        if (p.cols.some((n) => n === c.name || n.toLowerCase() === c.name.toLowerCase())) c.primaryKey = true;
  }
  for (const c of comments) {
    const t = find(c.ref);
    if (!t) {
      warnings.push(`COMMENT ON ${c.kind} of ${c.ref.name}: no such table`);
      continue;
    }
    if (c.kind === "table") t.table.comment = c.text;
    else {
      const col =
        t.table.columns.find((x) => x.name === c.column) ??
        t.table.columns.find((x) => x.name.toLowerCase() === c.column!.toLowerCase());
      if (col) col.comment = c.text;
      else warnings.push(`COMMENT ON COLUMN ${c.ref.name}.${c.column}: no such column`);
    }
  }
  const display = (ref: TableRef) => {
    const t = find(ref);
    const name = t ? t.ref.name : ref.name;
    const schema = t ? t.ref.schema : ref.schema;
    return dialect === "postgresql" && schema && schema !== "public" ? `${schema}.${name}` : name;
  };
  const foreignKeys: ForeignKey[] = [];
  for (const p of pending) {
    let refCols = p.refCols;
    if (refCols.length === 0) {
      const target = find(p.to);
      refCols = target ? target.table.columns.filter((c) => c.primaryKey).map((c) => c.name) : [];
      if (refCols.length === 0) {
        warnings.push(`foreign key ${p.from.name}(${p.cols.join(", ")}) → ${p.to.name}: referenced columns unknown`);
        continue;
      }
    }
    p.cols.forEach((col, i) => {
      if (i < refCols.length) {
        foreignKeys.push({
          table: display(p.from),
          column: declaredColumn(find(p.from), col),
          refTable: display(p.to),
          // SQLite reports the referenced column as the key clause spells it; MySQL/PostgreSQL as declared
          refColumn: dialect === "sqlite" ? refCols[i]! : declaredColumn(find(p.to), refCols[i]!),
        });
      }
    });
  }
  const tables = drafts.map((x) => ({ ...x.table, name: display(x.ref) }));
  if (ignored) warnings.push(`${ignored} statement(s) other than CREATE TABLE / ALTER TABLE / COMMENT ON ignored`);
  return { ok: true, schema: { dbId, tables, foreignKeys }, warnings };
}

/** A column name as its table declares it (key clauses may spell it in another case). */
function declaredColumn(draft: Draft | undefined, name: string): string {
  if (!draft) return name;
  const cols = draft.table.columns;
  return (
    (cols.find((c) => c.name === name) ?? cols.find((c) => c.name.toLowerCase() === name.toLowerCase()))?.name ?? name
  );
}

function sameRef(a: TableRef, b: TableRef, ignoreCase = false): boolean {
  const norm = (s: string | null) => (s === null ? null : ignoreCase ? s.toLowerCase() : s);
  const sa = a.schema && a.schema !== "public" ? a.schema : null;
  const sb = b.schema && b.schema !== "public" ? b.schema : null;
  return norm(a.name) === norm(b.name) && norm(sa) === norm(sb);
}

function refFromParts(parts: string[]): TableRef {
  return parts.length >= 2
    ? { schema: parts[parts.length - 2]!, name: parts[parts.length - 1]! }
    : { schema: null, name: parts[0] ?? "" };
}

function splitQualified(s: string): string[] {
  return [...s.matchAll(/"((?:[^"]|"")*)"|`([^`]*)`|([^.\s]+)/g)].map(
    (m) => (m[1]?.replace(/""/g, '"') ?? m[2] ?? m[3])!,
  );
}

function firstLine(err: Error): string {
  const line = err.message.split("\n")[0]!;
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}
