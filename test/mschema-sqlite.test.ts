// SQLite → M-Schema: exact texts, written out by hand from the reference M-Schema tool's rules, over databases this
// test builds (tables by name, SQLAlchemy's reflected types without size, up to three examples: one for date/time
// columns or when the longest is over 20 characters, none over 50 or for e-mail addresses and URLs; DECIMAL and
// FLOAT(p,s) values through Decimal → float ("98" → "98.0"), BOOLEAN through bool ('F' → True), a foreign key
// declared twice shown once). Spider databases (read at test time, never committed: CC BY-SA) are checked by the
// sha256 of their hand-derived expected text plus structural checks against the database (test/helpers/spider-checks).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { formatMSchema, mschema, readSqliteSchema } from "../src/mschema/index.js";
import { assertDigest, checkMSchemaAgainstSqlite } from "./helpers/spider-checks.js";
import { requireService, requireSpider, spiderDir } from "./helpers/services.js";

const spiderDb = (id: string) => join(spiderDir, "database", id, `${id}.sqlite`);
// Skipped without Spider; a failure under CI (test/helpers/services.ts).
const skipSpider = (id: string) =>
  requireSpider() ||
  requireService("Spider 1.0", existsSync(spiderDb(id)) ? null : `database ${id} not found under ${spiderDir}`);

// sha256 of the expected M-Schema texts, derived by hand (sqlite3 shell: SELECT DISTINCT col FROM t LIMIT 5, then
// the rules above) when they were still written out here; the texts themselves are Spider-derived and not committed.
const SPIDER_MSCHEMA_SHA256: Record<string, string> = {
  concert_singer: "5124f690905a23edc560c84b93ad60b7f809fc36fe880aa244e2e2bb09e2d6f8",
  dog_kennels: "eb92c5640425ca813a478a81c6b5785d23b0a708fbd3169444de2f9bc54c110b",
  world_1: "d57358f1960accd7f1381ed3b3f67b1b77932dfe1205fefcd048dc31e6e53101",
};

describe("Spider databases (digest of the expected text + structure read from the database)", () => {
  test(
    "concert_singer: BOOLEAN from 'T'/'F', TEXT columns holding numbers, composite key",
    { skip: skipSpider("concert_singer") },
    () => {
      const text = formatMSchema(readSqliteSchema(spiderDb("concert_singer")));
      const r = checkMSchemaAgainstSqlite(text, spiderDb("concert_singer"), "concert_singer");
      assert.deepEqual([r.tables, r.columns, r.primaryKeys, r.foreignKeyLines], [4, 21, 5, 3]);
      assert.match(text, /\(Is_male:BOOLEAN, Examples: \[True, True\]\)/); // 'F' and 'T' are both true through bool()
      assertDigest(text, SPIDER_MSCHEMA_SHA256.concert_singer!, "concert_singer M-Schema");
    },
  );

  test(
    "dog_kennels: DECIMAL as float text, one DATETIME example, e-mail columns without examples, FK declared twice shown once",
    { skip: skipSpider("dog_kennels") },
    () => {
      const text = formatMSchema(readSqliteSchema(spiderDb("dog_kennels")));
      const r = checkMSchemaAgainstSqlite(text, spiderDb("dog_kennels"), "dog_kennels");
      assert.deepEqual([r.tables, r.columns, r.primaryKeys, r.foreignKeyLines], [8, 49, 8, 6]);
      assert.equal(text.match(/\(email_address:VARCHAR\)/g)?.length, 2);
      for (const m of text.matchAll(/\(\w+:DATETIME, Examples: \[([^\]]*)\]\)/g)) assert.doesNotMatch(m[1]!, /, /);
      assert.match(text, /\(charge_amount:DECIMAL, Examples: \[\d+\.\d+, \d+\.\d+, \d+\.\d+\]\)/);
      assertDigest(text, SPIDER_MSCHEMA_SHA256.dog_kennels!, "dog_kennels M-Schema");
    },
  );

  test(
    "world_1: FLOAT(10,2) through Decimal, long values cut to one or none, sqlite_sequence left out",
    { skip: skipSpider("world_1") },
    () => {
      const text = formatMSchema(readSqliteSchema(spiderDb("world_1")));
      const r = checkMSchemaAgainstSqlite(text, spiderDb("world_1"), "world_1");
      assert.deepEqual([r.tables, r.columns, r.primaryKeys, r.foreignKeyLines], [3, 24, 4, 2]);
      assert.doesNotMatch(text, /sqlite_sequence/);
      assertDigest(text, SPIDER_MSCHEMA_SHA256.world_1!, "world_1 M-Schema");
    },
  );

  test("mschema() on a Spider file: include/exclude and max examples", { skip: skipSpider("world_1") }, async () => {
    const r = await mschema(
      { sqlite: spiderDb("world_1") },
      { include: ["COUNTRYLANGUAGE", "country"], exclude: ["country"], maxExamples: 1 },
    );
    const c = checkMSchemaAgainstSqlite(r.text, spiderDb("world_1"), "world_1", {
      tables: ["countrylanguage"],
      maxExamples: 1,
    });
    assert.deepEqual([c.tables, c.columns, c.primaryKeys, c.foreignKeyLines, c.examples], [1, 4, 2, 0, 4]);
    assertDigest(
      r.text,
      "b99bfb67f16532ec01d787efa6c1b84ac3e81a75f51df4861edf8d9c026d8364",
      "world_1 M-Schema of countrylanguage, one example",
    );
    assert.equal(r.report.tables, 1);
    assert.equal(r.report.dialect, "sqlite");
  });
});

