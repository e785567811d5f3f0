#!/usr/bin/env python3
"""Prepare the classifier's training data from ../shared/data/queries.

- drops alpaca_en_demo (CC BY-NC 4.0: not shippable in the product);
- cleans label noise: bigbench_hhh_alignment rows that are plain short fact questions become
  `lookup`, fragments of under three words are dropped;
- adds template data where a class is thin (writing, code, advice, comparison and multi-hop
  questions for `complex`; corpus-domain lookups and definitions for `lookup`), with casing and
  punctuation varied so the model does not learn the sources' surface style;
- wraps some rows of both classes in chat phrasing ("Can you tell me ...", "hey, ...", "... thanks")
  so that a polite frame, common in chatbot traffic and absent from the sources, says nothing about
  the class. `HELD_OUT_WRAPPERS` are never trained on: scripts/robustness.py measures with them.

- adds the sources in training/sources/ (HotpotQA, WebQuestions, SQuAD, CQADupStack titles; see
  scripts/extract_sources.py): each is split, seeded, into rows for train.jsonl and rows held out
  in heldout.jsonl, which is never trained on.

Deterministic (seeded). Output: training/train.jsonl, training/dev.jsonl, training/synthetic.jsonl,
training/heldout.jsonl.
Usage: python3 scripts/prepare_training.py [SHARED_QUERIES_DIR]
"""
import gzip
import json
import random
import re
import sys
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/queries")
OUT = Path("training")
EXCLUDED = {"alpaca_en_demo"}
WH = re.compile(r"^(what|who|when|where|which|how many|how much|how tall|how old)\b", re.I)
PERSONAL = re.compile(r"\b(i|me|my|you|your|we|our)\b", re.I)


def clean(row):
    if row["source"] in EXCLUDED:
        return None
    q = row["query"].strip()
    if len(q.split()) < 3:
        return None
    if row["source"] == "bigbench_hhh_alignment" and WH.match(q) and len(q.split()) <= 9 and not PERSONAL.search(q):
        row = dict(row, label="lookup", source="bigbench_hhh_alignment_relabelled")
    return row


def vary(rng, text):
    """Surface variation: casing and final punctuation, as real traffic has."""
    r = rng.random()
    if r < 0.25:
        text = text.lower()
    elif r < 0.35:
        text = text[:1].upper() + text[1:]
    p = rng.random()
    if p < 0.3:
        text = text.rstrip("?.!")
    elif p < 0.4 and not text.endswith("?"):
        text = text.rstrip(".!") + "?"
    return text


# Chat frames around a question. Applied to both classes alike, so they carry no label.
QUESTION = re.compile(r"^(what|what's|whats|who|whom|whose|when|where|which|why|how|in what|in which)\b", re.I)
YES_NO = re.compile(r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I)
IMPERATIVE = re.compile(r"^(write|compose|draft|give|help|explain|summarize|summarise|show|fix|convert|compare|plan|"
                        r"list|rewrite|translate|recommend|brainstorm|critique|create|outline|describe|name|find|"
                        r"suggest|design|edit|analyze|analyse|evaluate|provide|generate|make|tell|identify|classify)\b", re.I)
QUESTION_WRAPPERS = ["Can you tell me {q}", "Do you know {q}", "I'd like to know {q}", "Tell me {q}",
                     "I was wondering, {q}", "Could you tell me {q}", "Do you know {q} by any chance"]
NOUN_PHRASE = re.compile(r"^(the|a|an)\b", re.I)
NOUN_PHRASE_WRAPPERS = ["Tell me {q}", "Give me {q}", "Do you know {q}", "I'd like to know {q}"]
YES_NO_WRAPPERS = ["Can you tell me, {q}", "Do you know, {q}", "I was wondering, {q}", "Tell me, {q}"]
IMPERATIVE_WRAPPERS = ["Can you {q}", "Could you {q}", "Please {q}", "I'd like you to {q}"]
ANY_WRAPPERS = ["Quick question: {Q}", "hey, {q}", "Hi! {Q}", "{Q} Thanks!", "{Q} please", "Question: {Q}",
                "hello, {q}", "{Q} thx", "Hi there. {Q}", "{Q} Thanks in advance."]
