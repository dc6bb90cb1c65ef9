// A Predictor over a SQL generator (src/text2sql's SqlGenerator, or anything shaped like it): each Spider
// question is asked with its database's schema text (the same provider `prepare` uses, cached per db_id),
// dialect SQLite, so the model sees at evaluation what it saw in training.
import type { Predictor } from "./evaluate.js";
import type { Benchmark } from "./bird.js";
import { benchmarkOf, schemaTextCache, type SchemaStyle, type SchemaTextProvider } from "./prepare.js";

/** What eval needs of a generator: the text2sql SqlGenerator satisfies it. */
export interface SqlGeneratorLike {
  generate(input: { question: string; dbSchema: string; dialect: "SQLite"; evidence?: string }): Promise<{ sql: string }>;
}

export interface GeneratorPredictorOptions {
  /** Spider's folder (or give `benchmark`). */
  spiderDir?: string;
  benchmark?: Benchmark;
  schemaText: SchemaTextProvider;
  schemaStyle?: SchemaStyle;
}

export function generatorPredictor(generator: SqlGeneratorLike, options: GeneratorPredictorOptions): Predictor {
  const schemaFor = schemaTextCache(options.schemaText, options.schemaStyle ?? "mschema");
  const bench = benchmarkOf(options);
  return async (example) => {
    const dbSchema = await schemaFor(example.dbId, bench.databasePath(example.split, example.dbId), example.question);
    const start = performance.now();
    const { sql } = await generator.generate({ question: example.question, dbSchema, dialect: "SQLite", ...(example.evidence ? { evidence: example.evidence } : {}) });
    return { sql, ms: performance.now() - start };
  };
}
