// DDL → M-Schema (parseDdlSchema) and the server's schemaForPrompt.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { formatMSchema, parseDdlSchema, readSqliteSchema, schemaForPrompt } from "../src/mschema/index.js";
import { sqliteDdl } from "../src/eval/index.js";
import { requireSpider, spiderDir } from "./helpers/services.js";

const ok = (r: ReturnType<typeof parseDdlSchema>) => {
  assert.ok(r.ok, `not parsed: ${r.warnings.join("; ")}`);
  return r.schema;
};

test("MySQL dump DDL: backticks, COLLATE, defaults, inline COMMENT '…', table COMMENT=, ALTER TABLE … FOREIGN KEY", () => {
  const ddl = `
    -- MySQL dump
    /*!40101 SET NAMES utf8mb4 */;
    CREATE TABLE \`dept\` (
      \`id\` int(11) NOT NULL AUTO_INCREMENT,
      \`name\` varchar(40) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'dept''s name; shown',
      \`budget\` decimal(10,2) DEFAULT '0.00',
      PRIMARY KEY (\`id\`),
      UNIQUE KEY \`uq_name\` (\`name\`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='departments';
    CREATE TABLE emp (
      emp_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      dept_id int,
      hired datetime DEFAULT CURRENT_TIMESTAMP,
      KEY idx_dept (dept_id)
    );
    ALTER TABLE emp ADD CONSTRAINT fk_emp_dept FOREIGN KEY (dept_id) REFERENCES dept (id) ON DELETE CASCADE;
    CREATE INDEX ix_hired ON emp (hired);
    INSERT INTO dept VALUES (1, 'x', 1);`;
  const r = parseDdlSchema(ddl, "MySQL", { dbId: "hr" });
  assert.equal(
    formatMSchema(ok(r)),
    [
      "【DB_ID】 hr",
      "【Schema】",
      "# Table: dept, departments",
      "[",
      "(id:INTEGER, Primary Key),",
      "(name:VARCHAR, dept's name; shown),",
      "(budget:DECIMAL)",
      "]",
      "# Table: emp",
      "[",
      "(emp_id:INTEGER UNSIGNED, Primary Key),",
      "(dept_id:INTEGER),",
      "(hired:DATETIME)",
      "]",
      "【Foreign keys】",
      "emp.dept_id=dept.id",
    ].join("\n"),
  );
  assert.ok(r.warnings.some((w) => /statement\(s\) other than CREATE TABLE/.test(w)));
});

test("PostgreSQL DDL: quoted identifiers, schemas, COMMENT ON TABLE/COLUMN, REFERENCES without columns, ALTER TABLE ONLY", () => {
  const ddl = `
    CREATE TABLE public."Dept" ("Dept ID" serial PRIMARY KEY, name character varying(40) COLLATE "C" NOT NULL,
      created timestamp DEFAULT now(), CHECK ("Dept ID" > 0));
    CREATE TABLE sales.orders (order_id bigint NOT NULL, dept_id integer REFERENCES "Dept", total numeric(12,2) DEFAULT 0,
      at timestamptz, tags text[], flag bool);
    ALTER TABLE ONLY sales.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (order_id);
    COMMENT ON TABLE sales.orders IS 'customer orders';
    COMMENT ON COLUMN "Dept".name IS 'it''s the name';
    COMMENT ON COLUMN sales.orders.total IS 'in euros';`;
  assert.equal(
    formatMSchema(ok(parseDdlSchema(ddl, "postgresql"))),
    [
      "【DB_ID】 Anonymous",
      "【Schema】",
      "# Table: Dept",
      "[",
      "(Dept ID:INTEGER, Primary Key),",
      "(name:VARCHAR, it's the name),",
      "(created:TIMESTAMP WITHOUT TIME ZONE)",
      "]",
      "# Table: sales.orders, customer orders",
      "[",
      "(order_id:BIGINT, Primary Key),",
      "(dept_id:INTEGER),",
      "(total:NUMERIC, in euros),",
      "(at:TIMESTAMP WITH TIME ZONE),",
      "(tags:TEXT[]),",
      "(flag:BOOLEAN)",
      "]",
      "【Foreign keys】",
      "sales.orders.dept_id=Dept.Dept ID",
    ].join("\n"),
  );
});

