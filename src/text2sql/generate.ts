// Text-to-SQL generation over a chat model. `SqlGenerator` asks the model through the one prompt builder
// (buildNl2SqlPrompt) and extracts the SQL from the reply; it works over any `ChatModel`, and
// `LlamaChatModel` is the real one: node-llama-cpp on a GGUF, one loaded model, one context per LoRA
// adapter (plus the base), each with N sequences so that N requests run in parallel as one batch.
import type {
  ChatHistoryItem,
  ChatWrapper,
  Llama,
  LlamaChat,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
} from "node-llama-cpp";
import { availableParallelism } from "node:os";
import { buildNl2SqlPrompt, extractSql, type SqlDialect } from "./prompt.js";
import { maxTokenBytes, PromptGuard } from "./prompt-guard.js";

export type ChatRole = "system" | "user" | "assistant";

export interface ChatTurn {
  role: ChatRole;
  content: string;
}

export interface ChatRequest {
  messages: ChatTurn[];
  /** Most tokens generated. Default 512. */
  maxTokens?: number;
  /** 0 (default) is greedy decoding. */
  temperature?: number;
  topP?: number;
  topK?: number;
  /** Sampling seed (only with temperature > 0). */
  seed?: number;
  /** Extra stop strings. */
  stop?: string[];
  /** Name of a loaded LoRA adapter; undefined means the first adapter if any, "base" means none. */
  adapter?: string;
  signal?: AbortSignal;
  /** Called with each piece of reply text as it is generated (streaming). */
  onText?: (text: string) => void;
  /** Also measure the reply's mean token log-probability under the model (ChatCompletion.logprob). */
  logprobs?: boolean;
}

export interface ChatCompletion {
  text: string;
  finishReason: "stop" | "length" | "abort";
  promptTokens: number;
  completionTokens: number;
  /** Wall time of this generation (queueing for a sequence included), milliseconds. */
  ms: number;
  /** The adapter that generated it ("base" for none). */
  adapter: string;
  /** Mean natural-log probability of the reply's tokens given the prompt (with request.logprobs). */
  logprob?: number;
}

/** What the server and SqlGenerator need of a model. */
export interface ChatModel {
  /** Model id shown in /v1/models (the GGUF's file name by default). */
  readonly id: string;
  /** Names of the loaded LoRA adapters (empty: base model only). */
  readonly adapters: readonly string[];
  /** How many requests can generate at once (the sequences of one context). */
  readonly parallelism: number;
  complete(request: ChatRequest): Promise<ChatCompletion>;
  /** Sequences in use / total, summed over contexts (for /health and leak checks). */
  sequences(): { inUse: number; total: number };
  /** Releases the model (idempotent). */
  dispose(): Promise<void>;
}

export const BASE_ADAPTER = "base";

/** The prompt plus the reply budget does not fit a sequence's context. */
export class PromptTooLongError extends Error {
  constructor(
    readonly promptTokens: number,
    readonly maxTokens: number,
    readonly contextSize: number,
    /** promptTokens is a lower bound (the prompt was refused by its size, before being tokenised). */
    readonly atLeast = false,
  ) {
    super(
      `prompt is ${atLeast ? "at least " : ""}${promptTokens} tokens; with max_tokens ${maxTokens} it does not fit the context of ${contextSize} tokens`,
    );
    this.name = "PromptTooLongError";
  }
}

export class UnknownAdapterError extends Error {
  constructor(name: string, known: readonly string[]) {
    super(`unknown adapter '${name}' (loaded: ${[BASE_ADAPTER, ...known].join(", ")})`);
    this.name = "UnknownAdapterError";
  }
}

/** Resolves a requested adapter name against the loaded ones. */
export function resolveAdapter(requested: string | undefined, loaded: readonly string[]): string {
  if (requested === undefined || requested === "") return loaded[0] ?? BASE_ADAPTER;
  if (requested === BASE_ADAPTER || loaded.includes(requested)) return requested;
  throw new UnknownAdapterError(requested, loaded);
}

// ---------------------------------------------------------------------------------------------------
// SqlGenerator

export interface SqlGenerateInput {
  question: string;
  dbSchema: string;
  dialect?: SqlDialect;
  evidence?: string;
}

export interface SqlGenerateOptions {
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  adapter?: string;
  signal?: AbortSignal;
}

