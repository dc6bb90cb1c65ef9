// Schema-linking recall on a Spider split, no model needed: for every question, whether the prompt's schema holds
// what the gold SQL reads — its tables, its columns, and the string literals it compares with cell values of the
// database (shown as an Examples value of the right column) — and how many tokens the schema takes. Measured for the
// full M-Schema (today's prompt) and for question-aware prompts (linkSchema) at each budget.
import { existsSync } from "node:fs";
import {
  formatMSchema,
  linkSchema,
  readSqliteSchema,
  readSqliteValues,
  sqliteValueIndex,
  type DatabaseSchema,
  type ValueIndex,
  type ValueMatchOptions,
} from "../mschema/index.js";
import { buildNl2SqlPrompt } from "../text2sql/index.js";
import { AtomicFile, checkOutputFile } from "../files/index.js";
import { goldItems, type GoldItems } from "./gold-items.js";
import { loadSpiderSplit, spiderDatabasePath, type SpiderExample, type SpiderSplit } from "./spider.js";

export interface RecallCount {
  found: number;
  total: number;
  /** found / total (1 when total is 0). */
  recall: number;
}

export interface LinkBenchRow {
  /** "full": the whole M-Schema as prompts show it today; "linked": linkSchema at `budget` (0: no budget, values added). */
  variant: "full" | "linked";
  budget: number | null;
  tables: RecallCount;
  columns: RecallCount;
  values: RecallCount;
  /** Share of questions whose every table, column and value is in the prompt. */
  allFound: number;
  tokens: { mean: number; median: number; p90: number; max: number };
  /** Questions whose schema is over the budget (a single table larger than it). */
  overBudget: number;
  /** Mean number of matched cell values shown per prompt (value retrieval's cost; 0 for the full M-Schema). */
  matchedValues: number;
}

export interface LinkBenchReport {
  split: SpiderSplit;
  questions: number;
  /** Questions measured (database present, gold SQL parsed). */
  measured: number;
  missingDb: number;
  /** Gold queries neither grammar of node-sql-parser reads (left out), with their ids. */
  unparsed: string[];
  /** Gold string literals that occur as cell values (what value recall counts), out of all string literals. */
  literals: { cellValues: number; all: number };
  rows: LinkBenchRow[];
  ms: number;
}

export interface LinkBenchPrompt {
  example: SpiderExample;
  variant: "full" | "linked";
  budget: number | null;
  schema: string;
  tokens: number;
  /** Matched cell values shown (linked prompts). */
  matchedValues: number;
  missing: { tables: string[]; columns: string[]; values: string[] };
}

export interface LinkBenchOptions {
  spiderDir: string;
  split: SpiderSplit;
  /** Budgets of the linked prompts (0: no budget). */
  budgets: number[];
  countTokens: (text: string) => number;
  limit?: number;
  maxExamples?: number;
  valueMatch?: ValueMatchOptions;
  /** Folder of the value cache (see sqliteValueIndex). */
  valueCacheDir?: string;
  /** Each question's schema text and what it misses. */
  onPrompt?: (p: LinkBenchPrompt) => void;
  /** Write each question's prompts (XiYan prompt over each schema variant) to this JSONL file, atomically. */
  out?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Tables, columns and Examples lists of an M-Schema text, by lower-case name. */
export function parseMSchemaText(text: string): Map<string, Map<string, string | null>> {
  const tables = new Map<string, Map<string, string | null>>();
  let current: Map<string, string | null> | null = null;
  for (const line of text.split("\n")) {
    if (line.startsWith("# Table: ")) {
      const rest = line.slice("# Table: ".length);
      const comma = rest.indexOf(", ");
      current = new Map();
      tables.set((comma >= 0 ? rest.slice(0, comma) : rest).trim().toLowerCase(), current);
      continue;
    }
    if (line.startsWith("【")) {
      current = null;
      continue;
    }
    if (!current || !line.startsWith("(")) continue;
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(1, colon).toLowerCase();
    const at = line.indexOf(", Examples: [");
    let examples: string | null = null;
    if (at >= 0) {
      const body = line.slice(at + ", Examples: [".length);
      examples = body.replace(/\]\),?$/, "");
    }
    current.set(name, examples);
  }
  return tables;
}