const spiderDb = (id: string) => join(spiderDir, "database", id, `${id}.sqlite`);

// Skipped without Spider; a failure under CI (test/helpers/services.ts).
test(
  "SQLite DDL gives the live reader's M-Schema without examples, for every Spider database",
  { skip: requireSpider() },
  () => {
    const dir = dirname(dirname(spiderDb("concert_singer")));
    const ids = readdirSync(dir).filter((id) => existsSync(spiderDb(id)));
    assert.ok(ids.length >= 3);
    for (const id of ids) {
      const live = readSqliteSchema(spiderDb(id));
      const fromDdl = ok(parseDdlSchema(sqliteDdl(spiderDb(id)), "sqlite", { dbId: id }));
      // the live reader lists tables by name (as SQLAlchemy); DDL keeps declaration order
      fromDdl.tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const liveText = formatMSchema(live, { maxExamples: 0 }).split("\n");
      const ddlText = formatMSchema(fromDdl).split("\n");
      const cut = (lines: string[]) =>
        lines.includes("【Foreign keys】") ? lines.indexOf("【Foreign keys】") : lines.length;
      assert.deepEqual(ddlText.slice(0, cut(ddlText)), liveText.slice(0, cut(liveText)), id);
      // key order differs (SQLAlchemy's PRAGMA order vs declaration order); keys declared twice are shown once by both
      assert.deepEqual([...new Set(ddlText.slice(cut(ddlText)))].sort(), liveText.slice(cut(liveText)).sort(), id);
    }
  },
);

test("CREATE TABLE … AS SELECT is left out with a warning; SQL Server-style [names] and COLLATE NOCASE read", () => {
  const r = parseDdlSchema(
    'CREATE TABLE "t" ("a b" TEXT COLLATE NOCASE DEFAULT \'x\', [c] INT, PRIMARY KEY ("a b")); CREATE TABLE u AS SELECT * FROM t;',
    "sqlite",
  );
  assert.equal(
    formatMSchema(ok(r)),
    "【DB_ID】 Anonymous\n【Schema】\n# Table: t\n[\n(a b:TEXT, Primary Key),\n(c:INTEGER)\n]",
  );
  assert.ok(r.warnings.some((w) => /CREATE TABLE u has no column list/.test(w)));
});

test("unparseable DDL comes back unchanged with a warning, never an exception", () => {
  for (const [text, dialect] of [
    ["CREATE TABLE t (a int, b weird stuff here(((", "mysql"],
    ["this is prose about tables", "sqlite"],
    ["", "postgresql"],
    ["CREATE TABLE x (a int)", "oracle"],
  ] as const) {
    const r = parseDdlSchema(text, dialect);
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.equal(r.text, text);
      assert.ok(r.warnings.length > 0);
    }
  }
});

test("schemaForPrompt: M-Schema passes through, DDL becomes M-Schema, anything else passes through with a warning", () => {
  const m = "【DB_ID】 shop\n【Schema】\n# Table: item\n[\n(id:INTEGER, Primary Key)\n]";
  assert.deepEqual(schemaForPrompt(m, "SQLite"), { text: m, kind: "mschema", warnings: [] });
  const d = schemaForPrompt('CREATE TABLE "item" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);', "SQLite");
  assert.equal(d.kind, "ddl");
  assert.equal(d.text, "【DB_ID】 Anonymous\n【Schema】\n# Table: item\n[\n(id:INTEGER, Primary Key),\n(name:TEXT)\n]");
  const bad = "CREATE TABLE broken (a int,, ((";
  const u = schemaForPrompt(bad, "MySQL");
  assert.equal(u.kind, "unchanged");
  assert.equal(u.text, bad);
  assert.match(u.warnings[0]!, /DDL not understood/);
  const prose = schemaForPrompt("table item has id and name", "PostgreSQL");
  assert.equal(prose.kind, "unchanged");
  assert.match(prose.warnings[0]!, /neither M-Schema nor DDL/);
});
