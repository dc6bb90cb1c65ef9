// End to end on a real model: a tiny random Qwen2 (initTinyModel) converted to GGUF at test time
// (toGGUF), served by node-llama-cpp through the server. A random model writes garbage, so the assertions
// are on structure: statuses, fields, token counts, the exact text the model is given (the same as the
// training side's chat template renders), SQL extraction consistent with the reply, parallel requests
// served and every sequence returned.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { AddressInfo } from "node:net";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { initTinyModel, loadTokenizer } from "../src/model/index.js";
import { toGGUF } from "../src/gguf/index.js";
import { buildNl2SqlPrompt, extractSql, LlamaChatModel, SqlGenerator } from "../src/text2sql/index.js";
import { createServer } from "../src/server/index.js";
import type { SqlGeneratorLike } from "../src/eval/index.js";

const SCHEMA =
  "【DB_ID】 concert_singer\n【Schema】\n# Table: singer\n[\n(singer_id:INTEGER, Primary Key),\n(name:TEXT)\n]";

describe("server on a tiny GGUF (node-llama-cpp)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-llama-"));
  const hf = join(dir, "tiny");
  const gguf = join(dir, "tiny.gguf");
  let model: LlamaChatModel;
  let app: Awaited<ReturnType<typeof createServer>>;
  let url: string;

  before(async () => {
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
    model = await LlamaChatModel.load({ modelPath: gguf, sequences: 4, contextSize: 1024, maxTokens: 6, threads: 1 });
    app = await createServer({ model, logger: false, maxQueue: 64 });
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  test("the model sees the nl2sql prompt in the chat template the training side renders", async () => {
    const prompt = buildNl2SqlPrompt({ question: "How many singers?", dbSchema: SCHEMA, dialect: "SQLite" });
    const rendered = model.renderPrompt(
      SqlGenerator.messages({ question: "How many singers?", dbSchema: SCHEMA, dialect: "SQLite" }),
    );
    const tokenizer = await loadTokenizer(hf);
    const taught = tokenizer.applyChatTemplate([{ role: "user", content: prompt }], { addGenerationPrompt: true });
    assert.equal(rendered.text, taught.text);
    assert.equal(
      rendered.text,
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
        prompt +
        "<|im_end|>\n<|im_start|>assistant\n",
    );
    assert.equal(rendered.tokens, taught.ids.length);
  });

  test("POST /text2sql answers with SQL extracted from the generated reply", async () => {
    const res = await post("/text2sql", { question: "How many singers?", db_schema: SCHEMA, max_tokens: 5 });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(typeof body.reply, "string");
    assert.equal(body.sql, extractSql(body.reply));
    assert.equal(body.dialect, "SQLite");
    assert.equal(body.adapter, "base");
    assert.ok(["stop", "length"].includes(body.finish_reason));
    assert.ok(body.usage.completion_tokens >= 1 && body.usage.completion_tokens <= 5, JSON.stringify(body.usage));
    const expectedPromptTokens = model.renderPrompt(
      SqlGenerator.messages({ question: "How many singers?", dbSchema: SCHEMA }),
    ).tokens;
    assert.equal(body.usage.prompt_tokens, expectedPromptTokens);
    // greedy decoding: the same request gives the same reply
    const again = await (
      await post("/text2sql", { question: "How many singers?", db_schema: SCHEMA, max_tokens: 5 })
    ).json();
    assert.equal(again.reply, body.reply);
  });

  test("SqlGenerator is what eval --model needs (SqlGeneratorLike)", async () => {
    const generator: SqlGeneratorLike = new SqlGenerator(model, { maxTokens: 3 });
    const out = await generator.generate({ question: "How many singers?", dbSchema: SCHEMA, dialect: "SQLite" });
    assert.equal(typeof out.sql, "string");
    const direct = await new SqlGenerator(model).generate(
      { question: "How many singers?", dbSchema: SCHEMA },
      { maxTokens: 3 },
    );
    assert.equal(out.sql, direct.sql);
    assert.equal(direct.completionTokens <= 3 && direct.completionTokens >= 1, true);
  });

  test("OpenAI-compatible chat completion and model list", async () => {
    const models = await (await fetch(url + "/v1/models")).json();
    assert.deepEqual(
      models.data.map((m: { id: string }) => m.id),
      ["tiny"],
    );
    const res = await post("/v1/chat/completions", {
      model: "tiny",
      messages: [{ role: "user", content: "SELECT" }],
      max_tokens: 3,
    });
    assert.equal(res.status, 200);
    const b = await res.json();
    assert.equal(b.object, "chat.completion");
    assert.equal(typeof b.choices[0].message.content, "string");
    assert.ok(b.usage.completion_tokens >= 1 && b.usage.completion_tokens <= 3);
  });

  test("a prompt longer than the context is refused with 400", async () => {
    const res = await post("/text2sql", { question: "q", db_schema: "t ".repeat(3000), max_tokens: 5 });
    assert.equal(res.status, 400);
    assert.match((await res.json()).message, /does not fit the context of 1024 tokens/);
    // a prompt that fits, but not with the reply budget asked for
    const res2 = await post("/text2sql", { question: "q", db_schema: SCHEMA, max_tokens: 1000 });
    assert.equal(res2.status, 400);
    assert.match(
      (await res2.json()).message,
      /prompt is \d+ tokens; with max_tokens 1000 it does not fit the context of 1024 tokens/,
    );
    const health = await (await fetch(url + "/health")).json();
    assert.equal(health.sequences.inUse, 0);
  });

  test("parallel requests run on parallel sequences and all sequences come back", async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        post("/text2sql", { question: `Question number ${i}?`, db_schema: SCHEMA, max_tokens: 3 }).then((r) =>
          r.json().then((b) => [r.status, b] as const),
        ),
      ),
    );
    for (const [status, b] of replies) {
      assert.equal(status, 200, JSON.stringify(b));
      assert.equal(b.sql, extractSql(b.reply));
    }
    const health = await (await fetch(url + "/health")).json();
    assert.deepEqual(health.sequences, { inUse: 0, total: 4 });
    assert.deepEqual(health.queue, { running: 0, waiting: 0, max: 64 });
  });

  test("a streamed chat completion carries the same text as the plain one", async () => {
    const body = { messages: [{ role: "user", content: "List the singers." }], max_tokens: 4 };
    const plain = await (await post("/v1/chat/completions", body)).json();
    const res = await post("/v1/chat/completions", { ...body, stream: true });
    assert.equal(res.status, 200);
    const events = (await res.text()).split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, "")));
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? "").join(""), plain.choices[0].message.content);
    assert.equal(chunks.at(-1).usage.completion_tokens, plain.usage.completion_tokens);
  });

  test("without --threads, generation uses no more threads than the machine has CPUs", async () => {
    assert.equal(model.threads, 1, "an explicit threads option is kept");
    const fresh = await LlamaChatModel.load({ modelPath: gguf, sequences: 1, contextSize: 256 });
    try {
      assert.ok(
        fresh.threads >= 1 && fresh.threads <= availableParallelism(),
        `threads ${fresh.threads} > ${availableParallelism()} CPUs`,
      );
    } finally {
      await fresh.close();
    }
  });

  test("sqlfocus serve starts on the GGUF, answers, and exits 0 on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "serve",
        "--model",
        gguf,
        "--port",
        "0",
        "--threads",
        "1",
        "--sequences",
        "1",
        "--log-level",
        "warn",
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8");
    const started = new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (d: string) => {
        stderr += d;
        const m = /server on (http:\/\/\S+) /.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (code) => reject(new Error(`serve exited ${code} before listening: ${stderr}`)));
    });
    try {
      const base = await started;
      const health = await (await fetch(base + "/health")).json();
      assert.equal(health.model, "tiny");
      const r = await fetch(base + "/text2sql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ question: "q?", db_schema: SCHEMA, max_tokens: 2 }),
      });
      assert.equal(r.status, 200);
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = await exited;
      assert.equal(code, 0, stderr);
      assert.match(stderr, /SIGTERM: closing/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  test("a truncated GGUF is an error naming the file", async () => {
    const { readFileSync, writeFileSync } = await import("node:fs");
    const cut = join(dir, "cut.gguf");
    const bytes = readFileSync(gguf);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(
      LlamaChatModel.load({ modelPath: cut, sequences: 1, contextSize: 256, threads: 1 }),
      (err: Error) => err.message.startsWith(`${cut}: `) && err.message.endsWith("(is it a complete GGUF model file?)"),
    );
  });

  test("sqlfocus serve: out-of-range --port, --context-size, --threads are refused before the model loads", async () => {
    const { spawnSync } = await import("node:child_process");
    const cases: [string[], string][] = [
      [["--port", "99999"], "--port must be at most 65535, got 99999"],
      [["--context-size", "-5"], "--context-size must be a positive integer, got -5"],
      [["--threads", "0"], "--threads must be a positive integer, got 0"],
    ];
    for (const [flags, message] of cases) {
      const r = spawnSync(
        process.execPath,
        ["--import", "tsx", "src/cli/main.ts", "serve", "--model", gguf, ...flags],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 1, flags.join(" "));
      assert.ok(r.stderr.startsWith(`sqlfocus: ${message}\n`), r.stderr);
      assert.doesNotMatch(r.stderr, /loading/);
    }
  });
});
