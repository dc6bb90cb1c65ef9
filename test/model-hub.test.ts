import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findInHubCache, resolveModel, wantedRepoFile } from "../src/model/hub.js";

const tmp = () => mkdtempSync(join(tmpdir(), "sqlfocus-hub-"));
const SHA = "0123456789abcdef0123456789abcdef01234567";

test("a local folder resolves to itself; a folder without config.json is refused", async () => {
  const dir = tmp();
  writeFileSync(join(dir, "config.json"), "{}");
  assert.deepEqual(await resolveModel(dir, { offline: true }), { dir, source: "local" });
  await assert.rejects(resolveModel(tmp(), { offline: true }), /not a model folder \(no config\.json\)/);
  await assert.rejects(resolveModel("no/such/thing/here", { offline: true }), /not a Hugging Face repo id/);
});

test("HF cache layout: models--org--name/snapshots/<refs/main>/", async () => {
  const cache = tmp();
  const repo = join(cache, "models--Qwen--Qwen2.5-0.5B");
  mkdirSync(join(repo, "refs"), { recursive: true });
  mkdirSync(join(repo, "snapshots", SHA), { recursive: true });
  mkdirSync(join(repo, "snapshots", "ffffffffffffffffffffffffffffffffffffffff"), { recursive: true });
  writeFileSync(join(repo, "snapshots", SHA, "config.json"), "{}");
  writeFileSync(join(repo, "snapshots", "ffffffffffffffffffffffffffffffffffffffff", "config.json"), "{}");
  writeFileSync(join(repo, "refs", "main"), SHA + "\n");
  const r = await resolveModel("Qwen/Qwen2.5-0.5B", { cacheDir: cache, modelDir: tmp(), offline: true });
  assert.deepEqual(r, { dir: join(repo, "snapshots", SHA), source: "cache" });
  assert.equal(
    findInHubCache("Qwen/Qwen2.5-0.5B", cache, "ffffffffffffffffffffffffffffffffffffffff"),
    join(repo, "snapshots", "ffffffffffffffffffffffffffffffffffffffff"),
  );
  assert.equal(findInHubCache("Qwen/Other", cache), undefined);
  // HF_HUB_CACHE is the default cache folder
  const saved = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
  try {
    assert.equal((await resolveModel("Qwen/Qwen2.5-0.5B", { modelDir: tmp(), offline: true })).source, "cache");
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = saved;
  }
});

test("./model/<name> is found; offline with nothing local fails at once saying where to put the weights", async () => {
  const modelDir = tmp();
  mkdirSync(join(modelDir, "XiYanSQL-QwenCoder-7B-2502"));
  writeFileSync(join(modelDir, "XiYanSQL-QwenCoder-7B-2502", "config.json"), "{}");
  const r = await resolveModel("XGenerationLab/XiYanSQL-QwenCoder-7B-2502", {
    cacheDir: tmp(),
    modelDir,
    offline: true,
  });
  assert.deepEqual(r, { dir: join(modelDir, "XiYanSQL-QwenCoder-7B-2502"), source: "model-dir" });
  const saved = process.env.HF_HUB_OFFLINE;
  process.env.HF_HUB_OFFLINE = "1";
  try {
    const t0 = Date.now();
    await assert.rejects(resolveModel("Qwen/Qwen2.5-Coder-7B-Instruct", { cacheDir: tmp(), modelDir }), (e: Error) => {
      assert.match(e.message, /Qwen\/Qwen2\.5-Coder-7B-Instruct is not on this machine and downloads are off/);
      assert.ok(e.message.includes(join(modelDir, "Qwen2.5-Coder-7B-Instruct")));
      assert.match(e.message, /models--Qwen--Qwen2\.5-Coder-7B-Instruct/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
    else process.env.HF_HUB_OFFLINE = saved;
  }
});

test("an unreachable hub fails at once with the same advice", async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r())); // nothing listens there now
  await assert.rejects(
    resolveModel("org/model", {
      cacheDir: tmp(),
      modelDir: tmp(),
      endpoint: `http://127.0.0.1:${port}`,
      progress: false,
    }),
    /org\/model is not on this machine and the hub cannot be reached .*put the model's files/,
  );
});

// ---- a fake hub on localhost ----------------------------------------------------------------------------------
const FILES: Record<string, Buffer> = {
  "config.json": Buffer.from('{"model_type":"qwen2"}'),
  "model.safetensors": Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 255)),
  "tokenizer.json": Buffer.from('{"version":"1.0"}'),
  "pytorch_model.bin": Buffer.from("not wanted"),
};
let server: Server;
let endpoint: string;
const requests: { url: string; range?: string; auth?: string }[] = [];
let cutNextWeights = false;

