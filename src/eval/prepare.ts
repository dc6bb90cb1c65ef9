// Spider → training JSONL. Each example becomes one line whose prompt is XiYan's nl2sql prompt for SQLite
// (src/text2sql, the same builder the server and eval use) over the database's schema (M-Schema from the
// .sqlite file, or its DDL), and whose answer is the gold SQL in a ```sql block.
//
// Line forms (both read by `finetune --train_file`):
//   messages: {"messages":[{"role":"user","content":<prompt>},{"role":"assistant","content":"```sql\n<SQL>\n```"}]}
//   fields:   {"question","db_schema","query","dialect":"SQLite"} (the trainer builds the same prompt itself)
// Examples whose database is missing are reported and skipped. Outputs are written atomically.
import { existsSync } from "node:fs";
import { buildNl2SqlPrompt, formatSqlAnswer } from "../text2sql/index.js";
import { AtomicFile, checkOutputFile } from "../files/index.js";
import { SqlExecutor } from "../sql/index.js";
import { replaceCurrentYear } from "./normalize.js";
import { spiderBenchmark, type Benchmark } from "./bird.js";
import type { SpiderExample, SpiderSplit } from "./spider.js";

export type SchemaStyle = "mschema" | "ddl";
export type PreparedLineFormat = "messages" | "fields";

/** What a schema-text provider is asked: a database, the style, and the question it is for. */
export interface SchemaTextRequest {
  dbId: string;
  path: string;
  style: SchemaStyle;
  question: string;
}

/**
 * Gives the schema text of a database in a style. Callers cache the text per db_id, unless the provider is
 * question-aware (`perQuestion`: linked M-Schema), in which case it is asked once per question.
 */
export type SchemaTextProvider = ((db: SchemaTextRequest) => string | Promise<string>) & { perQuestion?: boolean };

/** A provider's text for a question, cached per database unless the provider is question-aware. */
export function schemaTextCache(
  provider: SchemaTextProvider,
  style: SchemaStyle,
): (dbId: string, path: string, question: string) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (dbId, path, question) => {
    if (provider.perQuestion) return Promise.resolve().then(() => provider({ dbId, path, style, question }));
    let s = cache.get(dbId);
    if (!s) {
      s = Promise.resolve().then(() => provider({ dbId, path, style, question }));
      cache.set(dbId, s);
    }
    return s;
  };
}

export interface PrepareDropOptions {
  /** Leave out these databases. */
  dbIds?: readonly string[];
  /** Leave out examples whose prompt + answer is longer than this many characters. */
  maxChars?: number;
  /** Leave out examples whose gold SQL fails (or times out) on its database. */
  unexecutable?: boolean;
  /** Leave out repeats of the same (database, question, SQL). */
  duplicates?: boolean;
}

export interface PrepareOptions {
  /** Spider's folder (or give `benchmark`). */
  spiderDir?: string;
  /** The benchmark to read (Spider or BIRD); default Spider at spiderDir. */
  benchmark?: Benchmark;
  /** What to write: each split to its JSONL path. */
  outputs: ReadonlyArray<{ split: SpiderSplit; path: string }>;
  schemaStyle?: SchemaStyle;
  format?: PreparedLineFormat;
  schemaText: SchemaTextProvider;
  drop?: PrepareDropOptions;
  /** Only the first N examples of each split (before dropping). */
  limit?: number;
  onProgress?: (p: { split: SpiderSplit; done: number; total: number }) => void;
}

export interface PrepareSplitReport {
  split: SpiderSplit;
  path: string;
  examples: number;
  written: number;
  dropped: { missingDb: number; excludedDb: number; tooLong: number; unexecutable: number; duplicate: number };
  /** Databases referenced by the split but absent from database/, with the number of examples skipped. */
  missingDbs: Record<string, number>;
  /** Examples dropped as unexecutable, with the error. */
  unexecutable: Array<{ id: string; dbId: string; error: string }>;
}

