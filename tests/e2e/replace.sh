#!/usr/bin/env bash
# End-to-end test of replica replacement on running nodes (docs/node.md §14, docs/controller.md
# §7): 4 nodes and a controller on loopback; groups 1-4 run on nodes 1-3 (their configs), node 4
# hosts nothing. Under chat traffic (tigerchat-bench ws over all 4 nodes, subscribers checking
# every acknowledged message arrives once and in order), `tigerctl drain 1 --watch` must succeed:
# every group that had node 1 gets node 4 in its slot at epoch + 1, node 1 hosts nothing (its files
# renamed group-G.retired-<epoch>.*), node 4 hosts every group (identity files), and tigerctl
# groups shows 3 live members per group. Then nodes 1 and 4 restart (node 4 hosts from its
# identity files, node 1 nothing) and a second load runs on the new membership. Last, node 1
# returns (uncordon) and node 4 is drained onto it under load, node 1 being SIGKILLed and
# restarted while it hosts a freshly started replica: every group ends at epoch 2 with node 1 in
# node 4's slot (the reconfigure names node 4's drawn id as the old member), node 4 hosts nothing.
# Finally node 1 is drained onto node 4 again while frozen (SIGSTOP) from its first replace step
# until the job succeeded: its replicas never saw their reconfigure ops commit; thawed, they learn
# it (start_epoch routed to the slot's previous member: docs/node.md §14) and node 1 retires them.
#
#   tests/e2e/replace.sh NODE_BIN CONTROLLER_BIN TIGERCTL_BIN [BENCH_BIN]
# Environment: TC_REPLACE_BASE_PORT (default 27000: client BASE+N, peer BASE+100+N, admin
# BASE+200+N, controller BASE+400), TC_REPLACE_KEEP=1 keeps the directory. Prints PASS or FAIL.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
node_bin=$(abs "${1:?usage: tests/e2e/replace.sh NODE_BIN CONTROLLER_BIN TIGERCTL_BIN [BENCH_BIN]}")
controller_bin=$(abs "${2:?controller binary}")
tigerctl_bin=$(abs "${3:?tigerctl binary}")
bench_bin=$(abs "${4:-$(dirname "$node_bin")/../bench/tigerchat-bench}")
for b in "$node_bin" "$controller_bin" "$tigerctl_bin" "$bench_bin"; do
  [ -x "$b" ] || { echo "replace: no executable at $b" >&2; exit 2; }
done
base=${TC_REPLACE_BASE_PORT:-27000}
work=$(mktemp -d /tmp/tc-replace.XXXXXX)
ctl_url="http://127.0.0.1:$((base + 400))"
groups=4
status=1

log() { echo "replace: $*"; }
fail() { echo "replace: FAIL: $*" >&2; exit 1; }

cleanup() {
  for pid_file in "$work"/*.pid; do
    [ -f "$pid_file" ] && kill -TERM "$(cat "$pid_file")" 2>/dev/null || true
  done
  sleep 1
  for pid_file in "$work"/*.pid; do
    [ -f "$pid_file" ] && kill -9 "$(cat "$pid_file")" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for n in 1 2 3 4; do
      echo "---- tail of $work/node-$n.log"; tail -n 30 "$work/node-$n.log" 2>/dev/null || true
    done
    echo "---- tail of $work/controller.log"; tail -n 30 "$work/controller.log" 2>/dev/null || true
  fi
  if [ "${TC_REPLACE_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
    rm -f "$work"/data/node-*/group-*.{journal,checkpoints,store} \
          "$work"/data/node-*/group-*.retired-*.{journal,checkpoints,store}
    echo "replace: logs kept in $work"
  else
    nohup rm -rf "$work" >/dev/null 2>&1 &
  fi
  if [ "$status" -eq 0 ]; then echo PASS; else echo FAIL; fi
}
trap cleanup EXIT

tigerctl() { "$tigerctl_bin" --controller "$ctl_url" --key "$work/admin" "$@"; }
health() { curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + $1))/healthz" >/dev/null 2>&1; }
metric() { # NODE NAME: the value of an unlabelled metric
  curl -fsS -m 2 "http://127.0.0.1:$((base + 200 + $1))/metrics" | awk -v m="$2" '$1 == m {print $2}'
}
members_of() { # GROUP: "a,b,c" as the config lists them (scripts/cluster.sh's rotation)
  echo "$(( ($1 - 1) % 3 + 1 )),$(( $1 % 3 + 1 )),$(( ($1 + 1) % 3 + 1 ))"
}
slots_of() { # GROUP: its block of hash slots, "first-last" (docs/node-config.md §6)
  echo "$(( (($1 - 1) * 4096 + groups - 1) / groups ))-$(( ($1 * 4096 + groups - 1) / groups - 1 ))"
}

