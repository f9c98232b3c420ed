#!/usr/bin/env bash
# Resident memory of a full node against EDGECACHE_MAX_BYTES, on both runtimes, in one run.
# Starts a local-only node with the cap, reads its idle RSS, writes 100-byte values under fresh
# keys through the batch endpoint until twice as many entries as fit were written (so it has
# been evicting for a while), then keeps overwriting for a few seconds, and reads RSS again.
# Prints RSS idle, RSS full, (full - idle) / cap, entries held and RSS per entry held.
#
#   bench/rss_full.sh [cap-MiB]      (default 256)
#   RSS_DEBUG=1 bench/rss_full.sh    (also prints the heap metrics when full and again after 10 s idle)
set -euo pipefail
cd "$(dirname "$0")/.."
CAP_MIB=${1:-256}
SECRET="rss-bench-secret-rss-bench-secret-01234"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
[ -x dist/edgecache ] || scripts/build >/dev/null
wait_ready() { for _ in $(seq 300); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name {print $2}'; }

# run_case NAME PORT COMMAND...: one row of the table.
run_case() {
  local name=$1 port=$2; shift 2
  env EDGECACHE_JWT_SECRET="$SECRET" EDGECACHE_LISTEN="127.0.0.1:$port" EDGECACHE_LOG_LEVEL=warn \
    EDGECACHE_MAX_BYTES="${CAP_MIB}MiB" "$@" >/dev/null 2>&1 &
  SERVER=$!
  wait_ready "$port"
  sleep 1
  # The server may be a wrapper (deno run): measure the process that listens.
  local pid; pid=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  local idle; idle=$(rss_kib "$pid")
  local token; token=$(EDGECACHE_JWT_SECRET="$SECRET" dist/edgecache token --sub rss --scope "cache:read cache:write cache:admin")
  node_modules/.bin/bun -e "
    const cap = $CAP_MIB * 1024 * 1024, url = 'http://127.0.0.1:$port/v1/batch';
    const headers = { authorization: 'Bearer $token', 'content-type': 'application/json' };
    const value = 'v'.repeat(100);
    // An entry of a 13-byte key and a 100-byte value is charged about 740 bytes: write twice what fits.
    const writes = Math.ceil((2 * cap) / 740);
    const put = async (from, count) => {
      const ops = [];
      for (let i = from; i < from + count; i++) ops.push({ op: 'put', key: 'k' + i.toString(36).padStart(12, '0'), value });
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ ops }) });
      if (response.status !== 200) throw new Error('batch ' + response.status);
      await response.arrayBuffer();
    };
    for (let i = 0; i < writes; i += 1000) await put(i, 1000);
    // Churn for a while at full size: overwrite the newest keys again.
    const until = Date.now() + 5000;
    for (let i = writes; Date.now() < until; i += 1000) await put(i - writes / 2, 1000);
  "
  sleep 2
  local full; full=$(rss_kib "$pid")
  [ -n "${RSS_DEBUG:-}" ] && curl -s "http://127.0.0.1:$port/metrics" | grep -E '^edgecache_nodejs_(heap_size|external)' >&2
  [ -n "${RSS_DEBUG:-}" ] && { sleep 10; echo "after 10 s idle: $(rss_kib "$pid") KiB" >&2; curl -s "http://127.0.0.1:$port/metrics" | grep -E '^edgecache_nodejs_(heap_size|external)' >&2; }
  local entries; entries=$(metric "$port" edgecache_cache_entries)
  local bytes; bytes=$(metric "$port" edgecache_cache_bytes)
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  awk -v n="$name" -v idle="$idle" -v full="$full" -v cap="$CAP_MIB" -v e="$entries" -v b="$bytes" 'BEGIN {
    printf "| %s | %d MiB | %.0f MiB | %.0f MiB | %.0f MiB | %.2fx | %d | %.0f |\n", n, cap, idle / 1024, full / 1024, b / 1048576, (full - idle) / 1024 / cap, e, (full - idle) * 1024 / e
  }'
}

echo "| runtime | cap | RSS idle | RSS full | accounted bytes | (full - idle) / cap | entries held | RSS per entry held, B |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
run_case "Bun (dist/edgecache)" 19321 dist/edgecache serve
run_case "Deno (deno run)" 19322 node_modules/.bin/deno run -A src/main.ts serve
# V8 lets garbage pile up far past the live size unless its old space is capped: the same node
# with --max-old-space-size of twice the cap (see RUNBOOK.md, Tuning memory and GC).
run_case "Deno, --max-old-space-size=$((2 * CAP_MIB))" 19323 node_modules/.bin/deno run -A --v8-flags=--max-old-space-size=$((2 * CAP_MIB)) src/main.ts serve
