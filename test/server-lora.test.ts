// startServer on an HF folder with a PEFT LoRA adapter folder: both are converted to GGUF once (cached),
// the adapter is listed, and a request that names it is generated with it (greedy replies differ from the
// base model's; the same adapter gives the same reply again).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { initTinyModel, readQwen2Config } from "../src/model/index.js";
import { writeAdapter, type LoraTensor } from "../src/train/index.js";
import { startServer } from "../src/server/index.js";

const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-lora-"));
const hf = join(dir, "tiny");
const adapter = join(dir, "sql-adapter");
const cacheDir = join(dir, "cache");
let server: Awaited<ReturnType<typeof startServer>>;
const logs: string[] = [];

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

before(async () => {
  await initTinyModel(hf, {
    layers: 1,
    hidden: 64,
    intermediate: 128,
    heads: 4,
    kvHeads: 2,
    tied: true,
    dtype: "f32",
    seed: 11,
  });
  const c = readQwen2Config(hf);
  const r = 4;
  const rand = seeded(7);
  const tensors: LoraTensor[] = [];
  const modules: Array<[string, number, number]> = [
    ["self_attn.o_proj", c.hiddenSize, c.hiddenSize],
    ["mlp.down_proj", c.intermediateSize, c.hiddenSize],
  ];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    for (const [m, inF, outF] of modules) {
      const base = `base_model.model.model.layers.${l}.${m}`;
      tensors.push({
        name: `${base}.lora_A.weight`,
        shape: [r, inF],
        data: Float32Array.from({ length: r * inF }, () => rand()),
      });
      tensors.push({
        name: `${base}.lora_B.weight`,
        shape: [outF, r],
        data: Float32Array.from({ length: outF * r }, () => rand()),
      });
    }
  }
  await writeAdapter(
    adapter,
    { baseModelNameOrPath: hf, r, loraAlpha: 64, loraDropout: 0, targetModules: ["o_proj", "down_proj"] },
    tensors,
  );
  server = await startServer({
    model: hf,
    lora: [`sql=${adapter}`],
    port: 0,
    cacheDir,
    sequences: 2,
    contextSize: 512,
    threads: 1,
    log: (l) => logs.push(l),
    server: { logger: false },
  });
});

after(async () => {
  await server?.app.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown) =>
  fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => ({
    status: r.status,
    body: await r.json(),
  }));

test("the HF folder and the PEFT adapter were converted to GGUF into the cache", () => {
  const files = readdirSync(cacheDir).sort();
  assert.equal(files.length, 2, files.join(", "));
  assert.ok(files.some((f) => /^tiny-[0-9a-f]{12}\.f16\.gguf$/.test(f)));
  assert.ok(files.some((f) => /^sql-adapter-[0-9a-f]{12}\.lora\.gguf$/.test(f)));
  assert.ok(logs.some((l) => l.startsWith("converting")));
});

test("the adapter is listed and chosen per request", async () => {
  const models = await (await fetch(server.url + "/v1/models")).json();
  assert.deepEqual(
    models.data.map((m: { id: string }) => m.id),
    ["tiny", "tiny:base", "tiny:sql"],
  );
  const ask = (adapter?: string) =>
    post("/text2sql", {
      question: "How many singers?",
      db_schema: "CREATE TABLE singer (id INT)",
      max_tokens: 8,
      adapter,
    });
  const withDefault = await ask();
  const withSql = await ask("sql");
  const withBase = await ask("base");
  for (const r of [withDefault, withSql, withBase]) assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(withDefault.body.adapter, "sql");
  assert.equal(withSql.body.adapter, "sql");
  assert.equal(withBase.body.adapter, "base");
  assert.equal(withDefault.body.reply, withSql.body.reply);
  assert.notEqual(withSql.body.reply, withBase.body.reply, "the adapter changes what the model generates");
  const health = await (await fetch(server.url + "/health")).json();
  assert.deepEqual(health.sequences, { inUse: 0, total: 4 }); // the adapter's context and the base one, 2 sequences each
  const unknown = await post("/text2sql", { question: "q", db_schema: "s", adapter: "other" });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.message, /unknown adapter 'other' \(loaded: base, sql\)/);
});