write_config() {
  local n=$1
  {
    echo "cluster = 1"
    echo "node = $n"
    echo "data_dir = $work/data/node-$n"
    echo "listen_client = 127.0.0.1:$((base + n))"
    echo "listen_peer = 127.0.0.1:$((base + 100 + n))"
    echo "listen_admin = 127.0.0.1:$((base + 200 + n))"
    for p in 1 2 3 4; do echo "peer.$p = 127.0.0.1:$((base + 100 + p))"; done
    echo "controller = 127.0.0.1:$((base + 400))"
    echo "controller_key_file = $work/ctl/controller.key.pub"
    echo "controller_interval_ms = 500"
    # Every node knows every group; only nodes 1-3 are listed as replicas (node 4 hosts none).
    for g in $(seq 1 "$groups"); do echo "group.$g = $(members_of "$g")"; done
    echo "jwt_key_file = $work/jwt.key"
    echo "journal_slots = 512"
    echo "store_segments = 16"
  } > "$work/node-$n.conf"
}

start_node() {
  "$node_bin" start --config "$work/node-$1.conf" >> "$work/node-$1.log" 2>&1 &
  echo $! > "$work/node-$1.pid"
}

stop_node() { # graceful: SIGTERM, wait for the exit
  local pid
  pid=$(cat "$work/node-$1.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null || fail "node $1 did not stop"
  rm -f "$work/node-$1.pid"
}

wait_healthy() {
  for n in "$@"; do
    for _ in $(seq 1 300); do health "$n" && break; sleep 0.1; done
    health "$n" || fail "node $n not healthy"
  done
}

bench() { # DURATION_S OUT [NODES]: chat load (default: over the 4 nodes); subscribers check
  # every acknowledged message
  local nodes=${3:-1 2 3 4} list="" n
  for n in $nodes; do list="$list${list:+,}127.0.0.1:$((base + n))"; done
  "$bench_bin" ws --nodes "$list" --jwt-key-file "$work/jwt.key" --connections 4 --rooms 8 \
    --subscribers 2 --rate 200 --duration-s "$1" --warmup-s 1 --drain-timeout-s 30 --json \
    > "$2" 2> "$2.err"
}

sanitizers_quiet() { # no sanitizer report in any node log (Sanitize builds)
  ! grep -lE "runtime error|Sanitizer" "$work"/node-*.log || fail "a sanitizer reported"
}

bench_check() { # OUT: the bench's verdict and checks (no acked message lost, duplicated or reordered)
  local out=$1
  python3 - "$out" <<'PY' || fail "bench: $(cat "$out.err")"
import json, sys
r = json.load(open(sys.argv[1]))
bad = {k: r[k] for k in ("gaps", "duplicates", "chain_breaks", "hash_mismatches", "missing",
                         "resubscribe_failures") if r[k] != 0}
assert r["failure"] == "none" and not bad and r["acks"] > 0, (r["failure"], bad, r["acks"])
print(f"replace: bench: {r['acks']} acks measured, {r['delivered']} deliveries "
      f"(expected {r['expected_deliveries']}), gaps/duplicates/chain/missing 0, "
      f"ack p99 {r['ack_p99_us']} us, max {r['ack_max_us']} us, errors {r['errors']}")
PY
}

# ---- controller, nodes, groups
mkdir -p "$work/data"
head -c 32 /dev/urandom > "$work/jwt.key"; chmod 600 "$work/jwt.key"
"$tigerctl_bin" keygen --out "$work/admin" >/dev/null
"$controller_bin" format --data-dir "$work/ctl" --cluster test --admin-key "$work/admin.pub" \
  --admin-name admin >/dev/null
"$controller_bin" start --data-dir "$work/ctl" --listen "127.0.0.1:$((base + 400))" \
  --auto-accept-nodes >> "$work/controller.log" 2>&1 &
echo $! > "$work/controller.pid"
for _ in $(seq 1 100); do curl -fsS -m 1 "$ctl_url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
for n in 1 2 3 4; do
  write_config "$n"
  mkdir -p "$work/data/node-$n"
  "$node_bin" format --config "$work/node-$n.conf" >/dev/null
  start_node "$n"
done
wait_healthy 1 2 3 4
for _ in $(seq 1 100); do
  [ "$(tigerctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"]["live"])')" = 4 ] && break
  sleep 0.2
