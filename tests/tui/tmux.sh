#!/usr/bin/env bash
# The dashboard end to end: a real 4-node cluster and its controller on loopback
# (scripts/cluster.sh --controller, node 4 empty), tigerchat-tui running in a private tmux server
# (120x40), driven with send-keys and read with capture-pane:
#   1. the panes show the real nodes and groups (checked against tigerctl --json);
#   2. ? shows the help; / filters the nodes pane;
#   3. d on node 1 shows the controller's drain plan; a wrong name cancels it: no job (tigerctl);
#   4. v verifies the audit chain over the API: PASS;
#   5. r shows the rebalance plan, y starts the signed job; the jobs pane follows it to the end
#      (tigerctl agrees);
#   6. the controller is SIGKILLed: the header says it is down and the last view stays, v fails
#      with the reason; it is restarted: the dashboard recovers;
#   7. the window shrinks below 80x20: "terminal too small"; it grows back: the panes return;
#   8. q exits with status 0 (under ASan/LSan too: no leak reports).
# Also runs `tigerctl top` briefly (the same dashboard through tigerctl).
#
#   tests/tui/tmux.sh BUILD_DIR
# Environment: TC_CLUSTER_BASE_PORT (default 7800: nodes 7801-7804, controller 8200),
# TC_KEEP=1 keeps the work directory, TC_TUI_CAPTURE_DIR=DIR saves screen captures there.
# Prints PASS or FAIL (with the screen); exit status 0 on PASS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: tests/tui/tmux.sh BUILD_DIR}" && pwd)
export TC_NODE_BIN=$build/node/tigerchat-node
export TC_CONTROLLER_BIN=$build/controller/server/tigerchat-controller
export TC_TIGERCTL_BIN=$build/tigerctl/tigerctl
tui=$build/tui/tigerchat-tui
export TC_CLUSTER_BASE_PORT=${TC_CLUSTER_BASE_PORT:-7800}
export TC_CLUSTER_NODES=4 TC_CLUSTER_JOURNAL_SLOTS=256 TC_CLUSTER_STORE_SEGMENTS=16
export TC_CONTROLLER_LIVENESS_MS=2000
base=$TC_CLUSTER_BASE_PORT
controller_url="http://127.0.0.1:$((base + 400))"
work=$(mktemp -d "${TMPDIR:-/tmp}/tc-tui.XXXXXX")
export TC_CLUSTER_DIR=$work/cluster
cluster=$root/scripts/cluster.sh
socket="tc-tui-$$" # a private tmux server: nobody else's sessions are touched
captures=${TC_TUI_CAPTURE_DIR:-}
started=$(date +%s)

command -v tmux >/dev/null || { echo "tui e2e: tmux is not installed"; echo "FAIL"; exit 1; }
for binary in "$tui" "$TC_NODE_BIN" "$TC_CONTROLLER_BIN" "$TC_TIGERCTL_BIN"; do
  [ -x "$binary" ] || { echo "tui e2e: no $binary (build first)"; echo "FAIL"; exit 1; }
done

tm() { tmux -L "$socket" "$@"; }
screen() { tm capture-pane -p -t tui 2>/dev/null || true; }

fail() {
  echo "tui e2e: $*" >&2
  echo "--- the screen at the failure:" >&2
  screen >&2
  echo "---" >&2
  echo "FAIL"
  exit 1
}

cleanup() {
  local status=$?
  set +e
  tm kill-server >/dev/null 2>&1
  "$cluster" down >/dev/null 2>&1
  if [ "$status" -ne 0 ]; then
    for f in "$TC_CLUSTER_DIR"/controller.log "$work"/tui.err; do
      [ -s "$f" ] || continue
      echo "--- $(basename "$f") (tail)" >&2
      tail -n 20 "$f" >&2
    done
  fi
  if [ "${TC_KEEP:-0}" = 1 ]; then echo "tui e2e: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$TC_TIGERCTL_BIN" --controller "$controller_url" --key "$TC_CLUSTER_DIR/admin" "$@"; }
step() { echo "tui e2e: [$(( $(date +%s) - started ))s] $*"; }
keys() { tm send-keys -t tui "$@"; }

