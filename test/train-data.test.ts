// Training data loader: the three JSONL forms through the chat template, answer-only labels with the EOS token,
// truncation counted, errors naming file/line/field, and right-padding collation.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  collate,
  DataFormatError,
  encodeConversation,
  formatLoadStats,
  loadTrainingData,
  readConversations,
} from "../src/train/data.js";
import { buildNl2SqlPrompt, formatSqlAnswer } from "../src/text2sql/index.js";
import { ENDOFTEXT, IM_END, IM_START, qwenDataTokenizer, qwenTokenizer } from "./helpers/qwen-tokenizer.js";

const dir = mkdtempSync(join(tmpdir(), "sqlfocus-data-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
function jsonl(lines: (string | object)[]): string {
  const p = join(dir, `f${fileNo++}.jsonl`);
  writeFileSync(p, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return p;
}
const tok = await qwenDataTokenizer();
const qwen = await qwenTokenizer();
const decode = (ids: ArrayLike<number>) => qwen.decode(Array.from(ids));
/** Maximal runs of label positions that are not -100, as [start, end) pairs. */
function labelSpans(labels: Int32Array): [number, number][] {
  const spans: [number, number][] = [];
  for (let t = 0; t < labels.length; t++) {
    if (labels[t] === -100) continue;
    if (spans.length && spans[spans.length - 1][1] === t) spans[spans.length - 1][1] = t + 1;
    else spans.push([t, t + 1]);
  }
  return spans;
}

const schema = "【DB_ID】 shop\n【Schema】\n# Table: customers\n[\n(id:INTEGER, Primary Key),\n(name:TEXT)\n]";

test("question/db_schema/query: the server's prompt, the SQL answer + <|im_end|> as the only labels", () => {
  const file = jsonl([
    {
      question: "How many customers are there?",
      db_schema: schema,
      query: "SELECT count(*) FROM customers",
      dialect: "sqlite",
    },
  ]);
  const { examples, stats } = loadTrainingData(file, tok, 1024);
  assert.equal(examples.length, 1);
  assert.deepEqual(stats.forms, { instruction: 0, messages: 0, nl2sql: 1 });
  const ex = examples[0];
  assert.equal(ex.inputIds.length, ex.labels.length);
  const messages = [
    {
      role: "user" as const,
      content: buildNl2SqlPrompt({ question: "How many customers are there?", dbSchema: schema, dialect: "SQLite" }),
    },
    { role: "assistant" as const, content: formatSqlAnswer("SELECT count(*) FROM customers") },
  ];
  // Segment-wise tokenization gives the same ids as tokenizing the whole rendered conversation (less its final "\n").
  const rendered = tok.renderChat(messages, false);
  assert.ok(rendered.endsWith("<|im_end|>\n"));
  assert.deepEqual(Array.from(ex.inputIds), Array.from(tok.encode(rendered.slice(0, -1))));
  assert.equal(ex.inputIds[0], IM_START);
  const spans = labelSpans(ex.labels);
  assert.equal(spans.length, 1);
  assert.equal(spans[0][1], ex.labels.length, "the answer ends the sequence");
  const answerIds = ex.labels.slice(spans[0][0]);
  assert.deepEqual(
    Array.from(answerIds),
    Array.from(ex.inputIds.slice(spans[0][0])),
    "labels are the input ids on the answer",
  );
  assert.equal(decode(answerIds), "```sql\nSELECT count(*) FROM customers\n```<|im_end|>");
  assert.equal(ex.labels[ex.labels.length - 1], IM_END);
  // Everything before the answer (system, user prompt, "<|im_start|>assistant\n") is masked.
  assert.ok(decode(ex.inputIds.slice(0, spans[0][0])).endsWith("```sql<|im_end|>\n<|im_start|>assistant\n"));
  assert.equal(stats.labelTokens, answerIds.length);
});

test("messages: loss on every assistant turn, none on system/user turns", () => {
  const file = jsonl([
    {
      messages: [
        { role: "system", content: "You write SQL." },
        { role: "user", content: "List customer names." },
        { role: "assistant", content: "SELECT name FROM customers" },
        { role: "user", content: "Only the first one." },
        { role: "assistant", content: "SELECT name FROM customers LIMIT 1" },
      ],
    },
  ]);
  const ex = loadTrainingData(file, tok, 1024).examples[0];
  const spans = labelSpans(ex.labels);
  assert.equal(spans.length, 2);
  assert.equal(decode(ex.labels.slice(...spans[0])), "SELECT name FROM customers<|im_end|>");
  assert.equal(decode(ex.labels.slice(...spans[1])), "SELECT name FROM customers LIMIT 1<|im_end|>");
  const text = decode(ex.inputIds);
  assert.ok(
    text.startsWith("<|im_start|>system\nYou write SQL.<|im_end|>\n<|im_start|>user\nList customer names."),
    text,
  );
  assert.ok(!text.includes("You are Qwen"), "a given system message replaces the default one");
  assert.equal(
    decode(ex.inputIds.slice(spans[0][1], spans[1][0])),
    "\n<|im_start|>user\nOnly the first one.<|im_end|>\n<|im_start|>assistant\n",
  );
});

test("instruction/input/output: user = instruction + newline + input; mixed forms in one file", () => {
  const file = jsonl([
    { instruction: "Translate to SQL.", input: "count customers", output: "SELECT count(*) FROM customers" },
    "",
    { instruction: "Say hi", output: "hi" },
    {
      messages: [
        { role: "user", content: "q" },
        { role: "assistant", content: "a" },
      ],
    },
  ]);
  const conv = readConversations(file);
  assert.deepEqual(
    conv.map((c) => c.line),
    [1, 3, 4],
    "line numbers count blank lines",
  );
  assert.equal(conv[0].messages[0].content, "Translate to SQL.\ncount customers");
  assert.equal(conv[1].messages[0].content, "Say hi");
  const { examples, stats } = loadTrainingData(file, tok, 1024);
  assert.equal(examples.length, 3);
  assert.deepEqual(stats.forms, { instruction: 2, messages: 1, nl2sql: 0 });
  assert.equal(decode(examples[1].labels.filter((x) => x !== -100)), "hi<|im_end|>");
  assert.match(formatLoadStats(stats, 1024), /3 examples \(2 instruction, 1 messages\)/);
});

test("truncation to max_seq_length is counted; an example left with no answer token is dropped and counted", () => {
  const long = {
    question: "Which customers are there? ".repeat(20),
    db_schema: schema,
    query: "SELECT name FROM customers",
  };
  const short = { instruction: "x", output: "SELECT 1" };
  const full = encodeConversation(tok, readConversations(jsonl([long]))[0].messages);
  const promptLen = full.labels.findIndex((l) => l !== -100);
  const file = jsonl([long, short]);
  // Cut inside the answer: kept, truncated.
  const cut = promptLen + 3;
  const a = loadTrainingData(file, tok, cut);
  assert.equal(a.stats.truncated, 1);
  assert.equal(a.stats.droppedNoAnswer, 0);
  assert.equal(a.examples[0].inputIds.length, cut);
  assert.deepEqual(Array.from(a.examples[0].inputIds), Array.from(full.inputIds.slice(0, cut)));
  assert.match(formatLoadStats(a.stats, cut), /1 truncated to max_seq_length/);
  // Cut inside the prompt: nothing to learn, dropped.
  const b = loadTrainingData(file, tok, promptLen - 5);
  assert.equal(b.stats.droppedNoAnswer, 1);
  assert.equal(b.examples.length, 1);
  assert.match(formatLoadStats(b.stats, promptLen - 5), /1 dropped/);
  assert.throws(() => loadTrainingData(jsonl([long]), tok, 20), /no usable examples.*max_seq_length 20/);
});

test("bad lines: errors name the file, the line and the field", () => {
  const cases: [unknown[], RegExp, number, string | null][] = [
    [[{ instruction: "a", output: "b" }, "{not json"], /:2: invalid JSON/, 2, null],
    [[{ question: "q", db_schema: "s" }], /:1: field "query": missing/, 1, "query"],
    [
      [{ question: "q", db_schema: 5, query: "SELECT 1" }],
      /:1: field "db_schema": must be a string, got number 5/,
      1,
      "db_schema",
    ],
    [
      [{ question: "q", db_schema: "s", query: "SELECT 1", dialect: "oracle" }],
      /field "dialect": unknown SQL dialect 'oracle'/,
      1,
      "dialect",
    ],
    [[{ instruction: "a", output: "b" }, {}, {}], /:2: unknown line form \(keys: none\)/, 2, null],
    [
      [
        {
          messages: [
            { role: "user", content: "a" },
            { role: "bot", content: "b" },
          ],
        },
      ],
      /field "messages\[1\]\.role": must be one of system, user, assistant/,
      1,
      "messages[1].role",
    ],
    [
      [
        {
          messages: [
            { role: "user", content: "a" },
            { role: "assistant", content: 3 },
          ],
        },
      ],
      /field "messages\[1\]\.content": must be a string/,
      1,
      "messages[1].content",
    ],
    [[{ messages: [{ role: "user", content: "a" }] }], /field "messages": has no assistant message/, 1, "messages"],
    [[{ messages: [{ role: "assistant", content: "a" }] }], /must start with a user message/, 1, "messages[0].role"],
    [[{ messages: "hi" }], /field "messages": must be an array/, 1, "messages"],
    [["[1,2]"], /:1: expected a JSON object, got an array/, 1, null],
    [[{ instruction: "a", input: ["x"], output: "b" }], /field "input": must be a string, got an array/, 1, "input"],
  ];
  for (const [lines, re, line, field] of cases) {
    const file = jsonl(lines as (string | object)[]);
    assert.throws(
      () => loadTrainingData(file, tok, 64),
      (err: unknown) => {
        assert.ok(err instanceof DataFormatError, String(err));
        assert.match(err.message, re);
        assert.ok(err.message.startsWith(`${file}:${line}: `), err.message);
        assert.equal(err.line, line);
        assert.equal(err.field, field);
        return true;
      },
    );
  }
  assert.throws(() => loadTrainingData(jsonl([""]), tok, 64), /no examples \(the file is empty\)/);
  assert.throws(
    () => loadTrainingData(join(dir, "missing.jsonl"), tok, 64),
    /missing\.jsonl: training data file not found/,
  );
});

test("collate right-pads with the pad id and -100 labels, counting real and loss tokens", () => {
  const a = { inputIds: Int32Array.from([1, 2, 3, 4]), labels: Int32Array.from([-100, -100, 3, 4]) };
  const b = { inputIds: Int32Array.from([5, 6]), labels: Int32Array.from([-100, 6]) };
  const batch = collate([a, b], ENDOFTEXT);
  assert.equal(batch.batch, 2);
  assert.equal(batch.seqLen, 4);
  assert.deepEqual(Array.from(batch.inputIds), [1, 2, 3, 4, 5, 6, ENDOFTEXT, ENDOFTEXT]);
  assert.deepEqual(Array.from(batch.labels), [-100, -100, 3, 4, -100, 6, -100, -100]);
  assert.equal(batch.inputTokens, 6);
  assert.equal(batch.labelTokens, 3);
  assert.throws(() => collate([], 0), /no examples/);
  assert.throws(
    () => collate([{ inputIds: Int32Array.from([1]), labels: Int32Array.from([1, 2]) }], 0),
    /differ in length/,
  );
});

test("prepare's two line forms (messages / question fields) train the same tokens", () => {
  const q = {
    question: "How many customers are there?",
    db_schema: schema,
    query: "SELECT count(*) FROM customers",
    dialect: "SQLite",
  };
  const asMessages = {
    messages: [
      { role: "user", content: buildNl2SqlPrompt({ question: q.question, dbSchema: q.db_schema, dialect: "SQLite" }) },
      { role: "assistant", content: formatSqlAnswer(q.query) },
    ],
  };
  const [x, y] = loadTrainingData(jsonl([q, asMessages]), tok, 1024).examples;
  assert.deepEqual(Array.from(y.inputIds), Array.from(x.inputIds));
  assert.deepEqual(Array.from(y.labels), Array.from(x.labels));
});
