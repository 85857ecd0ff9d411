#!/usr/bin/env bash
# benchmarks/run.sh [--db embedded|stock|both] [--role web|all|both] [--sittings N]
#                   [--no-bare] [DURATION] [CONNECTIONS]
#
# Webhook intake benchmark, in sittings: POST /api/github/webhooks on
#   probot#N      Probot 14 no-op app (the reference), first and after each bot mode
#   bare-aiohttp  benchmarks/bare_receiver.py: gidgethub signature check, 202 (the Python ceiling)
#   bot-DB-ROLE   codegen-bot serve (--role web, or web and worker in one
#                 process for ROLE=all) on a fresh database: the embedded
#                 PostgreSQL (DB=embedded) or a stock server initdb'd into a
#                 temporary folder with only max_wal_size raised (DB=stock)
# each started in turn on its own 127.0.0.1 port, waited for, warmed up (2 s),
# measured with benchmarks/reference/run-webhook-load.sh and stopped (SIGTERM).
# Each bot run's stored deliveries and jobs are checked before it is stopped.
#
#   --db         which database(s) the bot runs on (default embedded)
#   --role       web (serve --role web), all (serve: web and worker) or both (default web)
#   --sittings   how many sittings; ratios are reported per sitting and as their median;
#                a ratio is to the Probot runs just before and after that run
#   --no-bare    leave the bare aiohttp receiver out
#   DURATION     measured wrk run per server, e.g. 10s, 30s, 1m (default 10s)
#   CONNECTIONS  wrk connections (default 32)
#
# Environment: BENCH_PORT_BASE (default 39100; ports BASE+1..BASE+9),
# BENCH_SHARED (default benchmarks/reference), WARMUP (default 2s),
# THREADS / WRK_TIMEOUT (passed through to run-webhook-load.sh), BENCH_BOT
# (default .venv/bin/codegen-bot: another checkout's, to compare commits),
# STOCK_PG_BIN (default: the newest /usr/lib/postgresql/*/bin, else the folder
# of `pg_ctl` on PATH), STOCK_MAX_WAL_SIZE (default 4GB).
# Output: a table per sitting on stdout, then per bot mode one line
#   RESULT mode=DB/ROLE intake_ratio=X p99_ms=Y rps=Z sittings=N ratios=a,b,.. durability=ok|FAILED
# (medians over the sittings; the last lines of the output, for benchmarks/bench.py);
# the same as markdown with the machine facts in benchmarks/.work/last-run.md;
# server and wrk logs in benchmarks/.work/logs/.
# Exit status 0 only when every run worked and every durability check held.
set -euo pipefail

DBS=embedded
ROLES=web
SITTINGS=1
BARE=1
while [ $# -gt 0 ]; do
  case $1 in
    --db) DBS=${2:-}; shift 2 ;;
    --db=*) DBS=${1#*=}; shift ;;
    --role) ROLES=${2:-}; shift 2 ;;
    --role=*) ROLES=${1#*=}; shift ;;
    --sittings) SITTINGS=${2:-}; shift 2 ;;
    --sittings=*) SITTINGS=${1#*=}; shift ;;
    --no-bare) BARE=0; shift ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
DURATION=${1:-10s}
CONNECTIONS=${2:-32}
WARMUP=${WARMUP:-2s}
PORT_BASE=${BENCH_PORT_BASE:-39100}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WORK=$HERE/.work
LOGS=$WORK/logs
SHARED=${BENCH_SHARED:-$HERE/reference}
LOAD=$SHARED/run-webhook-load.sh
BODY=$SHARED/issues-labeled-with-installation.json
EVENT=issues
PY=$ROOT/.venv/bin/python
BOT=${BENCH_BOT:-$ROOT/.venv/bin/codegen-bot}
PROBOT_DIR=$WORK/probot
BOT_DATA=$WORK/bot-data
HOST=127.0.0.1