done
for g in $(seq 1 "$groups"); do
  tigerctl groups create --id "$g" --members "$(members_of "$g")" --slots "$(slots_of "$g")" >/dev/null
done
log "4 nodes up, groups 1-$groups registered on nodes 1-3"
tigerctl groups

# ---- the drain, under load
bench 40 "$work/bench1.json" &
bench_pid=$!
sleep 4
log "tigerctl drain 1 --watch"
drain_started=$(date +%s)
if ! tigerctl drain 1 --watch 2>&1 | tee "$work/drain.out"; then
  fail "the drain job did not succeed"
fi
log "drain took $(( $(date +%s) - drain_started )) s"
wait "$bench_pid" || true
bench_check "$work/bench1.json"

# ---- the result: members, epochs, files
sanitizers_quiet
tigerctl groups
tigerctl --json groups > "$work/groups.json"
python3 - "$work/groups.json" "$groups" <<'PY' || fail "groups after the drain"
import json, sys
doc = json.load(open(sys.argv[1]))
groups = doc if isinstance(doc, list) else doc.get("groups", doc)
assert len(groups) == int(sys.argv[2]), groups
for g in groups:
    members = g["members"]
    assert 1 not in members and 4 in members and len(members) == 3, g
    assert g["epoch"] == 1, g
    assert g["live_members"] == 3 and g["health"] == "healthy", g
    assert g.get("change") in (None, {}, ""), g
print("replace: every group: members without node 1, with node 4, epoch 1, 3 live, healthy")
PY
for g in $(seq 1 "$groups"); do
  for f in journal checkpoints store; do
    [ -f "$work/data/node-1/group-$g.retired-1.$f" ] || fail "node 1: group-$g.retired-1.$f missing"
    [ ! -e "$work/data/node-1/group-$g.$f" ] || fail "node 1 still has group-$g.$f"
    [ -f "$work/data/node-4/group-$g.$f" ] || fail "node 4: group-$g.$f missing"
  done
  [ -f "$work/data/node-4/group-$g.identity" ] || fail "node 4: no group-$g.identity"
done
[ "$(metric 1 tigerchat_node_replicas_retired_total)" = "$groups" ] || fail "node 1 retired count"
[ "$(metric 4 tigerchat_node_learners_started_total)" = "$groups" ] || fail "node 4 learners"
curl -fsS "http://127.0.0.1:$((base + 201))/metrics" | grep -q '^tigerchat_replica_view{' &&
  fail "node 1 still reports a replica"
