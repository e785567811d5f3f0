#!/usr/bin/env python3
"""Load benchmark on loopback: a mock OpenAI upstream, ecoroute in front of it, nginx in front of
the same mock as the pure-proxy baseline, and oha as the load generator.

    python3 scripts/bench/load.py [--duration 10] [--out target/bench/load.json]

Needs: oha (`cargo install oha --locked`) and nginx (`apt-get install nginx-light`). Builds the
release binary and the mock (`examples/mock_upstream.rs`) first. Measures, at concurrency 1 and 16:
p50/p99 latency and throughput for the mock alone, nginx, ecoroute's LLM route and its search route;
CPU time per request of the ecoroute process (all threads: HTTP, classification, search, ledger
writer) and of nginx's workers; ecoroute's peak RSS; and the time to first byte of a stream through
ecoroute against the mock's own. Prints a table with the ratios to nginx and writes JSON.

Every figure is a median of --repeats runs (default 3): the machine is shared and noisy.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from stack import (LLM_BODY, ROOT, SEARCH_BODY, STREAM_BODY, build, children, cpu_seconds, free_port,
                   peak_rss_mb, start_ecoroute, start_mock, stop_all)


def oha(url, body, concurrency, duration, pids):
    before = cpu_seconds(pids)
    run = subprocess.run(
        ["oha", "-z", f"{duration}s", "-c", str(concurrency), "--no-tui", "--output-format", "json",
         "-m", "POST", "-T", "application/json", "-d", body, url],
        capture_output=True, text=True, check=True)
    after = cpu_seconds(pids)
    d = json.loads(run.stdout)
    ok = d["statusCodeDistribution"].get("200", 0)
    total = sum(d["statusCodeDistribution"].values())
    return {
        "p50_ms": d["latencyPercentiles"]["p50"] * 1e3,
        "p99_ms": d["latencyPercentiles"]["p99"] * 1e3,
        "ttfb_p50_ms": (d.get("firstBytePercentiles") or {}).get("p50", float("nan")) * 1e3,
        "ttfb_p99_ms": (d.get("firstBytePercentiles") or {}).get("p99", float("nan")) * 1e3,
        "rps": d["summary"]["requestsPerSec"],
        "ok": ok,
        "errors": total - ok,
        "cpu_us_per_req": (after - before) / max(ok, 1) * 1e6 if pids else float("nan"),
    }


def median_of(runs):
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10, help="seconds per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "target/bench/load.json"))
    args = ap.parse_args()
    for tool in ("oha", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} not found: cargo install oha --locked; apt-get install nginx-light")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    build()
    tmp = tempfile.mkdtemp(prefix="ecoroute-bench-")
    procs = []
    try:
        mock_port, eco_port, nginx_port = free_port(), free_port(), free_port()
        mock = start_mock(mock_port)
        procs.append(mock)
        eco = start_ecoroute(tmp, eco_port, mock_port)
        procs.append(eco)

        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{nginx_port};
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
        ng = subprocess.Popen([nginx, "-c", os.path.join(tmp, "nginx.conf"), "-p", tmp, "-g", "daemon off;"],
                              stderr=subprocess.DEVNULL)
        procs.append(ng)

        time.sleep(0.5)
        nginx_workers = children(ng.pid)
        urls = {
            "mock (direct)": (f"http://127.0.0.1:{mock_port}/v1/chat/completions", LLM_BODY, [mock.pid]),
            "nginx -> mock": (f"http://127.0.0.1:{nginx_port}/v1/chat/completions", LLM_BODY, nginx_workers),
            "ecoroute llm route": (f"http://127.0.0.1:{eco_port}/v1/chat/completions", LLM_BODY, [eco.pid]),
            "ecoroute search route": (f"http://127.0.0.1:{eco_port}/v1/chat/completions", SEARCH_BODY, [eco.pid]),
        }
        # Check the routes are what they claim before measuring them.
        for name, body, route in (("llm", LLM_BODY, "llm"), ("search", SEARCH_BODY, "search")):
            req = urllib.request.Request(f"http://127.0.0.1:{eco_port}/v1/chat/completions", data=body.encode(),
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req) as r:
                got = r.headers.get("x-ecoroute-route")
                if got != route:
                    raise SystemExit(f"{name} body routed to {got}, expected {route}")

        results = {}
        for concurrency in (1, 16):
            for name, (url, body, pids) in urls.items():
                oha(url, body, concurrency, 2, pids)  # warm-up
                runs = [oha(url, body, concurrency, args.duration, pids) for _ in range(args.repeats)]
                results[f"{name} c={concurrency}"] = median_of(runs)
                r = results[f"{name} c={concurrency}"]
                print(f"  {name:<24} c={concurrency:<3} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
                      f"{r['rps']:.0f} req/s  cpu {r['cpu_us_per_req']:.1f} us/req  errors {r['errors']:.0f}", file=sys.stderr)

        # Streaming: time to first byte (the first SSE chunk leaves the mock at once).
        ttfb = {}
        for name, url in (("mock (direct)", f"http://127.0.0.1:{mock_port}/v1/chat/completions"),
                          ("nginx -> mock", f"http://127.0.0.1:{nginx_port}/v1/chat/completions"),
                          ("ecoroute llm route", f"http://127.0.0.1:{eco_port}/v1/chat/completions")):
            oha(url, STREAM_BODY, 1, 2, [])
            runs = [oha(url, STREAM_BODY, 1, args.duration, []) for _ in range(args.repeats)]
            ttfb[name] = median_of(runs)
        rss = peak_rss_mb(eco.pid)
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)

    lines = []
    out = lines.append
    out(f"Load benchmark, loopback, {os.cpu_count()} cores, oha, {args.duration}s x {args.repeats} runs per cell (medians)")
    out("")
    out(f"| {'target':<24} | {'c':>2} | {'p50 ms':>7} | {'p99 ms':>7} | {'req/s':>7} | {'CPU µs/req':>10} | {'p50 vs nginx':>12} |")
    out(f"|{'-' * 26}|{'-' * 4}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 12}|{'-' * 14}|")
    for concurrency in (1, 16):
        base = results[f"nginx -> mock c={concurrency}"]["p50_ms"]
        for name in urls:
            r = results[f"{name} c={concurrency}"]
            out(f"| {name:<24} | {concurrency:>2} | {r['p50_ms']:>7.3f} | {r['p99_ms']:>7.3f} | {r['rps']:>7.0f} | "
                f"{r['cpu_us_per_req']:>10.1f} | {r['p50_ms'] / base:>11.2f}x |")
    out("")
    for concurrency in (1, 16):
        direct = results[f"mock (direct) c={concurrency}"]["p50_ms"]
        nginx_added = results[f"nginx -> mock c={concurrency}"]["p50_ms"] - direct
        eco_added = results[f"ecoroute llm route c={concurrency}"]["p50_ms"] - direct
        out(f"c={concurrency}: added p50 latency over calling the mock directly: nginx {nginx_added * 1e3:.0f} µs, "
            f"ecoroute LLM route {eco_added * 1e3:.0f} µs ({eco_added / nginx_added:.2f}x nginx's)")
    out("")
    out("Streaming, time to first byte at c=1 (p50 / p99):")
    for name, r in ttfb.items():
        out(f"  {name:<24} {r['ttfb_p50_ms']:.3f} ms / {r['ttfb_p99_ms']:.3f} ms")
    direct = ttfb["mock (direct)"]["ttfb_p50_ms"]
    out(f"  ecoroute adds {(ttfb['ecoroute llm route']['ttfb_p50_ms'] - direct) * 1e3:.0f} µs at p50 "
        f"(nginx adds {(ttfb['nginx -> mock']['ttfb_p50_ms'] - direct) * 1e3:.0f} µs)")
    out("")
    out(f"ecoroute peak RSS (default embedded index, ledger on): {rss:.1f} MB")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"results": results, "ttfb": ttfb, "peak_rss_mb": rss, "table": lines}, f, indent=2)
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
