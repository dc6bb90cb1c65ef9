// Public face of src/text2sql: the one prompt builder and SQL extraction.
export { buildNl2SqlPrompt, extractSql, formatSqlAnswer, parseDialect, SQL_DIALECTS } from "./prompt.js";
export type { Nl2SqlPromptInput, SqlDialect } from "./prompt.js";
export {
  SqlGenerator,
  LlamaChatModel,
  loadSqlGenerator,
  resolveAdapter,
  UnknownAdapterError,
  PromptTooLongError,
  BASE_ADAPTER,
} from "./generate.js";
export {
  voteByExecution,
  resultSetKey,
  type CandidateOutcome,
  type VoteCandidate,
  type VotedCandidate,
  type VoteResult,
} from "./vote.js";
export type {
  SqlCandidateOptions,
  ChatModel,
  ChatTurn,
  ChatRole,
  ChatRequest,
  ChatCompletion,
  SqlGenerateInput,
  SqlGenerateOptions,
  SqlGeneration,
  LlamaChatModelOptions,
  GgufLoraAdapter,
} from "./generate.js";
export { siblingScript, startWorkerThread } from "./worker-thread.js";
