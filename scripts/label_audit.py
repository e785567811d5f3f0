#!/usr/bin/env python3
"""A blind hand audit of the labels the false-lookup and recall figures are measured against.

The labelled sources are labelled per source: every HotpotQA question is "complex", every
TriviaQA question "lookup". The issue's definition is per question: a lookup is answered by one
short fact, a complex question needs several facts combined. This script draws a sample of the
out-of-fold scores written by `ecoroute train --folds 5 --scores-output FILE`, four groups of 40 on
either side of a threshold, shuffles them, and writes the queries with no score, source or label,
so the reader judges each from its wording alone. `summary` then says, per group, what share the
reader judged to be one fact.

    python3 scripts/label_audit.py sample --scores oof.jsonl --threshold 0.926 --out DIR
    # judge DIR/blind.tsv: add a third column, S (one fact) or M (several facts), save as judged.tsv
    python3 scripts/label_audit.py merge --dir DIR --output training/audit/label_audit.jsonl
    python3 scripts/label_audit.py summary --input training/audit/label_audit.jsonl
"""
import argparse
import collections
import json
import math
import random
from pathlib import Path

# (group, source, whether the group is at or above the threshold)
GROUPS = [
    ("hotpotqa_sent_to_search", "hotpotqa", True),
    ("hotpotqa_kept_on_llm", "hotpotqa", False),
    ("triviaqa_kept_on_llm", "triviaqa_dev", False),
    ("triviaqa_sent_to_search", "triviaqa_dev", True),
]
PER_GROUP = 40
JUDGEMENT = {"S": "one fact", "M": "several facts"}


def sample(args):
    rows = [json.loads(line) for line in open(args.scores)]
    rng = random.Random(args.seed)
    items = []
    for group, source, above in GROUPS:
        pool = [r for r in rows if r["source"] == source and (r["p_lookup"] >= args.threshold) == above]
        items += [dict(group=group, **r) for r in rng.sample(pool, PER_GROUP)]
    rng.shuffle(items)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "key.jsonl", "w") as f:
        for i, item in enumerate(items):
            f.write(json.dumps(dict(id=i, threshold=args.threshold, **item)) + "\n")
    with open(out / "blind.tsv", "w") as f:
        for i, item in enumerate(items):
            f.write(f"{i}\t{item['query']}\n")
    print(f"wrote {len(items)} queries to {out / 'blind.tsv'}")


def merge(args):
    d = Path(args.dir)
    judged = {}
    for line in open(d / "judged.tsv"):
        i, _query, mark = line.rstrip("\n").split("\t")
        if mark not in JUDGEMENT:
            raise SystemExit(f"judged.tsv: row {i} is marked {mark!r}; use S or M")
        judged[int(i)] = JUDGEMENT[mark]
    with open(args.output, "w") as f:
        for line in open(d / "key.jsonl"):
            item = json.loads(line)
            item["judged"] = judged[item.pop("id")]
            f.write(json.dumps(item, ensure_ascii=False) + "\n")


def wilson(k, n, z=1.96):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summary(args):
    counts = collections.defaultdict(collections.Counter)
    for line in open(args.input):
        item = json.loads(line)
        counts[item["group"]][item["judged"]] += 1
    for group, _source, _above in GROUPS:
        c = counts[group]
        n = sum(c.values())
        k = c["one fact"]
        lo, hi = wilson(k, n)
        print(f"{group:<26} one fact {k:>2} of {n} = {k / n:6.1%} (95% interval {lo:.0%}–{hi:.0%})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--scores", required=True)
    s.add_argument("--threshold", type=float, required=True)
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument("--out", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--dir", required=True)
    m.add_argument("--output", required=True)
    r = sub.add_parser("summary")
    r.add_argument("--input", required=True)
    args = p.parse_args()
    {"sample": sample, "merge": merge, "summary": summary}[args.command](args)


if __name__ == "__main__":
    main()
