#!/usr/bin/env bash
# End-to-end test of forwarded reads (docs/node.md §6, node/main/node_remote.c): a 3-node cluster
# (scripts/cluster.sh) plus a 4th node that hosts no replica of any group. Clients of node 4
# create a room, subscribe (replay, then live through the bus), read history pages, resubscribe
# with `since`, and are refused as non-members — every read served by another node over the link.
#
#   tests/e2e/remote_reads.sh BIN
# Environment: TC_CLUSTER_BASE_PORT (default 26000). Prints PASS or FAIL.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export TC_NODE_BIN=${1:-${TC_NODE_BIN:-$root/build/release/node/tigerchat-node}}
export TC_CLUSTER_BASE_PORT=${TC_CLUSTER_BASE_PORT:-26000}
base=$TC_CLUSTER_BASE_PORT
work=$(mktemp -d /tmp/tc-remote.XXXXXX)
export TC_CLUSTER_DIR=$work TC_CLUSTER_JOURNAL_SLOTS=256 TC_CLUSTER_STORE_SEGMENTS=16
export TC_CLUSTER_EXTRA="peer.4 = 127.0.0.1:$((base + 104))"
cleanup() {
  "$root/scripts/cluster.sh" down >/dev/null 2>&1 || true
  [ -f "$work/node-4.pid" ] && kill -TERM "$(cat "$work/node-4.pid")" 2>/dev/null || true
  sleep 0.5
  [ -f "$work/node-4.pid" ] && kill -9 "$(cat "$work/node-4.pid")" 2>/dev/null || true
  if [ "${status:-1}" -ne 0 ]; then tail -n 20 "$work"/node-*.log; fi
  nohup rm -rf "$work" >/dev/null 2>&1 &
}
trap cleanup EXIT
"$root/scripts/cluster.sh" up >/dev/null
# Node 4: node 1's config with its own id, addresses and data directory (it hosts nothing: every
# group lists nodes 1-3).
sed -e 's/^node = 1$/node = 4/' \
    -e "s/^listen_client = .*/listen_client = 127.0.0.1:$((base + 4))/" \
    -e "s/^listen_peer = .*/listen_peer = 127.0.0.1:$((base + 104))/" \
    -e "s/^listen_admin = .*/listen_admin = 127.0.0.1:$((base + 204))/" \
    -e "s#/node-1\$#/node-4#" "$work/node-1.conf" > "$work/node-4.conf"
mkdir -p "$work/data/node-4"
"$TC_NODE_BIN" start --config "$work/node-4.conf" > "$work/node-4.log" 2>&1 &
echo $! > "$work/node-4.pid"
for _ in $(seq 1 100); do
  curl -fsS -m 1 "http://127.0.0.1:$((base + 204))/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
token() { "$TC_NODE_BIN" token --config "$work/node-1.conf" --sub "$1"; }
status=0
/usr/bin/python3 - "$base" "$(token 1)" "$(token 2)" <<'PY' || status=1
import asyncio, json, os, sys
import websockets

base, t1, t2 = int(sys.argv[1]), sys.argv[2], sys.argv[3]

async def rpc(ws, request):
    await ws.send(json.dumps(request))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message.get("id") == request["id"]:
            return message

async def messages(ws, count):
    seqs = []
    while len(seqs) < count:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message["type"] == "message", message
        seqs.append(int(message["seq"]))
    return seqs

async def main():
    room = str(int.from_bytes(os.urandom(5), "little") | 1)
    url = f"ws://127.0.0.1:{{}}/v1/ws"
    async with websockets.connect(url.format(base + 1), extra_headers={"Authorization": "Bearer " + t1}) as a, \
               websockets.connect(url.format(base + 4) + "?token=" + t1) as b, \
               websockets.connect(url.format(base + 4) + "?token=" + t2) as c:
        assert (await rpc(b, {"id": "c", "op": "create_room", "room": room}))["type"] == "result"
        # Read your writes across nodes: the create is visible to the forwarded subscribe.
        sub = await rpc(b, {"id": "s", "op": "subscribe", "room": room, "since": "0"})
        assert sub["type"] == "result" and sub["head_seq"] == "0", sub
        # c never wrote to the group: no read-your-writes for it, so the replica its read is
        # forwarded to may not have applied the create yet (room_not_found, then not_member).
        for _ in range(100):
            refused = await rpc(c, {"id": "x", "op": "subscribe", "room": room})
            if refused.get("error") != "room_not_found":
                break
            await asyncio.sleep(0.03)
        assert refused.get("error") == "not_member", refused
        missing = await rpc(b, {"id": "y", "op": "history", "room": "12345", "from_seq": "1"})
        assert missing.get("error") in ("room_not_found", "not_member"), missing
        for i in range(30):
            ack = await rpc(a, {"id": f"m{i}", "op": "send", "room": room, "key": "%032x" % (i + 1), "body": f"hello {i}"})
            assert ack["seq"] == str(i + 1), ack
        assert await messages(b, 30) == list(range(1, 31))
        # History pages from node 4 chain without gaps (wait for the serving replica to catch up).
        seqs, next_seq = [], 1
        for _ in range(100):
            page = await rpc(b, {"id": f"h{next_seq}", "op": "history", "room": room, "from_seq": str(next_seq), "limit": 7})
            assert page["type"] == "result", page
            seqs += [int(m["seq"]) for m in page["messages"]]
            next_seq = int(page["next_seq"])
            if next_seq > 30:
                break
            if not page["messages"]:
                await asyncio.sleep(0.02)
        assert seqs == list(range(1, 31)), seqs
        # Resubscribe with since: replay 21..30 (forwarded pages), then live 31..35 (bus).
        assert (await rpc(b, {"id": "u", "op": "unsubscribe", "room": room}))["type"] == "result"
        again = await rpc(b, {"id": "s2", "op": "subscribe", "room": room, "since": "20"})
        assert again["type"] == "result", again
        for i in range(30, 35):
            await rpc(a, {"id": f"n{i}", "op": "send", "room": room, "key": "%032x" % (i + 1), "body": f"more {i}"})
        assert await messages(b, 15) == list(range(21, 36))
    print("remote_reads: node 4 served subscribe, replay, live and history through forwarded reads")

asyncio.run(main())
PY
if [ "$status" -eq 0 ]; then echo PASS; else echo FAIL; fi
exit "$status"