/** The prepared JSONL line of one example (its evidence, when it has one, goes into the prompt's 【参考信息】). */
export function preparedLine(
  example: { question: string; query: string; evidence?: string },
  schema: string,
  format: PreparedLineFormat,
): string {
  const evidence = example.evidence ?? "";
  if (format === "fields") {
    return JSON.stringify({
      question: example.question,
      db_schema: schema,
      query: example.query,
      dialect: "SQLite",
      ...(evidence ? { evidence } : {}),
    });
  }
  const prompt = buildNl2SqlPrompt({ question: example.question, dbSchema: schema, dialect: "SQLite", evidence });
  return JSON.stringify({
    messages: [
      { role: "user", content: prompt },
      { role: "assistant", content: formatSqlAnswer(example.query) },
    ],
  });
}

/** Writes each requested split; returns what was written and dropped. */
export async function prepareSpider(options: PrepareOptions): Promise<PrepareSplitReport[]> {
  const style = options.schemaStyle ?? "mschema";
  const format = options.format ?? "messages";
  const drop = options.drop ?? {};
  const excluded = new Set(drop.dbIds ?? []);
  const schemaFor = schemaTextCache(options.schemaText, style);
  const bench = benchmarkOf(options);
  for (const { path } of options.outputs) checkOutputFile(path, "output .jsonl"); // before any work
  const executor = drop.unexecutable ? new SqlExecutor({ timeoutMs: 30_000 }) : null;
  const reports: PrepareSplitReport[] = [];
  try {
    for (const { split, path } of options.outputs) {
      let examples: SpiderExample[] = bench.load(split);
      if (options.limit !== undefined) examples = examples.slice(0, options.limit);
      const report: PrepareSplitReport = {
        split,
        path,
        examples: examples.length,
        written: 0,
        dropped: { missingDb: 0, excludedDb: 0, tooLong: 0, unexecutable: 0, duplicate: 0 },
        missingDbs: {},
        unexecutable: [],
      };
      const seen = new Set<string>();
      const out = new AtomicFile(path);
      try {
        for (let i = 0; i < examples.length; i++) {
          const ex = examples[i];
          options.onProgress?.({ split, done: i, total: examples.length });
          if (excluded.has(ex.dbId)) {
            report.dropped.excludedDb++;
            continue;
          }
          const dbPath = bench.databasePath(split, ex.dbId);
          if (!existsSync(dbPath)) {
            report.dropped.missingDb++;
            report.missingDbs[ex.dbId] = (report.missingDbs[ex.dbId] ?? 0) + 1;
            continue;
          }
          if (drop.duplicates) {
            const key = JSON.stringify([ex.dbId, ex.question.trim(), ex.query.trim()]);
            if (seen.has(key)) {
              report.dropped.duplicate++;
              continue;
            }
            seen.add(key);
          }
          if (executor) {
            const r = await executor.execute(dbPath, replaceCurrentYear(ex.query));
            if (r.kind !== "rows") {
              report.dropped.unexecutable++;
              report.unexecutable.push({
                id: ex.id,
                dbId: ex.dbId,
                error: r.kind === "error" ? r.message : "timed out",
              });
              continue;
            }
          }
          const schema = await schemaFor(ex.dbId, dbPath, ex.question);
          const line = preparedLine(ex, schema, format);
          if (drop.maxChars !== undefined) {
            const chars =
              buildNl2SqlPrompt({ question: ex.question, dbSchema: schema, evidence: ex.evidence }).length +
              formatSqlAnswer(ex.query).length;
            if (chars > drop.maxChars) {
              report.dropped.tooLong++;
              continue;
            }
          }
          out.write(line + "\n");
          report.written++;
        }
        options.onProgress?.({ split, done: examples.length, total: examples.length });
        out.commit();
      } catch (err) {
        out.abort();
        throw err;
      }
      reports.push(report);
    }
  } finally {
    executor?.close();
  }
  return reports;
}

/** The benchmark of options that name `benchmark` or `spiderDir`. */
export function benchmarkOf(options: { benchmark?: Benchmark; spiderDir?: string }): Benchmark {
  if (options.benchmark) return options.benchmark;
  if (options.spiderDir === undefined) throw new Error("give spiderDir or benchmark");
  return spiderBenchmark(options.spiderDir);
}
