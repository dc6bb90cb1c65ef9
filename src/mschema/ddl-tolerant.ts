// A tolerant reader of CREATE TABLE and ALTER TABLE … ADD … KEY statements, used when node-sql-parser's grammar
// rejects a statement (unknown type names such as "bool" or "number", odd options). It produces the same AST shape
// ddl.ts reads from node-sql-parser, with the declared type kept as written (definition.rawType).

type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Token {
  kind: "word" | "quoted" | "string" | "number" | "punct";
  text: string;
}

function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "'") {
      let j = i + 1;
      let s = "";
      while (j < sql.length) {
        if (sql[j] === "'" && sql[j + 1] === "'") {
          s += "'";
          j += 2;
        } else if (sql[j] === "\\" && j + 1 < sql.length) {
          s += sql[j + 1];
          j += 2;
        } else if (sql[j] === "'") break;
        else s += sql[j++];
      }
      if (j >= sql.length) throw new Error("unterminated string");
      out.push({ kind: "string", text: s });
      i = j + 1;
      continue;
    }
    if (ch === "[" && /^\[\s*\d*\s*\]/.test(sql.slice(i))) {
      const m = /^\[\s*\d*\s*\]/.exec(sql.slice(i))!;
      out.push({ kind: "punct", text: "[]" });
      i += m[0].length;
      continue;
    }
    if (ch === '"' || ch === "`" || ch === "[") {
      const close = ch === "[" ? "]" : ch;
      let j = i + 1;
      let s = "";
      while (j < sql.length) {
        if (sql[j] === close && sql[j + 1] === close && close !== "]") {
          s += close;
          j += 2;
        } else if (sql[j] === close) break;
        else s += sql[j++];
      }
      if (j >= sql.length) throw new Error("unterminated quoted name");
      out.push({ kind: "quoted", text: s });
      i = j + 1;
      continue;
    }
    const num = /^[+-]?\d+(?:\.\d+)?/.exec(sql.slice(i));
    if (num && (out.length === 0 || out[out.length - 1]!.kind === "punct")) {
      out.push({ kind: "number", text: num[0] });
      i += num[0].length;
      continue;
    }
    const word = /^[\p{L}\p{N}_$#@]+/u.exec(sql.slice(i));
    if (word) {
      out.push({ kind: "word", text: word[0] });
      i += word[0].length;
      continue;
    }
    out.push({ kind: "punct", text: ch });
    i++;
  }
  return out;
}

class Cursor {
  i = 0;
  constructor(readonly t: Token[]) {}
  peek(k = 0): Token | undefined {
    return this.t[this.i + k];
  }
  isWord(w: string, k = 0): boolean {
    const t = this.peek(k);
    return !!t && t.kind === "word" && t.text.toUpperCase() === w;
  }
  isPunct(p: string, k = 0): boolean {
    const t = this.peek(k);
    return !!t && t.kind === "punct" && t.text === p;
  }
  eatWord(w: string): boolean {
    if (this.isWord(w)) {
      this.i++;
      return true;
    }
    return false;
  }
  expectWord(w: string): void {
    if (!this.eatWord(w)) throw new Error(`expected ${w} near "${this.peek()?.text ?? "end"}"`);
  }
  expectPunct(p: string): void {
    if (!this.isPunct(p)) throw new Error(`expected "${p}" near "${this.peek()?.text ?? "end"}"`);
    this.i++;
  }
  name(): string {
    const t = this.peek();
    if (!t || (t.kind !== "word" && t.kind !== "quoted")) throw new Error(`expected a name near "${t?.text ?? "end"}"`);
    this.i++;
    return t.text;
  }
  qualified(): { db: string | null; table: string } {
    const parts = [this.name()];
    while (this.isPunct(".")) {
      this.i++;
      parts.push(this.name());
    }
    return { db: parts.length > 1 ? parts[parts.length - 2]! : null, table: parts[parts.length - 1]! };
  }
  nameList(): string[] {
    this.expectPunct("(");
    const names: string[] = [];
    while (!this.isPunct(")")) {
      names.push(this.name());
      // index options such as (col(10) DESC): skip to the next comma or the closing parenthesis
      let depth = 0;
      while (this.peek() && !(depth === 0 && (this.isPunct(",") || this.isPunct(")")))) {
        if (this.isPunct("(")) depth++;
        if (this.isPunct(")")) depth--;
        this.i++;
      }
      if (this.isPunct(",")) this.i++;
      if (!this.peek()) throw new Error("unterminated column list");
    }
    this.i++;
    return names;
  }
}

