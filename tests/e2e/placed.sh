#!/usr/bin/env bash
# Groups placed by the controller, end to end over real processes (docs/node.md §15,
# docs/controller.md §5): 4 nodes whose configs list no group, and their controller
# (scripts/cluster.sh --placed), driven by tigerctl:
#   1. no group yet: every room is refused no_route; `groups create --id 1 --slots 0-2047` places
#      group 1 on 3 nodes, which format, start and route it; a room of a slot < 2048 takes messages
#      while a room of a slot >= 2048 is still refused no_route on every node;
#   2. group 2 takes slots 2048-4095 (placement puts it on the least loaded nodes, node 4 first):
#      the refused room now works; moving a routed slot is refused (C8);
#   3. a member node is SIGKILLed and restarted: it hosts both groups again from their identity
#      files and serves the history;
#   4. drain node 1: its replicas are replaced on the others (learners in topology mode); every
#      group ends with 3 members, none of them node 1, and every message reads back on nodes 2-4;
#   5. node 5, which no other node's config lists, joins (scripts/cluster.sh join): the others
#      learn its address from the topology; a rebalance moves replicas onto it, and it serves the
#      history of both groups.
#
#   tests/e2e/placed.sh BUILD_DIR
# Environment: TC_CLUSTER_BASE_PORT (default 29000), TC_KEEP=1 keeps the work directory.
# Prints PASS or FAIL; exit status 0 on PASS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: tests/e2e/placed.sh BUILD_DIR}" && pwd)
export TC_NODE_BIN=$build/node/tigerchat-node
export TC_CONTROLLER_BIN=$build/controller/server/tigerchat-controller
export TC_TIGERCTL_BIN=$build/tigerctl/tigerctl
export TC_CLUSTER_BASE_PORT=${TC_CLUSTER_BASE_PORT:-29000}
export TC_CLUSTER_NODES=4 TC_CLUSTER_JOURNAL_SLOTS=256 TC_CLUSTER_STORE_SEGMENTS=16
export TC_CLUSTER_PLACED=1 TC_CLUSTER_PLACED_GROUPS=0 TC_CONTROLLER_LIVENESS_MS=2000
base=$TC_CLUSTER_BASE_PORT
work=$(mktemp -d "${TMPDIR:-/tmp}/tc-placed.XXXXXX")
export TC_CLUSTER_DIR=$work/cluster
cluster=$root/scripts/cluster.sh
state=$work/state.json
py() { /usr/bin/python3 "$root/tests/e2e/placed.py" "$@"; }

fail() { echo "placed e2e: $*" >&2; echo "FAIL"; exit 1; }
cleanup() {
  local status=$?
  set +e
  "$cluster" down >/dev/null 2>&1
  if [ "$status" -ne 0 ]; then
    for f in "$TC_CLUSTER_DIR"/controller.log "$TC_CLUSTER_DIR"/node-*.log; do
      [ -f "$f" ] || continue
      echo "--- $(basename "$f") (tail)" >&2
      tail -n 25 "$f" >&2
    done
  fi
  if [ "${TC_KEEP:-0}" = 1 ]; then echo "placed e2e: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$TC_TIGERCTL_BIN" --controller "http://127.0.0.1:$((base + 400))" --key "$TC_CLUSTER_DIR/admin" "$@"; }
wait_for() { # SECONDS DESCRIPTION COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.3
  done
}
members() { # GROUP: its members, "a,b,c"
  ctl --json groups | /usr/bin/python3 -c 'import json,sys
print(",".join(str(m) for g in json.load(sys.stdin) if g["id"] == int(sys.argv[1]) for m in g["members"]))' "$1"
}
live_nodes() { for f in "$TC_CLUSTER_DIR"/node-*.pid; do basename "$f" .pid | cut -d- -f2; done; }
# Every member of GROUP hosts it (its replica gauge is on the node's /metrics), one leads it,
# and every node is healthy (its edge registered with every group).
group_running() { # GROUP
  local g=$1 n leaders=0
  for n in $(members "$g" | tr , ' '); do
    curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + n))/metrics" | grep -q "^tigerchat_replica_primary{group=\"$g\"" || return 1
  done
  for n in $(live_nodes); do
    curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + n))/healthz" >/dev/null 2>&1 || return 1
    if curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + n))/metrics" |
      grep -q "^tigerchat_replica_primary{group=\"$g\",.*} 1$"; then leaders=$((leaders + 1)); fi
  done
  [ "$leaders" -ge 1 ]
}

