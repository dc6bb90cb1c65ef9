// The attack corpus for the read-only executor (src/sql): SQL a steered model could write, by class. Placeholders,
// filled in by each database's test: {FILE} a path no file may appear at, {DIR} the folder of {FILE} (the database
// host's tmp), {VICTIM} the backend pid / thread id of another session that must survive, {LOCK} a lock name/number,
// {TABLE} the fixture table (20 rows), {SEQ} its sequence, {WRITER} a function that INSERTs, {DEFINER} a SECURITY
// DEFINER function (PostgreSQL) that INSERTs.
//
// `expect` is the outcome with the layers all on: "refused" (SqlRefusedError: 422 over HTTP), "blocked" (refused,
// an SQL error or a timeout: anything but rows), "timeout", "truncated" (rows, cut by a cap), "ok" (harmless rows).
// Whatever the outcome, every case is followed by the same checks: data unchanged (through another connection), no
// file at {FILE}, no lock left, the other session alive, nothing left open, the call back within its time.

export type Expect = "refused" | "blocked" | "timeout" | "truncated" | "ok";

export interface Attack {
  /** What it tries, as a short phrase (the test's name). */
  name: string;
  sql: string;
  expect: Expect | Expect[];
  /** Only where the database is MariaDB (seq_1_to_N tables, /*M! comments) or MySQL. */
  only?: "mariadb" | "mysql";
}

const common: Attack[] = [
  // multiple statements: the protocol takes one; the check refuses more
  { name: "second statement after a query", sql: "SELECT 1; DELETE FROM {TABLE}", expect: "refused" },
  {
    name: "COMMIT ends the read-only transaction, then a write",
    sql: "SELECT 1; COMMIT; DELETE FROM {TABLE}",
    expect: "refused",
  },
  { name: "ROLLBACK then a write", sql: "SELECT 1; ROLLBACK; DROP TABLE {TABLE}", expect: "refused" },
  { name: "trailing statement after comment", sql: "SELECT 1 -- hi\n; DROP TABLE {TABLE}", expect: "refused" },
  // statements that are not a query
  { name: "DELETE", sql: "DELETE FROM {TABLE}", expect: "refused" },
  { name: "UPDATE", sql: "UPDATE {TABLE} SET name = 'x'", expect: "refused" },
  { name: "INSERT … SELECT", sql: "INSERT INTO {TABLE} (name) SELECT name FROM {TABLE}", expect: "refused" },
  { name: "DROP TABLE", sql: "DROP TABLE {TABLE}", expect: "refused" },
  { name: "TRUNCATE", sql: "TRUNCATE TABLE {TABLE}", expect: "refused" },
  { name: "CREATE TABLE AS", sql: "CREATE TABLE sqlfocus_evil AS SELECT * FROM {TABLE}", expect: "refused" },
  { name: "ALTER TABLE", sql: "ALTER TABLE {TABLE} ADD COLUMN evil int", expect: "refused" },
  { name: "GRANT", sql: "GRANT ALL ON {TABLE} TO PUBLIC", expect: "refused" },
  { name: "CALL a procedure", sql: "CALL sqlfocus_proc()", expect: "refused" },
  { name: "PREPARE a write", sql: "PREPARE evil FROM 'DELETE FROM {TABLE}'", expect: "refused" },
  { name: "EXECUTE a prepared statement", sql: "EXECUTE evil", expect: "refused" },
  { name: "SET a session limit off", sql: "SET statement_timeout = 0", expect: "refused" },
  { name: "EXPLAIN ANALYZE of DML", sql: "EXPLAIN ANALYZE DELETE FROM {TABLE}", expect: "refused" },
  { name: "data-modifying CTE", sql: "WITH d AS (DELETE FROM {TABLE} RETURNING *) SELECT * FROM d", expect: "refused" },
  {
    name: "INSERT in a CTE",
    sql: "WITH x AS (INSERT INTO {TABLE} (name) VALUES ('x') RETURNING id) SELECT * FROM x",
    expect: "refused",
  },
  { name: "SELECT … INTO a new table", sql: "SELECT * INTO sqlfocus_copy FROM {TABLE}", expect: "refused" },
  { name: "SELECT … INTO in a subquery", sql: "SELECT (SELECT 1 INTO sqlfocus_x)", expect: "refused" },
  { name: "FOR UPDATE", sql: "SELECT * FROM {TABLE} FOR UPDATE", expect: "refused" },
  { name: "FOR SHARE", sql: "SELECT * FROM {TABLE} FOR SHARE", expect: "refused" },
  // writes hidden where the check cannot see them: the read-only transaction stops them
  { name: "a function defined beforehand that INSERTs", sql: "SELECT {WRITER}()", expect: "refused" },
  { name: "a writing function inside a WHERE", sql: "SELECT id FROM {TABLE} WHERE {WRITER}() = 1", expect: "refused" },
  // sleeps and locks
  { name: "sleep past the timeout", sql: "SELECT sleep(30)", expect: "refused" },
  // unreadable input
  { name: "NUL byte", sql: "SELECT 1\u0000; DELETE FROM {TABLE}", expect: "refused" },
  { name: "control characters", sql: "SELECT 1\u001a; DELETE FROM {TABLE}", expect: "refused" },
  { name: "empty", sql: "  ;  ", expect: "refused" },
  { name: "only a comment", sql: "-- DELETE FROM x", expect: "refused" },
  { name: "unterminated string", sql: "SELECT 'abc", expect: "refused" },
  { name: "unterminated comment", sql: "SELECT 1 /* ; DELETE FROM {TABLE}", expect: "refused" },
  { name: "very long input (200 KB)", sql: `SELECT '${"x".repeat(200_000)}' AS x`, expect: "refused" },
  { name: "deep nesting", sql: `SELECT ${"(".repeat(5000)}1${")".repeat(5000)}`, expect: "refused" },
  // plain reads stay fine
  { name: "a plain query (control)", sql: "SELECT id, name FROM {TABLE} ORDER BY id LIMIT 3", expect: "ok" },
];