die() { echo "run.sh: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }

# --- arguments and prerequisites ----------------------------------------------
[[ $DURATION =~ ^[0-9]+$ ]] && DURATION=${DURATION}s
[[ $DURATION =~ ^[0-9]+[smh]$ ]] || die "DURATION must look like 10, 10s, 2m or 1h (got '$DURATION')"
[[ $WARMUP =~ ^[0-9]+[smh]?$ ]] || die "WARMUP must look like 2 or 2s (got '$WARMUP')"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer (got '$CONNECTIONS')"
if ! [[ $PORT_BASE =~ ^[1-9][0-9]*$ ]] || [ "$PORT_BASE" -gt 65525 ]; then
  die "BENCH_PORT_BASE must be a port number below 65526 (got '$PORT_BASE')"
fi
[[ $SITTINGS =~ ^[1-9][0-9]*$ ]] || die "--sittings must be a positive integer (got '$SITTINGS')"
case $DBS in embedded | stock) ;; both) DBS="embedded stock" ;; *) die "--db must be embedded, stock or both (got '$DBS')" ;; esac
case $ROLES in web | all) ;; both) ROLES="web all" ;; *) die "--role must be web, all or both (got '$ROLES')" ;; esac
MODES=()
for db in $DBS; do
  for role in $ROLES; do MODES+=("bot-$db-$role"); done
done

if ! command -v wrk >/dev/null; then
  die "wrk is not installed; install it with: apt-get install -y wrk"
fi
for tool in curl node npm openssl timeout; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
if ! [ -x "$PY" ] || ! [ -x "$BOT" ]; then
  die "no $ROOT/.venv with codegen-bot installed; run 'make test' or 'make run' once"
fi
[ -x "$LOAD" ] || die "missing $LOAD"
[ -f "$BODY" ] || die "missing $BODY"
[ -d "$SHARED/probot" ] || die "missing $SHARED/probot"

STOCK_PG_BIN=${STOCK_PG_BIN:-}
if [[ " $DBS " == *" stock "* ]]; then
  if [ -z "$STOCK_PG_BIN" ]; then
    STOCK_PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  fi
  if [ -z "$STOCK_PG_BIN" ] && command -v pg_ctl >/dev/null; then
    STOCK_PG_BIN=$(dirname "$(command -v pg_ctl)")
  fi
  [ -x "$STOCK_PG_BIN/initdb" ] && [ -x "$STOCK_PG_BIN/pg_ctl" ] ||
    die "--db stock needs a PostgreSQL server (initdb, pg_ctl); set STOCK_PG_BIN to its bin folder"
fi
STOCK_MAX_WAL_SIZE=${STOCK_MAX_WAL_SIZE:-4GB}

mkdir -p "$LOGS"
SECRET="bench-$(openssl rand -hex 12)"

# --- server lifecycle -----------------------------------------------------------
SERVER_PID=""
SERVER_NAME=""

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
# can_bind PORT: whether a server could listen on HOST:PORT now. A port in the
# ephemeral range can be held by some client connection's local end, which
# port_busy does not see (this stopped a Probot run once).
can_bind() {
  "$PY" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))' "$HOST" "$1" 2>/dev/null
}
kernel_port() { "$PY" -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$HOST"; }

pid_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)
  [ "$state" != Z ]
}

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pid=$1 limit=$2 i
  pid_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    echo "run.sh: pid $pid still running ${limit}s after SIGTERM; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# The embedded PostgreSQL stops with codegen-bot; only if the bot died without
# stopping it is the postmaster (started by this script's bot) stopped here.
stop_leftover_postgres() {
  local pidfile=$BOT_DATA/postgres/postmaster.pid pg i
  [ -f "$pidfile" ] || return 0
  pg=$(head -n 1 "$pidfile")
  if ! [[ $pg =~ ^[0-9]+$ ]] || ! pid_alive "$pg"; then return 0; fi
  grep -q postgres "/proc/$pg/comm" 2>/dev/null || return 0
  echo "run.sh: stopping the embedded PostgreSQL left running (pid $pg)" >&2
  kill -INT "$pg" 2>/dev/null || true  # PostgreSQL's fast shutdown
  for ((i = 0; i < 300; i++)); do
    pid_alive "$pg" || return 0
    sleep 0.1
  done
  kill -KILL "$pg" 2>/dev/null || true
}

