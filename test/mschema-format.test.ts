// formatMSchema: the reference M-Schema tool's layout and example rules, and the token budget.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatMSchema, formatMSchemaWithReport, qwenTokenCounter, type DatabaseSchema } from "../src/mschema/index.js";
import { examplesToStrings, pyDecimalAsFloat, pyFloatRepr } from "../src/mschema/pyvalues.js";

const col = (name: string, type: string, extra: Partial<DatabaseSchema["tables"][0]["columns"][0]> = {}) => ({
  name,
  type,
  comment: "",
  primaryKey: false,
  nullable: true,
  examples: [] as string[],
  ...extra,
});

const shop = (): DatabaseSchema => ({
  dbId: "shop",
  tables: [
    {
      name: "customer",
      comment: "people who buy",
      columns: [
        col("id", "INTEGER", { primaryKey: true, examples: ["1", "2", "3", "4", "5"] }),
        col("name", "varchar(20)", { comment: " full name ", examples: ["Ann", "Bob"] }),
        col("joined", "DATE", { examples: ["2020-01-02", "2021-02-03"] }),
        col("seen", "TIMESTAMP WITH TIME ZONE", { examples: ["2020-01-02 00:00:00+00:00"] }),
        col("bio", "TEXT", { examples: ["short", "a biography longer than twenty", "x"] }),
        col("essay", "TEXT", { examples: ["ok", "x".repeat(51)] }),
        col("mail", "TEXT", { examples: ["a", "ann@example.com"] }),
        col("price", "DECIMAL(10, 2)", { examples: ["1.5"] }),
      ],
    },
    {
      name: "orders",
      comment: "",
      columns: [col("order_id", "INTEGER", { primaryKey: true }), col("customer_id", "INTEGER")],
    },
    {
      name: "audit_log",
      comment: "",
      columns: [col("entry", "TEXT", { comment: "what happened", examples: ["login"] })],
    },
  ],
  foreignKeys: [{ table: "orders", column: "customer_id", refTable: "customer", refColumn: "id" }],
});

test("layout: DB_ID, Schema, one line per column, Primary Key, comments, examples rules, foreign keys", () => {
  assert.equal(
    formatMSchema(shop()),
    [
      "【DB_ID】 shop",
      "【Schema】",
      "# Table: customer, people who buy",
      "[",
      "(id:INTEGER, Primary Key, Examples: [1, 2, 3]),",
      "(name:VARCHAR, full name, Examples: [Ann, Bob]),",
      "(joined:DATE, Examples: [2020-01-02]),",
      "(seen:TIMESTAMP WITH TIME ZONE, Examples: [2020-01-02 00:00:00+00:00]),",
      "(bio:TEXT, Examples: [short]),",
      "(essay:TEXT),",
      "(mail:TEXT),",
      "(price:DECIMAL, Examples: [1.5])",
      "]",
      "# Table: orders",
      "[",
      "(order_id:INTEGER, Primary Key),",
      "(customer_id:INTEGER)",
      "]",
      "# Table: audit_log",
      "[",
      "(entry:TEXT, what happened, Examples: [login])",
      "]",
      "【Foreign keys】",
      "orders.customer_id=customer.id",
    ].join("\n"),
  );
});

test("the examples cap counts before the length rule; max examples 0 shows none", () => {
  const s = shop();
  s.tables[0]!.columns[4]!.examples = ["short", "tiny", "a biography longer than twenty"];
  assert.match(formatMSchema(s, { maxExamples: 2 }), /\(bio:TEXT, Examples: \[short, tiny\]\)/);
  assert.match(formatMSchema(s, { maxExamples: 3 }), /\(bio:TEXT, Examples: \[short\]\)/);
  assert.doesNotMatch(formatMSchema(s, { maxExamples: 0 }), /Examples/);
  assert.throws(() => formatMSchema(s, { maxExamples: -1 }), /maxExamples/);
});

test("include/exclude (case-insensitive); foreign keys only between shown tables, header kept as the reference", () => {
  const text = formatMSchema(shop(), { include: ["ORDERS", "audit_log"], exclude: ["audit_log"] });
  assert.equal(
    text,
    [
      "【DB_ID】 shop",
      "【Schema】",
      "# Table: orders",
      "[",
      "(order_id:INTEGER, Primary Key),",
      "(customer_id:INTEGER)",
      "]",
      "【Foreign keys】",
    ].join("\n"),
  );
  assert.throws(() => formatMSchema(shop(), { include: ["nope"] }), /include: no table named nope in shop/);
});

