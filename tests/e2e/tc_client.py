"""A tiny TigerChat test client (docs/protocol.md) and a minimal async test runner.

Environment (set by tests/e2e/run.sh):
  TC_CLUSTER_DIR, TC_CLUSTER_BASE_PORT, TC_NODE_BIN   the running cluster (scripts/cluster.sh)
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time
import traceback
import urllib.request

import websockets

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER_SH = os.path.join(ROOT, "scripts", "cluster.sh")
DIR = os.environ.get("TC_CLUSTER_DIR", "/tmp/h4c")
BASE = int(os.environ.get("TC_CLUSTER_BASE_PORT", "23000"))
BIN = os.environ.get("TC_NODE_BIN", "/tmp/b/h4/node/tigerchat-node")
HOST = "127.0.0.1"
NODES = (1, 2, 3)
GROUPS = (1, 2, 3, 4)  # scripts/cluster.sh default --groups 4


def client_port(n): return BASE + n
def admin_port(n): return BASE + 200 + n


# Unique users and rooms per run: tests never share state by accident.
_rng = random.Random()
_next_user = _rng.randrange(1_000_000, 9_000_000) * 1000
_next_room = _rng.randrange(1_000_000, 9_000_000) * 1000


def new_user():
    global _next_user
    _next_user += 1
    return str(_next_user)


def new_room():
    global _next_room
    _next_room += 1
    return str(_next_room)


def new_key():
    return os.urandom(16).hex()


# ------------------------------------------------------------------------------------------------
# Cluster control and tokens.

def _env():
    e = dict(os.environ)
    e.update(TC_CLUSTER_DIR=DIR, TC_CLUSTER_BASE_PORT=str(BASE), TC_NODE_BIN=BIN)
    return e


def cluster(*args, timeout=60):
    return subprocess.run([CLUSTER_SH, *map(str, args)], env=_env(), check=True, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()


def token(sub, rooms="*", ttl_s=None):
    """A token minted by the node binary (scripts/cluster.sh token)."""
    cmd = [CLUSTER_SH, "token", str(sub), rooms if isinstance(rooms, str) else ",".join(rooms)]
    if ttl_s is not None:  # cluster.sh passes only SUB ROOMS; call the binary for --ttl-s
        cmd = [BIN, "token", "--config", os.path.join(DIR, "node-1.conf"), "--sub", str(sub),
               "--rooms", cmd[3], "--ttl-s", str(ttl_s)]
    return subprocess.check_output(cmd, env=_env(), timeout=10).decode().strip()


def jwt_key():
    """The HS256 secret, read like node-config.md §4 (hex text, else raw bytes)."""
    raw = open(os.path.join(DIR, "jwt.key"), "rb").read()
    text = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
    if text and len(text) % 2 == 0 and re.fullmatch(rb"[0-9a-fA-F]+", text):
        return bytes.fromhex(text.decode())
    return raw


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(payload, header=None, key=None, signature=None):
    """Craft an HS256 token by hand. payload/header: dict or raw str."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    signing_input = b64url(h.encode()) + "." + b64url(p.encode())
    if signature is None:
        signature = hmac.new(jwt_key() if key is None else key, signing_input.encode(),
                             hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def claims(sub, rooms="*", exp_in=3600, **extra):
    c = {"sub": str(sub), "rooms": rooms, "exp": int(time.time()) + exp_in}
    c.update(extra)
    return c


# ------------------------------------------------------------------------------------------------
# Hash chain (docs/protocol.md §6, docs/room.md §4).

ZERO_HASH = "0" * 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def b2(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def message_hash(m):
    pre = (bytes.fromhex(m["prev_hash"]) + struct.pack("<QQQQ", int(m["room"]), int(m["seq"]),
           int(m["sender"]), int(m["timestamp_ns"])) + b2(m["body"].encode()))
    return b2(pre).hex()


def check_chain(messages, first_seq=None, prev_hash=None):
    """Asserts seqs consecutive, prev_hash links, each hash and body_hash recomputes."""
    for i, m in enumerate(messages):
        if i == 0:
            if first_seq is not None:
                check(int(m["seq"]) == first_seq, "first seq %s != %d" % (m["seq"], first_seq))
            if prev_hash is not None:
                check(m["prev_hash"] == prev_hash, "seq %s prev_hash does not link" % m["seq"])
        else:
            p = messages[i - 1]
            check(int(m["seq"]) == int(p["seq"]) + 1, "gap/dup: seq %s after %s" % (m["seq"], p["seq"]))
            check(m["prev_hash"] == p["hash"], "seq %s prev_hash != hash of %s" % (m["seq"], p["seq"]))
        check(HEX64.match(m["hash"]), "hash not 64 hex: %r" % m["hash"])
        check(m["body_hash"] == b2(m["body"].encode()).hex(), "body_hash wrong at seq %s" % m["seq"])
        check(m["hash"] == message_hash(m), "hash does not recompute at seq %s" % m["seq"])


# ------------------------------------------------------------------------------------------------
# Assertions.

class TestFailure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def expect_error(resp, name, code, field=None):
    check(resp.get("type") == "error" and resp.get("error") == name and resp.get("code") == code,
          "expected error %s(%d), got %s" % (name, code, json.dumps(resp)[:300]))
    if field is not None:
        check(resp.get("field") == field, "expected field %r in %s" % (field, resp))
    check(isinstance(resp.get("message"), str), "error without message: %s" % resp)


def expect_result(resp):
    check(resp.get("type") == "result", "expected result, got %s" % json.dumps(resp)[:300])
    return resp


# ------------------------------------------------------------------------------------------------
# WebSocket client (websockets 10.4) with id matching.

_open_clients = []  # every Client of the running test: the runner aborts leftovers


class Client:
    """One connection. A reader task routes responses by id; everything else goes to events."""

    def __init__(self, ws, node, sub):
        self.ws, self.node, self.sub = ws, node, sub
        self.pending = {}
        self.events = asyncio.Queue()
        self.orphans = []  # responses whose id nobody waits for (e.g. no id)
        self._n = 0
        self.close_code = None
        self.closed = asyncio.get_event_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())
        _open_clients.append(self)

    async def _read(self):
        try:
            async for text in self.ws:
                m = json.loads(text)
                fut = self.pending.get(m.get("id")) if m.get("type") in ("result", "error") else None
                if fut is not None and "id" in m:
                    self.pending.pop(m["id"])
                    if not fut.done():
                        fut.set_result(m)
                elif m.get("type") in ("result", "error") and "id" in m:
                    self.orphans.append(m)
                else:
                    await self.events.put(m)
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa
            print("  reader error:", repr(e))
        finally:
            self.close_code = self.ws.close_code
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("closed %s" % self.close_code))
                    fut.exception()  # retrieved: nobody may be waiting for it
            self.pending.clear()
            if not self.closed.done():
                self.closed.set_result(self.close_code)

    def next_id(self):
        self._n += 1
        return "r%d" % self._n

    def start(self, req):
        """Send a request; return the future of its response (pipelining)."""
        req = dict(req)
        req.setdefault("id", self.next_id())
        fut = asyncio.get_event_loop().create_future()
        if self.closed.done():
            fut.set_exception(ConnectionError("closed %s" % self.close_code))
            return fut
        self.pending[req["id"]] = fut
        asyncio.ensure_future(self._send(json.dumps(req), fut))
        return fut

    async def _send(self, text, fut):
        try:
            await self.ws.send(text)
        except Exception as e:
            if not fut.done():
                fut.set_exception(ConnectionError(repr(e)))
                fut.exception()

    async def rpc(self, req, timeout=5.0):
        return await asyncio.wait_for(self.start(req), timeout)

    async def call(self, req, timeout=5.0):
        """rpc that waits out rate_limited answers (for tests that are not about rate limits)."""
        for _ in range(200):
            r = await self.rpc(dict(req), timeout)
            if r.get("error") != "rate_limited":
                return r
            await asyncio.sleep(max(r.get("retry_after_ms", 10), 5) / 1000.0)
        return r

    async def gather(self, reqs, chunk=30):
        """Pipelined requests, at most `chunk` in flight (the limit is 32)."""
        out = []
        for i in range(0, len(reqs), chunk):
            out += await asyncio.gather(*[self.call(r) for r in reqs[i:i + chunk]])
        return out

    async def send_text(self, text):
        await self.ws.send(text)

    async def next_event(self, pred=None, timeout=3.0):
        """The next event satisfying pred (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            m = await asyncio.wait_for(self.events.get(), left)
            if pred is None or pred(m):
                return m

    async def drain_events(self, quiet=0.3):
        """All events until none arrives for `quiet` seconds."""
        out = []
        while True:
            try:
                out.append(await asyncio.wait_for(self.events.get(), quiet))
            except asyncio.TimeoutError:
                return out

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except Exception:
            pass
        self.reader.cancel()
        if self in _open_clients:
            _open_clients.remove(self)

    def abort(self):
        try:
            self.ws.transport.abort()
        except Exception:
            pass
        self.reader.cancel()

    async def send_retrying(self, room, body, key=None, **kw):
        """send, waiting out rate_limited answers (same key)."""
        key = key or new_key()
        for _ in range(200):
            r = await self.send_msg(room, body, key=key, **kw)
            if r.get("error") != "rate_limited":
                return r
            await asyncio.sleep(max(r.get("retry_after_ms", 10), 5) / 1000.0)
        return r

    # Convenience wrappers.
    async def send_msg(self, room, body, key=None, **kw):
        req = {"op": "send", "room": room, "key": key or new_key(), "body": body}
        req.update(kw)
        return await self.rpc(req)


class HandshakeRefused(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d %s" % (status, body))
        self.status, self.body = status, body


async def connect(node, sub=None, tok=None, mode="header", rooms="*", retries=40):
    """Connect to node 1..3 as sub (minting a token) or with tok. Retries HTTP 429."""
    if tok is None:
        sub = sub or new_user()
        tok = token(sub, rooms)
    uri = "ws://%s:%d/v1/ws" % (HOST, client_port(node))
    headers = {}
    if mode == "header":
        headers["Authorization"] = "Bearer " + tok
    else:
        uri += "?token=" + tok
    for attempt in range(retries):
        try:
            ws = await asyncio.wait_for(websockets.connect(
                uri, extra_headers=headers, max_size=2 ** 21, ping_interval=None,
                compression=None, open_timeout=5, close_timeout=1), 6)
            return Client(ws, node, sub)
        except websockets.InvalidStatusCode as e:
            if e.status_code in (429, 503) and attempt + 1 < retries:
                await asyncio.sleep(0.25)
                continue
            raise HandshakeRefused(e.status_code, None)


# ------------------------------------------------------------------------------------------------
# Raw HTTP and raw WebSocket (malformed input).

def _recv_until_closed(s, limit=1 << 20, timeout=5.0):
    s.settimeout(timeout)
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def parse_http(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers, body


def _read_answer(s, timeout=5.0):
    """The HTTP answer: the head, then (not for 101) Content-Length bytes and the server's close."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    status, headers, body = parse_http(data)
    if status == 101:
        return status, headers, body
    n = int(headers.get("content-length", ["0"])[0])
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    rest = _recv_until_closed(s, timeout=2.0)  # the server closes after a refusal
    check(rest == b"", "bytes after the body: %r" % rest[:100])
    return status, headers, body


