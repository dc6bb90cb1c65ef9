// Routes of the text2sql server over an in-process fake model: good and bad input on every route, the
// prompt built for a known schema, adapters, the OpenAI-compatible API (plain and streamed), queueing (503
// when full), execution on SQLite (read-only, refused statements never reach the database).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { createServer } from "../src/server/index.js";
import { openReadOnlyDatabase } from "../src/sql/index.js";
import { buildNl2SqlPrompt } from "../src/text2sql/index.js";
import { FakeChatModel } from "./server-fake-model.js";

const SCHEMA =
  "【DB_ID】 concert_singer\n【Schema】\n# Table: singer\n[\n(singer_id:INTEGER, Primary Key),\n(name:TEXT)\n]";

function json(body: unknown) {
  return { headers: { "content-type": "application/json" }, payload: JSON.stringify(body) };
}

describe("POST /text2sql", () => {
  const model = new FakeChatModel((req) =>
    req.messages[0]!.content.includes("How many singers") ? "SELECT count(*) FROM singer\n```\n" : "nothing useful",
  );
  let app: Awaited<ReturnType<typeof createServer>>;
  before(async () => {
    app = await createServer({ model, logger: false, bodyLimit: 64 * 1024 });
  });
  after(() => app.close());

  test("builds XiYan's prompt for a known schema exactly and extracts the SQL", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/text2sql",
      ...json({ question: "How many singers are on file?", db_schema: SCHEMA, include_prompt: true }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    const expected =
      "你是一名SQLite专家，现在需要阅读并理解下面的【数据库schema】描述，以及可能用到的【参考信息】，并运用SQLite知识生成sql语句回答【用户问题】。\n" +
      "【用户问题】\nHow many singers are on file?\n\n" +
      "【数据库schema】\n【DB_ID】 concert_singer\n【Schema】\n# Table: singer\n[\n(singer_id:INTEGER, Primary Key),\n(name:TEXT)\n]\n\n" +
      "【参考信息】\n\n\n" +
      "【用户问题】\nHow many singers are on file?\n\n```sql";
    assert.equal(body.prompt, expected);
    const req = model.requests.at(-1)!;
    assert.deepEqual(req.messages, [{ role: "user", content: expected }]);
    assert.equal(req.temperature, undefined); // greedy unless asked
    assert.equal(req.maxTokens, 512);
    assert.equal(body.sql, "SELECT count(*) FROM singer");
    assert.equal(body.dialect, "SQLite");
    assert.equal(body.adapter, "base");
    assert.equal(body.finish_reason, "stop");
    assert.equal(body.reply, "SELECT count(*) FROM singer\n```\n");
    assert.ok(body.usage.completion_tokens > 0 && body.usage.prompt_tokens > 0);
  });

  test("dialect, evidence, max_tokens and temperature reach the model", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/text2sql",
      ...json({
        question: "q?",
        db_schema: "CREATE TABLE t(a int)",
        dialect: "postgres",
        evidence: "a is age",
        max_tokens: 1,
        temperature: 0.5,
        seed: 7,
      }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const req = model.requests.at(-1)!;
    assert.equal(
      req.messages[0]!.content,
      buildNl2SqlPrompt({
        question: "q?",
        dbSchema: "CREATE TABLE t(a int)",
        dialect: "PostgreSQL",
        evidence: "a is age",
      }),
    );
    assert.equal(req.maxTokens, 1);
    assert.equal(req.temperature, 0.5);
    assert.equal(req.seed, 7);
    assert.equal(res.json().dialect, "PostgreSQL");
    assert.equal(res.json().finish_reason, "length");
    assert.equal(res.json().prompt, undefined);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ["missing question", { db_schema: SCHEMA }, /body must have required property 'question'/],
    ["missing db_schema", { question: "q" }, /body must have required property 'db_schema'/],
    ["non-string question", { question: 5, db_schema: SCHEMA }, /body\/question must be string/],
    ["empty question", { question: "", db_schema: SCHEMA }, /body\/question must NOT have fewer than 1 characters/],
    ["non-string db_schema", { question: "q", db_schema: ["x"] }, /body\/db_schema must be string/],
    ["unknown field", { question: "q", db_schema: SCHEMA, shema: 1 }, /additional property 'shema'/],
    ["bad max_tokens", { question: "q", db_schema: SCHEMA, max_tokens: 0 }, /body\/max_tokens must be >= 1/],
    [
      "too many max_tokens",
      { question: "q", db_schema: SCHEMA, max_tokens: 100000 },
      /body\/max_tokens must be <= 4096/,
    ],
    ["bad temperature", { question: "q", db_schema: SCHEMA, temperature: "hot" }, /body\/temperature must be number/],
    [
      "unknown dialect",
      { question: "q", db_schema: SCHEMA, dialect: "oracle" },
      /body\/dialect: unknown SQL dialect 'oracle'/,
    ],
    ["unknown adapter", { question: "q", db_schema: SCHEMA, adapter: "nope" }, /unknown adapter 'nope'/],
    [
      "execute without database",
      { question: "q", db_schema: SCHEMA, execute: true },
      /body\/execute: no database configured/,
    ],
    ["array body", [1, 2], /body must be object/],
  ];
  for (const [name, body, message] of bad) {
    test(`400 for ${name}`, async () => {
      const n = model.requests.length;
      const res = await app.inject({ method: "POST", url: "/text2sql", ...json(body) });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().message, message);
      assert.equal(res.json().error, "Bad Request");
      assert.equal(model.requests.length, n, "a refused request never reaches the model");
    });
  }

  test("400 for invalid JSON, 415 for another content type, 413 for a huge body, 404 for unknown routes", async () => {
    let res = await app.inject({
      method: "POST",
      url: "/text2sql",
      headers: { "content-type": "application/json" },
      payload: '{"question": "q",',
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /JSON/);
    res = await app.inject({
      method: "POST",
      url: "/text2sql",
      headers: { "content-type": "text/plain" },
      payload: "hello",
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /body must be object/);
    res = await app.inject({
      method: "POST",
      url: "/text2sql",
      headers: { "content-type": "application/xml" },
      payload: "<q/>",
    });
    assert.equal(res.statusCode, 415);
    res = await app.inject({
      method: "POST",
      url: "/text2sql",
      ...json({ question: "q", db_schema: "x".repeat(70 * 1024) }),
    });
    assert.equal(res.statusCode, 413);
    res = await app.inject({ method: "GET", url: "/nope" });
    assert.equal(res.statusCode, 404);
    assert.match(res.json().message, /no route GET \/nope/);
    res = await app.inject({ method: "GET", url: "/text2sql" });
    assert.equal(res.statusCode, 404);
    res = await app.inject({ method: "POST", url: "/text2sql" });
    assert.equal(res.statusCode, 400);
  });

  test("/health, /docs and the OpenAPI document", async () => {
    const h = await app.inject({ method: "GET", url: "/health" });
    assert.equal(h.statusCode, 200);
    assert.equal(h.json().status, "ok");
    assert.equal(h.json().model, "fake-model");
    assert.deepEqual(h.json().sequences, { inUse: 0, total: 2 });
    assert.deepEqual(h.json().queue, { running: 0, waiting: 0, max: 32 });
    const doc = await app.inject({ method: "GET", url: "/docs/json" });
    assert.equal(doc.statusCode, 200);
    const paths = Object.keys(doc.json().paths);
    for (const p of ["/text2sql", "/v1/chat/completions", "/v1/models", "/health", "/schema", "/schema/refresh"])
      assert.ok(paths.includes(p), p);
    assert.ok(doc.json().paths["/text2sql"].post.requestBody.content["application/json"].schema.properties.question);
    const page = await app.inject({ method: "GET", url: "/docs/" });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger/i);
    const schema = await app.inject({ method: "GET", url: "/schema" });
    assert.equal(schema.statusCode, 404);
    assert.match(schema.json().message, /--enable-mschema/);
  });
});

describe("adapters and the OpenAI-compatible API", () => {
  const model = new FakeChatModel(
    (req) => `reply from ${req.adapter ?? "default"} to ${req.messages.at(-1)!.content}`,
    2,
    ["sql-a", "sql-b"],
    "qwen-tiny",
  );
  let app: Awaited<ReturnType<typeof createServer>>;
  before(async () => {
    app = await createServer({ model, logger: false });
  });
  after(() => app.close());

  test("/v1/models lists the model and each adapter", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/models" });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().object, "list");
    assert.deepEqual(
      res.json().data.map((m: { id: string }) => m.id),
      ["qwen-tiny", "qwen-tiny:base", "qwen-tiny:sql-a", "qwen-tiny:sql-b"],
    );
  });

  test("a request names the adapter it wants; the first adapter is the default", async () => {
    let res = await app.inject({
      method: "POST",
      url: "/text2sql",
      ...json({ question: "q", db_schema: "s", adapter: "sql-b" }),
    });
    assert.equal(res.json().adapter, "sql-b");
    assert.equal(model.requests.at(-1)!.adapter, "sql-b");
    res = await app.inject({ method: "POST", url: "/text2sql", ...json({ question: "q", db_schema: "s" }) });
    assert.equal(res.json().adapter, "sql-a");
    res = await app.inject({
      method: "POST",
      url: "/text2sql",
      ...json({ question: "q", db_schema: "s", adapter: "base" }),
    });
    assert.equal(res.json().adapter, "base");
    for (const [name, adapter] of [
      ["qwen-tiny:sql-b", "sql-b"],
      ["sql-b", "sql-b"],
      ["qwen-tiny", "sql-a"],
      ["qwen-tiny:base", "base"],
    ]) {
      res = await app.inject({
        method: "POST",
        url: "/v1/chat/completions",
        ...json({ model: name, messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(model.requests.at(-1)!.adapter, adapter, name);
    }
  });

  test("chat completion has OpenAI's shape", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      ...json({
        model: "qwen-tiny",
        messages: [
          { role: "system", content: "You are a SQL expert." },
          {
            role: "user",
            content: [
              { type: "text", text: "Count " },
              { type: "text", text: "singers" },
            ],
          },
        ],
        max_tokens: 50,
        temperature: 0.2,
        stop: "```",
        presence_penalty: 0, // unknown OpenAI options are accepted and ignored
      }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const b = res.json();
    assert.match(b.id, /^chatcmpl-/);
    assert.equal(b.object, "chat.completion");
    assert.equal(b.model, "qwen-tiny");
    assert.equal(b.choices.length, 1);
    assert.equal(b.choices[0].message.role, "assistant");
    assert.equal(b.choices[0].message.content, "reply from sql-a to Count singers");
    assert.equal(b.choices[0].finish_reason, "stop");
    assert.equal(b.usage.total_tokens, b.usage.prompt_tokens + b.usage.completion_tokens);
    const req = model.requests.at(-1)!;
    assert.deepEqual(req.messages, [
      { role: "system", content: "You are a SQL expert." },
      { role: "user", content: "Count singers" },
    ]);
    assert.deepEqual(req.stop, ["```"]);
    assert.equal(req.maxTokens, 50);
    assert.equal(req.temperature, 0.2);
  });

  test("streamed chat completion sends server-sent events ending in [DONE]", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      ...json({ messages: [{ role: "user", content: "stream me" }], stream: true }),
    });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /text\/event-stream/);
    const events = res.body.split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, "")));
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? "").join(""), "reply from sql-a to stream me");
    assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
  });

  test("OpenAI-style errors: bad body 400, unknown model 404", async () => {
    let res = await app.inject({ method: "POST", url: "/v1/chat/completions", ...json({ messages: [] }) });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /body\/messages must NOT have fewer than 1 items/);
    assert.equal(res.json().error.type, "invalid_request_error");
    res = await app.inject({ method: "POST", url: "/v1/chat/completions", ...json({ messages: [{ role: "user" }] }) });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /content/);
    res = await app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      ...json({ messages: [{ role: "robot", content: "x" }] }),
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /role/);
    res = await app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      ...json({ model: "gpt-4", messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(res.statusCode, 404);
    assert.match(res.json().error.message, /model 'gpt-4' not found/);
    res = await app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      ...json({ messages: [{ role: "user", content: [{ type: "image_url" }] }] }),
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /only text parts/);
    res = await app.inject({ method: "GET", url: "/v1/nothing" });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.type, "not_found_error");
  });
});