export const postgresAttacks: Attack[] = [
  ...common,
  // lexer desyncs: text PostgreSQL reads differently from a naive scanner (or from node-sql-parser)
  {
    name: "backslash in a standard string hides a second statement",
    sql: "SELECT 'a\\'; DELETE FROM {TABLE}; --'",
    expect: "blocked",
  },
  {
    name: "backslash string escapes the row-cap wrapper",
    sql: "SELECT 'a\\' ) AS x, (SELECT count(*) FROM {TABLE} --'",
    expect: "blocked",
  },
  { name: "E'' string with an escaped quote", sql: "SELECT E'\\''; DELETE FROM {TABLE}; --'", expect: "blocked" },
  { name: "dollar quote whose tag has digits", sql: "SELECT $a1$ x $a1$; DELETE FROM {TABLE}", expect: "refused" },
  { name: "dollar quote hiding a statement", sql: "SELECT $$ ; $$; DELETE FROM {TABLE}", expect: "refused" },
  { name: "unicode dollar-quote tag", sql: "SELECT $é$ x $é$; DELETE FROM {TABLE}", expect: "refused" },
  { name: "nested comments", sql: "SELECT 1 /* /* */ ; DELETE FROM {TABLE}; */", expect: "ok" },
  {
    name: "nested comment closing early for a naive scanner",
    sql: "SELECT 1 /* /* */ */ ; DELETE FROM {TABLE}",
    expect: "refused",
  },
  { name: "# is an operator, not a comment", sql: "SELECT 1 # 2 ; DELETE FROM {TABLE}", expect: "refused" },
  { name: "[ ] are array brackets, not quotes", sql: "SELECT ARRAY[1][1] ; DELETE FROM {TABLE}", expect: "refused" },
  { name: "U& unicode-escaped string", sql: "SELECT U&'\\0027'; DELETE FROM {TABLE}; --'", expect: "refused" },
  { name: "U& unicode-escaped function name", sql: "SELECT U&\"\\0070g_read_file\"('/etc/passwd')", expect: "refused" },
  {
    name: "standard_conforming_strings changed in the query",
    sql: "SELECT set_config('standard_conforming_strings', 'off', true)",
    expect: "refused",
  },
  // server files and programs
  { name: "COPY TO PROGRAM", sql: "COPY (SELECT 1) TO PROGRAM 'touch {FILE}'", expect: "refused" },
  { name: "COPY TO a file", sql: "COPY {TABLE} TO '{FILE}'", expect: "refused" },
  { name: "COPY FROM a file", sql: "COPY {TABLE} FROM '/etc/hostname'", expect: "refused" },
  { name: "pg_read_file", sql: "SELECT pg_read_file('/etc/passwd')", expect: "refused" },
  {
    name: "pg_read_file schema-qualified and quoted",
    sql: "SELECT pg_catalog.\"pg_read_file\"('/etc/passwd')",
    expect: "refused",
  },
  { name: "pg_read_file with a comment before (", sql: "SELECT pg_read_file/* x */('/etc/passwd')", expect: "refused" },
  { name: "pg_read_file in upper case", sql: "SELECT PG_READ_FILE('/etc/passwd')", expect: "refused" },
  { name: "pg_read_binary_file", sql: "SELECT pg_read_binary_file('/etc/passwd')", expect: "refused" },
  { name: "pg_ls_dir", sql: "SELECT pg_ls_dir('.')", expect: "refused" },
  { name: "pg_stat_file", sql: "SELECT pg_stat_file('/etc/passwd')", expect: "refused" },
  { name: "lo_import", sql: "SELECT lo_import('/etc/passwd')", expect: "refused" },
  { name: "lo_export", sql: "SELECT lo_export(lo_from_bytea(0, 'x'), '{FILE}')", expect: "refused" },
  { name: "lo_from_bytea", sql: "SELECT lo_from_bytea(0, 'x')", expect: "refused" },
  {
    name: "SQL text run by query_to_xml",
    sql: "SELECT query_to_xml('delete from {TABLE} returning 1', true, true, '')",
    expect: "refused",
  },
  {
    name: "SQL text run by ts_stat",
    sql: "SELECT * FROM ts_stat('select to_tsvector(name) from {TABLE}')",
    expect: "refused",
  },
  { name: "dblink", sql: "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM x') AS t(a int)", expect: "refused" },
  { name: "DO block", sql: "DO $$ BEGIN DELETE FROM {TABLE}; END $$", expect: "refused" },
  // other sessions, settings, state
  { name: "pg_terminate_backend of another session", sql: "SELECT pg_terminate_backend({VICTIM})", expect: "refused" },
  {
    name: "pg_cancel_backend of every session",
    sql: "SELECT pg_cancel_backend(pid) FROM pg_stat_activity",
    expect: "refused",
  },
  {
    name: "set_config outside the transaction",
    sql: "SELECT set_config('statement_timeout', '0', false)",
    expect: "refused",
  },
  { name: "become another role", sql: "SELECT set_config('role', 'postgres', true)", expect: "refused" },
  { name: "nextval advances a sequence", sql: "SELECT nextval('{SEQ}')", expect: "refused" },
  { name: "setval", sql: "SELECT setval('{SEQ}', 1000)", expect: "refused" },
  { name: "txid_current assigns a transaction id", sql: "SELECT txid_current()", expect: "refused" },
  { name: "pg_notify", sql: "SELECT pg_notify('ch', 'x')", expect: "refused" },
  { name: "session advisory lock", sql: "SELECT pg_advisory_lock({LOCK})", expect: "refused" },
  { name: "try advisory lock", sql: "SELECT pg_try_advisory_lock({LOCK})", expect: "refused" },
  { name: "pg_sleep past the timeout", sql: "SELECT pg_sleep(30)", expect: "refused" },
  { name: "a SECURITY DEFINER function that INSERTs", sql: "SELECT {DEFINER}()", expect: "refused" },
  // password hashes and server internals
  { name: "pg_shadow", sql: "SELECT usename, passwd FROM pg_shadow", expect: "refused" },
  { name: "pg_authid", sql: "SELECT rolname, rolpassword FROM pg_authid", expect: "refused" },
  { name: "pg_stat_activity (other sessions' SQL)", sql: "SELECT query FROM pg_stat_activity", expect: "refused" },
  // size and time
  { name: "ten million rows", sql: "SELECT generate_series(1, 10000000) AS g", expect: "truncated" },
  {
    name: "explicit LIMIT above the row cap",
    sql: "SELECT generate_series(1, 10000000) AS g LIMIT 5000000",
    expect: "truncated",
  },
  {
    name: "cross join of a million rows",
    sql: "SELECT a.id, b.id, c.id, d.id FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d",
    expect: "truncated",
  },
  { name: "a 20 MB cell", sql: "SELECT repeat('x', 20000000) AS big", expect: "truncated" },
  // 100 MB is built by the server in ~1-2 s (more on a loaded machine): cut by the byte cap, or by the timeout
  { name: "a 100 MB cell", sql: "SELECT repeat('x', 100000000) AS big", expect: ["truncated", "timeout"] },
  {
    name: "100 cells of 1 MB",
    sql: "SELECT repeat('x', 1000000) AS big FROM generate_series(1, 100)",
    expect: "truncated",
  },
  {
    name: "a count over 10^10 rows",
    sql: "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b",
    expect: "timeout",
  },
];