before(async () => {
  server = createServer((req: IncomingMessage, res) => {
    requests.push({ url: req.url!, range: req.headers.range, auth: req.headers.authorization });
    if (req.url === "/api/models/org/tiny/revision/main?blobs=true") {
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          sha: SHA,
          siblings: Object.entries(FILES).map(([k, v]) => ({ rfilename: k, size: v.length })),
        }),
      );
      return;
    }
    const m = /^\/org\/tiny\/resolve\/([0-9a-f]{40})\/(.+)$/.exec(req.url!);
    if (!m || m[1] !== SHA || !FILES[m[2]]) {
      res.statusCode = 404;
      res.end("not found");
      return;
    }
    const body = FILES[m[2]];
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    if (range) {
      res.statusCode = 206;
      res.setHeader("content-range", `bytes ${start}-${body.length - 1}/${body.length}`);
    }
    res.setHeader("content-length", String(body.length - start));
    if (m[2] === "model.safetensors" && cutNextWeights) {
      cutNextWeights = false;
      res.write(body.subarray(start, start + 70_000), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("download: file list from the API, files into the cache snapshot, resumed with Range after a cut", async () => {
  const cache = tmp();
  requests.length = 0;
  cutNextWeights = true;
  const opts = { cacheDir: cache, modelDir: tmp(), endpoint, token: "hf_test", progress: false };
  // first try: the hub address and token come from HF_ENDPOINT / HF_TOKEN
  const saved = { e: process.env.HF_ENDPOINT, t: process.env.HF_TOKEN };
  process.env.HF_ENDPOINT = endpoint;
  process.env.HF_TOKEN = "hf_test";
  try {
    await assert.rejects(
      resolveModel("org/tiny", { cacheDir: cache, modelDir: opts.modelDir, progress: false }),
      /download interrupted|got \d+ of 200000 bytes|hub cannot be reached/,
    );
  } finally {
    for (const [k, v] of [
      ["HF_ENDPOINT", saved.e],
      ["HF_TOKEN", saved.t],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const snap = join(cache, "models--org--tiny", "snapshots", SHA);
  const partial = join(snap, "model.safetensors.incomplete");
  assert.ok(existsSync(partial));
  const have = statSync(partial).size;
  assert.ok(have > 0 && have < 200_000, `partial size ${have}`);
  assert.ok(!existsSync(join(snap, "model.safetensors")));

  const seen: number[] = [];
  const r = await resolveModel("org/tiny", { ...opts, onProgress: (p) => seen.push(p.bytes) });
  assert.deepEqual(r, { dir: snap, source: "download" });
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"])
    assert.ok(readFileSync(join(snap, f)).equals(FILES[f]), f);
  assert.ok(!existsSync(join(snap, "pytorch_model.bin")));
  assert.ok(!existsSync(partial));
  assert.equal(readFileSync(join(cache, "models--org--tiny", "refs", "main"), "utf8"), SHA);
  const weights = requests.filter((q) => q.url.endsWith("/model.safetensors"));
  assert.equal(weights.length, 2);
  assert.equal(weights[0].range, undefined);
  assert.equal(weights[1].range, `bytes=${have}-`);
  assert.ok(requests.every((q) => q.auth === "Bearer hf_test"));
  assert.equal(
    seen[seen.length - 1],
    Object.entries(FILES)
      .filter(([k]) => wantedRepoFile(k))
      .reduce((a, [, v]) => a + v.length, 0),
  );
  // now it is in the cache: no network needed
  assert.deepEqual(await resolveModel("org/tiny", { ...opts, endpoint: "http://127.0.0.1:9", offline: true }), {
    dir: snap,
    source: "cache",
  });
  await assert.rejects(resolveModel("org/missing", opts), /org\/missing: no such model/);
});

test("which repository files are fetched", () => {
  for (const f of [
    "config.json",
    "model-00001-of-00002.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "merges.txt",
    "vocab.json",
    "generation_config.json",
  ])
    assert.ok(wantedRepoFile(f), f);
  for (const f of [
    "pytorch_model.bin",
    "model.gguf",
    "onnx/model.onnx",
    "pytorch_model.bin.index.json",
    "flax_model.msgpack",
  ])
    assert.ok(!wantedRepoFile(f), f);
});