HELD_OUT_WRAPPERS = ["Do you happen to know {q}", "Any idea {q}", "Hello there! {Q}", "{Q} Cheers",
                     "I need to know {q}", "Could you let me know {q}", "pls tell me {q}", "{Q} Thank you so much."]
WRAP_SHARE = 0.15


def wrap(template, text):
    text = text.strip()
    lowered = text[:1].lower() + text[1:]
    return template.format(q=lowered, Q=text)


def chat_frame(rng, text):
    """A share of rows get a chat frame that fits their grammar; the rest are returned as they are."""
    if rng.random() >= WRAP_SHARE:
        return text
    if QUESTION.match(text):
        pool = QUESTION_WRAPPERS + ANY_WRAPPERS
    elif NOUN_PHRASE.match(text):
        pool = NOUN_PHRASE_WRAPPERS + ANY_WRAPPERS
    elif YES_NO.match(text):
        pool = YES_NO_WRAPPERS + ANY_WRAPPERS
    elif IMPERATIVE.match(text):
        pool = IMPERATIVE_WRAPPERS + ANY_WRAPPERS
    else:
        pool = ANY_WRAPPERS
    return wrap(rng.choice(pool), text)


TOPICS = ["climate change", "the French Revolution", "machine learning", "remote work", "photosynthesis",
          "the stock market", "a rainy afternoon", "friendship", "the ocean", "electric cars", "coffee",
          "the Roman Empire", "black holes", "social media", "a lost cat", "the first day of school",
          "quantum computing", "healthy breakfasts", "the history of jazz", "urban gardening", "inflation",
          "a startup failing", "the moon landing", "volcanoes", "chess strategy", "a job interview",
          "time management", "the immune system", "renewable energy", "ancient Egypt", "our product launch",
          "a birthday party", "the water cycle", "supply and demand", "dinosaurs", "a trip to Japan"]
FORMS = ["poem", "limerick", "haiku", "short story", "blog post", "tweet", "essay", "song", "speech",
         "cover letter", "product description", "joke", "email", "slogan", "dialogue", "newsletter intro"]
LANGS = ["Python", "Rust", "JavaScript", "SQL", "Java", "Go", "C++", "Bash", "TypeScript"]
TASKS = ["reverse a linked list", "parse a CSV file", "read a file line by line", "sort a list of dictionaries by a key",
         "connect to a PostgreSQL database", "make an HTTP request", "remove duplicates from an array",
         "find the largest number in a list", "check whether a string is a palindrome", "merge two sorted lists",
         "count word frequencies in a text", "validate an email address", "implement binary search"]
PEOPLE = ["Marie Curie", "Albert Einstein", "Ada Lovelace", "Napoleon", "Frida Kahlo", "Nelson Mandela",
          "Isaac Newton", "Cleopatra", "Leonardo da Vinci", "Abraham Lincoln", "Mozart", "Charles Darwin"]
PLACES = ["Peru", "Chile", "Japan", "Canada", "Kenya", "Norway", "Brazil", "India", "Egypt", "Australia",
          "Germany", "Mexico", "Vietnam", "Spain", "Morocco", "Iceland"]
THINGS = ["the Eiffel Tower", "the Great Wall of China", "Harvard University", "the Beatles", "Google",
          "the Golden Gate Bridge", "the Louvre", "Coca-Cola", "the Titanic", "Microsoft", "the Olympics"]

