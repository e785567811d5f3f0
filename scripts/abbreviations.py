#!/usr/bin/env python3
"""What common abbreviations stand for, from corpus/abbreviations.tsv, as corpus documents.

The list is the team's (CC0): the everyday sense of abbreviations that the dictionaries in the
corpus give only in a rare or technical sense ("RSVP stands for Resource Reservation Protocol").
An entry replaces the WordNet and V.E.R.A. expansions of the same abbreviation, and WordNet's gloss
of it when that gloss is of another sense.

scripts/build_corpus.py writes these documents when it builds the corpus. To apply a changed list
to the committed corpus without rebuilding it from its sources (the same result, byte for byte,
as a rebuild's abbreviations step, from the corpus as built before the list):

    python3 scripts/abbreviations.py [corpus/default.jsonl.gz] [corpus/abbreviations.tsv]
"""
import gzip
import io
import json
import re
import sys
from pathlib import Path

SOURCE = "Common abbreviations (ecoroute)"
# The documents an entry here replaces: the dictionaries' expansions of the same abbreviation.
REPLACED = ("vera/", "wordnet-abbreviation/")


def key(title):
    return title.replace(".", "").lower()


def docs(tsv=Path("corpus/abbreviations.tsv")):
    """One document per entry: "RSVP stands for répondez s'il vous plaît, French for …"."""
    for line in tsv.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        abbr, said = line.split("\t")
        yield {"id": f"abbreviations/{abbr}", "title": abbr, "text": f"{abbr} stands for {said}.",
               "source": SOURCE, "url": f"https://en.wiktionary.org/wiki/{abbr}", "by_title": True}


def listed(tsv=Path("corpus/abbreviations.tsv")):
    return {key(d["title"]) for d in docs(tsv)}


def meant(tsv=Path("corpus/abbreviations.tsv")):
    """Each abbreviation in the list with its first expansion, lower-cased: "eta" → "estimated
    time of arrival"."""
    out = {}
    for d in docs(tsv):
        said = d["text"].split(" stands for ", 1)[1]
        out[d["title"]] = flat(re.split(r"[;,(]| or ", said, maxsplit=1)[0])
    return out


def flat(text):
    return re.sub(r"[\s-]+", " ", text.lower()).strip(" .")


def replaces(doc, senses):
    """Whether the list's entry replaces `doc`: the dictionaries' expansions of the same
    abbreviation, and WordNet's gloss of it in capitals when the gloss is of another sense ("ETA
    (noun): a terrorist organization …" for the estimated time of arrival; "MFA (noun): a master's
    degree in fine arts" for multi-factor authentication). A gloss of the same sense stays ("IPO
    (noun): a corporation's first offer to sell stock to the public; also called initial public
    offering"): it says more than the expansion."""
    if doc["id"].startswith(REPLACED):
        return key(doc["title"]) in {key(t) for t in senses}
    if doc["source"] == "WordNet 3.0" and doc["title"] in senses:
        # Another sense shares no word of the list's expansion ("estimated time of arrival"); the
        # same sense says some of them, though not always in that form ("posttraumatic").
        said = set(re.findall(r"[a-z]{4,}", flat(doc["text"])))
        words = set(re.findall(r"[a-z]{4,}", senses[doc["title"]]))
        return bool(words) and not words & said
    return False


def apply(corpus, tsv):
    """Rewrites `corpus` with the list's documents in place of the dictionaries' expansions of the
    same abbreviations (and of an earlier list's documents), at the end of the file as the build
    writes them."""
    senses = meant(tsv)
    kept = []
    with gzip.open(corpus, "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["id"].startswith("abbreviations/") or replaces(doc, senses):
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        for line in kept:
            gz.write(line.encode())
        for doc in docs(tsv):
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
    Path(corpus).write_bytes(buf.getvalue())
    return len(senses)


if __name__ == "__main__":
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus/default.jsonl.gz")
    tsv = Path(sys.argv[2] if len(sys.argv) > 2 else "corpus/abbreviations.tsv")
    n = apply(corpus, tsv)
    print(f"wrote {corpus}: {n} abbreviations from {tsv}")
