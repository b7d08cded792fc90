#!/bin/sh
# End-to-end test of tigerctl's controller commands against a real tigerchat-controller
# (docs/controller.md §8 is the contract):
#   test_tigerctl_controller.sh TIGERCTL CONTROLLER WORKDIR HEARTBEAT_FIXTURE
# Formats a controller in WORKDIR, starts it on a free loopback port, and runs every command:
# reads, signed actions by admin/operator/viewer/unknown keys (forbidden, unknown_key, refused),
# plans (--dry-run), drain jobs (one followed to its end with --watch, one cancelled), the audit
# chain (then verified offline with tigerctl verify-audit: tigerctl's signatures are the chain's
# actor signatures), key removal, and finally the controller stopped: exit 3. There are no real
# nodes: HEARTBEAT_FIXTURE (tests/tigerctl/heartbeat_fixture.c) sends each node's signed
# heartbeats, so the controller counts them live (placement and plans need live nodes), but no
# node ever carries out a step.
set -eu
tigerctl=$1
controller=$2
work=$3
heartbeat=$4
case $tigerctl in /*) ;; *) tigerctl=$(pwd)/$tigerctl ;; esac
case $controller in /*) ;; *) controller=$(pwd)/$controller ;; esac
case $heartbeat in /*) ;; *) heartbeat=$(pwd)/$heartbeat ;; esac
rm -rf "$work"
mkdir -p "$work"
cd "$work"

pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout" >&2; cat out.txt >&2 || true
  echo "--- stderr" >&2; cat err.txt >&2 || true
  echo "--- controller.log (tail)" >&2; tail -n 30 controller.log >&2 || true
  exit 1
}

# run EXIT COMMAND...: runs the command, output in out.txt/err.txt, and checks its exit code.
run() {
  want=$1
  shift
  set +e
  "$@" >out.txt 2>err.txt
  got=$?
  set -e
  [ "$got" = "$want" ] || fail "exit $got (expected $want): $*"
}
ctl() {
  code=$1
  shift
  run "$code" "$tigerctl" "$@"
}
expect_out() { grep -q -- "$1" out.txt || fail "stdout lacks: $1"; }
expect_out_line() { grep -qxF -- "$1" out.txt || fail "stdout has no line: $1"; }
expect_no_out() { ! grep -q -- "$1" out.txt || fail "stdout has: $1"; }
expect_err() { grep -q -- "$1" err.txt || fail "stderr lacks: $1"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

# --- keys: alice (the first admin), bob (viewer), carol (operator), mallory (never added), nodes
for name in alice bob carol mallory node1 node2 node3 node4 node5; do
  run 0 "$tigerctl" keygen --out "$name"
done

# --- format and start
run 0 "$controller" format --data-dir data --cluster e2e --admin-key alice.pub --admin-name alice
"$controller" start --data-dir data --listen "127.0.0.1:$port" --auto-accept-nodes \
  >controller.log 2>&1 &
controller_pid=$!
pids="$controller_pid"
ready=no
for _ in $(seq 1 100); do
  if "$tigerctl" --controller "$url" --timeout-ms 500 status >/dev/null 2>&1; then
    ready=yes
    break
  fi
  kill -0 "$controller_pid" 2>/dev/null || fail "the controller exited at start"
  sleep 0.1
done
[ "$ready" = yes ] || fail "the controller did not answer /v1/status within 10 s"

TIGERCTL_CONTROLLER=$url
TIGERCTL_KEY=alice
export TIGERCTL_CONTROLLER TIGERCTL_KEY

# --- help and usage errors (no request reaches the controller)
ctl 0 help drain
expect_out_line "usage: tigerctl drain NODE [OPTIONS]"
ctl 0 keys add --help
expect_out "^  --role ROLE"
ctl 2 keys
expect_err "'keys' needs a subcommand: keys list, keys add, keys remove"
ctl 2 cordon
expect_err "NODE is required"
ctl 2 cordon node3
expect_err "NODE must be a number in 1..255"
ctl 2 cordon 3 --limit 4
expect_err "unknown option --limit"
ctl 2 --controller ftp://x status
expect_err "must start with http:// or https://"
run 2 env -u TIGERCTL_KEY "$tigerctl" cordon 3
expect_err "a signed action needs the operator's key"
cp alice alice.open && chmod 644 alice.open
ctl 2 --key alice.open cordon 3
expect_err "chmod 600"

# --- status and keys
ctl 0 status
expect_out "^cluster  *e2e$"
expect_out "^audit  *seq 1, head [0-9a-f]\{64\}$"
expect_out "^controller key  *[0-9a-f]\{64\}$"
ctl 0 --json status
expect_out '"cluster":"e2e"'
expect_out '"audit":{"seq":1,'
ctl 0 keys list
expect_out "^alice  *admin  *[0-9]"
ctl 0 keys add --name bob --role viewer --pub bob.pub
expect_out_line "key bob (viewer) added (audit seq 2)"
ctl 0 keys add --name carol --role operator --pub carol.pub
expect_out_line "key carol (operator) added (audit seq 3)"
ctl 0 keys list
expect_out "^bob  *viewer  *2  *-  "
expect_out "^carol  *operator  *3  *-  "
ctl 1 --key carol keys add --name dave --role admin --pub mallory.pub
expect_err "forbidden"
ctl 1 keys add --name bob --role admin --pub mallory.pub
expect_err "refused"

# --- nodes: five, each heartbeating (signed with its own key) from the moment it is added
for i in 1 2 3 4 5; do
  ctl 0 nodes add --id "$i" --node-key "node$i.pub" --zone "z$i" --peer "127.0.0.1:710$i" \
    --client "127.0.0.1:700$i" --admin "127.0.0.1:720$i"
  expect_out "^node $i added (audit seq [0-9]*)$"
  "$heartbeat" "$url" "$i" "node$i" 600 >"heartbeat$i.log" 2>&1 &
  pids="$pids $!"
done
ctl 1 --key bob nodes add --id 6 --node-key mallory.pub --peer h:1 --client h:2 --admin h:3
expect_err "forbidden"
live=no
for _ in $(seq 1 50); do
  "$tigerctl" nodes >nodes.txt 2>/dev/null || true
  if [ "$(grep -c '^   [1-5]  active  *yes  ' nodes.txt)" = 5 ]; then live=yes; break; fi
  sleep 0.2
done
[ "$live" = yes ] || { cat heartbeat*.log nodes.txt >&2; fail "the nodes did not become live"; }
ctl 0 nodes
expect_out "^NODE  STATE  *LIVE  HEARTBEAT  ZONE  REPLICAS  PRIMARIES  PEER  *CLIENT  *ADMIN$"
expect_out "^   1  active  yes   [0-9]s ago  *z1  *0  *0  127.0.0.1:7101  127.0.0.1:7001  \
127.0.0.1:7201$"
ctl 0 --json nodes
python3 -c 'import json,sys; n=json.load(open("out.txt")); sys.exit(0 if len(n)==5 else 1)' \
  || fail "--json nodes is not an array of 5 nodes"

# --- groups and rooms
ctl 0 groups
expect_out_line "no groups (create one with tigerctl groups create)"
ctl 1 --key carol groups create --id 1
expect_err "forbidden"
ctl 2 groups create --id 1 --slots 0-4096
expect_err "slots 0..4095"
ctl 0 groups create --id 1 --slots 0-4095
expect_out "^group 1 created (audit seq [0-9]*)"
ctl 0 groups
expect_out "^    1  *0  *1  1,2,3  *3  healthy  *4096  -$"
ctl 1 groups create --id 2 --slots 100-200,4095
expect_err "refused: slots: slot 100 already routes to group 1: a routed slot never moves"
ctl 0 groups
expect_no_out "^    2 "
ctl 0 nodes
expect_out "^   1  active  .*  z1  *1  *1  "
expect_out "^   4  active  .*  z4  *0  *0  "
ctl 0 rooms
expect_out "^0-4095  *1$"
ctl 0 rooms --room 42
expect_out "^group  *1$"
ctl 2 rooms --room -1

# --- cordon / uncordon: operator ok, viewer forbidden, unknown key refused, unknown node refused
ctl 0 --key carol cordon 4
expect_out "^node 4 cordoned (audit seq [0-9]*)$"
ctl 0 nodes
expect_out "^   4  cordoned  "
ctl 0 --key carol cordon 4
expect_out "^node 4 cordoned (audit seq [0-9]*)"
ctl 0 --key carol uncordon 4
ctl 0 nodes
expect_out "^   4  active  "
ctl 1 --key bob cordon 4
expect_err "tigerctl cordon: forbidden: "
ctl 1 --key mallory cordon 4
expect_err "tigerctl cordon: unknown_key: "
ctl 1 --json --key mallory cordon 4
expect_out '"error":"unknown_key"'
ctl 1 --key carol cordon 99
expect_err "tigerctl cordon: refused: .*(audit seq [0-9]*)"

# --- plans and jobs
ctl 0 rebalance --dry-run
expect_out "^plan: rebalance (at most 8 moves), [0-9]* steps\{0,1\} \
(topology version [0-9]*, hash [0-9a-f]*\.\.\.)$"
expect_out_line "dry run: no job started"
ctl 0 --json rebalance --dry-run --max-moves 2
expect_out '"topology_hash":"'
ctl 2 rebalance --max-moves 65
# Node 4 hosts nothing (placement put group 1 on nodes 1-3): its drain plan has no step, and
# its job ends at once.
ctl 0 drain 4 --dry-run
expect_out "^plan: drain node 4, 0 steps (topology "
expect_out_line "dry run: no job started"
ctl 1 --key bob drain 4
expect_out "^plan: drain node 4"
expect_err "forbidden"
run 0 timeout 30 "$tigerctl" --key carol drain 4 --watch
expect_out "^job [0-9]* started (audit seq [0-9]*)$"
expect_out "^job [0-9]*: drain node 4, succeeded, 0/0 steps done$"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' out.txt)
ctl 0 job "$job"
expect_out "^job $job: drain node 4, succeeded"
ctl 0 jobs
expect_out "^ *$job  drain  *4  succeeded  *0/0 "
ctl 0 nodes
expect_out "^   4  drained  "
ctl 2 job 0
ctl 1 job 999999
expect_err "tigerctl job: not_found: "
# Node 1 hosts group 1's primary and a replica: move the primary to 2 or 3, replace 1 by 5 (the
# only active node outside the group; 4 is drained).
ctl 0 drain 1 --dry-run
expect_out "^plan: drain node 1, 2 steps (topology "
expect_out "^   1      1  move_primary  1 -> [23]$"
expect_out "^   2      1  replace       1 -> 5$"
ctl 0 --key carol drain 1
expect_out "^job [0-9]* started (audit seq [0-9]*)$"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' out.txt)
expect_out_line "follow it: tigerctl job $job --watch"
ctl 0 job "$job"
expect_out "^job $job: drain node 1, running, [01]/2 steps done$"
expect_out "^STEP  GROUP  KIND  *MOVE  *STATE  *PROGRESS$"
ctl 0 jobs
expect_out "^ *$job  drain  *1  running  *[01]/2 "
ctl 0 status
expect_out "^running jobs  *1$"
# The stand-in nodes never carry out a step: --watch follows until interrupted.
set +e
timeout 3 "$tigerctl" job "$job" --watch >out.txt 2>err.txt
got=$?
set -e
[ "$got" = 124 ] || fail "job --watch of a running job ended with $got"
expect_out "^job $job: drain node 1, running"
ctl 1 --key carol drain 2
expect_err "tigerctl drain: refused: "
ctl 1 --key bob cancel "$job"
expect_err "forbidden"
ctl 0 --key carol cancel "$job"
expect_out "^job $job: cancel requested"
ctl 1 --key carol cancel 999999
expect_err "refused"

# --- the audit chain
ctl 0 audit tail --after 1 --limit 2
expect_out "^SEQ  TIME  *ACTOR  *ACTION  *ARGS  *RESULT$"
expect_out "^  2  20[0-9-]*T[0-9:.]*Z  [0-9a-f]\{12\}\.\.\.  key\.add  .*\"name\":\"bob\".*  ok$"
expect_out "^  3  .*  key\.add  .*\"name\":\"carol\""
[ "$(wc -l < out.txt)" = 3 ] || fail "audit tail --limit 2 printed $(wc -l < out.txt) lines"
ctl 0 audit tail --after 0 --limit 1000
expect_out "^  1  .*  controller\.bootstrap  "
expect_out "  node\.cordon  *{\"node\":4}  *ok$"
expect_out "  node\.cordon  *{\"node\":4}  *refused: " # bob's: chained, refused (forbidden)
ctl 0 --json audit tail --limit 1
expect_out '^{"entries":\[{.*"seq":'
"$tigerctl" status >status.txt || fail "status"
head_seq=$(sed -n 's/^audit  *seq \([0-9]*\),.*/\1/p' status.txt)
[ -n "$head_seq" ] || fail "no audit seq in status"
# Offline: every entry's actor signature is the one tigerctl made (the controller's own entries
# are signed by its key), and the chain holds.
ctl 0 verify-audit --file data/audit.jsonl --key alice.pub --key bob.pub --key carol.pub \
  --key data/controller.key.pub --controller-key data/controller.key.pub
