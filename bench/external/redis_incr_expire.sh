#!/usr/bin/env bash
# Baseline: the original design's rate limiter in Redis, a Lua script doing
# INCR + EXPIRE on rate_limit:<key> and comparing with the limit, over
# BENCH_SCALE (10000) keys with BENCH_CLIENTS (4) clients, through
# redis-benchmark.  Starts its own Redis on loopback, on a free port, with no
# persistence, and stops it.  Prints requests per second, nothing else.
set -euo pipefail
seconds=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-4}
keys=${BENCH_SCALE:-10000}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    run env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >&2
fi

dir=$(mktemp -d /tmp/jobspy-redis.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
       echo $((20000 + $$ % 20000)))
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --protected-mode yes \
    --dir "$dir" --logfile "$dir/redis.log" >&2 &
redis_pid=$!
stop() {
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

# The seed's limiter: count the call, start the hour on the first, refuse
# past the limit.
script='local c = redis.call("INCR", KEYS[1]) if c == 1 then redis.call("EXPIRE", KEYS[1], ARGV[1]) end if c > tonumber(ARGV[2]) then return 0 end return 1'
# A first, short run estimates the rate; the real one then lasts about
# $seconds seconds.
measure() {  # measure REQUESTS: prints requests per second
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$clients" -n "$1" -r "$keys" --csv \
        EVAL "$script" 1 'rate_limit:__rand_int__' 3600 1000000 |
        awk -F, 'NR == 2 {gsub(/"/, "", $(NF - 6)); print $(NF - 6)}'
}
rps=$(measure 20000)
n=$(awk -v r="$rps" -v s="$seconds" 'BEGIN {n = int(r * s); print (n < 20000) ? 20000 : n}')
measure "$n"
