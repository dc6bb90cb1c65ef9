// Training data: JSONL lines in the three forms users bring, turned into chat conversations, rendered through
// the model's chat template, tokenized, masked (labels -100 on everything but the assistant's answers and their
// end-of-turn token), truncated to max_seq_length; and collate(), which right-pads examples into a batch.
//
// Line forms (one JSON object per line; blank lines are skipped):
//   {"instruction", "input"?, "output", "system"?}             → [system?], user: instruction + "\n" + input, assistant: output
//   {"messages": [{"role": "system"|"user"|"assistant", "content"}, …]}   → loss on every assistant turn
//   {"question", "db_schema", "query", "dialect"?, "evidence"?} → user: buildNl2SqlPrompt(…), assistant: formatSqlAnswer(query)
// The third form uses src/text2sql's builder, the same one the server asks the model with.
import { readFileSync } from "node:fs";
import { buildNl2SqlPrompt, formatSqlAnswer, parseDialect } from "../text2sql/index.js";
import { labelTokenCount, type CollatedBatch, type TrainExample } from "./loop.js";

export type ChatRole = "system" | "user" | "assistant";
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** What the loader needs of a tokenizer (src/model's loadTokenizer result is adapted to this). */
export interface DataTokenizer {
  /** The conversation rendered as text by the model's chat template. */
  renderChat(messages: ChatMessage[], addGenerationPrompt: boolean): string;
  /** Token ids of text; special-token strings in it (<|im_end|>, …) become their ids; nothing is added. */
  encode(text: string): ArrayLike<number>;
  /** End of turn (Qwen: <|im_end|>), taught after every answer. */
  eosToken: string;
  eosTokenId: number;
  /** Right padding (Qwen: <|endoftext|>). */
  padTokenId: number;
}

/** A line form, as reported in the load statistics. */
export type LineForm = "instruction" | "messages" | "nl2sql";

/** A bad line: names the file, the 1-based line number and the field. */
export class DataFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string | null,
    message: string,
  ) {
    super(`${file}:${line}: ${field ? `field ${JSON.stringify(field)}: ` : ""}${message}`);
    this.name = "DataFormatError";
  }
}

export interface ParsedLine {
  line: number;
  form: LineForm;
  messages: ChatMessage[];
}

const ROLES: readonly ChatRole[] = ["system", "user", "assistant"];

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

/** One JSONL record → a conversation. Throws DataFormatError naming the field. */
export function lineToMessages(record: unknown, file: string, line: number): ParsedLine {
  const bad = (field: string | null, msg: string): never => {
    throw new DataFormatError(file, line, field, msg);
  };
  if (record === null || typeof record !== "object" || Array.isArray(record))
    bad(null, `expected a JSON object, got ${describe(record)}`);
  const r = record as Record<string, unknown>;
  const text = (field: string, optional = false): string | undefined => {
    const v = r[field];
    if (v === undefined || v === null) {
      if (optional) return undefined;
      return bad(field, "missing (a string is required)");
    }
    if (typeof v !== "string") return bad(field, `must be a string, got ${describe(v)}`);
    return v;
  };
  if ("messages" in r) {
    const list = r.messages;
    if (!Array.isArray(list)) return bad("messages", `must be an array of {role, content}, got ${describe(list)}`);
    if (list.length === 0) bad("messages", "is empty");
    const messages: ChatMessage[] = list.map((m, i) => {
      const f = `messages[${i}]`;
      if (m === null || typeof m !== "object" || Array.isArray(m))
        return bad(f, `must be an object {role, content}, got ${describe(m)}`);
      const { role, content } = m as Record<string, unknown>;
      if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role))
        return bad(`${f}.role`, `must be one of ${ROLES.join(", ")}, got ${describe(role)}`);
      if (typeof content !== "string") return bad(`${f}.content`, `must be a string, got ${describe(content)}`);
      return { role: role as ChatRole, content };
    });
    messages.forEach((m, i) => {
      if (m.role === "system" && i !== 0) bad(`messages[${i}].role`, "a system message may only come first");
    });
    const firstTurn = messages.findIndex((m) => m.role !== "system");
    if (firstTurn < 0 || messages[firstTurn].role !== "user")
      bad(
        `messages[${Math.max(firstTurn, 0)}].role`,
        "the conversation must start with a user message (after an optional system message)",
      );
    if (!messages.some((m) => m.role === "assistant")) bad("messages", "has no assistant message (nothing to learn)");
    return { line, form: "messages", messages };
  }
  if ("question" in r || "query" in r || "db_schema" in r) {
    const question = text("question")!;
    const dbSchema = text("db_schema")!;
    const query = text("query")!;
    const dialectName = text("dialect", true);
    const evidence = text("evidence", true);
    let dialect;
    if (dialectName !== undefined) {
      try {
        dialect = parseDialect(dialectName);
      } catch (err) {
        bad("dialect", (err as Error).message);
      }
    }
    if (query.trim() === "") bad("query", "is empty");
    return {
      line,
      form: "nl2sql",
      messages: [
        { role: "user", content: buildNl2SqlPrompt({ question, dbSchema, dialect, evidence }) },
        { role: "assistant", content: formatSqlAnswer(query) },
      ],
    };
  }
  if ("instruction" in r || "output" in r) {
    const instruction = text("instruction")!;
    const input = text("input", true) ?? "";
    const output = text("output")!;
    const system = text("system", true);
    const user = input.trim() === "" ? instruction : instruction.trim() === "" ? input : `${instruction}\n${input}`;
    const messages: ChatMessage[] = [];
    if (system !== undefined && system !== "") messages.push({ role: "system", content: system });
    messages.push({ role: "user", content: user }, { role: "assistant", content: output });
    return { line, form: "instruction", messages };
  }
  const keys = Object.keys(r);
  return bad(
    null,
    `unknown line form (keys: ${keys.length ? keys.join(", ") : "none"}); expected {"instruction","input","output"}, {"messages":[…]} or {"question","db_schema","query"}`,
  );
}

