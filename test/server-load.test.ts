// Bounded load on loopback with autocannon: a few hundred requests through the real HTTP stack, no errors,
// no non-2xx answers, and afterwards no sequence in use and an empty queue (nothing leaked). Once over the
// fake model (server machinery only), once over a tiny GGUF (node-llama-cpp sequences).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import autocannon from "autocannon";
import { createServer } from "../src/server/index.js";
import { initTinyModel } from "../src/model/index.js";
import { toGGUF } from "../src/gguf/index.js";
import { LlamaChatModel, type ChatModel } from "../src/text2sql/index.js";
import { FakeChatModel } from "./server-fake-model.js";

async function load(model: ChatModel, amount: number, connections: number, body: object) {
  const app = await createServer({ model, logger: false, maxQueue: connections });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  try {
    const result = await autocannon({
      url: url + "/text2sql",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      connections,
      amount,
      timeout: 60,
    });
    const health = await (await fetch(url + "/health")).json();
    return { result, health };
  } finally {
    await app.close();
  }
}

test("fake model: 400 requests from 16 connections, all answered 200, nothing leaked", async () => {
  const model = new FakeChatModel(() => "SELECT count(*) FROM singer\n```", 4);
  const { result, health } = await load(model, 400, 16, {
    question: "How many singers?",
    db_schema: "CREATE TABLE singer (id INT)",
  });
  assert.equal(result.errors, 0);
  assert.equal(result.timeouts, 0);
  assert.equal(result.non2xx, 0);
  assert.equal(result["2xx"], 400);
  assert.equal(model.requests.length, 400);
  assert.equal(model.maxInUse, 4, "requests ran in parallel up to the sequences");
  assert.deepEqual(health.sequences, { inUse: 0, total: 4 });
  assert.deepEqual(health.queue, { running: 0, waiting: 0, max: 16 });
});

test("tiny GGUF: 96 requests from 8 connections, all answered 200, every sequence returned", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-load-"));
  try {
    await initTinyModel(join(dir, "tiny"), {
      layers: 1,
      hidden: 64,
      intermediate: 128,
      heads: 4,
      kvHeads: 2,
      tied: true,
      dtype: "f32",
      seed: 5,
    });
    await toGGUF({ model: join(dir, "tiny"), out: join(dir, "tiny.gguf"), type: "F32" });
    const model = await LlamaChatModel.load({
      modelPath: join(dir, "tiny.gguf"),
      sequences: 4,
      contextSize: 512,
      threads: 1,
    });
    const { result, health } = await load(model, 96, 8, {
      question: "How many singers?",
      db_schema: "CREATE TABLE singer (id INT)",
      max_tokens: 2,
    });
    assert.equal(result.errors, 0);
    assert.equal(result.non2xx, 0);
    assert.equal(result["2xx"], 96);
    assert.deepEqual(health.sequences, { inUse: 0, total: 4 });
    assert.deepEqual(health.queue, { running: 0, waiting: 0, max: 8 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
