#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests on a free loopback port, and prints the
# `export ECOROUTE_TEST_POSTGRES_URL=...` line to eval. Installs the server from Debian's packages
# when it is missing. Stop it with: scripts/ci/postgres.sh stop DIR (the DIR it printed).
#
#   eval "$(scripts/ci/postgres.sh)"
set -euo pipefail

if [ "${1:-}" = "stop" ]; then
  dir="$2"
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "pg_ctl -D '$dir/data' stop -m fast" >/dev/null 2>&1 || true
  else
    pg_ctl -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  exit 0
fi

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bin="$candidate"
done
if [ -z "$bin" ]; then
  echo "installing postgresql (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else
    DEBIAN_FRONTEND=noninteractive sudo apt-get install -y -qq postgresql >&2
  fi
  for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && bin="$candidate"
  done
fi
export PATH="$bin:$PATH"

dir="$(mktemp -d /tmp/ecoroute-pg.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
run() {
  # PostgreSQL refuses to run as root; run it as the postgres user then.
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "PATH='$bin:$PATH' $*"
  else
    sh -c "$*"
  fi
}
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
fi
run "initdb -D '$dir/data' -U ecoroute -A trust --no-sync" >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
run "pg_ctl -D '$dir/data' -l '$dir/server.log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off\" start" >&2 ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "export ECOROUTE_TEST_POSTGRES_URL='postgres://ecoroute@127.0.0.1:$port/postgres'"
echo "export ECOROUTE_TEST_POSTGRES_DIR='$dir'"
