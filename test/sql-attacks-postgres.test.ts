// The attack corpus against real PostgreSQL ($SQLFOCUS_TEST_PG_URL; skipped when nothing answers, a failure under
// CI): a read-only user the test creates, the superuser with --allow-privileged-user (the denylist alone), the
// read-only user with the parser check switched off (the layers below it alone), and over HTTP. After every case:
// rows, sequences, tables, roles and large objects as before (read by the admin connection), no file in the
// server's tmp, no advisory lock, no transaction left open, another session alive, the call back in time.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { createServer } from "../src/server/index.js";
import { openReadOnlyDatabase, PrivilegedUserError, type ReadOnlyDatabase } from "../src/sql/index.js";
import { FakeChatModel } from "./server-fake-model.js";
import { postgresAttacks } from "./helpers/sql-attack-corpus.js";
import { attackReplies, corpusTests, httpCorpusTests, LIMITS, type Probe } from "./helpers/sql-attack-harness.js";
import { pgConfig, requirePostgres } from "./helpers/services.js";

const skip = await requirePostgres();
const id = randomBytes(4).toString("hex");
const DB = `sqlfocus_attack_${id}`;
const RO = `sqlfocus_ro_${id}`;
const FILE = `/tmp/sqlfocus_attack_${id}`;
const LOCK = 4242;

let admin: pg.Client; // the admin's connection to the attack database: fixture, snapshots, probes
let victim: pg.Client; // another session that must survive
let victimPid = 0;
const executors: ReadOnlyDatabase[] = [];
let readOnly: ReadOnlyDatabase;
let privileged: ReadOnlyDatabase;
let noCheck: ReadOnlyDatabase;

function connection(user: string, password: string) {
  const c = pgConfig(DB);
  return { dialect: "PostgreSQL" as const, host: c.host, port: c.port, user, password, database: DB };
}

const probe: Probe = {
  async snapshot() {
    const r = await admin.query(`SELECT
      (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM item t) AS rows,
      (SELECT last_value::text || is_called::text FROM item_id_seq) AS seq,
      (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace) AS tables,
      (SELECT string_agg(rolname || rolsuper::text, ',' ORDER BY rolname) FROM pg_roles) AS roles,
      (SELECT count(*) FROM pg_largeobject_metadata) AS lobs`);
    return JSON.stringify(r.rows[0]);
  },
  async filesWritten() {
    const r = await admin.query("SELECT name FROM pg_ls_dir('/tmp') AS name WHERE name LIKE $1", [
      `sqlfocus_attack_${id}%`,
    ]);
    return r.rows.map((x) => x.name as string);
  },
  async locksHeld() {
    const r = await admin.query(
      "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = $1",
      [DB],
    );
    return r.rows[0].n;
  },
  async openTransactions() {
    const r = await admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'sqlfocus' AND (state <> 'idle' OR xact_start IS NOT NULL)",
      [DB],
    );
    return r.rows[0].n;
  },
  async victimAlive() {
    try {
      return (await victim.query("SELECT 1 AS one")).rows[0].one === 1;
    } catch {
      return false;
    }
  },
};

const values = () => ({
  TABLE: "item",
  SEQ: "item_id_seq",
  WRITER: "sqlfocus_writer",
  DEFINER: "sqlfocus_definer",
  FILE,
  DIR: "/tmp",
  VICTIM: victimPid,
  LOCK,
});

