#!/usr/bin/env bash
# Origin shield vs nginx proxy_cache on this machine, side by side in one run.
#
#   1. cache hits: wrk against the shield and against nginx proxy_cache (same origin, same
#      TTL, memory-backed, cache lock on), interleaved ROUNDS times; req/s and p99 of both and
#      the ratio shield/nginx (medians).
#   2. miss path: a cache-bypassing URL (origin says no-store) through the shield vs straight
#      to the origin: the shield's per-request overhead.
#
# The origin is nginx serving two static files. Installs nginx-light and wrk from Debian when
# missing. Usage: scripts/bench/shield.sh
# Env: BENCH_SHIELD_BIN (default target/native-release/origin-shield, built when missing),
#      DURATION (seconds per wrk run, 10), ROUNDS (3), CONNECTIONS (32), THREADS (wrk, 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
ORIGIN_PORT=19080
SHIELD_PORT=19101
NGINX_PORT=19102
BIN=${BENCH_SHIELD_BIN:-target/native-release/origin-shield}

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
for role in origin cache; do
  sed -e "s|@DIR@|$DIR|g" -e "s|@ROLE@|$role|g" -e "s|@USER_LINE@|$user_line|" \
    scripts/bench/nginx-shield.conf >"$DIR/nginx-$role.conf"
  "$NGINX" -p "$DIR" -c "$DIR/nginx-$role.conf" -g 'daemon off;' &
  PIDS+=($!)
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

wait_for() { # url
  for _ in $(seq 1 100); do curl -fso /dev/null "$1" && return 0; sleep 0.1; done
  echo "not up: $1" >&2; cat "$DIR"/*.err "$DIR"/*.error.log >&2 2>/dev/null; exit 1
}
for port in $ORIGIN_PORT $SHIELD_PORT $NGINX_PORT; do wait_for "http://127.0.0.1:$port/bench/hit.txt"; done
for port in $SHIELD_PORT $NGINX_PORT; do # warm, and show the cache says hit
  curl -fso /dev/null "http://127.0.0.1:$port/bench/hit.txt"
  printf '%-6s %s\n' "$port" "$(curl -fsD - -o /dev/null "http://127.0.0.1:$port/bench/hit.txt" | grep -i '^cache-status' | tr -d '\r')"
done

# --- measure ------------------------------------------------------------------------------------
run_wrk() { # url -> "req/s p99_ms"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) }
               else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } p99 = v }
    END { printf "%.0f %.2f\n", rps, p99 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

compare() { # label_a url_a label_b url_b
  local a=() b=()
  for round in $(seq 1 "$ROUNDS"); do
    a+=("$(run_wrk "$2")"); b+=("$(run_wrk "$4")")
    printf '  round %d: %-22s %8s req/s p99 %6s ms | %-22s %8s req/s p99 %6s ms\n' "$round" \
      "$1" ${a[-1]} "$3" ${b[-1]}
  done
  local ra rb pa pb
  ra=$(printf '%s\n' "${a[@]}" | cut -d' ' -f1 | median); pa=$(printf '%s\n' "${a[@]}" | cut -d' ' -f2 | median)
  rb=$(printf '%s\n' "${b[@]}" | cut -d' ' -f1 | median); pb=$(printf '%s\n' "${b[@]}" | cut -d' ' -f2 | median)
  printf '  median: %s %s req/s (p99 %s ms), %s %s req/s (p99 %s ms), ratio %s/%s = %s\n' \
    "$1" "$ra" "$pa" "$3" "$rb" "$pb" "$1" "$3" "$(awk -v x="$ra" -v y="$rb" 'BEGIN { printf "%.2f", x / y }')"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS interleaved rounds, $(nproc) cores, 1 KiB body"
echo "cache hits (/bench/hit.txt):"
compare shield "http://127.0.0.1:$SHIELD_PORT/bench/hit.txt" nginx "http://127.0.0.1:$NGINX_PORT/bench/hit.txt"
echo "miss path, no-store (/bench/miss.txt):"
compare shield "http://127.0.0.1:$SHIELD_PORT/bench/miss.txt" origin "http://127.0.0.1:$ORIGIN_PORT/bench/miss.txt"
