// BIRD (Li et al., NeurIPS 2023) on disk, and the benchmarks prepare and eval read. BIRD's layout:
// <split>.json ([{ question_id, db_id, question, evidence, SQL, difficulty }]), <split>_tables.json,
// <split>_databases/<db_id>/<db_id>.sqlite (+ database_description/*.csv). Spider's: see spider.ts.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSpiderSplit, spiderDatabasePath, type SpiderExample, type SpiderSplit } from "./spider.js";

export type BenchmarkKind = "spider" | "bird";

export const BIRD_DIFFICULTIES = ["simple", "moderate", "challenging"] as const;

/** A text-to-SQL benchmark folder: its questions per split and where each database's SQLite file is. */
export interface Benchmark {
  kind: BenchmarkKind;
  dir: string;
  load(split: SpiderSplit): SpiderExample[];
  databasePath(split: SpiderSplit, dbId: string): string;
}

export function spiderBenchmark(dir: string): Benchmark {
  return {
    kind: "spider",
    dir,
    load: (split) => loadSpiderSplit(dir, split),
    databasePath: (_split, dbId) => spiderDatabasePath(dir, dbId),
  };
}

export function birdBenchmark(dir: string): Benchmark {
  return {
    kind: "bird",
    dir,
    load: (split) => loadBirdSplit(dir, split),
    databasePath: (split, dbId) => birdDatabasePath(dir, split, dbId),
  };
}

/** BIRD's SQLite file for a database id. */
export function birdDatabasePath(birdDir: string, split: SpiderSplit, dbId: string): string {
  return join(birdDir, `${split}_databases`, dbId, `${dbId}.sqlite`);
}

/**
 * The BIRD folder: `explicit` if given, else $SQLFOCUS_BIRD. Throws naming the path tried when it holds neither
 * dev.json nor train.json.
 */
export function resolveBirdDir(explicit?: string): string {
  const given = explicit ?? process.env.SQLFOCUS_BIRD;
  if (!given)
    throw new Error("no BIRD folder: pass --bird DIR or set $SQLFOCUS_BIRD (BIRD is not shipped with sqlfocus)");
  const dir = resolve(given);
  const source = explicit ? "--bird" : "$SQLFOCUS_BIRD";
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`BIRD folder not found: ${dir} (from ${source})`);
  if (!existsSync(join(dir, "dev.json")) && !existsSync(join(dir, "train.json")))
    throw new Error(`${dir} does not look like BIRD: no dev.json or train.json`);
  return dir;
}

/** The questions of a BIRD split, in file order, validated (errors name the file, entry and field). */
export function loadBirdSplit(birdDir: string, split: SpiderSplit): SpiderExample[] {
  const path = join(birdDir, `${split}.json`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of questions`);
  return data.map((row, index) => {
    const r = row as Record<string, unknown>;
    if (!r || typeof r !== "object") throw new Error(`${path}: entry ${index}: expected an object`);
    for (const field of ["db_id", "question", "SQL"]) {
      if (typeof r[field] !== "string") throw new Error(`${path}: entry ${index}: field '${field}' must be a string`);
    }
    if (r.evidence !== undefined && r.evidence !== null && typeof r.evidence !== "string")
      throw new Error(`${path}: entry ${index}: field 'evidence' must be a string`);
    const difficulty = r.difficulty;
    if (difficulty !== undefined && !(BIRD_DIFFICULTIES as readonly unknown[]).includes(difficulty))
      throw new Error(
        `${path}: entry ${index}: field 'difficulty' must be one of ${BIRD_DIFFICULTIES.join(", ")}, got ${JSON.stringify(difficulty)}`,
      );
    const ex: SpiderExample = {
      id: `${split}-${index}`,
      index,
      split,
      dbId: r.db_id as string,
      question: r.question as string,
      query: r.SQL as string,
      evidence: (r.evidence as string | undefined) ?? "",
    };
    if (typeof difficulty === "string") ex.difficulty = difficulty;
    if (typeof r.question_id === "number") ex.questionId = r.question_id;
    return ex;
  });
}