/** Split the tokens between the outer parentheses at top-level commas. */
function splitDefs(c: Cursor): Token[][] {
  c.expectPunct("(");
  const defs: Token[][] = [];
  let cur: Token[] = [];
  let depth = 0;
  for (;;) {
    const t = c.peek();
    if (!t) throw new Error("unterminated column list");
    c.i++;
    if (t.kind === "punct" && t.text === "(") depth++;
    if (t.kind === "punct" && t.text === ")") {
      if (depth === 0) break;
      depth--;
    }
    if (t.kind === "punct" && t.text === "," && depth === 0) {
      defs.push(cur);
      cur = [];
      continue;
    }
    cur.push(t);
  }
  if (cur.length) defs.push(cur);
  return defs;
}

const TYPE_STOP = new Set([
  "NOT",
  "NULL",
  "DEFAULT",
  "PRIMARY",
  "REFERENCES",
  "UNIQUE",
  "CHECK",
  "COLLATE",
  "COMMENT",
  "CONSTRAINT",
  "AUTO_INCREMENT",
  "AUTOINCREMENT",
  "GENERATED",
  "IDENTITY",
  "ON",
  "CHARSET",
  "AS",
  "KEY",
  "VISIBLE",
  "INVISIBLE",
  "STORED",
  "VIRTUAL",
]);

function referenceDef(c: Cursor): Node {
  c.expectWord("REFERENCES");
  const table = c.qualified();
  const cols = c.isPunct("(") ? c.nameList() : [];
  return { table: [table], definition: cols.map((n) => ({ column: n })) };
}

function tableConstraint(c: Cursor): Node | null {
  let name: string | null = null;
  if (c.eatWord("CONSTRAINT")) {
    if (!c.isWord("PRIMARY") && !c.isWord("FOREIGN") && !c.isWord("UNIQUE") && !c.isWord("CHECK")) name = c.name();
  }
  if (c.eatWord("PRIMARY")) {
    c.expectWord("KEY");
    return {
      resource: "constraint",
      constraint: name,
      constraint_type: "primary key",
      definition: c.nameList().map((n) => ({ column: n })),
    };
  }
  if (c.eatWord("FOREIGN")) {
    c.expectWord("KEY");
    if (!c.isPunct("(")) c.name(); // MySQL: FOREIGN KEY index_name (cols)
    const cols = c.nameList();
    return {
      resource: "constraint",
      constraint: name,
      constraint_type: "FOREIGN KEY",
      definition: cols.map((n) => ({ column: n })),
      reference_definition: referenceDef(c),
    };
  }
  return null; // UNIQUE, CHECK, KEY, INDEX …: nothing M-Schema shows
}

const CONSTRAINT_START = new Set([
  "CONSTRAINT",
  "PRIMARY",
  "FOREIGN",
  "UNIQUE",
  "CHECK",
  "KEY",
  "INDEX",
  "FULLTEXT",
  "SPATIAL",
  "EXCLUDE",
  "LIKE",
  "PERIOD",
]);

/** Table constraints of one comma-separated item (SQLite accepts several without commas between them). */
function tableConstraints(c: Cursor): Node[] {
  const out: Node[] = [];
  while (c.peek()) {
    const start = c.i;
    const con = tableConstraint(c);
    if (con) out.push(con);
    // skip to the next constraint keyword at depth 0 (the rest of this one: ON DELETE …, index options, CHECK body)
    let depth = 0;
    if (c.i === start) c.i++;
    while (c.peek()) {
      if (
        depth === 0 &&
        (c.isWord("CONSTRAINT") ||
          c.isWord("PRIMARY") ||
          c.isWord("FOREIGN") ||
          c.isWord("UNIQUE") ||
          c.isWord("CHECK"))
      )
        break;
      if (c.isPunct("(")) depth++;
      if (c.isPunct(")")) depth--;
      c.i++;
    }
  }
  return out;
}

