#!/usr/bin/env python3
"""Counts the complex requests that `serve` would answer from search (the search route answers a
request that needs the LLM): runs `ecoroute replay --json` over each labelled file and prints, per
file, how many complex rows were answered from search, with each such row.

    python3 scripts/complex_answered.py [--binary target/release/ecoroute] FILE...
"""
import argparse
import json
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/ecoroute")
    ap.add_argument("--config", default="config/ecoroute.toml")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    total = answered_total = calc_total = 0
    for path in args.files:
        rows = [json.loads(l) for l in open(path) if l.strip()]
        complex_rows = [r for r in rows if r.get("label") == "complex"]
        if not complex_rows:
            continue
        with open("/tmp/complex_answered_input.jsonl", "w") as f:
            for r in complex_rows:
                f.write(json.dumps({"query": r["query"]}) + "\n")
        out = subprocess.run([args.binary, "replay", "--json", "--config", args.config,
                              "--input", "/tmp/complex_answered_input.jsonl"],
                             capture_output=True, text=True, check=True).stdout
        answered = []
        for r, line in zip(complex_rows, out.splitlines()):
            v = json.loads(line)
            if v.get("served") == "search":
                answered.append((r["query"], v.get("answer", "")))
        total += len(complex_rows)
        answered_total += len(answered)
        calculated = sum(1 for _, a in answered if "by ecoroute's calculator" in a)
        calc_total += calculated
        print(f"{path}: {len(answered)} of {len(complex_rows)} complex requests answered without the LLM "
              f"({len(answered) - calculated} from search, {calculated} by the calculator)")
        for q, a in answered:
            print(f"    {q[:90]!r} -> {a[:120]!r}")
    searched = answered_total - calc_total
    print(f"all: {answered_total} of {total} ({100.0 * answered_total / max(total, 1):.2f}%): "
          f"{searched} from search ({100.0 * searched / max(total, 1):.2f}%), {calc_total} by the calculator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
