// What a gold query needs from its prompt: the tables and columns it reads and the string literals it compares
// with cell values, read from the SQL with node-sql-parser (SQLite grammar, then PostgreSQL's, which also reads
// INTERSECT/EXCEPT) and resolved against the database's schema (aliases, unqualified columns by the tables in scope,
// "double-quoted" tokens that name no column taken as strings, as SQLite does).
import nodeSqlParser from "node-sql-parser";
import type { DatabaseSchema } from "../mschema/index.js";

const { Parser } = nodeSqlParser as unknown as {
  Parser: new () => { astify(sql: string, opt?: { database?: string }): unknown };
};
const parser = new Parser();

export interface GoldLiteral {
  value: string;
  /** The column it is compared with, when the SQL says (table and column as the schema names them). */
  table?: string;
  column?: string;
}

export interface GoldItems {
  /** Tables read, as the schema names them. */
  tables: string[];
  /** Columns read, as [table, column] in the schema's spelling. */
  columns: Array<[string, string]>;
  /** String literals (LIKE patterns included; callers keep those that occur as cell values). */
  literals: GoldLiteral[];
}

type Node = Record<string, unknown>;
type Scope = Map<string, string | null>; // alias or table name (lower case) → schema table (null: a subquery)

const STRING_TYPES = new Set([
  "single_quote_string",
  "double_quote_string",
  "string",
  "natural_string",
  "hex_string",
  "full_hex_string",
  "bit_string",
]);

/** Parses a query; throws the parser's message when neither grammar reads it. */
export function parseQuery(sql: string): unknown {
  let first: Error | undefined;
  for (const database of ["sqlite", "postgresql"]) {
    try {
      return parser.astify(sql, { database });
    } catch (err) {
      first ??= err as Error;
    }
  }
  throw new Error(`cannot parse SQL: ${first?.message.split("\n")[0]}`);
}

function columnName(ref: Node): { name: string; quotedString: boolean } | null {
  const c = ref.column;
  if (typeof c === "string") return { name: c, quotedString: false };
  const expr = (c as Node | undefined)?.expr as Node | undefined;
  if (expr && typeof expr.value === "string")
    return { name: expr.value, quotedString: expr.type === "double_quote_string" };
  return null;
}

