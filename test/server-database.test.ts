// Read-only execution on PostgreSQL and MySQL/MariaDB through the server's configured database: rows, caps, a write
// hidden in a function, timeouts, config.ini end to end. Servers from SQLFOCUS_TEST_PG_URL / SQLFOCUS_TEST_MYSQL_URL;
// skipped when nothing answers (a failure under CI, see test/helpers/services.ts). The attack corpus is in
// test/sql-attacks-*.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeChatModel } from "./server-fake-model.js";
import { configuredDatabase, createServer } from "../src/server/index.js";
import { openReadOnlyDatabase, SqlRefusedError, type ReadOnlyDatabase } from "../src/sql/index.js";
import { mysqlConfig, pgConfig, requireMysql, requirePostgres } from "./helpers/services.js";

const DB = `sqlfocus_server_test_${process.pid}`;

async function pgAdmin() {
  const pg = (await import("pg")).default;
  const client = new pg.Client(pgConfig());
  await client.connect();
  return client;
}

async function mysqlAdmin(database?: string) {
  const mysql = await import("mysql2/promise");
  return mysql.createConnection({ ...mysqlConfig(database), multipleStatements: true });
}

const pgSkip = await requirePostgres();
const mysqlSkip = await requireMysql();

describe("PostgreSQL read-only execution", { skip: pgSkip }, () => {
  let db: ReadOnlyDatabase;
  before(async () => {
    const admin = await pgAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.end();
    const pg = (await import("pg")).default;
    const c = new pg.Client(pgConfig(DB));
    await c.connect();
    await c.query("CREATE TABLE item (id serial PRIMARY KEY, name text, price numeric(6,2), big bigint, added date)");
    await c.query(
      "INSERT INTO item (name, price, big, added) SELECT 'n' || g, g * 1.5, 9007199254740993, DATE '2024-01-02' FROM generate_series(1, 30) g",
    );
    await c.query(
      "CREATE FUNCTION bump() RETURNS int LANGUAGE sql AS $$ INSERT INTO item (name) VALUES ('x') RETURNING 1 $$",
    );
    await c.end();
    const pc = pgConfig(DB);
    db = openReadOnlyDatabase(
      { dialect: "PostgreSQL", host: pc.host, port: pc.port, user: pc.user, password: pc.password, database: DB },
      { allowPrivilegedUser: true },
    );
  });
  after(async () => {
    await db?.close();
    const admin = await pgAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.end();
  });

  test("rows and columns, row limit forced", async () => {
    const r = await db.execute("SELECT id, name, price, big, added FROM item ORDER BY id", { rowLimit: 10 });
    assert.deepEqual(r.columns, ["id", "name", "price", "big", "added"]);
    assert.equal(r.rows[0]![4], "2024-01-02"); // dates as the database prints them
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
    await assert.rejects(
      db.execute("SELECT bump()"),
      (e: Error) => e instanceof SqlRefusedError && /read-only transaction/.test(e.message),
    );
    const r = await db.execute("SELECT count(*)::int FROM item");
    assert.deepEqual(r.rows, [[30]]);
  });

  test("--enable-mschema end to end: config.ini → M-Schema in the prompt → execute", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-pg-"));
    const ini = join(dir, "config.ini");
    const pc = pgConfig(DB);
    writeFileSync(
      ini,
      `[database]\ntype = postgresql\nhost = ${pc.host}\nport = ${pc.port}\nuser = ${pc.user}\npassword = ${pc.password}\ndbname = ${DB}\n`,
    );
    const model = new FakeChatModel(() => "SELECT name FROM item WHERE id <= 2 ORDER BY id\n```");
    const app = await createServer({
      model,
      logger: false,
      database: configuredDatabase(ini, { allowPrivilegedUser: true }),
    });
    try {
      const schema = (await app.inject({ method: "GET", url: "/schema" })).json();
      assert.equal(schema.dialect, "PostgreSQL");
      assert.match(schema.schema, /# Table: item/);
      const res = await app.inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ question: "First two names?", execute: true }),
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.dialect, "PostgreSQL");
      assert.match(model.requests[0]!.messages[0]!.content, /^你是一名PostgreSQL专家[\s\S]*# Table: item/);
      assert.deepEqual(body.execution, {
        status: "ok",
        columns: ["name"],
        rows: [["n1"], ["n2"]],
        truncated: false,
        ms: body.execution.ms,
      });
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a privileged configured user: the schema still loads, execute answers 422 with the SQL that makes a read-only user", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlfocus-server-pg-"));
    const ini = join(dir, "config.ini");
    const pc = pgConfig(DB);
    writeFileSync(
      ini,
      `[database]\ntype = postgresql\nhost = ${pc.host}\nport = ${pc.port}\nuser = ${pc.user}\npassword = ${pc.password}\ndbname = ${DB}\n`,
    );
    const model = new FakeChatModel(() => "SELECT name FROM item\n```");
    const app = await createServer({ model, logger: false, database: configuredDatabase(ini) });
    try {
      assert.match((await app.inject({ method: "GET", url: "/schema" })).json().schema, /# Table: item/);
      const res = await app.inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ question: "names?", execute: true }),
      });
      assert.equal(res.statusCode, 422, res.body);
      const body = res.json();
      assert.equal(body.code, "privileged-user");
      assert.equal(body.sql, "SELECT name FROM item");
      assert.match(
        body.message,
        /^execute refused: the configured user \w+ \(PostgreSQL .*\) has more than read rights/,
      );
      assert.match(body.message, /CREATE ROLE sqlfocus_reader LOGIN PASSWORD 'choose-a-password';/);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("statement timeout and SQL errors", async () => {
    await assert.rejects(
      db.execute("SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b", { timeoutMs: 300 }),
      /300 ms statement timeout/,
    );
    await assert.rejects(db.execute("SELECT nope FROM item"), /column "nope" does not exist/);
    // the pool is still usable after failures
    assert.deepEqual((await db.execute("SELECT 1 AS one")).rows, [[1]]);
  });

  test("`await using` ends the pool at the end of the scope", async () => {
    const pc = pgConfig(DB);
    let held: ReadOnlyDatabase;
    {
      await using scoped = openReadOnlyDatabase(
        { dialect: "PostgreSQL", host: pc.host, port: pc.port, user: pc.user, password: pc.password, database: DB },
        { allowPrivilegedUser: true },
      );
      held = scoped;
      assert.deepEqual((await scoped.execute("SELECT 2 AS two")).rows, [[2]]);
    }
    await assert.rejects(held.execute("SELECT 3"), /end on the pool/);
  });
});

