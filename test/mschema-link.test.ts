// Schema linking and value retrieval on made-up databases: words, the value index (case, plurals, partial, misspelt,
// accents, CJK), the question-aware M-Schema under a budget with foreign-key closure, and the value cache.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import {
  formatMSchema,
  linkSchema,
  qwenTokenCounter,
  readSqliteSchema,
  readSqliteValues,
  sqliteValueIndex,
  ValueIndex,
  type DatabaseSchema,
} from "../src/index.js";
import { identifierWords, questionWords, stemWord, textWords } from "../src/mschema/terms.js";
import { parseMSchemaText } from "../src/eval/link-bench.js";
import { writeLibrary, writeZoo } from "./helpers/made-up-dbs.js";

let dir: string;
let library: string;
let zoo: string;
let count: (text: string) => number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-link-"));
  library = writeLibrary(join(dir, "library.sqlite"));
  zoo = writeZoo(join(dir, "zoo.sqlite"));
  count = await qwenTokenCounter();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("words: folding, identifier splits, CJK bigrams, stems that meet plurals", () => {
  assert.deepEqual(textWords("Léa MOREAU's café"), ["lea", "moreau", "s", "cafe"]);
  assert.deepEqual(identifierWords("StuID"), ["stu", "id"]);
  assert.deepEqual(identifierWords("birth_country"), ["birth", "country"]);
  assert.deepEqual(identifierWords("addressLine2"), ["address", "line", "2"]);
  assert.deepEqual(textWords("北京大学的学生"), ["北京", "京大", "大学", "学的", "的学", "学生"]);
  assert.equal(stemWord("countries"), stemWord("country"));
  assert.equal(stemWord("books"), stemWord("book"));
  const words = questionWords("How many of the books are there?").map((w) => w.word);
  assert.ok(words.includes("books") && !words.includes("the") && !words.includes("how"), words.join(" "));
});

test("value index: case, plurals, accents, partial and misspelt mentions find the cell value", () => {
  const index = ValueIndex.build("t", [
    { table: "animals", column: "species", values: ["Giraffe", "Lion", "Polar Bear", "Red Panda"] },
    { table: "authors", column: "full_name", values: ["Léa Moreau", "Tomas Brenner", "Ursula Quill"] },
    { table: "genres", column: "genre_name", values: ["Science Fiction", "Mystery", "Poetry"] },
    { table: "cities", column: "name", values: ["北京", "上海"] },
  ]);
  const top = (q: string) => index.match(q).map((m) => `${m.table}.${m.column}=${m.value}`);
  assert.ok(top("how many LIONS are there").includes("animals.species=Lion"), "plural and case");
  assert.ok(top("books by lea moreau").includes("authors.full_name=Léa Moreau"), "accents");
  assert.ok(
    top("which bears live in the polar zone").includes("animals.species=Polar Bear"),
    "whole value from its words",
  );
  assert.ok(top("books by Brenner").includes("authors.full_name=Tomas Brenner"), "partial: a surname");
  assert.ok(top("novels by Ursla Quill").includes("authors.full_name=Ursula Quill"), "one letter missing");
  assert.ok(top("science-fiction titles").includes("genres.genre_name=Science Fiction"));
  assert.ok(top("住在北京的用户").includes("cities.name=北京"), "CJK without spaces");
  assert.deepEqual(top("what is the weather"), [], "nothing mentioned, nothing matched");
  // The best match comes first; limits hold.
  assert.equal(
    index.match("lion giraffe panda bear", { perColumn: 2 }).filter((m) => m.column === "species").length,
    2,
  );
  assert.equal(index.match("lion giraffe panda mystery poetry", { limit: 3 }).length, 3);
  // A word that names the schema does not make a partial match.
  const byCountry = ValueIndex.build("t", [{ table: "cars", column: "make", values: ["ford country", "usa"] }]);
  assert.deepEqual(byCountry.match("which countries make cars", { schemaStems: new Set(["countri"]) }), []);
  assert.equal(byCountry.match("which countries make cars").length, 1);
});

test("value index: deterministic, snapshot round trip, clear errors for a bad snapshot", () => {
  const cols = readSqliteValues(zoo);
  const a = ValueIndex.build("zoo", cols);
  const b = ValueIndex.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
  assert.deepEqual(b.match("lions in the savanna"), a.match("lions in the savanna"));
  assert.equal(b.size, a.size);
  assert.throws(
    () => ValueIndex.fromJSON({ format: "nope" }, "x.json"),
    /x\.json: not a sqlfocus value index \(field "format"\)/,
  );
  assert.throws(() => ValueIndex.fromJSON({ format: "sqlfocus-value-index", version: 2 }), /unsupported version 2/);
  assert.throws(
    () => ValueIndex.fromJSON({ format: "sqlfocus-value-index", version: 1, dbId: "z", columns: [{ table: "t" }] }),
    /column 0 needs table, column and values/,
  );
});

test("readSqliteValues: text values of text columns only, with caps", () => {
  const cols = readSqliteValues(zoo);
  const names = cols.map((c) => `${c.table}.${c.column}`);
  assert.ok(names.includes("animals.species") && names.includes("keepers.keeper_name"));
  assert.ok(
    !names.includes("animals.born_year") && !names.includes("enclosures.area_m2"),
    "numeric columns are not read",
  );
  const capped = readSqliteValues(zoo, { perColumn: 2 });
  const species = capped.find((c) => c.column === "species")!;
  assert.equal(species.values.length, 2);
  assert.equal(species.truncated, true);
  const short = readSqliteValues(zoo, { maxLength: 5 });
  assert.ok(short.every((c) => c.values.every((v) => v.length <= 5)));
  assert.ok(short.find((c) => c.column === "species")!.values.includes("Lion"));
  assert.equal(
    readSqliteValues(zoo, { total: 3 }).reduce((n, c) => n + c.values.length, 0),
    3,
  );
  assert.throws(() => readSqliteValues(zoo, { perColumn: 0 }), /perColumn must be a positive whole number/);
});