/** The tables, columns and string literals of a gold query over a schema. */
export function goldItems(sql: string, schema: DatabaseSchema): GoldItems {
  const ast = parseQuery(sql);
  const tableByLower = new Map(schema.tables.map((t) => [t.name.toLowerCase(), t]));
  const tables = new Set<string>();
  const columns = new Map<string, [string, string]>();
  const literals: GoldLiteral[] = [];
  const allAliases: Scope = new Map();

  const addColumn = (table: string, column: string): [string, string] | null => {
    const t = tableByLower.get(table.toLowerCase());
    const c = t?.columns.find((x) => x.name.toLowerCase() === column.toLowerCase());
    if (!t || !c) return null;
    columns.set(`${t.name}\u0000${c.name}`.toLowerCase(), [t.name, c.name]);
    return [t.name, c.name];
  };

  // A column reference → [table, column] in the schema, or null (a select alias, a subquery column, a string).
  const resolve = (ref: Node, scopes: Scope[]): [string, string] | null => {
    const col = columnName(ref);
    if (!col || col.quotedString) return null;
    const qualifier = typeof ref.table === "string" ? ref.table.toLowerCase() : null;
    if (qualifier) {
      for (const s of scopes)
        if (s.has(qualifier)) return s.get(qualifier) ? addColumn(s.get(qualifier)!, col.name) : null;
      const t = allAliases.get(qualifier);
      return t ? addColumn(t, col.name) : null;
    }
    for (const s of scopes) {
      for (const t of new Set(s.values())) {
        if (
          t &&
          tableByLower.get(t.toLowerCase())?.columns.some((c) => c.name.toLowerCase() === col.name.toLowerCase())
        )
          return addColumn(t, col.name);
      }
    }
    return null;
  };

  const literalOf = (n: Node): string | null => {
    if (STRING_TYPES.has(n.type as string) && typeof n.value === "string") return n.value;
    if (n.type === "column_ref") {
      const col = columnName(n); // PostgreSQL's grammar reads "USA" as a quoted name; SQLite reads it as a string
      if (col?.quotedString) return col.name;
    }
    return null;
  };

  const visit = (x: unknown, scopes: Scope[]): void => {
    if (Array.isArray(x)) {
      for (const y of x) visit(y, scopes);
      return;
    }
    if (!x || typeof x !== "object") return;
    const n = x as Node;
    if (n.ast && typeof n.ast === "object") return walkSelect(n.ast as Node, scopes);
    if (n.type === "select") return walkSelect(n, scopes);
    if (n.type === "column_ref") {
      const lit = literalOf(n);
      if (lit !== null) literals.push({ value: lit });
      else resolve(n, scopes);
      return;
    }
    const lit = literalOf(n);
    if (lit !== null) {
      literals.push({ value: lit });
      return;
    }
    if (n.type === "binary_expr" && n.left && typeof n.left === "object" && (n.left as Node).type === "column_ref") {
      const left = n.left as Node;
      const target = literalOf(left) === null ? resolve(left, scopes) : null;
      const right = n.right as Node | undefined;
      const rights =
        right?.type === "expr_list" && Array.isArray(right.value) ? (right.value as Node[]) : right ? [right] : [];
      for (const r of rights) {
        const lit = r && typeof r === "object" ? literalOf(r) : null;
        if (lit !== null) literals.push(target ? { value: lit, table: target[0], column: target[1] } : { value: lit });
        else visit(r, scopes);
      }
      return;
    }
    for (const [k, v] of Object.entries(n)) {
      if (k === "tableList" || k === "columnList") continue;
      visit(v, scopes);
    }
  };

  const walkSelect = (node: Node, outer: Scope[]): void => {
    if (node.type !== "select") {
      // UNION/… on older grammars, or a statement we do not read: look inside anyway.
      for (const [k, v] of Object.entries(node)) if (k !== "tableList" && k !== "columnList") visit(v, outer);
      return;
    }
    const scope: Scope = new Map();
    const from = Array.isArray(node.from) ? (node.from as Node[]) : [];
    for (const f of from) {
      if (typeof f.table === "string") {
        const t = tableByLower.get(f.table.toLowerCase());
        const name = t ? t.name : null;
        if (t) tables.add(t.name);
        scope.set(f.table.toLowerCase(), name);
        if (typeof f.as === "string") scope.set(f.as.toLowerCase(), name);
        if (name) {
          allAliases.set(f.table.toLowerCase(), name);
          if (typeof f.as === "string") allAliases.set(f.as.toLowerCase(), name);
        }
      } else if (f.expr && typeof f.expr === "object") {
        visit(f.expr, outer);
        if (typeof f.as === "string") scope.set(f.as.toLowerCase(), null);
      }
    }
    const scopes = [scope, ...outer];
    for (const f of from) {
      if (f.on) visit(f.on, scopes);
      if (Array.isArray(f.using)) {
        for (const u of f.using as Node[]) {
          const name = typeof u === "string" ? u : (u?.value as string | undefined);
          if (!name) continue;
          for (const t of scope.values()) if (t) addColumn(t, name);
        }
      }
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === "from" || k === "_next" || k === "tableList" || k === "columnList") continue;
      visit(v, scopes);
    }
    if (node._next && typeof node._next === "object") walkSelect(node._next as Node, outer);
  };

  visit(ast, []);
  // Drop the columns kept only as a select alias's name clash: columns of tables never read.
  const cols = [...columns.values()].filter(([t]) => tables.has(t));
  return { tables: [...tables], columns: cols, literals };
}
