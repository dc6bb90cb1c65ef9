// Predictions read from a file, for scoring without a model.
// Two forms:
//   - Spider's: one SQL per line, in the split's question order (a line may carry "\t<db_id>" after the SQL,
//     as the gold files do); the evaluator's reading rules apply (text before the first tab, trimmed; strict
//     scoring also turns " value " into " 1 " here, reference scoring replaces every "value" when scoring). A
//     blank line is an empty prediction.
//   - BIRD's: predict_dev.json, one object {"<question index>": "SQL\t----- bird -----\tdb_id", …}.
//   - JSONL: one object per line with the SQL in `predicted`, `sql`, `pred` or `query`, and optionally the
//     question's `id` ("dev-12") or `index`; without them lines align with the questions in order. The
//     results JSONL that `eval` writes is accepted as is, so a run can be rescored.
import { readFileSync } from "node:fs";
import { predictionFromLine, type ScoringMode } from "./normalize.js";
import type { SpiderExample } from "./spider.js";

const SQL_FIELDS = ["predicted", "sql", "pred", "query"] as const;

function lines(text: string): string[] {
  const all = text.replace(/\r\n/g, "\n").split("\n");
  if (all.length > 0 && all[all.length - 1] === "") all.pop();
  return all;
}

function looksLikeJsonl(path: string, text: string): boolean {
  if (/\.jsonl?$/i.test(path)) return true;
  const first = text.split("\n").find((l) => l.trim() !== "");
  return first !== undefined && first.trim().startsWith("{");
}

/**
 * Predicted SQL per question id for the given questions (in split order, possibly a prefix of the split).
 * Throws naming the file and line on malformed input, or when the file has fewer predictions than questions.
 */
export function readPredictions(
  path: string,
  examples: readonly SpiderExample[],
  scoring: ScoringMode = "reference",
): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read predictions ${path}: ${(err as Error).message}`);
  }
  const out = new Map<string, string>();
  const bird = birdPredictions(path, text, examples);
  if (bird) return bird;
  const rows = lines(text);
  if (!looksLikeJsonl(path, text)) {
    if (rows.length < examples.length)
      throw new Error(
        `${path}: ${rows.length} prediction lines for ${examples.length} questions (one SQL per line, in question order)`,
      );
    examples.forEach((ex, i) => out.set(ex.id, predictionFromLine(rows[i]!, scoring)));
    return out;
  }
  const byIndex = new Map(examples.map((ex) => [ex.index, ex]));
  const wanted = new Set(examples.map((ex) => ex.id));
  let position = 0;
  rows.forEach((line, i) => {
    if (line.trim() === "") return;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new Error(`${path}:${i + 1}: not valid JSON: ${(err as Error).message}`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj))
      throw new Error(`${path}:${i + 1}: expected a JSON object`);
    const field = SQL_FIELDS.find((f) => typeof obj[f] === "string");
    if (!field) throw new Error(`${path}:${i + 1}: no SQL field (one of ${SQL_FIELDS.join(", ")}) holding a string`);
    let id: string | undefined;
    if (typeof obj.id === "string") id = obj.id;
    else if (typeof obj.index === "number") id = byIndex.get(obj.index)?.id ?? `#${obj.index}`;
    else id = examples[position]?.id;
    position++;
    if (id !== undefined && wanted.has(id)) out.set(id, obj[field] as string);
  });
  const missing = examples.filter((ex) => !out.has(ex.id));
  if (missing.length > 0)
    throw new Error(
      `${path}: no prediction for ${missing.length} of ${examples.length} questions (first: ${missing[0].id})`,
    );
  return out;
}

/**
 * BIRD's predictions file (predict_dev.json): one JSON object, question index → "SQL\t----- bird -----\tdb_id".
 * null when the text is not such an object.
 */
function birdPredictions(path: string, text: string, examples: readonly SpiderExample[]): Map<string, string> | null {
  if (!text.trimStart().startsWith("{") || !/\.json$/i.test(path)) return null;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null; // JSONL, read below
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) return null;
  const out = new Map<string, string>();
  const byKey = new Map<string, SpiderExample>();
  for (const ex of examples) byKey.set(String(ex.questionId ?? ex.index), ex);
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (typeof value !== "string")
      throw new Error(`${path}: key "${key}": expected a string "SQL\t----- bird -----\tdb_id"`);
    const ex = byKey.get(key);
    if (ex) out.set(ex.id, value.split("\t----- bird -----\t")[0]!);
  }
  const missing = examples.filter((ex) => !out.has(ex.id));
  if (missing.length > 0)
    throw new Error(
      `${path}: no prediction for ${missing.length} of ${examples.length} questions (first: key ${missing[0]!.questionId ?? missing[0]!.index})`,
    );
  return out;
}
