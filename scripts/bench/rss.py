#!/usr/bin/env python3
"""Peak RSS of ecoroute on the search route: the same lookup over and over (after the first, cache
hits, some 35,000 a second on this 2-core machine), the load that made the proxy's peak RSS twice
the LLM route's. Samples, every 0.5 s, the RSS and its high-water mark (/proc/PID/status) and the
ledger's backlog (requests counted less rows written, from /metrics), and prints per variant the
medians over --rounds alternating rounds.

    python3 scripts/bench/rss.py [--duration 15] [--rounds 3] [--old PATH] [--variants new,new-arena2]

Variants: `new` (target/release/ecoroute as built), `old` (the --old binary, e.g. one built before
the ledger queue had a byte bound), a suffix `-arena2` runs it with MALLOC_ARENA_MAX=2, a suffix
`-mbN` sets ledger.channel_max_bytes to N MiB, `-ledgeroff` turns the ledger off, `-llm` sends an
LLM request (to the mock) instead of the lookup. Builds nothing:
`cargo build --release --bin ecoroute --example mock_upstream` first.
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

from stack import LLM_BODY, SEARCH_BODY, free_port, peak_rss_mb, rss_mb, start_ecoroute, start_mock, status_mb, stop_all


def metric(port, name):
    """The sum of a metric's series."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " "))


def run(variant, args, mock_port):
    parts = variant.split("-")
    binary = args.old if parts[0] == "old" else None
    env = {"MALLOC_ARENA_MAX": "2"} if "arena2" in parts else {}
    body = LLM_BODY if "llm" in parts else SEARCH_BODY
    edits = []
    for part in parts[1:]:
        if part.startswith("mb"):
            edits.append(lambda t, n=int(part[2:]): re.sub(r"channel_max_bytes = \d+", f"channel_max_bytes = {n << 20}", t))
        if part == "ledgeroff":
            edits.append(lambda t: re.sub(r"(\[ledger\][^\[]*?)enabled = true", r"\1enabled = false", t, count=1))
    if binary:
        # A binary from before the key would refuse the config with it.
        edits.append(lambda t: re.sub(r"\n# The most the rows waiting[^\n]*(\n#[^\n]*)*\nchannel_max_bytes = \d+", "", t))

    def edit(text):
        for e in edits:
            text = e(text)
        return text

    tmp = tempfile.mkdtemp(prefix="ecoroute-rss-")
    port = free_port()
    eco = start_ecoroute(tmp, port, mock_port, edit=edit, binary=binary, env=env)
    try:
        start = rss_mb(eco.pid)
        # The first lookup is a search (every later one a cache hit), which loads what search needs.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=SEARCH_BODY.encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            r.read()
        time.sleep(0.5)
        first = rss_mb(eco.pid)
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                backlog = metric(port, "ecoroute_requests_total") - metric(port, "ecoroute_ledger_rows_written_total")
                samples.append((rss_mb(eco.pid), backlog))
                stop.wait(0.5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        out = subprocess.run(["oha", "-z", f"{args.duration}s", "-c", str(args.concurrency), "--no-tui",
                              "--output-format", "json", "-m", "POST", "-T", "application/json", "-d", body,
                              f"http://127.0.0.1:{port}/v1/chat/completions"],
                             capture_output=True, text=True, check=True)
        time.sleep(3)  # the backlog drains
        stop.set()
        sampler.join()
        return {
            "req/s": json.loads(out.stdout)["summary"]["requestsPerSec"],
            "start MB": start,
            "1st search MB": first,
            "peak MB": peak_rss_mb(eco.pid),
            "after MB": rss_mb(eco.pid),
            "anon after MB": status_mb(eco.pid, "RssAnon"),
            "peak backlog": max(b for _, b in samples) if samples else float("nan"),
            "spooled": metric(port, "ecoroute_ledger_rows_spooled_total"),
            "dropped": metric(port, "ecoroute_ledger_rows_dropped_total"),
        }
    finally:
        stop_all([eco])
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--old", help="another ecoroute binary, for the `old` variants")
    ap.add_argument("--variants", default="new,new-arena2")
    args = ap.parse_args()
    variants = args.variants.split(",")
    mock_port = free_port()
    mock = start_mock(mock_port)
    results = {v: [] for v in variants}
    try:
        for n in range(args.rounds):
            with open("/proc/loadavg") as f:
                print(f"round {n + 1}, load average {' '.join(f.read().split()[:3])}")
            for v in variants:
                r = run(v, args, mock_port)
                results[v].append(r)
                print(f"  {v:<18} " + "  ".join(f"{k} {x:.0f}" for k, x in r.items()))
    finally:
        stop_all([mock])
    keys = list(next(iter(results.values()))[0])
    print(f"\nmedians of {args.rounds} rounds, {args.duration} s at c={args.concurrency} (min–max)")
    print("| variant | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for v, rs in results.items():
        cells = [f"{statistics.median(r[k] for r in rs):.0f} ({min(r[k] for r in rs):.0f}–{max(r[k] for r in rs):.0f})" for k in keys]
        print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