# Waits until the screen matches (grep -E) PATTERN, or fails naming WHAT.
wait_screen() { # SECONDS WHAT PATTERN
  local deadline=$(( $(date +%s) + $1 ))
  until screen | grep -qE -- "$3"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out ($1 s) waiting for $2 (/$3/)"
    sleep 0.2
  done
}
wait_gone() { # SECONDS WHAT PATTERN
  local deadline=$(( $(date +%s) + $1 ))
  while screen | grep -qE -- "$3"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out ($1 s) waiting for $2 to go (/$3/)"
    sleep 0.2
  done
}
expect_screen() { screen | grep -qE -- "$2" || fail "$1 (/$2/ not on the screen)"; }
expect_not() { ! screen | grep -qE -- "$2" || fail "$1 (/$2/ is on the screen)"; }
save() { [ -z "$captures" ] || { mkdir -p "$captures"; screen > "$captures/$1.txt"; }; }

# --- 0. the cluster
"$cluster" up --controller > "$work/up.txt" 2>&1 || fail "cluster did not start: $(tail -n 5 "$work/up.txt")"
ctl status | grep -q "4 total, 4 healthy" || fail "groups not healthy before the test: $(ctl status)"
step "cluster up: 4 nodes, 4 groups, controller $controller_url"

# --- 1. the panes show the real nodes and groups
tm new-session -d -s tui -x 120 -y 40 \
  "'$tui' --controller '$controller_url' --key '$TC_CLUSTER_DIR/admin' --refresh-ms 500 \
   2> '$work/tui.err'; echo \$? > '$work/tui.exit'"
wait_screen 20 "the first refresh" "nodes 4/4 live"
expect_screen "the header names the cluster and its health" "TigerChat 'local' HEALTHY  controller up"
expect_screen "the header shows the audit head" "audit seq [0-9]+ head [0-9a-f]{16} \(writable\)"
for id in $(ctl --json nodes | python3 -c 'import json,sys; print(" ".join(str(n["id"]) for n in json.load(sys.stdin)))'); do
  expect_screen "node $id is in the nodes pane" "^ +$id active +yes "
