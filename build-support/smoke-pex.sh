#!/usr/bin/env bash
# Start every packaged PEX once, as a user would (`dist/<name>.pex`), and check it serves:
# the three domains (demo mode, loopback) until /health/ready, the aggregator in front of them
# until /health/ready, then the client listing the aggregator's tools. Stops all of them.
#
#   ./pants package :: && build-support/smoke-pex.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_ready() {  # name port pid
  for _ in $(seq 1 300); do
    if python3 -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$2/health/ready', timeout=2)" 2>/dev/null; then
      echo "smoke: dist/mcp-$1.pex is ready on port $2"
      return 0
    fi
    if ! kill -0 "$3" 2>/dev/null; then
      echo "smoke: dist/mcp-$1.pex exited; its log:" >&2
      tail -20 "$work/$1.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "smoke: dist/mcp-$1.pex was not ready within 60 s; its log:" >&2
  tail -20 "$work/$1.log" >&2
  return 1
}

clusters=""
for domain in users tickets data; do
  port="$(free_port)"
  prefix="MCP_$(echo "$domain" | tr a-z A-Z)"
  env "${prefix}_PORT=$port" "${prefix}_DEMO=true" \
    "${prefix}_DATABASE_URL=sqlite+aiosqlite:///$work/$domain.sqlite3" \
    "dist/mcp-$domain.pex" >"$work/$domain.log" 2>&1 &
  pids+=($!)
  wait_ready "$domain" "$port" "$!"
  clusters+="
  - name: $domain
    type: STATIC
    load_assignment:
      cluster_name: $domain
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $port}}}}]}]"
done
printf 'static_resources:\n  clusters:%s\n' "$clusters" >"$work/upstreams.yaml"

port="$(free_port)"
MCP_AGGREGATOR_PORT="$port" MCP_AGGREGATOR_UPSTREAMS_FILE="$work/upstreams.yaml" \
  MCP_AGGREGATOR_READINESS_POLICY=all dist/mcp-aggregator.pex >"$work/aggregator.log" 2>&1 &
pids+=($!)
wait_ready aggregator "$port" "$!"

listed="$(dist/mcp-client.pex --url "http://127.0.0.1:$port/mcp" tools --json)"
count="$(python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' <<<"$listed")"
if [[ "$count" -lt 5 ]]; then
  echo "smoke: dist/mcp-client.pex listed $count tools through the aggregator, expected 5" >&2
  exit 1
fi
echo "smoke: dist/mcp-client.pex lists $count tools through dist/mcp-aggregator.pex"