describe("MySQL/MariaDB read-only execution", { skip: mysqlSkip }, () => {
  let db: ReadOnlyDatabase;
  before(async () => {
    const admin = await mysqlAdmin();
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.query(`USE ${DB}`);
    await admin.query(
      "CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6,2), at DATE)",
    );
    await admin.query(
      "INSERT INTO item (name, price, at) VALUES " +
        Array.from({ length: 30 }, (_, i) => `('n${i + 1}', ${(i + 1) * 1.5}, '2024-01-02')`).join(","),
    );
    await admin.query(
      "CREATE FUNCTION bump() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO item (name) VALUES ('x'); RETURN 1; END",
    );
    await admin.end();
    const mc = mysqlConfig();
    db = openReadOnlyDatabase(
      { dialect: "MySQL", host: mc.host, port: mc.port, user: mc.user, password: mc.password, database: DB },
      { allowPrivilegedUser: true },
    );
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
    await assert.rejects(
      db.execute("SELECT bump()"),
      (e: Error) => e instanceof SqlRefusedError && /read-only transaction/i.test(e.message),
    );
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
      writeFileSync(
        ini,
        "[database]\ntype = postgresql\nhost = 127.0.0.1\nport = 1\nuser = app\npassword = s3cret;pw\ndbname = shop\n",
      );
      const db = configuredDatabase(ini);
      try {
        assert.equal(db.dialect, "PostgreSQL");
        assert.equal(db.description, "PostgreSQL app@127.0.0.1:1/shop");
        await assert.rejects(
          db.loadSchema(),
          (e: Error) => !e.message.includes("s3cret") && /ECONNREFUSED|connect/.test(e.message),
        );
        await assert.rejects(
          db.executor!.execute("SELECT 1"),
          (e: Error) =>
            !e.message.includes("s3cret") && /^cannot connect to PostgreSQL app@127\.0\.0\.1:1\/shop: /.test(e.message),
        );
      } finally {
        await db.executor!.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