describe("the Spider rules on a generated kennel database", () => {
  let dir: string;
  let path: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sqlfocus-mschema-kennel-"));
    path = join(dir, "kennel.sqlite");
    const db = new Database(path);
    db.exec(`
      CREATE TABLE "Owners" (owner_id INTEGER PRIMARY KEY AUTOINCREMENT, first_name VARCHAR(80), email_address VARCHAR(255),
        website TEXT, street VARCHAR(255), notes TEXT);
      INSERT INTO "Owners" (first_name, email_address, website, street, notes) VALUES
        ('Maple', 'maple@kennel.test', 'none', '4 Elm Row', 'Brush the double coat twice a week and trim the nails'),
        ('Rowan', NULL, 'http://rowan.test', '12 Birchwood Avenue North', 'short'),
        ('Sage', 'sage.b@mail.kennel.test', '', '', NULL);
      CREATE TABLE breeds (code CHAR(3) PRIMARY KEY, label VARCHAR(40), origin TEXT, summary TEXT, care TEXT);
      INSERT INTO breeds VALUES
        ('BEA', 'Beagle', 'England', 'Friendly', 'Weekly brushing'),
        ('LAB', 'Long-haired Labrador', 'Newfoundland (Canada)', 'Gentle with children, keeps a cool head in crowds.',
          'A merry scent hound that follows every trail it can'),
        ('PUG', 'Pug', 'China', NULL, 'Daily walks');
      CREATE TABLE "Dogs" (dog_id INTEGER PRIMARY KEY, owner_id INTEGER, breed_code CHAR(3), name VARCHAR(50), is_trained bool,
        weight DECIMAL(19,4), height FLOAT(10,2), born DATETIME, tag TEXT, markings TEXT,
        FOREIGN KEY (owner_id) REFERENCES "Owners"(owner_id),
        FOREIGN KEY (breed_code) REFERENCES breeds(code),
        FOREIGN KEY (owner_id) REFERENCES "Owners"(owner_id));
      INSERT INTO "Dogs" VALUES
        (1, 2, 'PUG', 'Biscuit', 'T', 98, 30, '2019-04-01 08:30:00', 1, 'white' || char(10) || 'socks'),
        (2, 1, 'LAB', 'Pepper', 'F', 7.25, 12.5, '2020-11-15 17:45:10', 2, 'brown'),
        (3, 2, 'PUG', 'Biscuit', 'T', 98, 0.25, NULL, 10, 'brown'),
        (4, 3, 'BEA', 'Juniper', NULL, 31.5, 30, '2021-06-30 00:00:00', 10, ''),
        (5, 1, 'LAB', 'Olive', 'F', 0, 12.5, '2019-04-01 08:30:00', 2, NULL);
      CREATE TABLE visits (dog_id int REFERENCES "Dogs"(dog_id), visit_day date, cost numeric(8,2), PRIMARY KEY (dog_id, visit_day));
      INSERT INTO visits VALUES (1, '2024-02-29', 40), (1, '2024-03-01', 12.5), (2, '2024-02-29', 40);
    `);
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Written out by hand from the rules, column by column:
  // - tables by name in binary order (upper case first), sqlite_sequence (from AUTOINCREMENT) left out;
  // - Owners: e-mail and URL columns show nothing; street's longest value has 25 characters → only the first value;
  //   notes' longest has 53 → none; NULL and '' are skipped;
  // - breeds: label's longest is exactly 20 → all three; origin's is 21 → the first; summary's is exactly 50 → the
  //   first; care's is 51 → none;
  // - Dogs: DISTINCT keeps first occurrences (owner_id 2, 1, 3; names Biscuit, Pepper, Juniper); bool 'T'/'F' are both
  //   True; DECIMAL(19,4) 98 → 98.0 and FLOAT(10,2) 30 → 30.0; DATETIME shows one value; TEXT affinity keeps 1, 2, 10
  //   as text; a value holding a newline prints as is;
  // - visits: lower-case int/date/numeric(8,2) reflect as INTEGER/DATE/NUMERIC; composite key; DATE shows one value;
  // - foreign keys: Dogs' in declaration order with the repeated one once, then visits' column-level one.
  test("exact M-Schema text", () => {
    assert.equal(
      formatMSchema(readSqliteSchema(path)),
      [
        "【DB_ID】 kennel",
        "【Schema】",
        "# Table: Dogs",
        "[",
        "(dog_id:INTEGER, Primary Key, Examples: [1, 2, 3]),",
        "(owner_id:INTEGER, Examples: [2, 1, 3]),",
        "(breed_code:CHAR, Examples: [PUG, LAB, BEA]),",
        "(name:VARCHAR, Examples: [Biscuit, Pepper, Juniper]),",
        "(is_trained:BOOLEAN, Examples: [True, True]),",
        "(weight:DECIMAL, Examples: [98.0, 7.25, 31.5]),",
        "(height:FLOAT, Examples: [30.0, 12.5, 0.25]),",
        "(born:DATETIME, Examples: [2019-04-01 08:30:00]),",
        "(tag:TEXT, Examples: [1, 2, 10]),",
        "(markings:TEXT, Examples: [white",
        "socks, brown])",
        "]",
        "# Table: Owners",
        "[",
        "(owner_id:INTEGER, Primary Key, Examples: [1, 2, 3]),",
        "(first_name:VARCHAR, Examples: [Maple, Rowan, Sage]),",
        "(email_address:VARCHAR),",
        "(website:TEXT),",
        "(street:VARCHAR, Examples: [4 Elm Row]),",
        "(notes:TEXT)",
        "]",
        "# Table: breeds",
        "[",
        "(code:CHAR, Primary Key, Examples: [BEA, LAB, PUG]),",
        "(label:VARCHAR, Examples: [Beagle, Long-haired Labrador, Pug]),",
        "(origin:TEXT, Examples: [England]),",
        "(summary:TEXT, Examples: [Friendly]),",
        "(care:TEXT)",
        "]",
        "# Table: visits",
        "[",
        "(dog_id:INTEGER, Primary Key, Examples: [1, 2]),",
        "(visit_day:DATE, Primary Key, Examples: [2024-02-29]),",
        "(cost:NUMERIC, Examples: [40.0, 12.5])",
        "]",
        "【Foreign keys】",
        "Dogs.owner_id=Owners.owner_id",
        "Dogs.breed_code=breeds.code",
        "visits.dog_id=Dogs.dog_id",
      ].join("\n"),
    );
  });

  // With one example per column the list is cut to one value before the length rule looks at it, so care shows its
  // first value (15 characters) although another of its values has 51.
  test("include/exclude and one example per column", async () => {
    const r = await mschema({ sqlite: path }, { include: ["DOGS", "breeds"], exclude: ["dogs"], maxExamples: 1 });
    assert.equal(
      r.text,
      [
        "【DB_ID】 kennel",
        "【Schema】",
        "# Table: breeds",
        "[",
        "(code:CHAR, Primary Key, Examples: [BEA]),",
        "(label:VARCHAR, Examples: [Beagle]),",
        "(origin:TEXT, Examples: [England]),",
        "(summary:TEXT, Examples: [Friendly]),",
        "(care:TEXT, Examples: [Weekly brushing])",
        "]",
        "【Foreign keys】",
      ].join("\n"),
    );
    assert.equal(r.report.tables, 1);
  });

  test("the structural checker used on Spider accepts this text and catches a changed example", () => {
    const text = formatMSchema(readSqliteSchema(path));
    const r = checkMSchemaAgainstSqlite(text, path, "kennel");
    assert.deepEqual([r.tables, r.columns, r.primaryKeys, r.foreignKeyLines], [4, 24, 5, 3]);
    assert.throws(
      () => checkMSchemaAgainstSqlite(text.replace("[Beagle, ", "[Boxer, "), path, "kennel"),
      /breeds\.label: examples/,
    );
    assert.throws(
      () => checkMSchemaAgainstSqlite(text.replace("Dogs.breed_code=breeds.code\n", ""), path, "kennel"),
      /foreign-key lines/,
    );
    assert.throws(() =>
      checkMSchemaAgainstSqlite(text.replace("(notes:TEXT)", "(notes:TEXT, Primary Key)"), path, "kennel"),
    );
    assert.throws(
      () => assertDigest(text + " ", "0".repeat(64), "kennel"),
      /----- produced text -----\n【DB_ID】 kennel/,
    );
  });
});

