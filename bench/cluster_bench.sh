#!/usr/bin/env bash
# Cluster figures in one run on 127.0.0.1: PUT throughput of a 2-node cluster with 2 replicas
# (every write replicated before it is acknowledged) against a local-only node, and the time a
# third node's join takes to rebalance 100,000 keys of 100 bytes.
#
#   bench/cluster_bench.sh [seconds-per-case] [keys]      (defaults: 8, 100000)
#   FAILURE_TIMEOUT=3s bench/cluster_bench.sh ...          (EDGECACHE_FAILURE_TIMEOUT of the nodes; default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-8}
KEYS=${2:-100000}
FAILURE_TIMEOUT=${FAILURE_TIMEOUT:-10s}
SECRET="cluster-bench-secret-that-is-32-bytes-long"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
command -v wrk >/dev/null || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
[ -x dist/edgecache ] || scripts/build >/dev/null
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
for node in node-a node-b node-c; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$node" -keyout "$WORK/$node.key" -out "$WORK/$node.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/$node.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 -out "$WORK/$node.crt" 2>/dev/null
done
start_node() { # start_node ID HTTP PEER SEEDS...
  local id=$1 http=$2 peer=$3; shift 3
  local seeds; seeds=$(printf '127.0.0.1:%s,' "$@"); seeds=${seeds%,}
  env EDGECACHE_NODE_ID="$id" EDGECACHE_LISTEN="127.0.0.1:$http" EDGECACHE_PEER_LISTEN="127.0.0.1:$peer" EDGECACHE_PEERS="$seeds" \
    EDGECACHE_TLS_CERT="$WORK/$id.crt" EDGECACHE_TLS_KEY="$WORK/$id.key" EDGECACHE_TLS_CA="$WORK/ca.crt" \
    EDGECACHE_JWT_SECRET="$SECRET" EDGECACHE_LOG_LEVEL=warn EDGECACHE_FAILURE_TIMEOUT="$FAILURE_TIMEOUT" dist/edgecache >"$WORK/$id.log" 2>&1 &
  PIDS+=($!)
  wait_port "$http"
}
TOKEN=$(EDGECACHE_JWT_SECRET=$SECRET dist/edgecache token --sub bench --scope "cache:read cache:write cache:admin")
VALUE=$(head -c 100 /dev/zero | tr '\0' x)
cat >"$WORK/put.lua" <<LUA
local headers = { ["Authorization"] = "Bearer $TOKEN" }
request = function() return wrk.format("PUT", "/v1/kv/r" .. math.random(1, 100000), headers, "$VALUE") end
LUA
put_rps() { wrk -t1 -c50 -d"${DURATION}s" -s "$WORK/put.lua" "http://127.0.0.1:$1" | awk '/Requests\/sec/ {print $2}'; }
alive() { curl -s -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$1/v1/admin/cluster" | { grep -o '"state":"alive"' || true; } | wc -l; }
down() { curl -s -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$1/v1/admin/cluster" | { grep -o '"state":"down"' || true; } | wc -l; }

# Local-only node, the baseline of the same run.
env EDGECACHE_LISTEN=127.0.0.1:19101 EDGECACHE_JWT_SECRET="$SECRET" EDGECACHE_LOG_LEVEL=warn dist/edgecache >"$WORK/local.log" 2>&1 & PIDS+=($!)
wait_port 19101
local_rps=$(put_rps 19101)

start_node node-a 19102 19112 19113
start_node node-b 19103 19113 19112
for _ in $(seq 100); do [ "$(alive 19102)" -ge 1 ] && break; sleep 0.1; done
cluster_rps=$(put_rps 19102)

# Fill 100,000 keys through the batch endpoint, then let node-c join and time the rebalance.
node_modules/.bin/bun -e "
  const keys = $KEYS, url = 'http://127.0.0.1:19102/v1/batch', auth = { authorization: 'Bearer $TOKEN', 'content-type': 'application/json' };
  for (let start = 0; start < keys; start += 500) {
    const ops = [];
    for (let i = start; i < Math.min(keys, start + 500); i++) ops.push({ op: 'put', key: 'fill/' + i, value: 'x'.repeat(100) });
    const response = await fetch(url, { method: 'POST', headers: auth, body: JSON.stringify({ ops }) });
    if (response.status !== 200) throw new Error('fill failed: ' + response.status);
    await response.arrayBuffer();
  }
"
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name {print $2}'; }
moved_before=$(( $(metric 19102 edgecache_rebalance_moved_total | cut -d. -f1) + $(metric 19103 edgecache_rebalance_moved_total | cut -d. -f1) ))
started=$(date +%s%N)
start_node node-c 19104 19114 19112 19113
# Done when node-c is alive in both views, nothing is pending and the moved counters stand still.
last=-1
# Heartbeats must keep flowing while the join moves data: any sample where node-a or node-b sees
# fewer alive members than it should counts as a false failure detection.
down_samples=0
for _ in $(seq 1200); do
  members_a=$(down 19102)
  members_b=$(down 19103)
  if [ "$members_a" -gt 0 ] || [ "$members_b" -gt 0 ]; then
    # node-c is learned from gossip as down before its own link is up; only count once it was alive.
    [ "${seen_alive:-0}" -eq 1 ] && down_samples=$((down_samples + 1))
  fi
  [ "$(alive 19102)" -ge 2 ] && seen_alive=1
  moved=$(( $(metric 19102 edgecache_rebalance_moved_total | cut -d. -f1) + $(metric 19103 edgecache_rebalance_moved_total | cut -d. -f1) ))
  pending=$(( $(metric 19102 edgecache_rebalance_pending | cut -d. -f1) + $(metric 19103 edgecache_rebalance_pending | cut -d. -f1) ))
  if [ "$(alive 19102)" -ge 2 ] && [ "$pending" -eq 0 ] && [ "$moved" -gt "$moved_before" ] && [ "$moved" -eq "$last" ]; then break; fi
  last=$moved
  sleep 0.25
done
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 - 250 ))
entries_c=$(metric 19104 edgecache_cache_entries)

echo "| figure | value |"
echo "| --- | ---: |"
echo "| PUT req/s, local-only node (baseline) | $local_rps |"
echo "| PUT req/s, 2-node cluster, 2 replicas (acknowledged after both copies) | $cluster_rps |"
awk -v a="$cluster_rps" -v b="$local_rps" 'BEGIN {printf "| replicated PUT throughput vs local | %.2fx |\n", a / b}'
echo "| keys in the cluster before the join | $KEYS |"
echo "| entries moved to and between nodes by the join | $(( moved - moved_before )) |"
echo "| entries on the new node afterwards | ${entries_c%.*} |"
echo "| time from starting node-c to a settled rebalance | ${elapsed_ms} ms |"
echo "| samples (every 0.25 s) in which node-a or node-b saw a member down after node-c was up, failure timeout $FAILURE_TIMEOUT | $down_samples |"
