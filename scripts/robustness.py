#!/usr/bin/env python3
"""How the classifier holds up when the same questions are asked differently.

Rewrites every row of a labelled file (default training/dev.jsonl) in one way at a time, runs
`ecoroute eval --json` on each rewritten file with the given config (so guards, rules and the
threshold apply exactly as in `serve`), and prints lookup recall and the false-lookup rate per
variant next to the unchanged file.

The chat frames used here are the `HELD_OUT_WRAPPERS` of scripts/prepare_training.py: the model
never saw them in training, so this measures generalisation to new phrasing, not memory.

Usage: python3 scripts/robustness.py [--input FILE] [--config PATH] [--binary PATH] [--json]
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_training import HELD_OUT_WRAPPERS, wrap  # noqa: E402


# Written before the classifier's chat-frame handling (classify::text::core_question) was built,
# and never trained on. Not fully independent: the same hand then wrote core_question's word
# lists, which hold some of their words (yo, random, good morning, just curious, appreciated).
# "Hey assistant, …" then led to the vocative rule (a greeting, up to two words naming the
# addressee, punctuation), so it is no longer independent either. The rest ("My friend asked me",
# "Settle a debate", "Do you remember") show what a frame nobody anticipated does: the unknown
# words read as a conversation, and lookups escalate.
FRESH_WRAPPERS = ["Yo, {q}", "Random question, {q}", "My friend asked me {q}", "Just curious: {Q}",
                  "Settle a debate: {Q}", "Good morning! {Q}", "{Q} Thanks a lot!", "{Q} Much appreciated.",
                  "Do you remember {q}", "Hey assistant, {q}"]


def surface_variants():
    yield "unchanged", lambda q: q
    yield "UPPER CASE", str.upper
    yield "lower case", str.lower
    yield "no final punctuation", lambda q: q.rstrip("?.! ")
    yield "extra spaces", lambda q: "  " + "  ".join(q.split()) + "  "
    for template in HELD_OUT_WRAPPERS + FRESH_WRAPPERS:
        yield template.replace("{q}", "…").replace("{Q}", "…"), lambda q, t=template: wrap(t, q)


def evaluate(binary, config, rows, rewrite, workdir):
    path = Path(workdir) / "variant.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"query": rewrite(r["query"]), "label": r["label"]}, ensure_ascii=False) + "\n")
    out = subprocess.run([binary, "eval", "--config", config, "--input", str(path), "--json"],
                         check=True, capture_output=True, text=True).stdout
    overall = json.loads(out)
    return overall["lookup"]["recall"], overall["false_lookup_rate"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default="training/dev.jsonl")
    parser.add_argument("--config", default="config/ecoroute.toml")
    parser.add_argument("--binary", default="target/release/ecoroute")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args()
    rows = [json.loads(l) for l in open(args.input, encoding="utf-8") if l.strip()]
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, rewrite in surface_variants():
            results[name] = evaluate(args.binary, args.config, rows, rewrite, workdir)
    if args.json:
        print(json.dumps({k: {"lookup_recall": r, "false_lookup_rate": f} for k, (r, f) in results.items()}, indent=2))
        return
    print(f"{len(rows)} rows from {args.input}, config {args.config}\n")
    print(f"{'variant':<32} {'lookup recall':>13} {'false lookups':>13}")
    for name, (recall, flr) in results.items():
        print(f"{name:<32} {recall * 100:>12.1f}% {flr * 100:>12.1f}%")
    wrapped = [r for k, (r, _) in results.items() if "…" in k]
    print(f"\nchat frames: median lookup recall {sorted(wrapped)[len(wrapped) // 2] * 100:.1f}%, "
          f"worst {min(wrapped) * 100:.1f}%")


if __name__ == "__main__":
    main()
