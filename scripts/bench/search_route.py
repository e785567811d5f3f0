#!/usr/bin/env python3
"""Latency and CPU of the search route through a running `serve`: sends each distinct question of
the given files once (no cache hit: each is new), then reads the ledger for the requests that search
or the calculator answered or escalated: the search step's wall time (`search_ms`) and its thread
CPU time (`search_cpu_us`), and the whole request's CPU (`proxy_cpu_us`). Prints medians and p90.

    cargo run --release --example mock_upstream -- 127.0.0.1:9000 &
    cargo run --release -- serve --upstream http://127.0.0.1:9000/v1 &
    python3 scripts/bench/search_route.py --url http://127.0.0.1:8080 --ledger data/ledger.sqlite FILE...
"""
import argparse
import json
import sqlite3
import statistics
import time
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--ledger", default="data/ledger.sqlite")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    questions = []
    for path in args.files:
        for line in open(path):
            if line.strip():
                q = json.loads(line)["query"]
                if q not in questions:
                    questions.append(q)
    wall = []
    for q in questions:
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": q}]}).encode()
        req = urllib.request.Request(args.url + "/v1/chat/completions", data=body,
                                     headers={"content-type": "application/json"})
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(req) as r:
                route = r.headers.get("x-ecoroute-route")
                r.read()
        except urllib.error.HTTPError as e:  # an LLM-route failure says nothing of search
            route = e.headers.get("x-ecoroute-route")
        if route == "search":
            wall.append((time.perf_counter() - start) * 1e3)
    time.sleep(1.5)  # the ledger writes in batches
    db = sqlite3.connect(args.ledger)
    rows = db.execute("SELECT search_ms, search_cpu_us, proxy_cpu_us FROM requests "
                      "WHERE search_ms IS NOT NULL AND search_cpu_us IS NOT NULL").fetchall()

    def stats(xs):
        xs = sorted(xs)
        return f"median {statistics.median(xs):.2f}, p90 {xs[int(0.9 * (len(xs) - 1))]:.2f} (n={len(xs)})"

    print(f"questions sent: {len(questions)}")
    print(f"client-side wall time of requests answered without the LLM, ms: {stats(wall)}")
    print(f"search step wall time (ledger search_ms), ms: {stats([r[0] for r in rows])}")
    print(f"search step CPU (ledger search_cpu_us), µs: {stats([r[1] for r in rows])}")
    print(f"whole request CPU (ledger proxy_cpu_us), µs: {stats([r[2] for r in rows])}")


if __name__ == "__main__":
    main()
