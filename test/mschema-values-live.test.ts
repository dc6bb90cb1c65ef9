// Value retrieval on live servers: the distinct text values of PostgreSQL and MariaDB/MySQL databases (throwaway
// databases with random names, dropped after), read with the schema by mschema(…, { values }) and linked to a
// question. Servers from $SQLFOCUS_TEST_PG_URL / $SQLFOCUS_TEST_MYSQL_URL; skipped when nothing answers (a failure
// under CI).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import mysql from "mysql2/promise";
import pg from "pg";
import { linkSchema, mschema, readMysqlValues, readPostgresValues } from "../src/mschema/index.js";
import { mysqlConfig, pgConfig, requireMysql, requirePostgres } from "./helpers/services.js";

const name = `sqlfocus_values_${randomBytes(4).toString("hex")}`;
const pgSkip = await requirePostgres();
const mySkip = await requireMysql();

describe("PostgreSQL values", { skip: pgSkip }, () => {
  let admin: pg.Client;
  before(async () => {
    admin = new pg.Client(pgConfig());
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const c = new pg.Client(pgConfig(name));
    await c.connect();
    try {
      await c.query(`
        CREATE TYPE mood AS ENUM ('calm', 'grumpy');
        CREATE SCHEMA park;
        CREATE TABLE keepers (id int PRIMARY KEY, keeper_name varchar(40), hired int);
        CREATE TABLE park.animals (id int PRIMARY KEY, species text, keeper_id int REFERENCES keepers(id), temper mood, weight real);
        INSERT INTO keepers VALUES (1, 'Rosa Delgado', 2012), (2, 'Ben Okafor', 2018);
        INSERT INTO park.animals VALUES (1, 'Lion', 2, 'grumpy', 190.5), (2, 'Red Panda', 1, 'calm', 5), (3, 'Lion', 2, 'calm', 170);`);
    } finally {
      await c.end();
    }
  });
  after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  test("text, varchar and enum columns; schema-qualified names; a question's values linked", async () => {
    const c = new pg.Client(pgConfig(name));
    await c.connect();
    try {
      const cols = await readPostgresValues(c);
      const got = Object.fromEntries(cols.map((x) => [`${x.table}.${x.column}`, [...x.values].sort()]));
      assert.deepEqual(got, {
        "keepers.keeper_name": ["Ben Okafor", "Rosa Delgado"],
        "park.animals.species": ["Lion", "Red Panda"],
        "park.animals.temper": ["calm", "grumpy"],
      });
    } finally {
      await c.end();
    }
    const c2 = new pg.Client(pgConfig(name));
    await c2.connect();
    const r = await mschema({ postgres: c2 }, { values: true }).finally(() => c2.end());
    assert.ok(r.values && r.values.size === 6);
    const linked = linkSchema(r.schema, "Which grumpy lions does Ben Okafor keep?", { values: r.values });
    assert.deepEqual(linked.report.matchedValues.map((m) => `${m.table}.${m.column}=${m.value}`).sort(), [
      "keepers.keeper_name=Ben Okafor",
      "park.animals.species=Lion",
      "park.animals.temper=grumpy",
    ]);
  });
});

describe("MariaDB/MySQL values", { skip: mySkip }, () => {
  let admin: mysql.Connection;
  before(async () => {
    admin = await mysql.createConnection(mysqlConfig());
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.query(`USE ${name}`);
    await admin.query(
      "CREATE TABLE keepers (id INT PRIMARY KEY, keeper_name VARCHAR(40), shift ENUM('early','late'), hired INT)",
    );
    await admin.query(
      "INSERT INTO keepers VALUES (1, 'Rosa Delgado', 'early', 2012), (2, 'Ben Okafor', 'late', 2018), (3, '', 'late', 2020)",
    );
  });
  after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.end();
  });

  test("CHAR/VARCHAR/ENUM columns, empty strings left out, caps honoured", async () => {
    const c = await mysql.createConnection(mysqlConfig(name));
    try {
      const cols = await readMysqlValues(c);
      assert.deepEqual(
        cols.map((x) => [x.column, [...x.values].sort()]),
        [
          ["keeper_name", ["Ben Okafor", "Rosa Delgado"]],
          ["shift", ["early", "late"]],
        ],
      );
      const capped = await readMysqlValues(c, { perColumn: 1 });
      assert.ok(capped.every((x) => x.values.length === 1 && x.truncated));
    } finally {
      await c.end();
    }
  });
});
