// The default tokenizer (@huggingface/tokenizers + @huggingface/jinja) gives the same ids, decoded text and rendered
// chat text as sqlfocus's earlier implementation (@huggingface/transformers' AutoTokenizer.from_pretrained on the same
// folder), which stays available as `backend: "transformers"` when the optional peer is installed.
//   - always: a SHA-256 digest of the ids and renders of a fixed corpus (computed with the transformers
//     implementation when this test was written) must match the default backend;
//   - when @huggingface/transformers is installed (it is in the dev install): every string and conversation is
//     compared with it directly, plus the Spider questions and queries when SQLFOCUS_SPIDER is set (no Spider text is
//     committed: both sides are computed here).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Tokenizer, type ChatMessage } from "../src/model/index.js";
import { writeQwen25TokenizerFiles } from "../src/model/qwen-tokenizer-files.js";

const dir = mkdtempSync(join(tmpdir(), "sqlfocus-tokparity-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const TEXTS = [
  "SELECT * FROM singer",
  "SELECT count(*) FROM head WHERE age  >  56",
  "select T1.name, avg(T2.price) from Products as T1 join Orders as T2 on T1.id = T2.pid group by T1.name having count(*) >= 3 order by 2 desc limit 10;",
  "How many singers do we have?\nList them by age, oldest first.",
  "   leading and trailing spaces   \t\ttabs\r\nCRLF\n\n\nblank lines",
  "numbers 1234567890 3.14159 -42 1e-9 0x1F 1,000,000",
  "歌手的平均年龄是多少？ SELECT avg(年龄) FROM 歌手",
  "emoji 🙂🚀 and accents: café naïve façade Ångström",
  "<|im_start|>user\nhi<|im_end|>\n<|endoftext|> <|fim_prefix|>x<|fim_suffix|>",
  "'quoted' \"double\" `back` -- comment /* block */ ;; ::",
  "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', created_at TIMESTAMP)",
  "a",
  " ",
  "\n",
  "x".repeat(300),
];

const CHATS: { messages: ChatMessage[]; addGenerationPrompt?: boolean; tools?: Record<string, unknown>[] }[] = [
  { messages: [{ role: "user", content: "How many singers?" }], addGenerationPrompt: true },
  {
    messages: [
      { role: "system", content: "You are a SQL expert." },
      {
        role: "user",
        content: "【Schema】\n# Table: singer\n[(id:INTEGER, Primary Key), (name:TEXT)]\n\nList all names.",
      },
      { role: "assistant", content: "SELECT name FROM singer" },
    ],
  },
  {
    messages: [
      { role: "user", content: "first" },
      { role: "assistant", content: "second" },
      { role: "user", content: "third 😀" },
    ],
    addGenerationPrompt: true,
  },
  {
    messages: [{ role: "user", content: "What is the weather?" }],
    addGenerationPrompt: true,
    tools: [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather",
          parameters: { type: "object", properties: { city: { type: "string" } } },
        },
      },
    ],
  },
];

// SHA-256 of the JSON of [ids of TEXTS, decode(ids) and decode(ids, skip) of TEXTS, renders of CHATS], computed with
// the earlier implementation (transformers 4.3.1's AutoTokenizer on writeQwen25TokenizerFiles' folder).
const EXPECTED_DIGEST = "c6101bab99f0455d501e90c8204636770deb4fb026c75e0bf48e2667c7db161c";

interface Side {
  encode(t: string): number[];
  decode(ids: number[], skip: boolean): string;
  render(c: (typeof CHATS)[number]): string;
}

function corpusDigest(s: Side): string {
  const ids = TEXTS.map((t) => s.encode(t));
  const decoded = ids.map((i) => [s.decode(i, false), s.decode(i, true)]);
  const renders = CHATS.map((c) => s.render(c));
  return createHash("sha256")
    .update(JSON.stringify([ids, decoded, renders]))
    .digest("hex");
}

