// Public face of src/eval: Spider training-data preparation and execution-accuracy scoring on SQLite.
export { resultSetsEqual, resultsEqual, type SqlRow, type SqlValue } from "./compare.js";
export { preparePair, removeDistinct, replaceValuePlaceholder, type ScoringMode } from "./normalize.js";
export {
  firstStatement,
  plugValueCandidates,
  pythonSqliteStatements,
  sqlparseStatements,
  sqlparseTokens,
  type PlugCandidates,
} from "./sqlparse.js";
export { executionMatch, type ExecErrorKind, type ExecMatch, type ExecMatchOptions } from "./exec-match.js";
export {
  loadSpiderSplit,
  parseSpiderSplit,
  resolveSpiderDir,
  spiderDatabasePath,
  type SpiderExample,
  type SpiderSplit,
} from "./spider.js";
export { readPredictions } from "./predictions.js";
export {
  evaluateSpider,
  prepareResultsPath,
  readResults,
  summarize,
  writeEvalSummary,
  type EvalOptions,
  type EvalResultLine,
  type EvalSummary,
  type Prediction,
  type Predictor,
} from "./evaluate.js";
export {
  benchmarkOf,
  prepareSpider,
  preparedLine,
  type PrepareDropOptions,
  type PreparedLineFormat,
  type PrepareOptions,
  type PrepareSplitReport,
  type SchemaStyle,
  type SchemaTextProvider,
  type SchemaTextRequest,
} from "./prepare.js";
export {
  describeLink,
  spiderMSchema,
  spiderSchemaText,
  sqliteDdl,
  type SchemaLinkOptions,
  type SpiderSchemaOptions,
} from "./schemas.js";
export { generatorPredictor, type GeneratorPredictorOptions, type SqlGeneratorLike } from "./model-predictor.js";
export { goldItems, parseQuery, type GoldItems, type GoldLiteral } from "./gold-items.js";
export {
  linkBench,
  parseMSchemaText,
  type LinkBenchOptions,
  type LinkBenchPrompt,
  type LinkBenchReport,
  type LinkBenchRow,
  type RecallCount,
} from "./link-bench.js";
export {
  BIRD_DIFFICULTIES,
  birdBenchmark,
  birdDatabasePath,
  loadBirdSplit,
  resolveBirdDir,
  spiderBenchmark,
  type Benchmark,
  type BenchmarkKind,
} from "./bird.js";
