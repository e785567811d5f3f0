#!/usr/bin/env python3
"""Soak test: ecoroute in front of the mock upstream under steady mixed load for a bounded time,
sampling its resident memory, to show memory stays flat. Not part of CI (it takes minutes).

    python3 scripts/bench/soak.py [--minutes 10] [--concurrency 8] [--out target/bench/soak.json]

Two oha processes run side by side for the whole time, one sending lookups (answered from the
embedded index) and one sending LLM requests, each at the given concurrency. RSS is read from
/proc every few seconds. The verdict compares the median RSS of the second quarter of the run
(after warm-up: index pages touched, ledger connection caches filled) with the last quarter, and
fits a slope over the second half. At the end the proxy is stopped with SIGTERM and the ledger's
rows with status 200 are counted against the 200s oha received.
"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from stack import LLM_BODY, SEARCH_BODY, build, free_port, peak_rss_mb, rss_mb, start_ecoroute, start_mock, stop_all


def start_oha(url, body, concurrency, seconds):
    return subprocess.Popen(
        ["oha", "-z", f"{seconds}s", "-c", str(concurrency), "--no-tui", "--output-format", "json",
         "-m", "POST", "-T", "application/json", "-d", body, url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def slope_mb_per_min(samples):
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60 if var else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=8, help="per oha process (two run at once)")
    ap.add_argument("--interval", type=float, default=5, help="seconds between RSS samples")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/bench/soak.json"))
    args = ap.parse_args()
    seconds = int(args.minutes * 60)

    build()
    tmp = tempfile.mkdtemp(prefix="ecoroute-soak-")
    procs = []
    try:
        mock_port, eco_port = free_port(), free_port()
        procs.append(start_mock(mock_port))
        eco = start_ecoroute(tmp, eco_port, mock_port)
        procs.append(eco)
        url = f"http://127.0.0.1:{eco_port}/v1/chat/completions"
        loads = [start_oha(url, SEARCH_BODY, args.concurrency, seconds), start_oha(url, LLM_BODY, args.concurrency, seconds)]
        started = time.time()
        samples = []
        while any(p.poll() is None for p in loads):
            samples.append((time.time() - started, rss_mb(eco.pid)))
            print(f"  {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:6.1f} MB", file=sys.stderr)
            time.sleep(args.interval)
        ok = 0
        for p in loads:
            summary = json.loads(p.communicate()[0])
            ok += summary["statusCodeDistribution"].get("200", 0)
        peak = peak_rss_mb(eco.pid)
        eco.terminate()
        eco.wait(timeout=60)
        db = sqlite3.connect(os.path.join(tmp, "ledger.sqlite"))
        rows, rows_ok = db.execute("SELECT count(*), count(*) FILTER (WHERE status = 200) FROM requests").fetchone()
        db.close()
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)

    quarter = len(samples) // 4
    warm = statistics.median(m for _, m in samples[quarter:2 * quarter])
    last = statistics.median(m for _, m in samples[3 * quarter:])
    slope = slope_mb_per_min(samples[2 * quarter:])
    growth = (last - warm) / warm * 100
    flat = abs(growth) < 10 and abs(slope) < 0.5
    lines = [
        f"Soak: {args.minutes:g} min, 2 x oha c={args.concurrency} (lookups + LLM calls), {len(samples)} RSS samples",
        f"  requests served (200)        {ok}",
        f"  ledger rows after SIGTERM    {rows}, {rows_ok} of them 200  "
        f"({'none lost' if rows_ok >= ok else f'{ok - rows_ok} missing'}; rows beyond oha's count are requests in flight "
        f"when oha stopped, which the proxy answered and oha does not count)",
        f"  RSS second quarter (median)  {warm:.1f} MB",
        f"  RSS last quarter (median)    {last:.1f} MB  ({growth:+.1f}%)",
        f"  RSS slope, second half       {slope:+.3f} MB/min",
        f"  peak RSS                     {peak:.1f} MB",
        f"  verdict: {'flat' if flat else 'GROWING'} (flat means under 10% growth and under 0.5 MB/min)",
    ]
    print("\n".join(lines))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"samples": samples, "served": ok, "ledger_rows": rows, "ledger_rows_200": rows_ok, "warm_mb": warm, "last_mb": last,
                   "slope_mb_per_min": slope, "peak_mb": peak, "flat": flat, "summary": lines}, f, indent=2)
    return 0 if flat and rows_ok >= ok else 1


if __name__ == "__main__":
    sys.exit(main())
