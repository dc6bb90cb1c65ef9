// What the configured user may do beyond reading, checked before any generated SQL runs. A user that may write,
// create, read or write server files, run programs, signal other sessions or become another role makes every other
// layer the only defence; such a user gets execution refused (unless the operator opts in) with the SQL that
// creates a read-only user for the same database.

export interface PrivilegeReport {
  /** The user the executor connects as (as the database names it). */
  user: string;
  /** Rights beyond reading, in words ("superuser", "INSERT on public.orders", "FILE on *.*", …); empty: read-only. */
  privileges: string[];
  /** SQL (run as an administrator) that creates a user with only what execution needs. */
  readOnlyUserSql: string;
}

/** Runs a catalogue query as the configured user and returns its rows as objects. */
export type CatalogQuery = (sql: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>;

const MAX_LISTED = 12;

const pgIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
const myIdent = (s: string) => `\`${s.replace(/`/g, "``")}\``;

/** Predefined PostgreSQL roles that reach beyond the database's data (files, programs, signals, writes, maintenance). */
const PG_DANGEROUS_ROLES = [
  "pg_read_server_files",
  "pg_write_server_files",
  "pg_execute_server_program",
  "pg_signal_backend",
  "pg_write_all_data",
  "pg_checkpoint",
  "pg_create_subscription",
  "pg_maintain",
  "pg_signal_autovacuum_worker",
  "pg_monitor",
];

export const READ_ONLY_USER = "sqlfocus_reader";

export function postgresReadOnlyUserSql(
  database: string,
  schemas: string[],
  serverVersionNum: number,
  revokeFunctions: string[] = [],
): string {
  const role = READ_ONLY_USER;
  const lines = [
    `-- as a superuser or the owner of database ${database}, connected to it:`,
    `CREATE ROLE ${role} LOGIN PASSWORD 'choose-a-password';`,
    `GRANT CONNECT ON DATABASE ${pgIdent(database)} TO ${role};`,
  ];
  for (const s of schemas.length ? schemas : ["public"]) {
    lines.push(`GRANT USAGE ON SCHEMA ${pgIdent(s)} TO ${role};`);
    lines.push(`GRANT SELECT ON ALL TABLES IN SCHEMA ${pgIdent(s)} TO ${role};`);
  }
  lines.push(`ALTER ROLE ${role} SET default_transaction_read_only = on;`);
  if (serverVersionNum > 0 && serverVersionNum < 150000) {
    lines.push("-- PostgreSQL before 15 lets every role create objects in schema public:");
    lines.push("REVOKE CREATE ON SCHEMA public FROM PUBLIC;");
  }
  for (const f of revokeFunctions)
    lines.push(`REVOKE EXECUTE ON FUNCTION ${f} FROM PUBLIC; -- SECURITY DEFINER: runs with its owner's rights`);
  lines.push(`-- then set user = ${role} (and its password) in the [database] section of config.ini`);
  return lines.join("\n");
}

/** PostgreSQL: role attributes, dangerous predefined roles, write/CREATE/ownership rights, SECURITY DEFINER functions. */
export async function postgresPrivileges(query: CatalogQuery): Promise<PrivilegeReport> {
  const [who] = await query(
    `SELECT current_user AS "user", current_database() AS db, current_setting('server_version_num')::int AS version,
            bool_or(r.rolsuper) AS super, bool_or(r.rolcreaterole) AS createrole, bool_or(r.rolcreatedb) AS createdb,
            bool_or(r.rolreplication) AS replication
       FROM pg_roles r WHERE pg_has_role(current_user, r.oid, 'MEMBER')`,
  );
  const user = String(who!.user);
  const database = String(who!.db);
  const version = Number(who!.version);
  const privileges: string[] = [];
  if (who!.super) privileges.push("superuser (or member of a superuser role)");
  if (who!.createrole) privileges.push("CREATEROLE");
  if (who!.createdb) privileges.push("CREATEDB");
  if (who!.replication) privileges.push("REPLICATION");
  const roles = await query(
    `SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[]) AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname`,
    [PG_DANGEROUS_ROLES],
  );
  for (const r of roles) privileges.push(`member of ${r.rolname}`);
  const [db] = await query(
    `SELECT has_database_privilege(current_database(), 'CREATE') AS "create", pg_has_role(current_user, d.datdba, 'USAGE') AS owner
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  if (db?.owner) privileges.push(`owner of database ${database}`);
  else if (db?.create) privileges.push(`CREATE on database ${database}`);
  const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
  const schemas = await query(
    `SELECT n.nspname AS name, pg_has_role(current_user, n.nspowner, 'USAGE') AS owner, has_schema_privilege(n.oid, 'CREATE') AS "create",
            EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) AS has_tables
       FROM pg_namespace n WHERE ${userSchemas} ORDER BY n.nspname`,
  );
  for (const s of schemas) {
    if (s.owner) privileges.push(`owner of schema ${s.name}`);
    else if (s.create) privileges.push(`CREATE on schema ${s.name}`);
  }
  const tableRights = `'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER${version >= 170000 ? ", MAINTAIN" : ""}'`;
  const relations = await query(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, pg_has_role(current_user, c.relowner, 'USAGE') AS owner
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userSchemas} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND (pg_has_role(current_user, c.relowner, 'USAGE')
             OR CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'USAGE, UPDATE')
                     ELSE has_table_privilege(c.oid, ${tableRights})
                          OR has_any_column_privilege(c.oid, 'INSERT, UPDATE, REFERENCES') END)
      ORDER BY 1, 2 LIMIT ${MAX_LISTED + 1}`,
  );
  for (const r of relations.slice(0, MAX_LISTED)) {
    const what = r.kind === "S" ? "sequence" : "table";
    privileges.push(
      r.owner
        ? `owner of ${what} ${r.schema}.${r.name}`
        : `${r.kind === "S" ? "USAGE/UPDATE" : "write rights"} on ${what} ${r.schema}.${r.name}`,
    );
  }
  if (relations.length > MAX_LISTED) privileges.push("… and more tables or sequences");
  const definers = await query(
    `SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${userSchemas} AND p.prosecdef AND has_function_privilege(p.oid, 'EXECUTE') ORDER BY 1 LIMIT ${MAX_LISTED}`,
  );
  for (const f of definers) privileges.push(`EXECUTE on SECURITY DEFINER function ${f.signature}`);
  const servers = await query(
    `SELECT srvname FROM pg_foreign_server WHERE has_server_privilege(oid, 'USAGE') ORDER BY 1 LIMIT ${MAX_LISTED}`,
  );
  for (const s of servers) privileges.push(`USAGE on foreign server ${s.srvname}`);
  const tableSchemas = schemas.filter((s) => s.has_tables).map((s) => String(s.name));
  return {
    user,
    privileges,
    readOnlyUserSql: postgresReadOnlyUserSql(
      database,
      tableSchemas,
      version,
      definers.map((f) => String(f.signature)),
    ),
  };
}

export function mysqlReadOnlyUserSql(database: string): string {
  return [
    "-- as an administrator (root):",
    `CREATE USER '${READ_ONLY_USER}'@'%' IDENTIFIED BY 'choose-a-password';`,
    `GRANT SELECT, SHOW VIEW ON ${myIdent(database)}.* TO '${READ_ONLY_USER}'@'%';`,
    `-- then set user = ${READ_ONLY_USER} (and its password) in the [database] section of config.ini`,
  ].join("\n");
}

/** Privileges that only read. Everything else a GRANT line names counts. */
const MYSQL_READ_PRIVILEGES = new Set(["USAGE", "SELECT", "SHOW VIEW"]);

/** Splits "SELECT (a, b), INSERT (c), SHOW VIEW" at the commas outside parentheses. */
function splitPrivileges(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of list) {
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Reads SHOW GRANTS lines: privileges beyond reading, and the roles granted (to read theirs too). */
export function parseMysqlGrants(lines: string[]): { privileges: string[]; roles: string[] } {
  const privileges: string[] = [];
  const roles: string[] = [];
  for (const line of lines) {
    const onTo = /^GRANT\s+([\s\S]+?)\s+ON\s+([\s\S]+?)\s+TO\s+/i.exec(line);
    if (onTo) {
      const target = onTo[2]!.trim();
      for (const p of splitPrivileges(onTo[1]!)) {
        const name = p
          .replace(/\s*\([\s\S]*\)\s*$/, "")
          .trim()
          .toUpperCase();
        if (!MYSQL_READ_PRIVILEGES.has(name)) privileges.push(`${name} on ${target}`);
      }
      if (/\bWITH\s+GRANT\s+OPTION\b/i.test(line)) privileges.push(`GRANT OPTION on ${target}`);
      continue;
    }
    const role = /^GRANT\s+([\s\S]+?)\s+TO\s+/i.exec(line);
    if (role) {
      for (const r of splitPrivileges(role[1]!)) roles.push(r.trim());
      if (/\bWITH\s+ADMIN\s+OPTION\b/i.test(line)) privileges.push(`ADMIN OPTION on role ${role[1]!.trim()}`);
    }
    // SET DEFAULT ROLE … and other lines grant nothing.
  }
  return { privileges, roles };
}

/** MySQL/MariaDB: SHOW GRANTS of the current user and of the roles granted to it. */
export async function mysqlPrivileges(query: CatalogQuery): Promise<PrivilegeReport> {
  const [who] = await query("SELECT CURRENT_USER() AS u, DATABASE() AS db");
  const user = String(who!.u);
  const database = String(who!.db ?? "");
  const grantLines = async (sql: string) => (await query(sql)).map((r) => String(Object.values(r)[0]));
  const { privileges, roles } = parseMysqlGrants(await grantLines("SHOW GRANTS"));
  const seen = new Set<string>();
  const pending = [...roles];
  while (pending.length > 0 && seen.size < 32) {
    const role = pending.shift()!;
    if (seen.has(role)) continue;
    seen.add(role);
    let lines: string[];
    try {
      lines = await grantLines(`SHOW GRANTS FOR ${role}`);
    } catch {
      privileges.push(`role ${role} (its grants cannot be read)`);
      continue;
    }
    const sub = parseMysqlGrants(lines);
    for (const p of sub.privileges) privileges.push(`${p} (through role ${role})`);
    pending.push(...sub.roles);
  }
  return { user, privileges, readOnlyUserSql: mysqlReadOnlyUserSql(database) };
}
