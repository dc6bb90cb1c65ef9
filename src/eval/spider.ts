// Spider 1.0 on disk: the question files, the database folders, and where to find them.
// Layout (as released): train_spider.json, train_others.json, dev.json ([{ db_id, question, query, … }]),
// tables.json, database/<db_id>/<db_id>.sqlite. Spider is CC BY-SA 4.0 (Yu et al., EMNLP 2018).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type SpiderSplit = "train" | "dev";

/** The files each split is made of (train = Spider's own train set + the six "others" databases). */
export const SPIDER_SPLIT_FILES: Record<SpiderSplit, readonly string[]> = {
  train: ["train_spider.json", "train_others.json"],
  dev: ["dev.json"],
};

export interface SpiderExample {
  /** Stable id: `<split>-<index in the split>` (train counts on through train_others.json). */
  id: string;
  index: number;
  split: SpiderSplit;
  dbId: string;
  question: string;
  /** The gold SQL. */
  query: string;
  /** BIRD: the question's external knowledge, put into the prompt's 【参考信息】 ("" when none). */
  evidence?: string;
  /** BIRD: simple, moderate or challenging. */
  difficulty?: string;
  /** BIRD: the question_id field. */
  questionId?: number;
}

export function parseSpiderSplit(name: string): SpiderSplit {
  const key = name.trim().toLowerCase();
  if (key === "train" || key === "dev") return key;
  throw new Error(`unknown Spider split '${name}' (expected train or dev)`);
}

/** The folder holding sqlfocus's package.json (this file lives in src/eval/ or dist/src/eval/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    dir = dirname(dir);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  return process.cwd();
}

/**
 * The Spider folder: `explicit` if given, else $SQLFOCUS_SPIDER, else ../shared/spider next to the package
 * root. Throws naming the path tried when it does not hold dev.json or train_spider.json.
 */
export function resolveSpiderDir(explicit?: string): string {
  const dir = resolve(explicit ?? process.env.SQLFOCUS_SPIDER ?? join(packageRoot(), "..", "shared", "spider"));
  const source = explicit ? "--spider" : process.env.SQLFOCUS_SPIDER ? "$SQLFOCUS_SPIDER" : "the default location";
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`Spider folder not found: ${dir} (from ${source})`);
  if (!existsSync(join(dir, "dev.json")) && !existsSync(join(dir, "train_spider.json")))
    throw new Error(`${dir} does not look like Spider 1.0: no dev.json or train_spider.json`);
  return dir;
}

/** Spider's SQLite file for a database id (it may not exist: some releases miss a few databases). */
export function spiderDatabasePath(spiderDir: string, dbId: string): string {
  return join(spiderDir, "database", dbId, `${dbId}.sqlite`);
}

function readJsonArray(path: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of examples`);
  return data;
}

/** The examples of one split, in file order, validated (errors name file, entry and field). */
export function loadSpiderSplit(spiderDir: string, split: SpiderSplit): SpiderExample[] {
  const out: SpiderExample[] = [];
  for (const file of SPIDER_SPLIT_FILES[split]) {
    const path = join(spiderDir, file);
    const rows = readJsonArray(path);
    rows.forEach((row, i) => {
      const r = row as Record<string, unknown>;
      for (const field of ["db_id", "question", "query"]) {
        if (typeof r?.[field] !== "string") throw new Error(`${path}: entry ${i}: field '${field}' must be a string`);
      }
      const index = out.length;
      out.push({
        id: `${split}-${index}`,
        index,
        split,
        dbId: r.db_id as string,
        question: r.question as string,
        query: r.query as string,
      });
    });
  }
  return out;
}
