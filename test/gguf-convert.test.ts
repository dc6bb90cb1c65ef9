// HF Qwen2 → GGUF: metadata and tokenizer as llama.cpp's converter writes them for Qwen2.5, tensor layout, and
// node-llama-cpp (llama.cpp) loading the file and computing the same next-token distribution and greedy tokens as the
// plain-TS reference forward pass on the same weights (tied and untied embeddings; F32, F16, BF16).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readGgufInfo, toGGUF } from "../src/gguf/index.js";
import { referenceForward } from "./helpers/qwen2-reference.js";
import { makeTinyQwen2, type TinyModel } from "./helpers/gguf-tiny.js";
import { argmax, llamaLogProbs, loadGguf, logSoftmax } from "./helpers/gguf-llama.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-convert-"));
after(() => rmSync(root, { recursive: true, force: true }));

// "SELECT name FROM users WHERE" in the Qwen tokenizer, then a few more ids.
const PROMPT = [4858, 829, 4295, 3847, 5288, 3988];

const refCache = new Map<string, Float64Array[]>();
function reference(m: TinyModel, ids: number[]): Float64Array[] {
  const key = `${m.dir}:${ids.join(",")}`;
  const hit = refCache.get(key);
  if (hit) return hit;
  const rows = referenceRows(m, ids);
  refCache.set(key, rows);
  return rows;
}

function referenceRows(m: TinyModel, ids: number[]): Float64Array[] {
  const V = m.config.vocabSize;
  const { logits } = referenceForward(m.config, (n) => m.weights.get(n)!, null, ids, null, 1, ids.length);
  return ids.map((_, t) => logits.subarray(t * V, (t + 1) * V));
}

function referenceGreedy(m: TinyModel, ids: number[], n: number): number[] {
  const seq = [...ids];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const rows = referenceRows(m, seq);
    const next = argmax(rows[rows.length - 1]);
    out.push(next);
    seq.push(next);
  }
  return out;
}

/**
 * Max error of the logit differences (log p_i − log p_top, so that node-llama-cpp's renormalisation over its top-k
 * candidates cancels) over the reference's 10 most likely tokens at each position; the top tokens must agree.
 */
function maxLogProbError(ref: Float64Array[], got: Map<number, number>[]): number {
  let worst = 0;
  ref.forEach((row, t) => {
    const lp = logSoftmax(row);
    const top = [...lp.keys()].sort((a, b) => lp[b] - lp[a]).slice(0, 10);
    const g0 = got[t].get(top[0]);
    assert.ok(
      g0 !== undefined,
      `position ${t}: the reference's top token ${top[0]} is missing from llama.cpp's candidates`,
    );
    for (const tok of top) {
      const g = got[t].get(tok);
      assert.ok(g !== undefined, `position ${t}: token ${tok} missing from llama.cpp's candidates`);
      worst = Math.max(worst, Math.abs(g - g0 - (lp[tok] - lp[top[0]])));
    }
  });
  return worst;
}

