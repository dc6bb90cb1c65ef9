// A model folder's tokenizer and chat template, read from local files only (never the network):
//   ids      @huggingface/tokenizers (tokenizer.json + tokenizer_config.json), the tokenizer transformers.js 4 wraps;
//   template @huggingface/jinja, rendered with the context transformers' apply_chat_template gives it (messages,
//            add_generation_prompt, tools, documents and the special-token strings of tokenizer_config.json).
// The ids of `applyChatTemplate` are the rendered text encoded without added special tokens (what transformers'
// tokenize=True does). `backend: "transformers"` loads the same files with @huggingface/transformers (an optional peer
// dependency) instead: the same ids and text (test/model-tokenizer-parity.test.ts compares the two).
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool" | (string & {});
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn's opening (`<|im_start|>assistant\n` for ChatML). Default false. */
  addGenerationPrompt?: boolean;
  /** Tool definitions, for templates that describe tools. */
  tools?: Record<string, unknown>[];
}

/** Which library runs the tokenizer: @huggingface/tokenizers + @huggingface/jinja (default) or @huggingface/transformers. */
export type TokenizerBackend = "tokenizers" | "transformers";

export interface LoadTokenizerOptions {
  /** Default "tokenizers"; "transformers" needs the optional peer dependency @huggingface/transformers installed. */
  backend?: TokenizerBackend;
}

/** What a backend does; both read the same tokenizer.json and tokenizer_config.json. */
interface Engine {
  encode(text: string, addSpecialTokens: boolean): number[];
  decode(ids: number[], skipSpecialTokens: boolean): string;
  tokenToId(token: string): number | undefined;
  vocabIds(): Iterable<number>;
  render(
    template: string,
    messages: ChatMessage[],
    addGenerationPrompt: boolean,
    tools: Record<string, unknown>[] | undefined,
  ): string;
}

/** The special-token attributes transformers passes to chat templates (bos_token, eos_token, …) by name. */
const SPECIAL_TOKEN_ATTRIBUTES = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
] as const;

/** A token string of tokenizer_config.json: a plain string or an AddedToken object (first key present wins). */
function tokenFromConfig(config: Record<string, unknown>, file: string, ...keys: string[]): string | null {
  for (const key of keys) {
    if (!Object.hasOwn(config, key)) continue;
    const item = config[key];
    if (!item) continue;
    if (typeof item === "string") return item;
    if (
      typeof item === "object" &&
      (item as { __type?: unknown }).__type === "AddedToken" &&
      typeof (item as { content?: unknown }).content === "string"
    ) {
      return (item as { content: string }).content;
    }
    throw new Error(`${file}: ${key} is neither a string nor an AddedToken object`);
  }
  return null;
}

function tokenizersEngine(json: object, config: Record<string, unknown>, configFile: string): Engine {
  const tok = new HfTokenizer(json, config);
  const specials: Record<string, string> = Object.create(null);
  for (const key of SPECIAL_TOKEN_ATTRIBUTES) {
    const v = tokenFromConfig(config, configFile, key);
    if (v) specials[key] = v;
  }
  const compiled = new Map<string, Template>();
  return {
    encode: (text, addSpecialTokens) => tok.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids, skipSpecialTokens) =>
      tok.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: null }),
    tokenToId: (token) => tok.token_to_id(token),
    vocabIds: () => tok.get_vocab().values(),
    render(template, messages, addGenerationPrompt, tools) {
      let t = compiled.get(template);
      if (!t) compiled.set(template, (t = new Template(template)));
      return t.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        tools: tools ?? null,
        documents: null,
        ...specials,
      });
    },
  };
}

/** The part of transformers.js's PreTrainedTokenizer used here (kept local: its types are not a dependency). */
interface TransformersTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
  convert_tokens_to_ids(tokens: string[]): (number | undefined | null)[];
  get_vocab(): Map<string, number> | Record<string, number>;
  apply_chat_template(messages: unknown, options: Record<string, unknown>): unknown;
}

async function transformersEngine(json: object, config: Record<string, unknown>): Promise<Engine> {
  const name = "@huggingface/transformers";
  let mod: { PreTrainedTokenizer: new (json: object, config: object) => TransformersTokenizer };
  try {
    mod = (await import(name)) as typeof mod;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new Error(
        `the "transformers" tokenizer backend needs the optional peer dependency @huggingface/transformers: npm i @huggingface/transformers (or use the default backend)`,
      );
    }
    throw err;
  }
  const tok = new mod.PreTrainedTokenizer(json, config);
  return {
    encode: (text, addSpecialTokens) => tok.encode(text, { add_special_tokens: addSpecialTokens }),
    decode: (ids, skipSpecialTokens) => tok.decode(ids, { skip_special_tokens: skipSpecialTokens }),
    tokenToId: (token) => tok.convert_tokens_to_ids([token])[0] ?? undefined,
    vocabIds() {
      const v = tok.get_vocab();
      return v instanceof Map ? v.values() : Object.values(v);
    },
    render: (template, messages, addGenerationPrompt, tools) =>
      tok.apply_chat_template(messages, {
        chat_template: template,
        add_generation_prompt: addGenerationPrompt,
        tools,
        tokenize: false,
      }) as string,
  };
}

export class Tokenizer {
  readonly dir: string;
  /** The library that runs it. */
  readonly backend: TokenizerBackend;
  private readonly engine: Engine;
  /** The chat template (Jinja) from tokenizer_config.json (or chat_template.jinja). */
  readonly chatTemplate: string | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly bosTokenId: number | undefined;
  /** Number of ids the tokenizer knows (BPE vocabulary + added tokens). */
  readonly size: number;