COMPLEX_TEMPLATES = [
    "Write a {form} about {topic}.", "Can you write a {form} about {topic}?", "Compose a {form} on {topic}",
    "Draft a {form} for {topic}", "Give me three ideas for a {form} about {topic}", "Help me write a {form} about {topic}",
    "Explain {topic} to a ten-year-old.", "Explain how {topic} works", "Why does {topic} matter?",
    "What are the pros and cons of {topic}?", "Summarize the main arguments about {topic}.",
    "What would happen if {topic} never existed?", "How should I think about {topic}?",
    "Write a function in {lang} to {task}.", "How do I {task} in {lang}?", "Show me {lang} code to {task}",
    "What's the most efficient way to {task} in {lang}?", "Fix this {lang} code: it should {task} but it crashes",
    "Convert this {lang} snippet to {lang2} and explain the differences", "Write unit tests for a {lang} function that can {task}",
    "Compare {place} and {place2} as travel destinations.", "Which is better for a family holiday, {place} or {place2}?",
    "Plan a 5-day itinerary for {place}.", "What should I pack for a trip to {place} in winter?",
    "Which was founded first, {thing} or {thing2}?", "Who was born first, {person} or {person2}?",
    "Were {person} and {person2} alive at the same time?", "Did {person} ever meet {person2}?",
    "How many years passed between the birth of {person} and the death of {person2}?",
    "What do {person} and {person2} have in common?", "Is {place} larger than {place2} and by how much?",
    "What is the combined population of {place} and {place2}?",
    "List the capitals of {place}, {place2} and {place3} and rank them by population",
    "Rewrite this sentence to sound more formal: {topic} is kind of a big deal.",
    "Translate 'I would like to learn about {topic}' into French and Spanish",
    "Give me a step-by-step guide to learning about {topic}", "I'm feeling stressed about {topic}, any advice?",
    "Recommend five books about {topic} and say why each is worth reading", "Brainstorm names for a company about {topic}",
    "If a train leaves {place} at 3 pm going 80 km/h, when does it arrive 240 km away?",
    "A shop sells {topic} books at $12 each with a 15% discount on three or more. How much do 4 cost?",
    "Critique this argument: {topic} is the most important issue of our time.",
    "Create a quiz with 5 questions about {topic}", "Outline a presentation on {topic}",
    "Describe {person}'s influence on modern science and culture", "What would {person} think about {topic}?",
    "Write a dialogue between {person} and {person2} about {topic}",
    "Describe {topic} in three sentences.", "Describe the character of {person} as a novelist would",
    "Describe what a day in {place} might feel like", "Describe the premise of a TV show about {topic} in one sentence",
    "Tell me what you would do if you were {person}", "Tell me a story about {topic}", "Tell me something interesting about {topic}",
    "Recall a fact about {topic}.", "Give an example of {topic} in everyday life", "Give me an analogy for {topic}",
    "Name a technology that has changed {topic}", "Name three things {person} and {person2} might disagree about",
    "Name a country that is similar to {place} and explain why", "Generate a list of questions to ask about {topic}",
    "Classify the following as positive or negative: I love {topic}", "Identify the main idea of this sentence: {topic} is overrated.",
    "Suggest a title for an article about {topic}", "Design a logo concept for a brand about {topic}",
    "Edit this sentence for grammar: {topic} are a important subject", "Find the odd one out: {place}, {place2}, {topic}",
    "Analyze the impact of {topic} on {place}", "Evaluate the argument that {topic} helps the economy",
    "Construct a sentence using the word '{form}'", "Provide three tips for {topic}", "Come up with a metaphor for {topic}",
    "Predict how {topic} will change in the next decade", "Choose the best option for a beginner interested in {topic}",
    "Categorize these items: {place}, {person}, {thing}", "Imagine you are {person}. Describe your morning.",
    "Which country is the most innovative in {topic}?", "What is the best way to learn about {topic}?",
    "Which is more important, {topic} or education?", "Is {topic} good or bad for society?",
    "Create a haiku that mentions {place}", "Make a shopping list for a dinner about {topic}",
    "Paraphrase this: {person} changed {topic} forever.", "Rate {place} as a travel destination from 1 to 10 and explain",
    "What are some creative ways to teach {topic}?", "Develop a lesson plan about {topic}",
    "Formulate a hypothesis about {topic}", "Convert this sentence to passive voice: {person} studied {topic}.",
    "Give me feedback on my essay about {topic}", "Respond to this customer complaint about {thing}",
]
LOOKUP_TEMPLATES = [
    "Name the capital of {place}.", "Name the currency of {place}", "In which country is {thing}?",
    "Who was the first president of {place}?", "What language is spoken in {place}?",
    "What is the capital of {place}?", "capital of {place}", "What currency does {place} use?",
    "What is the population of {place}?", "Where is {thing} located?", "Who founded {thing}?",
    "When was {thing} built?", "When was {person} born?", "Where was {person} born?", "Who was {person}?",
    "What is {person} famous for?", "What is the official language of {place}?", "How tall is {thing}?",
    "What year did {person} die?", "Which continent is {place} in?", "What is the largest city in {place}?",
    # Imperative and keyword lookups, as chat users type them.
    "Tell me the capital of {place}", "Give me the population of {place}", "Tell me the currency of {place}",
    "Give me the official language of {place}", "Tell me the year {person} died", "Name the founder of {thing}",
    "{place} capital", "{person} birthday", "{thing} location", "{person} date of birth", "{place} currency",
]


