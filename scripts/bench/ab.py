#!/usr/bin/env python3
"""Two ecoroute binaries side by side, in one sitting, in front of the same mock upstream: the
only fair way to say whether a change made the LLM route faster or slower on a noisy machine.

    cargo build --release --example mock_upstream
    python3 scripts/bench/ab.py OLD_BINARY NEW_BINARY [--rounds 3] [--duration 5]

Build the old one from a worktree (`git worktree add /tmp/old REV && cd /tmp/old &&
CARGO_TARGET_DIR=/tmp/old-target cargo build --release --bin ecoroute`). Each binary gets the same
minimal config (the LLM at the mock, the default corpus, a ledger in a temporary folder), so older
binaries that do not know newer keys start too. Rounds alternate between the binaries; the
last lines are the medians (p50, p99, throughput, CPU per request) and their ratios, second binary
over first. Needs oha (`cargo install oha --locked`).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

from stack import LLM_BODY, ROOT, cpu_seconds, free_port, start_mock, stop_all, wait_http


# Each binary's folder (index and ledger): hundreds of MB after a run, removed at the end.
TMP_DIRS = []


def remove_tmp_dirs():
    for tmp in TMP_DIRS:
        shutil.rmtree(tmp, ignore_errors=True)


def start(binary, mock_port):
    tmp = tempfile.mkdtemp(prefix="ecoroute-ab-")
    TMP_DIRS.append(tmp)
    port = free_port()
    config = os.path.join(tmp, "ab.toml")
    with open(config, "w") as f:
        f.write(f"""[server]
listen = "127.0.0.1:{port}"
[llm]
base_url = "http://127.0.0.1:{mock_port}/v1"
[search]
index_dir = "{tmp}/index"
corpus = "{ROOT}/corpus/default.jsonl.gz"
[ledger]
path = "{tmp}/ledger.sqlite"
""")
    proc = subprocess.Popen([binary, "serve", "--config", config], cwd=ROOT,
                            stderr=open(os.path.join(tmp, "log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
    wait_http(f"http://127.0.0.1:{port}/readyz")
    return proc, port


def run_oha(url, concurrency, duration, body):
    """oha's JSON summary of `duration` seconds of POSTs of `body` at `concurrency`."""
    run = subprocess.run(["oha", "-z", f"{duration}s", "-c", str(concurrency), "--no-tui", "--output-format", "json",
                          "-m", "POST", "-T", "application/json", "-d", body, url],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def oha(url, concurrency, duration):
    d = run_oha(url, concurrency, duration, LLM_BODY)
    lat = d["latencyPercentiles"]
    return lat["p50"] * 1e3, lat["p99"] * 1e3, d["summary"]["requestsPerSec"], sum(d["statusCodeDistribution"].values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    mock_port = free_port()
    mock = start_mock(mock_port)
    running = {b: start(b, mock_port) for b in args.binaries}
    results = {(b, c): [] for b in args.binaries for c in (1, 16)}
    try:
        for round_no in range(args.rounds):
            for binary, (proc, port) in running.items():
                for c in (1, 16):
                    before = cpu_seconds([proc.pid])
                    p50, p99, rps, n = oha(f"http://127.0.0.1:{port}/v1/chat/completions", c, args.duration)
                    cpu = (cpu_seconds([proc.pid]) - before) / max(n, 1) * 1e6
                    results[(binary, c)].append((p50, p99, rps, cpu))
                    print(f"round {round_no}  c={c:2}  p50 {p50:.3f} ms  p99 {p99:.3f} ms  {rps:8.0f} req/s  cpu {cpu:6.1f} us/req  {binary}", flush=True)
    finally:
        stop_all([p for p, _ in running.values()] + [mock])
        remove_tmp_dirs()
    print("\nmedians (LLM route):")
    for (binary, c), rows in results.items():
        med = [statistics.median(x) for x in zip(*rows)]
        print(f"  c={c:2}  p50 {med[0]:.3f} ms  p99 {med[1]:.3f} ms  {med[2]:8.0f} req/s  cpu {med[3]:6.1f} us/req  {binary}")
    first, second = args.binaries
    print("\nratios, second / first:")
    for c in (1, 16):
        a, b = ([statistics.median(x) for x in zip(*results[(bin_, c)])] for bin_ in (first, second))
        print(f"  c={c:2}  p50 {b[0] / a[0]:.2f}x  p99 {b[1] / a[1]:.2f}x  req/s {b[2] / a[2]:.2f}x  cpu {b[3] / a[3]:.2f}x")


if __name__ == "__main__":
    main()