# A stock PostgreSQL for one bot run: initdb into a new temporary folder, with
# the server's defaults (fsync, synchronous_commit, full_page_writes on) except
# max_wal_size; unix socket only, in that folder. As root, it runs as the
# `postgres` system user (PostgreSQL refuses root).
STOCK_DIR=""
STOCK_DSN=""
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_stock_postgres() {
  local port=$1
  STOCK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/codegen-bot-stock-pg.XXXXXX")
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' system user for --db stock"
    chown postgres "$STOCK_DIR"
  fi
  chmod 700 "$STOCK_DIR"
  as_pg_user "$STOCK_PG_BIN/initdb" -D "$STOCK_DIR/data" -U postgres -A trust -E UTF8 \
    >"$LOGS/stock-pg.initdb.log" 2>&1 || { echo "run.sh: initdb failed; see $LOGS/stock-pg.initdb.log" >&2; return 1; }
  as_pg_user "$STOCK_PG_BIN/pg_ctl" -D "$STOCK_DIR/data" -l "$STOCK_DIR/server.log" -w -t 60 \
    -o "-c max_wal_size=$STOCK_MAX_WAL_SIZE -c listen_addresses='' -c unix_socket_directories='$STOCK_DIR' -p $port" \
    start >>"$LOGS/stock-pg.initdb.log" 2>&1 || { echo "run.sh: the stock PostgreSQL did not start; see $STOCK_DIR/server.log" >&2; return 1; }
  as_pg_user "$STOCK_PG_BIN/createdb" -h "$STOCK_DIR" -p "$port" -U postgres codegen_bot \
    >>"$LOGS/stock-pg.initdb.log" 2>&1 || { echo "run.sh: createdb failed" >&2; return 1; }
  STOCK_DSN="postgresql://postgres@/codegen_bot?host=$STOCK_DIR&port=$port"
}

stop_stock_postgres() {
  [ -n "$STOCK_DIR" ] || return 0
  if [ -f "$STOCK_DIR/data/postmaster.pid" ]; then
    as_pg_user "$STOCK_PG_BIN/pg_ctl" -D "$STOCK_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  cp "$STOCK_DIR/server.log" "$LOGS/stock-pg.server.log" 2>/dev/null || true
  rm -rf "$STOCK_DIR"
  STOCK_DIR=""
  STOCK_DSN=""
}

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    stop_pid "$SERVER_PID" 60
    SERVER_PID=""
  fi
  case $SERVER_NAME in bot-embedded-*) stop_leftover_postgres ;; bot-stock-*) stop_stock_postgres ;; esac
  SERVER_NAME=""
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_load
  stop_server
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_probot() {
  if [ -f "$PROBOT_DIR/node_modules/probot/package.json" ] &&
    cmp -s "$PROBOT_DIR/package-lock.json" "$SHARED/probot/package-lock.json" &&
    cmp -s "$PROBOT_DIR/app.js" "$SHARED/probot/app.js" &&
    cmp -s "$PROBOT_DIR/start.sh" "$SHARED/probot/start.sh"; then
    return 0
  fi
  say "installing the Probot reference in $PROBOT_DIR (npm ci)"
  rm -rf "$PROBOT_DIR"
  cp -R "$SHARED/probot" "$PROBOT_DIR"
  chmod -R u+w "$PROBOT_DIR"
  (cd "$PROBOT_DIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) >"$LOGS/npm-ci.log" 2>&1 ||
    die "npm ci failed in $PROBOT_DIR; see $LOGS/npm-ci.log"
}

# start_server NAME PORT LOG: start in the background, set SERVER_PID.
start_server() {
  local name=$1 port=$2 log=$3
  SERVER_NAME=$name
  case $name in
    probot*)
      (cd "$PROBOT_DIR" && exec env WEBHOOK_SECRET="$SECRET" HOST="$HOST" PORT="$port" ./start.sh) \
        >"$log" 2>&1 &
      ;;
    bare-aiohttp)
      (cd "$WORK" && exec env WEBHOOK_SECRET="$SECRET" \
        "$PY" "$HERE/bare_receiver.py" --host "$HOST" --port "$port") >"$log" 2>&1 &
      ;;
    bot-*)
      # cwd is the scratch folder, so no project .env is read. DATABASE_URL
      # is set only for the stock server; unset, the bot starts its embedded one.
      local role=${name##*-} db_env=(-u DATABASE_URL)
      [ -n "$STOCK_DSN" ] && db_env=(DATABASE_URL="$STOCK_DSN")
      (cd "$WORK" && exec env -u DATABASE_URL -u SENTRY_DSN "${db_env[@]}" \
        GITHUB_WEBHOOK_SECRET="$SECRET" DATA_DIR="$BOT_DATA" LOG_LEVEL=WARNING \
        HOST="$HOST" PORT="$port" \
        "$BOT" serve --role "$role" --port "$port") >"$log" 2>&1 &
      ;;
    *) die "unknown server $name" ;;
  esac
  SERVER_PID=$!
}