done
for id in $(ctl --json groups | python3 -c 'import json,sys; print(" ".join(str(g["id"]) for g in json.load(sys.stdin)))'); do
  members=$(ctl --json groups | python3 -c 'import json,sys
g = {str(g["id"]): g for g in json.load(sys.stdin)}[sys.argv[1]]; print(" ".join(map(str, g["members"])))' "$id")
  row=$(screen | grep -E "^ +$id +[0-9]+ +[0-9]+ +[0-9?]+ [0-9*!,]+ .*healthy" || true)
  [ -n "$row" ] || fail "group $id is not a healthy row of the groups pane"
  shown=$(echo "$row" | awk '{print $5}' | tr -d '*!' | tr ',' '\n' | sort | xargs)
  [ "$shown" = "$(echo "$members" | tr ' ' '\n' | sort | xargs)" ] ||
    fail "group $id: members $members, the pane shows $shown"
done
expect_screen "the audit tail shows the group registrations" "group\.create +ok"
save overview
step "panes: nodes 1-4 and groups 1-4 with their members, as tigerctl reports them"

# --- 2. help and filter
keys '?'
wait_screen 5 "the help" "Press any key to close"
expect_screen "the help lists the drain key" "drain the selected node"
keys x
wait_gone 5 "the help" "Press any key to close"
keys / 7 8 0 4 Enter
wait_screen 5 "the filtered nodes pane" "Nodes \(1 of 4, filter: 7804\)"
expect_screen "node 4 passes the filter" "^ +4 active"
expect_not "node 1 is filtered out" "^ +1 active"
keys / Enter
wait_screen 5 "the filter cleared" "^Nodes \(4\)"
step "help shown and closed; / filtered the nodes to node 4 and back"

# --- 3. drain node 1: the plan, a wrong name cancels
keys Home d
wait_screen 10 "the drain plan" "plan: drain node 1, [0-9]+ steps? \(topology version [0-9]+"
expect_screen "the plan has its steps" "move_primary|replace"
expect_screen "the prompt asks for the node's name" "Type the node's name \(1\)"
save drain-plan
keys 2 Enter
wait_screen 5 "the cancellation" "drain cancelled: '2' is not the node's name '1'; nothing started"
[ "$(ctl --json jobs | tr -d '[:space:]')" = "[]" ] || fail "a cancelled drain started a job: $(ctl jobs)"
keys x
step "d: drain plan shown, wrong name cancelled, tigerctl jobs: none"

# --- 4. verify the audit chain
keys v
wait_screen 30 "the verification" "PASS seq 1\.\.[0-9]+ \([0-9]+ entries\)"
expect_screen "the chain ends in the controller's head" "is the head /v1/status"
save verify
step "v: $(screen | grep -oE 'PASS seq 1\.\.[0-9]+ \([0-9]+ entries\)')"
keys x

# --- 5. rebalance: plan, confirm, the job runs to the end in the jobs pane
keys r
wait_screen 10 "the rebalance plan" "plan: rebalance \(at most 8 moves\), [1-9][0-9]* steps?"
expect_screen "the rebalance moves a replica onto node 4" "replace +[0-9] -> 4"
keys y
wait_screen 15 "the job's start" "job [0-9]+ started: rebalance \(audit seq [0-9]+\)"
job=$(screen | sed -nE 's/.*job ([0-9]+) started: rebalance.*/\1/p' | head -n 1)
keys x
wait_screen 10 "the job in the jobs pane" "^ +$job rebalance +(running|succeeded) +[0-9]+/[0-9]+ \["
# Follow it: the running step's progress (the controller's text) shows while it runs.
deadline=$(( $(date +%s) + 180 )) progress_seen=0
until screen | grep -qE "^ +$job rebalance +succeeded +([0-9]+)/\1 \[#+\]"; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for job $job to succeed in the jobs pane"
  if [ "$progress_seen" = 0 ] && screen | grep -qE "^ +$job rebalance +running +[0-9]+/[0-9]+ \[[#.]+\] step [0-9]+: "; then
    progress_seen=1
    save rebalance-running
  fi
  sleep 0.2
done
[ "$progress_seen" = 1 ] || echo "tui e2e: note: the job ended before a refresh showed its running step"
ctl --json job "$job" | grep -q '"state":"succeeded"' || fail "tigerctl says job $job: $(ctl job "$job")"
step "r: job $job started from the dashboard, followed to succeeded ($(ctl job "$job" | head -n 1))"

# --- 6. the controller dies and comes back
wait_screen 15 "node 4 to host replicas" "^ +4 active +yes +[0-9]+s +- +[1-9]"
"$cluster" kill controller
wait_screen 10 "the header to say the controller is down" "CONTROLLER DOWN: showing the view of"
expect_screen "line 1 says so too" "controller DOWN"
sleep 3
expect_screen "the last view stays (nodes)" "^ +1 active +yes"
expect_screen "the last view stays (groups)" "^ +1 +[0-9]+ +[0-9]+ .*healthy"
save controller-down
keys v
wait_screen 10 "v to fail while the controller is down" "\\| controller at http://[0-9.:]+ unreachable"
expect_screen "the failure is in a Failed box" "\\+- Failed -"
keys x
wait_gone 5 "the failure box" "press any key"
"$cluster" start controller >/dev/null || fail "the controller did not restart"
wait_screen 30 "the dashboard to recover" "controller up"
wait_gone 5 "the down line" "CONTROLLER DOWN"
step "controller killed: header said DOWN, last view kept, v failed with the reason; restarted: recovered"

# --- 7. a small terminal
tm resize-window -t tui -x 60 -y 15
wait_screen 5 "the too-small message" "terminal too small: 60x15"
keys '?'
sleep 0.5
expect_screen "keys other than q are ignored while too small" "terminal too small: 60x15"
tm resize-window -t tui -x 120 -y 40
wait_screen 5 "the panes after growing back" "nodes 4/4 live"
expect_not "no help opened by the key pressed while too small" "Press any key to close"
step "resized to 60x15: 'terminal too small'; back to 120x40: panes again"

# --- 8. q quits cleanly
keys q
deadline=$(( $(date +%s) + 10 ))
until [ -s "$work/tui.exit" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "q did not end the dashboard"
  sleep 0.2
done
[ "$(cat "$work/tui.exit")" = 0 ] || fail "the dashboard exited with $(cat "$work/tui.exit"): $(cat "$work/tui.err")"
[ ! -s "$work/tui.err" ] || fail "the dashboard wrote to stderr: $(head -n 20 "$work/tui.err")"
step "q: exit status 0, nothing on stderr"

# --- tigerctl top: the same dashboard through tigerctl
tm new-session -d -s tui -x 100 -y 30 \
  "'$TC_TIGERCTL_BIN' --controller '$controller_url' top --refresh-ms 500 2> '$work/tui.err'; \
   echo \$? > '$work/top.exit'"
wait_screen 20 "tigerctl top's first refresh" "nodes 4/4 live"
keys q
deadline=$(( $(date +%s) + 10 ))
until [ -s "$work/top.exit" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "q did not end tigerctl top"
  sleep 0.2
done
[ "$(cat "$work/top.exit")" = 0 ] || fail "tigerctl top exited with $(cat "$work/top.exit")"
step "tigerctl top: the same dashboard, q exits 0"
echo "PASS"