function columnDef(tokens: Token[]): Node[] {
  const c = new Cursor(tokens);
  const first = c.peek();
  if (!first) return [];
  if (first.kind === "word" && CONSTRAINT_START.has(first.text.toUpperCase())) {
    // "key" or "primary" can also be a column name when a type follows; constraints are followed by KEY/(/a name
    const next = c.peek(1);
    const looksLikeColumn =
      first.text.toUpperCase() === "KEY" && next?.kind === "word" && !c.isWord("KEY", 1) && c.peek(2)?.text !== "(";
    if (!looksLikeColumn) return tableConstraints(c);
  }
  const name = c.name();
  const typeParts: string[] = [];
  let depth = 0;
  while (c.peek()) {
    const t = c.peek()!;
    if (depth === 0 && t.kind === "word" && TYPE_STOP.has(t.text.toUpperCase())) break;
    if (depth === 0 && t.kind === "word" && t.text.toUpperCase() === "CHARACTER" && c.isWord("SET", 1)) break;
    if (t.kind === "punct" && t.text === "(") depth++;
    if (t.kind === "punct" && t.text === ")") depth--;
    typeParts.push(t.kind === "string" ? `'${t.text}'` : t.text);
    c.i++;
  }
  const rawType = typeParts.reduce(
    (s, p) =>
      s === "" || p === "(" || p === ")" || p === "," || p === "[]" || s.endsWith("(")
        ? s + p
        : s.endsWith(",")
          ? `${s}${p}`
          : `${s} ${p}`,
    "",
  );
  const def: Node = { resource: "column", column: name, definition: { rawType } };
  while (c.peek()) {
    if (c.isWord("NOT") && c.isWord("NULL", 1)) {
      def.nullable = { type: "not null" };
      c.i += 2;
    } else if (c.isWord("PRIMARY") && c.isWord("KEY", 1)) {
      def.primary_key = "primary key";
      c.i += 2;
    } else if (c.isWord("REFERENCES")) {
      def.reference_definition = referenceDef(c);
    } else if (c.isWord("COMMENT") && c.peek(1)?.kind === "string") {
      def.comment = { value: { type: "text", value: c.peek(1)!.text } };
      c.i += 2;
    } else c.i++;
  }
  return [def];
}

/** Parse one CREATE TABLE or ALTER TABLE statement the tolerant way; throws on anything else. */
export function parseTolerant(stmt: string): Node {
  const c = new Cursor(tokenize(stmt));
  if (c.eatWord("CREATE")) {
    while (
      c.eatWord("GLOBAL") ||
      c.eatWord("LOCAL") ||
      c.eatWord("TEMPORARY") ||
      c.eatWord("TEMP") ||
      c.eatWord("UNLOGGED")
    ) {
      /* modifiers */
    }
    c.expectWord("TABLE");
    if (c.eatWord("IF")) {
      c.expectWord("NOT");
      c.expectWord("EXISTS");
    }
    const table = c.qualified();
    if (!c.isPunct("(")) throw new Error(`CREATE TABLE ${table.table} has no column list`);
    const defs = splitDefs(c).flatMap(columnDef);
    const options: Node[] = [];
    while (c.peek()) {
      if (c.isWord("COMMENT")) {
        c.i++;
        if (c.isPunct("=")) c.i++;
        const t = c.peek();
        if (t?.kind === "string") options.push({ keyword: "comment", value: { type: "text", value: t.text } });
      }
      c.i++;
    }
    return { type: "create", keyword: "table", table: [table], create_definitions: defs, table_options: options };
  }
  if (c.eatWord("ALTER")) {
    c.expectWord("TABLE");
    c.eatWord("ONLY");
    if (c.eatWord("IF")) c.expectWord("EXISTS");
    const table = c.qualified();
    const expr: Node[] = [];
    while (c.peek()) {
      if (c.eatWord("ADD")) {
        const start = c.i;
        let depth = 0;
        while (c.peek() && !(depth === 0 && c.isPunct(","))) {
          if (c.isPunct("(")) depth++;
          if (c.isPunct(")")) depth--;
          c.i++;
        }
        const sub = new Cursor(c.t.slice(start, c.i));
        if (sub.isWord("CONSTRAINT") || sub.isWord("PRIMARY") || sub.isWord("FOREIGN")) {
          const con = tableConstraint(sub);
          if (con) expr.push({ action: "add", resource: "constraint", create_definitions: con });
        }
      } else c.i++;
    }
    return { type: "alter", table: [table], expr };
  }
  throw new Error("not a CREATE TABLE or ALTER TABLE statement");
}
