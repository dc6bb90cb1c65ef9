// The linking-recall measurement: gold items read from SQL, recall on a made-up Spider-layout set, the `link` CLI,
// and (when Spider is present) the targets on Spider dev at a budget that halves the mean full M-Schema.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { goldItems, linkBench } from "../src/eval/index.js";
import { qwenTokenCounter, readSqliteSchema } from "../src/index.js";
import { makeSpiderLayout, writeLibrary } from "./helpers/made-up-dbs.js";
import { requireSpider, spiderDir } from "./helpers/services.js";

let dir: string;
let spiderLike: string;
let count: (text: string) => number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-linkbench-"));
  spiderLike = makeSpiderLayout(join(dir, "spider-like"));
  count = await qwenTokenCounter();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("goldItems: tables and columns through aliases, subqueries and set operations; literals with their columns", () => {
  const schema = readSqliteSchema(writeLibrary(join(dir, "lib.sqlite")));
  const g = goldItems(
    `SELECT T1.title FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id WHERE T2.birth_country = "France"
     INTERSECT SELECT title FROM books WHERE genre_id IN (SELECT genre_id FROM genres WHERE genre_name = 'Mystery' OR genre_name LIKE '%Poe%')`,
    schema,
  );
  assert.deepEqual(g.tables.sort(), ["authors", "books", "genres"]);
  const cols = g.columns.map(([t, c]) => `${t}.${c}`).sort();
  assert.deepEqual(cols, [
    "authors.author_id",
    "authors.birth_country",
    "books.author_id",
    "books.genre_id",
    "books.title",
    "genres.genre_id",
    "genres.genre_name",
  ]);
  assert.deepEqual(g.literals.map((l) => `${l.table ?? "?"}.${l.column ?? "?"}=${l.value}`).sort(), [
    "authors.birth_country=France",
    "genres.genre_name=%Poe%",
    "genres.genre_name=Mystery",
  ]);
  // Unqualified columns resolve to the table in scope that has them; a select alias is not a column.
  const h = goldItems("SELECT count(*) AS n, city FROM members GROUP BY city ORDER BY n DESC", schema);
  assert.deepEqual(h.columns, [["members", "city"]]);
  assert.throws(() => goldItems("SELEKT nothing", schema), /cannot parse SQL/);
});

test("linkBench on a made-up Spider layout: full M-Schema vs linked prompts", () => {
  const prompts: string[] = [];
  const r = linkBench({
    spiderDir: spiderLike,
    split: "dev",
    budgets: [0, 150],
    countTokens: count,
    onPrompt: (p) => prompts.push(p.variant),
  });
  assert.equal(r.questions, 10);
  assert.equal(r.measured, 10);
  assert.deepEqual(r.unparsed, []);
  const [full, noBudget, tight] = r.rows;
  assert.equal(full!.variant, "full");
  assert.equal(full!.tables.recall, 1);
  assert.equal(full!.columns.recall, 1);
  // Gold literals that are cell values: France, Leeds, Mystery, Science Fiction, Night Ferry, no, Lion, Savanna, Ben Okafor, beef.
  assert.equal(r.literals.cellValues, 10);
  assert.ok(full!.values.recall < 1, "three sampled examples per column cannot show every value");
  assert.equal(noBudget!.values.recall, 1, "value retrieval puts each mentioned value in its column");
  assert.equal(noBudget!.budget, 0);
  assert.ok(tight!.tokens.max <= 150);
  assert.ok(tight!.tokens.mean < full!.tokens.mean);
  assert.ok(tight!.tables.recall >= 0.9 && tight!.values.recall >= 0.9, JSON.stringify(tight));
  assert.equal(prompts.length, 30);
});

const cli = (args: string[]) =>
  execFileSync(process.execPath, ["--import", "tsx", resolve("src/cli/main.ts"), ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

test("CLI: link --json prints the report; --out writes each question's prompts", () => {
  const out = join(dir, "prompts.jsonl");
  const report = JSON.parse(
    cli(["link", "--spider", spiderLike, "--budget", "150", "--json", "--out", out, "--value-cache", join(dir, "vc")]),
  );
  assert.equal(report.rows.length, 2);
  assert.equal(report.rows[1].budget, 150);
  const lines = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 20);
  const linked = lines.find((l) => l.variant === "linked" && l.question.includes("Night Ferry"));
  assert.match(linked.prompt, /【用户问题】\nWho wrote Night Ferry\?/);
  assert.match(linked.prompt, /Examples: \[Night Ferry/);
  assert.ok(linked.schema_tokens <= 150);
  assert.ok(existsSync(join(dir, "vc")));
  const text = cli(["link", "--spider", spiderLike, "--budget", "0"]);
  assert.match(text, /full M-Schema\s+100\.00%/);
  assert.match(text, /linked, no budget/);
  assert.throws(
    () => cli(["link", "--spider", spiderLike, "--budget", "-3"]),
    /--budget must be whole numbers of tokens >= 0/,
  );
});

test(
  "Spider dev: at a budget that halves the mean full M-Schema, tables ≥ 99%, columns ≥ 97%, values ≥ 90%",
  { skip: requireSpider() },
  () => {
    const first = linkBench({
      spiderDir,
      split: "dev",
      budgets: [],
      countTokens: count,
      valueCacheDir: join(dir, "spider-values"),
    });
    const half = Math.floor(first.rows[0]!.tokens.mean / 2);
    const r = linkBench({
      spiderDir,
      split: "dev",
      budgets: [half],
      countTokens: count,
      valueCacheDir: join(dir, "spider-values"),
    });
    const [full, linked] = r.rows;
    assert.ok(linked!.tokens.mean <= full!.tokens.mean / 2, `mean ${linked!.tokens.mean} vs full ${full!.tokens.mean}`);
    assert.ok(linked!.tables.recall >= 0.99, `tables ${linked!.tables.recall}`);
    assert.ok(linked!.columns.recall >= 0.97, `columns ${linked!.columns.recall}`);
    assert.ok(linked!.values.recall >= 0.9, `values ${linked!.values.recall}`);
    assert.ok(linked!.values.recall > full!.values.recall, "value retrieval beats three sampled examples");
  },
);
