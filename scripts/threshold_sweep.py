#!/usr/bin/env python3
"""Choose `lookup_threshold` on what reaches users: at each threshold, the share of typed lookups
answered from search and how many of those answers hold a gold answer (`ecoroute eval --answers`),
and the complex requests answered from search (`ecoroute replay --json`), both through the same
decision path as `serve`.

    cargo build --release
    python3 scripts/threshold_sweep.py [--thresholds 0.75 0.8 0.85 0.92]

Lookup sets: training/chatbot_lookups*.jsonl. Complex sets: the labelled rows of
../shared/data/queries/{dev,train}.jsonl (when present), training/heldout.jsonl and
training/probe.jsonl.
"""

import argparse
import json
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("ECOROUTE_BIN") or os.path.join(ROOT, "target", "release", "ecoroute")
SHARED = os.path.join(ROOT, "..", "shared", "data", "queries")


def config_at(threshold):
    with open(os.path.join(ROOT, "config", "ecoroute.toml")) as f:
        text = re.sub(r"(?m)^lookup_threshold = .*$", f"lookup_threshold = {threshold}", f.read())
    handle, path = tempfile.mkstemp(suffix=".toml", dir=os.path.join(ROOT, "config"))
    with os.fdopen(handle, "w") as f:
        f.write(text)
    return path


def answered(config, gold):
    report = subprocess.run(
        [BINARY, "eval", "-c", config, "--answers", gold, "--json"], capture_output=True, text=True, check=True
    ).stdout
    pipeline = json.loads(report)["pipeline"]["overall"]
    return pipeline["answered"], pipeline["correct"], pipeline["questions"]


def complex_answered(config, path):
    labels = [json.loads(line).get("label") for line in open(path)]
    out = subprocess.run(
        [BINARY, "replay", "-c", config, "--json", "--input", path], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    rows = [json.loads(line) for line in out if line.strip()]
    complex_rows = [r for label, r in zip(labels, rows) if label == "complex"]
    return sum(r["served"] == "search" for r in complex_rows), len(complex_rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.75, 0.8, 0.85, 0.92])
    parser.add_argument("--lookups", nargs="+", help="gold lookup sets (default: training/chatbot_lookups*.jsonl)")
    parser.add_argument("--complex", nargs="*", default=[], help="more sets whose complex rows are counted")
    args = parser.parse_args()
    lookups = args.lookups or [
        os.path.join(ROOT, "training", n) for n in ("chatbot_lookups.jsonl", "chatbot_lookups_heldout.jsonl")
    ]
    complex_sets = [os.path.join(SHARED, n) for n in ("dev.jsonl", "train.jsonl") if os.path.exists(os.path.join(SHARED, n))]
    complex_sets += [os.path.join(ROOT, "training", n) for n in ("heldout.jsonl", "probe.jsonl")]
    complex_sets += args.complex
    for threshold in args.thresholds:
        config = config_at(threshold)
        try:
            parts = []
            for gold in lookups:
                a, c, n = answered(config, gold)
                parts.append(f"{os.path.basename(gold)} {a}/{n} answered, {c} right")
            wrong, total = 0, 0
            for path in complex_sets:
                w, t = complex_answered(config, path)
                wrong, total = wrong + w, total + t
            parts.append(f"complex answered from search {wrong}/{total}")
            print(f"{threshold:.2f}: " + "; ".join(parts))
        finally:
            os.remove(config)


if __name__ == "__main__":
    main()
