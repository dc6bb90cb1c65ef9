import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { Tokenizer } from "../src/model/tokenizer.js";
import { writeQwen25TokenizerFiles, QWEN25_TOKENIZER_SIZE } from "../src/model/qwen-tokenizer-files.js";

// Expected ids are looked up by hand in the BPE vocabulary: each piece below is one pre-token of Qwen's split regex
// (a word with its leading space, "Ġ" in byte-level form) that is itself a vocabulary entry, so BPE yields it whole.
let dir: string;
let vocab: Record<string, number>;
let tok: Tokenizer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-tok-"));
  writeQwen25TokenizerFiles(dir);
  vocab = JSON.parse(readFileSync(join(dir, "vocab.json"), "utf8"));
  tok = await Tokenizer.load(dir);
});
const ids = (pieces: string[]) =>
  pieces.map((p) => {
    assert.ok(p in vocab, `'${p}' is in the vocabulary`);
    return vocab[p];
  });

test("tokenizer files are Qwen2.5's: 151,665 ids, special tokens, eos/pad", () => {
  const t = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  assert.equal(Object.keys(t.model.vocab).length, 151643);
  assert.deepEqual(
    t.added_tokens.map((a: { id: number }) => a.id),
    Array.from({ length: 22 }, (_, i) => 151643 + i),
  );
  assert.equal(tok.size, QWEN25_TOKENIZER_SIZE);
  assert.equal(tok.tokenToId("<|endoftext|>"), 151643);
  assert.equal(tok.tokenToId("<|im_start|>"), 151644);
  assert.equal(tok.tokenToId("<|im_end|>"), 151645);
  assert.equal(tok.tokenToId("<|file_sep|>"), 151664);
  assert.equal(tok.eosTokenId, 151645);
  assert.equal(tok.padTokenId, 151643);
  assert.equal(tok.bosTokenId, undefined);
  const cfg = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  assert.equal(cfg.eos_token, "<|im_end|>");
  assert.equal(cfg.pad_token, "<|endoftext|>");
  assert.equal(cfg.tokenizer_class, "Qwen2Tokenizer");
});

test("encode/decode a SQL query against known ids", () => {
  const expected = ids(["SELECT", "Ġ*", "ĠFROM", "Ġsinger"]);
  assert.deepEqual(expected, [4858, 353, 4295, 22757]); // Qwen2's well-known ids for these pieces
  assert.deepEqual(tok.encode("SELECT * FROM singer"), expected);
  assert.deepEqual(tok.encode("SELECT * FROM singer", { addSpecialTokens: true }), expected); // Qwen adds no BOS
  assert.equal(tok.decode(expected), "SELECT * FROM singer");
  // special tokens in text are matched whole; decode keeps or skips them
  assert.deepEqual(tok.encode("<|im_end|>\n"), [151645, vocab["Ċ"]]);
  assert.equal(tok.decode([151644, ...ids(["user"]), 151645]), "<|im_start|>user<|im_end|>");
  assert.equal(tok.decode([151644, ...ids(["user"]), 151645], { skipSpecialTokens: true }), "user");
  // Qwen's split regex takes digits one at a time, so a space before a number stands alone: "age", " >", " ", "3", "0"
  assert.deepEqual(tok.encode("age > 30"), ids(["age", "Ġ>", "Ġ", "3", "0"]));
  // non-ASCII text round-trips through byte-level BPE
  const s = "SELECT name FROM 歌手 WHERE age > 30 -- café";
  assert.equal(tok.decode(tok.encode(s)), s);
  assert.equal(tok.decode([]), "");
});

test("ChatML conversation: Qwen2.5's template text and ids", () => {
  const messages = [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "How many singers?" },
    { role: "assistant", content: "SELECT count(*) FROM singer" },
  ];
  const { text, ids: got } = tok.applyChatTemplate(messages);
  assert.equal(
    text,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow many singers?<|im_end|>\n" +
      "<|im_start|>assistant\nSELECT count(*) FROM singer<|im_end|>\n",
  );
  const S = 151644,
    E = 151645,
    NL = vocab["Ċ"];
  assert.deepEqual(got, [
    S,
    ...ids(["system"]),
    NL,
    ...ids(["You", "Ġare", "Ġa", "Ġhelpful", "Ġassistant", "."]),
    E,
    NL,
    S,
    ...ids(["user"]),
    NL,
    ...ids(["How", "Ġmany", "Ġsingers", "?"]),
    E,
    NL,
    S,
    ...ids(["assistant"]),
    NL,
    ...ids(["SELECT", "Ġcount", "(*)", "ĠFROM", "Ġsinger"]),
    E,
    NL,
  ]);
  // no system message → Qwen2.5's default one; generation prompt opens the assistant turn
  const g = tok.applyChatTemplate([{ role: "user", content: "How many singers?" }], { addGenerationPrompt: true });
  assert.equal(
    g.text,
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
      "<|im_start|>user\nHow many singers?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.deepEqual(g.ids.slice(-3), [S, vocab["assistant"], NL]);
  assert.deepEqual(g.ids.slice(0, 4), [S, vocab["system"], NL, vocab["You"]]);
  // render only: the same text, no ids
  assert.equal(tok.applyChatTemplate(messages, { tokenize: false }), text);
  assert.equal(
    tok.applyChatTemplate([{ role: "user", content: "How many singers?" }], {
      addGenerationPrompt: true,
      tokenize: false,
    }),
    g.text,
  );
  assert.throws(() => tok.applyChatTemplate([], { tokenize: false }), /non-empty/);
  assert.throws(() => tok.applyChatTemplate([]), /non-empty/);
  assert.throws(() => tok.applyChatTemplate([{ role: "user" } as never]), /messages\[0\]/);
});

test("missing tokenizer files are named", async () => {
  const empty = mkdtempSync(join(tmpdir(), "sqlfocus-tok-"));
  await assert.rejects(Tokenizer.load(empty), /tokenizer\.json: missing/);
});
