#!/usr/bin/env python3
"""Writes training/reader/synthetic_train.jsonl: questions made from the default corpus itself,
with gold answers read from it (distant supervision):

- definitions: "what is X" / "who was X" for a seeded sample of the Wikipedia entries, whose gold
  is the entry's own lead sentence. Half of real chatbot lookups are definitions, and no labelled
  set has many: these teach the reader that a definition is the lead of the encyclopedia entry the
  question names, not a dictionary's rarer sense or a sentence that mentions the word elsewhere;
- facts: a seeded sample of the structured facts (GeoNames and Factbook countries, Mendeleev
  elements), asked in several typed phrasings, whose gold is the fact's value. The trivia sets'
  gold lists are noisy on such questions (a TriviaQA row gives "Swiss National Accident Insurance
  Fund" for the capital of Fiji), which taught the reader to doubt a plain "The capital of Peru is
  Lima.".

They are training rows only: they never choose the threshold and never report a figure.
"""
import gzip
import json
import os
import random
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FORMS = ["what is {x}", "whats {x}", "what is a {x}?", "What is {x}?", "define {x}", "what's {x}"]
PERSON_FORMS = ["who was {x}", "who is {x}?", "Who was {x}?"]


FACTS = {
    "capital": (r"^The capital of (.+) is (.+)\.$",
                ["capital of {x}", "what is the capital of {x}?", "{x} capital", "whats the capital of {x}",
                 "capital city of {x}?"]),
    "currency": (r"^The currency of (.+) is the (.+?) \(",
                 ["currency of {x}", "what currency does {x} use", "what is the currency in {x}?", "{x} currency"]),
    "continent": (r"^(.+) is a country on the continent of (.+)\.$",
                  ["what continent is {x} in", "{x} is in which continent?"]),
    "symbol": (r"^(.+) is the chemical element with symbol (\w+) ",
               ["chemical symbol for {x}", "what is the symbol of {x}?", "{x} symbol"]),
    "discovery": (r"^(.+) was discovered by (.+?) in \d",
                  ["who discovered {x}", "who discovered {x}?", "{x} was discovered by who"]),
    "highest": (r"^The highest point \(highest mountain\) of (.+) is (.+?) [\d,]+ m\.$",
                ["highest mountain in {x}", "what is the highest point in {x}?"]),
    "languages": (r"^The languages spoken in (.+) are: (\w+)",
                  ["what language do they speak in {x}", "official language of {x}", "languages spoken in {x}"]),
}


def facts(rng):
    out = []
    with gzip.open(os.path.join(ROOT, "corpus", "default.jsonl.gz"), "rt") as f:
        for line in f:
            d = json.loads(line)
            kind = d["id"].split("/")[-1]
            if kind not in FACTS or not d["id"].startswith(("country/", "factbook/", "element/")):
                continue
            m = re.match(FACTS[kind][0], d["text"])
            if not m or rng.random() > 0.35:
                continue
            subject, value = m.group(1), m.group(2)
            form = rng.choice(FACTS[kind][1])
            subject = subject.lower() if rng.random() < 0.5 else subject
            out.append({"query": form.format(x=subject), "label": "lookup", "answers": [value],
                        "source": f"facts_synthetic_{kind}"})
    return out


def main():
    docs = []
    with gzip.open(os.path.join(ROOT, "corpus", "default.jsonl.gz"), "rt") as f:
        for line in f:
            d = json.loads(line)
            if d.get("source") == "Wikipedia":
                docs.append(d)
    rng = random.Random(7)
    rng.shuffle(docs)
    out = []
    for d in docs[:1500]:
        title = d["title"].split(" (")[0]
        first = re.split(r"(?<=[a-z0-9)])\. ", d["text"])[0]
        words = re.findall(r"[A-Za-z]+", first)
        if len(words) < 6 or not first.isascii() or not title.isascii():
            continue
        # A run of the lead past its first words: in the lead, and in few other sentences.
        window = r"\W+".join(words[2:6])
        person = bool(re.search(r"\b(he|she|his|her)\b", d["text"])) and bool(re.search(r"\(.*\d{3,4}", first))
        form = rng.choice(PERSON_FORMS if person else FORMS)
        x = title if person or "a {x}" not in form else title.lower()
        # Only the encyclopedia's lead is gold: taking a dictionary's gloss of the same word as gold
        # too ("docker (noun): a laborer who loads vessels") taught the reader rare senses, and it
        # then answered "what is docker" and "what is git" with them (measured; see
        # docs/classifier.md).
        out.append({"query": form.format(x=x), "label": "lookup", "answers": ["re:" + window],
                    "source": "definitions_synthetic"})
    out += facts(rng)
    path = os.path.join(ROOT, "training", "reader", "synthetic_train.jsonl")
    with open(path, "w") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    print(f"{path}: {len(out)}")


if __name__ == "__main__":
    main()
