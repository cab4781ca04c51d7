#!/usr/bin/env bash
# Registration entries of the walkthrough, with spire-server's `entry create` flags.
#
#   register.sh          the agent's node entry, then front, blue and red (green is left out on
#                        purpose: its sidecar gets no SVID, so front's health checks fail it)
#   register.sh green    adds green's entry (the walkthrough's registerGreen step)
#
# `trustmesh up examples/color-app` runs it once with no argument. By hand, against a running
# runtime: `examples/color-app/register.sh green`. The server's admin socket comes from
# TRUSTMESH_SERVER_SOCKET (default: the runtime's, /run/trustmesh/server/api.sock).
set -euo pipefail

TRUST_DOMAIN="${TRUST_DOMAIN:-howto-k8s-mtls-sds-based.aws}"
CLUSTER_NAME="${CLUSTER_NAME:-k8s-cluster}"
NAMESPACE=howto-k8s-mtls-sds-based
AGENT_ID="spiffe://${TRUST_DOMAIN}/ns/spire/sa/spire-agent"
export TRUSTMESH_SERVER_SOCKET="${TRUSTMESH_SERVER_SOCKET:-/run/trustmesh/server/api.sock}"

# The trustmesh command: $TRUSTMESH, else one on PATH, else this checkout's (built or from source).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -n "${TRUSTMESH:-}" ]; then
  trustmesh=("$TRUSTMESH")
elif command -v trustmesh >/dev/null 2>&1; then
  trustmesh=(trustmesh)
elif [ -f "$repo/dist/cli/main.js" ]; then
  trustmesh=(node "$repo/bin/trustmesh.js")
else
  trustmesh=(node --import tsx "$repo/src/cli/main.ts")
fi

entry_create() {
  "${trustmesh[@]}" server entry create "$@"
}

register_agent() {
  echo "Registering an entry for the agent..."
  entry_create \
    -node \
    -spiffeID "$AGENT_ID" \
    -selector "k8s_sat:cluster:${CLUSTER_NAME}" \
    -selector k8s_sat:agent_ns:spire \
    -selector k8s_sat:agent_sa:spire-agent
}

# register_workload <spiffe-path> <selector>… : an envoy sidecar's entry, parented to the agent.
register_workload() {
  local path="$1"
  shift
  echo "Registering an entry for ${path}..."
  local selectors=()
  for s in "k8s:ns:${NAMESPACE}" k8s:sa:default "$@" k8s:container-name:envoy; do
    selectors+=(-selector "$s")
  done
  entry_create -parentID "$AGENT_ID" -spiffeID "spiffe://${TRUST_DOMAIN}/${path}" "${selectors[@]}"
}

register_color() {
  register_workload "color$1" k8s:pod-label:app:color "k8s:pod-label:version:$1"
}

case "${1:-}" in
  "")
    register_agent
    register_workload front k8s:pod-label:app:front
    register_color blue
    register_color red
    ;;
  green)
    register_color green
    ;;
  *)
    echo "usage: $0 [green]" >&2
    exit 2
    ;;
esac
