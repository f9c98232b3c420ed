#!/usr/bin/env bash
# GC pauses of a local-only node under load, on both runtimes, in one run:
#   - Bun: the compiled binary with BUN_JSC_logGC=1 (JavaScriptCore logs every collection and
#     each of its stop-the-world pauses, "p=<ms>");
#   - Deno: `deno run --v8-flags=--trace-gc src/main.ts` (V8 logs each collection with its
#     main-thread pause, "<pause> / <background> ms").
# The server is pinned to CPU 0, `edgecache bench` (the load: 50 connections, 90% reads, Zipf 0.99,
# 100-byte values over 100,000 keys, prefilled) to CPU 1. Prints, per runtime: pauses, p50, p99,
# max, total pause time as a share of the run, and the load's ops/s and p99.
#
#   bench/gc_pauses.sh [seconds]      (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
SECRET="gc-bench-secret-gc-bench-secret-0123456"
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
[ -x dist/edgecache ] || scripts/build >/dev/null
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# run_case NAME PORT LOGFILE COMMAND...: starts the server, loads it, stops it, prints one row.
run_case() {
  local name=$1 port=$2 log=$3; shift 3
  env EDGECACHE_JWT_SECRET="$SECRET" EDGECACHE_LISTEN="127.0.0.1:$port" EDGECACHE_LOG_LEVEL=warn \
    taskset -c 0 "$@" >"$log" 2>&1 &
  SERVER=$!
  wait_port "$port"
  # Warm-up run fills the keys; its pauses are cut off by the marker below.
  EDGECACHE_JWT_SECRET="$SECRET" taskset -c 1 dist/edgecache bench --url "http://127.0.0.1:$port" --duration 3s \
    --keys 100000 --read-ratio 0 --json >/dev/null 2>&1
  local start_line; start_line=$(wc -l <"$log")
  local load; load=$(EDGECACHE_JWT_SECRET="$SECRET" taskset -c 1 dist/edgecache bench --url "http://127.0.0.1:$port" \
    --duration "${DURATION}s" --keys 100000 --json 2>/dev/null | tail -1)
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  tail -n +"$((start_line + 1))" "$log" >"$log.run"
  node_modules/.bin/bun -e "
    const text = require('fs').readFileSync('$log.run', 'utf8');
    const load = JSON.parse(process.argv[1]);
    // JSC: every 'p=<ms>ms' is one stop-the-world pause; V8: '<pause> / <background> ms'.
    const jsc = [...text.matchAll(/ p=([0-9.]+)ms/g)].map((m) => Number(m[1]));
    const v8 = [...text.matchAll(/(?:Scavenge|Mark-Compact|Mark-Sweep)[^\n]*?, ([0-9.]+) \/ [0-9.]+ ms/g)].map((m) => Number(m[1]));
    const pauses = (jsc.length > 0 ? jsc : v8).sort((a, b) => a - b);
    const at = (q) => pauses.length === 0 ? 0 : pauses[Math.min(pauses.length - 1, Math.floor(q * pauses.length))];
    const total = pauses.reduce((s, p) => s + p, 0);
    console.log('| $name | ' + pauses.length + ' | ' + at(0.5).toFixed(2) + ' | ' + at(0.99).toFixed(2) + ' | ' + (pauses.at(-1) ?? 0).toFixed(2) + ' | ' +
      (100 * total / ($DURATION * 1000)).toFixed(1) + '% | ' + Math.round(load.ops_per_sec) + ' | ' + load.p99_ms.toFixed(2) + ' |');
  " "$load"
}

echo "| runtime | pauses | p50 ms | p99 ms | max ms | time paused | load ops/s | load p99 ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
run_case "Bun $(node_modules/.bin/bun --version) (dist/edgecache)" 19311 "$WORK/bun.log" env BUN_JSC_logGC=1 dist/edgecache serve
run_case "Deno $(node_modules/.bin/deno --version | head -1 | cut -d' ' -f2) (deno run)" 19312 "$WORK/deno.log" \
  node_modules/.bin/deno run -A --v8-flags=--trace-gc src/main.ts serve