export const mysqlAttacks: Attack[] = [
  ...common,
  // lexer desyncs
  { name: "backslash in a double-quoted string", sql: 'SELECT "a\\"; DELETE FROM {TABLE}; -- "', expect: "ok" },
  { name: "backslash in a single-quoted string", sql: "SELECT 'a\\'; DELETE FROM {TABLE}; -- '", expect: "ok" },
  { name: "-- without a space is not a comment", sql: "SELECT 1 --1\n; DELETE FROM {TABLE}", expect: "refused" },
  { name: "# comment hides a statement from a scanner", sql: "SELECT 1 # ;\n; DELETE FROM {TABLE}", expect: "refused" },
  { name: "backticks hold a semicolon", sql: "SELECT 1 AS `a;b`; DELETE FROM {TABLE}", expect: "refused" },
  { name: "doubled backticks", sql: "SELECT 1 AS `a``b`; DELETE FROM {TABLE}", expect: "refused" },
  { name: "executable comment with a statement", sql: "SELECT 1 /*! ; DELETE FROM {TABLE} */", expect: "refused" },
  { name: "versioned executable comment", sql: "/*!50000 DELETE FROM {TABLE} */", expect: "refused" },
  {
    name: "MariaDB executable comment",
    sql: "SELECT 1 /*M! , (SELECT LOAD_FILE('/etc/passwd')) */",
    expect: "refused",
  },
  { name: "optimizer hint", sql: "SELECT /*+ MAX_EXECUTION_TIME(0) */ 1", expect: "refused" },
  {
    name: "nested comment markers (MySQL has none)",
    sql: "SELECT 1 /* /* */ ; DELETE FROM {TABLE}; */",
    expect: "refused",
  },
  { name: "ANSI_QUOTES-style identifiers", sql: 'SELECT "id" FROM {TABLE} WHERE "name" = \'n1\'', expect: "ok" },
  { name: "sql_mode change", sql: "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", expect: "refused" },
  { name: "SET STATEMENT … FOR", sql: "SET STATEMENT max_statement_time = 0 FOR SELECT 1", expect: "refused" },
  // files
  { name: "INTO OUTFILE", sql: "SELECT * FROM {TABLE} INTO OUTFILE '{FILE}'", expect: "refused" },
  { name: "INTO DUMPFILE", sql: "SELECT 'x' INTO DUMPFILE '{FILE}'", expect: "refused" },
  { name: "INTO OUTFILE in an executable comment", sql: "SELECT 1 /*!INTO OUTFILE '{FILE}'*/", expect: "refused" },
  {
    name: "INTO OUTFILE in the datadir (relative path)",
    sql: "SELECT 1 INTO OUTFILE 'sqlfocus_evil.txt'",
    expect: "refused",
  },
  { name: "INTO @variable", sql: "SELECT 1 INTO @x", expect: "refused" },
  { name: "LOAD_FILE", sql: "SELECT LOAD_FILE('/etc/passwd')", expect: "refused" },
  {
    name: "LOAD_FILE in a UNION",
    sql: "SELECT name FROM {TABLE} WHERE id = 1 UNION SELECT LOAD_FILE('/etc/passwd')",
    expect: "refused",
  },
  { name: "LOAD DATA LOCAL INFILE", sql: "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE {TABLE}", expect: "refused" },
  { name: "UDF sys_exec", sql: "SELECT sys_exec('touch {FILE}')", expect: "refused" },
  // sessions, locks, sleeps, sequences
  { name: "KILL another session", sql: "KILL {VICTIM}", expect: "refused" },
  { name: "GET_LOCK (named lock)", sql: "SELECT GET_LOCK('{LOCK}', 0)", expect: "refused" },
  { name: "SLEEP", sql: "SELECT SLEEP(30)", expect: "refused" },
  { name: "BENCHMARK", sql: "SELECT BENCHMARK(100000000000, MD5('x'))", expect: "refused" },
  { name: "DO SLEEP", sql: "DO SLEEP(30)", expect: "refused" },
  { name: "LOCK IN SHARE MODE", sql: "SELECT * FROM {TABLE} LOCK IN SHARE MODE", expect: "refused" },
  { name: "HANDLER", sql: "HANDLER {TABLE} OPEN", expect: "refused" },
  { name: "NEXT VALUE FOR a sequence", sql: "SELECT NEXT VALUE FOR {SEQ}", expect: "refused" },
  { name: "NEXTVAL()", sql: "SELECT NEXTVAL({SEQ})", expect: "refused" },
  { name: "SETVAL()", sql: "SELECT SETVAL({SEQ}, 1000)", expect: "refused" },
  { name: "ANALYZE (runs the statement)", sql: "ANALYZE DELETE FROM {TABLE}", expect: "refused" },
  // password hashes
  { name: "mysql.user", sql: "SELECT user, password FROM mysql.user", expect: "refused" },
  { name: "mysql.global_priv with backticks", sql: "SELECT * FROM `mysql`.`global_priv`", expect: "refused" },
  { name: "other sessions' SQL", sql: "SELECT info FROM information_schema.processlist", expect: "refused" },
  // size and time
  { name: "ten million rows", sql: "SELECT seq FROM seq_1_to_10000000", expect: "truncated", only: "mariadb" },
  {
    name: "explicit LIMIT above the row cap",
    sql: "SELECT seq FROM seq_1_to_10000000 LIMIT 5000000",
    expect: "truncated",
    only: "mariadb",
  },
  {
    name: "cross join of a million rows",
    sql: "SELECT a.id, b.id, c.id, d.id FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d",
    expect: "truncated",
  },
  {
    name: "a 100 MB cell (above max_allowed_packet)",
    sql: "SELECT REPEAT('x', 100000000) AS big",
    expect: ["ok", "truncated"],
  },
  {
    name: "100 cells of 1 MB",
    sql: "SELECT REPEAT('x', 1000000) AS big FROM {TABLE} a, {TABLE} b LIMIT 100",
    expect: "truncated",
  },
  {
    name: "a count over 10^10 rows",
    sql: "SELECT count(*) FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d, {TABLE} e, {TABLE} f, {TABLE} g, {TABLE} h",
    expect: "timeout",
  },
];