test("sqliteValueIndex: built once, cached on disk, read again when the file changes", () => {
  const copy = join(dir, "zoo-copy.sqlite");
  writeZoo(copy);
  const cache = join(dir, "cache");
  const first = sqliteValueIndex(copy, { cacheDir: cache });
  const files = readdirSync(cache);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^zoo-copy-[0-9a-f]{16}\.values\.json$/);
  assert.equal(sqliteValueIndex(copy, { cacheDir: cache }), first, "same process: the same index");
  const db = new Database(copy);
  db.exec("INSERT INTO animals VALUES (7, 'Juno', 'Okapi', 2022, 2, 3)");
  db.close();
  utimesSync(copy, new Date(), new Date(Date.now() + 5000));
  const second = sqliteValueIndex(copy, { cacheDir: cache });
  assert.notEqual(second, first);
  assert.ok(second.match("where is the okapi").some((m) => m.value === "Okapi"));
  assert.equal(readdirSync(cache).length, 2);
});

function shown(text: string) {
  return parseMSchemaText(text);
}

test("linkSchema without a budget: every table and column, matched values first in Examples", () => {
  const schema = readSqliteSchema(library);
  const values = sqliteValueIndex(library);
  const r = linkSchema(schema, "Which books did Oscar Lindqvist borrow?", { values });
  assert.equal(r.report.tables.length, schema.tables.length);
  assert.equal(r.report.droppedColumns, 0);
  assert.deepEqual(r.report.matchedValues, [{ table: "members", column: "member_name", value: "Oscar Lindqvist" }]);
  const members = shown(r.text).get("members")!;
  assert.match(members.get("member_name")!, /^Oscar Lindqvist, /);
  // Same text as the plain M-Schema except for that column line.
  const plain = formatMSchema(schema).split("\n");
  const linked = r.text.split("\n");
  assert.equal(linked.length, plain.length);
  assert.deepEqual(linked.filter((l, i) => l !== plain[i]).length, 1);
});

test("linkSchema under a budget: fits, keeps the linked tables, the join path and its keys", () => {
  const schema = readSqliteSchema(library);
  const values = sqliteValueIndex(library);
  const full = count(formatMSchema(schema));
  const budget = Math.round(full * 0.35);
  const question = "Which members from leeds borrowed a mystery book?";
  const r = linkSchema(schema, question, { budget, countTokens: count, values });
  assert.ok(r.report.tokens! <= budget, `${r.report.tokens} > ${budget}`);
  assert.equal(count(r.text), r.report.tokens);
  assert.equal(r.report.withinBudget, true);
  const t = shown(r.text);
  for (const name of ["members", "loans", "books", "genres"]) assert.ok(t.has(name), `${name} kept:\n${r.text}`);
  assert.ok(!t.has("staff_rota"), "an unrelated table is dropped");
  // Join keys on the path are there, and the foreign keys between kept tables are printed.
  assert.ok(t.get("loans")!.has("member_id") && t.get("loans")!.has("book_id"));
  assert.ok(t.get("books")!.has("genre_id") && t.get("genres")!.has("genre_id"));
  assert.match(r.text, /loans\.member_id=members\.member_id/);
  assert.match(r.text, /books\.genre_id=genres\.genre_id/);
  // Values: "leeds" → Leeds, "mystery" → Mystery.
  assert.ok(r.report.matchedValues.some((m) => m.value === "Leeds"));
  assert.ok(r.report.matchedValues.some((m) => m.value === "Mystery"));
  // Deterministic.
  assert.equal(linkSchema(schema, question, { budget, countTokens: count, values }).text, r.text);
});

test("linkSchema: the join path is kept even when only its ends are mentioned", () => {
  // members and genres only meet through loans and books.
  const schema = readSqliteSchema(library);
  const r = linkSchema(schema, "Which genre_name does each member_name like?", { budget: 150, countTokens: count });
  const t = shown(r.text);
  assert.ok(t.has("members") && t.has("genres"), r.text);
  assert.ok(t.has("loans") && t.has("books"), `path tables kept:\n${r.text}`);
  assert.ok(r.report.tokens! <= 150);
});

test("linkSchema: a tiny budget keeps the best table; bad options are refused", () => {
  const schema = readSqliteSchema(zoo);
  const r = linkSchema(schema, "What does the keeper Rosa Delgado do?", {
    budget: 25,
    countTokens: count,
    values: sqliteValueIndex(zoo),
  });
  assert.deepEqual(r.report.tables, ["keepers"]);
  assert.throws(() => linkSchema(schema, "q", { budget: 100 }), /needs a token counter/);
  assert.throws(
    () => linkSchema(schema, "q", { budget: -1, countTokens: count }),
    /budget must be a number of tokens >= 0/,
  );
  assert.throws(() => linkSchema(schema, "q", { maxExamples: 1.5 }), /maxExamples/);
});

test("linkSchema on a schema from DDL (no values) and on an empty schema", () => {
  const schema: DatabaseSchema = { dbId: "empty", tables: [], foreignKeys: [] };
  assert.equal(linkSchema(schema, "anything", { budget: 50, countTokens: count }).text, "【DB_ID】 empty\n【Schema】");
});
