//! Distances between two places, as the crow flies: "distance between paris and london", "how far
//! is tokyo from osaka", "how many miles from chicago to detroit". The places are GeoNames' cities
//! (`places.tsv`, written by `scripts/build_places.py`: every city of 50,000+ people and the
//! smaller ones that share their names), the distance the great circle between their coordinates.
//!
//! A name several cities share is answered only when the most populous of them is ten times the
//! next ("paris" is Paris, France; "portland" and "springfield" are not answered): a wrong city is
//! worse than an LLM call. Beside a place known on its own, the same rule is tried among the cities
//! of the name in that place's country ("madrid and barcelona": Spain's, not Venezuela's, though
//! this one is half its size). "paris, texas" and "portland oregon" pick by country or US state.
//! Travel time, road distance and anything else about the trip are not asked here and stay `None`.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{format_number, Calculation};

/// The mean Earth radius (IUGG), the radius of the sphere the haversine formula measures on.
const EARTH_RADIUS_KM: f64 = 6_371.008_8;
const KM_PER_MILE: f64 = 1.609_344;
/// How many times the next city of a shared name the most populous one must hold to be meant.
const SHARED_NAME_RATIO: u64 = 10;

#[derive(Debug)]
struct Place {
    name: &'static str,
    country: &'static str,
    /// The US state's postal code; empty elsewhere.
    state: &'static str,
    lat: f64,
    lon: f64,
    population: u64,
}

struct Places {
    rows: Vec<Place>,
    /// Folded name (and other names) to rows: one look-up per question, no scan.
    by_name: HashMap<String, Vec<usize>>,
    /// Country code to its name, for the method line.
    country_names: HashMap<&'static str, &'static str>,
    /// A country or US state as typed after a city ("paris, texas") to (country code, state code).
    regions: HashMap<String, (&'static str, &'static str)>,
}

static PLACES: LazyLock<Places> = LazyLock::new(Places::load);

const US_STATES: [(&str, &str); 51] = [
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
];

/// Countries as people name them besides their GeoNames name.
const COUNTRY_ALIASES: [(&str, &str); 12] = [
    ("usa", "US"),
    ("us", "US"),
    ("america", "US"),
    ("united states of america", "US"),
    ("uk", "GB"),
    ("britain", "GB"),
    ("great britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("holland", "NL"),
];

impl Places {
    fn load() -> Places {
        let mut rows = Vec::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for line in include_str!("places.tsv").lines().filter(|l| !l.starts_with('#')) {
            let Some((place, others)) = parse_place(line) else {
                continue;
            };
            let at = rows.len();
            for name in std::iter::once(place.name).chain(others.split('|').filter(|n| !n.is_empty())) {
                let entry = by_name.entry(key(name)).or_default();
                if !entry.contains(&at) {
                    entry.push(at);
                }
            }
            rows.push(place);
        }
        let country_names: HashMap<&str, &str> = country_rows().collect();
        let mut regions: HashMap<String, (&str, &str)> = country_names
            .iter()
            .map(|(code, name)| (key(name), (*code, "")))
            .collect();
        regions.extend(
            COUNTRY_ALIASES
                .iter()
                .map(|(alias, code)| (alias.to_string(), (*code, ""))),
        );
        regions.extend(US_STATES.iter().map(|(code, name)| (key(name), ("US", *code))));
        Places {
            rows,
            by_name,
            country_names,
            regions,
        }
    }

    /// The cities a typed name may mean, most populous first; a country or US state after the
    /// name ("paris, texas", "portland oregon", "portland, or") keeps only the cities in it.
    fn candidates(&self, typed: &str) -> Vec<&Place> {
        let whole = self.named(&key(typed), None);
        if !whole.is_empty() {
            return whole;
        }
        if let Some((name, region)) = typed.rsplit_once(',') {
            let region = key(region);
            let found = self.regions.get(&region).copied().or_else(|| {
                US_STATES
                    .iter()
                    .find(|(code, _)| code.eq_ignore_ascii_case(&region))
                    .map(|(code, _)| ("US", *code))
            });
            return found.map(|r| self.named(&key(name), Some(r))).unwrap_or_default();
        }
        let words: Vec<&str> = typed.split_whitespace().collect();
        (1..words.len().min(4))
            .map(|n| {
                let (name, region) = words.split_at(words.len() - n);
                match self.regions.get(&key(&region.join(" "))) {
                    Some(r) => self.named(&key(&name.join(" ")), Some(*r)),
                    None => Vec::new(),
                }
            })
            .find(|found| !found.is_empty())
            .unwrap_or_default()
    }

    fn named(&self, key: &str, region: Option<(&str, &str)>) -> Vec<&Place> {
        let mut found: Vec<&Place> = self
            .by_name
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.rows.get(i))
            .filter(|p| {
                region.is_none_or(|(country, state)| p.country == country && (state.is_empty() || p.state == state))
            })
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.population));
        found
    }

    /// "Paris, France (48.85341, 2.3488)", "Portland, Oregon, United States (45.52345, -122.67621)".
    fn describe(&self, place: &Place) -> String {
        let country = self.country_names.get(place.country).copied().unwrap_or(place.country);
        let state = US_STATES
            .iter()
            .find(|(code, _)| *code == place.state)
            .map(|(_, name)| format!("{name}, "))
            .unwrap_or_default();
        format!("{}, {state}{country} ({}, {})", place.name, place.lat, place.lon)
    }
}