/** Reads a JSONL file into conversations; the first bad line throws (file:line: field: problem). */
export function readConversations(file: string): ParsedLine[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(
      e.code === "ENOENT" ? `${file}: training data file not found` : `${file}: cannot read (${e.message})`,
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: ParsedLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, "");
    if (raw.trim() === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (err) {
      throw new DataFormatError(file, i + 1, null, `invalid JSON (${(err as Error).message})`);
    }
    out.push(lineToMessages(record, file, i + 1));
  }
  if (out.length === 0) throw new Error(`${file}: no examples (the file is empty)`);
  return out;
}

/**
 * A conversation → token ids and labels. The whole conversation is rendered by the chat template once; each
 * assistant answer is located in that text (when its text occurs more than once, after the template's generation
 * prompt for that turn), and its tokens plus
 * the end-of-turn token that follows carry the loss. Text after the last answer (the template's trailing newline)
 * is dropped: it carries no loss. If the template does not close an answer with the EOS token, it is appended.
 */
export function encodeConversation(tok: DataTokenizer, messages: ChatMessage[]): TrainExample {
  const full = tok.renderChat(messages, false);
  const ids: number[] = [];
  const labels: number[] = [];
  const push = (text: string, learn: boolean) => {
    if (text === "") return;
    const enc = tok.encode(text);
    for (let i = 0; i < enc.length; i++) {
      ids.push(enc[i]);
      labels.push(learn ? enc[i] : -100);
    }
  };
  let cursor = 0;
  for (let i = 0; i < messages.length; i++) {
    if (messages[i].role !== "assistant") continue;
    const content = messages[i].content;
    let start = full.indexOf(content, cursor);
    if (start >= 0 && full.indexOf(content, start + 1) >= 0) {
      // The answer's text occurs more than once (e.g. also in the question): look after the template's
      // generation prompt for this turn.
      const prefix = tok.renderChat(messages.slice(0, i), true);
      start = full.indexOf(content, full.startsWith(prefix) ? Math.max(cursor, prefix.length) : cursor);
    }
    if (start < 0)
      throw new Error(
        `the chat template does not render assistant message ${i} verbatim; cannot find the answer tokens`,
      );
    push(full.slice(cursor, start), false);
    push(content, true);
    let end = start + content.length;
    if (full.startsWith(tok.eosToken, end)) {
      push(tok.eosToken, true);
      end += tok.eosToken.length;
    } else {
      ids.push(tok.eosTokenId);
      labels.push(tok.eosTokenId);
    }
    cursor = end;
  }
  return { inputIds: Int32Array.from(ids), labels: Int32Array.from(labels) };
}

