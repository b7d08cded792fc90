#!/usr/bin/python3
"""A short demo against a running local cluster (scripts/cluster.sh up): three users on three
nodes share a room; messages flow through the room's VSR group and fan out to every subscriber.
Shows acks (seq, hash), live delivery across nodes with latency, the hash chain, an idempotent
retry, and a history page. Uses Debian's python3-websockets; needs DIR/jwt.key of the cluster.

usage: scripts/demo.py [--dir DIR] [--base-port P] [--messages N]
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import time

import websockets


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(key, user, ttl_s=600):
    """An HS256 token (docs/protocol.md §2), signed with the cluster's key file."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": str(user), "rooms": "*",
                                 "exp": int(time.time()) + ttl_s}).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


class Client:
    def __init__(self, name, ws):
        self.name, self.ws, self.events, self.next_id = name, ws, asyncio.Queue(), 0
        self.pending = {}

    async def reader(self):
        async for text in self.ws:
            message = json.loads(text)
            future = self.pending.pop(message.get("id"), None)
            if future is not None:
                future.set_result(message)
            else:
                await self.events.put(message)

    async def rpc(self, **request):
        self.next_id += 1
        request["id"] = f"{self.name}-{self.next_id}"
        future = asyncio.get_running_loop().create_future()
        self.pending[request["id"]] = future
        await self.ws.send(json.dumps(request))
        answer = await asyncio.wait_for(future, 5)
        if answer.get("type") == "error":
            raise RuntimeError(f"{self.name}: {request['op']}: {answer['error']}: {answer['message']}")
        return answer


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=os.environ.get("TC_CLUSTER_DIR", "cluster"))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("TC_CLUSTER_BASE_PORT", 7000)))
    parser.add_argument("--messages", type=int, default=10)
    args = parser.parse_args()
    with open(os.path.join(args.dir, "jwt.key"), "rb") as f:
        key = f.read()
    room = str(int.from_bytes(os.urandom(6), "little") | 1)
    names = ["alice", "bob", "carol"]
    clients = []
    for i, name in enumerate(names):
        ws = await websockets.connect(f"ws://127.0.0.1:{args.base_port + i + 1}/v1/ws",
                                      extra_headers={"Authorization": "Bearer " + mint(key, 100 + i)})
        client = Client(name, ws)
        asyncio.create_task(client.reader())
        clients.append(client)
        print(f"{name:6} (user {100 + i}) connected to node {i + 1}")
    alice, bob, carol = clients
    await alice.rpc(op="create_room", room=room)
    print(f"alice created room {room}")
    for client in (bob, carol):
        head = await client.rpc(op="join", room=room)
        print(f"{client.name:6} joined at seq {head['seq']}")
    for client in clients:
        await client.rpc(op="subscribe", room=room, since="0")
    sent = {}
    for n in range(args.messages):
        sender = clients[n % 3]
        body = f"message {n + 1} from {sender.name}"
        key_hex = os.urandom(16).hex()
        t0 = time.perf_counter()
        ack = await sender.rpc(op="send", room=room, key=key_hex, body=body)
        ack_ms = (time.perf_counter() - t0) * 1000
        sent[ack["seq"]] = (t0, body)
        print(f"{sender.name:6} sent seq {ack['seq']:>3}  ack {ack_ms:6.2f} ms  hash {ack['hash'][:16]}…")
    # Every subscriber on every node receives every message once, in order, chained by hash.
    for client in clients:
        previous = "0" * 64
        worst_ms = 0.0
        for n in range(args.messages):
            event = await asyncio.wait_for(client.events.get(), 5)
            while event["type"] != "message":
                event = await asyncio.wait_for(client.events.get(), 5)
            assert event["seq"] == str(n + 1), event
            assert event["prev_hash"] == previous, "hash chain broken"
            previous = event["hash"]
            worst_ms = max(worst_ms, (time.perf_counter() - sent[event["seq"]][0]) * 1000)
        print(f"{client.name:6} received seqs 1..{args.messages} in order, hash chain verified")
    # Exactly once: a retry of a send with the same key returns the original seq.
    key_hex = os.urandom(16).hex()
    first = await alice.rpc(op="send", room=room, key=key_hex, body="only once")
    retry = await carol.rpc(op="send", room=room, key=key_hex, body="only once")
    print(f"retry with the same key on another node: seq {retry['seq']} (original {first['seq']}), "
          f"duplicate={retry['duplicate']}")
    page = await bob.rpc(op="history", room=room, from_seq="1", limit=5)
    print(f"history page from seq 1: {[m['body'] for m in page['messages']]} next_seq={page['next_seq']}")
    for client in clients:
        await client.ws.close()
    print("demo ok")


if __name__ == "__main__":
    asyncio.run(main())
