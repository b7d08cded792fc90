#!/usr/bin/env bash
# The release gate: N simulator seeds (default 30000) across all cores, Release build with
# assertions on. Prints failing seeds, the coverage table and a summary; records nothing by itself
# (copy the summary into docs/simulator.md with the commit it ran on).
# Usage: scripts/sim-swarm.sh [N] [first_seed]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-30000}
first=${2:-1}
dir=$("$root/scripts/build.sh" Release | tail -n 1)
jobs=$(nproc)
per=$(( (n + jobs - 1) / jobs ))
tmp=$(mktemp -d)
start=$(date +%s)
for j in $(seq 0 $((jobs - 1))); do
  a=$(( first + j * per )); b=$(( a + per - 1 )); last=$(( first + n - 1 ))
  [ "$a" -gt "$last" ] && continue
  [ "$b" -gt "$last" ] && b=$last
  "$dir/sim/tigerchat-sim" --seeds "$a-$b" > "$tmp/$j.txt" 2>&1 &
done
wait || true
grep -h "FAILED" "$tmp"/*.txt || true
passed=0; failed=0
for f in "$tmp"/*.txt; do
  line=$(grep -E '^seeds=' "$f" | tail -n 1)
  p=$(echo "$line" | sed -E 's/.*passed=([0-9]+).*/\1/'); q=$(echo "$line" | sed -E 's/.*failed=([0-9]+).*/\1/')
  passed=$((passed + p)); failed=$((failed + q))
done
echo "swarm: seeds=$first-$(( first + n - 1 )) passed=$passed failed=$failed commit=$(git -C "$root" rev-parse --short HEAD) seconds=$(( $(date +%s) - start ))"
rm -rf "$tmp"
[ "$failed" -eq 0 ]
