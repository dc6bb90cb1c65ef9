// Errors of src/sql. A refusal (SqlRefusedError) means the SQL, or the configured user, was not allowed to run: the
// server answers 422 with the reason. A failure (QueryFailedError) means an allowed query did not give rows: an SQL
// error from the database ("error"), or it ran past its time ("timeout").

/** Why SQL was refused, for programs (the message is for people). */
export type RefusalCode =
  | "empty" // nothing to run
  | "too-long" // over the length the check reads
  | "bad-character" // NUL bytes and the like
  | "executable-comment" // /*! … */, /*M! … */, /*+ … */
  | "unparsable" // the parser cannot read it in this dialect: refused, not guessed
  | "multiple-statements"
  | "not-a-query" // not SELECT / WITH … SELECT / a set operation of them
  | "into" // SELECT … INTO (a table, variables, OUTFILE/DUMPFILE)
  | "locking" // FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE
  | "denied-function" // file, program, large-object, signal, lock, sleep, sequence, settings … functions
  | "denied-table" // password hashes and server internals (pg_authid, mysql.user, …)
  | "denied-syntax" // dialect-specific escapes the check does not read the way the database does (U&"…")
  | "read-only" // the database refused a write inside the read-only transaction
  | "permission" // the database refused: the user lacks the right (what a read-only user is for)
  | "privileged-user"; // the configured user may write or reach the server: execution is off until fixed

export class SqlRefusedError extends Error {
  constructor(
    message: string,
    readonly code: RefusalCode,
  ) {
    super(message);
    this.name = "SqlRefusedError";
  }
}

/** The configured user has more than read rights; `readOnlyUserSql` is the SQL that creates one that has not. */
export class PrivilegedUserError extends SqlRefusedError {
  constructor(
    message: string,
    readonly privileges: string[],
    readonly readOnlyUserSql: string,
  ) {
    super(message, "privileged-user");
    this.name = "PrivilegedUserError";
  }
}

export class QueryFailedError extends Error {
  constructor(
    message: string,
    readonly kind: "error" | "timeout",
  ) {
    super(message);
    this.name = "QueryFailedError";
  }
}
