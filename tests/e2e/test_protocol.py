"""End-to-end protocol tests against a running 3-node cluster (docs/protocol.md).

Run via tests/e2e/run.sh, or by hand: TC_CLUSTER_DIR=... TC_CLUSTER_BASE_PORT=... python3 test_protocol.py [NAME...]
"""
import asyncio
import base64
import json
import socket
import struct
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tc_client import *  # noqa: E402,F401,F403
import tc_client as tc  # noqa: E402


def http_json_error(body):
    return json.loads(body.decode())["error"]


def expect_http_error(status, headers, body, want_status, want_code, want_name):
    check(status == want_status, "HTTP %d, expected %d (body %r)" % (status, want_status, body[:200]))
    err = http_json_error(body)
    check(err.get("code") == want_code and err.get("name") == want_name,
          "body %r, expected code %d name %s" % (body[:200], want_code, want_name))
    check(isinstance(err.get("message"), str), "no message in %r" % body)
    check(headers.get("connection", [""])[0].lower() == "close", "no Connection: close: %s" % headers)
    check(headers.get("content-length") == [str(len(body))], "Content-Length %s != %d" % (headers.get("content-length"), len(body)))


def handshake(tok=None, node=1, path="/v1/ws", extra=None, query=None):
    headers = list(extra or [])
    if tok is not None:
        headers.append(("Authorization", "Bearer " + tok))
    if query is not None:
        path = path + "?token=" + query
    req, key = upgrade_request(path=path, headers=headers)
    return http_raw(client_port(node), req) + (key,)


def expect_401(tok, code, name, node=1, **kw):
    status, headers, body, _ = handshake(tok, node=node, **kw)
    expect_http_error(status, headers, body, 401, code, name)
    check(any(v.lower().startswith("bearer") for v in headers.get("www-authenticate", [])),
          "401 without WWW-Authenticate: Bearer: %s" % headers)


def expect_101(tok, node=1, **kw):
    status, headers, body, key = handshake(tok, node=node, **kw)
    check(status == 101, "HTTP %d %r, expected 101" % (status, body[:200]))
    check(headers.get("sec-websocket-accept") == [ws_accept(key)], "bad accept %s" % headers)


# ================================================================================================
# 1-2. Handshake and authentication.

async def test_handshake_ok_header_and_accept():
    expect_101(token(new_user()), node=1)


async def test_handshake_ok_query_token():
    expect_101(None, node=2, query=token(new_user()))


async def test_handshake_bearer_scheme_case_insensitive():
    status, headers, body, _ = handshake(None, node=3, extra=[("Authorization", "bEaReR   " + token(new_user()))])
    check(status == 101, "HTTP %d %r" % (status, body))


async def test_handshake_no_token_401():
    expect_401(None, 110, "auth_failed")


async def test_handshake_header_and_query_token_401():
    t = token(new_user())
    expect_401(t, 110, "auth_failed", query=t)


async def test_handshake_two_query_tokens_401():
    t = token(new_user())
    status, headers, body, _ = handshake(None, path="/v1/ws?token=%s&token=%s" % (t, t))
    expect_http_error(status, headers, body, 401, 110, "auth_failed")


async def test_handshake_bad_signature_401():
    t = token(new_user())
    h, p, s = t.split(".")
    sig = bytearray(base64.urlsafe_b64decode(s + "="))
    sig[0] ^= 1
    expect_401(h + "." + p + "." + b64url(bytes(sig)), 110, "auth_failed")
    expect_401(make_jwt(claims(new_user()), key=b"x" * 32), 110, "auth_failed")


async def test_handshake_handmade_token_ok():
    # Our own HS256 implementation with the cluster key is accepted (cross-checks minting).
    expect_101(make_jwt(claims(new_user(), nbf=int(time.time()) - 5, iat=int(time.time()))))


async def test_handshake_expired_token_401():
    expect_401(make_jwt(claims(new_user(), exp_in=-120)), 111, "token_expired")


async def test_handshake_expired_within_leeway_ok():
    expect_101(make_jwt(claims(new_user(), exp_in=-5)))  # leeway 30 s


async def test_handshake_nbf_in_future_401():
    expect_401(make_jwt(claims(new_user(), nbf=int(time.time()) + 600)), 112, "token_not_yet_valid")


async def test_handshake_alg_none_401():
    tok = make_jwt(claims(new_user()), header={"alg": "none", "typ": "JWT"}, signature=b"")
    expect_401(tok, 110, "auth_failed")
    # alg none but a valid HS256 signature over the same input: still refused (alg pinned).
    expect_401(make_jwt(claims(new_user()), header={"alg": "none"}), 110, "auth_failed")
    expect_401(make_jwt(claims(new_user()), header={"alg": "RS256"}), 110, "auth_failed")


async def test_handshake_bad_header_members_401():
    expect_401(make_jwt(claims(new_user()), header={"alg": "HS256", "typ": "JWS"}), 110, "auth_failed")
    expect_401(make_jwt(claims(new_user()), header={"alg": "HS256", "crit": ["exp"]}), 110, "auth_failed")
    expect_101(make_jwt(claims(new_user()), header={"alg": "HS256", "kid": "k1"}))


async def test_handshake_bad_claims_401():
    u = new_user()
    now = int(time.time())
    for bad in ({"rooms": "*", "exp": now + 60},                      # no sub
                {"sub": u, "exp": now + 60},                          # no rooms
                {"sub": u, "rooms": "*"},                             # no exp
                {"sub": "0", "rooms": "*", "exp": now + 60},          # sub 0
                {"sub": "0" + u, "rooms": "*", "exp": now + 60},      # leading zero
                {"sub": int(u), "rooms": "*", "exp": now + 60},       # sub a number
                {"sub": u, "rooms": "*", "exp": str(now + 60)},       # exp a string
                {"sub": u, "rooms": "*", "exp": now + 60, "iat": "x"},
                {"sub": u, "rooms": ["0"], "exp": now + 60},          # room 0
                {"sub": u, "rooms": [str(i) for i in range(1, 66)], "exp": now + 60},  # 65 rooms
                {"sub": u, "rooms": "*", "exp": now + 3 * 86400}):    # lifetime over the cap
        expect_401(make_jwt(bad), 110, "auth_failed")
    # duplicate claim names
    dup = '{"sub":"%s","sub":"%s","rooms":"*","exp":%d}' % (u, u, now + 60)
    expect_401(make_jwt(dup), 110, "auth_failed")
    # 64 rooms is fine
    expect_101(make_jwt({"sub": u, "rooms": [str(i) for i in range(1, 65)], "exp": now + 60}))


async def test_handshake_tenant_claim():
    # The cluster has no jwt_tenant: a well-formed tenant claim is accepted...
    expect_101(make_jwt(claims(new_user(), tenant="acme")))
    # ...and a malformed one is not a well-formed claim (protocol.md §2 step 4).
    expect_401(make_jwt(claims(new_user(), tenant="bad tenant!")), 110, "auth_failed")


async def test_handshake_token_over_4096_401():
    expect_401(make_jwt(claims(new_user(), pad="x" * 4200)), 110, "auth_failed")


async def test_handshake_wrong_path_404():
    status, headers, body, _ = handshake(token(new_user()), path="/v2/ws")
    expect_http_error(status, headers, body, 404, 404, "not_found")


async def test_handshake_method_405():
    req, _ = upgrade_request(method="POST", headers=[("Authorization", "Bearer " + token(new_user()))])
    status, headers, body = http_raw(client_port(1), req)
    expect_http_error(status, headers, body, 405, 405, "method_not_allowed")
    check(headers.get("allow") == ["GET"], "no Allow: GET in %s" % headers)


