// Voting over candidates: executed read-only, grouped by result set, the largest group wins, ties go to the highest
// mean log-probability, failures lose — as a function, in eval (greedy EX beside voted EX) and in the server
// (`n`, `include_candidates`), and the log-probabilities of a real (tiny) GGUF model.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { evaluateSpider, generatorPredictor, voteByExecution } from "../src/index.js";
import { readResults, spiderSchemaText, type SqlGeneratorLike } from "../src/eval/index.js";
import { resultSetKey } from "../src/text2sql/index.js";
import { configuredDatabase, createServer } from "../src/server/index.js";
import { initTinyModel } from "../src/model/index.js";
import { toGGUF } from "../src/gguf/index.js";
import { LlamaChatModel, SqlGenerator } from "../src/text2sql/index.js";
import { FakeChatModel } from "./server-fake-model.js";
import { makeSpiderLayout, QUESTIONS, writeZoo } from "./helpers/made-up-dbs.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-vote-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const table: Record<string, unknown[][] | Error> = {
  "SELECT a": [[1], [2]],
  "SELECT b": [[2], [1]], // the same set as a, another order
  "SELECT c": [[3]],
  "SELECT d": [[3]],
  "SELECT bad": new Error("no such column: bad"),
};
const run = async (sql: string) => {
  const r = table[sql];
  if (r === undefined || r instanceof Error) return { ok: false as const, error: r?.message ?? "unknown" };
  return { ok: true as const, rows: r };
};

test("the largest result group wins; its most probable member is the answer", async () => {
  const v = await voteByExecution(
    [
      { sql: "SELECT c", logprob: -0.1 },
      { sql: "SELECT a", logprob: -0.9 },
      { sql: "SELECT b", logprob: -0.5 },
      { sql: "SELECT bad", logprob: -0.01 },
    ],
    run,
  );
  assert.equal(v.winner, 2, "a and b agree (2 votes) over c (1); b is the more probable of the two");
  assert.deepEqual(
    v.candidates.map((c) => [c.votes, c.status]),
    [
      [1, "ok"],
      [2, "ok"],
      [2, "ok"],
      [0, "error"],
    ],
  );
  assert.equal(v.candidates[3]!.error, "no such column: bad");
  assert.equal(v.groups, 2);
  assert.equal(v.allFailed, false);
  assert.equal(resultSetKey([[1], [2]]), resultSetKey([[2], [1]]));
  assert.notEqual(resultSetKey([[1, 2]]), resultSetKey([[2, 1]]), "column order counts");
});

test("a tie between groups goes to the highest mean log-probability; failures never win unless all fail", async () => {
  const tie = await voteByExecution(
    [
      { sql: "SELECT a", logprob: -0.7 },
      { sql: "SELECT c", logprob: -0.2 },
    ],
    run,
  );
  assert.equal(tie.winner, 1);
  const tie2 = await voteByExecution(
    [
      { sql: "SELECT c", logprob: -0.9 },
      { sql: "SELECT d", logprob: -0.8 },
      { sql: "SELECT a", logprob: -0.3 },
      { sql: "SELECT b", logprob: -2 },
    ],
    run,
  );
  assert.equal(tie2.winner, 2, "two groups of two: the one holding -0.3 wins");
  const failed = await voteByExecution(
    [
      { sql: "SELECT bad", logprob: -3 },
      { sql: "", logprob: -1 },
      { sql: "SELECT zzz", logprob: -2 },
    ],
    run,
  );
  assert.equal(failed.allFailed, true);
  assert.equal(failed.winner, 1);
  assert.equal(failed.candidates[1]!.error, "empty candidate");
  // Identical SQL runs once.
  let calls = 0;
  await voteByExecution(
    [{ sql: "SELECT a" }, { sql: " SELECT a " }, { sql: "SELECT a" }],
    async (s) => (calls++, run(s)),
  );
  assert.equal(calls, 1);
  await assert.rejects(voteByExecution([], run), /no candidates/);
});

test("eval with candidates: voted EX beside greedy EX; each result line lists the candidates", async () => {
  const spiderLike = makeSpiderLayout(join(dir, "spider-like"));
  // Greedy answers are wrong for the zoo questions; most sampled candidates are right, one is broken.
  const generator: SqlGeneratorLike = {
    async generate(input) {
      const q = QUESTIONS.find((x) => x.question === input.question)!;
      return { sql: q.db_id === "zoo" ? "SELECT 42" : q.query };
    },
    async candidates(input, o) {
      const q = QUESTIONS.find((x) => x.question === input.question)!;
      assert.equal(o.n, 3);
      return [
        { sql: q.query, logprob: -0.4 },
        { sql: "SELECT nope FROM nowhere", logprob: -0.1 },
        { sql: `${q.query} `, logprob: -0.6 },
      ];
    },
  };
  const predict = generatorPredictor(generator, {
    spiderDir: spiderLike,
    schemaText: spiderSchemaText(),
    vote: { n: 3, temperature: 0.8 },
  });
  const results = join(dir, "vote.jsonl");
  const s = await evaluateSpider({
    spiderDir: spiderLike,
    split: "dev",
    predict,
    predictorId: "vote",
    resultsPath: results,
  });
  assert.equal(s.ex, 0.6);
  assert.deepEqual(s.voted, { scored: 10, matched: 10, ex: 1, greedyMatched: 6, greedyEx: 0.6 });
  const line = readResults(results).get("dev-6")!;
  assert.equal(line.match, false);
  assert.equal(line.voted_match, true);
  assert.equal(line.voted, QUESTIONS[6]!.query);
  assert.deepEqual(
    line.candidates!.map((c) => c.votes),
    [2, 0, 2],
  );
  assert.match(line.candidates![1]!.error!, /no such table: nowhere/);
});

