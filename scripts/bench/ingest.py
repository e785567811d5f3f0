#!/usr/bin/env python3
"""How fast `ecoroute index build --input` reads each public dump, and how big the index gets, on
inputs made from the real samples in ../shared/data/corpus-sources/samples, so the time and size
of a full English Wikipedia or Wikidata index can be extrapolated (docs/search-backends.md).

    cargo build --release
    python3 scripts/bench/ingest.py [--copies 40] [--repeats 3]

Inputs, written under target/ingest-bench/:
- zim/: --copies copies of the real Kiwix "Ray Charles" sample (371 entries, 570 kB each);
- wikidata.json (uncompressed): the real Q42 entity (Douglas Adams, every language, 95 kB of JSON) repeated
  under 2,000 ids in the dump's layout: an entity of a full dump averages well under that size,
  so the rate per uncompressed megabyte is the figure to carry over;
- abstracts.xml.gz: the Wikipedia summaries of the default corpus written as the abstracts dump.
Prints, per input, the median over --repeats builds: documents, seconds, documents and input
megabytes per second, and the size of the index.
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "..", "shared", "data", "corpus-sources", "samples")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "ingest")
OUT = os.path.join(ROOT, "target", "ingest-bench")
BINARY = os.path.join(ROOT, "target", "release", "ecoroute")


def sample(name, fixture):
    shared = os.path.join(SAMPLES, name)
    return shared if os.path.exists(shared) else os.path.join(FIXTURES, fixture)


def make_inputs(copies):
    os.makedirs(OUT, exist_ok=True)
    zim_dir = os.path.join(OUT, "zim")
    shutil.rmtree(zim_dir, ignore_errors=True)
    os.makedirs(zim_dir)
    zim = sample("zim/wikipedia_en_ray_charles.zim", "wikipedia_en_ray_charles.zim")
    for i in range(copies):
        shutil.copy(zim, os.path.join(zim_dir, f"copy{i:03}.zim"))

    answer = sample("wikidata/wbgetentities-Q6-Q42-P31.json", "wikidata-Q42.json")
    with open(answer) as f:
        q42 = json.load(f)["entities"]["Q42"]
    # Uncompressed: 2,000 copies of one entity would compress far better than a real dump does.
    wikidata = os.path.join(OUT, "wikidata.json")
    with open(wikidata, "w") as out:
        out.write("[\n")
        for i in range(2000):
            q42["id"] = f"Q{1_000_000 + i}"
            q42["labels"]["en"]["value"] = f"Douglas Adams {i}"
            out.write(json.dumps(q42) + (",\n" if i < 1999 else "\n"))
        out.write("]\n")

    abstracts = os.path.join(OUT, "abstracts.xml.gz")
    from xml.sax.saxutils import escape

    with gzip.open(os.path.join(ROOT, "corpus", "default.jsonl.gz"), "rt") as corpus, gzip.open(abstracts, "wt") as out:
        out.write("<feed>\n")
        for line in corpus:
            doc = json.loads(line)
            if not doc["id"].startswith("wiki/"):
                continue
            url = "https://en.wikipedia.org/wiki/" + doc["title"].replace(" ", "_")
            out.write(
                f"<doc>\n<title>Wikipedia: {escape(doc['title'])}</title>\n<url>{escape(url)}</url>\n"
                f"<abstract>{escape(doc['text'])}</abstract>\n<links>\n</links>\n</doc>\n"
            )
        out.write("</feed>\n")
    return {"zim": zim_dir, "wikidata": wikidata, "abstracts": abstracts}


def size_of(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def build(name, path):
    index = os.path.join(OUT, f"index-{name}")
    started = time.perf_counter()
    done = subprocess.run(
        [BINARY, "index", "build", "--input", path, "--output", index],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    documents = int(done.stdout.split()[1])
    return seconds, documents, size_of(index)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    inputs = make_inputs(args.copies)
    print(f"{'input':<10} {'MB in':>7} {'docs':>7} {'seconds':>8} {'docs/s':>8} {'MB/s':>6} {'index MB':>9}")
    for name, path in inputs.items():
        runs = [build(name, path) for _ in range(args.repeats)]
        seconds = statistics.median(r[0] for r in runs)
        _, documents, index_bytes = runs[0]
        megabytes = size_of(path) / 1e6
        print(
            f"{name:<10} {megabytes:>7.1f} {documents:>7} {seconds:>8.2f} {documents / seconds:>8.0f} "
            f"{megabytes / seconds:>6.1f} {index_bytes / 1e6:>9.1f}"
        )


if __name__ == "__main__":
    main()
