#!/usr/bin/env bash
# The test command: unit tests under ASan+UBSan, the core determinism check (no clock, rand,
# syscalls or malloc in the core), a simulator sweep with coverage, determinism of digests,
# end-to-end tests against real processes (protocol, faults, forwarded reads, the Redis bus, the
# controller and tigerctl, replica replacement), and the planted-bug self-test of the simulator's
# checkers.
# Environment: TC_SIM_SEEDS (default 1-600), TC_SKIP_PLANTED=1 to skip planted bugs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
start=$(date +%s)

echo "== build (Sanitize: ASan + UBSan)"
san=$("$root/scripts/build.sh" Sanitize | tail -n 1)
echo "== unit tests (Sanitize)"
(cd "$san" && ctest --output-on-failure -L unit -j"$(nproc)")

echo "== build (Release, assertions on)"
rel=$("$root/scripts/build.sh" Release | tail -n 1)
echo "== core symbol check"
"$root/scripts/check-core-symbols.sh" "$rel"

seeds=${TC_SIM_SEEDS:-1-600}
echo "== simulator sweep: seeds $seeds (Release)"
"$rel/sim/tigerchat-sim" --seeds "$seeds" --require-coverage

echo "== simulator regression seeds (sim/regression-seeds)"
grep -vE '^[[:space:]]*(#|$)' "$root/sim/regression-seeds" | while read -r seed mode _; do
  flags=()
  [ "$mode" = heavy ] && flags=(--reconfig-heavy)
  "$rel/sim/tigerchat-sim" --seed "$seed" "${flags[@]}" --quiet | tail -n 1
done

echo "== simulator determinism (same seed, same digest; Release vs Sanitize build)"
for seed in 7 1234 99999; do
  a=$("$rel/sim/tigerchat-sim" --seed "$seed" | tail -n 1)
  b=$("$rel/sim/tigerchat-sim" --seed "$seed" | tail -n 1)
  c=$("$san/sim/tigerchat-sim" --seed "$seed" | tail -n 1)
  if [ "$a" != "$b" ] || [ "$a" != "$c" ]; then
    echo "nondeterministic seed $seed:"; echo " $a"; echo " $b"; echo " $c"; exit 1
  fi
  echo "  $a"
done

echo "== end to end: a real 3-node cluster driven by Python websockets (tests/e2e)"
"$root/tests/e2e/run.sh" "$rel/node/tigerchat-node"
echo "== end to end: forwarded reads through a node that hosts no replica"
"$root/tests/e2e/remote_reads.sh" "$rel/node/tigerchat-node"
echo "== end to end: the Redis bus against a real redis-server"
TC_NODE_BIN="$rel/node/tigerchat-node" "$root/tests/e2e/redis_bus.sh"
echo "== end to end: the control plane (controller, tigerctl, 4 nodes: refusals, rebalance, drain under load, controller SIGKILLed mid-job)"
"$root/tests/e2e/controller.sh" "$rel"
echo "== end to end: groups placed by the controller (nodes without groups in their configs: no_route, placement, restart from identity files, drain)"
"$root/tests/e2e/placed.sh" "$rel"
echo "== end to end: metrics and logs (promtool check metrics on every node and the controller, histograms, job progress, structured log lines)"
"$root/tests/e2e/metrics.sh" "$rel"
echo "== end to end: the protocol and fault suites on a cluster whose groups the controller placed"
TC_CLUSTER_PLACED=1 TC_CONTROLLER_BIN="$rel/controller/server/tigerchat-controller" \
  TC_TIGERCTL_BIN="$rel/tigerctl/tigerctl" "$root/tests/e2e/run.sh" "$rel/node/tigerchat-node"
echo "== end to end: replica replacement on running nodes (drains back and forth, restarts, a frozen member)"
"$root/tests/e2e/replace.sh" "$rel/node/tigerchat-node" "$rel/controller/server/tigerchat-controller" \
  "$rel/tigerctl/tigerctl"

echo "== end to end: the dashboard in a real terminal (tmux) against a real cluster and controller"
bash "$root/tests/tui/tmux.sh" "$rel"
echo "== packages: .deb and .rpm built by CPack, lintian, rpmlint, installed into a debootstrap root"
pkg=(env TC_PKG_CACHE="${TC_PKG_CACHE:-$root/build/pkg-cache}" "$root/tests/packaging/test_packages.sh"
  "$root/build/packages")
if [ "$(id -u)" -eq 0 ]; then
  "${pkg[@]}"
elif sudo -n true 2>/dev/null; then
  sudo -E "${pkg[@]}"
else
  echo "packages: not root and no sudo: the chroot install checks are SKIPPED (build, lint, rpm checks run)"
  TC_PKG_SKIP_CHROOT=1 "${pkg[@]}"
fi

if [ "${TC_SKIP_PLANTED:-0}" != "1" ]; then
  echo "== planted bugs (each must be caught by the simulator)"
  "$root/scripts/planted-bugs.sh"
fi
echo "== all tests passed in $(( $(date +%s) - start ))s"
