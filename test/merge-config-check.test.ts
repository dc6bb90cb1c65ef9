// merge() checks the base folder's config.json against its tensors before writing anything: a base whose config does
// not match its weights (layer count, hidden size) is an error naming the tensor, and no output folder appears.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { initTinyModel, merge } from "../src/model/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-merge-config-"));
after(() => rmSync(root, { recursive: true, force: true }));
const base = join(root, "base");
before(async () => {
  await initTinyModel(base, { layers: 1, hidden: 64, intermediate: 128, heads: 2, kvHeads: 1, dtype: "f32" });
});

function withConfig(change: Record<string, unknown>): void {
  const path = join(base, "config.json");
  const c = JSON.parse(readFileSync(path, "utf8"));
  writeFileSync(path, JSON.stringify({ ...c, ...change }, null, 2));
}

test("more layers in config.json than in the weights: the missing tensor is named", async () => {
  const original = readFileSync(join(base, "config.json"), "utf8");
  withConfig({ num_hidden_layers: 2 });
  const out = join(root, "out-layers");
  await assert.rejects(
    merge({ base, adapter: join(root, "no-adapter-needed"), out }),
    /tensor 'model\.layers\.1\.[a-z_.]+' is missing \(config\.json describes 2 layers/,
  );
  assert.ok(!existsSync(out));
  writeFileSync(join(base, "config.json"), original);
});

test("another hidden size in config.json: the tensor and both shapes are named", async () => {
  const original = readFileSync(join(base, "config.json"), "utf8");
  withConfig({ hidden_size: 128 });
  const out = join(root, "out-hidden");
  await assert.rejects(
    merge({ base, adapter: join(root, "no-adapter-needed"), out }),
    /tensor 'model\.embed_tokens\.weight' has shape \[151936, 64\], config\.json implies \[151936, 128\]/,
  );
  assert.ok(!existsSync(out));
  writeFileSync(join(base, "config.json"), original);
});
