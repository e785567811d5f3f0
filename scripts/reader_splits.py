#!/usr/bin/env python3
"""Splits the labelled questions the reader learns from, is tuned on and is reported on.

- train: what the reader's weights are fitted on;
- dev:   where its threshold is chosen;
- test:  scored once, for the figures in docs/classifier.md.

Rows are assigned by a hash of the question, so the split is stable when files grow. Reads
../shared/data/queries/real_chat_dev.jsonl (first messages typed by real chatbot users: oasst1,
Apache-2.0; Chatbot Arena prompts, CC BY 4.0) and training/dev.jsonl (Natural Questions, TriviaQA),
writes training/reader/*.jsonl.
"""
import hashlib
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.path.join(ROOT, "..", "shared", "data", "queries", "real_chat_dev.jsonl")
OUT = os.path.join(ROOT, "training", "reader")


def bucket(query):
    return int(hashlib.sha256(query.strip().lower().encode()).hexdigest()[:8], 16) % 4


def write(name, rows):
    with open(os.path.join(OUT, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(SHARED):
        sys.exit(f"{SHARED} not found: the split is committed; rerun only beside ../shared")
    splits = {"train": [], "dev": [], "test": []}
    complex_rows = []
    time_sensitive = []
    for line in open(SHARED):
        r = json.loads(line)
        if r["label"] == "complex":
            complex_rows.append({"query": r["query"], "label": "complex", "source": "real_chat"})
            continue
        if not r.get("gold"):
            time_sensitive.append({"query": r["query"], "label": "lookup", "source": "real_chat_time_sensitive"})
            continue
        row = {"query": r["query"], "label": "lookup", "answers": ["re:" + r["gold"]],
               "source": "real_chat_definition" if "definition" in r.get("note", "") else "real_chat"}
        b = bucket(r["query"])
        splits["train" if b < 2 else "dev" if b == 2 else "test"].append(row)
    for name, rows in splits.items():
        write(f"real_chat_{name}.jsonl", rows)
    write("real_chat_complex.jsonl", complex_rows)
    write("real_chat_time_sensitive.jsonl", time_sensitive)
    nq = {"dev": [], "test": []}
    for line in open(os.path.join(ROOT, "training", "dev.jsonl")):
        r = json.loads(line)
        if r["label"] == "lookup" and r.get("answers"):
            nq["dev" if bucket(r["query"]) < 2 else "test"].append(r)
    for name, rows in nq.items():
        write(f"nq_trivia_{name}.jsonl", rows)


if __name__ == "__main__":
    main()