describe("queueing", () => {
  test("requests beyond the sequences wait; beyond the queue bound they get 503; nothing leaks", async () => {
    const model = new FakeChatModel(() => "SELECT 1\n```", 2);
    const app = await createServer({ model, logger: false, maxQueue: 1 });
    try {
      model.hold = true;
      const send = () => app.inject({ method: "POST", url: "/text2sql", ...json({ question: "q", db_schema: "s" }) });
      const first = [send(), send(), send()];
      while (model.waitingHeld < 2) await new Promise((r) => setTimeout(r, 5));
      const health = (await app.inject({ method: "GET", url: "/health" })).json();
      assert.deepEqual(health.queue, { running: 2, waiting: 1, max: 1 });
      assert.deepEqual(health.sequences, { inUse: 2, total: 2 });
      const refused = await send();
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.headers["retry-after"], "1");
      assert.match(refused.json().message, /server busy/);
      model.hold = false;
      model.release();
      const done = await Promise.all(first);
      assert.deepEqual(
        done.map((r) => r.statusCode),
        [200, 200, 200],
      );
      assert.equal(model.maxInUse, 2);
      const after = (await app.inject({ method: "GET", url: "/health" })).json();
      assert.deepEqual(after.queue, { running: 0, waiting: 0, max: 1 });
      assert.deepEqual(after.sequences, { inUse: 0, total: 2 });
    } finally {
      await app.close();
    }
    assert.ok(model.closed, "closing the server closes the model");
  });
});

