// Read-only execution on PostgreSQL and MySQL/MariaDB (the local servers; skipped when unreachable), and
// the SQL guard that refuses anything but one query before a database is touched.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeChatModel } from "./server-fake-model.js";
import { checkReadOnlySql, configuredDatabase, createServer, openReadOnlyDatabase, SqlRefusedError, type ReadOnlyDatabase } from "../src/server/index.js";

describe("checkReadOnlySql", () => {
  test("accepts single queries, trimming a trailing semicolon", () => {
    assert.equal(checkReadOnlySql("  SELECT 1;  "), "SELECT 1");
    assert.equal(checkReadOnlySql("with t as (select 1 as a) select a from t"), "with t as (select 1 as a) select a from t");
    assert.equal(checkReadOnlySql("SELECT 'a;b', \"x;y\" FROM t -- ; drop table t\n"), "SELECT 'a;b', \"x;y\" FROM t -- ; drop table t");
    assert.equal(checkReadOnlySql("SELECT comment, status FROM t WHERE note = 'DELETE me'"), "SELECT comment, status FROM t WHERE note = 'DELETE me'");
    assert.equal(checkReadOnlySql("SELECT replace(name, 'a', 'b') FROM t"), "SELECT replace(name, 'a', 'b') FROM t");
    assert.equal(checkReadOnlySql("/* hi */ SELECT `update` FROM t"), "/* hi */ SELECT `update` FROM t");
  });
  const refused: Array<[string, RegExp]> = [
    ["", /empty SQL/],
    ["-- just a comment", /no SQL statement/],
    ["DELETE FROM t", /statement starts with DELETE/],
    ["drop table t", /statement starts with DROP/],
    ["SELECT 1; SELECT 2", /more than one statement/],
    ["SELECT 1; DROP TABLE t;", /more than one statement/],
    ["WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", /DELETE is not allowed/],
    ["SELECT * INTO copy FROM t", /INTO is not allowed/],
    ["SELECT * FROM t FOR UPDATE", /UPDATE is not allowed/],
    ["SELECT * FROM t FOR SHARE", /locking reads/],
    ["PRAGMA writable_schema = 1", /statement starts with PRAGMA/],
    ["SELECT 'unterminated", /unterminated string literal/],
    ["SELECT 1 /* open", /unterminated \/\* comment/],
    ["EXPLAIN ANALYZE DELETE FROM t", /statement starts with EXPLAIN/],
  ];
  for (const [sql, reason] of refused) {
    test(`refuses ${JSON.stringify(sql)}`, () => {
      assert.throws(() => checkReadOnlySql(sql), (err: unknown) => err instanceof SqlRefusedError && reason.test((err as Error).message));
    });
  }
});

const DB = `sqlfocus_server_test_${process.pid}`;

async function pgAdmin() {
  const pg = (await import("pg")).default;
  const client = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres", connectionTimeoutMillis: 2000 });
  await client.connect();
  return client;
}

async function mysqlAdmin(database?: string) {
  const mysql = await import("mysql2/promise");
  return mysql.createConnection({ host: "127.0.0.1", port: 3306, user: "root", database, connectTimeout: 2000, multipleStatements: true });
}

async function reachable(f: () => Promise<{ end: () => Promise<unknown> }>): Promise<boolean> {
  try {
    await (await f()).end();
    return true;
  } catch {
    return false;
  }
}

const pgUp = await reachable(pgAdmin);
const mysqlUp = await reachable(() => mysqlAdmin());

