#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the store/postgres tests and prints the line
#
#   export KEYLESS_TEST_POSTGRES_URL=postgres://keyless@127.0.0.1:PORT/keyless_test?sslmode=disable
#
# on stdout (everything else goes to stderr), so that both of these work:
#
#   eval "$(scripts/start-postgres.sh)"      # from a shell or .ci/run
#   source scripts/start-postgres.sh         # exports the variable directly
#
# It installs Debian's postgresql with apt-get when no server binaries are found, creates the
# cluster in $KEYLESS_PG_DIR (default /tmp/keyless-pg) owned by a non-root user (postgres when
# run as root), listening only on 127.0.0.1:$KEYLESS_PG_PORT (default 55432) with trust
# authentication, and creates the database. Running it again reuses the running cluster.
# `scripts/start-postgres.sh stop` stops the cluster (the data directory is kept).
#
# The cluster is for tests only: trust authentication, loopback only, no real data.

_kpg_main() {
  set -euo pipefail
  local dir="${KEYLESS_PG_DIR:-/tmp/keyless-pg}"
  local port="${KEYLESS_PG_PORT:-55432}"
  local db="${KEYLESS_PG_DB:-keyless_test}"
  local user=keyless

  local bin
  bin=$(_kpg_bindir)
  if [ -z "$bin" ]; then
    echo "start-postgres: installing postgresql with apt-get" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    bin=$(_kpg_bindir)
    [ -n "$bin" ] || { echo "start-postgres: no PostgreSQL server binaries after install" >&2; return 1; }
  fi

  # The server refuses to run as root: run it as postgres (created by the Debian package).
  local -a as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    as=(runuser -u postgres --)
  fi

  if [ "${1:-}" = stop ]; then
    if [ -f "$dir/PG_VERSION" ]; then
      "${as[@]}" "$bin/pg_ctl" stop -D "$dir" -m fast >&2 || true
    fi
    return 0
  fi

  if [ ! -f "$dir/PG_VERSION" ]; then
    echo "start-postgres: creating a cluster in $dir" >&2
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir" -U "$user" --auth=trust -E UTF8 --locale=C.UTF-8 >&2
    cat >>"$dir/postgresql.conf" <<EOF
# keyless test cluster (scripts/start-postgres.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 64MB
EOF
  fi

  if ! "${as[@]}" "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
    echo "start-postgres: starting the cluster on 127.0.0.1:$port" >&2
    "${as[@]}" "$bin/pg_ctl" start -D "$dir" -l "$dir/server.log" -w -t 60 >&2
  fi

  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U "$user")
  if [ "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE \"$db\"" >&2
  fi

  KEYLESS_TEST_POSTGRES_URL="postgres://$user@127.0.0.1:$port/$db?sslmode=disable"
  export KEYLESS_TEST_POSTGRES_URL
  echo "export KEYLESS_TEST_POSTGRES_URL=$KEYLESS_TEST_POSTGRES_URL"
}

# _kpg_bindir prints the bin directory of the newest installed PostgreSQL server, if any.
_kpg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _kpg_main "$@"
else
  # Sourced: run in a child shell (its strict options stay there) and export the result.
  eval "$(bash "${BASH_SOURCE[0]}" "$@")"
fi