describe("SQLite value and key semantics (a generated database)", () => {
  let dir: string;
  let path: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sqlfocus-mschema-sqlite-"));
    path = join(dir, "shop.sqlite");
    const db = new Database(path);
    db.exec(`
      CREATE TABLE "Customer" (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, email TEXT, site TEXT, joined DATE, seen DATETIME,
        at TIME, score REAL, ratio NUMERIC(5,2), vip BOOL, note TEXT, blob_col BLOB, odd_type NUMBER, untyped);
      INSERT INTO "Customer" VALUES
        (1, 'Ann', 'ann@example.com', 'x', '2020-01-02', '2020-01-02 03:04:05.5', '10:00', 3.0, 1.5, 1, '', x'00ff', 'abc', 1.0),
        (2, 'Bob', NULL, 'https://example.com', '2021-02-03', '2021-02-03 00:00:00', '11:30:15', 0.00001, 2, 0, NULL, NULL, 7, 'z'),
        (3, 'Ann', NULL, 'y', 'not a date', NULL, NULL, 1e16, NULL, 2, 'n', NULL, NULL, NULL);
      CREATE TABLE orders (order_id INTEGER, line INTEGER, customer_id INTEGER REFERENCES "Customer"(id),
        PRIMARY KEY (order_id, line));
      CREATE TABLE order_notes (order_id INTEGER, line INTEGER, body TEXT,
        FOREIGN KEY (order_id, line) REFERENCES orders (order_id, line));
      CREATE TABLE empty_one (x INTEGER);
    `);
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("types, examples and composite keys as the reference prints them", () => {
    const text = formatMSchema(readSqliteSchema(path));
    assert.equal(
      text,
      [
        "【DB_ID】 shop",
        "【Schema】",
        "# Table: Customer",
        "[",
        "(id:INTEGER, Primary Key, Examples: [1, 2, 3]),",
        "(name:VARCHAR, Examples: [Ann, Bob]),",
        "(email:TEXT),",
        "(site:TEXT),",
        "(joined:DATE),",
        "(seen:DATETIME, Examples: [2020-01-02 03:04:05.500000]),",
        "(at:TIME, Examples: [10:00:00]),",
        "(score:REAL, Examples: [3.0, 1e-05, 1e+16]),",
        "(ratio:NUMERIC, Examples: [1.5, 2.0]),",
        "(vip:BOOLEAN, Examples: [True, False, True]),",
        "(note:TEXT, Examples: [n]),",
        "(blob_col:BLOB, Examples: [b'\\x00\\xff']),",
        "(odd_type:NUMERIC),",
        "(untyped:NULL, Examples: [1.0, z])",
        "]",
        "# Table: empty_one",
        "[",
        "(x:INTEGER)",
        "]",
        "# Table: order_notes",
        "[",
        "(order_id:INTEGER),",
        "(line:INTEGER),",
        "(body:TEXT)",
        "]",
        "# Table: orders",
        "[",
        "(order_id:INTEGER, Primary Key),",
        "(line:INTEGER, Primary Key),",
        "(customer_id:INTEGER)",
        "]",
        "【Foreign keys】",
        "order_notes.order_id=orders.order_id",
        "order_notes.line=orders.line",
        "orders.customer_id=Customer.id",
      ].join("\n"),
    );
  });

  test("a table with no columns prints an empty bracket block", () => {
    const schema = readSqliteSchema(path);
    schema.tables = [{ name: "nothing", comment: "", columns: [] }];
    schema.foreignKeys = [];
    assert.equal(formatMSchema(schema), "【DB_ID】 shop\n【Schema】\n# Table: nothing\n[\n\n]");
  });

  test("a missing file is a clear error", () => {
    assert.throws(() => readSqliteSchema(join(dir, "nope.sqlite")), /cannot open SQLite database .*nope\.sqlite/);
  });
});
