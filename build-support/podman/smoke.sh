#!/usr/bin/env bash
# Start a service image as it runs in a pod (read-only root, UID 1000, only /tmp writable, no
# capabilities) and wait until it answers /health/ready; then stop it.
#
#   build-support/podman/smoke.sh mcp-platform/mcp-users:0.1.0 MCP_USERS
#
# The container shares the host's network and listens on a free loopback port: podman's own
# networking (netavark, iptables) is not available on every machine this runs on. Demo mode
# (the embedded reference API) and no inbound authentication, which loopback allows.
set -euo pipefail

image="$1" prefix="$2"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

cid="$(podman run --detach --read-only --user 1000:1000 --tmpfs /tmp:rw,size=64m \
  --cap-drop=ALL --security-opt=no-new-privileges --network=host \
  --env "${prefix}_HOST=127.0.0.1" --env "${prefix}_PORT=${port}" \
  --env "${prefix}_DEMO=true" --env "${prefix}_AUTH=none" "$image")"
trap 'podman rm --force --time 5 "$cid" >/dev/null' EXIT

for _ in $(seq 1 60); do
  if answer="$(curl --silent --fail --max-time 2 "http://127.0.0.1:${port}/health/ready")"; then
    user="$(podman exec "$cid" /app/bin/python -c 'import os; print(os.getuid())' 2>/dev/null || echo '?')"
    echo "smoke: ${image} ready as UID ${user} on a read-only root: ${answer}"
    exit 0
  fi
  if [[ "$(podman inspect --format '{{.State.Running}}' "$cid")" != "true" ]]; then
    break
  fi
  sleep 0.5
done
echo "smoke: ${image} did not answer /health/ready; its log:" >&2
podman logs "$cid" 2>&1 | tail -n 30 >&2
exit 1
