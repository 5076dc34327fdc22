#!/usr/bin/env bash
# Origin shield vs nginx proxy_cache on this machine, side by side in one run.
#
#   1. cache hits: wrk against the shield and against nginx proxy_cache (same origin, same
#      TTL, memory-backed, cache lock on), interleaved ROUNDS times; req/s and p99 of both and
#      the ratio shield/nginx (medians).
#      Also the CPU time each server process used per request (utime + stime from /proc,
#      divided by wrk's request count): unlike req/s, it hardly moves when other work shares
#      the cores, so its ratio is the one to read on a loaded machine.
#   2. miss path: a cache-bypassing URL (origin says no-store) through the shield vs straight
#      to the origin: the shield's per-request overhead.
#
# The origin is nginx serving two static files. Installs nginx-light and wrk from Debian when
# missing. Usage: scripts/bench/shield.sh
# Env: BENCH_SHIELD_BIN (default $CARGO_TARGET_DIR/native-release/origin-shield, built when
#      missing), BENCH_SHIELD_BEFORE_BIN (a second shield build, e.g. the previous commit's:
#      its hits are measured in the same rounds, so before/after/nginx share one run),
#      DURATION (seconds per wrk run, 10), ROUNDS (3), CONNECTIONS (32), THREADS (wrk, 1),
#      MISS_PATH (1; 0 skips the miss-path comparison).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
ORIGIN_PORT=19080
SHIELD_PORT=19101
NGINX_PORT=19102
MISS_PATH=${MISS_PATH:-1}
BEFORE_PORT=19103
BIN=${BENCH_SHIELD_BIN:-${CARGO_TARGET_DIR:-target}/native-release/origin-shield}
BEFORE_BIN=${BENCH_SHIELD_BEFORE_BIN:-}

install_if_missing() { # command package
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  echo "installing $2 from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null
}
install_if_missing nginx nginx-light
install_if_missing wrk wrk
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "${BENCH_SHIELD_BIN:-}" ] && [ ! -x "$BIN" ]; then
  cargo build -q -p origin-shield --profile native-release
fi

DIR=$(mktemp -d /dev/shm/shield-bench.XXXXXX)
chmod 755 "$DIR"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

# --- origin: static files -------------------------------------------------------------------
mkdir -p "$DIR/www/bench"
head -c 1024 /dev/zero | tr '\0' 'x' >"$DIR/www/bench/hit.txt"
cp "$DIR/www/bench/hit.txt" "$DIR/www/bench/miss.txt"
chmod -R a+rX "$DIR/www"
cat >"$DIR/origin.inc" <<EOF
server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $DIR/www;
    etag on;
    location = /bench/hit.txt  { add_header Cache-Control "public, max-age=3600"; }
    location = /bench/miss.txt { add_header Cache-Control "no-store"; }
}
EOF
# --- nginx proxy_cache: the baseline --------------------------------------------------------
cat >"$DIR/cache.inc" <<EOF
proxy_cache_path $DIR/nginx-cache levels=1:2 keys_zone=shield:16m max_size=256m inactive=1h use_temp_path=off;
upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
        proxy_pass http://origin;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_cache shield;
        proxy_cache_key \$request_uri;
        proxy_cache_lock on;
        proxy_cache_lock_timeout 5s;
        proxy_cache_use_stale error timeout updating;
        add_header Cache-Status \$upstream_cache_status;
    }
}
EOF
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
declare -A MASTER_PID SERVER_PID # by port: nginx masters; the process whose CPU is counted
for role in origin cache; do
  sed -e "s|@DIR@|$DIR|g" -e "s|@ROLE@|$role|g" -e "s|@USER_LINE@|$user_line|" \
    scripts/bench/nginx-shield.conf >"$DIR/nginx-$role.conf"
  "$NGINX" -p "$DIR" -c "$DIR/nginx-$role.conf" -g 'daemon off;' &
  PIDS+=($!)
  MASTER_PID[$([ $role = origin ] && echo $ORIGIN_PORT || echo $NGINX_PORT)]=$!
done

# --- the shield -------------------------------------------------------------------------------
cat >"$DIR/shield.toml" <<EOF
listen = "127.0.0.1:$SHIELD_PORT"
region = "bench"
origin = "http://127.0.0.1:$ORIGIN_PORT"
threads = 1
[cache]
max_bytes = 268435456
EOF
"$BIN" --config "$DIR/shield.toml" >"$DIR/shield.out" 2>"$DIR/shield.err" &
PIDS+=($!)
SERVER_PID[$SHIELD_PORT]=$!
SHIELD_PORTS=$SHIELD_PORT
if [ -n "$BEFORE_BIN" ]; then
  sed "s|127.0.0.1:$SHIELD_PORT|127.0.0.1:$BEFORE_PORT|" "$DIR/shield.toml" >"$DIR/before.toml"
  "$BEFORE_BIN" --config "$DIR/before.toml" >"$DIR/before.out" 2>"$DIR/before.err" &
  PIDS+=($!)
  SERVER_PID[$BEFORE_PORT]=$!
  SHIELD_PORTS="$SHIELD_PORT $BEFORE_PORT"
