// `sqlfocus link --spider DIR --split dev --budget N`: schema-linking recall on Spider, no model needed. For each
// question: are the gold SQL's tables, columns and cell-value literals in the prompt, and how many schema tokens
// does it take — for the full M-Schema and for question-aware prompts (linkSchema) at each budget.
import type { Argv, CommandModule } from "yargs";
import type cliProgress from "cli-progress";
import {
  linkBench,
  parseSpiderSplit,
  prepareResultsPath,
  resolveSpiderDir,
  type LinkBenchReport,
} from "../../eval/index.js";
import { qwenTokenCounter } from "../../mschema/index.js";
import { progressBar } from "../shared.js";

interface LinkArgs {
  spider?: string;
  split: string;
  budget: number[];
  json: boolean;
  out?: string;
  limit?: number;
  "max-examples": number;
  "values-per-column": number;
  "values-limit": number;
  "value-cache": string;
}

function pct(x: number): string {
  return (100 * x).toFixed(2) + "%";
}

export function formatLinkReport(r: LinkBenchReport): string {
  const out: string[] = [];
  out.push(
    `Spider ${r.split}: ${r.measured} of ${r.questions} questions measured` +
      (r.missingDb ? `, ${r.missingDb} with a missing database` : "") +
      (r.unparsed.length
        ? `, ${r.unparsed.length} gold queries unparsed (${r.unparsed.slice(0, 5).join(", ")}${r.unparsed.length > 5 ? ", …" : ""})`
        : "") +
      `; ${r.literals.cellValues} of ${r.literals.all} gold string literals are cell values`,
  );
  const head = [
    "prompt",
    "tables",
    "columns",
    "values",
    "all found",
    "matched values",
    "schema tokens mean / median / p90 / max",
  ];
  const rows = r.rows.map((x) => [
    x.variant === "full" ? "full M-Schema" : x.budget ? `linked, budget ${x.budget}` : "linked, no budget",
    pct(x.tables.recall),
    pct(x.columns.recall),
    pct(x.values.recall),
    pct(x.allFound),
    x.matchedValues.toFixed(2),
    `${x.tokens.mean.toFixed(1)} / ${x.tokens.median} / ${x.tokens.p90} / ${x.tokens.max}` +
      (x.overBudget ? ` (${x.overBudget} over budget)` : ""),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(width[i]!) : c.padStart(width[i]!)))
      .join("  ")
      .trimEnd();
  out.push("", line(head), ...rows.map(line), "", `${(r.ms / 1000).toFixed(1)} s`);
  return out.join("\n");
}

export const linkCommand: CommandModule<object, LinkArgs> = {
  command: "link",
  describe:
    "Schema-linking recall on Spider: gold tables, columns and values in the prompt, full M-Schema vs question-aware prompts",
  builder: (y: Argv) =>
    y
      .option("spider", {
        type: "string",
        describe: "Spider 1.0 folder (default $SQLFOCUS_SPIDER or ../shared/spider)",
      })
      .option("split", { type: "string", default: "dev", describe: "dev or train" })
      .option("budget", {
        type: "number",
        array: true,
        default: [512, 1024, 2048],
        describe: "schema token budget(s) of the linked prompts (0: no budget, values only)",
      })
      .option("json", { type: "boolean", default: false, describe: "print the report as JSON" })
      .option("out", { type: "string", describe: "write each question's prompts (full and linked) to this JSONL file" })
      .option("limit", { type: "number", describe: "only the first N questions" })
      .option("max-examples", { type: "number", default: 3, describe: "sampled example values per column" })
      .option("values-per-column", { type: "number", default: 3, describe: "matched cell values shown per column" })
      .option("values-limit", { type: "number", default: 15, describe: "matched cell values shown per prompt" })
      .option("value-cache", {
        type: "string",
        default: "output/value-index",
        describe: "folder where each database's values are cached",
      })
      .check((a) => {
        if (a.budget.some((b) => !Number.isInteger(b) || b < 0))
          throw new Error("--budget must be whole numbers of tokens >= 0");
        if (a.limit !== undefined && (!Number.isInteger(a.limit) || a.limit < 1))
          throw new Error("--limit must be a positive integer");
        for (const k of ["max-examples", "values-per-column", "values-limit"] as const) {
          if (!Number.isInteger(a[k]) || a[k] < 0) throw new Error(`--${k} must be a whole number >= 0`);
        }
        return true;
      }) as unknown as Argv<LinkArgs>,
  handler: async (args) => {
    const split = parseSpiderSplit(args.split);
    const spiderDir = resolveSpiderDir(args.spider);
    if (args.out) prepareResultsPath(args.out);
    const countTokens = await qwenTokenCounter();
    let bar: cliProgress.SingleBar | null = null;
    let report: LinkBenchReport;
    try {
      report = linkBench({
        spiderDir,
        split,
        budgets: [...new Set(args.budget)],
        countTokens,
        limit: args.limit,
        maxExamples: args["max-examples"],
        valueMatch: { perColumn: args["values-per-column"], limit: args["values-limit"] },
        valueCacheDir: args["value-cache"],
        onProgress: args.json
          ? undefined
          : (done, total) => {
              bar ??= progressBar("link", total);
              bar.update(done);
            },
        out: args.out,
      });
    } finally {
      (bar as cliProgress.SingleBar | null)?.stop();
    }
    process.stdout.write(args.json ? JSON.stringify(report, null, 2) + "\n" : formatLinkReport(report) + "\n");
    if (args.out && !args.json) process.stdout.write(`prompts: ${args.out}\n`);
  },
};
