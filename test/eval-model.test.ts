// `eval --model`: a tiny random Qwen2 converted to GGUF generates SQL through src/text2sql's generator
// (node-llama-cpp, CPU) for a small Spider-shaped folder; results and summary are written, the run resumes, and
// a --model that is not a GGUF file is refused. (A random model writes no valid SQL: this checks the wiring,
// not accuracy; bench/eval has the real figures.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { toGGUF } from "../src/gguf/index.js";
import { makeTinyQwen2 } from "./helpers/gguf-tiny.js";

let root: string;
let gguf: string;
before(async () => {
  root = mkdtempSync(join(tmpdir(), "sqlfocus-eval-model-"));
  const dev = [
    { db_id: "shop", question: "How many items?", query: "SELECT count(*) FROM item" },
    { db_id: "shop", question: "Cheapest item?", query: "SELECT name FROM item ORDER BY price LIMIT 1" },
    { db_id: "shop", question: "Most expensive item?", query: "SELECT name FROM item ORDER BY price DESC LIMIT 1" },
  ];
  writeFileSync(join(root, "dev.json"), JSON.stringify(dev));
  mkdirSync(join(root, "database", "shop"), { recursive: true });
  const db = new Database(join(root, "database", "shop", "shop.sqlite"));
  db.exec(
    "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL); INSERT INTO item VALUES (1, 'pen', 1.5), (2, 'ink', 0.5);",
  );
  db.close();
  const m = makeTinyQwen2(join(root, "tiny"), {
    tied: true,
    seed: 3,
    layers: 1,
    hidden: 64,
    intermediate: 128,
    heads: 2,
    kvHeads: 1,
  });
  gguf = join(root, "tiny.gguf");
  await toGGUF({ model: m.dir, out: gguf, type: "F32" });
});
after(() => rmSync(root, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "eval", ...args], {
    encoding: "utf8",
    timeout: 240_000,
  });

test("eval --model generates, scores, writes results and a summary, and resumes", () => {
  const out = join(root, "out", "tiny.jsonl");
  const first = cli(
    "--model",
    gguf,
    "--spider",
    root,
    "--limit",
    "2",
    "--max-tokens",
    "6",
    "--jobs",
    "2",
    "--threads",
    "2",
    "--out",
    out,
  );
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /Spider dev: execution accuracy [\d.]+% \(\d\/2 questions scored\)/);
  const lines = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.question).sort(), ["Cheapest item?", "How many items?"]);
  for (const l of lines) {
    assert.equal(typeof l.predicted, "string");
    assert.ok(typeof l.gen_ms === "number" && l.gen_ms > 0, "generation time recorded");
    assert.ok(l.match === true || l.match === false);
  }
  const summary = JSON.parse(readFileSync(out.replace(/\.jsonl$/, ".summary.json"), "utf8"));
  assert.equal(summary.scored, 2);
  const meta = readFileSync(out.replace(/\.jsonl$/, ".meta.json"), "utf8");
  assert.match(meta, /model:.*tiny\.gguf\|schema:mschema\|max_tokens:6/);
  // Resume: the two answered questions are kept, only the third is asked.
  const second = cli(
    "--model",
    gguf,
    "--spider",
    root,
    "--limit",
    "3",
    "--max-tokens",
    "6",
    "--threads",
    "2",
    "--out",
    out,
  );
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /resuming .*: 2 of 3 questions already done/);
  assert.equal(readFileSync(out, "utf8").trim().split("\n").length, 3);
});

test("eval --model refuses a file that is not GGUF", () => {
  const r = cli("--model", join(root, "dev.json"), "--spider", root);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--model .*dev\.json: not a GGUF file/);
});
