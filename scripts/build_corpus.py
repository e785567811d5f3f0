#!/usr/bin/env python3
"""Build the default embedded-search corpus from the raw public sources.

Each output document is one fact or one definition, short enough that the sentence which answers a
lookup can be returned verbatim. Output: corpus/default.jsonl.gz, one JSON object per line:
{"id", "title", "text", "source", "url"}.

Usage: python3 scripts/build_corpus.py [SOURCES_DIR] [OUTPUT]
       (defaults: ../shared/data/corpus-sources corpus/default.jsonl.gz)

Deterministic: same sources in, byte-identical file out (gzip mtime is fixed at 0).
"""
import gzip
import io
import json
import re
import sys
from pathlib import Path

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(s):
    n = 0
    for ch in s:
        n = n * 64 + B64.index(ch)
    return n


def fmt_int(n):
    return f"{int(n):,}"


def country_docs(src):
    countries = json.loads((src / "geonames/countries.json").read_text())
    continents = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America",
                  "OC": "Oceania", "SA": "South America", "AN": "Antarctica"}
    by_iso = {c["iso"]: c["name"] for c in countries.values()}
    for c in countries.values():
        name, url = c["name"], f"https://www.geonames.org/{c['geonameid']}"
        facts = []
        if c.get("capital"):
            facts.append(("capital", f"The capital of {name} is {c['capital']}."))
        if c.get("population"):
            facts.append(("population", f"The population of {name} is {fmt_int(c['population'])} people."))
        if c.get("areakm2"):
            facts.append(("area", f"The area of {name} is {fmt_int(c['areakm2'])} square kilometres (km²)."))
        if c.get("currencyname"):
            facts.append(("currency", f"The currency of {name} is the {c['currencyname']} ({c['currencycode']})."))
        if c.get("continentcode") in continents:
            facts.append(("continent", f"{name} is a country on the continent of {continents[c['continentcode']]}."))
        neighbours = [by_iso[n] for n in (c.get("neighbours") or "").split(",") if n in by_iso]
        if neighbours:
            facts.append(("neighbours", f"{name} borders {', '.join(neighbours)}."))
        if c.get("phone"):
            facts.append(("phone", f"The international calling code of {name} is +{c['phone'].lstrip('+')}."))
        if c.get("tld"):
            facts.append(("tld", f"The internet country code top-level domain of {name} is {c['tld']}."))
        for key, text in facts:
            yield {"id": f"country/{c['iso']}/{key}", "title": name, "text": text,
                   "source": "GeoNames", "url": url}


def city_docs(src):
    countries = json.loads((src / "geonames/countries.json").read_text())
    by_iso = {c["iso"]: c["name"] for c in countries.values()}
    cities = json.loads((src / "geonames/cities15000.json").read_text())
    for city in sorted(cities.values(), key=lambda c: c["geonameid"]):
        country = by_iso.get(city["countrycode"], city["countrycode"])
        text = (f"{city['name']} is a city in {country} with a population of "
                f"{fmt_int(city['population'])} people.")
        yield {"id": f"city/{city['geonameid']}", "title": f"{city['name']}, {country}", "text": text,
               "source": "GeoNames", "url": f"https://www.geonames.org/{city['geonameid']}"}


def element_docs(src):
    for e in json.loads((src / "elements/elements.json").read_text()):
        name, sym, z = e["name"], e["symbol"], e["atomic_number"]
        url = f"https://en.wikipedia.org/wiki/{name}"
        facts = [("symbol", f"{name} is the chemical element with symbol {sym} and atomic number {z}.")]
        if e.get("atomic_weight"):
            facts.append(("weight", f"The atomic weight of {name} ({sym}) is {e['atomic_weight']}."))
        if e.get("discoverers") and e.get("discovery_year"):
            where = f" in {e['discovery_location']}" if e.get("discovery_location") else ""
            facts.append(("discovery", f"{name} was discovered by {e['discoverers']} in {e['discovery_year']}{where}."))
        elif e.get("discoverers"):
            facts.append(("discovery", f"{name} was discovered by {e['discoverers']}."))
        if e.get("name_origin"):
            facts.append(("name", f"The name {name} comes from {e['name_origin']}."))
        if e.get("description"):
            facts.append(("description", f"{name}: {e['description']}"))
        if e.get("uses"):
            facts.append(("uses", f"Uses of {name}: {e['uses']}"))
        for key, text in facts:
            yield {"id": f"element/{z}/{key}", "title": f"{name} ({sym})", "text": text,
                   "source": "Mendeleev", "url": url}


