#!/usr/bin/env bash
# Measures edgecache against its peers in ONE run on this machine and prints a markdown table of
# req/s, p50, p99 and server CPU microseconds per request, with ratios against the raw Hono floor.
# Servers are pinned to CPU 0 and load generators to CPU 1 (taskset), everything on 127.0.0.1.
#
#   bench/compare.sh [seconds-per-case]        (default 10; needs root to apt-get wrk, redis, varnish)
#
# Cases: raw Bun.serve, Hono floor (`/v1/kv/:key` from a Map), edgecache GET hit / GET miss / PUT
# (authenticated), edgecache GET forwarded to the owner in a 2-node TLS cluster, edgecache batch
# of 100 GETs, Varnish cache hit of the same 100-byte object, Redis GET (-P 1 and -P 16).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=50
SECRET="compare-secret-that-is-at-least-32-bytes-long"
WORK=$(mktemp -d)
chmod 755 "$WORK" # varnishd drops privileges and must read its VCL here
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; pkill -f "varnishd -n $WORK/varnish" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

need=""
for tool in wrk redis-server varnishd taskset openssl; do command -v "$tool" >/dev/null || need="$need $tool"; done
if [ -n "$need" ]; then
  echo "installing:$need" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-server redis-tools varnish util-linux openssl >/dev/null
fi
[ -x dist/edgecache ] || scripts/build >/dev/null
BUN=node_modules/.bin/bun

