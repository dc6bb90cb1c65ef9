// Spider execution-accuracy evaluation: predict SQL for each question of a split, score it by execution
// (exec-match.ts), append one JSON line per question to a results file, and summarise.
//
// Resumable: results are appended (and flushed) question by question; a rerun with the same results file
// skips the ids already there (a line cut short by a crash is dropped first). A sidecar <results>.meta.json
// records what produced the file (split, predictor, scoring options) so that a rerun cannot silently mix
// two models' answers in one file.
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { checkOutputFile, writeFileAtomic } from "../files/index.js";
import { databaseFiles, executionMatch, type ExecErrorKind } from "./exec-match.js";
import type { ScoringMode } from "./normalize.js";
import { SqlExecutor } from "../sql/index.js";
import type { Benchmark, BenchmarkKind } from "./bird.js";
import { voteByExecution, type VoteCandidate } from "../text2sql/index.js";
import { benchmarkOf } from "./prepare.js";
import type { SpiderExample, SpiderSplit } from "./spider.js";

/** One line of the results JSONL. */
export interface EvalResultLine {
  id: string;
  index: number;
  db_id: string;
  question: string;
  gold: string;
  predicted: string;
  /** null when the question was not scored (its database is missing). */
  match: boolean | null;
  error: string | null;
  error_kind: ExecErrorKind | "missing_db" | "predict_error" | null;
  gold_ms: number;
  pred_ms: number;
  /** Time the predictor took (model generation), when it reports it. */
  gen_ms?: number;
  /** BIRD: the question's difficulty. */
  difficulty?: string;
  /** With candidates: the voted SQL, whether it matches, and each candidate's votes. */
  voted?: string;
  voted_match?: boolean;
  candidates?: Array<{ sql: string; logprob?: number; votes: number; error?: string }>;
}

export interface EvalSummary {
  split: SpiderSplit;
  /** Questions asked for (the split, or its first --limit). */
  questions: number;
  /** Questions scored (with a database present). */
  scored: number;
  matched: number;
  /** Execution accuracy over scored questions, 0..1. */
  ex: number;
  skippedMissingDb: number;
  missingDbs: string[];
  errors: Record<ExecErrorKind | "predict_error", number>;
  perDb: Record<string, { scored: number; matched: number; ex: number }>;
  /** Voted EX beside the greedy EX, when predictions came with candidates (over the questions that had them). */
  voted?: { scored: number; matched: number; ex: number; greedyMatched: number; greedyEx: number };
  /** EX per difficulty (BIRD: simple / moderate / challenging), when the questions have one. */
  perDifficulty?: Record<string, { scored: number; matched: number; ex: number }>;
  /** Which benchmark the questions came from. */
  benchmark?: BenchmarkKind;
}

export interface Prediction {
  /** The answer scored as EX (greedy). */
  sql: string;
  /** Milliseconds spent producing it (generation time). */
  ms?: number;
  /** Sampled candidates: executed read-only and voted on (src/text2sql voteByExecution); scored as voted EX. */
  candidates?: VoteCandidate[];
}

/** Produces the SQL for a question (from a model, a file, …). */
export type Predictor = (example: SpiderExample) => Promise<Prediction>;

export interface EvalOptions {
  /** Spider's folder (or give `benchmark`). */
  spiderDir?: string;
  /** The benchmark (Spider or BIRD; BIRD is scored as BIRD's evaluator does, see ExecMatchOptions.comparison). */
  benchmark?: Benchmark;
  split: SpiderSplit;
  /** Only the first N questions of the split. */
  limit?: number;
  predict: Predictor;
  /** Results JSONL (appended; see resume). */
  resultsPath: string;
  /** Identifies what produces predictions (model path, predictions file); checked on resume. */
  predictorId: string;
  /** Continue an existing results file (default true); false starts it afresh. */
  resume?: boolean;
  /** Per-query timeout, ms (default 30,000). */
  timeoutMs?: number;
  /** Keep DISTINCT when scoring (the evaluator drops it by default; its --keep_distinct). */
  keepDistinct?: boolean;
  /** "reference" (test-suite-sql-eval's rules, default) or "strict" (see normalize.ts ScoringMode). */
  scoring?: ScoringMode;
  /** Also try the gold's values in the prediction's value slots (the evaluator's --plug_value). */
  plugValue?: boolean;
  /** Most plugged candidates per question (default 1000). */
  plugLimit?: number;
  /** Questions scored concurrently (SQL child processes); default 1. Use >1 for file predictions only. */
  concurrency?: number;
  /** Called after each question (also for resumed ones, once, with `resumed` set). */
  onProgress?: (p: {
    done: number;
    total: number;
    matched: number;
    scored: number;
    resumed?: number;
    last?: EvalResultLine;
  }) => void;
}

interface EvalMeta {
  benchmark?: BenchmarkKind;
  split: SpiderSplit;
  predictor: string;
  keepDistinct: boolean;
  scoring: ScoringMode;
  plugValue: boolean;
  spiderDir: string;
}

function metaPath(resultsPath: string): string {
  return resultsPath.replace(/\.jsonl$/i, "") + ".meta.json";
}

