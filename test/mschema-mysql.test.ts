// MySQL/MariaDB → M-Schema against the real server (a throwaway database with a random name, dropped after).
// Server: $SQLFOCUS_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306); skipped when nothing answers (a failure under CI).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import mysql from "mysql2/promise";
import { mschema, readMysqlSchema } from "../src/mschema/index.js";
import { mysqlUrl, requireMysql } from "./helpers/services.js";

const adminUrl = mysqlUrl;
const dbName = `sqlfocus_mschema_${randomBytes(4).toString("hex")}`;
// Nothing listening: skipped (a failure under CI); a refused login: a failure (test/helpers/services.ts).
const skip = await requireMysql();
let admin: mysql.Connection | null = null;
if (!skip) {
  admin = await mysql.createConnection({
    host: adminUrl.hostname,
    port: Number(adminUrl.port || 3306),
    user: decodeURIComponent(adminUrl.username) || "root",
    password: decodeURIComponent(adminUrl.password),
    multipleStatements: true,
    connectTimeout: 3000,
  });
}

const dbUrl = () => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
};

describe("MySQL/MariaDB", { skip }, () => {
  before(async () => {
    await admin!.query(`CREATE DATABASE ${dbName} CHARACTER SET utf8mb4; USE ${dbName};
      CREATE TABLE dept (
        id INT NOT NULL,
        name VARCHAR(40) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT ' department name ',
        budget DECIMAL(10,2),
        homepage VARCHAR(100),
        PRIMARY KEY (id)
      ) COMMENT='departments';
      CREATE TABLE emp (
        emp_id INT AUTO_INCREMENT PRIMARY KEY,
        dept_id INT,
        hired DATE,
        shift TIME,
        updated DATETIME(3),
        rating DOUBLE,
        big BIGINT,
        flag TINYINT(1),
        code VARBINARY(4),
        bio TEXT,
        CONSTRAINT fk_emp_dept FOREIGN KEY (dept_id) REFERENCES dept (id)
      );
      CREATE TABLE audit (a_id INT, a_line INT, what VARCHAR(10), PRIMARY KEY (a_id, a_line));
      CREATE TABLE audit_note (a_id INT, a_line INT, note CHAR(3),
        CONSTRAINT fk_note FOREIGN KEY (a_id, a_line) REFERENCES audit (a_id, a_line));
      INSERT INTO dept VALUES (1, 'Sales', 1000.50, 'http://sales.example'), (2, 'R&D', NULL, NULL), (3, '', 0.10, NULL);
      INSERT INTO emp (dept_id, hired, shift, updated, rating, big, flag, code, bio) VALUES
        (1, '2020-01-02', '09:05:00', '2020-01-02 10:00:00.250', 1.0, 9007199254740993, 1, X'00FF41', 'A very long biography that certainly runs past twenty characters'),
        (2, '2021-03-04', '-01:00:00', '2021-01-01 00:00:00', 0.1, 5, 0, 'ab', 'short');
      INSERT INTO audit VALUES (1, 1, 'x');
      INSERT INTO audit_note VALUES (1, 1, 'abc');`);
  });
  after(async () => {
    await admin!.query(`DROP DATABASE IF EXISTS ${dbName}`);
    await admin!.end();
  });

  const expected = () =>
    [
      `【DB_ID】 ${dbName}`,
      "【Schema】",
      "# Table: audit",
      "[",
      "(a_id:INTEGER, Primary Key, Examples: [1]),",
      "(a_line:INTEGER, Primary Key, Examples: [1]),",
      "(what:VARCHAR, Examples: [x])",
      "]",
      "# Table: audit_note",
      "[",
      "(a_id:INTEGER, Examples: [1]),",
      "(a_line:INTEGER, Examples: [1]),",
      "(note:CHAR, Examples: [abc])",
      "]",
      "# Table: dept, departments",
      "[",
      "(id:INTEGER, Primary Key, Examples: [1, 2, 3]),",
      "(name:VARCHAR, department name, Examples: [Sales, R&D]),",
      "(budget:DECIMAL, Examples: [1000.5, 0.1]),",
      "(homepage:VARCHAR)",
      "]",
      "# Table: emp",
      "[",
      "(emp_id:INTEGER, Primary Key, Examples: [1, 2]),",
      "(dept_id:INTEGER, Examples: [1, 2]),",
      "(hired:DATE, Examples: [2020-01-02]),",
      "(shift:TIME, Examples: [9:05:00]),",
      "(updated:DATETIME, Examples: [2020-01-02 10:00:00.250000]),",
      "(rating:DOUBLE, Examples: [1.0, 0.1]),",
      "(big:BIGINT, Examples: [9007199254740993, 5]),",
      "(flag:TINYINT, Examples: [1, 0]),",
      "(code:VARBINARY, Examples: [b'\\x00\\xffA', b'ab']),",
      "(bio:TEXT)",
      "]",
      "【Foreign keys】",
      "audit_note.a_id=audit.a_id",
      "audit_note.a_line=audit.a_line",
      "emp.dept_id=dept.id",
    ].join("\n");

  test("readMysqlSchema through an open connection prints the reference's M-Schema", async () => {
    const conn = await mysql.createConnection({
      host: adminUrl.hostname,
      port: Number(adminUrl.port || 3306),
      user: decodeURIComponent(adminUrl.username) || "root",
      password: decodeURIComponent(adminUrl.password),
      database: dbName,
    });
    try {
      const { formatMSchema } = await import("../src/mschema/index.js");
      assert.equal(formatMSchema(await readMysqlSchema(conn)), expected());
    } finally {
      await conn.end();
    }
  });

  test("mschema() from a URL and from config.ini; include/exclude", async () => {
    const byUrl = await mschema(dbUrl());
    assert.equal(byUrl.text, expected());
    assert.equal(byUrl.report.dialect, "mysql");
    const dir = mkdtempSync(join(tmpdir(), "sqlfocus-mschema-mysql-"));
    try {
      const ini = join(dir, "config.ini");
      writeFileSync(
        ini,
        `; database for text2sql\n[database]\ntype = mysql\nhost = ${adminUrl.hostname}\nport = ${adminUrl.port || 3306}\nuser = ${decodeURIComponent(adminUrl.username) || "root"}\npassword = ${decodeURIComponent(adminUrl.password)}\ndbname = ${dbName}\n`,
      );
      const byIni = await mschema({ config: ini }, { include: ["emp", "DEPT"], exclude: ["emp"], maxExamples: 0 });
      assert.equal(
        byIni.text,
        [
          `【DB_ID】 ${dbName}`,
          "【Schema】",
          "# Table: dept, departments",
          "[",
          "(id:INTEGER, Primary Key),",
          "(name:VARCHAR, department name),",
          "(budget:DECIMAL),",
          "(homepage:VARCHAR)",
          "]",
          "【Foreign keys】",
        ].join("\n"),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a wrong password fails with a clear error that does not contain it (library and CLI)", async () => {
    const secret = "Wr0ng-pa55word;#x";
    const u = new URL(dbUrl());
    u.username = "sqlfocus_nobody";
    u.password = encodeURIComponent(secret);
    await assert.rejects(mschema(u.toString()), (err: Error) => {
      assert.match(err.message, /MySQL sqlfocus_nobody@.*Access denied/);
      assert.ok(!err.message.includes(secret) && !err.message.includes(encodeURIComponent(secret)), err.message);
      return true;
    });
    const cli = spawnSync(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts"), "mschema", "--url", u.toString()],
      { encoding: "utf8" },
    );
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /Access denied/);
    assert.ok(
      !cli.stderr.includes(secret) && !cli.stdout.includes(secret) && !cli.stderr.includes(encodeURIComponent(secret)),
    );
  });

  test("a database that does not exist is named in the error", async () => {
    const u = new URL(dbUrl());
    u.pathname = `/${dbName}_missing`;
    await assert.rejects(mschema(u.toString()), new RegExp(`${dbName}_missing`));
  });
});