test("no foreign keys: no Foreign keys section; a table without columns prints an empty bracket block", () => {
  const s: DatabaseSchema = { dbId: "x", tables: [{ name: "t", comment: "None", columns: [] }], foreignKeys: [] };
  assert.equal(formatMSchema(s), "【DB_ID】 x\n【Schema】\n# Table: t\n[\n\n]");
});

test("token budget: examples go first, then comments, then tables no foreign key touches; choices reported", () => {
  const chars = (t: string) => t.length;
  const full = formatMSchemaWithReport(shop(), { maxTokens: 10_000, countTokens: chars });
  assert.equal(full.text, formatMSchema(shop()));
  assert.deepEqual(full.report.choices, []);
  assert.equal(full.report.withinBudget, true);

  const noExamples = formatMSchema(shop(), { maxExamples: 0 });
  const r1 = formatMSchemaWithReport(shop(), { maxTokens: noExamples.length, countTokens: chars });
  assert.equal(r1.text, noExamples);
  assert.equal(r1.report.examplesDropped, true);
  assert.equal(r1.report.commentsDropped, false);
  assert.match(r1.report.choices[0]!, /dropped example values \(\d+ → \d+ tokens\)/);

  const r2 = formatMSchemaWithReport(shop(), { maxTokens: noExamples.length - 1, countTokens: chars });
  assert.equal(r2.report.commentsDropped, true);
  assert.doesNotMatch(r2.text, /people who buy|full name|what happened/);
  assert.deepEqual(r2.report.droppedTables, []);

  const r3 = formatMSchemaWithReport(shop(), { maxTokens: 200, countTokens: chars });
  assert.deepEqual(r3.report.droppedTables, ["audit_log"]);
  assert.doesNotMatch(r3.text, /audit_log/);
  assert.match(r3.text, /# Table: customer\n/);
  assert.equal(r3.report.withinBudget, r3.text.length <= 200);

  const r4 = formatMSchemaWithReport(shop(), { maxTokens: 10, countTokens: chars });
  assert.equal(r4.report.withinBudget, false);
  assert.match(r4.report.choices.at(-1)!, /over the budget of 10/);
  assert.throws(() => formatMSchema(shop(), { maxTokens: 100 }), /countTokens/);
});

test("the default counter is the Qwen tokenizer", async () => {
  const count = await qwenTokenCounter();
  const r = formatMSchemaWithReport(shop(), { maxTokens: 100_000, countTokens: count });
  assert.equal(r.report.tokens, count(r.text));
  assert.ok(r.report.tokens! > 50 && r.report.tokens! < r.text.length);
});

test("Python's str() of values: float repr, Decimal as float, examples_to_str", () => {
  const cases: Array<[number, string]> = [
    [3, "3.0"],
    [0.1, "0.1"],
    [1e16, "1e+16"],
    [1e15, "1000000000000000.0"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [-2.5, "-2.5"],
    [1.5e-7, "1.5e-07"],
    [123456789.125, "123456789.125"],
    [1e22, "1e+22"],
    [-0, "-0.0"],
    [NaN, "nan"],
    [1.5e-5, "1.5e-05"],
    [123456789012345680, "1.2345678901234568e+17"],
    [2.5e-300, "2.5e-300"],
    [0.1 + 0.2, "0.30000000000000004"],
    [-12.5, "-12.5"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
  ];
  for (const [x, s] of cases) assert.equal(pyFloatRepr(x), s, String(x));
  assert.equal(pyDecimalAsFloat("1000.50"), "1000.5");
  assert.equal(pyDecimalAsFloat("98.0000"), "98.0");
  assert.deepEqual(
    examplesToStrings([
      { kind: "int", value: 5n },
      { kind: "decimal", value: "2.50" },
      { kind: "bool", value: false },
    ]),
    ["5", "2.5", "False"],
  );
  assert.deepEqual(
    examplesToStrings([
      { kind: "date", value: "2020-01-02" },
      { kind: "date", value: "2021-01-01" },
    ]),
    ["2020-01-02"],
  );
  assert.deepEqual(
    examplesToStrings([
      { kind: "str", value: "a" },
      { kind: "str", value: "see https://x.org" },
    ]),
    [],
  );
  assert.deepEqual(
    examplesToStrings([
      { kind: "str", value: "a" },
      { kind: "str", value: "first.last@mail.co.uk" },
    ]),
    [],
  );
  assert.deepEqual(
    examplesToStrings([
      { kind: "str", value: "not@an email" },
      { kind: "bytes", value: new Uint8Array([0, 39, 65]) },
    ]),
    ["not@an email", 'b"\\x00\'A"'],
  );
});
