#!/usr/bin/env python3
"""Failover under load (issue 37): ecoroute in front of two upstream deployments, one healthy (the
mock, `examples/mock_upstream.rs`) and one failing (this script's server: every request gets a 503,
a 429 or a closed connection, in turn). Sends --requests LLM requests at --concurrency and checks
that

  * no request that could have been served failed (every client status is 200), and
  * every try is in the ledger: the failed tries the rows record add up to the requests the failing
    upstream received, and every row names the healthy deployment as the one that answered.

    python3 scripts/bench/failover.py [--requests 2000] [--concurrency 16] [--debug]

Builds the release binary and the mock first (`--debug`: the debug ones, a check of behaviour only,
no figure of speed). Prints the counts and exits non-zero when a check fails. The failing
deployment weighs as much as the healthy one, and its cool-down (20 ms) is much shorter than the run, so it
keeps being tried (and failing) all along.
"""

import argparse
import http.server
import json
import os
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from stack import LLM_BODY, ROOT, free_port, start_ecoroute, stop_all, wait_port

RECEIVED = 0
LOCK = threading.Lock()


class Failing(http.server.BaseHTTPRequestHandler):
    """503, 429 (Retry-After: 0), or the connection closed without an answer, in turn."""

    def do_POST(self):
        global RECEIVED
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        with LOCK:
            RECEIVED += 1
            turn = RECEIVED % 3
        if turn == 0:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status = 503 if turn == 1 else 429
        body = json.dumps({"error": {"message": f"failing upstream {status}", "type": "server_error"}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        if status == 429:
            self.send_header("retry-after", "0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--debug", action="store_true", help="debug build: behaviour only, no speed figure")
    args = ap.parse_args()

    profile = "debug" if args.debug else "release"
    cargo = ["cargo", "build", "--bin", "ecoroute", "--example", "mock_upstream"]
    subprocess.run(cargo + ([] if args.debug else ["--release"]), cwd=ROOT, check=True)

    failing = Server(("127.0.0.1", 0), Failing)
    threading.Thread(target=failing.serve_forever, daemon=True).start()
    failing_port = failing.server_address[1]
    mock_port, port = free_port(), free_port()
    mock = subprocess.Popen([os.path.join(ROOT, f"target/{profile}/examples/mock_upstream"), f"127.0.0.1:{mock_port}", "0"],
                            stderr=subprocess.DEVNULL)
    wait_port(mock_port)
    deployments = f"""
[[llm.deployments]]
name = "healthy"
base_url = "http://127.0.0.1:{mock_port}/v1"

[[llm.deployments]]
name = "failing"
base_url = "http://127.0.0.1:{failing_port}/v1"

[llm.retry]
max_tries = 3
backoff_ms = 5
backoff_max_ms = 20
cooldown_failures = 3
cooldown_ms = 20
"""
    def with_deployments(text, tmp):
        # Its own index, built from the corpus at start and deleted with the run's folder.
        return text.replace(f'index_dir = "{ROOT}/data/index"', f'index_dir = "{tmp}/index"') + deployments

    with tempfile.TemporaryDirectory() as tmp:
        eco = start_ecoroute(tmp, port, mock_port, edit=lambda text: with_deployments(text, tmp), name="failover",
                             profile=profile)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        statuses = {}

        def one(i):
            body = json.loads(LLM_BODY)
            # Distinct prompts, so no answer comes from the cache.
            body["messages"][0]["content"] += f" #{i}"
            req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    r.read()
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
            except Exception:
                return "no answer"

        started = time.time()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for status in pool.map(one, range(args.requests)):
                statuses[status] = statuses.get(status, 0) + 1
        elapsed = time.time() - started
        stop_all([eco, mock])
        failing.shutdown()
        db = sqlite3.connect(os.path.join(tmp, "failover.sqlite"))
        rows, failed, by_healthy, answered_elsewhere = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(failed_tries), 0), SUM(deployment = 'healthy'), "
            "SUM(deployment IS NOT 'healthy') FROM requests WHERE path = '/v1/chat/completions'").fetchone()
        tries_text = db.execute(
            "SELECT COUNT(*) FROM requests WHERE path = '/v1/chat/completions' AND tries LIKE '%failing:%'").fetchone()[0]

    result = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "build": profile,
        "seconds": round(elapsed, 2),
        "client_statuses": statuses,
        "failing_upstream_received": RECEIVED,
        "ledger_rows": rows,
        "ledger_failed_tries": failed,
        "rows_answered_by_healthy": by_healthy,
        "rows_answered_elsewhere": answered_elsewhere,
        "rows_with_a_failing_try": tries_text,
    }
    print(json.dumps(result, indent=2))
    checks = [
        ("every request served (all 200)", statuses == {200: args.requests}),
        ("one ledger row per request", rows == args.requests),
        ("every try in the ledger (failed tries = requests the failing upstream got)", failed == RECEIVED),
        ("the failing upstream was tried", RECEIVED > 0),
        ("every row answered by the healthy deployment", by_healthy == args.requests),
    ]
    ok = True
    for what, passed in checks:
        print(f"{'ok  ' if passed else 'FAIL'} {what}")
        ok &= passed
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
