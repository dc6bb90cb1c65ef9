// Checks of text produced from Spider databases without committing Spider-derived text. Spider 1.0 is CC BY-SA 4.0:
// tests may read it at test time, but neither it nor text derived from it (its values, questions, SQL, the M-Schema
// of its databases) may be committed. So an exact expectation over Spider is kept as the sha256 of the hand-written
// text it replaced, and backed by structural checks that read the database itself when the test runs.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import Database from "better-sqlite3";

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Exact check by digest; on a mismatch the message carries the produced text so a developer can review it. */
export function assertDigest(text: string, hex: string, what: string): void {
  const got = sha256(text);
  if (got !== hex) {
    assert.fail(
      `${what}: sha256 ${got} differs from the expected ${hex}.\n` +
        `Review the produced text below against the rules (docs/mschema.md); if it is right, update the digest.\n` +
        `----- produced text -----\n${text}\n----- end -----`,
    );
  }
}

export interface MSchemaCheckOptions {
  /** Tables expected in the text (default: every table of the database but sqlite_*). */
  tables?: string[];
  /** Most example values per column (default 3). */
  maxExamples?: number;
}

export interface MSchemaCheckReport {
  tables: number;
  columns: number;
  primaryKeys: number;
  foreignKeyLines: number;
  examples: number;
}

type ColumnInfo = { name: string; type: string; pk: number };

