// quantize({ streaming: true }): HF folder → quantized GGUF in one pass (ggml_quantize_chunk per tensor, no
// temporary GGUF) must equal the default route (temporary GGUF in the source dtype + llama_model_quantize) byte for
// byte: tied F32 model (Q4_K_M, Q8_0), untied BF16 model with 320-wide rows (fallback types) in several K-quants.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { quantize, readGgufInfo, type QuantType } from "../src/gguf/index.js";
import { makeTinyQwen2, type TinyModel } from "./helpers/gguf-tiny.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-streaming-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** Where two GGUF files differ: header fields, metadata (order, values), tensor table, tensor data; [] when equal. */
function ggufDifferences(a: string, b: string): string[] {
  const ba = readFileSync(a),
    bb = readFileSync(b);
  if (ba.equals(bb)) return [];
  const ia = readGgufInfo(a),
    ib = readGgufInfo(b);
  const out: string[] = [];
  const ka = [...ia.metadata.keys()],
    kb = [...ib.metadata.keys()];
  if (ka.join("\n") !== kb.join("\n")) out.push(`metadata keys/order: ${ka.join(",")} vs ${kb.join(",")}`);
  for (const k of ka)
    if (
      JSON.stringify(ia.metadata.get(k), (_, v) => (typeof v === "bigint" ? String(v) : v)) !==
      JSON.stringify(ib.metadata.get(k), (_, v) => (typeof v === "bigint" ? String(v) : v))
    )
      out.push(`metadata ${k} differs`);
  if (ia.tensors.map((t) => t.name).join() !== ib.tensors.map((t) => t.name).join()) out.push("tensor order differs");
  for (const ta of ia.tensors) {
    const tb = ib.tensors.find((t) => t.name === ta.name);
    if (!tb) {
      out.push(`${ta.name} missing`);
      continue;
    }
    if (ta.type !== tb.type) out.push(`${ta.name}: ${ta.type} vs ${tb.type}`);
    else if (ta.offset !== tb.offset) out.push(`${ta.name}: offset ${ta.offset} vs ${tb.offset}`);
  }
  if (out.length === 0) {
    for (const ta of ia.tensors) {
      const tb = ib.tensors.find((t) => t.name === ta.name)!;
      const next = ia.tensors
        .filter((t) => t.offset > ta.offset)
        .reduce((m, t) => Math.min(m, t.offset), ia.fileSize - ia.dataOffset);
      if (!ba.subarray(ta.fileOffset, ia.dataOffset + next).equals(bb.subarray(tb.fileOffset, ib.dataOffset + next)))
        out.push(`${ta.name}: data differs`);
    }
  }
  if (out.length === 0) out.push(`sizes ${ba.length} vs ${bb.length}, header bytes differ`);
  return out;
}

async function compareRoutes(model: TinyModel, type: QuantType, tag: string): Promise<void> {
  const dir = join(root, tag);
  const twoStep = join(dir, "two-step.gguf");
  const streamed = join(dir, "streamed.gguf");
  await quantize({ input: model.dir, output: twoStep, type, threads: 2, modelfile: false });
  const seen = new Set<string>();
  const r = await quantize({
    input: model.dir,
    output: streamed,
    type,
    threads: 2,
    modelfile: false,
    streaming: true,
    onProgress: () => {
      for (const f of readdirSync(dir)) seen.add(f);
    },
  });
  // Only the output's own temporary file ever appears beside it: no intermediate GGUF.
  for (const f of seen)
    assert.ok(
      f === "two-step.gguf" || f === "streamed.gguf" || /^\.streamed\.gguf\.tmp-\d+$/.test(f),
      `unexpected file ${f} while streaming`,
    );
  assert.deepEqual(readdirSync(dir).sort(), ["streamed.gguf", "two-step.gguf"]);
  assert.deepEqual(ggufDifferences(streamed, twoStep), [], `${tag}: streaming and two-step routes differ`);
  assert.equal(r.bytes, readFileSync(twoStep).length);
}

describe("streaming convert-and-quantize equals the two-step route byte for byte", () => {
  let tiedF32: TinyModel;
  let untiedBf16: TinyModel;
  before(() => {
    tiedF32 = makeTinyQwen2(join(root, "tied-f32"), { layers: 4, seed: 31 });
    untiedBf16 = makeTinyQwen2(join(root, "untied-bf16"), {
      layers: 3,
      hidden: 320,
      intermediate: 512,
      heads: 5,
      kvHeads: 1,
      tied: false,
      dtype: "BF16",
      seed: 32,
    });
  });

  test("tied F32 model: Q4_K_M", () => compareRoutes(tiedF32, "Q4_K_M", "f32-q4km"));
  test("tied F32 model: Q8_0", () => compareRoutes(tiedF32, "Q8_0", "f32-q80"));
  test("untied BF16 model, 320-wide rows (fallback types): Q4_K_M", () =>
    compareRoutes(untiedBf16, "Q4_K_M", "bf16-q4km"));
  test("untied BF16 model: Q3_K_M, Q5_K_M, Q2_K", async () => {
    for (const t of ["Q3_K_M", "Q5_K_M", "Q2_K"] as const) await compareRoutes(untiedBf16, t, `bf16-${t}`);
  });

  test("a failing streaming run leaves nothing", async () => {
    const dir = join(root, "fail");
    await assert.rejects(
      quantize({
        input: untiedBf16.dir,
        output: join(dir, "x.gguf"),
        type: "Q2_K_S",
        streaming: true,
        modelfile: false,
      }),
      /importance matrix/,
    );
    assert.deepEqual(readdirSync(dir), []);
  });
});