function listHas(list: string, value: string): boolean {
  return (
    list === value || list.startsWith(value + ", ") || list.endsWith(", " + value) || list.includes(", " + value + ", ")
  );
}

interface DbState {
  schema: DatabaseSchema;
  values: ValueIndex;
  /** Every distinct text value per "table\0column" (lower case), uncapped: what counts as a cell value. */
  cells: Map<string, Set<string>>;
  full: string;
  fullTokens: number;
}

interface Needs {
  tables: string[];
  columns: Array<[string, string]>;
  values: Array<{ value: string; table: string; column: string }>;
}

function needs(items: GoldItems, db: DbState): { needs: Needs; literals: number } {
  const values: Needs["values"] = [];
  const seen = new Set<string>();
  for (const lit of items.literals) {
    let at: [string, string] | null = null;
    if (lit.table && lit.column) {
      if (db.cells.get(`${lit.table}\u0000${lit.column}`.toLowerCase())?.has(lit.value)) at = [lit.table, lit.column];
    } else {
      for (const t of db.schema.tables) {
        const c = t.columns.find((c) => db.cells.get(`${t.name}\u0000${c.name}`.toLowerCase())?.has(lit.value));
        if (c) {
          at = [t.name, c.name];
          break;
        }
      }
    }
    if (!at) continue;
    const k = `${at[0]}\u0000${at[1]}\u0000${lit.value}`;
    if (seen.has(k)) continue;
    seen.add(k);
    values.push({ value: lit.value, table: at[0], column: at[1] });
  }
  return { needs: { tables: items.tables, columns: items.columns, values }, literals: items.literals.length };
}

function check(text: string, n: Needs): LinkBenchPrompt["missing"] {
  const parsed = parseMSchemaText(text);
  return {
    tables: n.tables.filter((t) => !parsed.has(t.toLowerCase())),
    columns: n.columns
      .filter(([t, c]) => !parsed.get(t.toLowerCase())?.has(c.toLowerCase()))
      .map(([t, c]) => `${t}.${c}`),
    values: n.values
      .filter((v) => {
        const list = parsed.get(v.table.toLowerCase())?.get(v.column.toLowerCase());
        return !(list && listHas(list, v.value));
      })
      .map((v) => `${v.table}.${v.column}=${v.value}`),
  };
}

class RowAccumulator {
  tables = { found: 0, total: 0 };
  columns = { found: 0, total: 0 };
  values = { found: 0, total: 0 };
  all = 0;
  n = 0;
  over = 0;
  tokens: number[] = [];
  matched = 0;
  constructor(
    readonly variant: "full" | "linked",
    readonly budget: number | null,
  ) {}
  add(n: Needs, missing: LinkBenchPrompt["missing"], tokens: number, matched = 0): void {
    this.n++;
    this.matched += matched;
    this.tables.total += n.tables.length;
    this.tables.found += n.tables.length - missing.tables.length;
    this.columns.total += n.columns.length;
    this.columns.found += n.columns.length - missing.columns.length;
    this.values.total += n.values.length;
    this.values.found += n.values.length - missing.values.length;
    if (missing.tables.length + missing.columns.length + missing.values.length === 0) this.all++;
    if (this.budget && tokens > this.budget) this.over++;
    this.tokens.push(tokens);
  }
  row(): LinkBenchRow {
    const rc = (x: { found: number; total: number }): RecallCount => ({
      ...x,
      recall: x.total ? x.found / x.total : 1,
    });
    const sorted = [...this.tokens].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return {
      variant: this.variant,
      budget: this.budget,
      tables: rc(this.tables),
      columns: rc(this.columns),
      values: rc(this.values),
      allFound: this.n ? this.all / this.n : 0,
      tokens: {
        mean: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0,
        median: at(0.5),
        p90: at(0.9),
        max: sorted[sorted.length - 1] ?? 0,
      },
      overBudget: this.over,
      matchedValues: this.n ? this.matched / this.n : 0,
    };
  }
}