# --- 1. no groups, then group 1 with half the slots
"$cluster" up >/dev/null || fail "cluster did not start"
ctl groups | grep -q "no groups" || fail "groups exist before any was created: $(ctl groups)"
py none || fail "step none"
ctl groups create --id 1 --slots 0-2047 > "$work/out.txt" 2>&1 || fail "group 1: $(cat "$work/out.txt")"
wait_for 30 "group 1 running on its members" group_running 1
echo "placed e2e: group 1 placed on nodes $(members 1), running"
py unrouted "$state" || fail "step unrouted"

# --- 2. group 2 takes the other half
ctl groups create --id 2 --slots 2048-4095 > "$work/out.txt" 2>&1 || fail "group 2: $(cat "$work/out.txt")"
case ",$(members 2)," in *,4,*) ;; *) fail "group 2 not placed on the empty node 4: $(members 2)" ;; esac
wait_for 30 "group 2 running on its members" group_running 2
echo "placed e2e: group 2 placed on nodes $(members 2), running"
py routed "$state" || fail "step routed"
if ctl groups create --id 3 --slots 100 > "$work/out.txt" 2>&1; then fail "a routed slot moved"; fi
grep -q "slot 100 already routes to group 1" "$work/out.txt" || fail "refusal: $(cat "$work/out.txt")"
py history "$state" 1 2 3 4 || fail "history before the restart"

# --- 3. a member of both groups restarts from its identity files
victim=$(comm -12 <(members 1 | tr , '\n' | sort) <(members 2 | tr , '\n' | sort) | grep -v '^1$' | head -1)
[ -n "$victim" ] || fail "no node other than 1 is in both groups"
"$cluster" kill "$victim"
"$cluster" start "$victim" >/dev/null || fail "node $victim did not restart"
for g in 1 2; do
  wait_for 10 "node $victim hosting group $g from its identity file" grep -q \
    "group $g: hosting replica .*(identity file of an epoch-0 member" "$TC_CLUSTER_DIR/node-$victim.log"
done
wait_for 30 "group 1 running after the restart" group_running 1
wait_for 30 "group 2 running after the restart" group_running 2
py history "$state" "$victim" || fail "history on the restarted node $victim"
echo "placed e2e: node $victim restarted and hosts both groups from their identity files"

# --- 4. drain node 1
ctl drain 1 > "$work/drain.txt" 2>&1 || fail "drain 1: $(cat "$work/drain.txt")"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' "$work/drain.txt")
[ -n "$job" ] || fail "no job id in: $(cat "$work/drain.txt")"
ctl job "$job" --watch > "$work/watch.txt" 2>&1 || fail "drain job failed: $(tail -n 12 "$work/watch.txt")"
for g in 1 2; do
  case ",$(members "$g")," in *,1,*) fail "group $g still on node 1: $(members "$g")" ;; esac
  [ "$(members "$g" | tr , '\n' | sort -u | wc -l)" = 3 ] || fail "group $g: members $(members "$g")"
  wait_for 30 "group $g running after the drain" group_running "$g"
done
py history "$state" 2 3 4 || fail "history after the drain"
echo "placed e2e: node 1 drained (job $job); groups 1: $(members 1), 2: $(members 2)"

# --- 5. node 5 joins at run time
"$cluster" join 5 >/dev/null || fail "node 5 did not join"
node_live() { ctl --json nodes | /usr/bin/python3 -c 'import json,sys
sys.exit(0 if any(n["id"] == 5 and n["live"] for n in json.load(sys.stdin)) else 1)'; }
wait_for 30 "node 5 live" node_live
for n in 2 3 4; do
  wait_for 30 "node $n linking node 5" grep -q "peer node 5 '127.0.0.1:$((base + 105))' joined" \
    "$TC_CLUSTER_DIR/node-$n.log"
done
ctl rebalance --max-moves 2 > "$work/rebalance.txt" 2>&1 || fail "rebalance: $(cat "$work/rebalance.txt")"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' "$work/rebalance.txt")
[ -n "$job" ] || fail "no rebalance job in: $(cat "$work/rebalance.txt")"
ctl job "$job" --watch > "$work/watch.txt" 2>&1 || fail "rebalance failed: $(tail -n 12 "$work/watch.txt")"
case ",$(members 1),$(members 2)," in *,5,*) ;; *) fail "nothing moved onto node 5" ;; esac
for g in 1 2; do wait_for 30 "group $g running after the rebalance" group_running "$g"; done
py history "$state" 5 || fail "history through node 5"
echo "placed e2e: node 5 joined; rebalance (job $job): groups 1: $(members 1), 2: $(members 2)"
echo "PASS"
