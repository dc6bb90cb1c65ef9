// config/config.ini in the Python project's format: a [database] section with host, port, user, password, dbname,
// plus `type = mysql | postgresql | sqlite` and `path` (SQLite file). Read the way Python's configparser reads it
// (key = value or key: value, ; and # comment lines, keys case-insensitive, no inline comments, so a password may hold
// ";" or "#"). The password is kept out of enumeration, JSON and error messages.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Dialect } from "./model.js";

export interface DatabaseConfig {
  type: Dialect;
  host: string;
  port: number;
  user: string;
  /** Not enumerable: console.log / JSON.stringify of a config leave it out. */
  password: string;
  dbname: string;
  /** SQLite file (resolved against the config file's folder when relative). */
  path?: string;
}

const DEFAULT_PORT: Record<Dialect, number> = { mysql: 3306, postgresql: 5432, sqlite: 0 };

/** Replace every occurrence of the secrets in a text with "***". */
export function redact(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    out = out.split(s).join("***");
    const enc = encodeURIComponent(s);
    if (enc !== s) out = out.split(enc).join("***");
  }
  return out;
}

/** A DatabaseConfig whose password does not show in logs or JSON. */
export function makeDatabaseConfig(fields: Omit<DatabaseConfig, "password"> & { password?: string }): DatabaseConfig {
  const { password, ...rest } = fields;
  const config = { ...rest } as DatabaseConfig;
  Object.defineProperty(config, "password", { value: password ?? "", enumerable: false, writable: false });
  return config;
}

/** Parse configparser-style INI text into sections of lower-cased keys (continuation lines joined with "\n"). */
export function parseIni(text: string, file: string): Map<string, Map<string, { value: string; line: number }>> {
  const sections = new Map<string, Map<string, { value: string; line: number }>>();
  let current: Map<string, { value: string; line: number }> | null = null;
  let lastKey: string | null = null;
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    if (/^\s*[;#]/.test(raw) || raw.trim() === "") {
      lastKey = null;
      return;
    }
    if (/^\s/.test(raw) && current && lastKey) {
      const entry = current.get(lastKey)!;
      entry.value += `\n${raw.trim()}`;
      return;
    }
    const sec = /^\[([^\]]+)\]\s*$/.exec(raw.trim());
    if (sec) {
      current = sections.get(sec[1]!) ?? new Map();
      sections.set(sec[1]!, current);
      lastKey = null;
      return;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(raw.trim());
    if (!kv) throw new Error(`${file}:${lineNo}: expected "key = value" or a [section]`);
    if (!current) throw new Error(`${file}:${lineNo}: "${kv[1]}" comes before any [section]`);
    lastKey = kv[1]!.toLowerCase();
    current.set(lastKey, { value: kv[2]!.trim(), line: lineNo });
  });
  return sections;
}

/** Read the [database] section of a config.ini. Errors name the file, line and field, never the password. */
export function readDatabaseConfig(iniPath: string): DatabaseConfig {
  let text: string;
  try {
    text = readFileSync(iniPath, "utf8");
  } catch (err) {
    throw new Error(
      `cannot read database config ${iniPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const sections = parseIni(text, iniPath);
  const db = sections.get("database");
  if (!db) throw new Error(`${iniPath}: no [database] section`);
  const get = (k: string) => db.get(k)?.value;
  const typeEntry = db.get("type");
  let type: Dialect;
  const t = (typeEntry?.value ?? (get("path") ? "sqlite" : "mysql")).toLowerCase();
  if (t === "mysql" || t === "mariadb") type = "mysql";
  else if (t === "postgresql" || t === "postgres" || t === "pg") type = "postgresql";
  else if (t === "sqlite" || t === "sqlite3") type = "sqlite";
  else throw new Error(`${iniPath}:${typeEntry?.line}: field "type" must be mysql, postgresql or sqlite, got "${t}"`);
  if (type === "sqlite") {
    const p = get("path") ?? get("dbname");
    if (!p) throw new Error(`${iniPath}: [database] type = sqlite needs field "path" (the SQLite file)`);
    const full = isAbsolute(p) ? p : resolve(dirname(iniPath), p);
    return makeDatabaseConfig({
      type,
      host: "",
      port: 0,
      user: "",
      password: "",
      dbname: get("dbname") ?? "",
      path: full,
    });
  }
  const portEntry = db.get("port");
  let port = DEFAULT_PORT[type];
  if (portEntry && portEntry.value !== "") {
    port = Number(portEntry.value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(
        `${iniPath}:${portEntry.line}: field "port" must be a whole number 1-65535, got "${portEntry.value}"`,
      );
    }
  }
  const dbname = get("dbname") ?? get("database");
  if (!dbname) throw new Error(`${iniPath}: [database] needs field "dbname"`);
  return makeDatabaseConfig({
    type,
    host: get("host") || "127.0.0.1",
    port,
    user: get("user") ?? (type === "mysql" ? "root" : "postgres"),
    password: get("password") ?? "",
    dbname,
  });
}

/** A connection URL (mysql://, mariadb://, postgres://, postgresql://, sqlite:///path) as a DatabaseConfig. */
export function databaseConfigFromUrl(url: string): DatabaseConfig {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a database URL: ${redactUrl(url)}`);
  }
  const scheme = u.protocol.replace(/:$/, "").toLowerCase();
  const password = decodeURIComponent(u.password);
  if (scheme === "sqlite" || scheme === "file") {
    const path = decodeURIComponent(u.pathname);
    return makeDatabaseConfig({ type: "sqlite", host: "", port: 0, user: "", dbname: "", path });
  }
  let type: Dialect;
  if (scheme === "mysql" || scheme === "mariadb" || scheme.startsWith("mysql+")) type = "mysql";
  else if (scheme === "postgres" || scheme === "postgresql" || scheme.startsWith("postgresql+")) type = "postgresql";
  else throw new Error(`unsupported database URL scheme "${scheme}" (use mysql://, postgres:// or sqlite:///path)`);
  const dbname = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!dbname) throw new Error(`database URL ${redactUrl(url)} names no database (…/dbname)`);
  return makeDatabaseConfig({
    type,
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : DEFAULT_PORT[type],
    user: decodeURIComponent(u.username) || (type === "mysql" ? "root" : "postgres"),
    password,
    dbname,
  });
}

/** A URL with its password replaced by "***". */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+]+:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}