/**
 * Reads an existing results file: the lines already done, by id. A last line without its newline (a write
 * cut short) is truncated away; any other malformed line is an error naming the line.
 */
export function readResults(resultsPath: string): Map<string, EvalResultLine> {
  const done = new Map<string, EvalResultLine>();
  if (!existsSync(resultsPath)) return done;
  const text = readFileSync(resultsPath, "utf8");
  let end = text.length;
  if (!text.endsWith("\n") && text.length > 0) {
    end = text.lastIndexOf("\n") + 1;
    const fd = openSync(resultsPath, "r+");
    try {
      ftruncateSync(fd, Buffer.byteLength(text.slice(0, end)));
    } finally {
      closeSync(fd);
    }
  }
  text
    .slice(0, end)
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let obj: EvalResultLine;
      try {
        obj = JSON.parse(line);
      } catch (err) {
        throw new Error(
          `${resultsPath}:${i + 1}: not valid JSON (${(err as Error).message}); remove the line or start afresh`,
        );
      }
      if (typeof obj?.id !== "string") throw new Error(`${resultsPath}:${i + 1}: no 'id' field`);
      done.set(obj.id, obj);
    });
  return done;
}

/** Writes the summary next to the results file (`<results>.summary.json`, atomically); returns its path. */
export function writeEvalSummary(resultsPath: string, summary: EvalSummary): string {
  const summaryPath = resultsPath.replace(/\.jsonl$/i, "") + ".summary.json";
  writeFileAtomic(summaryPath, JSON.stringify(summary, null, 2) + "\n");
  return summaryPath;
}

/** Summary of results lines (EX over questions with a database; per database; error counts). */
export function summarize(split: SpiderSplit, questions: number, lines: Iterable<EvalResultLine>): EvalSummary {
  const s: EvalSummary = {
    split,
    questions,
    scored: 0,
    matched: 0,
    ex: 0,
    skippedMissingDb: 0,
    missingDbs: [],
    errors: { pred_error: 0, pred_timeout: 0, gold_error: 0, gold_timeout: 0, predict_error: 0 },
    perDb: {},
  };
  const missing = new Set<string>();
  for (const r of lines) {
    if (r.match === null) {
      s.skippedMissingDb++;
      missing.add(r.db_id);
      continue;
    }
    s.scored++;
    if (r.match) s.matched++;
    if (r.error_kind && r.error_kind !== "missing_db") s.errors[r.error_kind]++;
    const db = (s.perDb[r.db_id] ??= { scored: 0, matched: 0, ex: 0 });
    db.scored++;
    if (r.match) db.matched++;
    if (r.voted_match !== undefined) {
      const v = (s.voted ??= { scored: 0, matched: 0, ex: 0, greedyMatched: 0, greedyEx: 0 });
      v.scored++;
      if (r.voted_match) v.matched++;
      if (r.match) v.greedyMatched++;
    }
    if (r.difficulty) {
      const d = ((s.perDifficulty ??= {})[r.difficulty] ??= { scored: 0, matched: 0, ex: 0 });
      d.scored++;
      if (r.match) d.matched++;
    }
  }
  s.ex = s.scored ? s.matched / s.scored : 0;
  for (const db of [...Object.values(s.perDb), ...Object.values(s.perDifficulty ?? {})])
    db.ex = db.scored ? db.matched / db.scored : 0;
  if (s.voted) {
    s.voted.ex = s.voted.scored ? s.voted.matched / s.voted.scored : 0;
    s.voted.greedyEx = s.voted.scored ? s.voted.greedyMatched / s.voted.scored : 0;
  }
  s.missingDbs = [...missing].sort();
  return s;
}

/** Makes the results file's folder; errors name the path when it is a folder or its folder path holds a file. */
export function prepareResultsPath(resultsPath: string): void {
  checkOutputFile(resultsPath, "results .jsonl");
}

