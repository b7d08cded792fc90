#!/usr/bin/env bash
# The control plane end to end over real processes (docs/controller.md, docs/operations.md): a
# 4-node cluster (node 4 hosts nothing at first) and its controller on loopback
# (scripts/cluster.sh --controller), driven by tigerctl:
#   1. every node registers and is live; the configured groups are registered, all healthy;
#   2. refusals: an unknown node; a drain that would leave a group with one live replica (node 3
#      killed) names the group; nothing starts;
#   3. node 4 was added empty: rebalance moves replicas onto it; the job succeeds;
#   4. drain node 1 while tigerchat-bench sends and subscribes (open loop) — the controller is
#      SIGKILLed in the middle of the job and restarted: the job resumes and succeeds; every group
#      ends with 3 healthy members none of which is node 1; the bench's checks (no acked message
#      lost or duplicated, gap-free order for every subscriber) pass.
#
#   tests/e2e/controller.sh BUILD_DIR
# Environment: TC_CLUSTER_BASE_PORT (default 28000), TC_KEEP=1 keeps the work directory.
# Prints PASS or FAIL; exit status 0 on PASS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: tests/e2e/controller.sh BUILD_DIR}" && pwd)
export TC_NODE_BIN=$build/node/tigerchat-node
export TC_CONTROLLER_BIN=$build/controller/server/tigerchat-controller
export TC_TIGERCTL_BIN=$build/tigerctl/tigerctl
bench=$build/bench/tigerchat-bench
export TC_CLUSTER_BASE_PORT=${TC_CLUSTER_BASE_PORT:-28000}
export TC_CLUSTER_NODES=4 TC_CLUSTER_JOURNAL_SLOTS=256 TC_CLUSTER_STORE_SEGMENTS=16
export TC_CONTROLLER_LIVENESS_MS=2000
base=$TC_CLUSTER_BASE_PORT
work=$(mktemp -d "${TMPDIR:-/tmp}/tc-controller.XXXXXX")
export TC_CLUSTER_DIR=$work/cluster
cluster=$root/scripts/cluster.sh
bench_pid=

fail() { echo "controller e2e: $*" >&2; echo "FAIL"; exit 1; }

