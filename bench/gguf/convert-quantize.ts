// Benchmark: HF folder → Q4_K_M in one command (sqlfocus quantize <folder>: temporary GGUF in the source dtype,
// llama.cpp's quantizer, temporary deleted) against the two-step route (convert to an F16 GGUF kept on disk, then
// quantize it), on a Qwen2.5-0.5B-shaped model with random BF16 weights. Each route runs in its own child process
// so that its peak RSS is its own. Also times merge() of a rank-16 adapter on all seven projections.
//   npx tsx bench/gguf/convert-quantize.ts [--dir <work folder>] [--threads N] [--keep]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

async function child(route: string, model: string, work: string, threads: number): Promise<void> {
  const { quantize, toGGUF } = await import("../../src/gguf/index.js");
  const t0 = performance.now();
  const out: Record<string, number> = {};
  if (route === "merge") {
    const { merge } = await import("../../src/model/index.js");
    const r = await merge({ base: model, adapter: join(work, "adapter-r16"), out: join(work, "merged") });
    out.mergedModules = r.merged;
  } else if (route === "one") {
    const r = await quantize({
      input: model,
      output: join(work, "one-q4_k_m.gguf"),
      type: "Q4_K_M",
      threads,
      modelfile: false,
    });
    out.outBytes = r.bytes;
  } else {
    const f16 = join(work, "two-f16.gguf");
    await toGGUF({ model, out: f16, type: "F16" });
    out.convertSeconds = (performance.now() - t0) / 1000;
    out.f16Bytes = statSync(f16).size;
    const r = await quantize({
      input: f16,
      output: join(work, "two-q4_k_m.gguf"),
      type: "Q4_K_M",
      threads,
      modelfile: false,
    });
    out.outBytes = r.bytes;
  }
  out.seconds = (performance.now() - t0) / 1000;
  out.maxRssMB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify(out));
}

async function main() {
  const work = opt("--dir") ?? join(tmpdir(), "sqlfocus-bench-gguf");
  const threads = Number(opt("--threads") ?? availableParallelism());
  const model = join(work, "qwen2.5-0.5b-shaped");
  mkdirSync(work, { recursive: true });
  if (!existsSync(join(model, "config.json"))) {
    const { initTinyModel } = await import("../../src/model/index.js");
    const t0 = performance.now();
    // Qwen2.5-0.5B's shape: 24 layers, hidden 896, intermediate 4864, 14 heads / 2 KV heads, tied, BF16.
    await initTinyModel(model, {
      layers: 24,
      hidden: 896,
      intermediate: 4864,
      heads: 14,
      kvHeads: 2,
      tied: true,
      dtype: "bf16",
      seed: 1,
      overwrite: true,
    });
    console.error(`generated ${model} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (!existsSync(join(work, "adapter-r16", "adapter_config.json"))) {
    // A rank-16 adapter on all seven projections of every layer (B random, so every weight changes).
    const { writeAdapter } = await import("../../src/train/index.js");
    const dims: Record<string, [string, number, number]> = {
      q_proj: ["self_attn", 896, 896],
      k_proj: ["self_attn", 128, 896],
      v_proj: ["self_attn", 128, 896],
      o_proj: ["self_attn", 896, 896],
      gate_proj: ["mlp", 4864, 896],
      up_proj: ["mlp", 4864, 896],
      down_proj: ["mlp", 896, 4864],
    };
    const tensors = [];
    let seed = 1;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.02;
    for (let l = 0; l < 24; l++) {
      for (const [mod, [kind, o, i]] of Object.entries(dims)) {
        const p = `base_model.model.model.layers.${l}.${kind}.${mod}`;
        tensors.push({ name: `${p}.lora_A.weight`, shape: [16, i], data: new Float32Array(16 * i).map(rnd) });
        tensors.push({ name: `${p}.lora_B.weight`, shape: [o, 16], data: new Float32Array(o * 16).map(rnd) });
      }
    }
    await writeAdapter(
      join(work, "adapter-r16"),
      { baseModelNameOrPath: model, r: 16, loraAlpha: 32, loraDropout: 0, targetModules: Object.keys(dims) },
      tensors,
    );
  }
  const results: Record<string, Record<string, number>> = {};
  for (const route of ["two", "one", "merge"]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", self, "--child", route, model, work, String(threads)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (r.status !== 0) throw new Error(`route ${route} failed (exit ${r.status})`);
    results[route] = JSON.parse(r.stdout.trim().split("\n").pop()!);
  }
  const report = {
    machine: `${cpus()[0]?.model ?? "?"} × ${availableParallelism()} threads`,
    threads,
    twoStep: results.two,
    oneCommand: results.one,
    timeRatio: +(results.one.seconds / results.two.seconds).toFixed(3),
    rssRatio: +(results.one.maxRssMB / results.two.maxRssMB).toFixed(3),
    f16LeftOnDiskMB: +(results.two.f16Bytes / 1e6).toFixed(1),
    mergeR16AllModules: results.merge,
  };
  console.log(JSON.stringify(report, null, 2));
  if (!argv.includes("--keep")) rmSync(work, { recursive: true, force: true });
}

if (argv[0] === "--child") await child(argv[1], argv[2], argv[3], Number(argv[4]));
else await main();