export const sqliteAttacks: Attack[] = [
  ...common.filter(
    (a) =>
      ![
        "CALL a procedure",
        "PREPARE a write",
        "EXECUTE a prepared statement",
        "SET a session limit off",
        "GRANT",
        "TRUNCATE",
        "FOR SHARE",
        "EXPLAIN ANALYZE of DML",
        "SELECT … INTO a new table",
        "SELECT … INTO in a subquery",
        "a function defined beforehand that INSERTs",
        "a writing function inside a WHERE",
      ].includes(a.name),
  ),
  { name: "ATTACH a new database file", sql: "ATTACH DATABASE '{FILE}' AS evil", expect: "refused" },
  { name: "VACUUM INTO a file", sql: "VACUUM INTO '{FILE}'", expect: "refused" },
  { name: "PRAGMA writable_schema", sql: "PRAGMA writable_schema = 1", expect: "refused" },
  { name: "PRAGMA journal_mode", sql: "PRAGMA journal_mode = DELETE", expect: "refused" },
  { name: "REPLACE INTO", sql: "REPLACE INTO {TABLE} (id, name) VALUES (1, 'x')", expect: "refused" },
  { name: "INSERT OR IGNORE", sql: "INSERT OR IGNORE INTO {TABLE} (name) VALUES ('x')", expect: "refused" },
  { name: "CTE before DELETE", sql: "WITH x AS (SELECT 1) DELETE FROM {TABLE}", expect: "refused" },
  { name: "DELETE … RETURNING", sql: "DELETE FROM {TABLE} RETURNING *", expect: "refused" },
  { name: "load_extension", sql: "SELECT load_extension('/tmp/evil')", expect: "refused" },
  { name: "writefile (CLI function)", sql: "SELECT writefile('{FILE}', 'x')", expect: "refused" },
  { name: "fts3_tokenizer pointer leak", sql: "SELECT fts3_tokenizer('simple')", expect: "refused" },
  { name: "zeroblob of a gigabyte", sql: "SELECT zeroblob(1000000000)", expect: "refused" },
  { name: "randomblob of a gigabyte", sql: "SELECT randomblob(1000000000)", expect: "refused" },
  {
    name: "backticks and brackets as quotes",
    sql: "SELECT 1 AS [a;b], 2 AS `c;d`; DELETE FROM {TABLE}",
    expect: "refused",
  },
  { name: "# is not a comment in SQLite", sql: "SELECT 1 # ;\n; DELETE FROM {TABLE}", expect: "refused" },
  {
    name: "endless recursive CTE",
    sql: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n",
    expect: "truncated",
  },
  { name: "a 30 MB cell", sql: "SELECT printf('%.*c', 30000000, 'x') AS big", expect: "truncated" },
  {
    name: "doubling strings (32 MB)",
    sql: "WITH RECURSIVE r(s, i) AS (SELECT 'x', 0 UNION ALL SELECT s || s, i + 1 FROM r WHERE i < 25) SELECT s FROM r",
    expect: "truncated",
  },
  {
    name: "a count that never ends",
    sql: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    expect: "timeout",
  },
  {
    name: "cross join of a million rows",
    sql: "SELECT a.id, b.id, c.id, d.id FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d",
    expect: "truncated",
  },
  { name: "reading sqlite_master (harmless)", sql: "SELECT name FROM sqlite_master", expect: "ok" },
];

/** Fills a case's placeholders. */
export function fill(sql: string, values: Record<string, string | number>): string {
  return sql.replace(/\{([A-Z]+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}