/// The city meant among the candidates of one name: the only one, or the most populous when it
/// holds ten times the next.
fn pick<'a>(candidates: &[&'a Place]) -> Option<&'a Place> {
    match candidates {
        [only] => Some(only),
        [first, second, ..] if first.population >= SHARED_NAME_RATIO * second.population => Some(first),
        _ => None,
    }
}

/// Both places: each on its own, or a shared name read in the other place's country
/// ("madrid and barcelona": Barcelona, Spain, not Barcelona, Venezuela, half its size), by the
/// same rule among that country's cities of the name.
fn pick_pair<'a>(a: &[&'a Place], b: &[&'a Place]) -> Option<(&'a Place, &'a Place)> {
    let in_country = |candidates: &[&'a Place], other: &Place| {
        let same: Vec<&Place> = candidates
            .iter()
            .copied()
            .filter(|p| p.country == other.country)
            .collect();
        pick(&same)
    };
    match (pick(a), pick(b)) {
        (Some(pa), Some(pb)) => Some((pa, pb)),
        (Some(pa), None) => Some((pa, in_country(b, pa)?)),
        (None, Some(pb)) => Some((in_country(a, pb)?, pb)),
        (None, None) => None,
    }
}

/// One row of `places.tsv`: the place and its other names, '|'-separated.
fn parse_place(line: &'static str) -> Option<(Place, &'static str)> {
    let mut fields = line.split('\t');
    let mut next = || fields.next();
    let (name, others, country, state) = (next()?, next()?, next()?, next()?);
    let (lat, lon, population) = (next()?.parse().ok()?, next()?.parse().ok()?, next()?.parse().ok()?);
    let place = Place {
        name,
        country,
        state,
        lat,
        lon,
        population,
    };
    Some((place, others))
}