# wait_ready URL WANT SECONDS LOG: WANT is an HTTP status, or "any".
wait_ready() {
  local url=$1 want=$2 limit=$3 log=$4 code i
  for ((i = 0; i < limit * 5; i++)); do
    if ! pid_alive "$SERVER_PID"; then
      echo "run.sh: $SERVER_NAME exited before it was ready; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    if [ "$want" = any ] && [ "$code" != 000 ] && [ -n "$code" ]; then return 0; fi
    if [ "$code" = "$want" ]; then return 0; fi
    sleep 0.2
  done
  echo "run.sh: $SERVER_NAME not ready after ${limit}s ($url answered '$code'); see $log" >&2
  return 1
}

# field KEY RESULT_LINE
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# load DURATION LOG URL: run the shared load script in the background (so a
# signal to this script is handled at once); its RESULT line goes to LOAD_RESULT.
LOAD_PID=""
LOAD_RESULT=""
load() {
  local duration=$1 log=$2 url=$3 out=$WORK/load.out rc=0
  LOAD_RESULT=""
  "$LOAD" "$url" "$SECRET" "$BODY" "$EVENT" "$duration" "$CONNECTIONS" >"$out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  cat "$out" >>"$log"
  if [ "$rc" -ne 0 ]; then
    echo "run.sh: load run failed (exit $rc); see $log" >&2
    return 1
  fi
  LOAD_RESULT=$(tail -n 1 "$out")
}

# The load script runs wrk under `timeout`, which has its own process group:
# stop that `timeout` (it passes SIGTERM on to wrk) and the script itself.
# shellcheck disable=SC2317  # invoked from the EXIT trap
stop_load() {
  local kids
  [ -n "$LOAD_PID" ] || return 0
  kids=$(ps -o pid= --ppid "$LOAD_PID" 2>/dev/null || true)
  # shellcheck disable=SC2086  # kids is a list of pids
  kill -TERM "$LOAD_PID" $kids 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=""
}

# --- one server -----------------------------------------------------------------
NAMES=()
RESULTS=()
DURABILITY=""
FAILED=0

run_one() {
  local name=$1 port=$2 base ready_url want started warm result ok2xx check pg where
  local log=$LOGS/${name//#/}.server.log wrklog=$LOGS/${name//#/}.wrk.log
  base="http://$HOST:$port"
  : >"$wrklog"
  if port_busy "$port"; then
    echo "run.sh: something already listens on $HOST:$port; set BENCH_PORT_BASE" >&2
    return 1
  fi
  if ! can_bind "$port"; then
    port=$(kernel_port)
    base="http://$HOST:$port"
    say "$HOST:$2 cannot be bound just now; $name gets port $port instead"
  fi
  DURABILITY=""
  case $name in
    bot-*)
      if [ -f "$BOT_DATA/postgres/postmaster.pid" ]; then
        pg=$(head -n 1 "$BOT_DATA/postgres/postmaster.pid")
        if [[ $pg =~ ^[0-9]+$ ]] && pid_alive "$pg"; then
          echo "run.sh: a PostgreSQL (pid $pg) still runs in $BOT_DATA; stop it first" >&2
          return 1
        fi
      fi
      rm -rf "$BOT_DATA"
      if [[ $name == bot-stock-* ]]; then
        SERVER_NAME=$name
        start_stock_postgres $((PORT_BASE + 9)) || return 1
      fi
      ready_url=$base/health want=200
      ;;
    *) ready_url=$base/ want=any ;;
  esac

  started=$(date +%s.%N)
  start_server "$name" "$port" "$log"
  wait_ready "$ready_url" "$want" 120 "$log" || return 1
  say "$name ready on $HOST:$port (pid $SERVER_PID, $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s); warm-up $WARMUP"

  echo "### warm-up" >>"$wrklog"
  load "$WARMUP" "$wrklog" "$base/api/github/webhooks" || return 1
  warm=$LOAD_RESULT
  echo "   warm-up  $warm" >&2
  if [ "$(field responses "$warm")" = "$(field non2xx "$warm")" ]; then
    echo "run.sh: $name answered no 2xx during the warm-up; see $wrklog and $log" >&2
    return 1
  fi

  say "$name measured run: $DURATION, $CONNECTIONS connections"
  echo "### measured" >>"$wrklog"
  load "$DURATION" "$wrklog" "$base/api/github/webhooks" || return 1
  result=$LOAD_RESULT
  echo "   measured $result" >&2
  NAMES+=("$name")
  RESULTS+=("$result")

  if [[ $name == bot-* ]]; then
    ok2xx=$(($(field responses "$warm") - $(field non2xx "$warm") + $(field responses "$result") - $(field non2xx "$result")))
    say "$name durability: stored deliveries >= $ok2xx 2xx answers (warm-up + measured), one job each"
    where=(--data-dir "$BOT_DATA")
    [ -n "$STOCK_DSN" ] && where=(--dsn "$STOCK_DSN")
    if check=$(timeout 300 "$PY" "$HERE/check_stored.py" "${where[@]}" --min-rows "$ok2xx" 2>&1); then
      DURABILITY="OK: $check"
    else
      printf '%s\n' "$check" >>"$log"
      DURABILITY="FAILED: $(tail -n 1 <<<"$check") (full output in $log)"
      FAILED=1
    fi
    echo "   $DURABILITY" >&2
  fi

  say "stopping $name"
  stop_server
}