export interface SqlCandidateOptions extends SqlGenerateOptions {
  /** Candidates sampled (default 5). */
  n?: number;
}

export interface SqlGeneration {
  sql: string;
  /** The model's whole reply. */
  reply: string;
  /** The user prompt the model was asked (XiYan's nl2sql template). */
  prompt: string;
  dialect: SqlDialect;
  finishReason: ChatCompletion["finishReason"];
  promptTokens: number;
  completionTokens: number;
  ms: number;
  adapter: string;
  /** Mean token log-probability of the reply (candidates only). */
  logprob?: number;
}

/** Asks a chat model for SQL exactly as the model was taught (src/text2sql/prompt.ts) and extracts it. */
export class SqlGenerator {
  constructor(
    readonly model: ChatModel,
    private readonly defaults: SqlGenerateOptions = {},
  ) {}

  /** The chat messages for one question: a single user turn with XiYan's nl2sql prompt. */
  static messages(input: SqlGenerateInput): ChatTurn[] {
    return [{ role: "user", content: buildNl2SqlPrompt(input) }];
  }

  async generate(input: SqlGenerateInput, options: SqlGenerateOptions = {}): Promise<SqlGeneration> {
    const dialect = input.dialect ?? "SQLite";
    const messages = SqlGenerator.messages({ ...input, dialect });
    const o = { ...this.defaults, ...options };
    const out = await this.model.complete({
      messages,
      maxTokens: o.maxTokens,
      temperature: o.temperature,
      seed: o.seed,
      adapter: o.adapter,
      signal: o.signal,
    });
    return {
      sql: extractSql(out.text),
      reply: out.text,
      prompt: messages[0]!.content,
      dialect,
      finishReason: out.finishReason,
      promptTokens: out.promptTokens,
      completionTokens: out.completionTokens,
      ms: out.ms,
      adapter: out.adapter,
    };
  }

  /**
   * n candidates sampled at `temperature` (default 0.7), seeds seed, seed+1, … (default 1, 2, …), each with its
   * reply's mean token log-probability, generated one after another (one sequence at a time).
   */
  async candidates(input: SqlGenerateInput, options: SqlCandidateOptions = {}): Promise<SqlGeneration[]> {
    const n = options.n ?? 5;
    if (!Number.isInteger(n) || n < 1) throw new Error(`n must be a positive whole number, got ${n}`);
    const dialect = input.dialect ?? "SQLite";
    const messages = SqlGenerator.messages({ ...input, dialect });
    const o = { ...this.defaults, ...options };
    const temperature = options.temperature ?? 0.7;
    const base = o.seed ?? 1;
    const out: SqlGeneration[] = [];
    for (let i = 0; i < n; i++) {
      const c = await this.model.complete({
        messages,
        maxTokens: o.maxTokens,
        temperature,
        seed: base + i,
        adapter: o.adapter,
        signal: o.signal,
        logprobs: true,
      });
      out.push({
        sql: extractSql(c.text),
        reply: c.text,
        prompt: messages[0]!.content,
        dialect,
        finishReason: c.finishReason,
        promptTokens: c.promptTokens,
        completionTokens: c.completionTokens,
        ms: c.ms,
        adapter: c.adapter,
        ...(c.logprob !== undefined ? { logprob: c.logprob } : {}),
      });
    }
    return out;
  }

