// What an executed query may not call or read, whatever user runs it. With a read-only user the database refuses
// most of these by itself; the list is what still stands between a privileged user (--allow-privileged-user) and the
// server's files, programs and other sessions, and it keeps sessions of a read-only user from locking, sleeping or
// signalling each other. Names are lower case; one list serves every dialect (a name of one database's function is
// not a sensible call in another's).

/** Functions refused by exact name. */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  // PostgreSQL: server files and programs
  "pg_read_file",
  "pg_read_binary_file",
  "pg_stat_file",
  "pg_logdir_ls",
  "pg_file_write",
  "pg_file_rename",
  "pg_file_unlink",
  "pg_file_sync",
  "pg_file_read",
  "pg_file_length",
  // PostgreSQL: large objects (lo_import/lo_export read and write server files)
  "loread",
  "lowrite",
  // PostgreSQL: signals, configuration, server state
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_promote",
  "pg_create_restore_point",
  "pg_log_backend_memory_contexts",
  "pg_import_system_collations",
  "pg_nextoid",
  "pg_notify",
  "set_config",
  "pg_switch_wal",
  "pg_switch_xlog",
  // PostgreSQL: sequences and transaction ids (state changes that a rollback does not undo)
  "nextval",
  "setval",
  "txid_current",
  "pg_current_xact_id",
  // PostgreSQL: functions that run SQL given as text (would hide any call above from the check)
  "query_to_xml",
  "query_to_xmlschema",
  "query_to_xml_and_xmlschema",
  "cursor_to_xml",
  "cursor_to_xmlschema",
  "database_to_xml",
  "database_to_xmlschema",
  "database_to_xml_and_xmlschema",
  "schema_to_xml",
  "schema_to_xmlschema",
  "schema_to_xml_and_xmlschema",
  "ts_stat",
  // MySQL/MariaDB: files, sleeps, locks, replication waits, sequences, UDFs commonly installed to run programs
  "load_file",
  "sleep",
  "benchmark",
  "get_lock",
  "release_lock",
  "release_all_locks",
  "master_pos_wait",
  "source_pos_wait",
  "master_gtid_wait",
  "wait_for_executed_gtid_set",
  "wait_until_sql_thread_after_gtids",
  "sys_exec",
  "sys_eval",
  "sys_get",
  "sys_set",
  // SQLite: extensions, files, huge allocations
  "load_extension",
  "readfile",
  "writefile",
  "edit",
  "fts3_tokenizer",
  "zeroblob",
  "randomblob",
]);

/** Functions refused by prefix (families). */
export const DENIED_FUNCTION_PREFIXES: readonly string[] = [
  "pg_ls_", // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, …
  "pg_read_", // pg_read_file, pg_read_binary_file
  "pg_file_", // adminpack
  "pg_sleep", // pg_sleep, pg_sleep_for, pg_sleep_until
  "pg_advisory_", // advisory locks (session locks outlive a request on a pooled connection)
  "pg_try_advisory_",
  "lo_", // large objects: lo_import, lo_export, lo_create, lo_unlink, lo_put, lo_from_bytea, …
  "dblink", // dblink, dblink_exec, dblink_connect, … (SQL on another connection, outside the read-only transaction)
  "pg_replication_origin_",
  "pg_create_", // replication slots, restore points
  "pg_drop_replication_slot",
  "pg_copy_", // replication slot copies
  "pg_logical_",
  "pg_wal_replay_",
  "pg_backup_",
  "pg_start_backup",
  "pg_stop_backup",
  "pg_stat_reset",
  "pg_stat_statements_reset",
];

/** Tables and views refused: password hashes, other sessions' SQL, server configuration. */
export const DENIED_RELATIONS: ReadonlySet<string> = new Set([
  "pg_authid",
  "pg_shadow",
  "pg_user_mapping",
  "pg_user_mappings",
  "pg_largeobject",
  "pg_hba_file_rules",
  "pg_ident_file_mappings",
  "pg_file_settings",
  "pg_stat_activity",
  "pg_stat_ssl",
  "pg_stat_gssapi",
  "processlist",
  "global_priv",
  "performance_schema",
]);

/** Schemas whose tables are refused (MySQL/MariaDB system schemas). */
export const DENIED_SCHEMAS: ReadonlySet<string> = new Set(["mysql", "performance_schema", "sys"]);

export function isDeniedFunction(name: string): boolean {
  const n = name.toLowerCase();
  return DENIED_FUNCTIONS.has(n) || DENIED_FUNCTION_PREFIXES.some((p) => n.startsWith(p));
}
