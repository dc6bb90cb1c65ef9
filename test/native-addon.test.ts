import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadAddon } from "../src/native/index.js";

test("addon loads and reports its build", () => {
  const info = loadAddon().buildInfo();
  assert.equal(typeof info.cuda, "boolean");
  assert.match(info.simd, /^(avx512|avx2|neon|scalar)$/);
});

test("mapFile maps a file's bytes without copying them through JS", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-map-"));
  const path = join(dir, "x.bin");
  const bytes = Buffer.from([1, 2, 3, 250, 251, 252]);
  writeFileSync(path, bytes);
  const ab = loadAddon().mapFile(path);
  assert.equal(ab.byteLength, 6);
  assert.deepEqual(Buffer.from(ab), bytes);
  assert.throws(() => loadAddon().mapFile(join(dir, "missing.bin")), /cannot open .*missing\.bin/);
});
