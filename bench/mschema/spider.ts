// M-Schema over every Spider database: live SQLite reader + formatter (time, size in Qwen tokens) and DDL → M-Schema
// coverage (how many databases' DDL parse, and how many statements needed the tolerant reader).
// Usage: node --import tsx bench/mschema/spider.ts [spiderDir]
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { formatMSchema, parseDdlSchema, qwenTokenCounter, readSqliteSchema } from "../../src/mschema/index.js";
import { sqliteDdl } from "../../src/eval/index.js";

const spider = resolve(
  process.argv[2] ?? process.env.SQLFOCUS_SPIDER ?? join(import.meta.dirname, "..", "..", "..", "shared", "spider"),
);
const ids = readdirSync(join(spider, "database"))
  .filter((d) => existsSync(join(spider, "database", d, `${d}.sqlite`)))
  .sort();
const count = await qwenTokenCounter();
const tokens: number[] = [];
let readMs = 0;
let maxDb = "";
for (const id of ids) {
  const t0 = performance.now();
  const text = formatMSchema(readSqliteSchema(join(spider, "database", id, `${id}.sqlite`)));
  readMs += performance.now() - t0;
  const n = count(text);
  if (n > Math.max(0, ...tokens)) maxDb = id;
  tokens.push(n);
}
tokens.sort((a, b) => a - b);
let parsed = 0;
let tolerant = 0;
let ddlMs = 0;
for (const id of ids) {
  const ddl = sqliteDdl(join(spider, "database", id, `${id}.sqlite`));
  const t0 = performance.now();
  const r = parseDdlSchema(ddl, "sqlite", { dbId: id });
  ddlMs += performance.now() - t0;
  if (r.ok) parsed++;
  tolerant += r.warnings.filter((w) => w.includes("tolerant reader")).length;
}
console.log(`databases: ${ids.length}`);
console.log(
  `live SQLite → M-Schema: ${(readMs / 1000).toFixed(2)} s total, ${(readMs / ids.length).toFixed(1)} ms per database`,
);
console.log(
  `M-Schema size (Qwen tokens): median ${tokens[tokens.length >> 1]}, p90 ${tokens[Math.floor(tokens.length * 0.9)]}, max ${tokens.at(-1)} (${maxDb})`,
);
console.log(
  `DDL → M-Schema: ${parsed}/${ids.length} databases parsed, ${tolerant} statements by the tolerant reader, ${(ddlMs / 1000).toFixed(2)} s total`,
);
