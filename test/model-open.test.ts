import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadAddon } from "../src/native/index.js";
import { openModel, initTinyModel, toFloat32, writeSafetensorsModel, openSafetensors } from "../src/model/index.js";

test("openModel: config, zero-copy tensors, tokenizer; missing or misshapen tensors are named", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-open-"));
  await initTinyModel(dir, { layers: 2, seed: 1 });
  const m = openModel(dir);
  assert.equal(m.config.numHiddenLayers, 2);
  assert.equal(m.tensorNames.length, 1 + 2 * 12 + 2);
  const t = m.tensor("model.layers.1.self_attn.k_proj.weight");
  assert.equal(t.dtype, "BF16");
  assert.deepEqual(t.shape, [128, 256]);
  assert.equal(t.data.byteLength, 128 * 256 * 2);
  // a view into the whole mapped file, not a copy (when the addon is built; else read from the file)
  if (addonBuilt()) assert.equal(t.data.buffer.byteLength, readFileSync(join(dir, "model.safetensors")).length);
  assert.equal(toFloat32(m.tensor("model.norm.weight"))[0], 1);
  const tok = await m.loadTokenizer();
  assert.deepEqual(tok.encode("SELECT"), [4858]);

  // drop a tensor → error names it; wrong shape → error names file, tensor and shapes
  const st = openSafetensors(dir);
  const keep = st.names().filter((n) => n !== "model.layers.1.mlp.up_proj.weight");
  const copy = (names: string[], patch?: (n: string) => number[] | undefined) =>
    names.map((n) => {
      const x = st.tensor(n);
      const shape = patch?.(n) ?? x.shape;
      return { name: n, dtype: x.dtype, shape, data: Uint8Array.from(x.data) };
    });
  const bad = mkdtempSync(join(tmpdir(), "sqlfocus-open-"));
  writeFileSync(join(bad, "config.json"), readFileSync(join(dir, "config.json")));
  await writeSafetensorsModel(bad, copy(keep));
  assert.throws(() => openModel(bad), /model\.safetensors: tensor 'model\.layers\.1\.mlp\.up_proj\.weight' is missing/);
  await writeSafetensorsModel(
    bad,
    copy(st.names(), (n) => (n === "model.norm.weight" ? [16, 16] : undefined)),
  );
  assert.throws(
    () => openModel(bad),
    /tensor 'model\.norm\.weight' has shape \[16, 16\], config\.json implies \[256\]/,
  );
  assert.throws(() => openModel(join(bad, "nope")), /no such model folder/);
});

function addonBuilt(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