expect_out_line "PASS seq 1..$head_seq ($head_seq entries)"

# --- backup while the controller chains actions (80 cordon/uncordon: a checkpoint every 64
# entries, so one is likely written while the files are copied); a controller started on the copy
# serves a prefix of the chain that verifies, checkpoints included
( for i in $(seq 1 40); do
    "$tigerctl" cordon 4 >/dev/null 2>&1; "$tigerctl" uncordon 4 >/dev/null 2>&1
  done ) &
load_pid=$!
sleep 0.3
run 0 "$controller" backup --data-dir data --to backup
expect_out "^backup of data in backup: controller.db [0-9]* bytes (snapshot), audit.jsonl [0-9]* bytes"
wait "$load_pid"
[ "$(stat -c %a backup/controller.key)" = 600 ] || fail "the backup's key is not mode 600"
run 1 "$controller" backup --data-dir data --to backup
expect_err "must not exist"
ctl 0 --json status
live_seq=$(python3 -c 'import json; print(json.load(open("out.txt"))["audit"]["seq"])')
port2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
"$controller" start --data-dir backup --listen "127.0.0.1:$port2" >controller2.log 2>&1 &
restored_pid=$!
pids="$pids $restored_pid"
for _ in $(seq 1 100); do
  "$tigerctl" --controller "http://127.0.0.1:$port2" --timeout-ms 500 status >/dev/null 2>&1 && break
  kill -0 "$restored_pid" 2>/dev/null || { cat controller2.log >&2; fail "the restored controller exited"; }
  sleep 0.1
