import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadAddon } from "../src/native/index.js";

test("addon loads and reports its build", () => {
  const info = loadAddon().buildInfo();
  assert.equal(typeof info.cuda, "boolean");
  assert.match(info.simd, /^(portable|avx2|avx512|avx512bf16)$/);
  assert.match(info.simdDetected, /^(portable|avx2|avx512|avx512bf16)$/);
});

test("SQLFOCUS_CPU forces a lower SIMD level at run time; an unknown level is a clear training error", () => {
  const levels = ["portable", "avx2", "avx512", "avx512bf16"];
  const detected = loadAddon().buildInfo().simdDetected;
  const script = "import { loadAddon } from './src/native/index.ts'; console.log(loadAddon().buildInfo().simd)";
  for (const want of ["portable", "avx2", "avx512bf16"]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, SQLFOCUS_CPU: want },
    });
    assert.equal(r.status, 0, r.stderr);
    const expect = levels[Math.min(levels.indexOf(want), levels.indexOf(detected))];
    assert.equal(r.stdout.trim(), expect);
  }
  const make = [
    "import { createNativeTrainer } from './src/train/native.ts';",
    "import { engineWeights, TINY_CONFIG, tinyWeightsF32 } from './test/parity/tiny-model.ts';",
    "try { createNativeTrainer({ config: TINY_CONFIG, weights: engineWeights(TINY_CONFIG, tinyWeightsF32(), 'F32'), lora: { rank: 2, alpha: 4, dropout: 0 }, maxBatch: 1, maxSeqLen: 4 }); console.log('created') }",
    "catch (e) { console.log(String(e.message)) }",
  ].join("\n");
  const bad = spawnSync(process.execPath, ["--import", "tsx", "-e", make], {
    encoding: "utf8",
    env: { ...process.env, SQLFOCUS_CPU: "avx9000" },
  });
  assert.equal(bad.status, 0, bad.stderr);
  assert.match(bad.stdout, /SQLFOCUS_CPU=avx9000 is not one of auto, portable, avx2, avx512, avx512bf16/);
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

test("mapFile maps a window of a file at any offset, and refuses windows past the end", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-map-"));
  const path = join(dir, "big.bin");
  const bytes = Buffer.alloc(3 * 4096 + 17);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
  writeFileSync(path, bytes);
  const addon = loadAddon();
  // unaligned offset inside the second page
  const ab = addon.mapFile(path, 4096 + 5, 8000);
  assert.equal(ab.byteLength, 8000);
  assert.deepEqual(Buffer.from(ab), bytes.subarray(4096 + 5, 4096 + 5 + 8000));
  // offset alone: to the end of the file
  assert.deepEqual(Buffer.from(addon.mapFile(path, 100)), bytes.subarray(100));
  assert.throws(() => addon.mapFile(path, bytes.length + 1), /past the end/);
  assert.throws(() => addon.mapFile(path, 10, bytes.length), /past the end/);
  assert.throws(() => addon.mapFile(path, -1), /non-negative integer/);
});

test("mapFile refuses a window over 4 GiB with a clear error instead of crashing", () => {
  const dir = mkdtempSync(join(tmpdir(), "sqlfocus-map-"));
  const path = join(dir, "sparse.bin");
  writeFileSync(path, "");
  // a sparse 5 GiB file costs no disk
  truncateSync(path, 5 * 1024 ** 3);
  assert.throws(
    () => loadAddon().mapFile(path),
    (e: Error) => e instanceof RangeError && /at most 4 GiB/.test(e.message),
  );
  const tail = loadAddon().mapFile(path, 5 * 1024 ** 3 - 4096, 4096);
  assert.equal(tail.byteLength, 4096);
});
