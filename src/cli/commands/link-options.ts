// The question-aware prompt options shared by prepare, eval and serve: --link-budget turns schema linking on
// (0: every table and column, matched values only), --no-link-values turns value retrieval off, --value-cache names
// the folder where each database's values are kept.
import type { Argv } from "yargs";

export interface LinkArgs {
  "link-budget"?: number;
  "link-values": boolean;
  "value-cache": string;
}

export function withLinkOptions<T>(y: Argv<T>): Argv<T & LinkArgs> {
  return y
    .option("link-budget", {
      type: "number",
      describe:
        "question-aware M-Schema: linked tables/columns and the question's cell values under this many schema tokens (0: all tables, values only)",
    })
    .option("link-values", {
      type: "boolean",
      default: true,
      describe: "with --link-budget: put the cell values the question mentions into Examples (--no-link-values: off)",
    })
    .option("value-cache", {
      type: "string",
      default: "output/value-index",
      describe: "folder where each database's cell values are cached",
    })
    .check((a) => {
      const b = a["link-budget"];
      if (b !== undefined && (!Number.isInteger(b) || b < 0))
        throw new Error(`--link-budget must be a whole number of tokens >= 0, got ${b}`);
      if (b !== undefined && a["schema-style"] === "ddl")
        throw new Error("--link-budget builds M-Schema: it cannot be used with --schema-style ddl");
      return true;
    }) as unknown as Argv<T & LinkArgs>;
}

/** The link options of parsed arguments, or undefined without --link-budget. */
export function linkFromArgs(a: LinkArgs): { budget: number; values: boolean; valueCacheDir: string } | undefined {
  if (a["link-budget"] === undefined) return undefined;
  return { budget: a["link-budget"], values: a["link-values"], valueCacheDir: a["value-cache"] };
}