describe("PostgreSQL read-only execution", { skip: pgUp ? false : "PostgreSQL not reachable on 127.0.0.1:5432" }, () => {
  let db: ReadOnlyDatabase;
  before(async () => {
    const admin = await pgAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.end();
    const pg = (await import("pg")).default;
    const c = new pg.Client({ host: "127.0.0.1", user: "postgres", database: DB });
    await c.connect();
    await c.query("CREATE TABLE item (id serial PRIMARY KEY, name text, price numeric(6,2), big bigint, at date)");
    await c.query("INSERT INTO item (name, price, big, at) SELECT 'n' || g, g * 1.5, 9007199254740993, DATE '2024-01-02' FROM generate_series(1, 30) g");
    await c.query("CREATE FUNCTION bump() RETURNS int LANGUAGE sql AS $$ INSERT INTO item (name) VALUES ('x') RETURNING 1 $$");
    await c.end();
    db = openReadOnlyDatabase({ dialect: "PostgreSQL", host: "127.0.0.1", user: "postgres", database: DB });
  });
  after(async () => {
    await db?.close();
    const admin = await pgAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.end();
  });

  test("rows and columns, row limit forced", async () => {
    const r = await db.execute("SELECT id, name, price, big, at FROM item ORDER BY id", { rowLimit: 10 });
    assert.deepEqual(r.columns, ["id", "name", "price", "big", "at"]);
    assert.equal(r.rows.length, 10);
    assert.equal(r.truncated, true);
    assert.deepEqual(r.rows[0]![0], 1);
    assert.equal(r.rows[0]![1], "n1");
    assert.equal(r.rows[0]![2], "1.50");
    assert.equal(r.rows[0]![3], "9007199254740993");
    const all = await db.execute("SELECT count(*) FROM item;", { rowLimit: 10 });
    assert.deepEqual(all.rows, [["30"]]);
    assert.equal(all.truncated, false);
  });

  test("a write hidden in a function is stopped by the read-only transaction", async () => {
    await assert.rejects(db.execute("SELECT bump()"), (e: Error) => e instanceof SqlRefusedError && /read-only transaction/.test(e.message));
    const r = await db.execute("SELECT count(*)::int FROM item");
    assert.deepEqual(r.rows, [[30]]);
  });

  test("--enable-mschema end to end: config.ini → M-Schema in the prompt → execute", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-pg-"));
    const ini = join(dir, "config.ini");
    writeFileSync(ini, `[database]\ntype = postgresql\nhost = 127.0.0.1\nport = 5432\nuser = postgres\npassword =\ndbname = ${DB}\n`);
    const model = new FakeChatModel(() => "SELECT name FROM item WHERE id <= 2 ORDER BY id\n```");
    const app = await createServer({ model, logger: false, database: configuredDatabase(ini) });
    try {
      const schema = (await app.inject({ method: "GET", url: "/schema" })).json();
      assert.equal(schema.dialect, "PostgreSQL");
      assert.match(schema.schema, /# Table: item/);
      const res = await app.inject({ method: "POST", url: "/text2sql", headers: { "content-type": "application/json" }, payload: JSON.stringify({ question: "First two names?", execute: true }) });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.dialect, "PostgreSQL");
      assert.match(model.requests[0]!.messages[0]!.content, /^你是一名PostgreSQL专家[\s\S]*# Table: item/);
      assert.deepEqual(body.execution, { status: "ok", columns: ["name"], rows: [["n1"], ["n2"]], truncated: false, ms: body.execution.ms });
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("statement timeout and SQL errors", async () => {
    await assert.rejects(db.execute("SELECT pg_sleep(5)", { timeoutMs: 300 }), /300 ms statement timeout/);
    await assert.rejects(db.execute("SELECT nope FROM item"), /column "nope" does not exist/);
    // the pool is still usable after failures
    assert.deepEqual((await db.execute("SELECT 1 AS one")).rows, [[1]]);
  });
});

describe("MySQL/MariaDB read-only execution", { skip: mysqlUp ? false : "MySQL/MariaDB not reachable on 127.0.0.1:3306" }, () => {
  let db: ReadOnlyDatabase;
  before(async () => {
    const admin = await mysqlAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.query(`USE ${DB}`);
    await admin.query("CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6,2), at DATE)");
    await admin.query("INSERT INTO item (name, price, at) VALUES " + Array.from({ length: 30 }, (_, i) => `('n${i + 1}', ${(i + 1) * 1.5}, '2024-01-02')`).join(","));
    await admin.query("CREATE FUNCTION bump() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO item (name) VALUES ('x'); RETURN 1; END");
    await admin.end();
    db = openReadOnlyDatabase({ dialect: "MySQL", host: "127.0.0.1", user: "root", database: DB });
  });
  after(async () => {
    await db?.close();
    const admin = await mysqlAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.end();
  });

  test("rows and columns, row limit forced", async () => {
    const r = await db.execute("SELECT id, name, price, at FROM item ORDER BY id", { rowLimit: 10 });
    assert.deepEqual(r.columns, ["id", "name", "price", "at"]);
    assert.equal(r.rows.length, 10);
    assert.equal(r.truncated, true);
    assert.deepEqual(r.rows[0], [1, "n1", "1.50", "2024-01-02"]);
    const all = await db.execute("SELECT count(*) AS n FROM item", { rowLimit: 10 });
    assert.deepEqual(all.rows, [[30]]);
    assert.equal(all.truncated, false);
  });

  test("a write hidden in a function is stopped by the read-only transaction", async () => {
    await assert.rejects(db.execute("SELECT bump()"), (e: Error) => e instanceof SqlRefusedError && /read-only transaction/i.test(e.message));
    assert.deepEqual((await db.execute("SELECT count(*) FROM item")).rows, [[30]]);
  });

  test("statement timeout and SQL errors", async () => {
    await assert.rejects(
      db.execute("SELECT count(*) FROM item a, item b, item c, item d, item e, item f", { timeoutMs: 300 }), // 30^6 rows
      /300 ms statement timeout/,
    );
    await assert.rejects(db.execute("SELECT nope FROM item"), /Unknown column 'nope'/);
    assert.deepEqual((await db.execute("SELECT 1 AS one")).rows, [[1]]);
  });
});

describe("configured database from config.ini", () => {
  test("the password shows in no description or error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-ini-"));
    try {
      const ini = join(dir, "config.ini");
      writeFileSync(ini, "[database]\ntype = postgresql\nhost = 127.0.0.1\nport = 1\nuser = app\npassword = s3cret;pw\ndbname = shop\n");
      const db = configuredDatabase(ini);
      try {
        assert.equal(db.dialect, "PostgreSQL");
        assert.equal(db.description, "PostgreSQL app@127.0.0.1:1/shop");
        await assert.rejects(db.loadSchema(), (e: Error) => !e.message.includes("s3cret") && /ECONNREFUSED|connect/.test(e.message));
        await assert.rejects(db.executor!.execute("SELECT 1"), (e: Error) => !e.message.includes("s3cret") && /^cannot connect to PostgreSQL app@127\.0\.0\.1:1\/shop: /.test(e.message));
      } finally {
        await db.executor!.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