done
ctl 0 --controller "http://127.0.0.1:$port2" --json status
restored_seq=$(python3 -c 'import json; print(json.load(open("out.txt"))["audit"]["seq"])')
[ "$restored_seq" -ge "$head_seq" ] && [ "$restored_seq" -le "$live_seq" ] ||
  fail "restored at seq $restored_seq, not within $head_seq..$live_seq"
ctl 0 verify-audit --file backup/audit.jsonl --checkpoint backup/audit-checkpoints.jsonl \
  --key alice.pub --key bob.pub --key carol.pub \
  --key data/controller.key.pub --controller-key data/controller.key.pub
expect_out "^PASS seq 1\.\.$restored_seq "
kill "$restored_pid"
wait "$restored_pid" 2>/dev/null || true
echo "backup: taken at seq $restored_seq while the live chain went on to $live_seq; restored and verified"
head_seq=$live_seq

# --- keys remove: carol's signatures are refused from then on; the last admin stays
ctl 0 keys remove --pub carol.pub
expect_out "^key [0-9a-f]\{64\} removed (audit seq [0-9]*)$"
ctl 1 --key carol cordon 4
expect_err "unknown_key"
ctl 0 keys list
expect_out "^carol  *operator  *3  *[0-9][0-9]*  "
bob_hex=$(sed -n 's/^tigerchat-ed25519-public-v1 //p' bob.pub)
ctl 0 keys remove --public-key "$bob_hex"
ctl 1 keys remove --pub alice.pub
expect_err "refused"

# --- the controller down: exit 3, with the URL and curl's reason
kill "$controller_pid"
wait "$controller_pid" 2>/dev/null || true
pids=$(echo "$pids" | sed "s/\b$controller_pid\b//")
ctl 3 status
expect_err "tigerctl status: controller at $url unreachable: "
ctl 3 cordon 4
expect_err "unreachable"
ctl 3 --json nodes
expect_out '"error":"controller at '
echo "PASS test_tigerctl_controller"