  /** Releases the model (idempotent); `await using generator = …` does it at the end of the block. */
  dispose(): Promise<void> {
    return this.model.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated the same as dispose(). */
  close(): Promise<void> {
    return this.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------
// LlamaChatModel: node-llama-cpp

export interface GgufLoraAdapter {
  /** Name a request uses to pick it (default: the file name without .gguf). */
  name?: string;
  /** GGUF LoRA adapter file. */
  path: string;
  /** Default 1. */
  scale?: number;
}

export interface LlamaChatModelOptions {
  /** GGUF model file. */
  modelPath: string;
  lora?: GgufLoraAdapter[];
  /** Parallel sequences per context (requests generated together in one batch). Default 4. */
  sequences?: number;
  /** Tokens each sequence can hold (prompt + reply). Default min(4096, the model's training context). */
  contextSize?: number;
  /** CPU threads for evaluation (0: all). Default node-llama-cpp's choice. */
  threads?: number;
  /** "auto" uses a GPU when node-llama-cpp finds one; default false (CPU). */
  gpu?: false | "auto" | "cuda" | "vulkan" | "metal";
  /**
   * "jinja" (default): the chat template stored in the GGUF, rendered as the model was trained with;
   * "auto": node-llama-cpp's resolution (may pick a specialised wrapper).
   */
  chatWrapper?: "jinja" | "auto";
  /** Model id (default the GGUF's file name without extension). */
  id?: string;
  /** Default max tokens per reply. Default 512. */
  maxTokens?: number;
}

interface SequencePool {
  context: LlamaContext;
  free: LlamaContextSequence[];
  waiters: ((s: LlamaContextSequence) => void)[];
  total: number;
}

function baseName(path: string): string {
  const file = path.replace(/\\/g, "/").split("/").pop() ?? path;
  return file.replace(/\.gguf$/i, "");
}

let llamaInstance: Promise<Llama> | undefined;
let llamaGpu: string | undefined;

/** One node-llama-cpp runtime per process (prebuilt binaries only; never builds or downloads). */
async function getRuntime(gpu: LlamaChatModelOptions["gpu"]): Promise<Llama> {
  const key = String(gpu ?? false);
  if (llamaInstance && llamaGpu === key) return llamaInstance;
  if (llamaInstance)
    throw new Error(
      `node-llama-cpp runtime already loaded with gpu=${llamaGpu}; cannot switch to gpu=${key} in one process`,
    );
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  llamaGpu = key;
  llamaInstance = getLlama({
    gpu: (gpu ?? false) as false,
    build: "never",
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  }).then((llama) => {
    // node-llama-cpp's CPU default is max(4, math cores): on a 1-3 core machine that runs more spinning
    // threads than cores, and generation gets 10-100x slower. Never default to more threads than CPUs.
    if (llama.gpu === false && llama.maxThreads > availableParallelism()) llama.maxThreads = availableParallelism();
    return llama;
  });
  return llamaInstance;
}

export class LlamaChatModel implements ChatModel {
  readonly id: string;
  readonly adapters: readonly string[];
  readonly parallelism: number;
  private closed = false;

  private constructor(
    private readonly model: LlamaModel,
    private readonly chatWrapper: ChatWrapper,
    private readonly pools: Map<string, SequencePool>,
    adapters: string[],
    parallelism: number,
    id: string,
    private readonly defaultMaxTokens: number,
    private readonly llamaChat: typeof LlamaChat,
  ) {
    this.adapters = adapters;
    this.parallelism = parallelism;
    this.id = id;
  }

  static async load(options: LlamaChatModelOptions): Promise<LlamaChatModel> {
    const sequences = options.sequences ?? 4;
    if (!Number.isInteger(sequences) || sequences < 1)
      throw new Error(`sequences must be a positive integer (got ${sequences})`);
    const names: string[] = [];
    for (const a of options.lora ?? []) {
      const name = a.name ?? baseName(a.path);
      if (name === BASE_ADAPTER)
        throw new Error(`adapter name '${BASE_ADAPTER}' is reserved for the model without adapter (${a.path})`);
      if (names.includes(name)) throw new Error(`two adapters named '${name}'; name them with name=path`);
      names.push(name);
    }
    const { resolveChatWrapper, JinjaTemplateChatWrapper, LlamaChat } = await import("node-llama-cpp");
    const llama = await getRuntime(options.gpu);
    let model: Awaited<ReturnType<typeof llama.loadModel>>;
    try {
      model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpu ? "auto" : 0 });
    } catch (err) {
      // node-llama-cpp says only "Failed to load model": name the file (truncated or not a llama.cpp GGUF model).
      throw new Error(`${options.modelPath}: ${(err as Error).message} (is it a complete GGUF model file?)`);
    }
    try {
      const contextSize = options.contextSize ?? Math.min(4096, model.trainContextSize || 4096);
      const pools = new Map<string, SequencePool>();
      const makePool = async (lora?: GgufLoraAdapter): Promise<SequencePool> => {
        const context = await model.createContext({
          sequences,
          contextSize,
          threads: options.threads,
          lora: lora ? { adapters: [{ filePath: lora.path, scale: lora.scale ?? 1 }] } : undefined,
        });
        const free: LlamaContextSequence[] = [];
        for (let i = 0; i < sequences; i++) free.push(context.getSequence());
        return { context, free, waiters: [], total: sequences };
      };
      // The base context is only made when no adapter is loaded or on first use of "base" (saves memory).
      if (names.length === 0) pools.set(BASE_ADAPTER, await makePool());
      for (let i = 0; i < names.length; i++) pools.set(names[i]!, await makePool(options.lora![i]));
      let chatWrapper: ChatWrapper | null = null;
      const template = model.fileInfo.metadata?.tokenizer?.chat_template;
      if ((options.chatWrapper ?? "jinja") === "jinja" && typeof template === "string" && template.length > 0) {
        chatWrapper = new JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer });
      }
      chatWrapper ??= resolveChatWrapper(model);
      if (!chatWrapper)
        throw new Error(`${options.modelPath}: no chat template in the GGUF and none could be resolved`);
      const m = new LlamaChatModel(
        model,
        chatWrapper,
        pools,
        names,
        sequences,
        options.id ?? baseName(options.modelPath),
        options.maxTokens ?? 512,
        LlamaChat,
      );
      m.lazyBase = names.length > 0 ? () => makePool() : undefined;
      m.promptGuard = new PromptGuard(options.modelPath, maxTokenBytes(model.fileInfo.metadata));
      return m;
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  /** CPU threads a generation uses when it runs alone (the --threads option, or at most the machine's CPUs). */
  get threads(): number {
    const pool = this.pools.values().next().value as SequencePool | undefined;
    return pool?.context.idealThreads ?? 0;
  }

  private lazyBase?: () => Promise<SequencePool>;
  private promptGuard?: PromptGuard;
  private basePool?: Promise<SequencePool>;

  private async pool(adapter: string): Promise<SequencePool> {
    const p = this.pools.get(adapter);
    if (p) return p;
    if (adapter === BASE_ADAPTER && this.lazyBase) {
      this.basePool ??= this.lazyBase().then((pool) => {
        this.pools.set(BASE_ADAPTER, pool);
        return pool;
      });
      return this.basePool;
    }
    throw new UnknownAdapterError(adapter, this.adapters);
  }

  private acquire(pool: SequencePool): Promise<LlamaContextSequence> {
    const s = pool.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => pool.waiters.push(resolve));
  }

