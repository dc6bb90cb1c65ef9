// The tokenizer part of a qwen2 GGUF, from an HF folder's tokenizer.json + tokenizer_config.json (+ config.json for
// special ids it lacks), as llama.cpp's convert_hf_to_gguf.py writes it for Qwen2/Qwen2.5: BPE ("gpt2") tokens padded
// to vocab_size with [PAD{id}], token types (normal / control / user-defined / unused), merges, special ids, add_bos,
// chat template.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kv, type GgufKv } from "./file.js";

/** llama.cpp's token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface GgufTokenizer {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  /** Special ids in the order the converter sets them (tokenizer_config first, then config.json). */
  specialIds: { bos?: number; eos?: number; unk?: number; sep?: number; pad?: number };
  addBos?: boolean;
  addEos?: boolean;
  chatTemplate: string | null;
  /** The token texts of eos / pad etc., for Modelfile stop words. */
  eosText: string | null;
}

function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, "utf8"));
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("expected a JSON object");
    return v as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
  normalized?: boolean;
}

/** Does a token text look like a control token (<|…|>)? As the converter decides for added tokens. */
function looksSpecial(t: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) ||
    (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<｜") && t.endsWith("｜>")) ||
    (t.startsWith("<unused") && t.endsWith(">"))
  );
}

function tokenText(entry: unknown): string | null {
  if (typeof entry === "string") return entry;
  if (entry && typeof entry === "object" && typeof (entry as { content?: unknown }).content === "string")
    return (entry as { content: string }).content;
  return null;
}