/// A name as it is looked up: case and accents off ("Zürich" = "zurich"), the letters NFKD does not
/// take apart spelled in ASCII ("Łódź" = "lodz"), punctuation off, hyphens as spaces ("winston
/// salem"), and "saint" as "st" ("st. louis" = "Saint Louis").
fn key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut folded = String::with_capacity(name.len());
    for c in name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
    {
        match c {
            'ł' | 'Ł' => folded.push('l'),
            'ø' | 'Ø' => folded.push('o'),
            'đ' | 'Đ' => folded.push('d'),
            'ı' => folded.push('i'),
            'ß' => folded.push_str("ss"),
            'æ' | 'Æ' => folded.push_str("ae"),
            'œ' | 'Œ' => folded.push_str("oe"),
            '-' | '_' | '/' => folded.push(' '),
            c if c.is_alphanumeric() || c.is_whitespace() => folded.extend(c.to_lowercase()),
            _ => {}
        }
    }
    folded
        .split_whitespace()
        .map(|w| if w == "saint" { "st" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The great-circle distance in km between two points given in degrees (haversine formula).
fn haversine_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let (dphi, dlambda) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    // min(1): rounding can take h a hair past 1 for antipodes, where asin is undefined.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// A distance to the precision a city's extent allows: whole units, one decimal under 10.
fn round_distance(x: f64) -> String {
    if x < 10.0 {
        format_number((x * 10.0).round() / 10.0)
    } else {
        format_number(x.round())
    }
}

/// The questions answered, each naming the two places `a` (or `a2`) and `b`.
static FORMS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    // A unit asked at the end ("in km"), and the crow's flight said again, are allowed.
    const UNIT: &str = r"(?:\s+in\s+(?P<unit>km|kms|kilometers|kilometres|miles|mi))?(?:\s+as the crow flies)?$";
    let with_unit = [
        r"^(?:the\s+)?(?:great[- ]circle\s+|straight[- ]line\s+)?distance\s+(?:between\s+(?P<a>.+?)\s+and|from\s+(?P<a2>.+?)\s+to)\s+(?P<b>.+?)",
        r"^how far (?:away )?is (?P<a>.+?) from (?P<b>.+?)",
        r"^how far (?:is it )?from (?P<a>.+?) to (?P<b>.+?)",
    ]
    .map(|form| format!("{form}{UNIT}"));
    // "how many miles from chicago to detroit" names its unit up front.
    let unit_first = r"^how many (?P<unit>km|kms|kilometers|kilometres|miles|mi) (?:is it |are there )?(?:between (?P<a>.+?) and|from (?P<a2>.+?) to) (?P<b>.+?)$";
    with_unit
        .iter()
        .map(String::as_str)
        .chain([unit_first])
        .filter_map(|pattern| Regex::new(pattern).ok())
        .collect()
});

/// Builds the table of places and compiles the questions now, so the first distance asked does
/// not pay for it on a serving thread (it is charged to that request's CPU time).
pub(super) fn warm_up() {
    LazyLock::force(&PLACES);
    LazyLock::force(&FORMS);
}

/// "distance between paris and london", "how far is tokyo from osaka", "how far from new york to
/// boston", "how many miles from chicago to detroit", "distance from berlin to rome in km".
pub(super) fn between(text: &str) -> Option<Calculation> {
    // Every form that matches is tried: "how far is it from zurich to geneva" also reads as
    // "how far is <it> from <zurich to geneva>", which names no place. The table is read only
    // when a form matches.
    let (caps, from, to) = FORMS.iter().filter_map(|re| re.captures(text)).find_map(|caps| {
        let places = &*PLACES;
        let a = caps.name("a").or_else(|| caps.name("a2"))?.as_str();
        let b = caps.name("b")?.as_str();
        let (from, to) = pick_pair(&places.candidates(a), &places.candidates(b))?;
        Some((caps, from, to))
    })?;
    let km = haversine_km((from.lat, from.lon), (to.lat, to.lon));
    let miles = km / KM_PER_MILE;
    let (km_text, miles_text) = (
        format!("{} km", round_distance(km)),
        format!("{} miles", round_distance(miles)),
    );
    let in_miles = caps.name("unit").is_some_and(|u| u.as_str().starts_with("mi"));
    let (first, second) = if in_miles {
        (miles_text, km_text)
    } else {
        (km_text, miles_text)
    };
    Some(Calculation {
        sentence: format!(
            "From {} to {} is {first} ({second}) as the crow flies: the great-circle distance, not the distance by road.",
            from.name, to.name
        ),
        kind: "distance",
        method: format!(
            "great-circle distance by the haversine formula on a sphere of the mean Earth radius, 6,371.0088 km, between {} and {}, coordinates from GeoNames (CC BY 4.0, https://www.geonames.org)",
            PLACES.describe(from),
            PLACES.describe(to)
        ),
    })
}