async def test_handshake_upgrade_checks():
    t = [("Authorization", "Bearer " + token(new_user()))]
    req, _ = upgrade_request(headers=t + [("Upgrade", None)])
    req = req.replace(b"Upgrade: websocket\r\n", b"")
    status, headers, body = http_raw(client_port(2), req)
    expect_http_error(status, headers, body, 426, 426, "upgrade_required")
    req, _ = upgrade_request(headers=t + [("Sec-WebSocket-Version", "12")])
    status, headers, body = http_raw(client_port(2), req)
    expect_http_error(status, headers, body, 426, 426, "upgrade_required")
    check(headers.get("sec-websocket-version") == ["13"], "426 without Sec-WebSocket-Version: 13")
    req, _ = upgrade_request(headers=t, key="c2hvcnQ=")
    status, headers, body = http_raw(client_port(2), req)
    expect_http_error(status, headers, body, 400, 400, "bad_request")
    req, _ = upgrade_request(headers=t, version="HTTP/2.0")
    status, headers, body = http_raw(client_port(2), req)
    expect_http_error(status, headers, body, 505, 505, "http_version_not_supported")
    req, _ = upgrade_request(headers=t + [("Connection", "keep-alive")])
    status, headers, body = http_raw(client_port(2), req)
    expect_http_error(status, headers, body, 400, 400, "bad_request")
    # The order of checks: a bad Upgrade is decided before the missing token.
    req, _ = upgrade_request(headers=[("Sec-WebSocket-Version", "12")])
    status, headers, body = http_raw(client_port(2), req)
    expect_http_error(status, headers, body, 426, 426, "upgrade_required")


