// Services some tests need (PostgreSQL, MySQL/MariaDB, Chromium, Spider 1.0), found from the environment, and the one
// rule for when one is missing: outside CI the tests that need it are skipped with the reason; under CI (CI=true, as
// .ci/run sets) the test file FAILS, so a broken CI set-up cannot pass as green. A server that answers but refuses
// the login is a failure everywhere, never a skip.
//   SQLFOCUS_TEST_PG_URL     default postgres://postgres@127.0.0.1:5432/postgres
//   SQLFOCUS_TEST_MYSQL_URL  default mysql://root@127.0.0.1:3306/
//   SQLFOCUS_CHROMIUM        default /usr/bin/chromium
//   SQLFOCUS_SPIDER          default ../shared/spider next to the repository
// A CI that deliberately runs without a service names it in SQLFOCUS_OPTIONAL_SERVICES (comma-separated: postgresql,
// mysql, chromium, spider): its tests are then skipped under CI too, with the reason.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const inCI = (): boolean => /^(1|true|yes)$/i.test(process.env.CI ?? "");

/**
 * The `skip` option of node:test for a service: false when it is there (`missing` null); the reason when it is not;
 * under CI it throws instead (the test file fails, naming the service and why).
 */
export function requireService(service: string, missing: string | null): string | false {
  if (missing === null) return false;
  const optional = (process.env.SQLFOCUS_OPTIONAL_SERVICES ?? "")
    .toLowerCase()
    .split(",")
    .map((s) => s.trim());
  const key = service.toLowerCase().replace(/[^a-z].*$/, "");
  if (inCI() && !optional.includes(key))
    throw new Error(`${service} is required when CI=true (set up by .ci/run), but ${missing}`);
  return `${service} not available: ${missing}`;
}

/** Errors that mean "nothing is listening there" (a skip outside CI), as opposed to a refused login (a failure). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"].includes(e?.code ?? ""))
    return true;
  return /ECONNREFUSED|timeout|timed out/i.test(e?.message ?? "");
}

export const pgUrl = new URL(process.env.SQLFOCUS_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");
export const mysqlUrl = new URL(process.env.SQLFOCUS_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/");

/** Connection settings of the PostgreSQL test server (its admin user), for a database (default the URL's). */
export function pgConfig(database?: string) {
  return {
    host: pgUrl.hostname,
    port: Number(pgUrl.port || 5432),
    user: decodeURIComponent(pgUrl.username) || "postgres",
    password: decodeURIComponent(pgUrl.password),
    database: database ?? (decodeURIComponent(pgUrl.pathname.slice(1)) || "postgres"),
    connectionTimeoutMillis: 5000,
  };
}

/** Connection settings of the MySQL/MariaDB test server (its admin user), optionally in a database. */
export function mysqlConfig(database?: string) {
  const fromUrl = decodeURIComponent(mysqlUrl.pathname.slice(1));
  return {
    host: mysqlUrl.hostname,
    port: Number(mysqlUrl.port || 3306),
    user: decodeURIComponent(mysqlUrl.username) || "root",
    password: decodeURIComponent(mysqlUrl.password),
    database: database ?? (fromUrl || undefined),
    connectTimeout: 5000,
  };
}

/** Tries the PostgreSQL test server: null when it answers, the reason when nothing listens; a refused login throws. */
export async function probePostgres(): Promise<string | null> {
  const pg = (await import("pg")).default;
  const c = new pg.Client(pgConfig());
  c.on("error", () => {});
  try {
    await c.connect();
    await c.end();
    return null;
  } catch (err) {
    if (isUnreachable(err))
      return `nothing answers at ${pgUrl.host} (${(err as Error).message}; set SQLFOCUS_TEST_PG_URL)`;
    throw new Error(`PostgreSQL at ${pgUrl.host} refused the test login: ${(err as Error).message}`);
  }
}

/** Tries the MySQL/MariaDB test server, as probePostgres. */
export async function probeMysql(): Promise<string | null> {
  const mysql = (await import("mysql2/promise")).default;
  try {
    const c = await mysql.createConnection(mysqlConfig());
    await c.end();
    return null;
  } catch (err) {
    if (isUnreachable(err))
      return `nothing answers at ${mysqlUrl.host} (${(err as Error).message}; set SQLFOCUS_TEST_MYSQL_URL)`;
    throw new Error(`MySQL/MariaDB at ${mysqlUrl.host} refused the test login: ${(err as Error).message}`);
  }
}

/** `skip` for tests on the PostgreSQL server (see requireService). */
export async function requirePostgres(): Promise<string | false> {
  return requireService("PostgreSQL", await probePostgres());
}

/** `skip` for tests on the MySQL/MariaDB server (see requireService). */
export async function requireMysql(): Promise<string | false> {
  return requireService("MySQL/MariaDB", await probeMysql());
}

export const chromiumPath = process.env.SQLFOCUS_CHROMIUM ?? "/usr/bin/chromium";

/** `skip` for tests that drive headless Chromium. */
export function requireChromium(): string | false {
  return requireService(
    "Chromium",
    existsSync(chromiumPath) ? null : `no browser at ${chromiumPath} (set SQLFOCUS_CHROMIUM)`,
  );
}

/** Spider 1.0's folder ($SQLFOCUS_SPIDER, else ../shared/spider next to the repository). */
export const spiderDir = resolve(
  process.env.SQLFOCUS_SPIDER ?? join(import.meta.dirname, "..", "..", "..", "shared", "spider"),
);

/** Why Spider cannot be used, or null. */
export function spiderMissing(): string | null {
  if (!existsSync(spiderDir) || !statSync(spiderDir).isDirectory())
    return `no folder ${spiderDir} (set SQLFOCUS_SPIDER)`;
  if (!existsSync(join(spiderDir, "dev.json"))) return `${spiderDir} has no dev.json (not Spider 1.0)`;
  if (!existsSync(join(spiderDir, "database"))) return `${spiderDir} has no database/ folder`;
  return null;
}

/** `skip` for tests that read Spider 1.0. */
export function requireSpider(): string | false {
  return requireService("Spider 1.0", spiderMissing());
}