describe("--enable-mschema with a SQLite database", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-"));
  const path = join(dir, "shop.sqlite");
  const replies: Record<string, string> = {
    names: "SELECT name, price FROM item ORDER BY id\n```",
    many: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000) SELECT x FROM n\n```",
    delete: "DELETE FROM item\n```",
    two: "SELECT 1; DELETE FROM item\n```",
    broken: "SELECT nope FROM item\n```",
    slow: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n\n```",
  };
  const model = new FakeChatModel(
    (req) => replies[/【用户问题】\n(\w+)/.exec(req.messages[0]!.content)![1]!] ?? "SELECT 1\n```",
  );
  let schemaLoads = 0;
  let app: Awaited<ReturnType<typeof createServer>>;
  before(async () => {
    const db = new Database(path);
    db.exec("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL, big INTEGER, raw BLOB)");
    db.prepare("INSERT INTO item VALUES (?, ?, ?, ?, ?)").run(1, "pen", 1.5, 9007199254740993n, Buffer.from([1, 2, 3]));
    db.prepare("INSERT INTO item VALUES (?, ?, ?, ?, ?)").run(2, "ink", 3, 2, null);
    db.close();
    app = await createServer({
      model,
      logger: false,
      executeLimits: { rowLimit: 100, timeoutMs: 1500 },
      database: {
        dialect: "SQLite",
        description: "test shop",
        loadSchema: async () => `【DB_ID】 shop v${++schemaLoads}`,
        executor: openReadOnlyDatabase({ dialect: "SQLite", path }),
      },
    });
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = (question: string, extra: object = {}) =>
    app.inject({ method: "POST", url: "/text2sql", ...json({ question, execute: true, ...extra }) });

  test("the schema comes from the database, cached until refreshed", async () => {
    let res = await app.inject({
      method: "POST",
      url: "/text2sql",
      ...json({ question: "names", include_prompt: true }),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.json().prompt, /【数据库schema】\n【DB_ID】 shop v1\n/);
    await app.inject({ method: "POST", url: "/text2sql", ...json({ question: "names" }) });
    assert.equal(schemaLoads, 1);
    res = await app.inject({ method: "POST", url: "/schema/refresh" });
    assert.equal(res.statusCode, 200);
    assert.equal(schemaLoads, 2);
    res = await app.inject({ method: "GET", url: "/schema" });
    assert.equal(res.json().schema, "【DB_ID】 shop v2");
    assert.equal(res.json().dialect, "SQLite");
    const h = (await app.inject({ method: "GET", url: "/health" })).json();
    assert.deepEqual(h.database, { dialect: "SQLite", description: "test shop", schema_loaded: true });
  });

  test("execute returns the rows of a query", async () => {
    const res = await ask("names");
    assert.equal(res.statusCode, 200, res.body);
    const ex = res.json().execution;
    assert.equal(ex.status, "ok");
    assert.deepEqual(ex.columns, ["name", "price"]);
    assert.deepEqual(ex.rows, [
      ["pen", 1.5],
      ["ink", 3],
    ]);
    assert.equal(ex.truncated, false);
  });

  test("the row limit is forced", async () => {
    const ex = (await ask("many")).json().execution;
    assert.equal(ex.status, "ok");
    assert.equal(ex.rows.length, 100);
    assert.equal(ex.truncated, true);
    assert.deepEqual(ex.rows[99], [100]);
  });

  test("writes and multiple statements are refused (422 with the SQL and the reason) and never reach the database", async () => {
    let res = await ask("delete");
    assert.equal(res.statusCode, 422, res.body);
    let body = res.json();
    assert.equal(body.error, "Unprocessable Entity");
    assert.match(body.message, /^execute refused: only SELECT queries may be executed \(statement is DELETE\)/);
    assert.equal(body.sql, "DELETE FROM item");
    assert.equal(body.code, "not-a-query");
    assert.deepEqual(body.execution, {
      status: "refused",
      code: "not-a-query",
      error: body.message.replace(/^execute refused: /, ""),
    });
    res = await ask("two");
    assert.equal(res.statusCode, 422, res.body);
    body = res.json();
    assert.match(body.message, /2 statements: only a single query may be executed/);
    assert.equal(body.code, "multiple-statements");
    const db = new Database(path, { readonly: true });
    assert.equal((db.prepare("SELECT count(*) AS n FROM item").get() as { n: number }).n, 2);
    db.close();
  });

  test("SQL errors and timeouts are reported", async () => {
    let ex = (await ask("broken")).json().execution;
    assert.equal(ex.status, "error");
    assert.match(ex.error, /no such column: nope/);
    ex = (await ask("slow")).json().execution;
    assert.equal(ex.status, "timeout");
    assert.match(ex.error, /1500 ms statement timeout/);
  });

  test("execute in another dialect than the database's is refused", async () => {
    const res = await ask("names", { dialect: "MySQL" });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /dialect must be SQLite/);
  });
});