[ "$(curl -fsS "http://127.0.0.1:$((base + 204))/metrics" | grep -c '^tigerchat_replica_view{')" = "$groups" ] ||
  fail "node 4 does not report $groups replicas"
reconfigures=0
for n in 2 3 4; do reconfigures=$(( reconfigures + $(metric "$n" tigerchat_node_reconfigures_done_total) )); done
[ "$reconfigures" -ge "$groups" ] || fail "only $reconfigures reconfigure(s) answered ok"
log "files: node 1 kept group-G.retired-1.* only, node 4 has group-G.{identity,journal,...}"

# ---- restarts: node 4 hosts from its identity files, node 1 hosts nothing; load again
stop_node 4
stop_node 1
start_node 4
start_node 1
wait_healthy 1 4
grep -q "hosting replica .* (identity file of replacement job" "$work/node-4.log" ||
  fail "node 4 did not host from its identity files"
[ "$(curl -fsS "http://127.0.0.1:$((base + 204))/metrics" | grep -c '^tigerchat_replica_view{')" = "$groups" ] ||
  fail "node 4 hosts fewer than $groups groups after its restart"
curl -fsS "http://127.0.0.1:$((base + 201))/metrics" | grep -q '^tigerchat_replica_view{' &&
  fail "node 1 hosts a replica after its restart"
bench 8 "$work/bench2.json" || true
bench_check "$work/bench2.json"
tigerctl --json groups > "$work/groups.json"
python3 - "$work/groups.json" <<'PY' || fail "groups after the restarts"
import json, sys
doc = json.load(open(sys.argv[1]))
groups = doc if isinstance(doc, list) else doc.get("groups", doc)
assert all(g["live_members"] == 3 and g["health"] == "healthy" for g in groups), groups
PY
log "after restarting nodes 1 and 4: node 4 hosts every group from its identity files, load ok"

# ---- node 1 back: drain node 4 onto it, node 1 killed and restarted with a new replica
tigerctl uncordon 1 >/dev/null
bench 30 "$work/bench3.json" "2 3 4" &
bench_pid=$!
sleep 3
log "tigerctl drain 4 --watch (node 1 gets SIGKILL after its first learner starts)"
tigerctl drain 4 --watch > "$work/drain4.out" 2>&1 &
drain_pid=$!
for _ in $(seq 1 300); do grep -q "learner started" "$work/node-1.log" && break; sleep 0.05; done
grep -q "learner started" "$work/node-1.log" || fail "node 1 started no learner"
sleep 0.2
kill -9 "$(cat "$work/node-1.pid")"
log "node 1 killed after: $(grep -o 'group [0-9]*: replace 4 -> 1.*learner started[^(]*' "$work/node-1.log" | tail -1)"
sleep 1
start_node 1
wait "$drain_pid" || { cat "$work/drain4.out"; fail "the drain of node 4 did not succeed"; }
tail -n 7 "$work/drain4.out"
grep -q "hosting replica .* (identity file of replacement job 2" "$work/node-1.log" ||
  fail "node 1 did not host its new replica from the identity file after the SIGKILL"
wait "$bench_pid" || true
bench_check "$work/bench3.json"
tigerctl groups
tigerctl --json groups > "$work/groups.json"
python3 - "$work/groups.json" "$groups" <<'PY' || fail "groups after the drain of node 4"
import json, sys
doc = json.load(open(sys.argv[1]))
groups = doc if isinstance(doc, list) else doc.get("groups", doc)
assert len(groups) == int(sys.argv[2]), groups
for g in groups:
    assert 4 not in g["members"] and 1 in g["members"], g
    assert g["epoch"] == 2 and g["live_members"] == 3 and g["health"] == "healthy", g
print("replace: every group: node 1 back in node 4's slot, epoch 2, 3 live, healthy")
PY
for g in $(seq 1 "$groups"); do
  for f in journal checkpoints store identity; do
    [ -f "$work/data/node-4/group-$g.retired-2.$f" ] || fail "node 4: group-$g.retired-2.$f missing"
    [ -f "$work/data/node-1/group-$g.$f" ] || fail "node 1: group-$g.$f missing"
  done
done
curl -fsS "http://127.0.0.1:$((base + 204))/metrics" | grep -q '^tigerchat_replica_view{' &&
  fail "node 4 still reports a replica"

# ---- node 1 drained onto node 4 while frozen: its replicas learn afterwards that they retired
tigerctl uncordon 4 >/dev/null
log "tigerctl drain 1 --watch (node 1 frozen from its first replace step to the job's end)"
tigerctl drain 1 --watch > "$work/drain1b.out" 2>&1 &
drain_pid=$!
learners=$(metric 4 tigerchat_node_learners_started_total)
for _ in $(seq 1 600); do
  [ "$(metric 4 tigerchat_node_learners_started_total)" -gt "$learners" ] && break
  sleep 0.05
done
kill -STOP "$(cat "$work/node-1.pid")"
wait "$drain_pid" || { kill -CONT "$(cat "$work/node-1.pid")"; cat "$work/drain1b.out"; fail "drain 1 (frozen)"; }
tail -n 6 "$work/drain1b.out"
kill -CONT "$(cat "$work/node-1.pid")"
for _ in $(seq 1 200); do
  [ "$(metric 1 tigerchat_node_replicas_retired_total)" = "$groups" ] && break
  sleep 0.1
done
[ "$(metric 1 tigerchat_node_replicas_retired_total)" = "$groups" ] ||
  fail "thawed node 1 retired $(metric 1 tigerchat_node_replicas_retired_total) of $groups replicas"
for g in $(seq 1 "$groups"); do
  [ -f "$work/data/node-1/group-$g.retired-3.journal" ] || fail "node 1: no group-$g.retired-3.*"
done
log "thawed node 1 learned that its $groups replicas were replaced and retired them"
tigerctl --json groups > "$work/groups.json"
python3 - "$work/groups.json" <<'PY' || fail "groups after the frozen drain"
import json, sys
groups = json.load(open(sys.argv[1]))
assert all(1 not in g["members"] and 4 in g["members"] and g["epoch"] == 3 and
           g["health"] == "healthy" for g in groups), groups
PY
sanitizers_quiet
status=0
