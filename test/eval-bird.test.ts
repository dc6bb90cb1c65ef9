// BIRD's layout through prepare and eval, on a small BIRD-layout set written at test time from made-up databases
// and questions (BIRD itself is not shipped): evidence in the prompt, BIRD's set comparison, EX by difficulty.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  birdBenchmark,
  buildNl2SqlPrompt,
  evaluateSpider,
  generatorPredictor,
  loadBirdSplit,
  prepareSpider,
  readPredictions,
  resolveBirdDir,
} from "../src/index.js";
import { spiderSchemaText, type SqlGeneratorLike } from "../src/eval/index.js";
import { makeBirdLayout, QUESTIONS } from "./helpers/made-up-dbs.js";

let dir: string;
let bird: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-bird-"));
  bird = makeBirdLayout(join(dir, "bird"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });

test("BIRD's dev.json: SQL, evidence, difficulty and question_id read; bad entries named", () => {
  const qs = loadBirdSplit(bird, "dev");
  assert.equal(qs.length, QUESTIONS.length);
  assert.deepEqual(
    { id: qs[1]!.id, db: qs[1]!.dbId, ev: qs[1]!.evidence, diff: qs[1]!.difficulty, qid: qs[1]!.questionId },
    { id: "dev-1", db: "library", ev: QUESTIONS[1]!.evidence, diff: "simple", qid: 1 },
  );
  assert.equal(qs[1]!.query, QUESTIONS[1]!.query);
  const bad = join(dir, "bad");
  makeBirdLayout(bad);
  writeFileSync(
    join(bad, "dev.json"),
    JSON.stringify([{ db_id: "zoo", question: "q", SQL: "SELECT 1", difficulty: "easy" }]),
  );
  assert.throws(
    () => loadBirdSplit(bad, "dev"),
    /dev\.json: entry 0: field 'difficulty' must be one of simple, moderate, challenging, got "easy"/,
  );
  writeFileSync(join(bad, "dev.json"), JSON.stringify([{ db_id: "zoo", question: "q", query: "SELECT 1" }]));
  assert.throws(() => loadBirdSplit(bad, "dev"), /entry 0: field 'SQL' must be a string/);
  assert.throws(() => resolveBirdDir(join(dir, "nowhere")), /BIRD folder not found/);
});

test("prepare --bird: the evidence goes into the prompt's 【参考信息】, as XiYan's BIRD prompt", async () => {
  const out = join(dir, "bird_dev.jsonl");
  await prepareSpider({
    benchmark: birdBenchmark(bird),
    outputs: [{ split: "dev", path: out }],
    schemaText: spiderSchemaText(),
  });
  const lines = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, QUESTIONS.length);
  const prompt = lines[2].messages[0].content as string;
  assert.match(prompt, /【参考信息】\nmystery book refers to genre_name = 'Mystery'\n\n【用户问题】/);
  assert.equal(
    prompt,
    buildNl2SqlPrompt({
      question: QUESTIONS[2]!.question,
      dbSchema: prompt.slice(prompt.indexOf("【DB_ID】"), prompt.indexOf("\n\n【参考信息】")),
      evidence: QUESTIONS[2]!.evidence,
    }),
  );
  assert.match(lines[0].messages[0].content, /【参考信息】\n\n\n【用户问题】/, "no evidence: the section stays empty");
  // The fields form carries evidence for the trainer's own prompt builder.
  const fields = join(dir, "bird_fields.jsonl");
  const r = cli(["prepare", "--bird", bird, "--splits", "dev", "--format", "fields", "--dev-out", fields]);
  assert.equal(r.status, 0, r.stderr);
  const f = readFileSync(fields, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(f[5].evidence, QUESTIONS[5]!.evidence);
  assert.equal(f[0].evidence, undefined);
});

test("eval on BIRD: the model sees the evidence; BIRD's set comparison; EX by difficulty", async () => {
  const asked: Array<string | undefined> = [];
  const wrong = new Set([2, 7]); // one challenging of each database answered wrongly
  const generator: SqlGeneratorLike = {
    async generate(input) {
      asked.push(input.evidence);
      const i = QUESTIONS.findIndex((q) => q.question === input.question);
      return { sql: wrong.has(i) ? "SELECT 1" : QUESTIONS[i]!.query };
    },
  };
  const bench = birdBenchmark(bird);
  const predict = generatorPredictor(generator, { benchmark: bench, schemaText: spiderSchemaText() });
  const s = await evaluateSpider({
    benchmark: bench,
    split: "dev",
    predict,
    predictorId: "fake",
    resultsPath: join(dir, "eval", "bird.jsonl"),
  });
  assert.equal(s.benchmark, "bird");
  assert.deepEqual([s.scored, s.matched], [10, 8]);
  assert.deepEqual(s.perDifficulty, {
    simple: { scored: 5, matched: 5, ex: 1 },
    moderate: { scored: 3, matched: 3, ex: 1 },
    challenging: { scored: 2, matched: 0, ex: 0 },
  });
  assert.equal(asked[1], QUESTIONS[1]!.evidence);
  assert.equal(asked[0], undefined, "no evidence: none passed");
});

test("CLI: eval --bird --predictions; BIRD's predict_dev.json form; sets, not bags, and column order counts", () => {
  // Question 6 ("How many lions"): a prediction with repeated rows in another order still matches under BIRD's
  // set rule; question 4 with its columns swapped does not (Spider's rule would accept the permutation).
  const preds: Record<string, string> = {};
  QUESTIONS.forEach((q, i) => (preds[String(i)] = `${q.query}\t----- bird -----\t${q.db_id}`));
  preds["5"] =
    "SELECT loan_date FROM loans WHERE returned = 'no' UNION ALL SELECT loan_date FROM loans WHERE returned = 'no'\t----- bird -----\tlibrary";
  preds["4"] =
    "SELECT b.title, a.full_name FROM authors a JOIN books b ON a.author_id = b.author_id WHERE b.title = 'Night Ferry'\t----- bird -----\tlibrary";
  const file = join(dir, "predict_dev.json");
  writeFileSync(file, JSON.stringify(preds));
  const ex = loadBirdSplit(bird, "dev");
  assert.equal(readPredictions(file, ex).get("dev-0"), QUESTIONS[0]!.query);
  const r = cli(["eval", "--bird", bird, "--predictions", file, "--out", join(dir, "cli.jsonl")]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^BIRD dev: execution accuracy 90\.00% \(9\/10 questions scored\)/);
  assert.match(r.stdout, /simple\s+80\.00%\s+4\/5\nmoderate\s+100\.00%\s+3\/3\nchallenging\s+100\.00%\s+2\/2/);
  const summary = JSON.parse(readFileSync(join(dir, "cli.summary.json"), "utf8"));
  assert.equal(summary.perDifficulty.simple.matched, 4);
  const both = cli(["eval", "--bird", bird, "--spider", bird, "--predictions", file]);
  assert.notEqual(both.status, 0);
  assert.match(both.stderr, /mutually exclusive/);
});