async def test_handshake_malformed_head_400():
    status, headers, body = http_raw(client_port(3), b"GET /v1/ws HTTP/1.1\nHost: x\n\n")
    expect_http_error(status, headers, body, 400, 400, "bad_request")
    status, headers, body = http_raw(client_port(3), b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n")
    expect_http_error(status, headers, body, 400, 400, "bad_request")
    status, headers, body = http_raw(client_port(3), b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    expect_http_error(status, headers, body, 414, 414, "uri_too_long")
    many = b"".join(b"X-%d: y\r\n" % i for i in range(40))
    status, headers, body = http_raw(client_port(3), b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    expect_http_error(status, headers, body, 431, 431, "headers_too_large")


async def test_handshake_query_token_percent_decoded_and_other_params():
    t = token(new_user())
    expect_101(None, node=1, path="/v1/ws?foo=bar&x=1&token=" + t.replace(".", "%2E").replace("_", "%5f"))


async def test_handshake_two_authorization_headers_401():
    t = token(new_user())
    status, headers, body, _ = handshake(t, extra=[("Authorization", "Bearer " + t)])
    expect_http_error(status, headers, body, 401, 110, "auth_failed")


async def test_handshake_host_and_body_checks_400():
    t = [("Authorization", "Bearer " + token(new_user()))]
    for name, extra in (("two Host headers", [("Host", "a")]), ("Content-Length: 5", [("Content-Length", "5")]),
                        ("Transfer-Encoding", [("Transfer-Encoding", "chunked")])):
        req, _ = upgrade_request(headers=t)
        head = req[:-2] + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in extra) + b"\r\n"
        status, headers, body = http_raw(client_port(1), head)
        check(status == 400, "%s: HTTP %d %r" % (name, status, body[:100]))
        expect_http_error(status, headers, body, 400, 400, "bad_request")
    req, _ = upgrade_request(headers=t)
    req = req.replace(b"Host: 127.0.0.1\r\n", b"")
    status, headers, body = http_raw(client_port(1), req)
    expect_http_error(status, headers, body, 400, 400, "bad_request")
    # Content-Length: 0 is allowed.
    req, _ = upgrade_request(headers=t + [("Content-Length", "0")])
    status, headers, body = http_raw(client_port(1), req)
    check(status == 101, "Content-Length: 0 refused: %d %r" % (status, body[:100]))


async def test_healthz_on_client_port():
    for version in (b"HTTP/1.1", b"HTTP/1.0"):
        status, headers, body = http_raw(client_port(1), b"GET /healthz " + version + b"\r\nHost: x\r\n\r\n")
        check(status == 200 and body == b"ok\n", "healthz: %d %r" % (status, body))
        check(headers.get("content-type", [""])[0].startswith("text/plain"), "healthz content-type %s" % headers)


async def test_admin_healthz_and_metrics():
    for n in NODES:
        body = tc.urllib.request.urlopen("http://127.0.0.1:%d/healthz" % admin_port(n), timeout=2).read()
        check(body.strip() == b"ok", "admin healthz %r" % body)
        m = metrics(n)
        check(len(m.get("tigerchat_replica_primary", {})) == len(GROUPS), "metrics lack replica gauges")


# ================================================================================================
# 5. Operations.

async def test_ping():
    c = await connect(1)
    r = await c.rpc({"id": "p1", "op": "ping"})
    check(r == {"type": "result", "id": "p1"}, "ping: %s" % r)
    await c.close()


async def test_create_room_and_room_exists():
    c = await connect(1)
    room = new_room()
    r = expect_result(await c.rpc({"op": "create_room", "room": room}))
    check(r["room"] == room and r["seq"] == "0" and r["hash"] == ZERO_HASH, "create_room: %s" % r)
    expect_error(await c.rpc({"op": "create_room", "room": room}), "room_exists", 5)
    expect_error(await c.rpc({"op": "create_room", "room": "0"}), "invalid_room", 2)
    await c.close()


async def test_create_dm():
    a, b = new_user(), new_user()
    ca = await connect(1, a)
    room = new_room()
    expect_error(await ca.rpc({"op": "create_dm", "room": room, "peer": a}), "invalid_user", 3)
    expect_error(await ca.rpc({"op": "create_dm", "room": room, "peer": "0"}), "invalid_user", 3)
    r = expect_result(await ca.rpc({"op": "create_dm", "room": room, "peer": b}))
    check(r["seq"] == "0" and r["hash"] == ZERO_HASH, "create_dm: %s" % r)
    expect_error(await ca.rpc({"op": "create_dm", "room": room, "peer": b}), "room_exists", 5)
    # The peer is a member without joining; a third user cannot join; nobody can leave.
    cb = await connect(2, b)
    r = await retry_rpc(cb, {"op": "send", "room": room, "key": new_key(), "body": "hi a"})
    check(expect_result(r)["seq"] == "1", "peer send %s" % r)
    cc = await connect(3)
    expect_error(await retry_rpc(cc, {"op": "join", "room": room}), "dm_fixed", 11)
    expect_error(await cb.rpc({"op": "leave", "room": room}), "dm_fixed", 11)
    for c in (ca, cb, cc):
        await c.close()


async def test_join_leave_errors():
    a, b = new_user(), new_user()
    ca, cb = await connect(1, a), await connect(1, b)
    room = new_room()
    expect_result(await ca.rpc({"op": "create_room", "room": room}))
    r1 = expect_result(await ca.send_msg(room, "one"))
    expect_error(await cb.rpc({"op": "leave", "room": room}), "not_member", 10)
    expect_error(await cb.send_msg(room, "x"), "not_member", 10)
    r = expect_result(await cb.rpc({"op": "join", "room": room}))
    check(r["seq"] == "1" and r["hash"] == r1["hash"], "join result is the chain head: %s vs %s" % (r, r1))
    expect_error(await cb.rpc({"op": "join", "room": room}), "already_member", 9)
    expect_error(await ca.rpc({"op": "join", "room": room}), "already_member", 9)
    expect_result(await cb.rpc({"op": "leave", "room": room}))
    expect_error(await cb.rpc({"op": "leave", "room": room}), "not_member", 10)
    expect_error(await cb.rpc({"op": "join", "room": new_room()}), "room_not_found", 6)
    expect_error(await cb.rpc({"op": "join", "room": "0"}), "invalid_room", 2)
    await ca.close(); await cb.close()


async def test_send_ack_fields_and_chain():
    c = await connect(1)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    acks = []
    for i in range(10):
        r = expect_result(await c.send_msg(room, "msg %d é ✓" % i))
        check(r["room"] == room and r["thread_seq"] == "0" and r["duplicate"] is False, "ack %s" % r)
        check(HEX64.match(r["hash"]), "hash not 64 lowercase hex: %s" % r["hash"])
        acks.append(r)
    check([int(a["seq"]) for a in acks] == list(range(1, 11)), "seqs %s" % [a["seq"] for a in acks])
    head, msgs = await history_all(c, room)
    check(head == 10 and len(msgs) == 10, "history head %d len %d" % (head, len(msgs)))
    check_chain(msgs, first_seq=1, prev_hash=ZERO_HASH)
    for a, m in zip(acks, msgs):
        check(a["hash"] == m["hash"] and m["sender"] == c.sub, "ack/history mismatch %s %s" % (a, m))
        check(int(m["timestamp_ns"]) > 1_600_000_000 * 10**9, "timestamp_ns %s" % m["timestamp_ns"])
    await c.close()


async def test_send_idempotent_retry_on_another_node():
    u = new_user()
    c1 = await connect(1, u)
    room = new_room()
    expect_result(await c1.rpc({"op": "create_room", "room": room}))
    key = new_key()
    r1 = expect_result(await c1.send_msg(room, "exactly once", key=key))
    expect_result(await c1.send_msg(room, "another"))
    c3 = await connect(3, u)
    r2 = expect_result(await retry_rpc(c3, {"op": "send", "room": room, "key": key, "body": "exactly once"}))
    check(r2["duplicate"] is True and r2["seq"] == r1["seq"] and r2["hash"] == r1["hash"]
          and r2["thread_seq"] == r1["thread_seq"], "retry on node 3: %s vs %s" % (r2, r1))
    # Keys are case-insensitive in requests.
    r3 = expect_result(await c3.send_msg(room, "exactly once", key=key.upper()))
    check(r3["duplicate"] is True and r3["seq"] == r1["seq"], "upper-case key retry: %s" % r3)
    head, msgs = await history_all(c3, room, expect_head=2)
    check(head == 2 and [m["body"] for m in msgs] == ["exactly once", "another"], "history %s" % msgs)
    await c1.close(); await c3.close()


async def test_send_validation_errors():
    c = await connect(2)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    expect_error(await c.send_msg(room, "x", key="0" * 32), "invalid_key", 4)
    expect_error(await c.send_msg(room, "x", key="abc"), "invalid_field", 103, field="key")
    expect_error(await c.send_msg(room, "x", key="g" * 32), "invalid_field", 103, field="key")
    expect_error(await c.send_msg(room, "a" * 4097), "body_too_large", 104)
    expect_error(await c.send_msg(room, "é" * 2049), "body_too_large", 104)  # 4098 UTF-8 bytes
    expect_error(await c.send_msg(room, ""), "invalid_field", 103, field="body")
    r = expect_result(await c.send_msg(room, "a" * 4096))
    r = expect_result(await c.send_msg(room, "é" * 2048))
    check(r["seq"] == "2", "seq %s" % r["seq"])
    expect_error(await c.send_msg(new_room(), "x"), "room_not_found", 6)
    expect_error(await c.send_msg("0", "x"), "invalid_room", 2)
    expect_error(await c.rpc({"op": "send", "room": room, "body": "x"}), "missing_field", 102, field="key")
    expect_error(await c.rpc({"op": "send", "key": new_key(), "body": "x"}), "missing_field", 102, field="room")
    expect_error(await c.rpc({"op": "send", "room": room, "key": new_key()}), "missing_field", 102, field="body")
    expect_error(await c.rpc({"op": "send", "room": int(room), "key": new_key(), "body": "x"}), "malformed_frame", 100)
    expect_error(await c.rpc({"op": "send", "room": "07", "key": new_key(), "body": "x"}), "invalid_field", 103, field="room")
    expect_error(await c.rpc({"op": "send", "room": room, "key": new_key(), "body": 5}), "malformed_frame", 100)
    # Unknown members are ignored.
    expect_result(await c.rpc({"op": "send", "room": room, "key": new_key(), "body": "x", "future": {"a": 1}}))
    await c.close()


async def test_threads():
    c = await connect(1)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    root = expect_result(await c.send_msg(room, "root"))
    r1 = expect_result(await c.send_msg(room, "reply 1", thread_parent=root["seq"]))
    r2 = expect_result(await c.send_msg(room, "reply 2", thread_parent=root["seq"]))
    check((r1["thread_seq"], r2["thread_seq"]) == ("1", "2"), "thread_seq %s %s" % (r1, r2))
    expect_error(await c.send_msg(room, "x", thread_parent="99"), "thread_parent_not_found", 12)
    expect_error(await c.send_msg(room, "x", thread_parent=r1["seq"]), "thread_parent_is_reply", 14)
    _, msgs = await history_all(c, room)
    check(msgs[1]["thread_parent"] == root["seq"] and msgs[1]["thread_seq"] == "1", "history thread %s" % msgs[1])
    check(msgs[0]["thread_parent"] == "0", "root thread_parent %s" % msgs[0])
    await c.close()


async def test_forbidden_room():
    u = new_user()
    allowed, other = new_room(), new_room()
    c = await connect(1, u, rooms=allowed)
    expect_result(await c.rpc({"op": "create_room", "room": allowed}))
    expect_error(await c.rpc({"op": "create_room", "room": other}), "forbidden_room", 113)
    expect_error(await c.send_msg(other, "x"), "forbidden_room", 113)
    expect_error(await c.rpc({"op": "subscribe", "room": other}), "forbidden_room", 113)
    expect_error(await c.rpc({"op": "history", "room": other, "from_seq": "1"}), "forbidden_room", 113)
    expect_result(await c.send_msg(allowed, "ok"))
    none = await connect(2, new_user(), tok=make_jwt(claims(new_user(), rooms=[])))
    expect_error(await none.rpc({"op": "create_room", "room": new_room()}), "forbidden_room", 113)
    await c.close(); await none.close()


async def test_request_framing_errors():
    c = await connect(3)
    await c.send_text("{not json")
    e = await c.next_event(lambda m: m.get("type") == "error")
    expect_error(e, "malformed_frame", 100)
    check("id" not in e, "malformed frame error has an id: %s" % e)
    for bad in ('[1,2]', '"str"', '{"id":"a","op":"ping"} x', '{"id":"a","id":"b","op":"ping"}',
                '{"id":"a","op":"ping","x":"\\u0000"}', '{"id":"a","op":"ping","x":"a\tb"}',
                '{"id":"a","op":"ping","x":' + "[" * 17 + "]" * 17 + "}"):
        await c.send_text(bad)
        e = await c.next_event(lambda m: m.get("type") == "error")
        check(e.get("code") == 100 and e.get("error") == "malformed_frame", "%r -> %s" % (bad, e))
    # Nesting of exactly 16 levels is fine.
    r = await c.rpc({"id": "n16", "op": "ping", "x": json.loads("[" * 15 + "]" * 15)})
    check(r.get("type") == "result", "16 levels: %s" % r)
    expect_error(await c.rpc({"op": "frobnicate"}), "unknown_op", 101)
    expect_error(await c.rpc({"op": 7}), "malformed_frame", 100)
    await c.send_text('{"op":"ping"}')
    e = await c.next_event(lambda m: m.get("type") == "error")
    expect_error(e, "missing_field", 102, field="id")
    for bad_id in ("", "a b", "x" * 65):
        await c.send_text(json.dumps({"id": bad_id, "op": "ping"}))
        e = await c.next_event(lambda m: m.get("type") == "error")
        check(e.get("code") == 103 and e.get("error") == "invalid_field", "id %r -> %s" % (bad_id, e))
    r = await c.rpc({"id": "x" * 64, "op": "ping"})
    check(r.get("type") == "result", "64-byte id: %s" % r)
    await c.close()


async def test_request_missing_op():
    c = await connect(3)
    expect_error(await c.rpc({"id": "noop"}), "missing_field", 102, field="op")
    await c.close()


async def test_duplicate_request_id_in_flight():
    u = new_user()
    c = await connect(1, u)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    await c.close()
    # Both frames in one TCP write: the server reads them in one go, before the first can commit,
    # so the second finds "same" in flight (two writes raced a fast commit: a flaky test).
    raw = RawWS(1, token(u))
    raw.send(b"".join(RawWS.frame(1, json.dumps(
        {"id": "same", "op": "send", "room": room, "key": new_key(), "body": b}).encode())
        for b in ("first", "second")))
    answers = [raw.recv_json(timeout=10) for _ in range(2)]
    raw.close()
    codes = sorted(a.get("error", "result") for a in answers)
    check(codes == ["duplicate_request_id", "result"], "answers: %s" % answers)
    dup = [a for a in answers if a.get("type") == "error"][0]
    expect_error(dup, "duplicate_request_id", 106)


async def test_too_many_in_flight():
    u = new_user()
    c = await connect(2, u)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    await c.close()
    # 45 sends in one TCP write: the server reads them in one go, before any can commit, so the
    # 33rd and later find 32 requests in flight (docs/protocol.md §9).
    raw = RawWS(2, token(u))
    raw.send(b"".join(RawWS.frame(1, json.dumps(
        {"id": "f%d" % i, "op": "send", "room": room, "key": new_key(), "body": "m%d" % i}).encode())
        for i in range(45)))
    answers = [raw.recv_json(timeout=10) for _ in range(45)]
    raw.close()
    errs = [a for a in answers if a.get("type") == "error"]
    ok = [a for a in answers if a.get("type") == "result"]
    for e in errs:
        expect_error(e, "too_many_in_flight", 122)
    check(len(ok) == 32 and len(errs) == 13,
          "45 sends at once: %d ok, %d refused (expected 32 and 13)" % (len(ok), len(errs)))


async def test_auth_op():
    u = new_user()
    c = await connect(1, u)
    exp = int(time.time()) + 1800
    r = expect_result(await c.rpc({"id": "a1", "op": "auth", "token": make_jwt({"sub": u, "rooms": "*", "exp": exp})}))
    check(r.get("exp") == exp and r.get("id") == "a1", "auth result %s" % r)
    expect_error(await c.rpc({"op": "auth", "token": make_jwt(claims(new_user()))}), "user_mismatch", 114)
    expect_error(await c.rpc({"op": "auth", "token": make_jwt(claims(u), key=b"k" * 32)}), "auth_failed", 110)
    expect_error(await c.rpc({"op": "auth", "token": make_jwt(claims(u, exp_in=-120))}), "token_expired", 111)
    expect_error(await c.rpc({"op": "auth", "token": make_jwt(claims(u, nbf=int(time.time()) + 600))}),
                 "token_not_yet_valid", 112)
    expect_error(await c.rpc({"op": "auth"}), "missing_field", 102, field="token")
    r = await c.rpc({"op": "ping"})
    check(r.get("type") == "result", "connection survives failed auth: %s" % r)
    await c.close()


async def test_auth_narrows_rooms_ends_subscription():
    u = new_user()
    c = await connect(2, u)
    r1, r2 = new_room(), new_room()
    expect_result(await c.rpc({"op": "create_room", "room": r1}))
    expect_result(await c.rpc({"op": "create_room", "room": r2}))
    expect_result(await c.rpc({"op": "subscribe", "room": r1}))
    expect_result(await c.rpc({"op": "auth", "token": make_jwt(claims(u, rooms=[r2]))}))
    ev = await c.next_event(lambda m: m.get("type") == "unsubscribed")
    check(ev == {"type": "unsubscribed", "room": r1, "reason": "forbidden"}, "event %s" % ev)
    expect_error(await c.send_msg(r1, "x"), "forbidden_room", 113)
    expect_result(await c.send_msg(r2, "x"))
    await c.close()


async def _typing_room():
    a, b = new_user(), new_user()
    ca, cb = await connect(1, a), await connect(3, b)
    room = new_room()
    expect_result(await ca.rpc({"op": "create_room", "room": room}))
    expect_result(await retry_rpc(cb, {"op": "join", "room": room}, retry_errors=("room_not_found",)))
    expect_result(await retry_rpc(cb, {"op": "subscribe", "room": room}))
    await asyncio.sleep(0.1)
    return ca, cb, room


async def test_typing_across_nodes():
    ca, cb, room = await _typing_room()
    r = expect_result(await ca.rpc({"id": "y1", "op": "typing", "room": room}))
    check(r == {"type": "result", "id": "y1", "room": room}, "typing result %s" % r)
    ev = await cb.next_event(lambda m: m.get("type") == "typing", timeout=3)
    check(ev == {"type": "typing", "room": room, "user": ca.sub}, "typing event %s" % ev)
    await ca.close(); await cb.close()


async def test_typing_rate_one_per_2s():
    ca, cb, room = await _typing_room()
    expect_result(await ca.rpc({"op": "typing", "room": room}))
    await cb.next_event(lambda m: m.get("type") == "typing", timeout=3)
    # A second typing of the same user and room within 2 s is answered with result and dropped.
    expect_result(await ca.rpc({"op": "typing", "room": room}))
    extra = [e for e in await cb.drain_events(0.5) if e.get("type") == "typing"]
    check(extra == [], "second typing within 2 s was delivered: %s" % extra)
    await ca.close(); await cb.close()


async def test_typing_non_member_refused():
    ca, cb, room = await _typing_room()
    cc = await connect(1)
    expect_error(await cc.rpc({"op": "typing", "room": room}), "not_member", 10)
    leaked = [e for e in await cb.drain_events(0.5) if e.get("type") == "typing"]
    check(leaked == [], "a non-member's typing reached the room's subscribers: %s" % leaked)
    await ca.close(); await cb.close(); await cc.close()


async def test_set_retention_messages_and_truncated():
    c = await connect(1)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    for i in range(20):
        expect_result(await c.send_retrying(room, "m%d" % (i + 1)))
    r = expect_result(await c.rpc({"op": "set_retention", "room": room, "mode": "messages", "value": 5}))
    check(r.get("mode") == "messages" and r.get("value") == 5 and r.get("room") == room, "set_retention %s" % r)
    r = expect_result(await c.rpc({"op": "history", "room": room, "from_seq": "1"}))
    check(r.get("truncated_at") == "16" and r.get("reason") == "retention" and r.get("messages") == [],
          "history below the floor: %s" % json.dumps(r)[:300])
    r = expect_result(await c.rpc({"op": "history", "room": room, "from_seq": "16"}))
    check([m["seq"] for m in r["messages"]] == [str(s) for s in range(16, 21)], "history from floor %s" % r)
    check_chain(r["messages"], first_seq=16)
    c2 = await connect(2, c.sub)
    expect_result(await retry_rpc(c2, {"op": "subscribe", "room": room, "since": "3"}))
    ev = await c2.next_event(timeout=3)
    check(ev == {"type": "truncated", "room": room, "truncated_at": "16", "reason": "retention"}, "first event %s" % ev)
    got = [await c2.next_event(timeout=3) for _ in range(5)]
    check([m.get("seq") for m in got] == [str(s) for s in range(16, 21)], "replay after truncated %s" % got)
    await c.close(); await c2.close()


async def test_set_retention_days_keeps_young_messages():
    c = await connect(2)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    for i in range(10):
        expect_result(await c.send_retrying(room, "d%d" % (i + 1)))
    expect_result(await c.rpc({"op": "set_retention", "room": room, "mode": "days", "value": 3}))
    expect_result(await c.send_retrying(room, "d11"))
    r = expect_result(await c.rpc({"op": "history", "room": room, "from_seq": "1"}))
    check("truncated_at" not in r and len(r["messages"]) == 11,
          "a 3-day retention removed messages seconds old: %s" % json.dumps(r)[:200])
    await c.close()


async def test_set_retention_result_fields():
    c = await connect(2)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    r = expect_result(await c.rpc({"id": "t1", "op": "set_retention", "room": room, "mode": "days", "value": 30}))
    check(r == {"type": "result", "id": "t1", "room": room, "mode": "days", "value": 30},
          "set_retention result %s, expected protocol.md 5.9's {room, mode, value}" % r)
    await c.close()


async def test_set_retention_all():
    c = await connect(3)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    r = expect_result(await c.rpc({"op": "set_retention", "room": room, "mode": "all"}))
    check(r.get("mode") == "all" and r.get("value", 0) == 0, "set_retention all %s" % r)
    r = expect_result(await c.rpc({"op": "set_retention", "room": room, "mode": "all", "value": 0}))
    await c.close()


async def test_set_retention_invalid():
    c = await connect(3)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    for bad in ({"mode": "bogus"}, {"mode": "days", "value": 36501}, {"mode": "all", "value": 5},
                {"mode": "messages", "value": 2 ** 40 + 1}):
        req = {"op": "set_retention", "room": room}
        req.update(bad)
        expect_error(await c.rpc(req), "invalid_field", 103)
    expect_error(await c.rpc({"op": "set_retention", "room": room, "mode": "days", "value": "3"}), "malformed_frame", 100)
    expect_error(await c.rpc({"op": "set_retention", "room": room}), "missing_field", 102, field="mode")
    other = await connect(3)
    expect_error(await retry_rpc(other, {"op": "set_retention", "room": room, "mode": "days", "value": 1},
                                 ("room_not_found",)), "not_member", 10)
    await c.close(); await other.close()


async def test_read_marker():
    ca, cb, room = await _typing_room()  # ca created the room; cb joined and subscribed
    for i in range(3):
        expect_result(await ca.send_retrying(room, "m%d" % (i + 1)))
    r = expect_result(await ca.rpc({"id": "m1", "op": "read_marker", "room": room, "seq": "2"}))
    check(r == {"type": "result", "id": "m1", "room": room, "seq": "2"}, "read_marker result %s" % r)
    ev = await cb.next_event(lambda m: m.get("type") == "read_marker", timeout=3)
    check(ev == {"type": "read_marker", "room": room, "user": ca.sub, "seq": "2"},
          "read_marker event %s" % ev)
    # Markers only move forward: a lower one leaves it, and the result carries the current one.
    r = expect_result(await ca.rpc({"op": "read_marker", "room": room, "seq": "1"}))
    check(r.get("seq") == "2", "a lower marker moved it back: %s" % r)
    expect_error(await ca.rpc({"op": "read_marker", "room": room, "seq": "99"}), "invalid_seq", 17)
    outsider = await connect(2)
    expect_error(await retry_rpc(outsider, {"op": "read_marker", "room": room, "seq": "1"},
                                 ("room_not_found",)), "not_member", 10)
    await ca.close(); await cb.close(); await outsider.close()


async def test_slow_subscriber_catch_up_then_gap_free():
    """A subscriber that stops reading fills its 1 MiB send buffer: the server tells it catch_up
    and later serves the missed messages from the log: every seq once, in order (§6, §9)."""
    sender = await connect(1)
    room = new_room()
    expect_result(await sender.rpc({"op": "create_room", "room": room}))
    slow_user = new_user()
    joiner = await connect(2, slow_user)
    expect_result(await retry_rpc(joiner, {"op": "join", "room": room}, retry_errors=("room_not_found",)))
    await joiner.close()
    raw = RawWS(2, token(slow_user), rcvbuf=4096)
    raw.send_text(json.dumps({"id": "s", "op": "subscribe", "room": room, "since": "0"}))
    # 4 KiB bodies from several senders (each within its rate limit): more than the server's
    # 1 MiB buffer plus the kernel's socket buffers.
    total = 1200
    body = "x" * 4000
    senders = [sender] + [await connect(1) for _ in range(5)]
    for s in senders[1:]:
        expect_result(await retry_rpc(s, {"op": "join", "room": room}, retry_errors=("room_not_found",)))
    async def send_all(s, reqs):
        # server_busy (the group's next batch is full: 4 KiB bodies fill it at ~31) means retry
        # later with the same key (docs/protocol.md §7).
        while reqs:
            answers = await s.gather(reqs)
            busy = [r for r, a in zip(reqs, answers) if a.get("error") == "server_busy"]
            check(all(a.get("type") == "result" or a.get("error") == "server_busy" for a in answers),
                  "send failed: %s" % [a for a in answers if a.get("type") != "result"][:1])
            reqs = busy
            if busy:
                await asyncio.sleep(0.02)
    await asyncio.gather(*[
        send_all(s, [{"op": "send", "room": room, "key": new_key(), "body": body + str(i)}
                     for i in range(k, total, len(senders))])
        for k, s in enumerate(senders)])
    for s in senders[1:]:
        await s.close()
    # Now read everything: a catch_up event, then seqs 1..total exactly once, in order.
    seqs, catch_ups = [], 0
    deadline = time.monotonic() + 30
    while len(seqs) < total and time.monotonic() < deadline:
        m = raw.recv_json(timeout=10)
        if m.get("type") == "message":
            seqs.append(int(m["seq"]))
        elif m.get("type") == "catch_up":
            catch_ups += 1
            check(int(m["from_seq"]) == len(seqs) + 1, "catch_up from_seq %s after %d" % (m, len(seqs)))
    check(seqs == list(range(1, total + 1)),
          "slow subscriber got %d messages, first break at %s" % (
              len(seqs), next((i for i, q in enumerate(seqs) if q != i + 1), None)))
    check(catch_ups >= 1, "no catch_up event although the subscriber stopped reading")
    raw.close()
    await sender.close()


# Redaction (docs/protocol.md §5.12, §6 `redacted`): the body goes, the chain stays.

def check_chain_redacted(messages, bodies, redacted, first_seq=1, prev_hash=ZERO_HASH):
    """check_chain for a page that may hold redacted messages: seqs consecutive, prev_hash links,
    each hash recomputes from body_hash (docs/room.md §4), which is the original body's hash;
    `bodies[seq]` is what was sent, `redacted` the seqs that must come without it."""
    for i, m in enumerate(messages):
        seq = int(m["seq"])
        check(seq == first_seq + i, "gap/dup: seq %s at %d" % (m["seq"], i))
        check(m["prev_hash"] == (prev_hash if i == 0 else messages[i - 1]["hash"]),
              "seq %s prev_hash does not link" % m["seq"])
        check(m["body_hash"] == b2(bodies[seq].encode()).hex(), "body_hash wrong at seq %d" % seq)
        pre = (bytes.fromhex(m["prev_hash"]) + struct.pack("<QQQQ", int(m["room"]), seq,
               int(m["sender"]), int(m["timestamp_ns"])) + bytes.fromhex(m["body_hash"]))
        check(m["hash"] == b2(pre).hex(), "hash does not recompute from body_hash at seq %d" % seq)
        if seq in redacted:
            check(m.get("body", "absent") is None and m.get("redacted") is True,
                  "seq %d not served redacted: %s" % (seq, m))
        else:
            check(m.get("body") == bodies[seq] and "redacted" not in m,
                  "seq %d served without its body: %s" % (seq, m))


async def _redact_room(nodes=(1, 3)):
    """A room of user a (node nodes[0]) that user b (node nodes[1]) joined and subscribed to, with
    messages 1-3 sent by a and 4 by b."""
    a, b = new_user(), new_user()
    ca, cb = await connect(nodes[0], a), await connect(nodes[1], b)
    room = new_room()
    expect_result(await ca.rpc({"op": "create_room", "room": room}))
    expect_result(await retry_rpc(cb, {"op": "join", "room": room}, retry_errors=("room_not_found",)))
    expect_result(await retry_rpc(cb, {"op": "subscribe", "room": room, "since": "0"}))
    bodies, acks = {}, {}
    for i in range(1, 5):
        bodies[i] = "secret %d" % i
        acks[i] = expect_result(await (ca if i <= 3 else cb).send_retrying(room, bodies[i]))
        check(acks[i]["seq"] == str(i), "send %d got seq %s" % (i, acks[i]["seq"]))
    got = [await cb.next_event(lambda m: m.get("type") == "message", timeout=3) for _ in range(4)]
    check([m["seq"] for m in got] == ["1", "2", "3", "4"], "subscriber got %s" % [m["seq"] for m in got])
    return ca, cb, room, bodies, acks


async def test_redact_own_message():
    ca, cb, room, bodies, acks = await _redact_room()
    r = expect_result(await ca.rpc({"id": "x1", "op": "redact", "room": room, "seq": "2"}))
    check(r == {"type": "result", "id": "x1", "room": room, "seq": "2", "duplicate": False},
          "redact result %s" % r)
    # Read your writes: this connection's history already shows it, with the chain intact.
    h = expect_result(await ca.call({"op": "history", "room": room, "from_seq": "1"}))
    check(h["head_seq"] == "4", "a redaction is no message: head %s" % h["head_seq"])
    check_chain_redacted(h["messages"], bodies, {2})
    check([m["hash"] for m in h["messages"]] == [acks[i]["hash"] for i in range(1, 5)],
          "hashes changed by the redaction")
    # Idempotent: again is ok, a duplicate, and changes nothing.
    r = expect_result(await ca.rpc({"op": "redact", "room": room, "seq": "2"}))
    check(r.get("seq") == "2" and r.get("duplicate") is True, "repeat %s" % r)
    # The same from every node (each replica applies the redaction; reads may lag a little).
    for node in NODES:
        c = await connect(node, cb.sub)
        deadline = time.monotonic() + 5
        while True:
            h = expect_result(await retry_rpc(c, {"op": "history", "room": room, "from_seq": "1"}))
            m = h.get("messages") or []
            if (len(m) == 4 and m[1].get("redacted")) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        check_chain_redacted(h["messages"], bodies, {2})
        await c.close()
    await ca.close(); await cb.close()


async def test_redact_errors():
    ca, cb, room, bodies, acks = await _redact_room(nodes=(2, 2))
    # Another user's message: forbidden_room, naming the seq; both ways round.
    expect_error(await cb.rpc({"op": "redact", "room": room, "seq": "1"}), "forbidden_room", 113,
                 field="seq")
    expect_error(await ca.rpc({"op": "redact", "room": room, "seq": "4"}), "forbidden_room", 113,
                 field="seq")
    # Seqs that name no message.
    for seq in ("0", "5", "18446744073709551615"):
        expect_error(await ca.rpc({"op": "redact", "room": room, "seq": seq}), "invalid_seq", 17)
    expect_error(await ca.rpc({"op": "redact", "room": room, "seq": "x"}), "invalid_field", 103,
                 field="seq")
    expect_error(await ca.rpc({"op": "redact", "room": room}), "missing_field", 102, field="seq")
    expect_error(await ca.rpc({"op": "redact", "room": room, "seq": 2}), "malformed_frame", 100)
    expect_error(await ca.rpc({"op": "redact", "room": new_room(), "seq": "1"}), "room_not_found", 6)
    expect_error(await ca.rpc({"op": "redact", "room": "0", "seq": "1"}), "invalid_room", 2)
    outsider = await connect(2)
    expect_error(await outsider.rpc({"op": "redact", "room": room, "seq": "1"}), "not_member", 10)
    # A token that does not allow the room: refused at the edge, naming the room.
    limited = await connect(2, ca.sub, rooms=[str(int(room) + 1)])
    expect_error(await limited.rpc({"op": "redact", "room": room, "seq": "1"}), "forbidden_room",
                 113, field="room")
    # Nothing was redacted by any of that.
    h = expect_result(await ca.call({"op": "history", "room": room, "from_seq": "1"}))
    check_chain_redacted(h["messages"], bodies, set())
    # A sender who left cannot redact; back in the room, they can.
    expect_result(await cb.rpc({"op": "leave", "room": room}))
    expect_error(await cb.rpc({"op": "redact", "room": room, "seq": "4"}), "not_member", 10)
    expect_result(await cb.rpc({"op": "join", "room": room}))
    r = expect_result(await cb.rpc({"op": "redact", "room": room, "seq": "4"}))
    check(r.get("duplicate") is False, "redact after re-joining %s" % r)
    await ca.close(); await cb.close(); await outsider.close(); await limited.close()


async def test_redact_subscriber_event_in_order():
    """A subscriber on another node that already has the message gets {"type":"redacted"} when
    the redaction commits, after the messages before it and before the ones after it; later
    readers and new subscriptions get the message already redacted, without an event."""
    ca, cb, room, bodies, acks = await _redact_room(nodes=(1, 3))
    cc = await connect(2, cb.sub)  # a second subscriber of b, on the third node
    expect_result(await retry_rpc(cc, {"op": "subscribe", "room": room, "since": "3"}))
    got = await cc.next_event(lambda m: m.get("type") == "message", timeout=3)
    check(got["seq"] == "4", "since 3: first message %s" % got.get("seq"))
    expect_result(await ca.rpc({"op": "redact", "room": room, "seq": "3"}))
    bodies[5] = "after"
    acks[5] = expect_result(await ca.send_retrying(room, bodies[5]))
    for client in (cb, cc):
        seen = []
        while len(seen) < 2:
            ev = await client.next_event(lambda m: m.get("type") in ("message", "redacted"), timeout=3)
            seen.append(ev)
        check(seen[0] == {"type": "redacted", "room": room, "seq": "3"},
              "node %d: first event %s" % (client.node, seen[0]))
        check(seen[1].get("type") == "message" and seen[1]["seq"] == "5" and
              seen[1]["body"] == "after", "node %d: then %s" % (client.node, seen[1]))
        extra = [e for e in await client.drain_events(0.3) if e.get("type") in ("message", "redacted")]
        check(extra == [], "node %d: more events %s" % (client.node, extra))
    # A new subscription replays message 3 redacted, with no event for it; the chain verifies.
    cd = await connect(1, cb.sub)
    expect_result(await retry_rpc(cd, {"op": "subscribe", "room": room, "since": "0"}))
    replay = [await cd.next_event(lambda m: m.get("type") == "message", timeout=3) for _ in range(5)]
    check_chain_redacted(replay, bodies, {3})
    extra = [e for e in await cd.drain_events(0.3) if e.get("type") in ("message", "redacted")]
    check(extra == [], "replay: more events %s" % extra)
    await ca.close(); await cb.close(); await cc.close(); await cd.close()


# ================================================================================================
# Subscriptions.

async def test_subscribe_cross_node_in_order_once():
    a = new_user()
    ca, cb = await connect(1, a), await connect(3, a)
    room = new_room()
    expect_result(await ca.rpc({"op": "create_room", "room": room}))
    r = expect_result(await retry_rpc(cb, {"op": "subscribe", "room": room, "since": "0"}))
    check(r.get("head_seq") == "0" and r.get("room") == room, "subscribe result %s" % r)
    acks = []
    for i in range(60):
        acks.append(expect_result(await ca.send_msg(room, "live %d" % i)))
    got = [await cb.next_event(lambda m: m.get("type") == "message", timeout=3) for _ in range(60)]
    check_chain(got, first_seq=1, prev_hash=ZERO_HASH)
    want = {"type", "room", "seq", "prev_hash", "hash", "sender", "timestamp_ns", "thread_parent",
            "thread_seq", "body_hash", "body"}
    check(set(got[0]) == want, "message event members %s, expected %s" % (sorted(got[0]), sorted(want)))
    check([m["hash"] for m in got] == [a["hash"] for a in acks], "delivered hashes differ from acks")
    check([m["body"] for m in got] == ["live %d" % i for i in range(60)], "bodies out of order")
    extra = [e for e in await cb.drain_events(0.3) if e.get("type") == "message"]
    check(extra == [], "duplicates delivered: %s" % [e["seq"] for e in extra])
    await ca.close(); await cb.close()


async def _sender(client, room, count, label, acks):
    i = 0
    while i < count:
        key = new_key()
        while True:
            r = await client.send_msg(room, "%s %d" % (label, i), key=key)
            if r.get("error") == "rate_limited":
                await asyncio.sleep(r["retry_after_ms"] / 1000.0)
                continue
            break
        acks.append(expect_result(r))
        i += 1


@timeout(45)
async def test_subscribe_since_replay_then_live_concurrent():
    users = [new_user() for _ in range(3)]
    room = new_room()
    c0 = await connect(1, users[0])
    expect_result(await c0.rpc({"op": "create_room", "room": room}))
    senders = [c0]
    for n, u in zip((2, 3), users[1:]):
        c = await connect(n, u)
        expect_result(await retry_rpc(c, {"op": "join", "room": room}, retry_errors=("room_not_found",)))
        senders.append(c)
    acks = []
    await _sender(c0, room, 40, "pre", acks)           # seq 1..40 before anyone subscribes
    sub = await connect(3, users[2])
    tasks = [asyncio.ensure_future(_sender(c, room, 90, "u%d" % i, acks)) for i, c in enumerate(senders)]
    await asyncio.sleep(0.05)                           # subscribe in the middle of the stream
    since = 25
    r = expect_result(await sub.rpc({"op": "subscribe", "room": room, "since": str(since)}))
    head_at_subscribe = int(r["head_seq"])
    check(head_at_subscribe >= 40, "head_seq %d < 40" % head_at_subscribe)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    total = 40 + 3 * 90
    got = []
    while len(got) < total - since:
        got.append(await sub.next_event(lambda m: m.get("type") == "message", timeout=5))
    extra = [e for e in await sub.drain_events(0.3) if e.get("type") == "message"]
    check(extra == [], "extra messages after the head: %s" % [e["seq"] for e in extra][:10])
    check_chain(got, first_seq=since + 1)
    check(int(got[-1]["seq"]) == total, "last seq %s != %d" % (got[-1]["seq"], total))
    by_seq = {int(a["seq"]): a["hash"] for a in acks}
    check(len(by_seq) == total and all(by_seq[int(m["seq"])] == m["hash"] for m in got), "acks vs delivered differ")
    print("    head_at_subscribe=%d delivered=%d" % (head_at_subscribe, len(got)))
    for c in senders + [sub]:
        await c.close()


async def test_unsubscribe_stops_events():
    u = new_user()
    ca, cb = await connect(1, u), await connect(2, u)
    room = new_room()
    expect_result(await ca.rpc({"op": "create_room", "room": room}))
    expect_result(await retry_rpc(cb, {"op": "subscribe", "room": room}))
    expect_error(await cb.rpc({"op": "subscribe", "room": room}), "already_subscribed", 123)
    expect_result(await ca.send_msg(room, "before"))
    m = await cb.next_event(lambda m: m.get("type") == "message")
    check(m["seq"] == "1", "first %s" % m)
    r = expect_result(await cb.rpc({"op": "unsubscribe", "room": room}))
    check(r.get("room") == room, "unsubscribe result %s" % r)
    for i in range(5):
        expect_result(await ca.send_msg(room, "after %d" % i))
    evs = await cb.drain_events(0.5)
    check([e for e in evs if e.get("room") == room] == [], "events after unsubscribe: %s" % evs)
    expect_error(await cb.rpc({"op": "unsubscribe", "room": room}), "not_subscribed", 124)
    # Subscribing again resumes from since.
    expect_result(await cb.rpc({"op": "subscribe", "room": room, "since": "1"}))
    got = [await cb.next_event(lambda m: m.get("type") == "message") for _ in range(5)]
    check([g["seq"] for g in got] == ["2", "3", "4", "5", "6"], "resubscribe %s" % [g["seq"] for g in got])
    await ca.close(); await cb.close()


async def test_subscribe_errors():
    a, b = new_user(), new_user()
    ca, cb = await connect(1, a), await connect(1, b)
    room = new_room()
    expect_result(await ca.rpc({"op": "create_room", "room": room}))
    rnf = ("room_not_found",)  # cb has acked nothing yet: its reads may lag the create (node.md §6)
    expect_error(await retry_rpc(cb, {"op": "subscribe", "room": room}, rnf), "not_member", 10)
    expect_error(await retry_rpc(cb, {"op": "history", "room": room, "from_seq": "1"}, rnf), "not_member", 10)
    expect_error(await cb.rpc({"op": "subscribe", "room": new_room()}), "room_not_found", 6)
    expect_error(await cb.rpc({"op": "unsubscribe", "room": room}), "not_subscribed", 124)
    # Leaving ends the subscription with reason left.
    expect_result(await cb.rpc({"op": "join", "room": room}))
    expect_result(await cb.rpc({"op": "subscribe", "room": room}))
    expect_result(await cb.rpc({"op": "leave", "room": room}))
    ev = await cb.next_event(lambda m: m.get("type") == "unsubscribed")
    check(ev == {"type": "unsubscribed", "room": room, "reason": "left"}, "event %s" % ev)
    expect_result(await ca.send_msg(room, "after leave"))
    evs = await cb.drain_events(0.3)
    check([e for e in evs if e.get("type") == "message"] == [], "message after leave: %s" % evs)
    await ca.close(); await cb.close()


async def test_too_many_subscriptions():
    c = await connect(2)
    rooms = [new_room() for _ in range(65)]
    for r in await c.gather([{"op": "create_room", "room": r} for r in rooms]):
        expect_result(r)
    for r in await c.gather([{"op": "subscribe", "room": r} for r in rooms[:64]]):
        expect_result(r)
    expect_error(await c.call({"op": "subscribe", "room": rooms[64]}), "too_many_subscriptions", 121)
    await c.close()


# ================================================================================================
# History.

async def test_history_pages():
    c = await connect(2)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    for i in range(120):
        expect_result(await c.send_retrying(room, "h%d" % (i + 1)))
    pages, seq, msgs = [], 1, []
    while True:
        r = expect_result(await c.call({"op": "history", "room": room, "from_seq": str(seq), "limit": 50}))
        check(r["head_seq"] == "120" and r["room"] == room, "page %s" % {k: v for k, v in r.items() if k != "messages"})
        pages.append((seq, len(r["messages"]), r["next_seq"]))
        msgs += r["messages"]
        seq = int(r["next_seq"])
        if seq > 120:
            break
    check(pages == [(1, 50, "51"), (51, 50, "101"), (101, 20, "121")], "pages %s" % pages)
    check_chain(msgs, first_seq=1, prev_hash=ZERO_HASH)
    check([m["body"] for m in msgs] == ["h%d" % i for i in range(1, 121)], "bodies")
    check(all("type" not in m for m in msgs), "history messages carry type")
    await asyncio.sleep(1.0)  # refill the connection's bucket
    r = expect_result(await c.rpc({"op": "history", "room": room, "from_seq": "1"}))
    check(len(r["messages"]) == 50 and r["next_seq"] == "51", "default limit 50: %d" % len(r["messages"]))
    r = expect_result(await c.rpc({"op": "history", "room": room, "from_seq": "500"}))
    check(r["messages"] == [], "from_seq above head: %s" % r)
    r = expect_result(await c.rpc({"op": "history", "room": room, "from_seq": "121", "limit": 100}))
    check(r["messages"] == [] and r["next_seq"] == "121", "from_seq head+1: %s" % r)
    for lim in (0, 101):
        expect_error(await c.rpc({"op": "history", "room": room, "from_seq": "1", "limit": lim}), "invalid_field", 103, field="limit")
    expect_error(await c.rpc({"op": "history", "room": new_room(), "from_seq": "1"}), "room_not_found", 6)
    await c.close()


async def test_history_page_stops_at_256k():
    users = [new_user() for _ in range(2)]
    c = await connect(1, users[0])
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    body = "x" * 4000
    for r in await c.gather([{"op": "send", "room": room, "key": new_key(), "body": body} for _ in range(80)], chunk=20):
        expect_result(r)
    r = expect_result(await c.call({"op": "history", "room": room, "from_seq": "1", "limit": 100}))
    n = len(r["messages"])
    check(0 < n < 80 and r["next_seq"] == str(n + 1), "next_seq %s after %d messages" % (r["next_seq"], n))
    r2 = expect_result(await c.call({"op": "history", "room": room, "from_seq": r["next_seq"], "limit": 100}))
    check(r2["messages"] and r2["messages"][0]["seq"] == str(n + 1) and r2["messages"][0]["prev_hash"] == r["messages"][-1]["hash"],
          "second page does not continue the first")
    # protocol.md 5.8/9: the page stops once it holds 256 KiB of message data (65 bodies of 4000
    # bytes); it may stop earlier (a store read ends at a segment's end), never later, and
    # next_seq always says where to continue.
    check(n <= 65, "a history page held %d 4000-byte bodies (%d bytes), over 256 KiB" % (n, n * 4000))
    check(n >= 32, "a history page held only %d 4000-byte bodies" % n)
    await c.close()


async def test_unsubscribed_when_membership_lost_elsewhere():
    u = new_user()
    ca, cb = await connect(1, u), await connect(2, u)
    room = new_room()
    owner = await connect(1)
    expect_result(await owner.rpc({"op": "create_room", "room": room}))
    expect_result(await retry_rpc(ca, {"op": "join", "room": room}, ("room_not_found",)))
    expect_result(await retry_rpc(cb, {"op": "subscribe", "room": room}, ("room_not_found", "not_member")))
    expect_result(await ca.rpc({"op": "leave", "room": room}))
    expect_result(await owner.send_msg(room, "said after u left"))
    evs = await cb.drain_events(1.0)
    leaked = [e for e in evs if e.get("type") == "message"]
    check(not leaked, "a subscription of a user who left (on another connection) still receives messages: %s"
          % [(e["seq"], e["body"]) for e in leaked])
    check({"type": "unsubscribed", "room": room, "reason": "not_member"} in evs, "no unsubscribed/not_member event: %s" % evs)
    await ca.close(); await cb.close(); await owner.close()


# ================================================================================================
# Rate limits.

async def test_rate_limited_burst():
    c = await connect(3)
    futs = [c.start({"op": "ping"}) for _ in range(140)]
    answers = await asyncio.wait_for(asyncio.gather(*futs), 10)
    limited = [a for a in answers if a.get("type") == "error"]
    check(len(limited) > 0, "140 pings in a burst: no rate_limited")
    for e in limited:
        expect_error(e, "rate_limited", 120)
        check(isinstance(e.get("retry_after_ms"), int) and e["retry_after_ms"] > 0, "retry_after_ms %s" % e)
    ok = len(answers) - len(limited)
    check(95 <= ok <= 125, "%d pings passed a burst-100 bucket" % ok)
    await asyncio.sleep(0.5)
    r = await c.rpc({"op": "ping"})
    check(r.get("type") == "result", "after waiting: %s" % r)
    await c.close()


async def test_rate_limited_persistently_closes_4003():
    c = await connect(1)
    for _ in range(260):
        c.start({"op": "ping"})
    code = await asyncio.wait_for(c.closed, 5)
    check(code == 4003, "close code %s after 260 pings in a burst (100 consecutive rate_limited)" % code)


async def test_connections_per_user_429():
    u = new_user()
    tok = token(u)
    conns = [await connect(2, u, tok=tok) for _ in range(16)]
    status, headers, body, _ = handshake(tok, node=2)
    expect_http_error(status, headers, body, 429, 120, "rate_limited")
    check(headers.get("retry-after"), "429 without Retry-After: %s" % headers)
    expect_101(tok, node=3)  # the cap is per node
    await conns[0].close()
    await asyncio.sleep(0.1)
    expect_101(tok, node=2)
    for c in conns[1:]:
        await c.close()


@timeout(20)
async def test_token_expiry_closes_4001_and_auth_extends():
    u, v = new_user(), new_user()
    now = int(time.time())
    # exp 28 s ago with a 30 s leeway: accepted now, expires in about 2 s.
    a = await connect(1, u, tok=make_jwt({"sub": u, "rooms": "*", "exp": now - 28}))
    b = await connect(1, v, tok=make_jwt({"sub": v, "rooms": "*", "exp": now - 28}))
    expect_result(await b.rpc({"op": "auth", "token": make_jwt(claims(v))}))
    code = await asyncio.wait_for(a.closed, 8)
    check(code == 4001, "close code %s, expected 4001 on token expiry" % code)
    check(b.close_code is None, "the renewed connection closed too (%s)" % b.close_code)
    r = await b.rpc({"op": "ping"})
    check(r.get("type") == "result", "renewed connection: %s" % r)
    await b.close()


async def test_token_expiry_error_event_before_4001():
    u = new_user()
    w = RawWS(2, make_jwt({"sub": u, "rooms": "*", "exp": int(time.time()) - 28}))
    code, _, before = w.read_close(timeout=8)
    texts = [json.loads(p) for op, p in before if op == 1]
    check(code == 4001, "close %s" % code)
    check(any(t.get("type") == "error" and t.get("code") == 111 and t.get("error") == "token_expired"
              and "id" not in t for t in texts), "no token_expired error event (no id) before 4001: %s" % texts)
    w.close()


# ================================================================================================
# 3, 10. Frames and close codes (raw socket).

def raw(node=1):
    return RawWS(node, token(new_user()))


async def test_frame_ping_pong_same_payload():
    w = raw()
    w.send_frame(9, b"hello-ping \x00\xff")
    op, payload = w.recv_frame()
    check(op == 10 and payload == b"hello-ping \x00\xff", "pong %d %r" % (op, payload))
    w.send_text('{"id":"p","op":"ping"}')
    check(w.recv_json() == {"type": "result", "id": "p"}, "ping op after pong")
    w.close()


async def test_frame_binary_closes_1003():
    w = raw()
    w.send_frame(2, b'{"id":"p","op":"ping"}')
    code, _, _ = w.read_close()
    check(code == 1003, "close code %s" % code)
    w.close()


async def test_frame_too_large_closes_1009():
    w = raw(2)
    w.send_frame(1, b"{" + b" " * 32768 + b"}")
    code, _, before = w.read_close()
    check(code == 1009, "close code %s" % code)
    w.close()


async def test_frame_32768_is_accepted():
    w = raw(2)
    body = json.dumps({"id": "big", "op": "ping"})
    w.send_text(body + " " * (32768 - len(body)))
    check(w.recv_json() == {"type": "result", "id": "big"}, "32768-byte message")
    w.close()


async def test_fragmented_message_over_limit_1009():
    w = raw(2)
    w.send_frame(1, b"{" + b" " * 20000, fin=False)
    w.send_frame(0, b" " * 20000 + b"}", fin=True)
    code, _, before = w.read_close()
    check(code == 1009, "close code %s" % code)
    texts = [json.loads(p) for op, p in before if op == 1]
    check(any(t.get("error") == "frame_too_large" and t.get("code") == 105 for t in texts),
          "no frame_too_large error before close 1009: %s" % texts)
    w.close()


async def test_fragmented_message_with_interleaved_ping():
    w = raw(3)
    w.send_frame(1, b'{"id":"fr",', fin=False)
    w.send_frame(9, b"mid")
    w.send_frame(0, b'"op":"ping"}', fin=True)
    frames = [w.recv_frame(), w.recv_frame()]
    check((10, b"mid") in frames, "no pong: %s" % frames)
    check(any(op == 1 and json.loads(p) == {"type": "result", "id": "fr"} for op, p in frames), "no result: %s" % frames)
    w.close()


async def test_frame_invalid_utf8_closes_1007():
    for payload in (b'{"id":"p","op":"ping","x":"\xff"}', b'{"x":"\xc0\xaf"}', b'{"x":"\xed\xa0\x80"}'):
        w = raw()
        w.send_frame(1, payload)
        code, _, _ = w.read_close()
        check(code == 1007, "%r: close code %s" % (payload, code))
        w.close()


async def test_frame_unmasked_closes_1002():
    w = raw()
    w.send_frame(1, b'{"id":"p","op":"ping"}', mask=False)
    code, _, _ = w.read_close()
    check(code == 1002, "close code %s" % code)
    w.close()


async def test_frame_protocol_errors_close_1002():
    cases = [("reserved bit", dict(opcode=1, payload=b'{"id":"p","op":"ping"}', rsv=4)),
             ("unknown opcode", dict(opcode=3, payload=b"")),
             ("fragmented ping", dict(opcode=9, payload=b"x", fin=False)),
             ("ping over 125", dict(opcode=9, payload=b"x" * 126)),
             ("continuation first", dict(opcode=0, payload=b"x")),
             ("1-byte close", dict(opcode=8, payload=b"\x03")),
             ("close code 1005", dict(opcode=8, payload=b"\x03\xed")),
             ("close code 999", dict(opcode=8, payload=b"\x03\xe7")),
             ("close reason over 123", dict(opcode=8, payload=b"\x03\xe8" + b"r" * 124))]
    bad = []
    for name, kw in cases:
        w = raw(2)
        w.send_frame(kw.pop("opcode"), kw.pop("payload"), **kw)
        try:
            code, _, _ = w.read_close()
        except Exception as e:
            code = repr(e)
        if code != 1002:
            bad.append("%s -> %s" % (name, code))
        w.close()
    check(not bad, "; ".join(bad))


async def test_frame_encoding_errors_close_1002():
    bad = []
    # Non-minimal length: 5 bytes announced in the 16-bit form.
    w = raw(3)
    mk = os.urandom(4)
    payload = b"hello"
    w.send(struct.pack("!BBH", 0x81, 0x80 | 126, len(payload)) + mk + bytes(b ^ mk[i % 4] for i, b in enumerate(payload)))
    code, _, _ = w.read_close()
    if code != 1002: bad.append("non-minimal 16-bit length -> %s" % code)
    w.close()
    # 64-bit length with the top bit set.
    w = raw(3)
    w.send(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + os.urandom(4))
    code, _, _ = w.read_close()
    if code != 1002: bad.append("64-bit length with top bit -> %s" % code)
    w.close()
    # A new text message inside a fragmented one.
    w = raw(3)
    w.send_frame(1, b'{"id":', fin=False)
    w.send_frame(1, b'"x","op":"ping"}')
    code, _, _ = w.read_close()
    if code != 1002: bad.append("text frame inside a fragmented message -> %s" % code)
    w.close()
    check(not bad, "; ".join(bad))


async def test_close_reason_invalid_utf8_1007():
    w = raw(3)
    w.send_frame(8, b"\x03\xe8\xff\xfe")
    code, _, _ = w.read_close()
    check(code == 1007, "close code %s" % code)
    w.close()


async def test_client_close_is_answered_1000():
    w = raw(3)
    w.send_frame(8, struct.pack("!H", 1000) + b"bye")
    code, _, _ = w.read_close()
    check(code == 1000, "close answer %s" % code)
    w.close()


if __name__ == "__main__":
    sys.exit(run_module(globals()))
