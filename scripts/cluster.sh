#!/usr/bin/env bash
# A local 3-node TigerChat cluster on loopback (docs/node.md, docs/node-config.md).
#
#   scripts/cluster.sh up      [--dir DIR] [--base-port P] [--groups N]   format (first time) + start
#   scripts/cluster.sh down    [--dir DIR]                               SIGTERM, wait
#   scripts/cluster.sh status  [--dir DIR]                               health and replica states
#   scripts/cluster.sh token   [--dir DIR] SUB [ROOMS]                   a development token
#   scripts/cluster.sh kill    [--dir DIR] NODE|controller               SIGKILL one (tests)
#   scripts/cluster.sh start   [--dir DIR] NODE|controller               restart one
#   scripts/cluster.sh join    [--dir DIR] NODE                          a node added later: only
#                              its own config lists every peer; the others learn it from the
#                              controller's topology (docs/node.md §15). Needs the controller.
#
# Everything lives under DIR (default: $TC_CLUSTER_DIR or ./cluster): node-N.conf, data/node-N/,
# node-N.log, node-N.pid and jwt.key. Ports: client BASE+N, peer BASE+100+N, admin BASE+200+N
# (BASE defaults to 7000). The binary is $TC_NODE_BIN or build/release/node/tigerchat-node.
# TC_CLUSTER_EXTRA: lines appended to every node's config.
# TC_CLUSTER_NODES (default 3): nodes 4.. host no replica at first (drain and rebalance targets).
# TC_CLUSTER_CONTROLLER=1 (or `up --controller`): also a tigerchat-controller on BASE+400 with
# data in DIR/controller; the nodes register with it (auto-accepted), the groups are registered
# with their configured members, and DIR/admin is the admin key for tigerctl, e.g.
#   tigerctl --controller http://127.0.0.1:7400 --key cluster/admin status
# Binaries: $TC_CONTROLLER_BIN, $TC_TIGERCTL_BIN (default build/release/...).
# TC_CONTROLLER_LIVENESS_MS: the controller's --liveness-ms (default 10000).
# TC_CLUSTER_PLACED=1 (or `up --placed`, implies --controller): the node configs list no group;
# the groups are created by the controller's placement (`tigerctl groups create --slots`, each
# with its block of hash slots) and the nodes host and route them from the topology
# (docs/node.md §15). TC_CLUSTER_PLACED_GROUPS (default: --groups) of them are created at `up`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-}
shift || true
dir=${TC_CLUSTER_DIR:-$root/cluster}
base=${TC_CLUSTER_BASE_PORT:-7000}
groups=4
controller=${TC_CLUSTER_CONTROLLER:-0}
placed=${TC_CLUSTER_PLACED:-0}
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --controller) controller=1; shift ;;
    --placed) placed=1; controller=1; shift ;;
    --dir) dir=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    --groups) groups=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
bin=${TC_NODE_BIN:-$root/build/release/node/tigerchat-node}
controller_bin=${TC_CONTROLLER_BIN:-$root/build/release/controller/server/tigerchat-controller}
tigerctl_bin=${TC_TIGERCTL_BIN:-$root/build/release/tigerctl/tigerctl}
nodes=($(seq 1 "${TC_CLUSTER_NODES:-3}"))
controller_url="http://127.0.0.1:$((base + 400))"
# A directory that already runs a controller keeps it for every command.
[ -f "$dir/controller/controller.key.pub" ] && controller=1
[ "$placed" = 1 ] && controller=1

die() { echo "cluster: $*" >&2; exit 1; }

write_config() {
  local n=$1 file="$dir/node-$1.conf"
  {
    echo "# tigerchat-node $n of the local cluster (written by scripts/cluster.sh)"
    echo "cluster = 1"
    echo "node = $n"
    echo "data_dir = $dir/data/node-$n"
    echo "listen_client = 127.0.0.1:$((base + n))"
    echo "listen_peer = 127.0.0.1:$((base + 100 + n))"
    echo "listen_admin = 127.0.0.1:$((base + 200 + n))"
    for p in "${nodes[@]}"; do echo "peer.$p = 127.0.0.1:$((base + 100 + p))"; done
    if [ "$controller" = 1 ]; then
      echo "controller = 127.0.0.1:$((base + 400))"
      echo "controller_key_file = $dir/controller/controller.key.pub"
    fi
    # Every node hosts every group; the slot order rotates so primaries (view 0 leads slot 0)
    # spread over the nodes. Placed: none (the controller's topology places them).
    for g in $(seq 1 "$groups"); do
      [ "$placed" = 1 ] && break
      local a=$(( (g - 1) % 3 + 1 )) b=$(( g % 3 + 1 )) c=$(( (g + 1) % 3 + 1 ))
      echo "group.$g = $a,$b,$c"
    done
    echo "jwt_key_file = $dir/jwt.key"
    echo "journal_slots = ${TC_CLUSTER_JOURNAL_SLOTS:-1024}"
    echo "store_segments = ${TC_CLUSTER_STORE_SEGMENTS:-64}"
    # Extra lines for every node's config (e.g. $'bus = redis\nredis = 127.0.0.1:6379').
    if [ -n "${TC_CLUSTER_EXTRA:-}" ]; then printf '%s\n' "$TC_CLUSTER_EXTRA"; fi
  } > "$file"
}

health() { curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + $1))/healthz" >/dev/null 2>&1; }

start_node() {
  local n=$1
  [ -x "$bin" ] || die "no binary at $bin (run scripts/build.sh Release)"
  if [ -f "$dir/node-$n.pid" ] && kill -0 "$(cat "$dir/node-$n.pid")" 2>/dev/null; then
    echo "node $n already running (pid $(cat "$dir/node-$n.pid"))"; return
  fi
  "$bin" start --config "$dir/node-$n.conf" >> "$dir/node-$n.log" 2>&1 &
  echo $! > "$dir/node-$n.pid"
}

tigerctl() { "$tigerctl_bin" --controller "$controller_url" --key "$dir/admin" "$@"; }

controller_up() {
  [ -x "$controller_bin" ] || die "no controller at $controller_bin (run scripts/build.sh Release)"
  [ -x "$tigerctl_bin" ] || die "no tigerctl at $tigerctl_bin"
  [ -f "$dir/admin" ] || "$tigerctl_bin" keygen --out "$dir/admin" >/dev/null
  if [ ! -f "$dir/controller/controller.db" ]; then
    "$controller_bin" format --data-dir "$dir/controller" --cluster local \
      --admin-key "$dir/admin.pub" --admin-name admin >/dev/null
  fi
  if [ -f "$dir/controller.pid" ] && kill -0 "$(cat "$dir/controller.pid")" 2>/dev/null; then return; fi
  "$controller_bin" start --data-dir "$dir/controller" --listen "127.0.0.1:$((base + 400))" \
    --auto-accept-nodes --liveness-ms "${TC_CONTROLLER_LIVENESS_MS:-10000}" \
    >> "$dir/controller.log" 2>&1 &
  echo $! > "$dir/controller.pid"
  local deadline=$(( $(date +%s) + 10 ))
  until curl -fsS -m 1 "$controller_url/healthz" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "controller not up; see $dir/controller.log"
    sleep 0.1
  done
}

# The nodes register themselves (auto-accepted); the groups they run from their configs are
# registered with their configured members and the block of hash slots the nodes route to each
# (docs/node-config.md §6: group i of n owns [ceil(i*4096/n), ceil((i+1)*4096/n) - 1]), once every
# node is live.
controller_register_groups() {
  local deadline=$(( $(date +%s) + 30 ))
  until [ "$(tigerctl --json status | grep -o '"live":[0-9]*' | cut -d: -f2)" = "${#nodes[@]}" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "nodes did not register with the controller"
    sleep 0.2
  done
  if [ "$placed" = 1 ]; then controller_place_groups; return; fi
  for g in $(seq 1 "$groups"); do
    local a=$(( (g - 1) % 3 + 1 )) b=$(( g % 3 + 1 )) c=$(( (g + 1) % 3 + 1 ))
    local first=$(( ((g - 1) * 4096 + groups - 1) / groups )) next=$(( (g * 4096 + groups - 1) / groups ))
    tigerctl groups create --id "$g" --members "$a,$b,$c" --slots "$first-$(( next - 1 ))" \
      >/dev/null 2>&1 || true
  done
}

# Placed groups: the controller picks each group's nodes; each takes its block of the slots. A
# group that exists already (a second `up`) is left as it is. Then every group must have a primary.
controller_place_groups() {
  local count=${TC_CLUSTER_PLACED_GROUPS:-$groups}
  for g in $(seq 1 "$count"); do
    local first=$(( ((g - 1) * 4096 + count - 1) / count )) next=$(( (g * 4096 + count - 1) / count ))
    tigerctl groups create --id "$g" --slots "$first-$(( next - 1 ))" >/dev/null 2>&1 || true
  done
  # Every group's 3 replicas run (their gauges are on their nodes' /metrics) and each group has
  # a primary; then /healthz (every node's edge registered with every group) is the rest.
  local deadline=$(( $(date +%s) + ${TC_CLUSTER_WAIT_S:-30} )) n ready scraped
  while :; do
    scraped=$(for n in "${nodes[@]}"; do
      curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + n))/metrics" 2>/dev/null |
        grep '^tigerchat_replica_primary{'; done || true)
    ready=1
    [ "$(grep -c . <<< "$scraped")" -ge $((3 * count)) ] || ready=0
    [ "$(grep '} 1$' <<< "$scraped" | sed 's/,slot=.*//' | sort -u | wc -l)" -ge "$count" ] || ready=0
    [ "$ready" = 1 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "placed groups not up on every node; see $dir/node-*.log"
    sleep 0.2
  done
  wait_healthy "${nodes[@]}"
}