fi

wait_for() { # url
  for _ in $(seq 1 100); do curl -fso /dev/null "$1" && return 0; sleep 0.1; done
  echo "not up: $1" >&2; cat "$DIR"/*.err "$DIR"/*.error.log >&2 2>/dev/null; exit 1
}
for port in $ORIGIN_PORT $SHIELD_PORTS $NGINX_PORT; do wait_for "http://127.0.0.1:$port/bench/hit.txt"; done
for port in $SHIELD_PORTS $NGINX_PORT; do # warm, and show the cache says hit
  curl -fso /dev/null "http://127.0.0.1:$port/bench/hit.txt"
  printf '%-6s %s\n' "$port" "$(curl -fsD - -o /dev/null "http://127.0.0.1:$port/bench/hit.txt" | grep -i '^cache-status' | tr -d '\r')"
done

for port in "${!MASTER_PID[@]}"; do # nginx serves from its one worker, the master's child
  SERVER_PID[$port]=$(pgrep -P "${MASTER_PID[$port]}" | head -1)
done

# --- measure ------------------------------------------------------------------------------------
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, all threads
run_wrk() { # url -> "req/s p99_ms cpu_us_per_request"
  local port=${1#http://127.0.0.1:}; port=${port%%/*}
  local pid=${SERVER_PID[$port]} t0 t1 out
  t0=$(cpu_ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1")
  t1=$(cpu_ticks "$pid")
  echo "$out" | awk -v ticks=$((t1 - t0)) -v tck="$TICK" '
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) }
               else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } p99 = v }
    END { printf "%.0f %.2f %.2f\n", rps, p99, n ? ticks * 1e6 / tck / n : 0 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

compare() { # label_1 url_1 ... label_n url_n: interleaved rounds; ratios are to the last
  local labels=() urls=() i round
  while [ $# -gt 0 ]; do labels+=("$1"); urls+=("$2"); shift 2; done
  local n=${#labels[@]} results=()
  for round in $(seq 1 "$ROUNDS"); do
    local line="  round $round:"
    for i in $(seq 0 $((n - 1))); do
      local r; r=$(run_wrk "${urls[$i]}"); results+=("$i $r")
      line+=$(printf ' %-6s %6s req/s p99 %6s ms %5s us/req |' "${labels[$i]}" $r)
    done
    echo "${line% |}"
  done
  local rps=() cpu=() summary="  median:"
  for i in $(seq 0 $((n - 1))); do
    local mine; mine=$(printf '%s\n' "${results[@]}" | awk -v i="$i" '$1 == i { print $2, $3, $4 }')
    rps[$i]=$(echo "$mine" | cut -d' ' -f1 | median)
    cpu[$i]=$(echo "$mine" | cut -d' ' -f3 | median)
    summary+=" ${labels[$i]} ${rps[$i]} req/s (p99 $(echo "$mine" | cut -d' ' -f2 | median) ms, ${cpu[$i]} us CPU/req),"
  done
  echo "${summary%,}"
  local last=$((n - 1)) ratios="  ratios:"
  for i in $(seq 0 $((last - 1))); do
    ratios+=" ${labels[$i]}/${labels[$last]} req/s $(awk -v x="${rps[$i]}" -v y="${rps[$last]}" 'BEGIN { printf "%.2f", x / y }'),"
    ratios+=" per CPU $(awk -v x="${cpu[$i]}" -v y="${cpu[$last]}" 'BEGIN { printf "%.2f", (x > 0 ? y / x : 0) }');"
  done
  echo "${ratios%;}"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS interleaved rounds, $(nproc) cores, 1 KiB body"
echo "cache hits (/bench/hit.txt):"
if [ -n "$BEFORE_BIN" ]; then
  compare shield "http://127.0.0.1:$SHIELD_PORT/bench/hit.txt" before "http://127.0.0.1:$BEFORE_PORT/bench/hit.txt" \
    nginx "http://127.0.0.1:$NGINX_PORT/bench/hit.txt"
else
  compare shield "http://127.0.0.1:$SHIELD_PORT/bench/hit.txt" nginx "http://127.0.0.1:$NGINX_PORT/bench/hit.txt"
fi
[ "$MISS_PATH" = 0 ] && exit 0
echo "miss path, no-store (/bench/miss.txt):"
compare shield "http://127.0.0.1:$SHIELD_PORT/bench/miss.txt" origin "http://127.0.0.1:$ORIGIN_PORT/bench/miss.txt"
