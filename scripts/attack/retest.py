#!/usr/bin/env python3
"""The attack review of 2026-11-27, tried again against the release binary on loopback.

    cargo build --release && python3 scripts/attack/retest.py [--only H1,M3]

Each check starts its own ecoroute (config/ecoroute.toml with the listed changes, its own ledger in
a temporary folder) in front of a threaded Python mock upstream, repeats the review's reproduction
and prints one line: the review's id, PASS or FAIL, and what was measured. Every loop is bounded;
nothing leaves 127.0.0.1. Not part of CI (it takes about two minutes and opens thousands of sockets).
"""

import argparse
import http.server
import json
import os
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target/release/ecoroute")
TOKEN = "admintoken-0123456789abcdef"
LOOKUP = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is the capital of Peru?"}]}
WRITE = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a poem about the sea"}]}
RESULTS = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mock(http.server.BaseHTTPRequestHandler):
    """The upstream. `x-mock-mode`: normal, sse, slowfirst (2 s), slowbody (SSE, a chunk a second),
    huge (50 MB JSON), hugeslow (1 MB, 3 s, 49 MB). Every request is logged with path and headers."""

    protocol_version = "HTTP/1.1"
    log = []

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        Mock.log.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        mode = self.headers.get("x-mock-mode", "normal")
        if mode == "slowfirst":
            time.sleep(2)
        if mode in ("sse", "slowbody"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for i in range(15 if mode == "slowbody" else 3):
                chunk = {"choices": [{"index": 0, "delta": {"content": f"word{i} "}}]}
                try:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                except OSError:
                    return
                if mode == "slowbody":
                    time.sleep(1)
            self.wfile.write(b"data: [DONE]\n\n")
            return
        if mode in ("huge", "hugeslow"):
            size = 50 * 1024 * 1024
            head = b'{"choices":[{"message":{"role":"assistant","content":"'
            tail = b'"}}],"usage":{"prompt_tokens":5,"completion_tokens":9}}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(head) + size + len(tail)))
            self.end_headers()
            self.wfile.write(head)
            block = b"x" * (1024 * 1024)
            for i in range(50):
                if mode == "hugeslow" and i == 1:
                    time.sleep(3)
                try:
                    self.wfile.write(block)
                except OSError:
                    return
            self.wfile.write(tail)
            return
        body = json.dumps({"id": "x", "object": "chat.completion", "model": "gpt-4o-mini",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "A poem."},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients (and the proxy) hanging up mid-answer is part of the test


def start_mock():
    server = Server(("127.0.0.1", free_port()), Mock)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Proxy:
    """ecoroute with the shipped config, `changes` (a dict of "table.key" -> TOML value) applied."""

    def __init__(self, upstream_port, changes=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix="ecoroute-attack-")
        self.port = free_port()
        self.ledger = os.path.join(self.tmp, "ledger.sqlite")
        with open(os.path.join(ROOT, "config/ecoroute.toml")) as f:
            text = f.read()
        settings = {
            "server.listen": f'"127.0.0.1:{self.port}"',
            "llm.base_url": f'"http://127.0.0.1:{upstream_port}/v1"',
            "search.index_dir": f'"{ROOT}/data/index"',
            "search.corpus": f'"{ROOT}/corpus/default.jsonl.gz"',
            "ledger.path": f'"{self.ledger}"',
        }
        settings.update(changes or {})
        text = apply(text, settings)
        self.config = os.path.join(self.tmp, "ecoroute.toml")
        with open(self.config, "w") as f:
            f.write(text)
        self.env = {**os.environ, "RUST_LOG": "warn", "ECOROUTE_ADMIN_TOKEN": TOKEN, **(env or {})}
        self.start()

    def start(self):
        self.log = open(os.path.join(self.tmp, "ecoroute.log"), "a")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config], cwd=ROOT, stderr=self.log, env=self.env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"ecoroute exited: {open(self.log.name).read()[-2000:]}")
                time.sleep(0.1)
        raise SystemExit("ecoroute did not come up")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def rows(self):
        db = sqlite3.connect(self.ledger)
        rows = db.execute("SELECT request_id, status, error, path FROM requests").fetchall()
        db.close()
        return rows

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def apply(text, settings):
    """Sets `table.key = value` in TOML text: replaces the key in its table, or adds it there."""
    lines = text.split("\n")
    for dotted, value in settings.items():
        table, key = dotted.split(".", 1)
        start = next((i for i, l in enumerate(lines) if l.strip() == f"[{table}]"), None)
        if start is None:
            lines += [f"[{table}]", f"{key} = {value}"]
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        for i in range(start + 1, end):
            if lines[i].split("=")[0].strip() == key and not lines[i].lstrip().startswith("#"):
                lines[i] = f"{key} = {value}"
                break
        else:
            lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines)


