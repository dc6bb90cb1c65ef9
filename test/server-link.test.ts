// The server's question-aware prompts: with a link budget, --enable-mschema's configured database and DDL db_schema
// are linked to each request's question (tables, and for the database the cell values the question names).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { configuredDatabase, createServer, promptSchemaText } from "../src/server/index.js";
import { FakeChatModel } from "./server-fake-model.js";
import { LIBRARY_DDL, writeLibrary } from "./helpers/made-up-dbs.js";

let dir: string;
let ini: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-link-"));
  writeLibrary(join(dir, "library.sqlite"));
  ini = join(dir, "config.ini");
  writeFileSync(ini, "[database]\ntype = sqlite\npath = library.sqlite\n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ask = (question: string, extra: Record<string, unknown> = {}) => ({
  method: "POST" as const,
  url: "/text2sql",
  headers: { "content-type": "application/json" },
  payload: JSON.stringify({ question, include_prompt: true, ...extra }),
});

test("--enable-mschema with a link budget: each question gets its linked schema and matched values", async () => {
  const model = new FakeChatModel();
  const db = configuredDatabase(ini, { link: { budget: 140, valueCacheDir: join(dir, "vc") } });
  const app = await createServer({ model, logger: false, database: db });
  try {
    const a = await app.inject(ask("Which books did Oscar Lindqvist borrow?"));
    assert.equal(a.statusCode, 200, a.body);
    const pa = a.json().prompt as string;
    assert.match(pa, /\(member_name:TEXT, Examples: \[Oscar Lindqvist/);
    assert.doesNotMatch(pa, /# Table: staff_rota/);
    const b = await app.inject(ask("Who is the supervisor on Saturday at the front desk?"));
    const pb = b.json().prompt as string;
    assert.match(pb, /# Table: staff_rota/);
    assert.match(pb, /Examples: \[Saturday/);
    // /schema still shows the whole database.
    const s = await app.inject({ method: "GET", url: "/schema" });
    assert.match(s.json().schema, /# Table: members[\s\S]*# Table: staff_rota/);
  } finally {
    await app.close();
  }
});

test("DDL db_schema with a link budget: linked to the question; without one the whole DDL as M-Schema", async () => {
  const model = new FakeChatModel();
  const app = await createServer({ model, logger: false, schemaText: promptSchemaText({ budget: 70 }) });
  const plain = await createServer({ model, logger: false, schemaText: promptSchemaText() });
  try {
    const r = await app.inject(ask("How many pages does each book have?", { db_schema: LIBRARY_DDL }));
    assert.equal(r.statusCode, 200, r.body);
    const p = r.json().prompt as string;
    assert.match(p, /# Table: books\n\[\n\(book_id:INTEGER, Primary Key\),\n\(title:TEXT\),[\s\S]*\(pages:INTEGER\)/);
    const all = (await plain.inject(ask("How many pages does each book have?", { db_schema: LIBRARY_DDL }))).json()
      .prompt as string;
    const tables = (text: string) => text.match(/# Table: /g)?.length ?? 0;
    assert.equal(tables(all), 6);
    assert.ok(tables(p) < 6, p);
    // M-Schema text passes through unchanged either way.
    const m = await app.inject(ask("q", { db_schema: "【DB_ID】 x\n【Schema】\n# Table: t\n[\n(a:INTEGER)\n]" }));
    assert.match(m.json().prompt, /# Table: t\n\[\n\(a:INTEGER\)\n\]/);
  } finally {
    await app.close();
    await plain.close();
  }
});

test("a bad link budget is refused when the server is configured", () => {
  assert.throws(
    () => configuredDatabase(ini, { link: { budget: -1 } }),
    /link budget must be a whole number of tokens >= 0/,
  );
});
