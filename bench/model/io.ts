// Timings of src/model's file work on the tiny model: init-tiny, opening + widening every tensor to F32
// (memory-mapped and without the addon), and a streamed sharded re-save.
// Run: npx tsx bench/model/io.ts   (figures in bench/model/README.md)
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fromFloat32, initTinyModel, openModel, toFloat32, writeSafetensorsModel } from "../../src/model/index.js";
import { setSafetensorsMappingDisabled } from "../../src/model/safetensors.js";

const dir = mkdtempSync(join(tmpdir(), "sqlfocus-bench-model-"));
const time = async <T>(label: string, fn: () => Promise<T> | T): Promise<T> => {
  const t0 = performance.now();
  const r = await fn();
  console.log(`${label.padEnd(48)} ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return r;
};
try {
  console.log(`${cpus().length} × ${cpus()[0]?.model}, node ${process.version}`);
  const tiny = join(dir, "tiny");
  const info = await time("init-tiny (bf16, 80.9M params, 154 MiB)", () => initTinyModel(tiny));
  for (const mapped of [true, false]) {
    setSafetensorsMappingDisabled(!mapped);
    await time(`open + all tensors → F32 (${mapped ? "mapped" : "read, no addon"})`, () => {
      const m = openModel(tiny);
      let n = 0;
      for (const name of m.tensorNames) n += toFloat32(m.tensor(name)).length;
      if (n !== info.parameters) throw new Error("count mismatch");
    });
  }
  setSafetensorsMappingDisabled(false);
  const m = openModel(tiny);
  await time("re-save as F32, 100 MB shards (streamed, 309 MiB)", () =>
    writeSafetensorsModel(
      join(dir, "f32"),
      m.tensorNames.map((name) => {
        const i = m.info(name);
        return {
          name,
          dtype: "F32" as const,
          shape: i.shape,
          data: () => fromFloat32(toFloat32(m.tensor(name)), "F32"),
        };
      }),
      { maxShardSize: 100_000_000 },
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
