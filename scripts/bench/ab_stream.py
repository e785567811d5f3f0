#!/usr/bin/env python3
"""Two ecoroute binaries side by side, as `ab.py`, timing the first byte of a streamed answer
(`"stream": true`) at c=1: whether a change moved the time a client waits for the first token.

    python3 scripts/bench/ab_stream.py OLD_BINARY NEW_BINARY [--rounds 3] [--duration 5]

The mock sends a chunk every 50 ms, so a 5 s round holds only about 32 streams: read the medians
of several rounds. Needs oha (`cargo install oha --locked`).
"""

import argparse
import statistics

from ab import remove_tmp_dirs, run_oha, start
from stack import STREAM_BODY, free_port, start_mock, stop_all


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    mock_port = free_port()
    mock = start_mock(mock_port)
    running = {b: start(b, mock_port) for b in args.binaries}
    results = {b: [] for b in args.binaries}
    try:
        for round_no in range(args.rounds):
            for binary, (_, port) in running.items():
                d = run_oha(f"http://127.0.0.1:{port}/v1/chat/completions", 1, args.duration, STREAM_BODY)
                ttfb = d["firstBytePercentiles"]["p50"] * 1e3
                results[binary].append(ttfb)
                print(f"round {round_no}  first byte p50 {ttfb:.3f} ms  streams {d['statusCodeDistribution']}  {binary}",
                      flush=True)
    finally:
        stop_all([p for p, _ in running.values()] + [mock])
        remove_tmp_dirs()
    print("\nmedians (streamed LLM route, c=1):")
    for binary, rows in results.items():
        print(f"  first byte p50 {statistics.median(rows):.3f} ms  {binary}")


if __name__ == "__main__":
    main()