describe("PostgreSQL attack corpus", { skip }, () => {
  before(async () => {
    const root = new pg.Client(pgConfig());
    await root.connect();
    await root.query(`CREATE DATABASE ${DB}`);
    await root.query(`CREATE ROLE ${RO} LOGIN PASSWORD 'pw'`);
    await root.end();
    admin = new pg.Client(pgConfig(DB));
    await admin.connect();
    await admin.query(`
      CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO item (name) SELECT 'n' || g FROM generate_series(1, 20) g;
      CREATE FUNCTION sqlfocus_writer() RETURNS int LANGUAGE sql AS $$ INSERT INTO item (name) VALUES ('x') RETURNING 1 $$;
      CREATE FUNCTION sqlfocus_definer() RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN INSERT INTO item (name) VALUES ('y'); RETURN 1; END $$;
      CREATE PROCEDURE sqlfocus_proc() LANGUAGE sql AS $$ DELETE FROM item $$;
      REVOKE EXECUTE ON FUNCTION sqlfocus_definer() FROM PUBLIC;
      GRANT CONNECT ON DATABASE ${DB} TO ${RO};
      GRANT USAGE ON SCHEMA public TO ${RO};
      GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${RO};`);
    victim = new pg.Client(pgConfig(DB));
    await victim.connect();
    victimPid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    const su = pgConfig(DB);
    readOnly = openReadOnlyDatabase(connection(RO, "pw"));
    privileged = openReadOnlyDatabase(connection(su.user, su.password), { allowPrivilegedUser: true });
    noCheck = openReadOnlyDatabase(connection(RO, "pw"), { check: (sql) => sql.replace(/[\s;]+$/, "") });
    executors.push(readOnly, privileged, noCheck);
  });

  after(async () => {
    for (const e of executors) await e.close();
    await victim?.end();
    await admin?.end();
    const root = new pg.Client(pgConfig());
    await root.connect();
    await root.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [DB],
    );
    await root.query(`DROP DATABASE IF EXISTS ${DB}`);
    await root.query(`DROP ROLE IF EXISTS ${RO}`);
    await root.query("SELECT pg_ls_dir('/tmp')"); // (the server still answers)
    await root.end();
  });

  describe("privileges", () => {
    test("the test's read-only user passes the check; the superuser does not, and is told how to make a read-only user", async () => {
      const ro = await readOnly.checkPrivileges();
      assert.equal(ro.privileged, false, ro.privileges.join("; "));
      assert.deepEqual(ro.privileges, []);
      const su = await privileged.checkPrivileges();
      assert.equal(su.privileged, true);
      assert.equal(su.allowed, true);
      assert.ok(su.privileges.some((p) => /superuser/.test(p)));
      const strict = openReadOnlyDatabase(connection(pgConfig(DB).user, pgConfig(DB).password));
      executors.push(strict);
      await assert.rejects(strict.execute("SELECT 1"), (e: Error) => {
        assert.ok(e instanceof PrivilegedUserError);
        assert.equal(e.code, "privileged-user");
        assert.match(e.message, /has more than read rights \(superuser/);
        assert.match(e.message, /CREATE ROLE sqlfocus_reader LOGIN PASSWORD/);
        assert.match(e.message, new RegExp(`GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO sqlfocus_reader`));
        assert.match(e.message, /--allow-privileged-user/);
        return true;
      });
    });

    test("each right beyond reading is found: write grants, sequence use, CREATE, server-file roles, SECURITY DEFINER", async () => {
      const role = `sqlfocus_rw_${id}`;
      await admin.query(
        `CREATE ROLE ${role} LOGIN PASSWORD 'pw'; GRANT CONNECT ON DATABASE ${DB} TO ${role}; GRANT USAGE ON SCHEMA public TO ${role}`,
      );
      const db = openReadOnlyDatabase(connection(role, "pw"));
      executors.push(db);
      try {
        const grants: Array<[string, RegExp]> = [
          ["GRANT INSERT ON item TO %", /write rights on table public\.item/],
          ["GRANT USAGE ON SEQUENCE item_id_seq TO %", /USAGE\/UPDATE on sequence public\.item_id_seq/],
          ["GRANT CREATE ON SCHEMA public TO %", /CREATE on schema public/],
          ["GRANT pg_read_server_files TO %", /member of pg_read_server_files/],
          ["GRANT pg_signal_backend TO %", /member of pg_signal_backend/],
          [
            "GRANT EXECUTE ON FUNCTION sqlfocus_definer() TO %",
            /EXECUTE on SECURITY DEFINER function sqlfocus_definer\(\)/,
          ],
          [`GRANT CREATE ON DATABASE ${DB} TO %`, new RegExp(`CREATE on database ${DB}`)],
        ];
        for (const [grant, found] of grants) {
          await admin.query(grant.replace("%", role));
          const fresh = openReadOnlyDatabase(connection(role, "pw"));
          executors.push(fresh);
          const p = await fresh.checkPrivileges();
          assert.equal(p.privileged, true, grant);
          assert.ok(
            p.privileges.some((x) => found.test(x)),
            `${grant}: ${p.privileges.join("; ")}`,
          );
          await admin.query(
            grant
              .replace(/^GRANT/, "REVOKE")
              .replace(" TO ", " FROM ")
              .replace("%", role),
          );
        }
        assert.equal((await db.checkPrivileges()).privileged, false);
      } finally {
        await admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {});
      }
    });

    test("the SQL the refusal shows makes a user that passes the check and can read", async () => {
      const strict = openReadOnlyDatabase(connection(pgConfig(DB).user, pgConfig(DB).password));
      executors.push(strict);
      const report = await strict.checkPrivileges();
      const role = `sqlfocus_made_${id}`;
      const script = report.readOnlyUserSql.replaceAll("sqlfocus_reader", role).replace("choose-a-password", "pw");
      await admin.query(script);
      try {
        const made = openReadOnlyDatabase(connection(role, "pw"));
        executors.push(made);
        assert.deepEqual((await made.checkPrivileges()).privileges, []);
        assert.deepEqual((await made.execute("SELECT count(*)::int AS n FROM item")).rows, [[20]]);
      } finally {
        await admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
    });
  });

  test("the checks after each case see harm: a row written, a sequence advanced, a file written, a lock held", async () => {
    const before = await probe.snapshot();
    await admin.query("INSERT INTO item (name) VALUES ('harm')");
    assert.notEqual(await probe.snapshot(), before);
    await admin.query("DELETE FROM item WHERE name = 'harm'; SELECT setval('item_id_seq', 20)");
    assert.equal(await probe.snapshot(), before);
    await admin.query(`COPY (SELECT 1) TO '${FILE}'`);
    assert.deepEqual(await probe.filesWritten(), [`sqlfocus_attack_${id}`]);
    await admin.query(`COPY (SELECT 1) TO PROGRAM 'rm -f ${FILE}'`);
    assert.deepEqual(await probe.filesWritten(), []);
    await victim.query(`SELECT pg_advisory_lock(${LOCK})`);
    assert.equal(await probe.locksHeld(), 1);
    await victim.query(`SELECT pg_advisory_unlock(${LOCK})`);
    assert.equal(await probe.locksHeld(), 0);
  });

  describe("layers", () => {
    test("one statement by protocol: the extended protocol refuses what the check would let through", async () => {
      const c = new pg.Client(pgConfig(DB));
      await c.connect();
      try {
        await assert.rejects(
          c.query({ text: "SELECT 1; DELETE FROM item", queryMode: "extended" } as pg.QueryConfig),
          /cannot insert multiple commands into a prepared statement/,
        );
      } finally {
        await c.end();
      }
    });

    test("a silent server (TCP accepted, nothing said) fails within the connect timeout, and close() does not hang", async () => {
      const sockets: Socket[] = [];
      const silent: Server = createNetServer((s) => void sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
      const port = (silent.address() as import("node:net").AddressInfo).port;
      const db = openReadOnlyDatabase(
        { dialect: "PostgreSQL", host: "127.0.0.1", port, user: "x", database: "y" },
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

    test("the row cap holds whatever the query's LIMIT, the byte cap is flagged, and types come back as JSON", async () => {
      let r = await readOnly.execute(
        "SELECT g FROM (SELECT generate_series(1, 100000) AS g) s ORDER BY g DESC LIMIT 50000",
        { rowLimit: 10 },
      );
      assert.equal(r.rows.length, 10);
      assert.deepEqual(r.rows[0], [100000]);
      assert.equal(r.truncatedBy, "rows");
      r = await readOnly.execute("SELECT repeat('x', 1000) AS s FROM generate_series(1, 100)", { maxBytes: 10_000 });
      assert.ok(r.rows.length >= 8 && r.rows.length <= 10, `${r.rows.length} rows`);
      assert.equal(r.truncatedBy, "bytes");
      r = await readOnly.execute(
        "SELECT 1 AS a, 2 AS a, NULL::int AS n, 1.50::numeric(6,2) AS d, 9007199254740993::bigint AS big, DATE '2024-01-02' AS day, true AS b, '\\x0102'::bytea AS raw",
      );
      assert.deepEqual(r.columns, ["a", "a", "n", "d", "big", "day", "b", "raw"]);
      assert.deepEqual(r.rows, [[1, 2, null, "1.50", "9007199254740993", "2024-01-02", true, "AQI="]]);
      assert.equal(r.truncated, false);
    });
  });

  describe("corpus, read-only user", () =>
    corpusTests(postgresAttacks, {
      label: "read-only user",
      db: () => readOnly,
      probe: () => probe,
      values,
      checkOutcome: true,
    }));
  describe("corpus, privileged user with --allow-privileged-user", () =>
    corpusTests(postgresAttacks, {
      label: "superuser, opt-in",
      db: () => privileged,
      probe: () => probe,
      values,
      checkOutcome: true,
    }));
  describe("corpus, read-only user without the parser check (the layers below it alone)", () =>
    corpusTests(postgresAttacks, {
      label: "no parser check",
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
          attackReplies(postgresAttacks, values)(req.messages[0]!.content.split("【用户问题】\n")[1] ?? ""),
        ),
        logger: false,
        executeLimits: LIMITS,
        closeModel: false,
        database: {
          dialect: "PostgreSQL",
          description: "attack db",
          loadSchema: async () => "【DB_ID】 attack\n# Table: item",
          executor: readOnly,
        },
      });
    });
    after(async () => app?.close());
    httpCorpusTests(
      postgresAttacks,
      "read-only user",
      () => app,
      () => probe,
    );
  });
});