describe("graceful close", () => {
  test("close() drains: new requests get 503 (new connections too) while the one in flight finishes, then the model closes", async () => {
    const model = new FakeChatModel(() => "SELECT 1\n```", 2);
    const app = await createServer({ model, logger: false });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as import("node:net").AddressInfo).port}`;
    model.hold = true;
    const inFlight = fetch(url + "/text2sql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ question: "q", db_schema: "s" }),
    });
    while (model.waitingHeld < 1) await new Promise((r) => setTimeout(r, 5));
    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, "close waits for the request in flight");
    assert.equal(model.closed, false);
    const health = await fetch(url + "/health"); // a new connection: still accepted, answered 503
    assert.equal(health.status, 503);
    assert.equal(health.headers.get("connection"), "close");
    assert.equal(health.headers.get("retry-after"), "1");
    assert.match((await health.json()).message, /shutting down/);
    const newWork = await fetch(url + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(newWork.status, 503);
    assert.equal((await newWork.json()).error.code, "shutting_down");
    assert.equal(model.requests.length, 1, "the refused request never reached the model");
    model.release();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal((await res.json()).sql, "SELECT 1");
    await closing;
    assert.ok(model.closed);
    await assert.rejects(fetch(url + "/health"), "closed: no more connections");
  });

  test("a request that outlives drainTimeoutMs does not hold the close forever", async () => {
    const model = new FakeChatModel(() => "SELECT 1\n```", 2);
    const app = await createServer({ model, logger: false, drainTimeoutMs: 200 });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as import("node:net").AddressInfo).port}`;
    model.hold = true;
    const inFlight = fetch(url + "/text2sql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ question: "q", db_schema: "s" }),
    }).catch((e: Error) => e);
    while (model.waitingHeld < 1) await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 400));
    model.release();
    await closing;
    assert.ok(performance.now() - t0 < 5000);
    await inFlight;
  });
});

describe("configured database unavailable", () => {
  test("the schema cannot be read: 503 naming the cause; a later refresh recovers", async () => {
    let up = false;
    const app = await createServer({
      model: new FakeChatModel(),
      logger: false,
      database: {
        dialect: "MySQL",
        loadSchema: async () => {
          if (!up) throw new Error("MySQL root@127.0.0.1:1/shop: connect ECONNREFUSED");
          return "【DB_ID】 shop";
        },
      },
    });
    try {
      let res = await app.inject({ method: "POST", url: "/text2sql", ...json({ question: "q" }) });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().message, /cannot read the configured database's schema: .*ECONNREFUSED/);
      up = true;
      res = await app.inject({ method: "POST", url: "/schema/refresh" });
      assert.equal(res.statusCode, 200);
      res = await app.inject({ method: "POST", url: "/text2sql", ...json({ question: "q", execute: true }) });
      assert.equal(res.statusCode, 400);
      assert.match(res.json().message, /no read-only executor/);
      res = await app.inject({ method: "POST", url: "/text2sql", ...json({ question: "q", include_prompt: true }) });
      assert.equal(res.statusCode, 200);
      assert.match(res.json().prompt, /^你是一名MySQL专家[\s\S]*【DB_ID】 shop/);
    } finally {
      await app.close();
    }
  });
});

describe("logs", () => {
  test("info logs are JSON lines with status and token counts, without question, schema, prompt, reply or SQL", async () => {
    const lines: string[] = [];
    const model = new FakeChatModel(() => "SELECT secret_column FROM secret_table\n```");
    const app = await createServer({
      model,
      logger: { level: "info", stream: { write: (l: string) => void lines.push(l) } },
      database: {
        dialect: "MySQL",
        description: "MySQL app@db:3306/shop",
        loadSchema: async () => "【DB_ID】 shop\n# Table: hidden_schema_table",
      },
    });
    try {
      let res = await app.inject({
        method: "POST",
        url: "/text2sql",
        ...json({ question: "What is the private question?" }),
      });
      assert.equal(res.statusCode, 200);
      res = await app.inject({
        method: "POST",
        url: "/text2sql",
        ...json({ question: "Another private question?", db_schema: "CREATE TABLE private_ddl (x int)" }),
      });
      assert.equal(res.statusCode, 200);
      res = await app.inject({
        method: "POST",
        url: "/v1/chat/completions",
        ...json({ messages: [{ role: "user", content: "private chat text" }] }),
      });
      assert.equal(res.statusCode, 200);
    } finally {
      await app.close();
    }
    const text = lines.join("");
    assert.match(text, /"completionTokens":\d+/);
    assert.match(text, /"statusCode":200/);
    for (const secret of [
      "private question",
      "Another private",
      "hidden_schema_table",
      "private_ddl",
      "secret_column",
      "private chat text",
      "专家",
    ]) {
      assert.ok(!text.includes(secret), `log contains '${secret}'`);
    }
    for (const line of lines) JSON.parse(line); // structured: one JSON object per line
  });
});