const ours = (tok: Tokenizer): Side => ({
  encode: (t) => tok.encode(t),
  decode: (ids, skip) => tok.decode(ids, { skipSpecialTokens: skip }),
  render: (c) =>
    tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.addGenerationPrompt, tools: c.tools, tokenize: false }),
});

let tok: Tokenizer;
let reference: Side | null = null; // the earlier implementation, when @huggingface/transformers is installed
let transformersMissing = "";
before(async () => {
  writeQwen25TokenizerFiles(dir);
  tok = await Tokenizer.load(dir);
  let mod: typeof import("@huggingface/transformers");
  try {
    mod = await import("@huggingface/transformers");
  } catch {
    transformersMissing = "@huggingface/transformers (optional peer dependency) is not installed";
    return;
  }
  // Exactly what sqlfocus did before: AutoTokenizer on the folder, local files only, template passed explicitly.
  const t = await mod.AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  const template = tok.chatTemplate!;
  reference = {
    encode: (s) => t.encode(s, { add_special_tokens: false }),
    decode: (ids, skip) => t.decode(ids, { skip_special_tokens: skip }),
    render: (c) =>
      t.apply_chat_template(c.messages as never, {
        chat_template: template,
        add_generation_prompt: c.addGenerationPrompt ?? false,
        tools: c.tools as never,
        tokenize: false,
      }) as unknown as string,
  };
});

test("the default backend reproduces the earlier implementation's ids, decodes and renders (digest)", () => {
  assert.equal(tok.backend, "tokenizers");
  assert.equal(corpusDigest(ours(tok)), EXPECTED_DIGEST);
});

test("the same ids, text and special-token ids as @huggingface/transformers, string by string", async (t) => {
  if (!reference) return t.skip(transformersMissing);
  const ref = reference;
  assert.equal(corpusDigest(ref), EXPECTED_DIGEST, "the reference itself still gives the recorded digest");
  for (const s of TEXTS) {
    const ids = tok.encode(s);
    assert.deepEqual(ids, ref.encode(s), JSON.stringify(s));
    assert.equal(tok.decode(ids), ref.decode(ids, false));
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), ref.decode(ids, true));
  }
  for (const c of CHATS) {
    const text = ours(tok).render(c);
    assert.equal(text, ref.render(c));
    assert.deepEqual(
      tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.addGenerationPrompt, tools: c.tools }).ids,
      ref.encode(text),
    );
  }
  const viaTransformers = await Tokenizer.load(dir, { backend: "transformers" });
  assert.equal(viaTransformers.backend, "transformers");
  for (const k of ["size", "eosTokenId", "padTokenId", "bosTokenId"] as const)
    assert.equal(tok[k], viaTransformers[k], k);
  for (const s of ["<|im_end|>", "<|endoftext|>", "SELECT", "Ġsinger", "no-such-token-xyz"])
    assert.equal(tok.tokenToId(s), viaTransformers.tokenToId(s), s);
  assert.equal(corpusDigest(ours(viaTransformers)), EXPECTED_DIGEST);
});

test("Spider questions and gold queries tokenise identically (SQLFOCUS_SPIDER)", async (t) => {
  const spider = process.env.SQLFOCUS_SPIDER;
  if (!reference) return t.skip(transformersMissing);
  if (!spider || !existsSync(join(spider, "dev.json")))
    return t.skip("SQLFOCUS_SPIDER is not set to a Spider folder with dev.json");
  const dev = JSON.parse(readFileSync(join(spider, "dev.json"), "utf8")) as {
    question: string;
    query: string;
    db_id: string;
  }[];
  let n = 0;
  for (const ex of dev) {
    for (const s of [ex.question, ex.query]) {
      assert.deepEqual(tok.encode(s), reference.encode(s), `${ex.db_id}: ${JSON.stringify(s)}`);
      n++;
    }
    const c = {
      messages: [
        { role: "user", content: ex.question },
        { role: "assistant", content: ex.query },
      ],
      addGenerationPrompt: false,
    };
    assert.equal(ours(tok).render(c), reference.render(c));
  }
  assert.ok(n > 1000, `compared ${n} strings`);
});