def http_raw(port, request_bytes, retries=40):
    """Send raw bytes, read the answer. Retries answers 429 (handshake bucket)."""
    for attempt in range(retries):
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.sendall(request_bytes)
            status, headers, body = _read_answer(s)
        if status == 429 and attempt + 1 < retries and b"too many connection attempts" in body:
            time.sleep(0.25)
            continue
        return status, headers, body


def upgrade_request(path="/v1/ws", headers=None, method="GET", version="HTTP/1.1", key=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    h = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    names = {k.lower() for k, _ in (headers or [])}
    h = [(k, v) for k, v in h if k.lower() not in names] + [(k, v) for k, v in (headers or []) if v is not None]
    text = "%s %s %s\r\n" % (method, path, version) + "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
    return text.encode(), key


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


class RawWS:
    """A hand-rolled WebSocket client: arbitrary frames, reads the close code."""

    def __init__(self, node, tok, timeout=5.0, rcvbuf=None):
        for attempt in range(40):
            if rcvbuf is None:
                self.s = socket.create_connection((HOST, client_port(node)), timeout=timeout)
            else:
                # A small receive buffer set before connecting (so the window starts small): a
                # reader that stops reading fills the server's buffer quickly.
                self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                self.s.settimeout(timeout)
                self.s.connect((HOST, client_port(node)))
            req, key = upgrade_request(headers=[("Authorization", "Bearer " + tok)])
            self.s.sendall(req)
            self.buf = b""
            while b"\r\n\r\n" not in self.buf:
                chunk = self.s.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            status, headers, _ = parse_http(head + b"\r\n\r\n")
            if status == 429 and attempt < 39:
                self.s.close()
                time.sleep(0.25)
                continue
            break
        check(status == 101, "handshake: HTTP %d" % status)
        check(headers.get("sec-websocket-accept") == [ws_accept(key)], "bad Sec-WebSocket-Accept")

    @staticmethod
    def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length_override=None):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload) if length_override is None else length_override
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            mk = os.urandom(4)
            payload = bytes(b ^ mk[i % 4] for i, b in enumerate(payload))
            return hdr + mk + payload
        return hdr + payload

    def send(self, data):
        self.s.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.s.sendall(self.frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(1, text.encode() if isinstance(text, str) else text)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("eof")
            self.buf += chunk

    def recv_frame(self):
        """(opcode, payload) of the next server frame; server frames must not be masked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        check(not (b1 & 0x80), "server frame is masked")
        check(not (b0 & 0x70), "server set a reserved bit")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4); n = struct.unpack("!H", self.buf[2:4])[0]; off = 4
        elif n == 127:
            self._need(10); n = struct.unpack("!Q", self.buf[2:10])[0]; off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def read_close(self, timeout=5.0):
        """Read frames until a close frame; returns (code, reason, frames before it)."""
        self.s.settimeout(timeout)
        before = []
        while True:
            op, payload = self.recv_frame()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    self.send_frame(8, payload[:2])  # answer the close
                except OSError:
                    pass
                return code, payload[2:], before
            before.append((op, payload))

    def recv_json(self, timeout=5.0):
        self.s.settimeout(timeout)
        while True:
            op, payload = self.recv_frame()
            if op == 1:
                return json.loads(payload)
            check(op in (9, 10), "unexpected opcode %d" % op)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------
# Admin port.

def metrics(node, timeout=1.0):
    """{name: {labels_str: value}} from /metrics."""
    text = urllib.request.urlopen("http://%s:%d/metrics" % (HOST, admin_port(node)), timeout=timeout).read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if m:
            out.setdefault(m.group(1), {})[m.group(2) or ""] = float(m.group(3))
    return out


def group_metric(m, name, group):
    for labels, v in m.get(name, {}).items():
        if 'group="%d"' % group in labels:
            return v
    return None


def mix64(z):
    M = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


def room_group(room):
    """docs/node-config.md §6."""
    slot = mix64(int(room)) % 4096
    return sorted(GROUPS)[slot * len(GROUPS) // 4096]


def primary_node(group, nodes=NODES):
    for n in nodes:
        try:
            if group_metric(metrics(n), "tigerchat_replica_primary", group) == 1:
                return n
        except OSError:
            pass
    return None


# ------------------------------------------------------------------------------------------------
# Shared flows.

async def retry_rpc(client, req, retry_errors=("room_not_found", "not_member"), timeout=3.0):
    """An rpc retried while a read on another node has not yet seen a write (replica lag)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.call(dict(req))
        if r.get("type") == "error" and r.get("error") in retry_errors and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            continue
        return r


async def history_all(client, room, from_seq=1, limit=100, expect_head=None, timeout=10.0):
    """Every message from from_seq, page by page (checks next_seq chaining)."""
    deadline = time.monotonic() + timeout
    while True:
        msgs, seq, head = [], from_seq, None
        while True:
            r = await retry_rpc(client, {"op": "history", "room": room, "from_seq": str(seq), "limit": limit})
            expect_result(r)
            head = int(r["head_seq"])
            msgs += r["messages"]
            check(int(r["next_seq"]) == (int(r["messages"][-1]["seq"]) + 1 if r["messages"] else seq),
                  "next_seq %s does not follow the page" % r["next_seq"])
            if not r["messages"] or int(r["next_seq"]) > head:
                break
            seq = int(r["next_seq"])
        if expect_head is None or head >= expect_head or time.monotonic() > deadline:
            return head, msgs
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------------------------
# Minimal runner: every `async def test_*` in definition order, each bounded by a timeout.

def run_module(module_globals, default_timeout=30.0):
    only = [a for a in sys.argv[1:] if not a.startswith("-")]
    tests = [(n, f) for n, f in module_globals.items() if n.startswith("test_") and callable(f)]
    if only:
        tests = [(n, f) for n, f in tests if any(o in n for o in only)]
    failed = []
    t_all = time.monotonic()
    for name, fn in tests:
        timeout = getattr(fn, "timeout", default_timeout)
        t0 = time.monotonic()
        err = None

        async def wrapped():
            try:
                await asyncio.wait_for(fn(), timeout)
            finally:
                for c in list(_open_clients):
                    c.abort()
                _open_clients.clear()
        try:
            asyncio.run(wrapped())
        except asyncio.TimeoutError:
            err = ("test timed out after %.0fs" % timeout if time.monotonic() - t0 >= timeout
                   else "a wait timed out") + "\n" + traceback.format_exc(limit=6)
        except Exception:
            err = traceback.format_exc(limit=8)
        dt = time.monotonic() - t0
        print("%s %-55s %6.2fs" % ("PASS" if err is None else "FAIL", name, dt), flush=True)
        if err:
            failed.append(name)
            print("    " + err.strip().replace("\n", "\n    "), flush=True)
    print("%s: %d passed, %d failed in %.1fs%s" % (
        os.path.basename(sys.argv[0]), len(tests) - len(failed), len(failed), time.monotonic() - t_all,
        (" (" + ", ".join(failed) + ")") if failed else ""), flush=True)
    return 1 if failed else 0


def timeout(seconds):
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco
