// The attack corpus against real MySQL/MariaDB ($SQLFOCUS_TEST_MYSQL_URL; skipped when nothing answers, a failure
// under CI): a read-only user the test creates, root with --allow-privileged-user (the denylist alone), the read-only
// user with the parser check switched off (the layers below it alone), and over HTTP. After every case: rows,
// sequence, tables and users as before (read by the admin connection), no file in the server's tmp or datadir, no
// named lock, no transaction left open, another session alive, the call back in time.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import mysql from "mysql2/promise";
import { createServer } from "../src/server/index.js";
import {
  openReadOnlyDatabase,
  parseMysqlGrants,
  PrivilegedUserError,
  type ReadOnlyDatabase,
} from "../src/sql/index.js";
import { FakeChatModel } from "./server-fake-model.js";
import { mysqlAttacks } from "./helpers/sql-attack-corpus.js";
import { attackReplies, corpusTests, httpCorpusTests, LIMITS, type Probe } from "./helpers/sql-attack-harness.js";
import { mysqlConfig, requireMysql } from "./helpers/services.js";

const skip = await requireMysql();
const id = randomBytes(4).toString("hex");
const DB = `sqlfocus_attack_${id}`;
const RO = `sqlfocus_ro_${id}`;
const LOCK = `sqlfocus_lock_${id}`;

let admin: mysql.Connection;
let victim: mysql.Connection;
let victimId = 0;
let mariadb = false;
let tmpDir = "/tmp/";
let dataDir = "";
const executors: ReadOnlyDatabase[] = [];
let readOnly: ReadOnlyDatabase;
let privileged: ReadOnlyDatabase;
let noCheck: ReadOnlyDatabase;

const FILE = () => `${tmpDir}sqlfocus_attack_${id}`;

function connection(user: string, password: string) {
  const c = mysqlConfig();
  return { dialect: "MySQL" as const, host: c.host, port: c.port, user, password, database: DB };
}

async function one<T>(sql: string, params: unknown[] = []): Promise<T> {
  const [rows] = await admin.query(sql, params);
  return Object.values((rows as Array<Record<string, unknown>>)[0]!)[0] as T;
}

const probe: Probe = {
  async snapshot() {
    const parts = [
      await one<string>("SELECT MD5(GROUP_CONCAT(id, ':', name ORDER BY id)) FROM item"),
      await one<string>(
        "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = ?",
        [DB],
      ),
      await one<number>("SELECT COUNT(*) FROM mysql.user"),
      mariadb ? await one<string>("SELECT next_not_cached_value FROM item_seq") : "",
    ];
    return JSON.stringify(parts);
  },
  async filesWritten() {
    const found: string[] = [];
    for (const path of [FILE(), `${dataDir}${DB}/sqlfocus_evil.txt`, `${dataDir}sqlfocus_evil.txt`]) {
      if ((await one<unknown>("SELECT LOAD_FILE(?) IS NOT NULL", [path])) === 1) found.push(path);
    }
    return found;
  },
  async locksHeld() {
    return (await one<unknown>("SELECT IS_USED_LOCK(?)", [LOCK])) === null ? 0 : 1;
  },
  async openTransactions() {
    return Number(
      await one<number>(
        "SELECT COUNT(*) FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE p.user = ?",
        [RO],
      ),
    );
  },
  async victimAlive() {
    try {
      const [rows] = await victim.query("SELECT 1 AS one");
      return (rows as Array<{ one: number }>)[0]!.one === 1;
    } catch {
      return false;
    }
  },
};

const values = () => ({
  TABLE: "item",
  SEQ: "item_seq",
  WRITER: "sqlfocus_writer",
  FILE: FILE(),
  DIR: tmpDir,
  VICTIM: victimId,
  LOCK,
});

describe("MySQL/MariaDB attack corpus", { skip }, () => {
  before(async () => {
    admin = await mysql.createConnection({ ...mysqlConfig(), multipleStatements: true });
    const version = await one<string>("SELECT VERSION()");
    mariadb = /mariadb/i.test(version);
    tmpDir = String((await one<string>("SELECT @@tmpdir")) ?? "/tmp").replace(/\/?$/, "/");
    dataDir = String(await one<string>("SELECT @@datadir"));
    await admin.query(`CREATE DATABASE ${DB}; USE ${DB};
      CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL);
      INSERT INTO item (name) VALUES ${Array.from({ length: 20 }, (_, i) => `('n${i + 1}')`).join(", ")};
      CREATE FUNCTION sqlfocus_writer() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO item (name) VALUES ('x'); RETURN 1; END;
      CREATE PROCEDURE sqlfocus_proc() BEGIN DELETE FROM item; END;
      ${mariadb ? "CREATE SEQUENCE item_seq;" : ""}
      CREATE USER '${RO}'@'%' IDENTIFIED BY 'pw';
      GRANT SELECT, SHOW VIEW ON ${DB}.* TO '${RO}'@'%';`);
    victim = await mysql.createConnection(mysqlConfig(DB));
    victimId = victim.threadId!;
    const root = mysqlConfig();
    readOnly = openReadOnlyDatabase(connection(RO, "pw"));
    privileged = openReadOnlyDatabase(connection(root.user, root.password), { allowPrivilegedUser: true });
    noCheck = openReadOnlyDatabase(connection(RO, "pw"), { check: (sql) => sql.replace(/[\s;]+$/, "") });
    executors.push(readOnly, privileged, noCheck);
  });

  after(async () => {
    for (const e of executors) await e.close();
    await victim?.end();
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
      await admin.query(`DROP USER IF EXISTS '${RO}'@'%'`);
      await admin.end();
    }
  });

  describe("privileges", () => {
    test("the test's read-only user passes the check; root does not, and is told how to make a read-only user", async () => {
      const ro = await readOnly.checkPrivileges();
      assert.deepEqual(ro.privileges, []);
      assert.equal(ro.privileged, false);
      const strict = openReadOnlyDatabase(connection(mysqlConfig().user, mysqlConfig().password));
      executors.push(strict);
      await assert.rejects(strict.execute("SELECT 1"), (e: Error) => {
        assert.ok(e instanceof PrivilegedUserError);
        assert.match(e.message, /has more than read rights/);
        assert.match(e.message, /CREATE USER 'sqlfocus_reader'@'%'/);
        assert.match(e.message, new RegExp(`GRANT SELECT, SHOW VIEW ON \`${DB}\`\\.\\* TO 'sqlfocus_reader'@'%'`));
        return true;
      });
    });

    test("FILE, write grants, EXECUTE and roles count as more than reading", async () => {
      const user = `sqlfocus_rw_${id}`;
      await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON ${DB}.* TO '${user}'@'%'`);
      try {
        const cases: Array<[string, RegExp]> = [
          [`GRANT FILE ON *.* TO '${user}'@'%'`, /FILE on \*\.\*/],
          [`GRANT INSERT ON ${DB}.item TO '${user}'@'%'`, /INSERT on `?sqlfocus_attack/],
          [`GRANT EXECUTE ON ${DB}.* TO '${user}'@'%'`, /EXECUTE on/],
          [`GRANT SELECT ON ${DB}.* TO '${user}'@'%' WITH GRANT OPTION`, /GRANT OPTION on/],
        ];
        for (const [grant, found] of cases) {
          await admin.query(grant);
          const db = openReadOnlyDatabase(connection(user, "pw"));
          executors.push(db);
          const p = await db.checkPrivileges();
          assert.ok(
            p.privileges.some((x) => found.test(x)),
            `${grant}: ${p.privileges.join("; ")}`,
          );
          await admin.query(
            `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${user}'@'%'; GRANT SELECT ON ${DB}.* TO '${user}'@'%'`,
          );
        }
        const clean = openReadOnlyDatabase(connection(user, "pw"));
        executors.push(clean);
        assert.deepEqual((await clean.checkPrivileges()).privileges, []);
      } finally {
        await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      }
    });

    test("SHOW GRANTS lines are read as MySQL and MariaDB print them", () => {
      const r = parseMysqlGrants([
        "GRANT USAGE ON *.* TO `ro`@`%` IDENTIFIED BY PASSWORD '*ABC'",
        "GRANT SELECT, SHOW VIEW ON `shop`.* TO `ro`@`%`",
        "GRANT SELECT (`a`, `b`), INSERT (`c`) ON `shop`.`t` TO `ro`@`%`",
        "GRANT `analyst` TO `ro`@`%`",
        "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
        "SET DEFAULT ROLE `analyst` FOR `ro`@`%`",
      ]);
      assert.deepEqual(r.roles, ["`analyst`"]);
      assert.deepEqual(r.privileges, ["INSERT on `shop`.`t`", "PROXY on ''@'%'", "GRANT OPTION on ''@'%'"]);
    });

    test("the SQL the refusal shows makes a user that passes the check and can read", async () => {
      const strict = openReadOnlyDatabase(connection(mysqlConfig().user, mysqlConfig().password));
      executors.push(strict);
      const report = await strict.checkPrivileges();
      const user = `sqlfocus_made_${id}`;
      await admin.query(report.readOnlyUserSql.replaceAll("sqlfocus_reader", user).replace("choose-a-password", "pw"));
      try {
        const made = openReadOnlyDatabase(connection(user, "pw"));
        executors.push(made);
        assert.deepEqual((await made.checkPrivileges()).privileges, []);
        assert.deepEqual((await made.execute("SELECT COUNT(*) AS n FROM item")).rows, [[20]]);
      } finally {
        await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      }
    });
  });

  test("the checks after each case see harm: a row written, a lock held, another session killed", async () => {
    const before = await probe.snapshot();
    await admin.query(`INSERT INTO ${DB}.item (id, name) VALUES (1000, 'harm')`);
    assert.notEqual(await probe.snapshot(), before);
    await admin.query(`DELETE FROM ${DB}.item WHERE id = 1000`);
    assert.equal(await probe.snapshot(), before);
    await victim.query("SELECT GET_LOCK(?, 0)", [LOCK]);
    assert.equal(await probe.locksHeld(), 1);
    await victim.query("SELECT RELEASE_LOCK(?)", [LOCK]);
    assert.equal(await probe.locksHeld(), 0);
    const other = await mysql.createConnection(mysqlConfig(DB));
    const saved = victim;
    victim = other;
    await admin.query(`KILL ${other.threadId}`);
    assert.equal(await probe.victimAlive(), false);
    victim = saved;
    other.destroy();
  });

  describe("layers", () => {
    test("one statement by protocol: a server-side prepared statement refuses a second one", async () => {
      const c = await mysql.createConnection(mysqlConfig(DB));
      try {
        await assert.rejects(c.execute("SELECT 1; DELETE FROM item"), /SQL syntax/);
      } finally {
        await c.end();
      }
      assert.equal(await one<number>("SELECT COUNT(*) FROM item"), 20);
    });

    test("a silent server fails within the connect timeout, and close() does not hang", async () => {
      const sockets: Socket[] = [];
      const silent: Server = createNetServer((s) => void sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
      const port = (silent.address() as import("node:net").AddressInfo).port;
      const db = openReadOnlyDatabase(
        { dialect: "MySQL", host: "127.0.0.1", port, user: "x", database: "y" },
        { connectTimeoutMs: 500 },
      );
      try {
        const t0 = performance.now();
        await assert.rejects(
          db.execute("SELECT 1", LIMITS),
          (e: Error & { kind?: string }) => e.kind === "timeout" && /no answer within 500 ms/.test(e.message),
        );
        assert.ok(performance.now() - t0 < 3000);
        const t1 = performance.now();
        await db.close();
        assert.ok(performance.now() - t1 < 2000);
      } finally {
        for (const s of sockets) s.destroy();
        silent.close();
      }
    });

    test("the row cap holds over an explicit LIMIT, the byte cap is flagged, types come back as JSON", async () => {
      let r = await readOnly.execute("SELECT a.id FROM item a, item b, item c ORDER BY a.id DESC LIMIT 5000", {
        rowLimit: 10,
      });
      assert.equal(r.rows.length, 10);
      assert.deepEqual(r.rows[0], [20]);
      assert.equal(r.truncatedBy, "rows");
      r = await readOnly.execute("SELECT REPEAT('x', 1000) AS s FROM item a, item b", { maxBytes: 10_000 });
      assert.ok(r.rows.length >= 8 && r.rows.length <= 10, `${r.rows.length} rows`);
      assert.equal(r.truncatedBy, "bytes");
      r = await readOnly.execute(
        "SELECT 1 AS a, 2 AS a, NULL AS n, CAST(1.5 AS DECIMAL(6,2)) AS d, 9007199254740993 AS big, DATE '2024-01-02' AS day, X'0102' AS raw",
      );
      assert.deepEqual(r.columns, ["a", "a", "n", "d", "big", "day", "raw"]);
      assert.deepEqual(r.rows, [[1, 2, null, "1.50", "9007199254740993", "2024-01-02", "AQI="]]);
    });

    test("a query the server's timeout cuts short but that still answers a row (BENCHMARK) is reported as a timeout", async () => {
      await assert.rejects(
        noCheck.execute("SELECT BENCHMARK(100000000000, MD5('x'))", { timeoutMs: 500 }),
        (e: Error & { kind?: string }) => e.kind === "timeout",
      );
    });
  });

  const attacks = () =>
    mysqlAttacks
      .filter((a) => !a.only || a.only === (mariadb ? "mariadb" : "mysql"))
      .filter((a) => mariadb || !/\{SEQ\}/.test(a.sql));
  // The list is fixed when the tests are declared; cases for the other server flavour are skipped inside.
  describe("corpus, read-only user", () =>
    corpusTests(mysqlAttacks, {
      label: "read-only user",
      db: () => readOnly,
      probe: () => probe,
      values,
      checkOutcome: true,
      include: (a) => attacks().includes(a),
    }));
  describe("corpus, privileged user with --allow-privileged-user", () =>
    corpusTests(mysqlAttacks, {
      label: "root, opt-in",
      db: () => privileged,
      probe: () => probe,
      values,
      checkOutcome: true,
      include: (a) => attacks().includes(a),
    }));
  describe("corpus, read-only user without the parser check (the layers below it alone)", () =>
    corpusTests(mysqlAttacks, {
      label: "no parser check",
      db: () => noCheck,
      probe: () => probe,
      values,
      checkOutcome: false,
      include: (a) => attacks().includes(a),
    }));

  describe("corpus over HTTP", () => {
    let app: Awaited<ReturnType<typeof createServer>>;
    before(async () => {
      app = await createServer({
        model: new FakeChatModel((req) =>
          attackReplies(mysqlAttacks, values)(req.messages[0]!.content.split("【用户问题】\n")[1] ?? ""),
        ),
        logger: false,
        executeLimits: LIMITS,
        closeModel: false,
        database: {
          dialect: "MySQL",
          description: "attack db",
          loadSchema: async () => "【DB_ID】 attack\n# Table: item",
          executor: readOnly,
        },
      });
    });
    after(async () => app?.close());
    httpCorpusTests(
      mysqlAttacks,
      "read-only user",
      () => app,
      () => probe,
      (a) => attacks().includes(a),
    );
  });
});