/// GeoNames' countries as (code, name), from the table `scripts/build_places.py` writes.
fn country_rows() -> impl Iterator<Item = (&'static str, &'static str)> {
    include_str!("countries.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
}

/// The names of the world's countries, as GeoNames writes them, for the reader: "which country is
/// Timbuktu in" is answered by a sentence that names one.
pub(crate) fn country_names() -> impl Iterator<Item = &'static str> {
    country_rows().map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calc::calculate;
    use proptest::prelude::*;

    fn km(q: &str) -> f64 {
        let got = calculate(q).unwrap_or_else(|| panic!("not answered: {q}"));
        assert_eq!(got.kind, "distance");
        let figure = got.sentence.split(" is ").nth(1).unwrap();
        let (number, unit) = figure.split_once(' ').unwrap();
        let value: f64 = number.replace(',', "").parse().unwrap();
        if unit.starts_with("miles") {
            value * KM_PER_MILE
        } else {
            value
        }
    }

    fn assert_near(got: f64, want: f64) {
        assert!((got - want).abs() <= 0.01 * want, "{got} km, want {want} km within 1%");
    }

    #[test]
    fn known_pairs_within_one_percent() {
        assert_near(km("distance between paris and london"), 344.0);
        assert_near(km("how far is new york from los angeles"), 3_936.0);
        assert_near(km("What's the distance from Sydney to Melbourne?"), 713.0);
        // Miles asked: miles first, and still the same distance.
        assert_near(km("how many miles from new york to los angeles"), 3_936.0);
    }

    #[test]
    fn the_questions_people_ask() {
        for q in [
            "distance between paris and london",
            "how far is tokyo from osaka",
            "how far from new york to boston",
            "how many miles from chicago to detroit",
            "how many km between madrid and barcelona",
            "distance from berlin to rome in km",
            "How far is it from Zurich to Geneva?",
            "distance between cologne and st. petersburg",
            "how far is lodz from gdansk",
            // A city-state is its capital.
            "distance between singapore and kuala lumpur",
        ] {
            assert!(calculate(q).is_some(), "{q}");
        }
        let got = calculate("how many miles from chicago to detroit").unwrap();
        // Miles asked, miles first; the km beside them are the same distance.
        assert!(
            got.sentence.starts_with("From Chicago to Detroit is "),
            "{}",
            got.sentence
        );
        let figures: Vec<f64> = got.sentence.split(['(', ' ']).filter_map(|w| w.parse().ok()).collect();
        assert!(got.sentence.contains(" miles (") && got.sentence.contains(" km) as the crow flies"));
        assert_near(figures[0] * KM_PER_MILE, figures[1]);
        assert_near(figures[1], 383.0);
        assert!(got.sentence.contains("not the distance by road"), "{}", got.sentence);
        assert!(
            got.method.contains("haversine") && got.method.contains("6,371.0088 km"),
            "{}",
            got.method
        );
        assert!(
            got.method
                .contains("Chicago, Illinois, United States (41.85003, -87.65005)"),
            "{}",
            got.method
        );
        // Accents folded: "zurich" is Zürich, named as GeoNames names it.
        let zurich = calculate("distance between zurich and geneva").unwrap();
        assert!(
            zurich.sentence.starts_with("From Zürich to Geneva"),
            "{}",
            zurich.sentence
        );
        assert!(zurich.method.contains("Zürich, Switzerland ("), "{}", zurich.method);
    }

    #[test]
    fn a_shared_name_is_answered_only_when_one_city_dwarfs_the_others() {
        // Paris, France is ~86 times Paris, Texas; London, England ~21 times London, Ontario.
        assert!(calculate("distance between paris and london")
            .unwrap()
            .method
            .contains("Paris, France"));
        // Portland, Oregon is ~10 times Portland, Maine but not quite, and both are in Seattle's
        // country; Cambridge, England is about Cambridge, Massachusetts' size, and France has
        // neither; Springfield is six American cities.
        for q in [
            "distance between portland and seattle",
            "how far is cambridge from paris",
            "distance between springfield and chicago",
            "distance between portland and springfield",
        ] {
            assert_eq!(calculate(q), None, "{q}");
        }
        // Named with its country or state, the city is known.
        let texas = calculate("distance between paris, texas and dallas").unwrap();
        assert!(texas.method.contains("Paris, Texas, United States"), "{}", texas.method);
        assert!(calculate("distance between portland oregon and seattle")
            .unwrap()
            .method
            .contains("Portland, Oregon"));
        assert!(calculate("how far is portland, me from boston")
            .unwrap()
            .method
            .contains("Portland, Maine"));
        assert!(calculate("how far is cambridge england from london").is_some());
        // Or by the other place's country: Barcelona, Venezuela is half Barcelona, Spain's size,
        // but Madrid is in Spain; Cambridge beside London is England's, beside Boston America's.
        let spain = calculate("how many km between madrid and barcelona").unwrap();
        assert!(spain.method.contains("and Barcelona, Spain ("), "{}", spain.method);
        let england = calculate("how far is cambridge from london").unwrap();
        assert!(
            england.method.contains("Cambridge, United Kingdom ("),
            "{}",
            england.method
        );
        let america = calculate("how far is cambridge from boston").unwrap();
        assert!(
            america.method.contains("Cambridge, Massachusetts, United States ("),
            "{}",
            america.method
        );
        // A region that names none of them is no answer.
        assert_eq!(calculate("distance between paris, germany and london"), None);
    }

    #[test]
    fn anything_more_than_a_distance_is_left_alone() {
        for q in [
            "how far is it to drive from paris to london",
            "how long to fly from paris to london",
            "which is closer to paris, london or berlin",
            "driving distance between paris and london",
            "distance between paris and london by road",
            "how long does it take to get from paris to london",
            "I am planning a trip; what is the distance between paris and london and what should I pack?",
            "distance between paris and hogwarts",
            "distance between the sun and the moon",
            "how far is the moon from the earth",
            "how far is jupiter from the sun",
            // A country's name means the country, not a city of that name elsewhere (Jamaica,
            // Queens; Armenia, Colombia): no distance from a country's middle is computed here.
            "how far is jamaica from miami",
            "distance between armenia and moscow",
        ] {
            assert_eq!(calculate(q), None, "{q}");
        }
    }

    #[test]
    fn the_table_parses_whole() {
        let rows = include_str!("places.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
        assert_eq!(PLACES.rows.len(), rows, "a row of places.tsv does not parse");
        assert!(rows > 12_000);
        assert!(PLACES.country_names.len() > 240);
    }

    proptest! {
        // The great circle is a distance: symmetric, zero from a place to itself, and no side of
        // a triangle longer than the other two.
        #[test]
        fn haversine_is_a_metric(
            a in (-90.0f64..=90.0, -180.0f64..=180.0),
            b in (-90.0f64..=90.0, -180.0f64..=180.0),
            c in (-90.0f64..=90.0, -180.0f64..=180.0),
        ) {
            let d = haversine_km;
            prop_assert!((d(a, b) - d(b, a)).abs() < 1e-9);
            prop_assert!(d(a, a).abs() < 1e-9);
            prop_assert!(d(a, c) <= d(a, b) + d(b, c) + 1e-6);
            prop_assert!(d(a, b) <= std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6);
        }

        // The same over the table's own cities, through the questions' path.
        #[test]
        fn table_distances_are_a_metric(i in 0usize..13_000, j in 0usize..13_000, k in 0usize..13_000) {
            let rows = &PLACES.rows;
            let at = |n: usize| rows.get(n % rows.len()).map(|p| (p.lat, p.lon)).unwrap();
            let (a, b, c) = (at(i), at(j), at(k));
            prop_assert!((haversine_km(a, b) - haversine_km(b, a)).abs() < 1e-9);
            prop_assert_eq!(haversine_km(a, a), 0.0);
            prop_assert!(haversine_km(a, c) <= haversine_km(a, b) + haversine_km(b, c) + 1e-6);
        }
    }
}