test("server: n candidates run on the configured database and vote; include_candidates lists them", async () => {
  const zoo = writeZoo(join(dir, "zoo.sqlite"));
  writeFileSync(join(dir, "zoo.ini"), "[database]\ntype = sqlite\npath = zoo.sqlite\n");
  // Seed 1 and 3 answer the lions question right, seed 2 wrong; seed 2 is the most probable.
  const replies: Record<number, string> = {
    1: "SELECT nickname FROM animals WHERE species = 'Lion'\n```",
    2: "SELECT nickname FROM animals\n```",
    3: "SELECT nickname FROM animals WHERE species = 'Lion' ORDER BY 1\n```",
  };
  const model = new FakeChatModel(
    (req) => (req.temperature ? replies[req.seed!]! : "SELECT 0\n```"),
    2,
    [],
    "fake",
    (req) => (req.seed === 2 ? -0.1 : -0.5),
  );
  const app = await createServer({ model, logger: false, database: configuredDatabase(join(dir, "zoo.ini")) });
  const plain = await createServer({ model, logger: false });
  try {
    const post = (a: typeof app, body: Record<string, unknown>) =>
      a.inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify(body),
      });
    const r = await post(app, { question: "Which lions are there?", n: 3, include_candidates: true, seed: 1 });
    assert.equal(r.statusCode, 200, r.body);
    const b = r.json();
    assert.equal(b.sql, "SELECT nickname FROM animals WHERE species = 'Lion'");
    assert.deepEqual(b.vote, { n: 3, temperature: 0.7, groups: 2, winner: 0, all_failed: false });
    assert.deepEqual(
      b.candidates.map((c: { votes: number }) => c.votes),
      [2, 1, 2],
    );
    assert.deepEqual(
      b.candidates.map((c: { logprob: number }) => c.logprob),
      [-0.5, -0.1, -0.5],
    );
    const ex = await post(app, { question: "Which lions are there?", n: 3, seed: 1, execute: true });
    assert.deepEqual(
      ex
        .json()
        .execution.rows.map((row: string[]) => row[0])
        .sort(),
      ["Mosi", "Tala"],
    );
    assert.equal(ex.json().candidates, undefined, "candidates only when asked");
    // Without a database there is nothing to run the candidates on.
    const no = await post(plain, { question: "q", db_schema: "CREATE TABLE t (a INT)", n: 2 });
    assert.equal(no.statusCode, 400);
    assert.match(no.json().message, /body\/n: voting executes the candidates/);
    const bad = await post(app, { question: "q", include_candidates: true });
    assert.equal(bad.statusCode, 400);
    assert.equal((await post(app, { question: "q", n: 17 })).statusCode, 400);
    assert.ok(zoo);
  } finally {
    await app.close();
    await plain.close();
  }
});

test("a real model: candidates come with finite mean log-probabilities (tiny random GGUF)", async () => {
  const hf = join(dir, "tiny");
  const gguf = join(dir, "tiny.gguf");
  await initTinyModel(hf, {
    layers: 2,
    hidden: 64,
    intermediate: 128,
    heads: 4,
    kvHeads: 2,
    tied: true,
    dtype: "f32",
    seed: 3,
  });
  await toGGUF({ model: hf, out: gguf, type: "F32" });
  const model = await LlamaChatModel.load({
    modelPath: gguf,
    sequences: 1,
    contextSize: 1024,
    maxTokens: 6,
    threads: 1,
  });
  try {
    const gen = new SqlGenerator(model, { maxTokens: 6 });
    const input = {
      question: "How many lions?",
      dbSchema: "【DB_ID】 zoo\n【Schema】\n# Table: animals\n[\n(species:TEXT)\n]",
    };
    const c = await gen.candidates(input, { n: 3, temperature: 0.9, seed: 7 });
    assert.equal(c.length, 3);
    assert.ok(
      c.some((x) => x.logprob !== undefined),
      "log-probabilities measured",
    );
    for (const x of c) {
      if (x.logprob === undefined) continue;
      // A random model over a 151,665-token vocabulary: about log(1/151665) ≈ -11.9 per token, far above the floor.
      assert.ok(Number.isFinite(x.logprob) && x.logprob <= 0 && x.logprob > -25, `logprob ${x.logprob}`);
    }
    // Deterministic for the same seeds.
    const again = await gen.candidates(input, { n: 3, temperature: 0.9, seed: 7 });
    assert.deepEqual(
      again.map((x) => x.reply),
      c.map((x) => x.reply),
    );
    assert.deepEqual(
      again.map((x) => x.logprob),
      c.map((x) => x.logprob),
    );
    assert.equal(model.sequences().inUse, 0);
  } finally {
    await model.close();
  }
});
