#!/usr/bin/env bash
# Builds the simulator once per planted bug (compile-time switch) and checks that the simulator's
# checkers catch it within a bounded number of seeds. Exits 1 if any bug goes unnoticed.
# Usage: scripts/planted-bugs.sh [seeds_max]   (default 300)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds_max=${1:-300}
bugs=(commit_single_ok ack_before_durable view_change_shortest_log skip_idempotency
      checkpoint_nondeterministic learner_quorum old_epoch_accepted slot_reuse_early)
failed=0
for bug in "${bugs[@]}"; do
  dir="$root/build/planted-$bug"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTC_PLANTED_BUG="$bug" >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target tigerchat-sim >/dev/null
  caught=""
  for seed in $(seq 1 "$seeds_max"); do
    if ! out=$("$dir/sim/tigerchat-sim" --seed "$seed" 2>&1); then
      caught=$(echo "$out" | grep -m1 -E 'invariant=' || echo "$out" | tail -n 1)
      echo "planted bug $bug: caught at seed $seed: $caught"
      break
    fi
  done
  if [ -z "$caught" ]; then
    echo "planted bug $bug: NOT caught within $seeds_max seeds"
    failed=1
  fi
done
exit $failed
