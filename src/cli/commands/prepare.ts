// `sqlfocus prepare --spider <dir>`: Spider → training JSONL (XiYan nl2sql prompt over the database schema,
// gold SQL as the answer), one file per split.
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import type cliProgress from "cli-progress";
import {
  birdBenchmark,
  parseSpiderSplit,
  prepareSpider,
  resolveBirdDir,
  resolveSpiderDir,
  spiderBenchmark,
  spiderSchemaText,
  type SpiderSplit,
} from "../../eval/index.js";
import { progressBar } from "../shared.js";
import { linkFromArgs, withLinkOptions, type LinkArgs } from "./link-options.js";

interface PrepareArgs extends LinkArgs {
  spider?: string;
  bird?: string;
  splits: string;
  "out-dir": string;
  "train-out"?: string;
  "dev-out"?: string;
  "schema-style": string;
  format: string;
  "exclude-db"?: string;
  "max-chars"?: number;
  "drop-unexecutable": boolean;
  "drop-duplicates": boolean;
  limit?: number;
  "example-values"?: number;
}

export const prepareCommand: CommandModule<object, PrepareArgs> = {
  command: "prepare",
  describe: "Turn Spider into training JSONL (XiYan nl2sql prompt + M-Schema or DDL, gold SQL answer)",
  builder: (y: Argv) =>
    withLinkOptions(y)
      .option("spider", {
        type: "string",
        describe: "Spider 1.0 folder (default $SQLFOCUS_SPIDER or ../shared/spider)",
      })
      .option("bird", {
        type: "string",
        describe:
          "prepare BIRD instead (a folder with train.json/dev.json and <split>_databases/; default $SQLFOCUS_BIRD): evidence goes into the prompt",
      })
      .conflicts("bird", "spider")
      .option("splits", {
        type: "string",
        default: "train,dev",
        describe: "splits to write: train (train_spider + train_others), dev",
      })
      .option("out-dir", { type: "string", default: "data", describe: "folder for spider_<split>.jsonl" })
      .option("train-out", { type: "string", describe: "train output path (default <out-dir>/spider_train.jsonl)" })
      .option("dev-out", { type: "string", describe: "dev output path (default <out-dir>/spider_dev.jsonl)" })
      .option("schema-style", {
        type: "string",
        choices: ["mschema", "ddl"],
        default: "mschema",
        describe: "schema text in the prompt",
      })
      .option("format", {
        type: "string",
        choices: ["messages", "fields"],
        default: "messages",
        describe: "line form: chat messages, or {question, db_schema, query, dialect}",
      })
      .option("exclude-db", { type: "string", describe: "comma-separated db_ids to leave out" })
      .option("max-chars", {
        type: "number",
        describe: "drop examples whose prompt + answer exceed this many characters",
      })
      .option("drop-unexecutable", {
        type: "boolean",
        default: false,
        describe: "drop examples whose gold SQL fails on its database",
      })
      .option("drop-duplicates", {
        type: "boolean",
        default: false,
        describe: "drop repeated (database, question, SQL) examples",
      })
      .option("limit", { type: "number", describe: "only the first N examples of each split" })
      .option("example-values", { type: "number", describe: "M-Schema: example values per column" })
      .check((a) => {
        if (a.limit !== undefined && (!Number.isInteger(a.limit) || a.limit < 1))
          throw new Error("--limit must be a positive integer");
        if (a["max-chars"] !== undefined && !(a["max-chars"] > 0))
          throw new Error("--max-chars must be a positive number");
        if (a["example-values"] !== undefined && (!Number.isInteger(a["example-values"]) || a["example-values"] < 0))
          throw new Error("--example-values must be a whole number >= 0");
        return true;
      }) as unknown as Argv<PrepareArgs>,
  handler: async (args) => {
    const bench =
      args.bird !== undefined
        ? birdBenchmark(resolveBirdDir(args.bird))
        : spiderBenchmark(resolveSpiderDir(args.spider));
    const splits = [
      ...new Set(
        args.splits
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
          .map(parseSpiderSplit),
      ),
    ];
    if (splits.length === 0) throw new Error("--splits names no split");
    const outPath = (split: SpiderSplit) =>
      (split === "train" ? args["train-out"] : args["dev-out"]) ??
      join(args["out-dir"], `${bench.kind}_${split}.jsonl`);
    let bar: cliProgress.SingleBar | null = null;
    let barSplit: SpiderSplit | null = null;
    const reports = await prepareSpider({
      benchmark: bench,
      outputs: splits.map((split) => ({ split, path: outPath(split) })),
      schemaStyle: args["schema-style"] as "mschema" | "ddl",
      format: args.format as "messages" | "fields",
      schemaText: spiderSchemaText({ exampleValues: args["example-values"], link: linkFromArgs(args) }),
      limit: args.limit,
      drop: {
        dbIds: args["exclude-db"]
          ?.split(",")
          .map((s) => s.trim())
          .filter(Boolean),
        maxChars: args["max-chars"],
        unexecutable: args["drop-unexecutable"],
        duplicates: args["drop-duplicates"],
      },
      onProgress: ({ split, done, total }) => {
        if (barSplit !== split) {
          bar?.stop();
          bar = progressBar(`prepare ${split}`, total);
          barSplit = split;
        }
        bar!.update(done);
      },
    });
    (bar as cliProgress.SingleBar | null)?.stop();
    for (const r of reports) {
      const d = r.dropped;
      const parts = [
        d.missingDb &&
          `${d.missingDb} with a missing database (${Object.entries(r.missingDbs)
            .map(([db, n]) => `${db}: ${n}`)
            .join(", ")})`,
        d.excludedDb && `${d.excludedDb} from excluded databases`,
        d.unexecutable && `${d.unexecutable} whose gold SQL fails (${r.unexecutable.map((u) => u.id).join(", ")})`,
        d.duplicate && `${d.duplicate} duplicates`,
        d.tooLong && `${d.tooLong} longer than --max-chars`,
      ].filter(Boolean);
      process.stdout.write(`${r.split}: wrote ${r.written} of ${r.examples} examples to ${r.path}\n`);
      if (parts.length) process.stdout.write(`  skipped ${parts.join("; ")}\n`);
    }
  },
};