def dictd_entries(index_path, dict_path):
    data = gzip.open(dict_path).read()
    seen = set()
    for line in index_path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
            continue
        off, size = b64(parts[1]), b64(parts[2])
        if off in seen:
            continue
        seen.add(off)
        yield parts[0], data[off:off + size].decode("utf-8", "replace")


POS = {"n": "noun", "v": "verb", "adj": "adjective", "adv": "adverb"}
SENSE = re.compile(r"^\s*(?:(n|v|adj|adv)\s+)?(\d+):\s*", re.M)


def clean(text):
    text = re.sub(r"\{([^}]*)\}", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def wordnet_docs(src):
    for headword, body in dictd_entries(src / "wordnet/wn.index", src / "wordnet/wn.dict.dz"):
        lines = body.split("\n", 1)
        title, rest = lines[0].strip(), (lines[1] if len(lines) > 1 else "")
        # Senses start with "n 1:" / "2:"; keep the first three senses of the entry.
        rest = re.sub(r"^\s*(n|v|adj|adv)\s+(\d+):", r"@@\1 \2:", rest, flags=re.M)
        rest = re.sub(r"^\s*(\d+):", r"@@\1:", rest, flags=re.M)
        senses, pos = [], "noun"
        for chunk in rest.split("@@")[1:]:
            m = re.match(r"(?:(n|v|adj|adv)\s+)?\d+:\s*(.*)", chunk, re.S)
            if not m:
                continue
            if m.group(1):
                pos = POS[m.group(1)]
            gloss = re.sub(r"\[(syn|ant|also|see)[^\]]*\]", "", m.group(2), flags=re.S)
            gloss = re.sub(r';?\s*"[^"]*"', "", gloss)  # drop usage examples
            gloss = clean(gloss).rstrip(";, ")
            if gloss:
                senses.append(f"{title} ({pos}): {gloss}.")
            if len(senses) == 3:
                break
        if senses:
            slug = re.sub(r"\s+", "+", title)
            yield {"id": f"wordnet/{title}", "title": title, "text": " ".join(senses),
                   "source": "WordNet 3.0", "url": f"https://wordnet-rdf.princeton.edu/lemma/{slug}"}


def foldoc_docs(src):
    for headword, body in dictd_entries(src / "foldoc/foldoc.index", src / "foldoc/foldoc.dict.dz"):
        paras = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
        if len(paras) < 2:
            continue
        title = paras[0].strip().split("\n")[0].strip()
        first = clean(paras[1])
        first = re.sub(r"^<[^>]*>\s*", "", first)  # subject tags like <networking>
        if not first or first.startswith("(") and first.endswith(")") and len(first) < 14:
            continue
        # Keep at most the first two sentences: one definition, not the whole article.
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", first)
        text = " ".join(sentences[:2])
        if len(text) > 600:
            text = text[:600].rsplit(" ", 1)[0] + "…"
        slug = re.sub(r"\s+", "+", title)
        yield {"id": f"foldoc/{title}", "title": title, "text": f"{title}: {text}",
               "source": "FOLDOC", "url": f"https://foldoc.org/{slug}"}


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/corpus-sources")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "corpus/default.jsonl.gz")
    counts = {}
    buf = io.BytesIO()
    seen_ids = set()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        for gen in (country_docs, city_docs, element_docs, wordnet_docs, foldoc_docs):
            for doc in gen(src):
                if doc["id"] in seen_ids:
                    continue
                seen_ids.add(doc["id"])
                gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
                counts[doc["source"]] = counts.get(doc["source"], 0) + 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB):",
          ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