/** Reads the tokenizer of an HF Qwen2 folder into GGUF form; `vocabSize` is config.json's vocab_size. */
export function readGgufTokenizer(dir: string, vocabSize: number): GgufTokenizer {
  const tokPath = join(dir, "tokenizer.json");
  if (!existsSync(tokPath))
    throw new Error(
      `${tokPath}: missing (the GGUF needs the model's tokenizer; copy tokenizer.json and tokenizer_config.json into the folder)`,
    );
  const tok = readJson(tokPath);
  const model = tok.model as { type?: string; vocab?: Record<string, number>; merges?: unknown[] } | undefined;
  if (!model || model.type !== "BPE" || !model.vocab || typeof model.vocab !== "object") {
    throw new Error(
      `${tokPath}: field model must be a BPE model with a vocab (Qwen2's byte-level BPE), got type ${JSON.stringify(model?.type)}`,
    );
  }
  const cfgPath = join(dir, "tokenizer_config.json");
  const cfg = existsSync(cfgPath) ? readJson(cfgPath) : null;
  const added = (Array.isArray(tok.added_tokens) ? tok.added_tokens : []) as AddedToken[];

  const reverse = new Map<number, string>();
  for (const [text, id] of Object.entries(model.vocab)) reverse.set(id, text);
  const addedById = new Map<number, AddedToken>();
  for (const a of added) {
    if (typeof a?.id !== "number" || typeof a.content !== "string")
      throw new Error(`${tokPath}: field added_tokens has an entry without id/content: ${JSON.stringify(a)}`);
    addedById.set(a.id, a);
    reverse.set(a.id, a.content);
  }
  // Also added tokens only declared in tokenizer_config.json's added_tokens_decoder.
  const decoder = (cfg?.added_tokens_decoder ?? {}) as Record<
    string,
    { content?: string; special?: boolean; normalized?: boolean }
  >;
  for (const [idText, d] of Object.entries(decoder)) {
    const id = Number(idText);
    if (!addedById.has(id) && typeof d?.content === "string") {
      addedById.set(id, { id, content: d.content, special: d.special, normalized: d.normalized });
      reverse.set(id, d.content);
    }
  }
  let maxId = -1;
  for (const id of reverse.keys()) maxId = Math.max(maxId, id);
  if (maxId >= vocabSize)
    throw new Error(`${tokPath}: token id ${maxId} is beyond config.json's vocab_size ${vocabSize}`);

  const tokens: string[] = new Array(vocabSize);
  const tokenTypes: number[] = new Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    const text = reverse.get(i);
    if (text === undefined) {
      tokens[i] = `[PAD${i}]`;
      tokenTypes[i] = TokenType.UNUSED;
      continue;
    }
    const a = addedById.get(i);
    if (a) {
      const special = a.special === true || (decoder[String(i)]?.special ?? false) || looksSpecial(text);
      tokens[i] = special ? text : text.replaceAll("\u2581", " ");
      tokenTypes[i] = special ? TokenType.CONTROL : TokenType.USER_DEFINED;
    } else {
      tokens[i] = text;
      tokenTypes[i] = TokenType.NORMAL;
    }
  }

  let merges: string[] = [];
  const rawMerges = model.merges ?? [];
  if (!Array.isArray(rawMerges)) throw new Error(`${tokPath}: field model.merges must be a list`);
  if (rawMerges.length && typeof rawMerges[0] === "string") merges = rawMerges as string[];
  else if (rawMerges.length) {
    merges = rawMerges.map((m, i) => {
      if (!Array.isArray(m) || m.length !== 2 || typeof m[0] !== "string" || typeof m[1] !== "string") {
        throw new Error(`${tokPath}: field model.merges[${i}] must be a pair of strings`);
      }
      // Spaces inside a merge part are written as U+0120 (the converter's convention for the legacy one-string form).
      return `${m[0].replaceAll(" ", "\u0120")} ${m[1].replaceAll(" ", "\u0120")}`;
    });
  }
  if (!merges.length) throw new Error(`${tokPath}: field model.merges is empty (a BPE tokenizer needs its merges)`);

  const specialIds: GgufTokenizer["specialIds"] = {};
  const idOf = (text: string | null) => (text === null ? undefined : added.find((a) => a.content === text)?.id);
  const setId = (typ: keyof GgufTokenizer["specialIds"], id: unknown) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= vocabSize) return;
    if (specialIds[typ] === undefined) specialIds[typ] = id;
  };
  let addBos: boolean | undefined;
  let addEos: boolean | undefined;
  let chatTemplate: string | null = null;
  let eosText: string | null = null;
  if (cfg) {
    for (const typ of ["bos", "eos", "unk", "sep", "pad"] as const) {
      const text = tokenText(cfg[`${typ}_token`]);
      setId(typ, idOf(text));
      if (typ === "eos") eosText = text;
    }
    if (typeof cfg.add_bos_token === "boolean") addBos = cfg.add_bos_token;
    if (typeof cfg.add_eos_token === "boolean") addEos = cfg.add_eos_token;
    if (typeof cfg.chat_template === "string") chatTemplate = cfg.chat_template;
  }
  if (chatTemplate === null) {
    const jinja = join(dir, "chat_template.jinja");
    const json = join(dir, "chat_template.json");
    if (existsSync(jinja)) chatTemplate = readFileSync(jinja, "utf8");
    else if (existsSync(json)) {
      const t = readJson(json).chat_template;
      if (typeof t === "string") chatTemplate = t;
    }
  }
  const configPath = join(dir, "config.json");
  if (existsSync(configPath)) {
    const c = readJson(configPath);
    for (const typ of ["bos", "eos", "unk", "sep", "pad"] as const) setId(typ, c[`${typ}_token_id`]);
  }
  if (eosText === null && specialIds.eos !== undefined) eosText = tokens[specialIds.eos];
  return { tokens, tokenTypes, merges, specialIds, addBos, addEos, chatTemplate, eosText };
}

/** The tokenizer.* metadata entries, in the converter's order. */
export function tokenizerMetadata(t: GgufTokenizer): GgufKv[] {
  const out: GgufKv[] = [
    kv.str("tokenizer.ggml.model", "gpt2"),
    kv.str("tokenizer.ggml.pre", "qwen2"),
    kv.strings("tokenizer.ggml.tokens", t.tokens),
    kv.i32s("tokenizer.ggml.token_type", t.tokenTypes),
    kv.strings("tokenizer.ggml.merges", t.merges),
  ];
  const keyOf = {
    bos: "bos_token_id",
    eos: "eos_token_id",
    unk: "unknown_token_id",
    sep: "seperator_token_id",
    pad: "padding_token_id",
  } as const;
  for (const [typ, id] of Object.entries(t.specialIds) as [keyof typeof keyOf, number][]) {
    out.push(kv.u32(`tokenizer.ggml.${keyOf[typ]}`, id));
  }
  if (t.addBos !== undefined) out.push(kv.bool("tokenizer.ggml.add_bos_token", t.addBos));
  if (t.addEos !== undefined) out.push(kv.bool("tokenizer.ggml.add_eos_token", t.addEos));
  if (t.chatTemplate !== null) out.push(kv.str("tokenizer.chat_template", t.chatTemplate));
  return out;
}
