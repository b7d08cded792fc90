#!/usr/bin/env bash
# The main job (for now): install dependencies, build, and run a simulated 3-replica cluster under
# faults with real replica code, printing what it did. (The real-process cluster comes with the
# node issue; see docs/.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
dir=$("$root/scripts/build.sh" Release | tail -n 1)
seed=${1:-42}
echo "running: tigerchat-sim --seed $seed"
"$dir/sim/tigerchat-sim" --seed "$seed"