export interface LoadStats {
  file: string;
  /** Examples kept. */
  examples: number;
  /** Examples longer than max_seq_length, cut to it. */
  truncated: number;
  /** Examples left with no answer token after truncation (dropped: they teach nothing). */
  droppedNoAnswer: number;
  forms: Record<LineForm, number>;
  /** Tokens of the kept examples, and those that carry a loss. */
  tokens: number;
  labelTokens: number;
  maxLength: number;
}

export interface LoadedData {
  examples: TrainExample[];
  stats: LoadStats;
}

/** Loads, tokenizes and truncates a JSONL file. */
export function loadTrainingData(file: string, tok: DataTokenizer, maxSeqLength: number): LoadedData {
  if (!Number.isInteger(maxSeqLength) || maxSeqLength < 2)
    throw new Error(`max_seq_length must be an integer ≥ 2, got ${maxSeqLength}`);
  const parsed = readConversations(file);
  const stats: LoadStats = {
    file,
    examples: 0,
    truncated: 0,
    droppedNoAnswer: 0,
    forms: { instruction: 0, messages: 0, nl2sql: 0 },
    tokens: 0,
    labelTokens: 0,
    maxLength: 0,
  };
  const examples: TrainExample[] = [];
  for (const p of parsed) {
    let ex: TrainExample;
    try {
      ex = encodeConversation(tok, p.messages);
    } catch (err) {
      throw new DataFormatError(file, p.line, null, (err as Error).message);
    }
    if (ex.inputIds.length > maxSeqLength) {
      stats.truncated++;
      ex = { inputIds: ex.inputIds.slice(0, maxSeqLength), labels: ex.labels.slice(0, maxSeqLength) };
    }
    const n = labelTokenCount(ex.labels);
    if (n === 0) {
      stats.droppedNoAnswer++;
      continue;
    }
    stats.forms[p.form]++;
    stats.tokens += ex.inputIds.length;
    stats.labelTokens += n;
    stats.maxLength = Math.max(stats.maxLength, ex.inputIds.length);
    examples.push(ex);
  }
  stats.examples = examples.length;
  if (examples.length === 0) {
    throw new Error(
      `${file}: no usable examples: all ${parsed.length} lost their answer when truncated to max_seq_length ${maxSeqLength}; raise --max_seq_length`,
    );
  }
  return { examples, stats };
}

/** One line saying what was loaded (and what was cut). */
export function formatLoadStats(s: LoadStats, maxSeqLength: number): string {
  const forms = Object.entries(s.forms)
    .filter(([, n]) => n > 0)
    .map(([f, n]) => `${n} ${f}`)
    .join(", ");
  let text = `${s.file}: ${s.examples} examples (${forms}), ${s.tokens} tokens (${s.labelTokens} answer tokens), longest ${s.maxLength}`;
  if (s.truncated) text += `; ${s.truncated} truncated to max_seq_length ${maxSeqLength}`;
  if (s.droppedNoAnswer)
    text += `; ${s.droppedNoAnswer} dropped (no answer token left after truncation: raise --max_seq_length to keep them)`;
  return text;
}

/** Right-pads examples into one row-major [batch, seqLen] batch: pad id in inputs, -100 in labels. */
export function collate(examples: readonly TrainExample[], padTokenId: number): CollatedBatch {
  if (examples.length === 0) throw new Error("collate: no examples");
  let seqLen = 0;
  for (const e of examples) {
    if (e.inputIds.length !== e.labels.length)
      throw new Error(`collate: inputIds (${e.inputIds.length}) and labels (${e.labels.length}) differ in length`);
    seqLen = Math.max(seqLen, e.inputIds.length);
  }
  const inputIds = new Int32Array(examples.length * seqLen).fill(padTokenId);
  const labels = new Int32Array(examples.length * seqLen).fill(-100);
  let inputTokens = 0;
  let labelTokens = 0;
  examples.forEach((e, i) => {
    inputIds.set(e.inputIds, i * seqLen);
    labels.set(e.labels, i * seqLen);
    inputTokens += e.inputIds.length;
    labelTokens += labelTokenCount(e.labels);
  });
  return { inputIds, labels, batch: examples.length, seqLen, inputTokens, labelTokens };
}