cleanup() {
  local status=$?
  set +e
  [ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null
  "$cluster" down >/dev/null 2>&1
  if [ "$status" -ne 0 ]; then
    for f in "$TC_CLUSTER_DIR"/controller.log "$TC_CLUSTER_DIR"/node-*.log; do
      [ -f "$f" ] || continue
      echo "--- $(basename "$f") (tail)" >&2
      tail -n 25 "$f" >&2
    done
    [ -f "$work/bench.out" ] && { echo "--- bench" >&2; cat "$work/bench.out" >&2; }
  fi
  if [ "${TC_KEEP:-0}" = 1 ]; then echo "controller e2e: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$TC_TIGERCTL_BIN" --controller "http://127.0.0.1:$((base + 400))" --key "$TC_CLUSTER_DIR/admin" "$@"; }
# The value of `field` of node/group `id` in tigerctl --json output.
json_field() { # COMMAND ID FIELD
  ctl --json "$1" | /usr/bin/python3 -c 'import json,sys
rows = {str(r["id"]): r for r in json.load(sys.stdin)}
print(json.dumps(rows[sys.argv[1]][sys.argv[2]]) if sys.argv[1] in rows else "missing")' "$2" "$3"
}
wait_for() { # SECONDS DESCRIPTION COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.3
  done
}
node_live() { [ "$(json_field nodes "$1" live)" = "$2" ]; }

# --- 1. up, registered, healthy
"$cluster" up --controller >/dev/null || fail "cluster did not start"
ctl status > "$work/status.txt"
grep -q "4 active, 0 cordoned, 0 draining, 0 drained, 0 down, 4 live" "$work/status.txt" ||
  fail "not 4 live nodes: $(cat "$work/status.txt")"
grep -q "4 total, 4 healthy" "$work/status.txt" || fail "groups not healthy: $(cat "$work/status.txt")"
echo "controller e2e: 4 nodes live, 4 groups healthy"

# --- 2. refusals
if ctl drain 9 > "$work/out.txt" 2>&1; then fail "drain of an unknown node was accepted"; fi
grep -q "not in the cluster" "$work/out.txt" || fail "unknown node: $(cat "$work/out.txt")"
"$cluster" kill 3
wait_for 20 "node 3 not live" node_live 3 false
if ctl drain 1 > "$work/out.txt" 2>&1; then fail "a drain leaving 1 live replica was accepted"; fi
grep -q "group 1" "$work/out.txt" || fail "the quorum refusal names no group: $(cat "$work/out.txt")"
[ "$(ctl --json jobs | tr -d '[:space:]')" = "[]" ] || fail "a refused drain left a job"
echo "controller e2e: refused: $(tail -n 1 "$work/out.txt")"
"$cluster" start 3 >/dev/null
wait_for 30 "node 3 live again" node_live 3 true

# --- 3. node 4 joined empty: rebalance moves replicas onto it
ctl rebalance --max-moves 4 > "$work/rebalance.txt" 2>&1 || fail "rebalance: $(cat "$work/rebalance.txt")"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' "$work/rebalance.txt")
[ -n "$job" ] || fail "no rebalance job in: $(cat "$work/rebalance.txt")"
ctl job "$job" --watch > "$work/watch.txt" 2>&1 || fail "rebalance job failed: $(tail -n 12 "$work/watch.txt")"
hosted=$(ctl --json groups | /usr/bin/python3 -c 'import json,sys
print(sum(1 for g in json.load(sys.stdin) if 4 in g["members"]))')
[ "$hosted" -ge 1 ] || fail "rebalance moved nothing onto node 4"
echo "controller e2e: rebalance job $job succeeded; node 4 now hosts $hosted groups"

# --- 4. drain node 1 under load, with the controller killed and restarted mid-job
"$bench" ws --jwt-key-file "$TC_CLUSTER_DIR/jwt.key" \
  --nodes "127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3)),127.0.0.1:$((base + 4))" \
  --rate 100 --connections 4 --rooms 8 --subscribers 2 --duration-s 45 --warmup-s 1 \
  --drain-timeout-s 30 > "$work/bench.out" 2>&1 &
bench_pid=$!
sleep 3
ctl drain 1 > "$work/drain.txt" 2>&1 || fail "drain 1 refused: $(cat "$work/drain.txt")"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' "$work/drain.txt")
[ -n "$job" ] || fail "no job id in: $(cat "$work/drain.txt")"
job_done_steps() { ctl --json job "$job" | /usr/bin/python3 -c 'import json,sys
j = json.load(sys.stdin); print(sum(1 for m in j["moves"] if m["state"] == "done"))'; }
steps_at_least() { [ "$(job_done_steps)" -ge "$1" ]; }
wait_for 120 "the first steps of job $job" steps_at_least 2
"$cluster" kill controller
sleep 1
"$cluster" start controller >/dev/null || fail "controller did not restart"
echo "controller e2e: controller killed and restarted at $(job_done_steps) steps done"
ctl job "$job" --watch > "$work/watch.txt" 2>&1 || fail "job $job did not succeed: $(tail -n 12 "$work/watch.txt")"
echo "controller e2e: $(grep "^job $job" "$work/watch.txt" | tail -n 1)"
[ "$(json_field nodes 1 state)" = '"drained"' ] || fail "node 1 is $(json_field nodes 1 state)"
ctl --json groups | /usr/bin/python3 -c 'import json,sys
for g in json.load(sys.stdin):
    assert 1 not in g["members"], g
    assert g["health"] == "healthy", g
    assert len(set(g["members"])) == 3, g' || fail "groups after the drain: $(ctl groups)"
wait "$bench_pid" || fail "the bench's checks failed: $(tail -n 8 "$work/bench.out")"
bench_pid=
grep -q "gaps=0 duplicates=0 chain_breaks=0 hash_mismatches=0 missing=0" "$work/bench.out" ||
  fail "bench checks: $(grep checks "$work/bench.out")"
echo "controller e2e: bench $(grep -E '^ *committed' "$work/bench.out" | head -n 1 | xargs); $(grep checks "$work/bench.out" | xargs)"

"$TC_TIGERCTL_BIN" verify-audit --file "$TC_CLUSTER_DIR/controller/audit.jsonl" \
  --checkpoint "$TC_CLUSTER_DIR/controller/audit-checkpoints.jsonl" \
  --controller-key "$TC_CLUSTER_DIR/controller/controller.key.pub" > "$work/verify.txt" 2>&1 ||
  fail "the audit chain does not verify: $(cat "$work/verify.txt")"
echo "controller e2e: $(head -n 1 "$work/verify.txt")"
echo "PASS"
