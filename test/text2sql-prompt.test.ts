import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNl2SqlPrompt, extractSql, formatSqlAnswer, parseDialect } from "../src/text2sql/index.js";

test("nl2sql prompt follows XiYan's template exactly", () => {
  const p = buildNl2SqlPrompt({
    question: " How many singers? ",
    dbSchema: "【DB_ID】 concert_singer\n",
    dialect: "SQLite",
  });
  assert.equal(
    p,
    "你是一名SQLite专家，现在需要阅读并理解下面的【数据库schema】描述，以及可能用到的【参考信息】，并运用SQLite知识生成sql语句回答【用户问题】。\n" +
      "【用户问题】\nHow many singers?\n\n【数据库schema】\n【DB_ID】 concert_singer\n\n【参考信息】\n\n\n【用户问题】\nHow many singers?\n\n```sql",
  );
  assert.match(
    buildNl2SqlPrompt({ question: "q", dbSchema: "s", dialect: "PostgreSQL", evidence: "e" }),
    /^你是一名PostgreSQL专家[\s\S]*【参考信息】\ne\n/,
  );
});

test("dialect names are normalised and unknown ones rejected", () => {
  assert.equal(parseDialect("postgres"), "PostgreSQL");
  assert.equal(parseDialect("MariaDB"), "MySQL");
  assert.equal(parseDialect("sqlite3"), "SQLite");
  assert.throws(() => parseDialect("oracle"), /unknown SQL dialect 'oracle'/);
});

test("SQL is extracted from the reply forms models produce", () => {
  assert.equal(extractSql("\nSELECT count(*) FROM singer\n```\nextra talk"), "SELECT count(*) FROM singer");
  assert.equal(extractSql("Here you go:\n```sql\nSELECT 1;\n```\nDone."), "SELECT 1;");
  assert.equal(extractSql("```\nSELECT 2\n```"), "SELECT 2");
  assert.equal(extractSql("SELECT 3"), "SELECT 3");
  assert.equal(extractSql("```sql\nSELECT 4 FROM t"), "SELECT 4 FROM t");
  assert.equal(extractSql(""), "");
  assert.equal(formatSqlAnswer(" SELECT 1 "), "```sql\nSELECT 1\n```");
});