def corpus_lookups(rng, corpus_path, n):
    docs = [json.loads(l) for l in gzip.open(corpus_path, "rt", encoding="utf-8")]
    rng.shuffle(docs)
    out = []
    for d in docs:
        title = re.split(r"[,(]", d["title"])[0].strip()
        i = d["id"]
        if i.startswith("country/") and i.endswith("/capital"):
            q = rng.choice(["What is the capital of {t}?", "capital city of {t}", "{t} capital", "what's the capital of {t}"])
        elif i.startswith("country/") and i.endswith("/currency"):
            q = rng.choice(["What is the currency of {t}?", "what currency is used in {t}", "{t} currency"])
        elif i.startswith("country/") and i.endswith("/population"):
            q = rng.choice(["What is the population of {t}?", "how many people live in {t}", "{t} population"])
        elif i.startswith("element/") and i.endswith("/discovery"):
            q = rng.choice(["Who discovered {t}?", "when was {t} discovered", "who first discovered {t}"])
        elif i.startswith("element/") and i.endswith("/symbol"):
            q = rng.choice(["What is the chemical symbol for {t}?", "atomic number of {t}", "what is {t}'s atomic number"])
        elif i.startswith("wordnet/") and " " not in title and title.isalpha() and len(title) > 4:
            q = rng.choice(["What is a {t}?", "define {t}", "What does {t} mean?", "meaning of {t}", "{t} definition", "what is {t}"])
        elif i.startswith("foldoc/") and len(title) > 2:
            q = rng.choice(["What is {t}?", "what does {t} stand for", "define {t} in computing", "What is {t} in programming?"])
        else:
            continue
        out.append(q.format(t=title))
        if len(out) >= n:
            break
    return out


ENTITY_SLOTS = {"place": ("place", "place2", "place3"), "person": ("person", "person2"), "thing": ("thing", "thing2")}


def slots(rng):
    picks = lambda xs, k: rng.sample(xs, k)
    p = picks(PLACES, 3)
    per = picks(PEOPLE, 2)
    th = picks(THINGS, 2)
    l = picks(LANGS, 2)
    return dict(topic=rng.choice(TOPICS), form=rng.choice(FORMS), lang=l[0], lang2=l[1], task=rng.choice(TASKS),
                place=p[0], place2=p[1], place3=p[2], person=per[0], person2=per[1], thing=th[0], thing2=th[1])


def fill(rng, template):
    return template.format(**slots(rng))


def complex_with_entity_lookups(rng, template):
    """A complex template row, and a lookup about each named entity in it.

    Without the lookups, a name that only complex templates use ("Write a dialogue between Marie
    Curie and ...") teaches the model that the name means "complex", and "When was Marie Curie
    born?" went to the LLM.
    """
    values = slots(rng)
    lookups = []
    for kind, names in ENTITY_SLOTS.items():
        for name in names:
            if "{" + name + "}" in template:
                lookup = rng.choice([t for t in LOOKUP_TEMPLATES if "{" + kind + "}" in t])
                lookups.append(lookup.format(**{kind: values[name]}))
    return template.format(**values), lookups


