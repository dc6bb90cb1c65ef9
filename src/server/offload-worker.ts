// Worker thread of offload.ts: the CPU-heavy, synchronous steps of a request, so that the event loop keeps answering
// (/health, other requests) while they run: DDL → M-Schema (node-sql-parser on up to a megabyte of text) and the
// read-only SQL check (node-sql-parser again).
//   main → worker  { id, task: "schema", text, dialect, link? } | { id, task: "check", sql, dialect, options }
//   worker → main  { id, ok: true, value } | { id, ok: false, error, refusal? }
import { parentPort } from "node:worker_threads";
import { qwenTokenCounter, schemaForPrompt } from "../mschema/index.js";
import { checkReadOnlySql, SqlRefusedError, type CheckOptions } from "../sql/index.js";
import type { SqlDialect } from "../text2sql/index.js";

type Task =
  | { id: number; task: "schema"; text: string; dialect: SqlDialect; link?: { question: string; budget: number } }
  | { id: number; task: "check"; sql: string; dialect: SqlDialect; options: CheckOptions };

let counter: Promise<(text: string) => number> | undefined;

async function schemaText(msg: Extract<Task, { task: "schema" }>): Promise<string> {
  if (!msg.link) return schemaForPrompt(msg.text, msg.dialect).text;
  const countTokens = msg.link.budget > 0 ? await (counter ??= qwenTokenCounter()) : undefined;
  return schemaForPrompt(msg.text, msg.dialect, {
    link: { question: msg.link.question, budget: msg.link.budget, countTokens },
  }).text;
}

parentPort!.on("message", async (msg: Task) => {
  try {
    const value = msg.task === "schema" ? await schemaText(msg) : checkReadOnlySql(msg.sql, msg.dialect, msg.options);
    parentPort!.postMessage({ id: msg.id, ok: true, value });
  } catch (err) {
    const refusal = err instanceof SqlRefusedError ? err.code : undefined;
    parentPort!.postMessage({ id: msg.id, ok: false, error: (err as Error)?.message ?? String(err), refusal });
  }
});