# cpu_ticks PID[,PID...]: utime+stime in clock ticks, summed over the processes.
cpu_ticks() { local total=0 pid; for pid in ${1//,/ }; do total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") )); done; echo "$total"; }
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
start() { # start PORT cmd... : runs on CPU 0, records the pid
  local port=$1; shift
  taskset -c 0 "$@" >"$WORK/server-$port.log" 2>&1 &
  PIDS+=($!); wait_port "$port"; SERVER_PID=$!
}
ROWS=()
# measure NAME PID URL LUA : 2 s warm-up, then DURATION s of wrk; appends a row.
measure() {
  local name=$1 pid=$2 url=$3 lua=${4:-}
  local script=(); [ -n "$lua" ] && script=(-s "$lua")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "${script[@]}" "$url" >/dev/null
  local before; before=$(cpu_ticks "$pid")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${script[@]}" "$url" >"$WORK/wrk.txt"
  local after; after=$(cpu_ticks "$pid")
  local requests rps p50 p99
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
  local cpu_us; cpu_us=$(awk -v t=$(( (after - before) * TICK_US )) -v n="$requests" 'BEGIN {printf "%.2f", t / n}')
  ROWS+=("$name|$rps|$p50|$p99|$cpu_us")
  echo "measured $name: $rps req/s, p99 $p99, $cpu_us us CPU/req" >&2
}

VALUE=$(head -c 100 /dev/zero | tr '\0' x)

# --- floors
EDGECACHE_LISTEN=127.0.0.1:18901 FLOOR=raw start 18901 "$BUN" bench/floor_server.ts; RAW=$SERVER_PID
curl -s -X PUT --data-binary "$VALUE" http://127.0.0.1:18901/v1/kv/k1 >/dev/null
measure "raw Bun.serve GET" "$RAW" http://127.0.0.1:18901/v1/kv/k1
EDGECACHE_LISTEN=127.0.0.1:18902 start 18902 "$BUN" bench/floor_server.ts; FLOOR=$SERVER_PID
curl -s -X PUT --data-binary "$VALUE" http://127.0.0.1:18902/v1/kv/k1 >/dev/null
measure "Hono floor GET (baseline)" "$FLOOR" http://127.0.0.1:18902/v1/kv/k1

# --- edgecache, one node
EDGECACHE_LISTEN=127.0.0.1:18903 EDGECACHE_JWT_SECRET=$SECRET EDGECACHE_LOG_LEVEL=warn start 18903 dist/edgecache; EC=$SERVER_PID
TOKEN=$(EDGECACHE_JWT_SECRET=$SECRET dist/edgecache token --sub bench --scope "cache:read cache:write")
curl -s -X PUT -H "authorization: Bearer $TOKEN" --data-binary "$VALUE" http://127.0.0.1:18903/v1/kv/k1 >/dev/null
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN" >"$WORK/get.lua"
printf 'wrk.method = "PUT"\nwrk.body = "%s"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$VALUE" "$TOKEN" >"$WORK/put.lua"
measure "edgecache GET hit" "$EC" http://127.0.0.1:18903/v1/kv/k1 "$WORK/get.lua"
measure "edgecache GET miss (404)" "$EC" http://127.0.0.1:18903/v1/kv/absent "$WORK/get.lua"
measure "edgecache PUT" "$EC" http://127.0.0.1:18903/v1/kv/k2 "$WORK/put.lua"
BATCH=$(printf '{"ops":[%s]}' "$(for i in $(seq 100); do printf '{"op":"get","key":"k1"}'; [ "$i" -lt 100 ] && printf ','; done)")
printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Authorization"] = "Bearer %s"\nwrk.headers["Content-Type"] = "application/json"\n' "$BATCH" "$TOKEN" >"$WORK/batch.lua"
measure "edgecache batch of 100 GETs, JSON (per batch)" "$EC" http://127.0.0.1:18903/v1/batch "$WORK/batch.lua"
# The same batch as CBOR, written into the Lua script as an escaped byte string.
"$BUN" -e '
  const { Encoder } = await import("cbor-x");
  const body = new Encoder({ useRecords: false }).encode({ ops: Array.from({ length: 100 }, () => ({ op: "get", key: "k1" })) });
  process.stdout.write([...body].map((b) => "\\" + b).join(""));
' >"$WORK/batch.cbor.lua-string"
printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Authorization"] = "Bearer %s"\nwrk.headers["Content-Type"] = "application/cbor"\n' "$(cat "$WORK/batch.cbor.lua-string")" "$TOKEN" >"$WORK/batch-cbor.lua"
measure "edgecache batch of 100 GETs, CBOR (per batch)" "$EC" http://127.0.0.1:18903/v1/batch "$WORK/batch-cbor.lua"

# --- edgecache, 2-node cluster: GET sent to the node that does not own the key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
for node in node-a node-b; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$node" -keyout "$WORK/$node.key" -out "$WORK/$node.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/$node.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 -out "$WORK/$node.crt" 2>/dev/null
done
# One replica, so the node that is asked is not also an owner and must forward.
cluster_env() { echo "EDGECACHE_REPLICAS=1 EDGECACHE_NODE_ID=$1 EDGECACHE_LISTEN=127.0.0.1:$2 EDGECACHE_PEER_LISTEN=127.0.0.1:$3 EDGECACHE_PEERS=127.0.0.1:$4 EDGECACHE_TLS_CERT=$WORK/$1.crt EDGECACHE_TLS_KEY=$WORK/$1.key EDGECACHE_TLS_CA=$WORK/ca.crt EDGECACHE_JWT_SECRET=$SECRET EDGECACHE_LOG_LEVEL=warn"; }
env $(cluster_env node-a 18904 18914 18915) taskset -c 0 dist/edgecache >"$WORK/node-a.log" 2>&1 & PIDS+=($!); NODE_A=$!
env $(cluster_env node-b 18905 18915 18914) taskset -c 0 dist/edgecache >"$WORK/node-b.log" 2>&1 & PIDS+=($!); NODE_B=$!
wait_port 18904; wait_port 18905
ADMIN=$(EDGECACHE_JWT_SECRET=$SECRET dist/edgecache token --sub bench --scope "cache:read cache:write cache:admin")
for _ in $(seq 100); do curl -s -H "authorization: Bearer $ADMIN" http://127.0.0.1:18904/v1/admin/cluster | grep -q '"state":"alive"' && break; sleep 0.1; done
# A key whose owner is node-b, read through node-a.
for i in $(seq 1000); do
  owner=$(curl -s -H "authorization: Bearer $ADMIN" "http://127.0.0.1:18904/v1/admin/explain/f$i" | sed -n 's/.*"owner":"\([^"]*\)".*/\1/p')
  [ "$owner" = node-b ] && KEY=f$i && break
done
curl -s -X PUT -H "authorization: Bearer $TOKEN" --data-binary "$VALUE" "http://127.0.0.1:18904/v1/kv/$KEY" >/dev/null
measure "edgecache GET forwarded to owner (cluster, CPU of both nodes)" "$NODE_A,$NODE_B" "http://127.0.0.1:18904/v1/kv/$KEY" "$WORK/get.lua"

# --- Varnish in front of the Hono floor, cache hit
cat >"$WORK/default.vcl" <<VCL
vcl 4.1;
backend default { .host = "127.0.0.1"; .port = "18902"; }
sub vcl_backend_response { set beresp.ttl = 1h; }
VCL
chmod 644 "$WORK/default.vcl"
taskset -c 0 varnishd -n "$WORK/varnish" -a 127.0.0.1:18906 -f "$WORK/default.vcl" -s malloc,64m -p thread_pools=1 >/dev/null 2>&1
wait_port 18906
VARNISH=$(pgrep -d, -f "varnishd -n $WORK/varnish")
curl -s http://127.0.0.1:18906/v1/kv/k1 >/dev/null
measure "Varnish cache hit" "$VARNISH" http://127.0.0.1:18906/v1/kv/k1

# --- Redis
taskset -c 0 redis-server --port 18907 --save "" --appendonly no >"$WORK/redis.log" 2>&1 & PIDS+=($!); REDIS=$!
wait_port 18907
redis-cli -p 18907 set k1 "$VALUE" >/dev/null
for pipeline in 1 16; do
  before=$(cpu_ticks "$REDIS")
  out=$(taskset -c 1 redis-benchmark -p 18907 -c "$CONNECTIONS" -n $(( 20000 * DURATION )) -P "$pipeline" -t get -d 100 --csv -q 2>/dev/null | tail -1)
  after=$(cpu_ticks "$REDIS")
  rps=$(echo "$out" | awk -F'"' '{print $4}'); p50=$(echo "$out" | awk -F'"' '{print $8}'); p99=$(echo "$out" | awk -F'"' '{print $12}')
  cpu_us=$(awk -v t=$(( (after - before) * TICK_US )) -v n=$(( 20000 * DURATION )) 'BEGIN {printf "%.2f", t / n}')
  ROWS+=("Redis GET -P $pipeline|$rps|${p50}ms|${p99}ms|$cpu_us")
done

# --- report
floor_cpu=$(printf '%s\n' "${ROWS[@]}" | awk -F'|' '/baseline/ {print $5}')
echo "| case | req/s | p50 | p99 | server CPU us/req | CPU vs Hono floor |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name rps p50 p99 cpu <<<"$row"
  ratio=$(awk -v a="$cpu" -v b="$floor_cpu" 'BEGIN {printf "%.2fx", a / b}')
  echo "| $name | $rps | $p50 | $p99 | $cpu | $ratio |"
done
