// `sqlfocus query`: the server's executor from the command line. Exit 0 with rows (a table, or JSON with --json);
// 2 refused, 3 SQL error, 4 timeout, 1 no connection — the reason on stderr, nothing on stdout.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { pgConfig, requirePostgres } from "./helpers/services.js";

const repo = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "sqlfocus-query-"));
const db = join(dir, "shop.sqlite");

function query(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "main.ts"), "query", ...args], {
    encoding: "utf8",
    timeout: 60_000,
    input: "",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const pgSkip = await requirePostgres();
// One suite around both, so that the folder outlives every test.
describe("sqlfocus query", () => {
  before(() => {
    const d = new Database(db);
    d.exec(
      "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO item (name) VALUES ('pen'), ('ink'), ('cap')",
    );
    d.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("sqlfocus query on SQLite", () => {
    test("rows as a table (count on stderr), or as JSON", () => {
      let r = query("--sqlite", db, "SELECT id, name FROM item ORDER BY id");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "id | name\n---+-----\n1  | pen\n2  | ink\n3  | cap\n");
      assert.match(r.stderr, /^3 rows, \d+ ms \(SQLite .*shop\.sqlite\)\n$/);
      r = query("--sqlite", db, "--json", "--row-limit", "2", "SELECT name FROM item ORDER BY id;");
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.columns, ["name"]);
      assert.deepEqual(out.rows, [["pen"], ["ink"]]);
      assert.equal(out.truncated, true);
      assert.equal(out.truncated_by, "rows");
    });

    test("a reader that closes the pipe early ends the command quietly (no EPIPE error)", async () => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(repo, "src", "cli", "main.ts"),
          "query",
          "--sqlite",
          db,
          "--row-limit",
          "50000",
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) SELECT i, 'row ' || i AS label FROM n",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      // like `| head -c 100`: read one chunk, then close our end while the command is still writing
      await once(child.stdout, "data");
      child.stdout.destroy();
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stderr, /EPIPE|Error/);
    });

    test("SQL from stdin with -", () => {
      const r = spawnSync(
        process.execPath,
        ["--import", "tsx", join(repo, "src", "cli", "main.ts"), "query", "--sqlite", db, "--json", "-"],
        { encoding: "utf8", input: "SELECT count(*) AS n FROM item\n" },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).rows, [[3]]);
    });

    test("refusals exit 2 with the reason; SQL errors 3; timeouts 4; nothing on stdout", () => {
      let r = query("--sqlite", db, "--json", "SELECT 1; DELETE FROM item");
      assert.equal(r.status, 2);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        /^sqlfocus: refused \(multiple-statements\): 2 statements: only a single query may be executed\n$/,
      );
      r = query("--sqlite", db, "DELETE FROM item");
      assert.equal(r.status, 2);
      assert.match(r.stderr, /refused \(not-a-query\)/);
      r = query("--sqlite", db, "ATTACH DATABASE 'x.db' AS x");
      assert.equal(r.status, 2);
      r = query("--sqlite", db, "SELECT nope FROM item");
      assert.equal(r.status, 3);
      assert.match(r.stderr, /^sqlfocus: SQL error: no such column: nope\n$/);
      r = query(
        "--sqlite",
        db,
        "--statement-timeout",
        "0.5",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
      );
      assert.equal(r.status, 4);
      assert.match(r.stderr, /^sqlfocus: timeout: query ran past the 500 ms statement timeout\n$/);
      const d = new Database(db, { readonly: true });
      assert.equal((d.prepare("SELECT count(*) AS n FROM item").get() as { n: number }).n, 3);
      d.close();
    });

    test("bad arguments and a missing file are clear errors (exit 1)", () => {
      let r = query("--sqlite", join(dir, "nope.sqlite"), "SELECT 1");
      assert.equal(r.status, 1);
      assert.match(r.stderr, /nope\.sqlite: no such file/);
      r = query("--sqlite", db, "--row-limit", "0", "SELECT 1");
      assert.equal(r.status, 1);
      assert.match(r.stderr, /--row-limit must be a positive integer/);
    });
  });

  describe("sqlfocus query on PostgreSQL", { skip: pgSkip }, () => {
    test("a config.ini with the superuser: refused with the SQL for a read-only user; --allow-privileged-user runs", () => {
      const c = pgConfig();
      const ini = join(dir, "pg.ini");
      writeFileSync(
        ini,
        `[database]\ntype = postgresql\nhost = ${c.host}\nport = ${c.port}\nuser = ${c.user}\npassword = ${c.password}\ndbname = ${c.database}\n`,
      );
      let r = query("--config", ini, "SELECT 1 AS one");
      assert.equal(r.status, 2);
      assert.match(
        r.stderr,
        /^sqlfocus: refused \(privileged-user\): the configured user \S+ .* has more than read rights/,
      );
      assert.match(r.stderr, /CREATE ROLE sqlfocus_reader LOGIN PASSWORD 'choose-a-password';/);
      r = query("--config", ini, "--allow-privileged-user", "--json", "SELECT 1 AS one");
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).rows, [[1]]);
      r = query("--config", ini, "--allow-privileged-user", "SELECT pg_read_file('/etc/passwd')");
      assert.equal(r.status, 2);
      assert.match(r.stderr, /refused \(denied-function\): calling pg_read_file\(\)/);
    });

    test("nothing listening: exit 1 naming the database, never the password", () => {
      const r = query("--url", "postgres://app:s3cret@127.0.0.1:1/shop", "--connect-timeout", "2", "SELECT 1");
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cannot connect to PostgreSQL app@127\.0\.0\.1:1\/shop/);
      assert.ok(!r.stderr.includes("s3cret"));
    });
  });
});
