// A model folder's tokenizer and chat template, through @huggingface/transformers (local files only, never the
// network). `applyChatTemplate` renders the template as transformers' apply_chat_template does; its ids are the
// rendered text encoded without added special tokens (what transformers' tokenize=True does).
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PreTrainedTokenizer } from "@huggingface/transformers";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool" | string;
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn's opening (`<|im_start|>assistant\n` for ChatML). Default false. */
  addGenerationPrompt?: boolean;
  /** Tool definitions, for templates that describe tools. */
  tools?: Record<string, unknown>[];
}

export class Tokenizer {
  readonly dir: string;
  private readonly tok: PreTrainedTokenizer;
  /** The chat template (Jinja) from tokenizer_config.json (or chat_template.jinja). */
  readonly chatTemplate: string | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly bosTokenId: number | undefined;
  /** Number of ids the tokenizer knows (BPE vocabulary + added tokens). */
  readonly size: number;

  private constructor(dir: string, tok: PreTrainedTokenizer, chatTemplate: string | undefined) {
    this.dir = dir;
    this.tok = tok;
    this.chatTemplate = chatTemplate;
    const t = tok as unknown as { eos_token_id?: number; pad_token_id?: number; bos_token_id?: number };
    this.eosTokenId = t.eos_token_id ?? undefined;
    this.padTokenId = t.pad_token_id ?? undefined;
    this.bosTokenId = t.bos_token_id ?? undefined;
    const vocab = (tok as unknown as { get_vocab?: () => Map<string, number> | Record<string, number> }).get_vocab?.();
    let max = -1;
    for (const id of vocab instanceof Map ? vocab.values() : Object.values(vocab ?? {})) if (id > max) max = id;
    this.size = max + 1;
  }

  /** Loads `<dir>/tokenizer.json` + `tokenizer_config.json` offline. */
  static async load(dir: string): Promise<Tokenizer> {
    const abs = resolve(dir);
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      if (!existsSync(join(abs, f))) throw new Error(`${join(abs, f)}: missing (a model folder needs tokenizer.json and tokenizer_config.json)`);
    }
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(readFileSync(join(abs, "tokenizer_config.json"), "utf8"));
    } catch (e) {
      throw new Error(`${join(abs, "tokenizer_config.json")}: not valid JSON (${(e as Error).message})`);
    }
    let chatTemplate = typeof config.chat_template === "string" ? config.chat_template : undefined;
    if (!chatTemplate && existsSync(join(abs, "chat_template.jinja"))) chatTemplate = readFileSync(join(abs, "chat_template.jinja"), "utf8");
    const { AutoTokenizer } = await import("@huggingface/transformers");
    let tok: PreTrainedTokenizer;
    try {
      // An absolute path is never taken for a hub id; local_files_only keeps transformers off the network.
      tok = await AutoTokenizer.from_pretrained(abs, { local_files_only: true });
    } catch (e) {
      throw new Error(`${abs}: cannot load the tokenizer (${(e as Error).message})`);
    }
    return new Tokenizer(abs, tok, chatTemplate);
  }

  /** Token ids of `text` (no special tokens added unless asked; Qwen adds none either way). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? false });
  }

  /** Text of `ids`; special tokens are kept unless `skipSpecialTokens`. */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const list = Array.from(ids);
    if (list.length === 0) return "";
    return this.tok.decode(list, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The id of a token string (e.g. "<|im_end|>"), or undefined. */
  tokenToId(token: string): number | undefined {
    const ids = (this.tok as unknown as { convert_tokens_to_ids: (t: string[]) => (number | undefined)[] }).convert_tokens_to_ids([token]);
    const id = ids[0];
    return id === undefined || id === null ? undefined : id;
  }

  /**
   * Renders a conversation with the model's chat template; returns the text and its ids, or with
   * `{ tokenize: false }` only the text (as transformers' apply_chat_template(tokenize=False)).
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions & { tokenize: false }): string;
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions & { tokenize?: true }): { text: string; ids: number[] };
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions & { tokenize?: boolean } = {}): string | { text: string; ids: number[] } {
    if (!this.chatTemplate) throw new Error(`${join(this.dir, "tokenizer_config.json")}: no chat_template (this model has no chat format)`);
    if (!Array.isArray(messages) || messages.length === 0) throw new Error("applyChatTemplate: messages must be a non-empty array");
    messages.forEach((m, i) => {
      if (!m || typeof m.role !== "string" || typeof m.content !== "string") throw new Error(`applyChatTemplate: messages[${i}] must have string role and content`);
    });
    const text = this.tok.apply_chat_template(messages as never, {
      chat_template: this.chatTemplate,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      tools: options.tools as never,
      tokenize: false,
    }) as unknown as string;
    return options.tokenize === false ? text : { text, ids: this.encode(text) };
  }
}

/** Loads a model folder's tokenizer (see Tokenizer.load). */
export function loadTokenizer(dir: string): Promise<Tokenizer> {
  return Tokenizer.load(dir);
}