describe("HF → GGUF (tied embeddings)", () => {
  let m: TinyModel;
  before(() => {
    m = makeTinyQwen2(join(root, "tied"), { tied: true, seed: 7 });
  });

  test("metadata and tokenizer match what convert_hf_to_gguf.py writes for Qwen2.5", async () => {
    const out = join(root, "tied-f32.gguf");
    await toGGUF({ model: m.dir, out, type: "F32" });
    const info = readGgufInfo(out);
    const md = info.metadata;
    assert.equal(info.version, 3);
    assert.equal(md.get("general.architecture"), "qwen2");
    assert.equal(md.get("general.type"), "model");
    assert.equal(md.get("qwen2.block_count"), 2);
    assert.equal(md.get("qwen2.embedding_length"), 256);
    assert.equal(md.get("qwen2.feed_forward_length"), 768);
    assert.equal(md.get("qwen2.attention.head_count"), 4);
    assert.equal(md.get("qwen2.attention.head_count_kv"), 2);
    assert.equal(md.get("qwen2.context_length"), 4096);
    assert.equal(md.get("qwen2.rope.freq_base"), 1000000);
    assert.ok(Math.abs((md.get("qwen2.attention.layer_norm_rms_epsilon") as number) - 1e-6) < 1e-12);
    assert.equal(md.get("general.file_type"), 0);
    assert.equal(md.get("tokenizer.ggml.model"), "gpt2");
    assert.equal(md.get("tokenizer.ggml.pre"), "qwen2");
    const tokens = md.get("tokenizer.ggml.tokens") as string[];
    const types = md.get("tokenizer.ggml.token_type") as number[];
    assert.equal(tokens.length, 151936);
    assert.equal(types.length, 151936);
    const tj = JSON.parse(readFileSync(join(m.dir, "tokenizer.json"), "utf8"));
    assert.equal(
      tokens[4858],
      Object.entries(tj.model.vocab as Record<string, number>).find(([, id]) => id === 4858)![0],
    );
    assert.equal(types[4858], 1); // normal
    assert.equal(tokens[151643], "<|endoftext|>");
    assert.equal(types[151643], 3); // control
    assert.equal(tokens[151645], "<|im_end|>");
    assert.equal(tokens[151657], "<tool_call>");
    assert.equal(types[151657], 4); // user-defined (added, not special)
    assert.equal(tokens[151669], "[PAD151669]");
    assert.equal(types[151935], 5); // unused padding up to vocab_size
    const merges = md.get("tokenizer.ggml.merges") as string[];
    assert.equal(merges.length, tj.model.merges.length);
    assert.equal(merges[0], tj.model.merges[0].join(" "));
    // tokenizer_config: eos <|im_end|>, pad <|endoftext|>; config.json: bos 151643
    assert.equal(md.get("tokenizer.ggml.eos_token_id"), 151645);
    assert.equal(md.get("tokenizer.ggml.padding_token_id"), 151643);
    assert.equal(md.get("tokenizer.ggml.bos_token_id"), 151643);
    assert.equal(md.get("tokenizer.ggml.add_bos_token"), false);
    const tc = JSON.parse(readFileSync(join(m.dir, "tokenizer_config.json"), "utf8"));
    assert.equal(md.get("tokenizer.chat_template"), tc.chat_template);
    // tensors: tied → no output.weight; dims reversed from PyTorch; norms/biases F32
    const names = info.tensors.map((t) => t.name);
    assert.ok(!names.includes("output.weight"));
    assert.equal(names.length, 1 + 2 * 12 + 1);
    const q = info.tensors.find((t) => t.name === "blk.0.attn_k.weight")!;
    assert.deepEqual(q.dims, [256, 128]);
    assert.deepEqual(info.tensors.find((t) => t.name === "token_embd.weight")!.dims, [256, 151936]);
    for (const t of info.tensors) assert.equal(t.offset % 32, 0);
  });

  test("llama.cpp computes the reference's next-token distribution and greedy tokens (F32)", async () => {
    const out = join(root, "tied-f32.gguf");
    if (!existsSync(out)) await toGGUF({ model: m.dir, out, type: "F32" });
    const model = await loadGguf(out);
    try {
      assert.deepEqual([...model.tokenize("SELECT name FROM users WHERE")], PROMPT.slice(0, 5));
      assert.equal(model.tokens.eos, 151645);
      const got = await llamaLogProbs(model, PROMPT, 4);
      const err = maxLogProbError(reference(m, PROMPT), got.logProbs);
      assert.ok(err < 2e-3, `max |Δ log p| = ${err}`);
      assert.deepEqual(got.greedy, referenceGreedy(m, PROMPT, 4));
    } finally {
      await model.dispose();
    }
  });

  test("F16 and BF16 files load and stay close to the reference", async () => {
    for (const type of ["F16", "BF16"] as const) {
      const out = join(root, `tied-${type}.gguf`);
      await toGGUF({ model: m.dir, out, type });
      const info = readGgufInfo(out);
      assert.equal(info.metadata.get("general.file_type"), type === "F16" ? 1 : 32);
      assert.equal(info.tensors.find((t) => t.name === "blk.1.ffn_down.weight")!.type, type);
      assert.equal(info.tensors.find((t) => t.name === "blk.1.ffn_norm.weight")!.type, "F32");
      const model = await loadGguf(out);
      try {
        const got = await llamaLogProbs(model, PROMPT, 1);
        const err = maxLogProbError(reference(m, PROMPT), got.logProbs);
        assert.ok(err < 0.1, `${type}: max |Δ log p| = ${err}`);
      } finally {
        await model.dispose();
      }
    }
  });
});

