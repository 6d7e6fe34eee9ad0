#!/usr/bin/env bash
# Run the whole suite against real PostgreSQL and Redis.
#
# Uses the servers already listening on 127.0.0.1:5432 / :6379 when there are some (trust auth);
# otherwise starts throwaway ones on free ports with their data in a temp dir, installing the
# Debian packages first when running as root, and stops them afterwards.
# TALLY_SERVICES=throwaway always starts its own (to try that path on a machine that has both).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
workdir=$(mktemp -d -t tally-services.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${PGBIN:-}" ] && [ -d "$workdir/pg" ]; then
    "$PGBIN/pg_ctl" -D "$workdir/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

listening() {
  [ "${TALLY_SERVICES:-}" != throwaway ] && (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

need_packages=()
if listening 5432 && "$BIN/python" - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
PY
then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  echo "Using the PostgreSQL server on 127.0.0.1:5432"
else
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_packages+=(postgresql)
fi
if listening 6379 && "$BIN/python" -c 'import redis; redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3).ping()' 2>/dev/null; then
  export CACHE_URL="redis://127.0.0.1:6379/9"
  echo "Using the Redis server on 127.0.0.1:6379 (database 9)"
else
  command -v redis-server >/dev/null || need_packages+=(redis-server)
fi

if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Need ${need_packages[*]} (Debian packages) or servers on 127.0.0.1:5432/6379." >&2
    exit 1
  fi
  echo "Installing ${need_packages[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if [ -z "${DATABASE_URL:-}" ]; then
  PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
  port=$(free_port)
  mkdir -p "$workdir/pg" && chmod 777 "$workdir"
  [ "$(id -u)" = 0 ] && chown postgres "$workdir/pg"
  as_postgres "$PGBIN/initdb -D $workdir/pg -U postgres --auth=trust -E UTF8 >/dev/null"
  as_postgres "$PGBIN/pg_ctl -D $workdir/pg -o '-p $port -k $workdir -c listen_addresses=127.0.0.1 -c fsync=off' -w start >/dev/null"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "Started PostgreSQL on 127.0.0.1:$port"
fi
if [ -z "${CACHE_URL:-}" ]; then
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" >/dev/null &
  pids+=($!)
  for _ in $(seq 50); do listening "$port" && break; sleep 0.1; done
  export CACHE_URL="redis://127.0.0.1:$port/0"
  echo "Started Redis on 127.0.0.1:$port"
fi

"$BIN/pytest" "$@"
