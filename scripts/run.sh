#!/usr/bin/env bash
# The main job: install dependencies, build, start a local 3-node TigerChat cluster and its
# controller on loopback (scripts/cluster.sh --controller; data under ./cluster) and run a short
# demo against it that shows messages flowing between users on different nodes (scripts/demo.py),
# then the control plane's view of it (tigerctl status, groups). The cluster keeps running
# afterwards; stop it with `scripts/cluster.sh down` (or pass --down to stop it after the demo).
# The deterministic simulator of the same replica code: build/release/sim/tigerchat-sim --seed N.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
dir=$("$root/scripts/build.sh" Release | tail -n 1)
export TC_NODE_BIN=$dir/node/tigerchat-node
export TC_CONTROLLER_BIN=$dir/controller/server/tigerchat-controller
export TC_TIGERCTL_BIN=$dir/tigerctl/tigerctl
"$root/scripts/cluster.sh" up --controller
"$root/scripts/demo.py" --dir "${TC_CLUSTER_DIR:-$root/cluster}" \
  --base-port "${TC_CLUSTER_BASE_PORT:-7000}"
"$root/scripts/cluster.sh" status
if [ "${1:-}" = "--down" ]; then
  "$root/scripts/cluster.sh" down
else
  echo "the cluster is still running: ws://127.0.0.1:7001/v1/ws (docs/protocol.md);"
  echo "  a token: scripts/cluster.sh token USER; stop: scripts/cluster.sh down"
  echo "  operate it: $TC_TIGERCTL_BIN --controller http://127.0.0.1:$(( ${TC_CLUSTER_BASE_PORT:-7000} + 400 )) --key ${TC_CLUSTER_DIR:-$root/cluster}/admin status"
fi
