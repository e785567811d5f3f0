#!/usr/bin/env python3
"""Why the difficulty router (#36) does not beat prompt length on the held-out MMLU subjects.

Reads ../shared/data/routing/unified_strong_weak.jsonl with the split `ecoroute train-router`
uses (every other MMLU subject in sorted order fitted on, every fourth of those for dev) and prints:
1. leave-subjects-out cross-validation within the 29 fitted subjects (5 folds of subjects): APGR
   of prompt length alone, and of a logistic regression on the prompt's shape (length, lines,
   numbers, maths marks, answer options, "NOT"/"EXCEPT", "Statement 1"), the kind of features the
   shipped router reads;
2. on the 28 held-out subjects: the share of each subject's prompts that need the strong model,
   and the APGR of a router that knew each held-out subject's true rate (an upper bound for
   anything that only tells subjects apart).
Needs numpy and scikit-learn (not needed by the product or its tests).
Usage: python3 scripts/experiments/router_subject_cv.py [UNIFIED_JSONL]
"""
import json
import math
import re
import sys
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/routing/unified_strong_weak.jsonl"
sys.path.insert(0, DATA.rsplit("/", 1)[0])
from routing_metrics import report  # noqa: E402  (the shared data's own metric script)

rows = [json.loads(line) for line in open(DATA)]
mmlu = [r for r in rows if r["source"] == "routellm_mmlu"]
subjects = sorted({r["group"] for r in mmlu})
fitted = subjects[::2]
held = [r for r in mmlu if r["group"] not in fitted]
fit_rows = [r for r in mmlu if r["group"] in fitted]


def shape(p):
    lines = p.split("\n")
    words = re.findall(r"[A-Za-z]+", p)
    options = [line for line in lines if re.match(r"^[A-D]\. ", line)]
    return [math.log1p(len(p)), math.log1p(len(words)), math.log1p(len(lines)),
            math.log1p(len(re.findall(r"\d+(?:\.\d+)?", p))), sum(c.isdigit() for c in p) / max(1, len(p)),
            math.log1p(np.mean([len(o) for o in options]) if options else 0),
            np.mean([len(w) for w in words] or [0]), sum(c in "=+*/^<>%\\$" for c in p) / max(1, len(p)),
            int(bool(re.search(r"\b(NOT|EXCEPT)\b", p))), int("Statement 1" in p), p.count("?")]


def apgr(rs, scores):
    return report("", [r["strong_score"] for r in rs], [r["weak_score"] for r in rs], list(scores))["APGR"]


needs = lambda r: r["strong_score"] > r["weak_score"]  # noqa: E731
folds = [fitted[i::5] for i in range(5)]
for name, features in (("prompt length", lambda p: [math.log1p(len(p))]), ("prompt shape", shape)):
    per_fold = []
    for fold in folds:
        train = [r for r in fit_rows if r["group"] not in fold]
        test = [r for r in fit_rows if r["group"] in fold]
        model = make_pipeline(StandardScaler(), LogisticRegression())
        model.fit([features(r["prompt"]) for r in train], [needs(r) for r in train])
        per_fold.append(apgr(test, model.predict_proba([features(r["prompt"]) for r in test])[:, 1]))
    print(f"fitted subjects, 5 folds of subjects, {name}: APGR " + " ".join(f"{a:.3f}" for a in per_fold)
          + f", mean {np.mean(per_fold):.3f}")

rate = defaultdict(list)
for r in held:
    rate[r["group"]].append(needs(r))
print(f"held-out MMLU ({len(held)} prompts, {len(rate)} subjects): the largest and their share needing the strong model")
for s, v in sorted(rate.items(), key=lambda kv: -len(kv[1]))[:5]:
    print(f"  {s}: {len(v)} prompts, {np.mean(v):.2f}")
print(f"a router knowing each held-out subject's true rate: APGR {apgr(held, [np.mean(rate[r['group']]) for r in held]):.3f}")
print(f"prompt length alone on the held-out subjects: APGR {apgr(held, [len(r['prompt']) for r in held]):.3f}")
