// Benchmark: Spider gold vs gold through the whole eval loop (execution, comparison, results JSONL).
// Usage: node --import tsx bench/eval/gold-vs-gold.ts [dev|train] [processes]
// Prints questions scored, EX (must be 100%) and wall time. Figures: bench/eval/README.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evaluateSpider, parseSpiderSplit, resolveSpiderDir } from "../../src/eval/index.js";

const split = parseSpiderSplit(process.argv[2] ?? "dev");
const processes = Number(process.argv[3] ?? 2);
const dir = mkdtempSync(join(tmpdir(), "sqlfocus-bench-eval-"));
try {
  const start = performance.now();
  const s = await evaluateSpider({
    spiderDir: resolveSpiderDir(),
    split,
    predict: async (e) => ({ sql: e.query }),
    predictorId: "gold",
    resultsPath: join(dir, "results.jsonl"),
    concurrency: processes,
  });
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `${split}: ${s.scored} scored (${s.skippedMissingDb} skipped), EX ${(100 * s.ex).toFixed(2)}%, ` +
      `gold errors ${s.errors.gold_error}, ${seconds.toFixed(2)} s with ${processes} SQL process(es)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
