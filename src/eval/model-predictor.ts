// A Predictor over a SQL generator (src/text2sql's SqlGenerator, or anything shaped like it): each Spider
// question is asked with its database's schema text (the same provider `prepare` uses, cached per db_id),
// dialect SQLite, so the model sees at evaluation what it saw in training.
import type { Predictor } from "./evaluate.js";
import type { Benchmark } from "./bird.js";
import { benchmarkOf, schemaTextCache, type SchemaStyle, type SchemaTextProvider } from "./prepare.js";

/** What eval needs of a generator: the text2sql SqlGenerator satisfies it. */
export interface SqlGeneratorLike {
  generate(input: {
    question: string;
    dbSchema: string;
    dialect: "SQLite";
    evidence?: string;
  }): Promise<{ sql: string }>;
  /** n sampled candidates with their mean log-probabilities (for voting; src/text2sql's SqlGenerator has it). */
  candidates?(
    input: { question: string; dbSchema: string; dialect: "SQLite"; evidence?: string },
    options: { n: number; temperature?: number; seed?: number },
  ): Promise<Array<{ sql: string; logprob?: number }>>;
}

export interface GeneratorPredictorOptions {
  /** Spider's folder (or give `benchmark`). */
  spiderDir?: string;
  benchmark?: Benchmark;
  schemaText: SchemaTextProvider;
  schemaStyle?: SchemaStyle;
  /** Also sample n candidates at a temperature for voting (Prediction.candidates); the greedy answer stays `sql`. */
  vote?: { n: number; temperature?: number; seed?: number };
}

export function generatorPredictor(generator: SqlGeneratorLike, options: GeneratorPredictorOptions): Predictor {
  const schemaFor = schemaTextCache(options.schemaText, options.schemaStyle ?? "mschema");
  const bench = benchmarkOf(options);
  return async (example) => {
    const dbSchema = await schemaFor(example.dbId, bench.databasePath(example.split, example.dbId), example.question);
    const start = performance.now();
    const input = {
      question: example.question,
      dbSchema,
      dialect: "SQLite" as const,
      ...(example.evidence ? { evidence: example.evidence } : {}),
    };
    const { sql } = await generator.generate(input);
    if (!options.vote) return { sql, ms: performance.now() - start };
    if (!generator.candidates)
      throw new Error("this generator cannot sample candidates (voting needs SqlGenerator.candidates)");
    const candidates = await generator.candidates(input, options.vote);
    return {
      sql,
      ms: performance.now() - start,
      candidates: candidates.map((c) => ({ sql: c.sql, ...(c.logprob !== undefined ? { logprob: c.logprob } : {}) })),
    };
  };
}
