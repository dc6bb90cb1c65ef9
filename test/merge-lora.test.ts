// merge(): W' = W + scale·B·A on every adapted module (F32 exact to rounding, BF16 rounded once), other tensors
// byte-identical, folder complete (config, tokenizer, generation config); tied lm_head adapters untie; rslora scale;
// an adapter that does not fit the base is an error before anything is written.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { merge } from "../src/model/merge.js";
import { openSafetensors, toFloat32 } from "../src/model/index.js";
import { makeTinyQwen2 } from "./helpers/gguf-tiny.js";
import { writeRandomAdapter } from "./helpers/gguf-adapter.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-merge-"));
after(() => rmSync(root, { recursive: true, force: true }));

const SHAPE = { layers: 2, hidden: 256, intermediate: 768, heads: 4, kvHeads: 2 };
const VOCAB = 151936;

function expectedMerged(
  w: Float32Array,
  a: Float32Array,
  b: Float32Array,
  outDim: number,
  inDim: number,
  r: number,
  scale: number,
): Float64Array {
  const out = Float64Array.from(w);
  for (let o = 0; o < outDim; o++)
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += b[o * r + k] * a[k * inDim + i];
      out[o * inDim + i] += scale * s;
    }
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

test("F32 base: adapted modules merged, the rest byte-identical, folder complete", async () => {
  const base = makeTinyQwen2(join(root, "base"), { ...SHAPE, seed: 5 });
  const ad = await writeRandomAdapter(join(root, "adapter"), { ...SHAPE, rank: 4, alpha: 8 });
  const out = join(root, "new-model");
  const r = await merge({ base: base.dir, adapter: join(root, "adapter"), out, maxShardSize: 60_000_000 });
  assert.equal(r.merged, SHAPE.layers * 3);
  assert.equal(r.untied, false);
  const files = readdirSync(out).sort();
  for (const f of [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors.index.json",
  ])
    assert.ok(files.includes(f), f);
  assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 2, files.join(","));
  assert.deepEqual(
    JSON.parse(readFileSync(join(out, "config.json"), "utf8")),
    JSON.parse(readFileSync(join(base.dir, "config.json"), "utf8")),
  );
  const merged = openSafetensors(out);
  const orig = openSafetensors(base.dir);
  assert.deepEqual(merged.names().sort(), orig.names().sort());
  const adapted = new Set<string>();
  for (let l = 0; l < SHAPE.layers; l++) {
    for (const [kind, mod] of [
      ["self_attn", "q_proj"],
      ["self_attn", "v_proj"],
      ["mlp", "down_proj"],
    ]) {
      const name = `model.layers.${l}.${kind}.${mod}.weight`;
      adapted.add(name);
      const a = ad.tensors.find((t) => t.name === `base_model.model.model.layers.${l}.${kind}.${mod}.lora_A.weight`)!;
      const b = ad.tensors.find((t) => t.name === `base_model.model.model.layers.${l}.${kind}.${mod}.lora_B.weight`)!;
      const info = orig.info(name);
      const want = expectedMerged(base.weights.get(name)!, a.data, b.data, info.shape[0], info.shape[1], 4, 2);
      const got = toFloat32(merged.tensor(name));
      assert.equal(merged.info(name).dtype, "F32");
      assert.ok(maxAbsDiff(got, want) < 1e-5, `${name}: ${maxAbsDiff(got, want)}`);
      assert.ok(maxAbsDiff(got, base.weights.get(name)!) > 0.01, `${name} unchanged`);
    }
  }
  for (const name of orig.names()) {
    if (adapted.has(name)) continue;
    assert.ok(Buffer.from(merged.tensor(name).data).equals(Buffer.from(orig.tensor(name).data)), name);
  }
});