/** Measures schema-linking recall over a Spider split (see the file header). */
export function linkBench(options: LinkBenchOptions): LinkBenchReport {
  const start = performance.now();
  let examples = loadSpiderSplit(options.spiderDir, options.split);
  if (options.limit !== undefined) examples = examples.slice(0, options.limit);
  const maxExamples = options.maxExamples ?? 3;
  for (const b of options.budgets)
    if (!(Number.isInteger(b) && b >= 0)) throw new Error(`budget must be a whole number of tokens >= 0, got ${b}`);
  const dbs = new Map<string, DbState | null>();
  const dbFor = (dbId: string): DbState | null => {
    if (dbs.has(dbId)) return dbs.get(dbId)!;
    const path = spiderDatabasePath(options.spiderDir, dbId);
    let state: DbState | null = null;
    if (existsSync(path)) {
      const schema = readSqliteSchema(path, { dbId });
      const cells = new Map<string, Set<string>>();
      for (const c of readSqliteValues(path, { perColumn: 10_000_000, total: 100_000_000, maxLength: 1_000_000 })) {
        cells.set(`${c.table}\u0000${c.column}`.toLowerCase(), new Set(c.values));
      }
      const full = formatMSchema(schema, { maxExamples });
      state = {
        schema,
        cells,
        values: sqliteValueIndex(path, { dbId, cacheDir: options.valueCacheDir }),
        full,
        fullTokens: options.countTokens(full),
      };
    }
    dbs.set(dbId, state);
    return state;
  };
  if (options.out) checkOutputFile(options.out, "prompts .jsonl");
  const writer = options.out ? new AtomicFile(options.out) : null;
  const emit = (p: LinkBenchPrompt) => {
    options.onPrompt?.(p);
    writer?.write(
      JSON.stringify({
        id: p.example.id,
        db_id: p.example.dbId,
        question: p.example.question,
        variant: p.variant,
        budget: p.budget,
        schema_tokens: p.tokens,
        matched_values: p.matchedValues,
        missing: p.missing,
        prompt: buildNl2SqlPrompt({ question: p.example.question, dbSchema: p.schema, dialect: "SQLite" }),
      }) + "\n",
    );
  };
  try {
    const report = measure(emit);
    writer?.commit();
    return report;
  } catch (err) {
    writer?.abort();
    throw err;
  }

  function measure(emit: (p: LinkBenchPrompt) => void): LinkBenchReport {
    const full = new RowAccumulator("full", null);
    const linked = options.budgets.map((b) => new RowAccumulator("linked", b));
    const report: LinkBenchReport = {
      split: options.split,
      questions: examples.length,
      measured: 0,
      missingDb: 0,
      unparsed: [],
      literals: { cellValues: 0, all: 0 },
      rows: [],
      ms: 0,
    };
    examples.forEach((ex, i) => {
      options.onProgress?.(i, examples.length);
      const db = dbFor(ex.dbId);
      if (!db) {
        report.missingDb++;
        return;
      }
      let items: GoldItems;
      try {
        items = goldItems(ex.query, db.schema);
      } catch {
        report.unparsed.push(ex.id);
        return;
      }
      report.measured++;
      const { needs: n, literals } = needs(items, db);
      report.literals.all += literals;
      report.literals.cellValues += n.values.length;
      const fullMissing = check(db.full, n);
      full.add(n, fullMissing, db.fullTokens);
      emit({
        example: ex,
        variant: "full",
        budget: null,
        schema: db.full,
        tokens: db.fullTokens,
        matchedValues: 0,
        missing: fullMissing,
      });
      for (const acc of linked) {
        const r = linkSchema(db.schema, ex.question, {
          budget: acc.budget ?? 0,
          countTokens: options.countTokens,
          values: db.values,
          valueMatch: options.valueMatch,
          maxExamples,
        });
        const tokens = r.report.tokens ?? options.countTokens(r.text);
        const missing = check(r.text, n);
        acc.add(n, missing, tokens, r.report.matchedValues.length);
        emit({
          example: ex,
          variant: "linked",
          budget: acc.budget,
          schema: r.text,
          tokens,
          matchedValues: r.report.matchedValues.length,
          missing,
        });
      }
    });
    options.onProgress?.(examples.length, examples.length);
    report.rows = [full.row(), ...linked.map((a) => a.row())];
    report.ms = performance.now() - start;
    return report;
  }
}