  private release(pool: SequencePool, s: LlamaContextSequence): void {
    const next = pool.waiters.shift();
    if (next) next(s);
    else pool.free.push(s);
  }

  sequences(): { inUse: number; total: number } {
    let inUse = 0;
    let total = 0;
    for (const p of this.pools.values()) {
      total += p.total;
      inUse += p.total - p.free.length;
    }
    return { inUse, total };
  }

  /** Tokens of a text (no special tokens), for benchmarks and callers that budget prompts. */
  countTokens(text: string): number {
    return this.model.tokenize(text).length;
  }

  private history(messages: ChatTurn[]): ChatHistoryItem[] {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === "assistant" ? { type: "model", response: [m.content] } : { type: m.role, text: m.content },
    );
    // LlamaChat generates the reply to the history's last (empty) model turn.
    history.push({ type: "model", response: [] });
    return history;
  }

  /** The exact text the model sees for these messages (chat template applied) and its token count. */
  renderPrompt(messages: ChatTurn[]): { text: string; tokens: number } {
    const state = this.chatWrapper.generateContextState({ chatHistory: this.history(messages) });
    return { text: state.contextText.toString(), tokens: state.contextText.tokenize(this.model.tokenizer).length };
  }

  /** Tokens a sequence holds (prompt + reply). */
  get contextSize(): number {
    const first = this.pools.values().next().value as SequencePool;
    return first.context.contextSize;
  }

  async complete(request: ChatRequest): Promise<ChatCompletion> {
    if (this.closed) throw new Error("model is closed");
    const start = performance.now();
    const adapter = resolveAdapter(request.adapter, this.adapters);
    const maxTokens = request.maxTokens ?? this.defaultMaxTokens;
    if (this.promptGuard) {
      // A prompt that cannot fit is refused before the main thread tokenises it (prompt-guard.ts). The template adds
      // tokens around the messages, so their count alone (less a token lost at each seam) is a lower bound.
      const seams = request.messages.length;
      const v = await this.promptGuard.measure(
        request.messages.map((m) => m.content).join("\n"),
        this.contextSize - maxTokens + seams,
      );
      if (v.tokens !== undefined && v.tokens - seams + maxTokens > this.contextSize)
        throw new PromptTooLongError(v.tokens, maxTokens, this.contextSize, true);
    }
    const history = this.history(request.messages);
    const pool = await this.pool(adapter);
    const sequence = await this.acquire(pool);
    const chat = new this.llamaChat({
      contextSequence: sequence,
      chatWrapper: this.chatWrapper,
      autoDisposeSequence: false,
    });
    try {
      const temperature = request.temperature ?? 0;
      let completionTokens = 0;
      // A prompt that does not fit (with max_tokens) is refused rather than cut by a context shift. The check
      // runs after the generation has queued its first evaluation: work done on the main thread before that
      // would delay this sequence's entry into the shared batch and split the batch for everyone.
      const guard = new AbortController();
      let tooLong: PromptTooLongError | undefined;
      const generation = chat.generateResponse(history, {
        maxTokens,
        temperature,
        topP: temperature > 0 ? request.topP : undefined,
        topK: temperature > 0 ? request.topK : undefined,
        seed: temperature > 0 ? request.seed : undefined,
        customStopTriggers: request.stop && request.stop.length > 0 ? request.stop : undefined,
        signal: request.signal ? AbortSignal.any([request.signal, guard.signal]) : guard.signal,
        stopOnAbortSignal: true,
        onTextChunk: request.onText,
        onToken: (tokens) => {
          completionTokens += tokens.length;
        },
      });
      await new Promise<void>((resolve) => setImmediate(resolve));
      const promptTokens = this.chatWrapper
        .generateContextState({ chatHistory: history })
        .contextText.tokenize(this.model.tokenizer).length;
      if (promptTokens + maxTokens > this.contextSize) {
        tooLong = new PromptTooLongError(promptTokens, maxTokens, this.contextSize);
        guard.abort(tooLong);
      }
      const res = await generation.catch((err: unknown) => {
        throw tooLong ?? err;
      });
      if (tooLong) throw tooLong;
      const reason = res.metadata.stopReason;
      const logprob = request.logprobs ? await this.meanLogprob(sequence, history, res.response) : undefined;
      return {
        text: res.response,
        finishReason: reason === "maxTokens" ? "length" : reason === "abort" ? "abort" : "stop",
        promptTokens,
        completionTokens,
        ms: performance.now() - start,
        adapter,
        ...(logprob !== undefined ? { logprob } : {}),
      };
    } finally {
      chat.dispose({ disposeSequence: false });
      this.release(pool, sequence);
    }
  }

  /**
   * Mean log-probability of `reply`'s tokens after the prompt of `history`, under the model's own distribution
   * (temperature 1, no top-k/top-p): the prompt and the reply are evaluated again on the sequence, each reply
   * token forced, its probability read from the distribution before it.
   */
  private async meanLogprob(
    sequence: LlamaContextSequence,
    history: ChatHistoryItem[],
    reply: string,
  ): Promise<number | undefined> {
    const prompt = this.chatWrapper
      .generateContextState({ chatHistory: history })
      .contextText.tokenize(this.model.tokenizer);
    const tokens = this.model.tokenize(reply);
    if (tokens.length === 0) return undefined;
    await sequence.clearHistory();
    const it = sequence.evaluateWithMetadata(
      prompt,
      { probabilities: true },
      { temperature: 1, topK: 0, topP: 1, minP: 0 },
    );
    let sum = 0;
    try {
      let step = await it.next();
      for (let i = 0; i < tokens.length && !step.done; i++) {
        const p = step.value.probabilities.get(tokens[i]!) ?? 0;
        sum += Math.log(Math.max(p, 1e-12));
        if (i + 1 < tokens.length) step = await it.next(tokens[i]!);
      }
    } finally {
      await it.return();
    }
    return sum / tokens.length;
  }

  /** Releases the contexts and the model (idempotent); `await using model = …` does it at the end of the block. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.promptGuard?.close();
    for (const p of this.pools.values()) await p.context.dispose();
    await this.model.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @deprecated the same as dispose(). */
  close(): Promise<void> {
    return this.dispose();
  }
}

/** Loads a GGUF and returns a SqlGenerator over it (eval --model and the server use this). */
export async function loadSqlGenerator(options: LlamaChatModelOptions & SqlGenerateOptions): Promise<SqlGenerator> {
  const model = await LlamaChatModel.load(options);
  return new SqlGenerator(model, {
    maxTokens: options.maxTokens,
    temperature: options.temperature,
    seed: options.seed,
  });
}
