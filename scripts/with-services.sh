#!/usr/bin/env bash
# Run a command with a Redis and a PostgreSQL reachable, then clean up.
# The page tests also need Debian's chromium (driven by Playwright, which
# never downloads a browser here): installed with apt-get when missing.
#
# Uses the running ones (127.0.0.1:6379 and 127.0.0.1:5432) when they answer;
# otherwise starts throwaway servers on free ports from the installed binaries,
# installing them with apt-get when they are missing, and stops exactly those
# (by PID) on exit. The tests read MONITOR_TEST_REDIS_URL and
# MONITOR_TEST_POSTGRES_URL. The fault-injection tests start their own
# redis-server, so the binary must exist even when a Redis is running.
set -euo pipefail

started_pids=()
tmp_dirs=()
cleanup() {
  local pid dir
  for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for dir in "${tmp_dirs[@]}"; do rm -rf "$dir"; done
  return 0
}
trap 'rc=$?; cleanup; exit $rc' EXIT

say() { echo "with-services: $*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then say "need root to apt-get install $*"; return 1; fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() {  # host port
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("yes")
except OSError:
    print("no")
PY
}

# --- Chromium (tests/web/test_browser.py) -------------------------------------
command -v chromium >/dev/null || apt_install chromium

# --- Redis -------------------------------------------------------------------
command -v redis-server >/dev/null || apt_install redis-server
if [ -z "${MONITOR_TEST_REDIS_URL:-}" ]; then
  if [ "$(port_open 127.0.0.1 6379)" = yes ]; then
    export MONITOR_TEST_REDIS_URL="redis://127.0.0.1:6379/0"
  else
    port=$(free_port)
    dir=$(mktemp -d); tmp_dirs+=("$dir")
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
      --logfile "$dir/redis.log" --daemonize no &
    started_pids+=("$!")
    for _ in $(seq 50); do [ "$(port_open 127.0.0.1 "$port")" = yes ] && break; sleep 0.1; done
    export MONITOR_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    say "started a throwaway redis-server on port $port"
  fi
fi

# --- PostgreSQL ----------------------------------------------------------------
pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/initdb" ] && { echo "$dir"; return; }; done
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}
if [ -z "${MONITOR_TEST_POSTGRES_URL:-}" ]; then
  if [ "$(port_open 127.0.0.1 5432)" = yes ]; then
    export MONITOR_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
  else
    [ -n "$(pg_bin)" ] || apt_install postgresql
    bin=$(pg_bin)
    port=$(free_port)
    dir=$(mktemp -d); tmp_dirs+=("$dir")
    run_as=()
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir" 2>/dev/null && run_as=(runuser -u postgres --); fi
    "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    "${run_as[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
      >"$dir/postgres.log" 2>&1 &
    started_pids+=("$!")
    # Ready means accepting connections, not just listening ("starting up").
    for _ in $(seq 300); do
      "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
      sleep 0.1
    done
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
    export MONITOR_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/test"
    say "started a throwaway PostgreSQL on port $port"
  fi
fi

"$@"
