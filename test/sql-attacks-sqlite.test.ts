// The attack corpus against SQLite (a file the test makes): through the executor, with the parser check switched off
// (SQLite's read-only handle and stmt.readonly alone), and over HTTP. After every case: the file's bytes as before,
// no other file in its folder (no journal, no attached or vacuumed copy), a writer can still lock it (nothing left
// open), the call back in time.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { createServer } from "../src/server/index.js";
import { openReadOnlyDatabase, type ReadOnlyDatabase } from "../src/sql/index.js";
import { FakeChatModel } from "./server-fake-model.js";
import { sqliteAttacks } from "./helpers/sql-attack-corpus.js";
import { attackReplies, corpusTests, httpCorpusTests, LIMITS, type Probe } from "./helpers/sql-attack-harness.js";

const dir = mkdtempSync(join(tmpdir(), "sqlfocus-attack-sqlite-"));
const path = join(dir, "shop.sqlite");
const FILE = join(dir, "evil.sqlite");
let readOnly: ReadOnlyDatabase;
let noCheck: ReadOnlyDatabase;

const probe: Probe = {
  async snapshot() {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  },
  async filesWritten() {
    return readdirSync(dir).filter((f) => f !== "shop.sqlite");
  },
  async locksHeld() {
    // A writer can take the file's write lock: no reader holds a transaction open on it.
    const w = new Database(path, { timeout: 0 });
    try {
      w.exec("BEGIN IMMEDIATE; ROLLBACK");
      return 0;
    } catch {
      return 1;
    } finally {
      w.close();
    }
  },
  async openTransactions() {
    return 0; // covered by locksHeld: SQLite's only open state is a lock on the file
  },
  async victimAlive() {
    return true; // no sessions to kill in an embedded database
  },
};

const values = () => ({ TABLE: "item", FILE, DIR: dir, LOCK: "x", VICTIM: 0, SEQ: "x", WRITER: "x" });

before(() => {
  const db = new Database(path);
  db.exec("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
  const ins = db.prepare("INSERT INTO item (name) VALUES (?)");
  for (let i = 1; i <= 20; i++) ins.run(`n${i}`);
  db.close();
  readOnly = openReadOnlyDatabase({ dialect: "SQLite", path });
  noCheck = openReadOnlyDatabase({ dialect: "SQLite", path }, { check: (sql) => sql.replace(/[\s;]+$/, "") });
});

after(async () => {
  await readOnly?.close();
  await noCheck?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("SQLite layers", () => {
  test("the file opens read-only: no user to check, no privileges reported", async () => {
    const p = await readOnly.checkPrivileges();
    assert.equal(p.privileged, false);
    assert.deepEqual(p.privileges, []);
  });

  test("caps and types: rows, bytes, JSON cells", async () => {
    let r = await readOnly.execute("SELECT id FROM item ORDER BY id DESC LIMIT 15", { rowLimit: 10 });
    assert.equal(r.rows.length, 10);
    assert.deepEqual(r.rows[0], [20]);
    assert.equal(r.truncatedBy, "rows");
    r = await readOnly.execute("SELECT printf('%.*c', 1000, 'x') FROM item", { maxBytes: 10_000 });
    assert.ok(r.rows.length >= 8 && r.rows.length <= 10, `${r.rows.length} rows`);
    assert.equal(r.truncatedBy, "bytes");
    r = await readOnly.execute("SELECT 1 AS a, 2 AS a, NULL AS n, 1.5 AS f, 9007199254740993 AS big, x'0102' AS raw");
    assert.deepEqual(r.columns, ["a", "a", "n", "f", "big", "raw"]);
    assert.deepEqual(r.rows, [[1, 2, null, 1.5, "9007199254740993", "AQI="]]);
  });

  test("a missing file is a clear error when the executor is opened", () => {
    assert.throws(
      () => openReadOnlyDatabase({ dialect: "SQLite", path: join(dir, "nope.sqlite") }),
      /nope\.sqlite: no such file/,
    );
  });
});

describe("corpus", () =>
  corpusTests(sqliteAttacks, { label: "SQLite", db: () => readOnly, probe: () => probe, values, checkOutcome: true }));
describe("corpus without the parser check (the read-only handle alone)", () =>
  corpusTests(sqliteAttacks, {
    label: "SQLite, no parser check",
    db: () => noCheck,
    probe: () => probe,
    values,
    checkOutcome: false,
  }));

describe("corpus over HTTP", () => {
  let app: Awaited<ReturnType<typeof createServer>>;
  before(async () => {
    app = await createServer({
      model: new FakeChatModel((req) =>
        attackReplies(sqliteAttacks, values)(req.messages[0]!.content.split("【用户问题】\n")[1] ?? ""),
      ),
      logger: false,
      executeLimits: LIMITS,
      closeModel: false,
      database: {
        dialect: "SQLite",
        description: "attack db",
        loadSchema: async () => "【DB_ID】 attack\n# Table: item",
        executor: readOnly,
      },
    });
  });
  after(async () => app?.close());
  httpCorpusTests(
    sqliteAttacks,
    "SQLite",
    () => app,
    () => probe,
  );
});
