// Server robustness: /health stays fast while a request's megabyte of DDL is parsed (on a worker thread), sizes are
// capped before any parsing, and SIGTERM drains: new requests get 503 while the one in flight finishes, then the
// process exits 0.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createServer, promptSchemaText } from "../src/server/index.js";
import { FakeChatModel } from "./server-fake-model.js";

/** About `bytes` of DDL: tables with a dozen columns and a foreign key each. */
function bigDdl(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let t = 0; size < bytes; t++) {
    const cols = Array.from(
      { length: 12 },
      (_, c) => `  col_${c}_of_table_${t} ${c % 3 === 0 ? "INTEGER" : c % 3 === 1 ? "VARCHAR(255)" : "REAL"} NOT NULL`,
    );
    const ddl = `CREATE TABLE table_${t} (\n  id INTEGER PRIMARY KEY,\n${cols.join(",\n")},\n  parent_id INTEGER REFERENCES table_${Math.max(0, t - 1)}(id)\n);\n`;
    parts.push(ddl);
    size += ddl.length;
  }
  return parts.join("");
}

describe("a 900 KB db_schema", () => {
  const model = new FakeChatModel(() => "SELECT 1\n```");
  let app: Awaited<ReturnType<typeof createServer>>;
  let url: string;
  before(async () => {
    app = await createServer({ model, logger: false, schemaText: promptSchemaText() });
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => app?.close());

  test("/health answers quickly all the while the DDL is parsed (off the main thread)", async () => {
    const ddl = bigDdl(900 * 1024);
    assert.ok(ddl.length > 900 * 1024 && ddl.length < 1_000_000);
    let done = false;
    const big = fetch(`${url}/text2sql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ question: "How many?", db_schema: ddl, include_prompt: true }),
    }).finally(() => (done = true));
    const latencies: number[] = [];
    await new Promise((r) => setTimeout(r, 50)); // the body is in, the parse has started
    while (!done) {
      const t0 = performance.now();
      const res = await fetch(`${url}/health`);
      assert.equal(res.status, 200);
      await res.json();
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await big;
    assert.equal(res.status, 200, (await res.clone().text()).slice(0, 300));
    const body = await res.json();
    assert.match(body.prompt, /# Table: table_0\n/); // the DDL became M-Schema
    latencies.sort((a, b) => a - b);
    const max = latencies[latencies.length - 1]!;
    const p50 = latencies[Math.floor(latencies.length / 2)]!;
    console.log(
      `/health during a ${Math.round(ddl.length / 1024)} KB db_schema: ${latencies.length} probes, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    assert.ok(latencies.length >= 3, `only ${latencies.length} probes: the parse was too quick to measure`);
    assert.ok(max < 500, `/health took ${max.toFixed(0)} ms while the schema was parsed`);
  });

  test("a db_schema over the cap is refused before any parsing; a body over the limit is 413", async () => {
    const small = await createServer({ model, logger: false, maxSchemaChars: 1000, schemaText: promptSchemaText() });
    try {
      let res = await small.inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ question: "q", db_schema: "x".repeat(1001) }),
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().message, "body/db_schema must NOT have more than 1000 characters");
      res = await small.inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ question: "q", db_schema: "x".repeat(2 * 1024 * 1024) }),
      });
      assert.equal(res.statusCode, 413);
      res = await small.inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ question: "q".repeat(20001), db_schema: "x" }),
      });
      assert.equal(res.statusCode, 400);
      assert.match(res.json().message, /body\/question must NOT have more than 20000 characters/);
    } finally {
      await small.close();
    }
  });
});

describe("SIGTERM", () => {
  test("new requests get 503 while the one in flight finishes; then the process exits 0", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "helpers", "serve-fake.ts")], {
      env: { ...process.env, SQLFOCUS_FAKE_DELAY_MS: "1500" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /listening (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on("exit", () => reject(new Error(`server exited early: ${stderr}`)));
      });
      const inFlight = fetch(`${url}/text2sql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ question: "q", db_schema: "s" }),
      });
      await new Promise((r) => setTimeout(r, 400));
      child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      const refused = await fetch(`${url}/text2sql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ question: "q", db_schema: "s" }),
      });
      assert.equal(refused.status, 503);
      assert.match((await refused.json()).message, /shutting down/);
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal((await res.json()).sql, "SELECT 1");
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /SIGTERM: closing/);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
