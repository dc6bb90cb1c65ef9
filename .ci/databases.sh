# Databases for the M-Schema and server tests. Sourced by .ci/run (bash, set -euo pipefail).
# Installs MariaDB and PostgreSQL from Debian apt when missing; when nothing answers on the loopback ports it starts
# throwaway servers with temporary data directories (stopped and removed when the calling shell exits); exports the
# URLs the tests read:
#   SQLFOCUS_TEST_MYSQL_URL  mysql://root@127.0.0.1:3306/        (root, no password)
#   SQLFOCUS_TEST_PG_URL     postgres://postgres@127.0.0.1:5432/postgres  (trust)
# Ports can be moved with SQLFOCUS_CI_MYSQL_PORT / SQLFOCUS_CI_PG_PORT. Servers already running are used as they are.

sqlfocus_ci_mysql_port="${SQLFOCUS_CI_MYSQL_PORT:-3306}"
sqlfocus_ci_pg_port="${SQLFOCUS_CI_PG_PORT:-5432}"
sqlfocus_ci_sudo=""; [ "$(id -u)" = 0 ] || sqlfocus_ci_sudo="sudo"
sqlfocus_ci_dirs=()
sqlfocus_ci_pids=()

sqlfocus_ci_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

sqlfocus_ci_wait() { # port seconds
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    if sqlfocus_ci_listening "$1"; then return 0; fi
    sleep 0.25
  done
  return 1
}

sqlfocus_ci_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

sqlfocus_ci_cleanup() {
  local pid d
  for pid in "${sqlfocus_ci_pids[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${sqlfocus_ci_pids[@]:-}"; do
    [ -n "$pid" ] && while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
  for d in "${sqlfocus_ci_dirs[@]:-}"; do
    [ -n "$d" ] && rm -rf "$d"
  done
}

sqlfocus_ci_need=()
command -v mariadbd >/dev/null || command -v mysqld >/dev/null || [ -x /usr/sbin/mariadbd ] || sqlfocus_ci_need+=(mariadb-server mariadb-client)
[ -n "$(sqlfocus_ci_pg_bin)" ] || sqlfocus_ci_need+=(postgresql)
if [ ${#sqlfocus_ci_need[@]} -gt 0 ]; then
  echo "databases: installing ${sqlfocus_ci_need[*]}"
  $sqlfocus_ci_sudo apt-get update -qq
  # a policy-rc.d that says "no" keeps the packages from starting their own services (Debian's MariaDB root would
  # only accept its unix socket); throwaway servers are started below instead
  sqlfocus_ci_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sqlfocus_ci_sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sqlfocus_ci_sudo chmod +x /usr/sbin/policy-rc.d
    sqlfocus_ci_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sqlfocus_ci_sudo apt-get install -y -qq --no-install-recommends "${sqlfocus_ci_need[@]}"
  [ -z "$sqlfocus_ci_policy" ] || $sqlfocus_ci_sudo rm -f /usr/sbin/policy-rc.d
fi

if sqlfocus_ci_listening "$sqlfocus_ci_mysql_port"; then
  echo "databases: MySQL/MariaDB already answers on 127.0.0.1:$sqlfocus_ci_mysql_port"
else
  sqlfocus_ci_my="$(mktemp -d /tmp/sqlfocus-mariadb.XXXXXX)"
  sqlfocus_ci_dirs+=("$sqlfocus_ci_my")
  sqlfocus_ci_myuser="$(id -un)"
  mkdir -p "$sqlfocus_ci_my/data"
  mariadb-install-db --no-defaults --user="$sqlfocus_ci_myuser" --datadir="$sqlfocus_ci_my/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$sqlfocus_ci_my/install.log" 2>&1 \
    || { cat "$sqlfocus_ci_my/install.log"; echo "databases: mariadb-install-db failed" >&2; return 1; }
  mariadbd --no-defaults --user="$sqlfocus_ci_myuser" --datadir="$sqlfocus_ci_my/data" \
    --socket="$sqlfocus_ci_my/mysqld.sock" --pid-file="$sqlfocus_ci_my/mysqld.pid" \
    --bind-address=127.0.0.1 --port="$sqlfocus_ci_mysql_port" --skip-name-resolve \
    --innodb-buffer-pool-size=64M --log-error="$sqlfocus_ci_my/error.log" &
  sqlfocus_ci_pids+=("$!")
  trap sqlfocus_ci_cleanup EXIT
  sqlfocus_ci_wait "$sqlfocus_ci_mysql_port" 60 \
    || { cat "$sqlfocus_ci_my/error.log" >&2; echo "databases: MariaDB did not start" >&2; return 1; }
  echo "databases: started a throwaway MariaDB on 127.0.0.1:$sqlfocus_ci_mysql_port ($sqlfocus_ci_my)"
fi

if sqlfocus_ci_listening "$sqlfocus_ci_pg_port"; then
  echo "databases: PostgreSQL already answers on 127.0.0.1:$sqlfocus_ci_pg_port"
else
  sqlfocus_ci_pgbin="$(sqlfocus_ci_pg_bin)"
  sqlfocus_ci_pgdir="$(mktemp -d /tmp/sqlfocus-postgres.XXXXXX)"
  sqlfocus_ci_dirs+=("$sqlfocus_ci_pgdir")
  sqlfocus_ci_as=()
  if [ "$(id -u)" = 0 ]; then # initdb and postgres refuse to run as root
    chown postgres: "$sqlfocus_ci_pgdir"
    sqlfocus_ci_as=(runuser -u postgres --)
  fi
  "${sqlfocus_ci_as[@]}" "$sqlfocus_ci_pgbin/initdb" -D "$sqlfocus_ci_pgdir/data" -U postgres --auth=trust --no-sync -E UTF8 \
    >"$sqlfocus_ci_pgdir/initdb.log" 2>&1 \
    || { cat "$sqlfocus_ci_pgdir/initdb.log"; echo "databases: initdb failed" >&2; return 1; }
  "${sqlfocus_ci_as[@]}" "$sqlfocus_ci_pgbin/postgres" -D "$sqlfocus_ci_pgdir/data" -c listen_addresses=127.0.0.1 \
    -p "$sqlfocus_ci_pg_port" -c unix_socket_directories="$sqlfocus_ci_pgdir" -c fsync=off -c timezone=UTC \
    >"$sqlfocus_ci_pgdir/server.log" 2>&1 &
  sqlfocus_ci_pids+=("$!")
  trap sqlfocus_ci_cleanup EXIT
  sqlfocus_ci_wait "$sqlfocus_ci_pg_port" 60 \
    || { cat "$sqlfocus_ci_pgdir/server.log" >&2; echo "databases: PostgreSQL did not start" >&2; return 1; }
  echo "databases: started a throwaway PostgreSQL on 127.0.0.1:$sqlfocus_ci_pg_port ($sqlfocus_ci_pgdir)"
fi

export SQLFOCUS_TEST_MYSQL_URL="${SQLFOCUS_TEST_MYSQL_URL:-mysql://root@127.0.0.1:$sqlfocus_ci_mysql_port/}"
export SQLFOCUS_TEST_PG_URL="${SQLFOCUS_TEST_PG_URL:-postgres://postgres@127.0.0.1:$sqlfocus_ci_pg_port/postgres}"