def request(url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw(port, data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def report(ident, ok, what):
    RESULTS.append((ident, ok))
    print(f"{ident:4} {'PASS' if ok else 'FAIL'}  {what}", flush=True)


def h1(mock):
    p = Proxy(mock, {"llm.api_key_env": '"UPSTREAM_KEY"'}, env={"UPSTREAM_KEY": "sk-UPSTREAMSERVERKEY-7777"})
    Mock.log.clear()
    paths = ["/v1/..\\..\\internal-admin/delete", "/v1/..\\secret", "/v1/models\\..\\..\\internal/admin",
             "/v1/models/..%2f..%2f_log", "/v1/..%5c..%5c_log", "/v1/x/..;/y", "/v1/..%09/x"]
    statuses = [raw(p.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())[9:12] for path in paths]
    escaped = [e["path"] for e in Mock.log if not e["path"].startswith("/v1/")]
    report("H1", all(s == b"400" for s in statuses) and not escaped and not Mock.log,
           f"{len(paths)} traversal paths: statuses {sorted(set(s.decode() for s in statuses))}, "
           f"{len(Mock.log)} reached the upstream, {len(escaped)} outside /v1")
    code, headers, _ = request(p.url("/v1/models"))
    seen = Mock.log[-1]["headers"].get("x-request-id") if Mock.log else None
    report("L7", code == 200 and seen == headers.get("x-request-id"),
           f"pass-through: upstream saw x-request-id {seen!r}, client got {headers.get('x-request-id')!r}")
    p.stop()


def h2(mock):
    p = Proxy(mock)
    body = json.dumps(LOOKUP).encode()
    socks = []
    for _ in range(1030):
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{" % len(body))
        socks.append(s)
    time.sleep(1)
    codes = [request(p.url("/v1/chat/completions"), LOOKUP)[0] for _ in range(20)]
    report("H2", codes.count(200) == 20,
           f"1,030 slow-body connections open (default max_concurrency 1024): {codes.count(200)}/20 legitimate requests got 200")
    started = time.time()
    answered = 0
    for s in socks:
        s.settimeout(max(0.1, 40 - (time.time() - started)))
        try:
            if s.recv(64).startswith(b"HTTP/1.1 408"):
                answered += 1
        except OSError:
            pass
        s.close()
    report("H2b", answered == 1030, f"slow bodies answered 408 within body_read_timeout_ms (30 s): {answered}/1030")
    idle = socket.create_connection(("127.0.0.1", p.port))
    partial = socket.create_connection(("127.0.0.1", p.port))
    partial.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    t0 = time.time()
    closed = []
    for s in (idle, partial):
        s.settimeout(20)
        try:
            s.recv(64)
            closed.append(time.time() - t0)
        except OSError:
            pass
    report("H2c", len(closed) == 2 and max(closed) < 12,
           f"idle and partial-header connections closed after {', '.join(f'{c:.1f} s' for c in closed)} (header_read_timeout_ms 10 s)")
    many = []
    for _ in range(5000):
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        many.append(s)
    codes = [request(p.url("/v1/chat/completions"), LOOKUP)[0] for _ in range(20)]
    rss = p.peak_rss_mb()
    for s in many:
        s.close()
    report("H2d", codes.count(200) == 20, f"5,000 partial-header connections held: {codes.count(200)}/20 served, peak RSS {rss:.0f} MB")
    p.stop()


def m1(mock):
    p = Proxy(mock, {"server.shutdown_grace_ms": "1000"})
    out = {}

    def stream():
        req = urllib.request.Request(p.url("/v1/chat/completions"), data=json.dumps({**WRITE, "stream": True}).encode(),
                                     headers={"content-type": "application/json", "x-mock-mode": "slowbody"})
        with urllib.request.urlopen(req, timeout=30) as r:
            out["stream"] = r.read().decode()

    def slow_json():
        out["json"] = request(p.url("/v1/chat/completions"), WRITE, {"x-mock-mode": "slowfirst"})

    threads = [threading.Thread(target=stream), threading.Thread(target=slow_json)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    p.stop()
    for t in threads:
        t.join(10)
    rows = p.rows()
    stream_ok = "shutting_down" in out.get("stream", "").split("data: ")[-1]
    json_code = out.get("json", (0,))[0]
    report("M1", stream_ok and json_code == 503 and len(rows) == 2,
           f"SIGTERM, grace 1 s: stream ends with an error event: {stream_ok}; JSON client got {json_code}; "
           f"ledger rows {len(rows)}/2")


def m2():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.5)
    p = Proxy(port, {"llm.connect_timeout_ms": "2000", "llm.first_byte_timeout_ms": "3000", "llm.total_timeout_ms": "8000"})
    t0 = time.time()
    code, _, body = request(p.url("/v1/chat/completions"), WRITE)
    took = time.time() - t0
    message = json.loads(body)["error"]["message"]
    report("M2", code == 502 and "2000 ms" in message, f"connect timeout: {code} after {took:.2f} s: {message!r}")
    p.stop()
    listener.close()


def m3(mock):
    p = Proxy(mock)
    t0 = time.time()
    req = urllib.request.Request(p.url("/v1/chat/completions"), data=json.dumps(WRITE).encode(),
                                 headers={"content-type": "application/json", "x-mock-mode": "hugeslow"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read(1)
        first = time.time() - t0
        r.read()
    results = []

    def huge():
        results.append(request(p.url("/v1/chat/completions"), WRITE, {"x-mock-mode": "huge"}, timeout=120)[0])

    threads = [threading.Thread(target=huge) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss = p.peak_rss_mb()
    p.stop()
    rows = p.rows()
    report("M3", first < 1.0 and results.count(200) == 4 and rss < 200,
           f"non-streamed 50 MB answers: first byte after {first:.2f} s (upstream pauses 3 s after 1 MB); "
           f"4 in parallel: {results.count(200)}/4 complete, peak RSS {rss:.0f} MB; {len(rows)} rows")


def m4(mock):
    results = []
    for how in ("half", "header", "random", "zeroed"):
        p = Proxy(mock)
        for _ in range(200):
            request(p.url("/v1/chat/completions"), WRITE)
        p.stop()
        data = open(p.ledger, "rb").read()
        broken = {"half": data[: len(data) // 2], "header": data[:100], "random": os.urandom(len(data)),
                  "zeroed": data[:4096] + bytes(4096 * 20) + data[4096 * 21:]}[how]
        open(p.ledger, "wb").write(broken)
        p.start()
        code = request(p.url("/v1/chat/completions"), LOOKUP)[0]
        p.stop()
        kept = [f for f in os.listdir(p.tmp) if ".corrupt-" in f and not f.endswith(("-wal", "-shm"))]
        results.append(f"{how}: {code}, kept {len(kept)}")
    report("M4", all(": 200, kept 1" in r for r in results), "corrupt ledger at start: " + "; ".join(results))


def l1(mock):
    p = Proxy(mock)
    many = "".join(f"x-h{i}: v\r\n" for i in range(120))
    reply = raw(p.port, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
    body = reply.split(b"\r\n\r\n", 1)[1]
    bad = raw(p.port, b"GARBAGE\r\n\r\n")
    code404 = request(p.url("/nope"))[0]
    time.sleep(0.3)
    p.stop()
    statuses = sorted(r[1] for r in p.rows())
    report("L1", reply.startswith(b"HTTP/1.1 431") and b"invalid_request_error" in body and b"invalid_request_error" in bad,
           f"120 headers: {reply[:12].decode()} with an OpenAI body: {b'invalid_request_error' in body}; garbage: {bad[:12].decode()}")
    report("L8", statuses == [400, 404, 431], f"rows for 431, 400 and 404 ({code404}): {statuses}")


def l2(mock):
    p = Proxy(mock, {"server.max_concurrency": "8"})
    holders = [threading.Thread(target=request, args=(p.url("/v1/chat/completions"), WRITE, {"x-mock-mode": "slowfirst"}))
               for _ in range(8)]
    for t in holders:
        t.start()
    time.sleep(0.5)
    body = json.dumps(LOOKUP).encode()
    ok = 0
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        time.sleep(0.005)
        s.sendall(body)
        first = s.recv(65536)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            second = s.recv(65536)
            ok += first.startswith(b"HTTP/1.1 503") and second.startswith(b"HTTP/1.1 200")
        except OSError:
            pass
        s.close()
    for t in holders:
        t.join()
    p.stop()
    report("L2", ok == 50, f"shed request, body sent apart, then a second request on the same connection: {ok}/50 clean")


def l3(mock):
    p = Proxy(mock, {"ledger.channel_capacity": "16"})
    request(p.url("/v1/chat/completions"), LOOKUP)
    time.sleep(0.3)
    locker = sqlite3.connect(p.ledger, timeout=10, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    sent = []
    deadline = time.time() + 3
    i = 0
    while time.time() < deadline:
        rid = f"l3-{i}"
        code = request(p.url("/v1/chat/completions"), LOOKUP, {"x-request-id": rid})[0]
        if code == 200:
            sent.append((rid, time.time()))
        i += 1
    p.stop(signal.SIGKILL)
    killed = time.time()
    locker.execute("COMMIT")
    locker.close()
    p.start()
    time.sleep(1)
    p.stop()
    have = {r[0] for r in p.rows()}
    missing = [(rid, killed - t) for rid, t in sent if rid not in have]
    oldest = max((age for _, age in missing), default=0)
    # The bound: one try of the locked database (250 ms) and a group commit (10 ms), with room.
    report("L3", oldest < 0.35, f"SIGKILL with the ledger locked: {len(missing)} of {len(sent)} rows missing, "
                               f"the oldest sent {oldest * 1000:.0f} ms before the kill")


def l4(mock):
    p = Proxy(mock, {"admin.token_env": '"ECOROUTE_ADMIN_TOKEN"'})
    lower = request(p.url("/admin/config"), headers={"authorization": f"bearer {TOKEN}"})[0]
    codes = [request(p.url("/admin/config"), headers={"authorization": f"Bearer wrong-{i:05d}-xxxxxxxx"})[0] for i in range(300)]
    p.stop()
    proc = subprocess.run([BIN, "check", "--config", p.config], env={**os.environ, "ECOROUTE_ADMIN_TOKEN": " " * 16},
                          capture_output=True, text=True)
    report("L4", lower == 200 and codes.count(429) >= 290 and proc.returncode != 0,
           f"lowercase bearer: {lower}; 300 wrong tokens: {codes.count(401)} x 401 then {codes.count(429)} x 429; "
           f"a token of 16 spaces refused: {proc.returncode != 0}")


CHECKS = {"H1": h1, "H2": h2, "M1": m1, "M2": m2, "M3": m3, "M4": m4, "L1": l1, "L2": l2, "L3": l3, "L4": l4}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. H1,M3")
    args = parser.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit("build first: cargo build --release")
    mock = start_mock()
    chosen = [c for c in CHECKS if not args.only or c in args.only.split(",")]
    for ident in chosen:
        check = CHECKS[ident]
        check() if ident == "M2" else check(mock)
    failed = [i for i, ok in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