test("BF16 base, rslora: merged in F32 and rounded back to BF16 once", async () => {
  const base = makeTinyQwen2(join(root, "base-bf16"), { ...SHAPE, layers: 1, seed: 6, dtype: "BF16" });
  const ad = await writeRandomAdapter(join(root, "adapter-rs"), {
    ...SHAPE,
    layers: 1,
    rank: 4,
    alpha: 16,
    useRslora: true,
    targets: ["o_proj"],
  });
  const out = join(root, "merged-bf16");
  await merge({ base: base.dir, adapter: join(root, "adapter-rs"), out });
  const name = "model.layers.0.self_attn.o_proj.weight";
  const merged = openSafetensors(out);
  assert.equal(merged.info(name).dtype, "BF16");
  const a = ad.tensors[0].data,
    b = ad.tensors[1].data;
  const want = expectedMerged(base.weights.get(name)!, a, b, 256, 256, 4, 16 / 2);
  const got = toFloat32(merged.tensor(name));
  // one BF16 rounding: relative error ≤ 2^-8
  for (let i = 0; i < got.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= Math.abs(want[i]) * 2 ** -8 + 1e-30, `${i}: ${got[i]} vs ${want[i]}`);
});

test("tied embeddings with an lm_head adapter: lm_head is untied, embeddings unchanged", async () => {
  const base = makeTinyQwen2(join(root, "base-tied"), { ...SHAPE, layers: 1, seed: 8 });
  const ad = await writeRandomAdapter(join(root, "adapter-lm"), {
    ...SHAPE,
    layers: 1,
    rank: 2,
    alpha: 4,
    targets: ["lm_head"],
  });
  const out = join(root, "merged-tied");
  const r = await merge({ base: base.dir, adapter: join(root, "adapter-lm"), out });
  assert.equal(r.untied, true);
  assert.equal(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).tie_word_embeddings, false);
  const merged = openSafetensors(out);
  const e = base.weights.get("model.embed_tokens.weight")!;
  assert.ok(
    Buffer.from(merged.tensor("model.embed_tokens.weight").data).equals(
      Buffer.from(openSafetensors(base.dir).tensor("model.embed_tokens.weight").data),
    ),
  );
  const want = expectedMerged(e, ad.tensors[0].data, ad.tensors[1].data, VOCAB, 256, 2, 2);
  assert.ok(maxAbsDiff(toFloat32(merged.tensor("lm_head.weight")), want) < 1e-5);
});

test("an adapter that does not fit the base fails before anything is written", async () => {
  const base = makeTinyQwen2(join(root, "base-small"), { ...SHAPE, layers: 1, seed: 9 });
  await writeRandomAdapter(join(root, "adapter-big"), { ...SHAPE, layers: 1, hidden: 512, heads: 8, kvHeads: 4 });
  const out = join(root, "never");
  await assert.rejects(
    merge({ base: base.dir, adapter: join(root, "adapter-big"), out }),
    /model\.layers\.0\.[a-z_.]+: lora_A is \[4,\d+\] and lora_B \[\d+,4\], which do not fit the base weight \[\d+,\d+\] \(wrong base model\?\)/,
  );
  await writeRandomAdapter(join(root, "adapter-deep"), { ...SHAPE, layers: 2 });
  await assert.rejects(
    merge({ base: base.dir, adapter: join(root, "adapter-deep"), out }),
    /adapts model\.layers\.1\.[a-z_.]+, but the base model has no model\.layers\.1\.[a-z_.]+\.weight \(wrong base model\?\)/,
  );
  assert.ok(!existsSync(out));
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes("never")),
    [],
  );
});

test("an --out that is an existing file is refused before anything is written; the file is kept", async () => {
  const base = makeTinyQwen2(join(root, "base-file-out"), { ...SHAPE, layers: 1, seed: 11 });
  await writeRandomAdapter(join(root, "adapter-file-out"), { ...SHAPE, layers: 1 });
  const out = join(root, "notes.txt");
  writeFileSync(out, "keep me\n");
  await assert.rejects(
    merge({ base: base.dir, adapter: join(root, "adapter-file-out"), out }),
    (err: Error) =>
      err.message === `${out}: exists and is not a folder (refusing to replace it with the output folder)`,
  );
  assert.equal(readFileSync(out, "utf8"), "keep me\n");
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes("notes.txt.")),
    [],
  );
});