wait_healthy() {
  local deadline=$(( $(date +%s) + ${TC_CLUSTER_WAIT_S:-30} ))
  for n in "$@"; do
    until health "$n"; do
      [ "$(date +%s)" -lt "$deadline" ] || die "node $n not healthy; see $dir/node-$n.log"
      kill -0 "$(cat "$dir/node-$n.pid")" 2>/dev/null || die "node $n exited; see $dir/node-$n.log"
      sleep 0.1
    done
  done
}

case "$command" in
  up)
    mkdir -p "$dir/data"
    if [ ! -f "$dir/jwt.key" ]; then
      head -c 32 /dev/urandom > "$dir/jwt.key.tmp" && chmod 600 "$dir/jwt.key.tmp"
      mv "$dir/jwt.key.tmp" "$dir/jwt.key"
    fi
    [ "$controller" = 1 ] && controller_up
    for n in "${nodes[@]}"; do
      write_config "$n"
      if [ ! -d "$dir/data/node-$n" ]; then
        mkdir -p "$dir/data/node-$n"
        "$bin" format --config "$dir/node-$n.conf" >/dev/null
      elif [ "$controller" = 1 ] && [ ! -f "$dir/data/node-$n/node.key" ]; then
        "$tigerctl_bin" keygen --out "$dir/data/node-$n/node.key" >/dev/null # formatted before
      fi
    done
    for n in "${nodes[@]}"; do start_node "$n"; done
    wait_healthy "${nodes[@]}"
    echo "cluster up: ws://127.0.0.1:$((base + 1))/v1/ws (and $((base + 2)), $((base + 3))); data in $dir"
    if [ "$controller" = 1 ]; then
      controller_register_groups
      echo "controller: $controller_url (tigerctl --controller $controller_url --key $dir/admin status)"
    fi
    ;;
  start)
    n=${args[0]:?node}
    if [ "$n" = controller ]; then controller_up; exit 0; fi
    start_node "$n"; wait_healthy "$n"
    ;;
  join)
    n=${args[0]:?node}
    [ "$controller" = 1 ] || die "join needs the controller (the other nodes learn the new one from it)"
    [ -f "$dir/node-$n.conf" ] && die "node $n exists (node-$n.conf)"
    nodes+=("$n")
    write_config "$n"
    mkdir -p "$dir/data/node-$n"
    "$bin" format --config "$dir/node-$n.conf" >/dev/null
    start_node "$n"; wait_healthy "$n"
    echo "node $n joined: ws://127.0.0.1:$((base + n))/v1/ws"
    ;;
  kill)
    n=${args[0]:?node}
    if [ "$n" = controller ]; then pidfile=$dir/controller.pid; else pidfile=$dir/node-$n.pid; fi
    kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    ;;
  down)
    # Every node that has a pid file, whatever TC_CLUSTER_NODES says now.
    nodes=()
    for f in "$dir"/node-*.pid; do [ -f "$f" ] && nodes+=("$(basename "$f" .pid | cut -d- -f2)"); done
    for n in "${nodes[@]}"; do
      [ -f "$dir/node-$n.pid" ] && kill -TERM "$(cat "$dir/node-$n.pid")" 2>/dev/null || true
    done
    for n in "${nodes[@]}"; do
      if [ -f "$dir/node-$n.pid" ]; then
        pid=$(cat "$dir/node-$n.pid")
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/node-$n.pid"
      fi
    done
    if [ -f "$dir/controller.pid" ]; then
      pid=$(cat "$dir/controller.pid")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/controller.pid"
    fi
    echo "cluster down"
    ;;
  status)
    for n in "${nodes[@]}"; do
      if health "$n"; then state=healthy; else state=down; fi
      echo "node $n: $state"
      curl -fsS -m 1 "http://127.0.0.1:$((base + 200 + n))/metrics" 2>/dev/null |
        grep -E '^tigerchat_replica_(view|commit|primary)\{' | sed 's/^/  /' || true
    done
    if [ "$controller" = 1 ]; then tigerctl status && tigerctl groups; fi
    ;;
  token)
    sub=${args[0]:?sub}; rooms=${args[1]:-*}
    "$bin" token --config "$dir/node-1.conf" --sub "$sub" --rooms "$rooms"
    ;;
  *)
    sed -n '2,14p' "$0"; exit 2 ;;
esac
