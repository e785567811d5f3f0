#!/usr/bin/env python3
"""How the task-type policy of model tiers reads the labelled queries: for each file, the count of
(label, task) pairs from `ecoroute classify --input` (the same function `serve` uses), and every
complex request it would let a smaller model serve, to read by hand.

    python3 scripts/experiments/task_types.py ../shared/data/queries/dev.jsonl ../shared/data/queries/train.jsonl
"""
import collections
import json
import subprocess
import sys

BIN = "target/release/ecoroute"

for path in sys.argv[1:]:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    out = subprocess.run([BIN, "classify", "--input", path], capture_output=True, text=True, check=True)
    decisions = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(decisions) == len(rows), (len(decisions), len(rows))
    counts = collections.Counter()
    for row, decision in zip(rows, decisions):
        counts[(row.get("label"), decision["task"])] += 1
        if decision["task"] not in ("other", "lookup") and row.get("label") == "complex":
            print(f"  {decision['task']:15} {row.get('source', ''):22} {row['query'][:100]!r}")
    small = sum(n for (label, task), n in counts.items() if task not in ("other", "lookup"))
    print(f"{path}: {dict(sorted(counts.items()))}; a smaller model may serve {small} of {len(rows)}")
