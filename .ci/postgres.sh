#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the archive tests: initdb in a temporary directory, a unix
# socket only (no TCP port), stopped and removed on exit. Source it, then call pg_throwaway_start;
# it exports CALPIPE_TEST_POSTGRESQL (a URL the tests create their databases through).
#   . .ci/postgres.sh && pg_throwaway_start && trap pg_throwaway_stop EXIT

pg_bin() {
  local dir
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

pg_as() {  # the server refuses to run as root: run it as the postgres (or nobody) user then
  if [ "$(id -u)" = 0 ]; then
    local user=postgres
    id postgres >/dev/null 2>&1 || user=nobody
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

pg_throwaway_start() {
  local bin
  if ! bin="$(pg_bin)"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || echo "warning: could not install postgresql"
    fi
    bin="$(pg_bin)" || { echo "warning: no PostgreSQL; the archive's PostgreSQL tests will be skipped"; return 0; }
  fi
  PG_THROWAWAY_DIR="$(mktemp -d /tmp/calpipe-pg.XXXXXX)"
  chmod 755 "$PG_THROWAWAY_DIR"
  [ "$(id -u)" = 0 ] && chown "$(id -u postgres 2>/dev/null || id -u nobody)" "$PG_THROWAWAY_DIR"
  pg_as "$bin/initdb" -D "$PG_THROWAWAY_DIR/data" -U postgres -A trust --no-sync >/dev/null || return 1
  pg_as "$bin/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -l "$PG_THROWAWAY_DIR/log" -w -s \
    -o "-c listen_addresses='' -c unix_socket_directories=$PG_THROWAWAY_DIR -c fsync=off" start || {
      cat "$PG_THROWAWAY_DIR/log"; return 1; }
  PG_THROWAWAY_BIN="$bin"
  export CALPIPE_TEST_POSTGRESQL="postgresql+psycopg://postgres@/postgres?host=$PG_THROWAWAY_DIR"
  echo "PostgreSQL: throwaway cluster at $PG_THROWAWAY_DIR ($("$bin/postgres" --version))"
}

pg_throwaway_stop() {
  if [ -n "${PG_THROWAWAY_DIR:-}" ]; then
    pg_as "$PG_THROWAWAY_BIN/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -m immediate -s stop || true
    rm -rf "$PG_THROWAWAY_DIR"
    PG_THROWAWAY_DIR=""
  fi
}