const TEMPORAL = new Set(["DATE", "DATETIME", "TIME", "TIMESTAMP"]);

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** How a declared SQLite type's name shows in M-Schema: upper case, no size; INT → INTEGER, BOOL → BOOLEAN. */
function acceptedTypeNames(declared: string): string[] {
  const word = declared.toUpperCase().replace(/\(.*$/, "").trim();
  if (word === "INT") return ["INTEGER"];
  if (word === "BOOL") return ["BOOLEAN"];
  if (word === "") return ["NULL"];
  return [word];
}

/** Does one example token stand for this stored value (as text, as a number, or as a Python bool)? */
function exampleMatches(token: string, value: unknown, isBool: boolean): boolean {
  if (value === null || value === undefined) return false;
  if (isBool) {
    const truthy = typeof value === "string" ? value.length > 0 : Number(value) !== 0;
    return token === (truthy ? "True" : "False");
  }
  if (String(value) === token) return true;
  if (value instanceof Uint8Array || Buffer.isBuffer(value)) return false;
  const n = Number(token);
  return token.trim() !== "" && Number.isFinite(n) && String(value).trim() !== "" && Number(value) === n;
}

/**
 * Splits an examples list ("a, b, c" where values may themselves hold ", ") into values each present in the column:
 * returns the split, or null when no split into at most `max` stored values exists.
 */
function splitExamples(list: string, values: unknown[], isBool: boolean, max: number): string[] | null {
  const pieces = list.split(", ");
  const walk = (from: number, taken: string[]): string[] | null => {
    if (from === pieces.length) return taken;
    if (taken.length === max) return null;
    for (let to = from + 1; to <= pieces.length; to++) {
      const token = pieces.slice(from, to).join(", ");
      if (values.some((v) => exampleMatches(token, v, isBool))) {
        const rest = walk(to, [...taken, token]);
        if (rest) return rest;
      }
    }
    return null;
  };
  return walk(0, []);
}

/**
 * Reads an M-Schema text against the SQLite file it was made from: the db id, the tables in name order, each
 * table's columns in declared order with their type names, Primary Key exactly on the key columns, at most
 * `maxExamples` examples (one for date/time columns), every example a value stored in that column, and one
 * foreign-key line per distinct key between shown tables. Throws (assert) on the first difference.
 */
export function checkMSchemaAgainstSqlite(
  text: string,
  dbPath: string,
  dbId: string,
  options: MSchemaCheckOptions = {},
): MSchemaCheckReport {
  const maxExamples = options.maxExamples ?? 3;
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const allTables = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name",
        )
        .all() as Array<{ name: string }>
    ).map((r) => r.name);
    const wanted = options.tables ? new Set(options.tables.map((t) => t.toLowerCase())) : null;
    const tables = wanted ? allTables.filter((t) => wanted.has(t.toLowerCase())) : allTables;
    const report: MSchemaCheckReport = { tables: 0, columns: 0, primaryKeys: 0, foreignKeyLines: 0, examples: 0 };
    let pos = 0;
    const expectAt = (s: string, where: string) => {
      assert.equal(
        text.slice(pos, pos + s.length),
        s,
        `${dbId}: expected ${JSON.stringify(s)} at ${where} (offset ${pos})`,
      );
      pos += s.length;
    };
    expectAt(`【DB_ID】 ${dbId}\n【Schema】\n`, "the header");
    tables.forEach((table, ti) => {
      if (ti > 0) expectAt("\n", `before table ${table}`);
      expectAt(`# Table: ${table}\n[\n`, `table ${table}`);
      const columns = db.prepare(`PRAGMA table_info(${quote(table)})`).all() as ColumnInfo[];
      report.tables++;
      columns.forEach((c, ci) => {
        const where = `${table}.${c.name}`;
        expectAt(`(${c.name}:`, where);
        const typeMatch = /^[A-Z_]+/.exec(text.slice(pos));
        assert.ok(typeMatch, `${where}: no type name at offset ${pos}`);
        const typeName = typeMatch[0];
        assert.ok(
          acceptedTypeNames(c.type).includes(typeName),
          `${where}: type ${typeName} for declared ${JSON.stringify(c.type)}`,
        );
        pos += typeName.length;
        if (c.pk > 0) {
          expectAt(", Primary Key", `${where} (a key column)`);
          report.primaryKeys++;
        }
        const last = ci === columns.length - 1;
        const end = last ? ")\n]" : `),\n(${columns[ci + 1]!.name}:`;
        if (text.startsWith(", Examples: [", pos)) {
          pos += ", Examples: [".length;
          const close = text.indexOf(`]${end}`, pos);
          assert.ok(close >= 0, `${where}: examples list not closed`);
          const list = text.slice(pos, close);
          const values = (
            db.prepare(`SELECT DISTINCT ${quote(c.name)} AS v FROM ${quote(table)}`).all() as Array<{ v: unknown }>
          ).map((r) => r.v);
          const max = TEMPORAL.has(typeName) ? 1 : maxExamples;
          const split = splitExamples(list, values, typeName === "BOOLEAN", max);
          assert.ok(split, `${where}: examples [${list}] are not at most ${max} values stored in the column`);
          report.examples += split.length;
          pos = close + 1;
        } else if (!text.startsWith(end, pos)) {
          assert.fail(`${where}: unexpected text at offset ${pos}: ${JSON.stringify(text.slice(pos, pos + 40))}`);
        }
        report.columns++;
        expectAt(last ? ")\n" : "),\n", `after ${where}`);
      });
      if (columns.length === 0) expectAt("\n", `empty table ${table}`);
      expectAt("]", `end of ${table}`);
    });
    const fks = new Set<string>();
    let anyFk = false;
    for (const table of allTables) {
      const rows = db.prepare(`PRAGMA foreign_key_list(${quote(table)})`).all() as Array<{
        table: string;
        from: string;
        to: string | null;
      }>;
      for (const r of rows) {
        anyFk = true;
        const shown =
          tables.some((t) => t.toLowerCase() === table.toLowerCase()) &&
          tables.some((t) => t.toLowerCase() === r.table.toLowerCase());
        if (shown && r.to) fks.add(`${table}.${r.from}=${r.table}.${r.to}`);
      }
    }
    if (anyFk) {
      expectAt("\n【Foreign keys】", "the foreign keys header");
      const lines = text.slice(pos).split("\n").slice(1);
      assert.equal(
        lines.length,
        fks.size,
        `${dbId}: ${lines.length} foreign-key lines for ${fks.size} distinct foreign keys`,
      );
      assert.deepEqual(new Set(lines), fks, `${dbId}: foreign-key lines`);
      report.foreignKeyLines = lines.length;
    } else {
      assert.equal(pos, text.length, `${dbId}: text after the last table`);
    }
    return report;
  } finally {
    db.close();
  }
}