  private constructor(
    dir: string,
    backend: TokenizerBackend,
    engine: Engine,
    config: Record<string, unknown>,
    chatTemplate: string | undefined,
  ) {
    this.dir = dir;
    this.backend = backend;
    this.engine = engine;
    this.chatTemplate = chatTemplate;
    const file = join(dir, "tokenizer_config.json");
    const idOf = (...keys: string[]) => {
      const t = tokenFromConfig(config, file, ...keys);
      return t === null ? undefined : engine.tokenToId(t);
    };
    this.eosTokenId = idOf("eos_token");
    this.padTokenId = idOf("pad_token", "eos_token");
    this.bosTokenId = idOf("bos_token");
    let max = -1;
    for (const id of engine.vocabIds()) if (id > max) max = id;
    this.size = max + 1;
  }

  /** Loads `<dir>/tokenizer.json` + `tokenizer_config.json` (and `chat_template.jinja` when the config has no template). */
  static async load(dir: string, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
    const abs = resolve(dir);
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      if (!existsSync(join(abs, f)))
        throw new Error(`${join(abs, f)}: missing (a model folder needs tokenizer.json and tokenizer_config.json)`);
    }
    const readJson = (f: string): Record<string, unknown> => {
      try {
        const v = JSON.parse(readFileSync(join(abs, f), "utf8"));
        if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
        return v;
      } catch (e) {
        throw new Error(`${join(abs, f)}: not valid JSON (${(e as Error).message})`);
      }
    };
    const config = readJson("tokenizer_config.json");
    const json = readJson("tokenizer.json");
    let chatTemplate = typeof config.chat_template === "string" ? config.chat_template : undefined;
    if (!chatTemplate && existsSync(join(abs, "chat_template.jinja")))
      chatTemplate = readFileSync(join(abs, "chat_template.jinja"), "utf8");
    return Tokenizer.fromJSON(json, config, { ...options, dir: abs, chatTemplate });
  }

  /**
   * A tokenizer from the parsed contents of tokenizer.json and tokenizer_config.json. `chatTemplate` overrides the
   * config's; `dir` names the folder in errors.
   */
  static async fromJSON(
    tokenizerJson: object,
    tokenizerConfig: Record<string, unknown>,
    options: LoadTokenizerOptions & { dir?: string; chatTemplate?: string } = {},
  ): Promise<Tokenizer> {
    const dir = options.dir ?? "(in memory)";
    const backend = options.backend ?? "tokenizers";
    if (backend !== "tokenizers" && backend !== "transformers")
      throw new Error(`tokenizer backend must be "tokenizers" or "transformers", not ${JSON.stringify(backend)}`);
    const chatTemplate =
      options.chatTemplate ??
      (typeof tokenizerConfig.chat_template === "string" ? tokenizerConfig.chat_template : undefined);
    let engine: Engine;
    try {
      engine =
        backend === "transformers"
          ? await transformersEngine(tokenizerJson, tokenizerConfig)
          : tokenizersEngine(tokenizerJson, tokenizerConfig, join(dir, "tokenizer_config.json"));
    } catch (e) {
      throw new Error(`${dir}: cannot load the tokenizer (${(e as Error).message})`);
    }
    return new Tokenizer(dir, backend, engine, tokenizerConfig, chatTemplate);
  }

  /** Token ids of `text` (no special tokens added unless asked; Qwen adds none either way). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.engine.encode(text, options.addSpecialTokens ?? false);
  }

  /** Text of `ids`; special tokens are kept unless `skipSpecialTokens`. */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const list = Array.from(ids);
    if (list.length === 0) return "";
    return this.engine.decode(list, options.skipSpecialTokens ?? false);
  }

  /** The id of a token string (e.g. "<|im_end|>"), or undefined. */
  tokenToId(token: string): number | undefined {
    const id = this.engine.tokenToId(token);
    return id === undefined || id === null ? undefined : id;
  }

  /**
   * Renders a conversation with the model's chat template; returns the text and its ids, or with
   * `{ tokenize: false }` only the text (as transformers' apply_chat_template(tokenize=False)).
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions & { tokenize: false }): string;
  applyChatTemplate(
    messages: ChatMessage[],
    options?: ChatTemplateOptions & { tokenize?: true },
  ): { text: string; ids: number[] };
  applyChatTemplate(
    messages: ChatMessage[],
    options: ChatTemplateOptions & { tokenize?: boolean } = {},
  ): string | { text: string; ids: number[] } {
    if (!this.chatTemplate)
      throw new Error(`${join(this.dir, "tokenizer_config.json")}: no chat_template (this model has no chat format)`);
    if (!Array.isArray(messages) || messages.length === 0)
      throw new Error("applyChatTemplate: messages must be a non-empty array");
    messages.forEach((m, i) => {
      if (!m || typeof m.role !== "string" || typeof m.content !== "string")
        throw new Error(`applyChatTemplate: messages[${i}] must have string role and content`);
    });
    const text = this.engine.render(this.chatTemplate, messages, options.addGenerationPrompt ?? false, options.tools);
    return options.tokenize === false ? text : { text, ids: this.encode(text) };
  }
}

/** Loads a model folder's tokenizer (see Tokenizer.load). */
export function loadTokenizer(dir: string, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  return Tokenizer.load(dir, options);
}
