// An Ollama Modelfile beside a GGUF: FROM the file, the chat template (ChatML for Qwen's templates, as a Go template
// since Ollama does not run Jinja), the default system prompt of the HF template if it has one, and stop tokens.
import { basename } from "node:path";

export interface ModelfileOptions {
  /** GGUF path; the Modelfile refers to it by file name (it sits beside it). */
  gguf: string;
  /** The HF/GGUF Jinja chat template (tokenizer.chat_template). */
  chatTemplate: string | null;
  /** Stop strings (EOS and end-of-turn tokens). */
  stop: readonly string[];
}

const CHATML_TEMPLATE = `{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}`;

/** The default system prompt a Qwen Jinja template injects when none is given (Qwen2.5's "You are Qwen, …"), if any. */
export function defaultSystemPrompt(chatTemplate: string | null): string | null {
  if (!chatTemplate) return null;
  const m = /<\|im_start\|>system\\n(?:' \+ ')?([^'<\\]+)<\|im_end\|>/.exec(chatTemplate);
  return m ? m[1] : null;
}

function quote(s: string): string {
  return JSON.stringify(s);
}

export function modelfileText(o: ModelfileOptions): string {
  const lines = [`FROM ./${basename(o.gguf)}`, ""];
  if (o.chatTemplate && o.chatTemplate.includes("<|im_start|>")) {
    lines.push(`TEMPLATE """${CHATML_TEMPLATE}"""`, "");
    const sys = defaultSystemPrompt(o.chatTemplate);
    if (sys) lines.push(`SYSTEM """${sys}"""`, "");
  }
  for (const s of [...new Set(o.stop)]) lines.push(`PARAMETER stop ${quote(s)}`);
  return lines.join("\n") + "\n";
}