# Rows of each added source that go to train.jsonl; the rest are held out. HotpotQA gets the most:
# its questions read like TriviaQA's, and the model needs many of them to learn the difference.
SOURCE_TRAIN_ROWS = {"hotpotqa": 5000, "webquestions": 1400, "squad": 1200, "cqadupstack": 1800}


def added_sources(rng):
    """(train rows, held-out rows) from training/sources/, split per source."""
    train, held = [], []
    for source, n in SOURCE_TRAIN_ROWS.items():
        with gzip.open(OUT / "sources" / f"{source}.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(l) for l in f]
        rng.shuffle(rows)
        train += rows[:n]
        held += rows[n:]
    return train, held


def write_jsonl(name, rows):
    with open(OUT / name, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} rows")


def check_inputs():
    """Exits with a message naming what is missing and where to get it, before anything is written
    (heldout.jsonl was rewritten, then the script died with a traceback)."""
    needed = {SRC / "train.jsonl": "the team's shared data, ../shared/data/queries (see ../shared/data/README.md)",
              SRC / "dev.jsonl": "the team's shared data, ../shared/data/queries (see ../shared/data/README.md)",
              Path("corpus/default.jsonl.gz"): "the repository (run from its root)"}
    needed.update({OUT / "sources" / f"{s}.jsonl.gz": "the repository, or python3 scripts/extract_sources.py"
                   for s in SOURCE_TRAIN_ROWS})
    missing = [(path, where) for path, where in needed.items() if not path.is_file()]
    if not missing:
        return
    lines = [f"prepare_training.py: {len(missing)} input file(s) missing:"]
    lines += [f"  {path}  (from {where})" for path, where in missing]
    lines.append("Pass another folder holding train.jsonl and dev.jsonl as the first argument: "
                 "python3 scripts/prepare_training.py QUERIES_DIR. The shipped model needs no retraining to run ecoroute.")
    sys.exit("\n".join(lines))


def main():
    check_inputs()
    rng = random.Random(20261124)
    # Its own generator, so that adding chat frames left every other row as it was.
    frame_rng = random.Random(20261125)
    OUT.mkdir(exist_ok=True)
    # Their own generator too, so that adding the sources left every other row as it was.
    source_rng = random.Random(20261126)
    added, held = added_sources(source_rng)
    added = [dict(r, query=chat_frame(source_rng, vary(source_rng, r["query"]))) for r in added]
    write_jsonl("heldout.jsonl", held)
    for split in ("train", "dev"):
        rows = [clean(json.loads(l)) for l in open(SRC / f"{split}.jsonl", encoding="utf-8")]
        rows = [r for r in rows if r]
        if split == "train":
            # Each source has its own surface style (NQ: lower case, no "?"); vary it so the model
            # learns what is asked, not who asked.
            rows = [dict(r, query=vary(rng, r["query"])) for r in rows]
            rows = [dict(r, query=chat_frame(frame_rng, r["query"])) for r in rows] + added
        write_jsonl(f"{split}.jsonl", rows)
    synthetic = []
    seen = set()
    while len(seen) < 4500:
        q, lookups = complex_with_entity_lookups(rng, rng.choice(COMPLEX_TEMPLATES))
        q = vary(rng, q)
        if q not in seen:
            seen.add(q)
            synthetic.append({"query": q, "label": "complex", "source": "synthetic_templates"})
            synthetic.extend({"query": vary(rng, l), "label": "lookup", "source": "synthetic_templates"} for l in lookups)
    for q in corpus_lookups(rng, Path("corpus/default.jsonl.gz"), 1500):
        synthetic.append({"query": vary(rng, q), "label": "lookup", "source": "synthetic_corpus"})
    for _ in range(700):
        synthetic.append({"query": vary(rng, fill(rng, rng.choice(LOOKUP_TEMPLATES))), "label": "lookup", "source": "synthetic_templates"})
    for r in synthetic:
        r["query"] = chat_frame(frame_rng, r["query"])
    rng.shuffle(synthetic)
    write_jsonl("synthetic.jsonl", synthetic)

if __name__ == "__main__":
    main()
