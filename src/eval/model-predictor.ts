// A Predictor over a SQL generator (src/text2sql's SqlGenerator, or anything shaped like it): each Spider
// question is asked with its database's schema text (the same provider `prepare` uses, cached per db_id),
// dialect SQLite, so the model sees at evaluation what it saw in training.
import type { Predictor } from "./evaluate.js";
import { schemaTextCache, type SchemaStyle, type SchemaTextProvider } from "./prepare.js";
import { spiderDatabasePath } from "./spider.js";

/** What eval needs of a generator: the text2sql SqlGenerator satisfies it. */
export interface SqlGeneratorLike {
  generate(input: { question: string; dbSchema: string; dialect: "SQLite" }): Promise<{ sql: string }>;
}

export interface GeneratorPredictorOptions {
  spiderDir: string;
  schemaText: SchemaTextProvider;
  schemaStyle?: SchemaStyle;
}

export function generatorPredictor(generator: SqlGeneratorLike, options: GeneratorPredictorOptions): Predictor {
  const schemaFor = schemaTextCache(options.schemaText, options.schemaStyle ?? "mschema");
  return async (example) => {
    const dbSchema = await schemaFor(example.dbId, spiderDatabasePath(options.spiderDir, example.dbId), example.question);
    const start = performance.now();
    const { sql } = await generator.generate({ question: example.question, dbSchema, dialect: "SQLite" });
    return { sql, ms: performance.now() - start };
  };
}