describe("HF → GGUF (untied lm_head, BF16 source)", () => {
  test("output.weight is written and llama.cpp matches the reference", async () => {
    const m = makeTinyQwen2(join(root, "untied"), { tied: false, seed: 11, dtype: "BF16", layers: 1 });
    const out = join(root, "untied-bf16.gguf");
    await toGGUF({ model: m.dir, out, type: "BF16" });
    const info = readGgufInfo(out);
    const o = info.tensors.find((t) => t.name === "output.weight");
    assert.ok(o);
    assert.equal(o.type, "BF16");
    const model = await loadGguf(out);
    try {
      const got = await llamaLogProbs(model, PROMPT, 3);
      // BF16 → BF16 is lossless, so the F32 reference on the stored values applies (llama.cpp's BF16 matmuls
      // round activations, hence the looser bound than F32).
      const err = maxLogProbError(reference(m, PROMPT), got.logProbs);
      assert.ok(err < 0.05, `max |Δ log p| = ${err}`);
    } finally {
      await model.dispose();
    }
  });
});

describe("bad input", () => {
  test("a missing tensor or wrong shape is a clear error and no file is written", async () => {
    const m = makeTinyQwen2(join(root, "bad"), { layers: 1, vocab: 151936, seed: 3 });
    const cfgPath = join(m.dir, "config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    const { writeFileSync } = await import("node:fs");
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, num_hidden_layers: 2 }));
    const out = join(root, "bad-out", "x.gguf");
    await assert.rejects(toGGUF({ model: m.dir, out }), /model\.layers\.1\.[a-z_.]+' is missing/);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, intermediate_size: 512 }));
    await assert.rejects(
      toGGUF({ model: m.dir, out }),
      /mlp\.(gate|up|down)_proj\.weight' has shape \[\d+,\d+\], config\.json implies/,
    );
    assert.ok(!existsSync(out));
    assert.ok(!existsSync(join(root, "bad-out")) || readdirSync(join(root, "bad-out")).length === 0);
  });

  test("an output that is a folder, or under a file, is an error naming it, before any writing", async () => {
    const m = makeTinyQwen2(join(root, "ok-for-bad-out"), { layers: 1, vocab: 151936, seed: 4 });
    const { mkdirSync, writeFileSync } = await import("node:fs");
    const folder = join(root, "a-folder");
    mkdirSync(join(folder, "inside"), { recursive: true });
    await assert.rejects(
      toGGUF({ model: m.dir, out: folder }),
      (err: Error) => err.message === `cannot write ${folder}: it is a folder (name the output .gguf file)`,
    );
    assert.deepEqual(readdirSync(folder), ["inside"]);
    assert.deepEqual(
      readdirSync(root).filter((f) => f.includes("a-folder.")),
      [],
    );
    const file = join(root, "a-file.txt");
    writeFileSync(file, "keep me\n");
    await assert.rejects(
      toGGUF({ model: m.dir, out: join(file, "x.gguf") }),
      (err: Error) => err.message === `cannot write ${join(file, "x.gguf")}: a part of its folder path is a file`,
    );
    assert.equal(readFileSync(file, "utf8"), "keep me\n");
  });
});
