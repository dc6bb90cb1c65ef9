// PostgreSQL → M-Schema against the real server (a throwaway database with a random name, dropped after).
// Server: $SQLFOCUS_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres); skipped when nothing answers (a failure under CI).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { formatMSchema, mschema, readPostgresSchema } from "../src/mschema/index.js";
import { pgUrl, requirePostgres } from "./helpers/services.js";

const adminUrl = pgUrl;
const dbName = `sqlfocus_mschema_${randomBytes(4).toString("hex")}`;
const clientFor = (database: string) =>
  new pg.Client({
    host: adminUrl.hostname,
    port: Number(adminUrl.port || 5432),
    user: decodeURIComponent(adminUrl.username) || "postgres",
    password: decodeURIComponent(adminUrl.password),
    database,
    connectionTimeoutMillis: 3000,
  });
// Nothing listening: skipped (a failure under CI); a refused login: a failure (test/helpers/services.ts).
const skip = await requirePostgres();
let admin: pg.Client | null = null;
if (!skip) {
  admin = clientFor(decodeURIComponent(adminUrl.pathname.slice(1)) || "postgres");
  await admin.connect();
}
const dbUrl = () => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
};

describe("PostgreSQL", { skip }, () => {
  before(async () => {
    await admin!.query(`CREATE DATABASE ${dbName}`);
    await admin!.query(`ALTER DATABASE ${dbName} SET timezone TO 'UTC'`); // timestamptz examples print in the session zone
    const c = clientFor(dbName);
    await c.connect();
    try {
      await c.query(`
        CREATE SCHEMA sales;
        CREATE TABLE dept (
          id integer PRIMARY KEY,
          name varchar(40) COLLATE "C" NOT NULL DEFAULT '',
          budget numeric(10,2),
          created timestamptz,
          opens time,
          active boolean,
          score real,
          weight double precision,
          contact text
        );
        COMMENT ON TABLE dept IS 'departments';
        COMMENT ON COLUMN dept.name IS ' department name ';
        CREATE TABLE sales."order" (order_id bigserial PRIMARY KEY, dept_id integer REFERENCES dept(id), placed date, note text, raw bytea);
        CREATE TABLE sales.order_line (order_id bigint, line int, qty smallint, PRIMARY KEY (order_id, line),
          CONSTRAINT fk_line_order FOREIGN KEY (order_id) REFERENCES sales."order"(order_id));
        INSERT INTO dept VALUES
          (1, 'Sales', 1000.50, '2020-01-02 03:04:05+00', '09:00', true, 1.5, 0.1, 'ann@example.com'),
          (2, 'R&D', NULL, NULL, NULL, false, 3, 1e20, NULL);
        INSERT INTO sales."order" (dept_id, placed, note, raw) VALUES (1, '2020-05-06', 'hello', '\\x00ff'), (2, '2021-01-01', '', NULL);
        INSERT INTO sales.order_line VALUES (1, 1, 5);
      `);
    } finally {
      await c.end();
    }
  });
  after(async () => {
    await admin!.query(`DROP DATABASE IF EXISTS ${dbName}`);
    await admin!.end();
  });

  const deptBlock = [
    "# Table: dept, departments",
    "[",
    "(id:INTEGER, Primary Key, Examples: [1, 2]),",
    "(name:VARCHAR, department name, Examples: [R&D, Sales]),",
    "(budget:NUMERIC, Examples: [1000.5]),",
    "(created:TIMESTAMP WITH TIME ZONE, Examples: [2020-01-02 03:04:05+00:00]),",
    "(opens:TIME WITHOUT TIME ZONE, Examples: [09:00:00]),",
    "(active:BOOLEAN, Examples: [False, True]),",
    "(score:REAL, Examples: [3.0, 1.5]),",
    "(weight:DOUBLE PRECISION, Examples: [1e+20, 0.1]),",
    "(contact:TEXT)",
    "]",
  ];

  test("every user schema: public tables bare, others as schema.table; keys across schemas", async () => {
    const c = clientFor(dbName);
    await c.connect();
    try {
      const text = formatMSchema(await readPostgresSchema(c));
      const expected = [
        `【DB_ID】 ${dbName}`,
        "【Schema】",
        ...deptBlock,
        "# Table: sales.order",
        "[",
        "(order_id:BIGINT, Primary Key, Examples: [1, 2]),",
        "(dept_id:INTEGER, Examples: [1, 2]),",
        "(placed:DATE, Examples: [2020-05-06]),",
        "(note:TEXT, Examples: [hello]),",
        "(raw:BYTEA, Examples: [b'\\x00\\xff'])",
        "]",
        "# Table: sales.order_line",
        "[",
        "(order_id:BIGINT, Primary Key, Examples: [1]),",
        "(line:INTEGER, Primary Key, Examples: [1]),",
        "(qty:SMALLINT, Examples: [5])",
        "]",
        "【Foreign keys】",
        "sales.order.dept_id=dept.id",
        "sales.order_line.order_id=sales.order.order_id",
      ];
      assert.deepEqual(normalizeExampleOrder(text.split("\n")), normalizeExampleOrder(expected));
    } finally {
      await c.end();
    }
  });

  test("--schema public only (through a URL); keys into other schemas left out", async () => {
    const r = await mschema(dbUrl(), { schema: "public" });
    assert.deepEqual(
      normalizeExampleOrder(r.text.split("\n")),
      normalizeExampleOrder([`【DB_ID】 ${dbName}`, "【Schema】", ...deptBlock]),
    );
    assert.equal(r.report.dialect, "postgresql");
    const s = await mschema(dbUrl(), { schema: "sales", maxExamples: 0, dbId: "shop" });
    assert.equal(
      s.text,
      [
        "【DB_ID】 shop",
        "【Schema】",
        "# Table: sales.order",
        "[",
        "(order_id:BIGINT, Primary Key),",
        "(dept_id:INTEGER),",
        "(placed:DATE),",
        "(note:TEXT),",
        "(raw:BYTEA)",
        "]",
        "# Table: sales.order_line",
        "[",
        "(order_id:BIGINT, Primary Key),",
        "(line:INTEGER, Primary Key),",
        "(qty:SMALLINT)",
        "]",
        "【Foreign keys】",
        "sales.order_line.order_id=sales.order.order_id",
      ].join("\n"),
    );
    await assert.rejects(mschema(dbUrl(), { schema: "nope" }), /schema nope does not exist/);
  });

  test("a wrong password fails without showing it", async () => {
    const secret = "s3cr3t-pg-pass";
    const u = new URL(dbUrl());
    u.username = "sqlfocus_nobody";
    u.password = secret;
    await assert.rejects(mschema(u.toString()), (err: Error) => {
      assert.match(err.message, /^PostgreSQL sqlfocus_nobody@/);
      assert.ok(!err.message.includes(secret), err.message);
      return true;
    });
  });
});

/** PostgreSQL's DISTINCT order is its own (hash or sort): compare example lists as sorted sets. */
function normalizeExampleOrder(lines: string[]): string[] {
  return lines.map((l) =>
    l.replace(/Examples: \[(.*)\]\)/, (_m, list: string) => `Examples: {${list.split(", ").sort().join(", ")}})`),
  );
}
