// config/config.ini (the Python project's [database] section plus type/path) and URLs; the password stays out of
// logs, JSON and error messages.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { databaseConfigFromUrl, mschema, readDatabaseConfig, redactUrl } from "../src/mschema/index.js";

let dir: string;
const SECRET = "p@ss;word#1";
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sqlfocus-mschema-config-"));
  const db = new Database(join(dir, "shop.sqlite"));
  db.exec("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO item VALUES (1, 'pen');");
  db.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("the Python project's config.ini: [database] host port user password dbname, ; comments, type defaults to mysql", () => {
  const ini = write(
    "config.ini",
    `; database used by the text2sql server\n[database]\nhost = 10.0.0.5\nport = 3307\nuser = analyst\npassword = ${SECRET}\ndbname = sales\n\n[other]\nx = 1\n`,
  );
  const c = readDatabaseConfig(ini);
  assert.deepEqual({ ...c }, { type: "mysql", host: "10.0.0.5", port: 3307, user: "analyst", dbname: "sales" });
  assert.equal(c.password, SECRET, "a ';' or '#' inside a value is kept, as configparser does");
  assert.ok(!JSON.stringify(c).includes(SECRET));
  assert.ok(!inspect(c).includes(SECRET));
});

test("type = postgresql (default port 5432) and type = sqlite with a path relative to the config file", async () => {
  const pgc = readDatabaseConfig(
    write("pg.ini", "[database]\ntype = PostgreSQL\nhost = localhost\nuser = postgres\ndbname = shop\n"),
  );
  assert.equal(pgc.type, "postgresql");
  assert.equal(pgc.port, 5432);
  const lite = write("lite.ini", "[database]\ntype: sqlite\npath = shop.sqlite\n");
  assert.equal(readDatabaseConfig(lite).path, join(dir, "shop.sqlite"));
  const r = await mschema(lite, { dbId: "shop" });
  assert.equal(
    r.text,
    "【DB_ID】 shop\n【Schema】\n# Table: item\n[\n(id:INTEGER, Primary Key, Examples: [1]),\n(name:TEXT, Examples: [pen])\n]",
  );
});

test("bad config: errors name the file, line and field, never the password", () => {
  const cases: Array<[string, RegExp]> = [
    [
      `[database]\nhost = h\nport = 33o6\npassword = ${SECRET}\ndbname = d\n`,
      /bad1\.ini:3: field "port" must be a whole number/,
    ],
    [
      `[database]\ntype = oracle\npassword = ${SECRET}\n`,
      /bad2\.ini:2: field "type" must be mysql, postgresql or sqlite/,
    ],
    [`[database]\nhost = h\npassword = ${SECRET}\n`, /bad3\.ini: \[database\] needs field "dbname"/],
    [`password = ${SECRET}\n[database]\n`, /bad4\.ini:1: "password" comes before any \[section\]/],
    [`[db]\npassword = ${SECRET}\n`, /bad5\.ini: no \[database\] section/],
    [`[database]\ntype = sqlite\npassword = ${SECRET}\n`, /bad6\.ini: \[database\] type = sqlite needs field "path"/],
    [`[database]\nthis line has no separator ${SECRET}\n`, /bad7\.ini:2: expected "key = value"/],
  ];
  cases.forEach(([text, re], i) => {
    const p = write(`bad${i + 1}.ini`, text);
    assert.throws(
      () => readDatabaseConfig(p),
      (err: Error) => {
        assert.match(err.message, re);
        assert.ok(!err.message.includes(SECRET), err.message);
        return true;
      },
    );
  });
  assert.throws(
    () => readDatabaseConfig(join(dir, "missing.ini")),
    /cannot read database config .*missing\.ini: ENOENT/,
  );
});

test("URLs: mysql://, postgres://, sqlite:///; the password is redacted in messages", () => {
  const m = databaseConfigFromUrl(`mysql://bob:${encodeURIComponent(SECRET)}@db.local:3310/shop`);
  assert.deepEqual({ ...m }, { type: "mysql", host: "db.local", port: 3310, user: "bob", dbname: "shop" });
  assert.equal(m.password, SECRET);
  assert.equal(databaseConfigFromUrl("postgresql://u@h/warehouse").port, 5432);
  assert.equal(databaseConfigFromUrl("sqlite:///tmp/x.sqlite").path, "/tmp/x.sqlite");
  assert.equal(redactUrl("postgres://u:hunter2@h:5432/db"), "postgres://u:***@h:5432/db");
  assert.throws(
    () => databaseConfigFromUrl("oracle://u:hunter2@h/db"),
    (err: Error) => !err.message.includes("hunter2") && /unsupported database URL scheme "oracle"/.test(err.message),
  );
  assert.throws(
    () => databaseConfigFromUrl("mysql://u:hunter2@h"),
    (err: Error) => !err.message.includes("hunter2") && /names no database/.test(err.message),
  );
});

test("a connection that fails shows host and user, not the password (nothing listens on the port)", async () => {
  const ini = write(
    "down.ini",
    `[database]\ntype = postgresql\nhost = 127.0.0.1\nport = 1\nuser = someone\npassword = ${SECRET}\ndbname = d\n`,
  );
  await assert.rejects(mschema(ini), (err: Error) => {
    assert.match(err.message, /^PostgreSQL someone@127\.0\.0\.1:1\/d: /);
    assert.ok(!err.message.includes(SECRET), err.message);
    return true;
  });
  const cli = spawnSync(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts"), "mschema", "--config", ini],
    { encoding: "utf8" },
  );
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /someone@127\.0\.0\.1:1/);
  assert.ok(!cli.stderr.includes(SECRET) && !cli.stdout.includes(SECRET));
});

test("sqlfocus mschema --sqlite writes the M-Schema (stdout or --out, atomically) and reports on stderr", () => {
  const out = join(dir, "out.txt");
  const cli = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, "..", "src", "cli", "main.ts"),
      "mschema",
      "--sqlite",
      join(dir, "shop.sqlite"),
      "--db-id",
      "shop",
      "--out",
      out,
    ],
    { encoding: "utf8" },
  );
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stderr, /read SQLite .*shop\.sqlite: 1 tables, 2 columns/);
  const text = readFileSync(out, "utf8");
  assert.equal(
    text,
    "【DB_ID】 shop\n【Schema】\n# Table: item\n[\n(id:INTEGER, Primary Key, Examples: [1]),\n(name:TEXT, Examples: [pen])\n]\n",
  );
});