/** Runs (or resumes) an evaluation; returns the summary over all questions asked for. */
export async function evaluateSpider(options: EvalOptions): Promise<EvalSummary> {
  const bench = benchmarkOf(options);
  const all = bench.load(options.split);
  const examples = options.limit !== undefined ? all.slice(0, Math.max(0, options.limit)) : all;
  const meta: EvalMeta = {
    ...(bench.kind === "bird" ? { benchmark: "bird" as const } : {}),
    split: options.split,
    predictor: options.predictorId,
    keepDistinct: !!options.keepDistinct,
    scoring: options.scoring ?? "reference",
    plugValue: !!options.plugValue,
    spiderDir: bench.dir,
  };
  prepareResultsPath(options.resultsPath);
  const mp = metaPath(options.resultsPath);
  const resume = options.resume ?? true;
  let done = new Map<string, EvalResultLine>();
  if (resume && existsSync(options.resultsPath)) {
    if (existsSync(mp)) {
      const old = JSON.parse(readFileSync(mp, "utf8")) as Partial<EvalMeta>;
      // Files from before scoring modes were scored by today's strict rules, without plugging.
      old.scoring ??= "strict";
      old.plugValue ??= false;
      for (const key of ["benchmark", "split", "predictor", "keepDistinct", "scoring", "plugValue"] as const) {
        if (old[key] !== meta[key])
          throw new Error(
            `${options.resultsPath} was written with ${key} = ${JSON.stringify(old[key])}, not ${JSON.stringify(meta[key])}: ` +
              "pass another results path, or --fresh to start it over",
          );
      }
    }
    done = readResults(options.resultsPath);
  }
  writeFileAtomic(mp, JSON.stringify(meta, null, 2) + "\n");

  const wanted = new Set(examples.map((e) => e.id));
  const results = new Map([...done].filter(([id]) => wanted.has(id)));
  const todo = examples.filter((e) => !results.has(e.id));
  let matched = [...results.values()].filter((r) => r.match).length;
  let scored = [...results.values()].filter((r) => r.match !== null).length;
  options.onProgress?.({ done: results.size, total: examples.length, matched, scored, resumed: results.size });

  const fd = openSync(options.resultsPath, resume ? "a" : "w");
  const executor = new SqlExecutor({ timeoutMs: options.timeoutMs, processes: options.concurrency ?? 1 });
  const dbFilesCache = new Map<string, string[]>();
  const append = (line: EvalResultLine) => {
    writeSync(fd, JSON.stringify(line) + "\n");
    results.set(line.id, line);
    if (line.match !== null) scored++;
    if (line.match) matched++;
    options.onProgress?.({ done: results.size, total: examples.length, matched, scored, last: line });
  };
  const line = (
    ex: SpiderExample,
    fields: Omit<EvalResultLine, "id" | "index" | "db_id" | "question" | "gold">,
  ): EvalResultLine => ({
    id: ex.id,
    index: ex.index,
    db_id: ex.dbId,
    question: ex.question,
    gold: ex.query,
    ...fields,
    ...(ex.difficulty ? { difficulty: ex.difficulty } : {}),
  });
  const scoreOne = async (ex: SpiderExample): Promise<void> => {
    let files = dbFilesCache.get(ex.dbId);
    if (!files) {
      const path = bench.databasePath(options.split, ex.dbId);
      // BIRD runs on the database's one file; Spider on every .sqlite file of its folder (test-suite variants).
      files = bench.kind === "bird" ? (existsSync(path) ? [path] : []) : databaseFiles(path);
      dbFilesCache.set(ex.dbId, files);
    }
    if (files.length === 0) {
      const error = `database ${ex.dbId} not found`;
      append(line(ex, { predicted: "", match: null, error, error_kind: "missing_db", gold_ms: 0, pred_ms: 0 }));
      return;
    }
    let prediction: Prediction;
    try {
      prediction = await options.predict(ex);
    } catch (err) {
      const error = (err as Error).message;
      append(line(ex, { predicted: "", match: false, error, error_kind: "predict_error", gold_ms: 0, pred_ms: 0 }));
      return;
    }
    const matchOptions = {
      keepDistinct: options.keepDistinct,
      scoring: options.scoring,
      plugValue: options.plugValue,
      plugLimit: options.plugLimit,
      comparison: bench.kind === "bird" ? ("bird" as const) : ("spider" as const),
    };
    const m = await executionMatch(executor, files, ex.query, prediction.sql, matchOptions);
    const result = line(ex, {
      predicted: prediction.sql,
      match: m.match,
      error: m.error,
      error_kind: m.errorKind,
      gold_ms: Math.round(m.goldMs * 100) / 100,
      pred_ms: Math.round(m.predMs * 100) / 100,
    });
    if (prediction.ms !== undefined) result.gen_ms = Math.round(prediction.ms);
    if (prediction.candidates && prediction.candidates.length > 0) {
      // Candidates run read-only on the question's first database file (src/sql's executor, as scoring does).
      const vote = await voteByExecution(prediction.candidates, async (sql) => {
        const o = await executor.execute(files[0]!, sql);
        return o.kind === "rows"
          ? { ok: true, rows: o.rows }
          : { ok: false, error: o.kind === "error" ? o.message : `timed out after ${executor.timeoutMs} ms` };
      });
      const voted = vote.candidates[vote.winner]!.sql;
      const vm = voted === prediction.sql ? m : await executionMatch(executor, files, ex.query, voted, matchOptions);
      result.voted = voted;
      result.voted_match = vm.match;
      result.candidates = vote.candidates.map((c) => ({
        sql: c.sql,
        ...(c.logprob !== undefined ? { logprob: Math.round(c.logprob * 1e4) / 1e4 } : {}),
        votes: c.votes,
        ...(c.error ? { error: c.error } : {}),
      }));
    }
    append(result);
  };
  try {
    const workers = Math.max(1, Math.floor(options.concurrency ?? 1));
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(workers, todo.length) }, async () => {
        while (next < todo.length) await scoreOne(todo[next++]);
      }),
    );
  } finally {
    executor.close();
    closeSync(fd);
  }
  const summary = summarize(options.split, examples.length, examples.map((e) => results.get(e.id)!).filter(Boolean));
  return bench.kind === "bird" ? { ...summary, benchmark: "bird" } : summary;
}