# --- the sittings -----------------------------------------------------------------
# Each sitting's rows go to ROWS_ALL as "sitting|server|rps|p50|p99|non2xx|ratio|durability".
ROWS_ALL=()
DRIFTS=()

# One sitting runs Probot between every two bot modes (P, [bare], M1, P, M2,
# P, ...), and each run's ratio is to the average of the Probot runs just
# before and just after it: on a shared machine the load drifts within a
# sitting, and the nearest references drift least.
sitting() {
  local n=$1 name port i j r rps ratio ref before after drifts=() servers=(probot#1) k=1
  NAMES=()
  RESULTS=()
  DURS=()
  [ "$BARE" = 1 ] && servers+=(bare-aiohttp)
  for name in "${MODES[@]}"; do
    servers+=("$name")
    k=$((k + 1))
    servers+=("probot#$k")
  done
  for i in "${!servers[@]}"; do
    name=${servers[$i]}
    port=$((PORT_BASE + 1 + i % 8))
    if ! run_one "$name" "$port"; then
      FAILED=1
      NAMES+=("$name")
      RESULTS+=("failed")
      [ -z "$DURABILITY" ] && [[ $name == bot-* ]] && DURABILITY="not checked (run failed)"
      stop_server
    fi
    DURS+=("$DURABILITY")
  done

  # ref I: the average rps of the nearest Probot runs before and after run I
  ref() {
    local i=$1 j b="" a=""
    for ((j = i - 1; j >= 0; j--)); do
      [[ ${NAMES[$j]} == probot* ]] && { b=$(field rps "${RESULTS[$j]}"); break; }
    done
    for ((j = i + 1; j < ${#NAMES[@]}; j++)); do
      [[ ${NAMES[$j]} == probot* ]] && { a=$(field rps "${RESULTS[$j]}"); break; }
    done
    awk -v b="$b" -v a="$a" 'BEGIN {n = (b != "") + (a != ""); if (n) printf "%.1f", (b + a) / n}'
  }
  before=""
  for i in "${!NAMES[@]}"; do
    [[ ${NAMES[$i]} == probot* ]] || continue
    after=$(field rps "${RESULTS[$i]}")
    if [ -n "$before" ] && [ -n "$after" ]; then
      drifts+=("$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%+.1f%%", (b - a) / ((a + b) / 2) * 100}')")
    fi
    before=$after
  done
  DRIFTS+=("${drifts[*]:-n/a}")

  echo
  echo "sitting $n of $SITTINGS ($(date -u +%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '%-20s %8s %8s %8s %8s %10s\n' server rps p50_ms p99_ms non2xx ratio_probot
  for i in "${!NAMES[@]}"; do
    r=${RESULTS[$i]}
    if [ "$r" = failed ]; then
      ROWS_ALL+=("$n|${NAMES[$i]}|failed|-|-|-|-|${DURS[$i]}")
      printf '%-20s %8s\n' "${NAMES[$i]}" failed
      continue
    fi
    rps=$(field rps "$r")
    ratio=-
    if [[ ${NAMES[$i]} != probot* ]]; then
      ratio=$(awk -v a="$rps" -v b="$(ref "$i")" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
    fi
    ROWS_ALL+=("$n|${NAMES[$i]}|$rps|$(field p50_ms "$r")|$(field p99_ms "$r")|$(field non2xx "$r")|$ratio|${DURS[$i]}")
    printf '%-20s %8s %8s %8s %8s %10s\n' "${NAMES[$i]}" "$rps" "$(field p50_ms "$r")" \
      "$(field p99_ms "$r")" "$(field non2xx "$r")" "$ratio"
  done
  echo "ratio: rps / average of the Probot runs just before and after; Probot drift from run to run: ${drifts[*]:-n/a}"
  for i in "${!NAMES[@]}"; do
    [[ ${NAMES[$i]} == bot-* ]] && echo "${NAMES[$i]} durability: ${DURS[$i]}"
  done
  return 0
}

ensure_probot
say "servers on $HOST ports $((PORT_BASE + 1))-$((PORT_BASE + 8)), stock PostgreSQL on $((PORT_BASE + 9)); logs in $LOGS"
for ((sit = 1; sit <= SITTINGS; sit++)); do
  say "sitting $sit of $SITTINGS: ${MODES[*]}"
  sitting "$sit"
done

# --- summary: medians over the sittings, one RESULT line per bot mode ----------------
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# column SERVER FIELD: that column of every sitting's row for SERVER (failed rows left out)
column() {
  local row
  for row in "${ROWS_ALL[@]}"; do
    IFS='|' read -r _ s rps p50 p99 non2xx ratio _ <<<"$row"
    [ "$s" = "$1" ] && [ "$rps" != failed ] || continue
    case $2 in rps) echo "$rps" ;; p50) echo "$p50" ;; p99) echo "$p99" ;; ratio) echo "$ratio" ;; esac
  done
}

SUMMARY=()
for mode in bare-aiohttp "${MODES[@]}"; do
  [ "$mode" = bare-aiohttp ] && [ "$BARE" = 0 ] && continue
  ratios=$(column "$mode" ratio | paste -sd, -)
  durable=ok
  for row in "${ROWS_ALL[@]}"; do
    IFS='|' read -r _ s _ _ _ _ _ dur <<<"$row"
    [ "$s" = "$mode" ] || continue
    [[ $mode == bot-* ]] && [[ $dur != OK:* ]] && durable=FAILED
  done
  label=${mode#bot-}
  label=${label/-//}
  [ "$mode" = bare-aiohttp ] && { label=bare; durable=n/a; }
  SUMMARY+=("RESULT mode=$label intake_ratio=$(column "$mode" ratio | median) p99_ms=$(column "$mode" p99 | median) rps=$(column "$mode" rps | median) sittings=$SITTINGS ratios=${ratios:-none} durability=$durable duration=$DURATION connections=$CONNECTIONS")
done

{
  echo "# Webhook intake benchmark: last run"
  echo
  echo "\`benchmarks/run.sh --db '$DBS' --role '$ROLES' --sittings $SITTINGS $DURATION $CONNECTIONS\` —" \
    "wrk -t${THREADS:-2} -c$CONNECTIONS -d$DURATION (warm-up $WARMUP) on POST /api/github/webhooks," \
    "event \`$EVENT\`, body \`$(basename "$BODY")\` ($(wc -c <"$BODY") bytes), all on $HOST."
  echo
  echo "| sitting | server | rps | p50_ms | p99_ms | non2xx | ratio to Probot | durability |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  for row in "${ROWS_ALL[@]}"; do
    IFS='|' read -r n s a b c d e f <<<"$row"
    echo "| $n | $s | $a | $b | $c | $d | $e | ${f:--} |"
  done
  echo
  echo "Ratio: rps / average rps of the Probot runs just before and just after it in its sitting." \
    "Probot drift from run to run, per sitting: $(printf '[%s] ' "${DRIFTS[@]}")"
  echo
  echo '```'
  printf '%s\n' "${SUMMARY[@]}"
  echo '```'
  echo
  echo "## Machine"
  echo
  echo '```'
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  lscpu | grep 'Model name' || true
  free -g
  echo "python: $("$PY" --version 2>&1) ($("$PY" -c 'import uvloop, aiohttp, gidgethub; print("uvloop", uvloop.__version__, "aiohttp", aiohttp.__version__, "gidgethub", gidgethub.__version__)' 2>&1))"
  echo "node: $(node --version); probot $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$PROBOT_DIR/node_modules/probot/package.json" | head -n 1)"
  echo "wrk: $(wrk -v 2>&1 | head -n 1 || true)"
  [ -n "$STOCK_PG_BIN" ] && echo "stock PostgreSQL: $("$STOCK_PG_BIN/postgres" --version 2>&1) (max_wal_size=$STOCK_MAX_WAL_SIZE)"
  echo "kernel: $(uname -sr)"
  echo '```'
} >"$WORK/last-run.md"
echo
echo "written: $WORK/last-run.md"
printf '%s\n' "${SUMMARY[@]}"

exit "$FAILED"
