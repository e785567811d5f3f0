//! The calculator, pure: the simplest tool first. A question that is wholly a unit conversion ("how
//! many ounces in a pound", "convert 100 f to c"), a sum ("12*17", "what is 17 times 23"), a
//! percentage ("what is 15% of 80"), a count of days between two dates or the distance between two
//! cities as the crow flies (`calc/distance.rs`: "how far is tokyo from osaka") is answered exactly
//! here, with the method stated, before any search. Anything else, including a sum inside a longer text
//! ("Calculate (1+2)*3, as a 5 year old would"), is `None` and goes on as before.
//!
//! Units whose meaning differs by country (gallon, pint, cup, fluid ounce, ton) are answered in US
//! customary units with the imperial or metric value beside them, and kilobytes in both the decimal
//! and binary senses, so no reader gets a wrong figure for their country.

use crate::civil::days_from_civil;
use std::sync::LazyLock;

use regex::Regex;

mod distance;
pub(crate) use distance::country_names;

/// An exact answer and how it was computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Calculation {
    /// The answer as a sentence: "1 pound = 16 ounces."
    pub sentence: String,
    /// What was computed, for the ledger and the answer's method line.
    pub kind: &'static str,
    /// The method, stated: "unit conversion (1 pound = 0.45359237 kg, by definition)".
    pub method: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dimension {
    Length,
    Mass,
    Volume,
    Time,
    Area,
    Speed,
    Data,
    Energy,
    Temperature,
}

/// A unit: its names (singular first, as the answer says it), its dimension, its size in the
/// dimension's base unit, and what the answer adds when the name means another size elsewhere.
struct Unit {
    names: &'static [&'static str],
    plural: &'static str,
    dimension: Dimension,
    base: f64,
    note: Option<&'static str>,
}

const fn unit(
    names: &'static [&'static str],
    plural: &'static str,
    dimension: Dimension,
    base: f64,
    note: Option<&'static str>,
) -> Unit {
    Unit {
        names,
        plural,
        dimension,
        base,
        note,
    }
}

use Dimension::*;

/// Base units: metre, kilogram, litre, second, square metre, metre per second, byte, joule. Every
/// size is exact by definition (the international yard and pound of 1959, the US gallon of 231
/// cubic inches) unless its note says otherwise.
static UNITS: &[Unit] = &[
    unit(&["millimeter", "millimetre", "mm"], "millimeters", Length, 0.001, None),
    unit(&["centimeter", "centimetre", "cm"], "centimeters", Length, 0.01, None),
    unit(&["meter", "metre", "m"], "meters", Length, 1.0, None),
    unit(&["kilometer", "kilometre", "km"], "kilometers", Length, 1000.0, None),
    unit(&["inch", "inches", "in"], "inches", Length, 0.0254, None),
    unit(&["foot", "feet", "ft"], "feet", Length, 0.3048, None),
    unit(&["yard", "yd"], "yards", Length, 0.9144, None),
    unit(&["mile", "mi"], "miles", Length, 1609.344, None),
    unit(&["nautical mile"], "nautical miles", Length, 1852.0, None),
    unit(&["milligram", "mg"], "milligrams", Mass, 1e-6, None),
    unit(&["gram", "gramme", "g"], "grams", Mass, 0.001, None),
    unit(&["kilogram", "kilo", "kg"], "kilograms", Mass, 1.0, None),
    unit(&["tonne", "metric ton"], "tonnes", Mass, 1000.0, None),
    unit(&["ounce", "oz"], "ounces", Mass, 0.028_349_523_125, None),
    unit(&["pound", "lb", "lbs"], "pounds", Mass, 0.453_592_37, None),
    unit(&["stone"], "stone", Mass, 6.350_293_18, None),
    unit(
        &["ton", "short ton"],
        "tons",
        Mass,
        907.184_74,
        Some("a US (short) ton is 2,000 pounds; a UK (long) ton is 2,240 pounds, 1,016.05 kg"),
    ),
    unit(&["milliliter", "millilitre", "ml"], "milliliters", Volume, 0.001, None),
    unit(&["centiliter", "centilitre", "cl"], "centiliters", Volume, 0.01, None),
    unit(&["liter", "litre", "l"], "liters", Volume, 1.0, None),
    unit(
        &["teaspoon", "tsp"],
        "teaspoons",
        Volume,
        0.004_928_921_593_75,
        Some("US teaspoon"),
    ),
    unit(
        &["tablespoon", "tbsp"],
        "tablespoons",
        Volume,
        0.014_786_764_781_25,
        Some("US tablespoon"),
    ),
    unit(
        &["fluid ounce", "fl oz"],
        "fluid ounces",
        Volume,
        0.029_573_529_562_5,
        Some("a US fluid ounce; an imperial fluid ounce is 28.41 ml"),
    ),
    unit(
        &["cup"],
        "cups",
        Volume,
        0.236_588_236_5,
        Some("a US cup of 8 fluid ounces; a metric cup is 250 ml"),
    ),
    unit(
        &["pint", "pt"],
        "pints",
        Volume,
        0.473_176_473,
        Some("a US pint of 16 fluid ounces; an imperial pint is 568.26 ml, 20 imperial fluid ounces"),
    ),
    unit(
        &["quart", "qt"],
        "quarts",
        Volume,
        0.946_352_946,
        Some("a US quart; an imperial quart is 1.137 liters"),
    ),
    unit(
        &["gallon", "gal"],
        "gallons",
        Volume,
        3.785_411_784,
        Some("a US gallon of 231 cubic inches; an imperial gallon is 4.546 liters"),
    ),
    unit(&["millisecond", "ms"], "milliseconds", Time, 0.001, None),
    unit(&["second", "sec", "s"], "seconds", Time, 1.0, None),
    unit(&["minute", "min"], "minutes", Time, 60.0, None),
    unit(&["hour", "hr", "h"], "hours", Time, 3600.0, None),
    unit(&["day"], "days", Time, 86_400.0, None),
    unit(&["week"], "weeks", Time, 604_800.0, None),
    unit(
        &["year"],
        "years",
        Time,
        31_536_000.0,
        Some("a common year of 365 days; a leap year has 366"),
    ),
    unit(&["leap year"], "leap years", Time, 31_622_400.0, None),
    unit(
        &["decade"],
        "decades",
        Time,
        315_360_000.0,
        Some("ten common years of 365 days"),
    ),
    unit(
        &["century"],
        "centuries",
        Time,
        3_153_600_000.0,
        Some("100 common years of 365 days"),
    ),
    unit(
        &["square meter", "square metre", "sq m", "m2", "m²"],
        "square meters",
        Area,
        1.0,
        None,
    ),
    unit(
        &["square kilometer", "square kilometre", "sq km", "km2", "km²"],
        "square kilometers",
        Area,
        1e6,
        None,
    ),
    unit(
        &["square foot", "square feet", "sq ft", "ft2", "ft²"],
        "square feet",
        Area,
        0.092_903_04,
        None,
    ),
    unit(&["square mile", "sq mi"], "square miles", Area, 2_589_988.110_336, None),
    unit(&["acre"], "acres", Area, 4_046.856_422_4, None),
    unit(&["hectare", "ha"], "hectares", Area, 10_000.0, None),
    unit(
        &["meter per second", "meters per second", "m/s"],
        "meters per second",
        Speed,
        1.0,
        None,
    ),
    unit(
        &["kilometer per hour", "kilometers per hour", "km/h", "kmh", "kph"],
        "kilometers per hour",
        Speed,
        1000.0 / 3600.0,
        None,
    ),
    unit(
        &["mile per hour", "miles per hour", "mph"],
        "miles per hour",
        Speed,
        0.447_04,
        None,
    ),
    unit(&["knot", "kn"], "knots", Speed, 1852.0 / 3600.0, None),
    unit(&["bit"], "bits", Data, 0.125, None),
    unit(&["byte"], "bytes", Data, 1.0, None),
    unit(
        &["kilobyte", "kb"],
        "kilobytes",
        Data,
        1e3,
        Some("decimal (SI) kilobytes; in the binary sense still common in software, 1 KiB = 1,024 bytes"),
    ),
    unit(
        &["megabyte", "mb"],
        "megabytes",
        Data,
        1e6,
        Some("decimal (SI) megabytes; in the binary sense, 1 MiB = 1,048,576 bytes"),
    ),
    unit(
        &["gigabyte", "gb"],
        "gigabytes",
        Data,
        1e9,
        Some("decimal (SI) gigabytes; in the binary sense, 1 GiB = 1,073,741,824 bytes"),
    ),
    unit(
        &["terabyte", "tb"],
        "terabytes",
        Data,
        1e12,
        Some("decimal (SI) terabytes; in the binary sense, 1 TiB = 1,099,511,627,776 bytes"),
    ),
    unit(&["kibibyte", "kib"], "kibibytes", Data, 1024.0, None),
    unit(&["mebibyte", "mib"], "mebibytes", Data, 1_048_576.0, None),
    unit(&["gibibyte", "gib"], "gibibytes", Data, 1_073_741_824.0, None),
    unit(&["joule", "j"], "joules", Energy, 1.0, None),
    unit(&["kilojoule", "kj"], "kilojoules", Energy, 1000.0, None),
    unit(
        &["calorie", "cal"],
        "calories",
        Energy,
        4.184,
        Some("thermochemical calorie"),
    ),
    unit(
        &["kilocalorie", "kcal"],
        "kilocalories",
        Energy,
        4184.0,
        Some("a food Calorie is one kilocalorie"),
    ),
    unit(&["watt hour", "watt-hour", "wh"], "watt-hours", Energy, 3600.0, None),
    unit(
        &["kilowatt hour", "kilowatt-hour", "kwh"],
        "kilowatt-hours",
        Energy,
        3.6e6,
        None,
    ),
    unit(
        &["celsius", "centigrade", "c", "°c"],
        "degrees Celsius",
        Temperature,
        0.0,
        None,
    ),
    unit(&["fahrenheit", "f", "°f"], "degrees Fahrenheit", Temperature, 0.0, None),
    unit(&["kelvin", "k"], "kelvins", Temperature, 0.0, None),
];

/// The unit a name stands for: its names, its plural, a plural "s" or "es", and "degrees X".
fn find_unit(name: &str) -> Option<&'static Unit> {
    let name = name.trim().trim_start_matches("degrees ").trim_start_matches("degree ");
    let name = name.trim();
    let exact = |n: &str| UNITS.iter().find(|u| u.names.contains(&n) || u.plural == n);
    exact(name)
        .or_else(|| name.strip_suffix('s').and_then(exact))
        .or_else(|| name.strip_suffix("es").and_then(exact))
        .or_else(|| misspelt_unit(name))
}

/// "ounzes", "kilometrs": a unit name of five or more letters typed one edit off (never in its
/// first letter), when exactly one unit is that close.
fn misspelt_unit(name: &str) -> Option<&'static Unit> {
    if name.chars().count() < 5 || !name.chars().all(char::is_alphabetic) {
        return None;
    }
    let near = |n: &str| {
        n.chars().count() >= 5 && n.chars().next() == name.chars().next() && strsim::damerau_levenshtein(n, name) == 1
    };
    let mut close = UNITS
        .iter()
        .filter(|u| u.names.iter().any(|n| near(n)) || near(u.plural));
    let unit = close.next()?;
    close
        .all(|other| other.dimension == unit.dimension && other.names == unit.names)
        .then_some(unit)
}

/// A number as written: digits with thousands separators or a decimal point, or a small number word.
fn number(text: &str) -> Option<f64> {
    let text = text.trim();
    let words = [
        ("a", 1.0),
        ("an", 1.0),
        ("one", 1.0),
        ("two", 2.0),
        ("three", 3.0),
        ("four", 4.0),
        ("five", 5.0),
        ("six", 6.0),
        ("seven", 7.0),
        ("eight", 8.0),
        ("nine", 9.0),
        ("ten", 10.0),
        ("a dozen", 12.0),
        ("a hundred", 100.0),
        ("a thousand", 1000.0),
        ("half a", 0.5),
    ];
    if let Some((_, v)) = words.iter().find(|(w, _)| *w == text) {
        return Some(*v);
    }
    static DIGITS: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^-?\.\d+$").ok());
    if DIGITS.as_ref()?.is_match(text) {
        return text.replace(',', "").parse().ok();
    }
    None
}

/// A figure as people read it: exact integers in full with thousands separators, other values to
/// six significant digits without trailing zeros.
pub(crate) fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let rounded = if x == 0.0 {
        0.0
    } else {
        let digits = 6 - (x.abs().log10().floor() as i32) - 1;
        let scale = 10f64.powi(digits.clamp(-12, 12));
        (x * scale).round() / scale
    };
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        let digits = format!("{}", rounded.abs() as u64);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 && digits.len() > 4 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        return if rounded < 0.0 { format!("-{grouped}") } else { grouped };
    }
    if rounded.abs() < 1e-4 || rounded.abs() >= 1e15 {
        return format!("{rounded:e}");
    }
    let text = format!("{rounded:.12}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn convert_temperature(value: f64, from: &Unit, to: &Unit) -> f64 {
    let kelvin = match from.plural {
        "degrees Celsius" => value + 273.15,
        "degrees Fahrenheit" => (value - 32.0) * 5.0 / 9.0 + 273.15,
        _ => value,
    };
    match to.plural {
        "degrees Celsius" => kelvin - 273.15,
        "degrees Fahrenheit" => (kelvin - 273.15) * 9.0 / 5.0 + 32.0,
        _ => kelvin,
    }
}

fn say(value: f64, unit: &Unit) -> String {
    let name = if (value - 1.0).abs() < f64::EPSILON {
        unit.names[0]
    } else {
        unit.plural
    };
    let name = if unit.dimension == Temperature && !name.starts_with("degree") && name != "kelvin" {
        format!("degrees {}", capitalise(name))
    } else {
        name.to_string()
    };
    format!("{} {name}", format_number(value))
}

pub(crate) fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn conversion(value: f64, from: &'static Unit, to: &'static Unit) -> Option<Calculation> {
    if from.dimension != to.dimension || std::ptr::eq(from, to) {
        return None;
    }
    let result = if from.dimension == Temperature {
        convert_temperature(value, from, to)
    } else {
        value * from.base / to.base
    };
    let notes: Vec<&str> = [from.note, to.note].into_iter().flatten().collect();
    let method = if notes.is_empty() {
        "unit conversion with the exact definitions of both units".to_string()
    } else {
        format!("unit conversion ({})", notes.join("; "))
    };
    Some(Calculation {
        sentence: format!("{} = {}.", say(value, from), say(result, to)),
        kind: "unit conversion",
        method,
    })
}

/// The question without its chat frame, lower case, without the final punctuation.
fn normalise(question: &str) -> String {
    let lower = question.trim().to_lowercase().replace(['’', '‘'], "'");
    let lower = lower.trim_end_matches(['?', '.', '!', ' ', '=']).trim();
    static LEAD: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"^(?:(?:hey|hi|hello|ok|okay|quick q(?:uestion)?|so)[,:!]?\s+)*(?:(?:can|could) you (?:please )?(?:tell me|calculate|compute|convert|work out)\s+|please\s+|(?:tell me|calculate|compute|work out|solve|evaluate)\s*:?\s+|(?:what is|what's|whats|what|how much is|how much|how many is)\s+|(?:about|approximately|approx\.?|roughly|around|exactly)\s+)*",
        )
        .ok()
    });
    let mut text = lower.to_string();
    if let Some(re) = LEAD.as_ref() {
        text = re.replace(&text, "").into_owned();
    }
    text.trim().to_string()
}

/// Builds the calculator's tables now (the places, ~13,500 rows), so no request pays for it.
pub fn warm_up() {
    distance::warm_up();
}

/// Answers the question exactly, or `None` when it is not wholly a calculation.
pub fn calculate(question: &str) -> Option<Calculation> {
    if question.len() > 160 || question.contains('\n') {
        return None;
    }
    let text = normalise(question);
    units_in(&text)
        .or_else(|| convert(&text))
        .or_else(|| percent(&text))
        .or_else(|| fraction(&text))
        .or_else(|| days_between(&text))
        .or_else(|| distance::between(&text))
        .or_else(|| arithmetic(&text))
}

/// "how many ounces in a pound", "how many cm are in 3 inches", "how many days are there in a leap year".
fn units_in(text: &str) -> Option<Calculation> {
    static HOW_MANY: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^how many ([a-z°²/ -]+?)\s+(?:there\s+are\s+)?(?:are\s+)?(?:there\s+)?(?:in|make|per|to)\s+(?:a|an|one|1|(\S+))\s+([a-z°²/ -]+)$").ok()
    });
    let caps = HOW_MANY.as_ref()?.captures(text)?;
    let to = find_unit(caps.get(1)?.as_str())?;
    let value = match caps.get(2) {
        Some(n) => number(n.as_str())?,
        None => 1.0,
    };
    let from = find_unit(caps.get(3)?.as_str())?;
    if from.dimension == Temperature {
        return None;
    }
    conversion(value, from, to)
}

/// "convert 100 f to c", "5 km in miles", "how many pounds is 3 kg", "what is 30 c in f".
fn convert(text: &str) -> Option<Calculation> {
    static TO: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(?:convert\s+)?(-?[\d.,]+|a|an|one)\s*([a-z°²/ -]+?)\s+(?:to|in|into|in to|=)\s+([a-z°²/ -]+)$")
            .ok()
    });
    static HOW_MANY_IS: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^how many ([a-z°²/ -]+?)\s+(?:is|are|equals?|in)\s+(-?[\d.,]+|a|an|one)\s*([a-z°²/ -]+)$").ok()
    });
    if let Some(caps) = TO.as_ref()?.captures(text) {
        let value = number(caps.get(1)?.as_str())?;
        let from = find_unit(caps.get(2)?.as_str())?;
        let to = find_unit(caps.get(3)?.as_str())?;
        return conversion(value, from, to);
    }
    let caps = HOW_MANY_IS.as_ref()?.captures(text)?;
    let to = find_unit(caps.get(1)?.as_str())?;
    let value = number(caps.get(2)?.as_str())?;
    let from = find_unit(caps.get(3)?.as_str())?;
    conversion(value, from, to)
}

/// "15% of 80", "15 percent of 80", "what percent of 60 is 15", "15 is what percent of 60".
fn percent(text: &str) -> Option<Calculation> {
    static OF: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^(-?[\d.,]+)\s*(?:%|percent|per cent)\s+of\s+(-?[\d.,]+)$").ok());
    static WHAT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(?:(-?[\d.,]+) is what (?:%|percent|percentage) of (-?[\d.,]+)|what (?:%|percent|percentage) of (-?[\d.,]+) is (-?[\d.,]+))$").ok()
    });
    if let Some(caps) = OF.as_ref()?.captures(text) {
        let (p, of) = (number(caps.get(1)?.as_str())?, number(caps.get(2)?.as_str())?);
        let result = p / 100.0 * of;
        return Some(Calculation {
            sentence: format!(
                "{}% of {} is {}.",
                format_number(p),
                format_number(of),
                format_number(result)
            ),
            kind: "percentage",
            method: format!("arithmetic: {} × {} / 100", format_number(p), format_number(of)),
        });
    }
    let caps = WHAT.as_ref()?.captures(text)?;
    let (part, whole) = match (caps.get(1), caps.get(2), caps.get(3), caps.get(4)) {
        (Some(a), Some(b), _, _) => (number(a.as_str())?, number(b.as_str())?),
        (_, _, Some(b), Some(a)) => (number(a.as_str())?, number(b.as_str())?),
        _ => return None,
    };
    if whole == 0.0 {
        return None;
    }
    Some(Calculation {
        sentence: format!(
            "{} is {}% of {}.",
            format_number(part),
            format_number(part / whole * 100.0),
            format_number(whole)
        ),
        kind: "percentage",
        method: format!("arithmetic: {} / {} × 100", format_number(part), format_number(whole)),
    })
}

/// "1/4 as a decimal", "convert 5/8 to a decimal", "3/4 in decimal form", "1/8 as a percentage":
/// a fraction asked as a decimal or a percentage. The form asked for is what makes it a sum: "9/11"
/// alone names a day.
fn fraction(text: &str) -> Option<Calculation> {
    static AS: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(?:convert\s+)?(\d+)\s*/\s*(\d+)\s+(?:as|in|to|into)\s+(?:a\s+)?(decimal|percent|percentage)(?:\s+form)?$").ok()
    });
    let caps = AS.as_ref()?.captures(text)?;
    let (top, bottom) = (number(caps.get(1)?.as_str())?, number(caps.get(2)?.as_str())?);
    if bottom == 0.0 {
        return None;
    }
    let value = top / bottom;
    let (top, bottom) = (format_number(top), format_number(bottom));
    Some(if caps.get(3)?.as_str() == "decimal" {
        Calculation {
            sentence: format!("{top}/{bottom} = {}", format_number(value)),
            kind: "arithmetic",
            method: format!("arithmetic: {top} ÷ {bottom}"),
        }
    } else {
        Calculation {
            sentence: format!("{top}/{bottom} = {}%", format_number(value * 100.0)),
            kind: "percentage",
            method: format!("arithmetic: {top} ÷ {bottom} × 100"),
        }
    })
}

/// A date as people write it: "1 march 2024", "march 1, 2024", "2024-03-01".
fn date(text: &str) -> Option<(i64, u32, u32)> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month_of = |w: &str| {
        MONTHS
            .iter()
            .position(|m| w.starts_with(m))
            .and_then(|i| u32::try_from(i + 1).ok())
    };
    let text = text.trim().replace(',', " ");
    let parts: Vec<&str> = text.split([' ', '-', '/']).filter(|p| !p.is_empty()).collect();
    let day = |w: &str| {
        w.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .parse::<u32>()
            .ok()
    };
    let (y, m, d) = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()) => {
            (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
        }
        [d, m, y] if month_of(m).is_some() && d.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            (y.parse().ok()?, month_of(m)?, day(d)?)
        }
        [m, d, y] if month_of(m).is_some() => (y.parse().ok()?, month_of(m)?, day(d)?),
        _ => return None,
    };
    let days_in_month = [
        31,
        if is_leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let last = *days_in_month.get(usize::try_from(m).ok()?.checked_sub(1)?)?;
    ((1..=last).contains(&d) && (1..=9999).contains(&y)).then_some((y, m, d))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// "how many days between 1 jan 2024 and 1 mar 2024", "days from 2024-01-01 to 2024-03-01".
fn days_between(text: &str) -> Option<Calculation> {
    static BETWEEN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(?:how many )?days (?:are there )?(?:between|from) (.+?) (?:and|to|until|till) (.+)$").ok()
    });
    let caps = BETWEEN.as_ref()?.captures(text)?;
    let (a, b) = (date(caps.get(1)?.as_str())?, date(caps.get(2)?.as_str())?);
    let days = (days_from_civil(b.0, b.1, b.2) - days_from_civil(a.0, a.1, a.2)).abs();
    let show = |(y, m, d): (i64, u32, u32)| format!("{y:04}-{m:02}-{d:02}");
    Some(Calculation {
        sentence: format!(
            "There are {} days from {} to {}.",
            format_number(days as f64),
            show(a),
            show(b)
        ),
        kind: "date difference",
        method: "days between the two dates in the Gregorian calendar, the first day not counted".into(),
    })
}

/// A sum written with digits and operators or their words: "12*17", "17 times 23",
/// "2 to the power of 10", "square root of 144", "(3+4)^2".
fn arithmetic(text: &str) -> Option<Calculation> {
    let mut expr = format!(" {text} ");
    for (words, symbol) in [
        (" multiplied by ", " * "),
        (" times ", " * "),
        (" x ", " * "),
        (" × ", " * "),
        (" divided by ", " / "),
        (" over ", " / "),
        (" ÷ ", " / "),
        (" plus ", " + "),
        (" minus ", " - "),
        (" to the power of ", " ^ "),
        (" squared ", " ^ 2 "),
        (" cubed ", " ^ 3 "),
        (" the square root of ", " sqrt "),
        (" square root of ", " sqrt "),
        (" sqrt of ", " sqrt "),
    ] {
        expr = expr.replace(words, symbol);
    }
    // "7x8", "12X12": a times sign between digits, written without spaces as typed.
    static TIMES: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(\d)\s*[xX×]\s*(\d)").ok());
    if let Some(times) = TIMES.as_ref() {
        // Twice: "2x3x4" overlaps, as each match takes the digit the next one needs.
        for _ in 0..2 {
            expr = times.replace_all(&expr, "$1 * $2").into_owned();
        }
    }
    let tokens = tokenize(expr.trim())?;
    // A sum needs an operator: "1984" alone is a year, not a question.
    if !tokens.iter().any(|t| matches!(t, Token::Op(_) | Token::Sqrt)) {
        return None;
    }
    // "9/11", "24/7", "50-50", "3-2": two numbers joined without spaces name a thing as often as
    // they ask a sum.
    static NAMED: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\d+[/-]\d+$").ok());
    if NAMED.as_ref()?.is_match(text) {
        return None;
    }
    let mut parser = Parser { tokens: &tokens, at: 0 };
    let value = parser.sum()?;
    if parser.at != tokens.len() || !value.is_finite() {
        return None;
    }
    let shown = tokens
        .iter()
        .map(Token::show)
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")");
    Some(Calculation {
        sentence: format!("{shown} = {}", format_number(value)),
        kind: "arithmetic",
        method: "arithmetic, with the usual order of operations".into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Op(char),
    Open,
    Close,
    Sqrt,
}

impl Token {
    fn show(&self) -> String {
        match self {
            Token::Num(x) => format_number(*x),
            Token::Op('*') => "×".into(),
            Token::Op('/') => "÷".into(),
            Token::Op(c) => c.to_string(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Sqrt => "√".into(),
        }
    }
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' => i += 1,
            '+' | '-' | '*' | '/' | '^' => {
                tokens.push(Token::Op(c));
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '0'..='9' | '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == ',') {
                    i += 1;
                }
                let literal: String = chars[start..i].iter().collect();
                tokens.push(Token::Num(number(literal.trim_end_matches(','))?));
            }
            's' if text[text.char_indices().nth(i)?.0..].starts_with("sqrt") => {
                tokens.push(Token::Sqrt);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(tokens)
}

/// A recursive-descent parser: sum := product (('+'|'-') product)*; product := power (('*'|'/')
/// power)*; power := unary ('^' power)?; unary := '-' unary | 'sqrt' unary | atom.
struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn sum(&mut self) -> Option<f64> {
        let mut value = self.product()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.at += 1;
            let rhs = self.product()?;
            value = if op == '+' { value + rhs } else { value - rhs };
        }
        Some(value)
    }

    fn product(&mut self) -> Option<f64> {
        let mut value = self.power()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek() {
            let op = *op;
            self.at += 1;
            let rhs = self.power()?;
            if op == '/' && rhs == 0.0 {
                return None;
            }
            value = if op == '*' { value * rhs } else { value / rhs };
        }
        Some(value)
    }

    fn power(&mut self) -> Option<f64> {
        let base = self.unary()?;
        if let Some(Token::Op('^')) = self.peek() {
            self.at += 1;
            let exponent = self.power()?;
            return Some(base.powf(exponent));
        }
        Some(base)
    }

    fn unary(&mut self) -> Option<f64> {
        match self.peek()? {
            Token::Op('-') => {
                self.at += 1;
                Some(-self.unary()?)
            }
            Token::Sqrt => {
                self.at += 1;
                let x = self.unary()?;
                (x >= 0.0).then(|| x.sqrt())
            }
            Token::Num(x) => {
                let x = *x;
                self.at += 1;
                Some(x)
            }
            Token::Open => {
                self.at += 1;
                let value = self.sum()?;
                (self.peek() == Some(&Token::Close)).then(|| {
                    self.at += 1;
                    value
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(q: &str) -> String {
        calculate(q).map(|c| c.sentence).unwrap_or_else(|| "NONE".into())
    }

    #[test]
    fn unit_questions_as_people_type_them() {
        assert_eq!(answer("how many ounces in a pound"), "1 pound = 16 ounces.");
        assert_eq!(answer("How many centimeters in an inch?"), "1 inch = 2.54 centimeters.");
        assert_eq!(answer("how many feet in a mile"), "1 mile = 5280 feet.");
        assert_eq!(answer("How many hours are in a day?"), "1 day = 24 hours.");
        assert_eq!(answer("how many days in a leap year"), "1 leap year = 366 days.");
        assert_eq!(answer("how many seconds in a day"), "1 day = 86,400 seconds.");
        assert_eq!(
            answer("convert 100 f to c"),
            "100 degrees Fahrenheit = 37.7778 degrees Celsius."
        );
        assert_eq!(
            answer("what is 30 c in f"),
            "30 degrees Celsius = 86 degrees Fahrenheit."
        );
        assert_eq!(answer("5 km in miles"), "5 kilometers = 3.10686 miles.");
        assert_eq!(answer("how many pounds is 3 kg?"), "3 kilograms = 6.61387 pounds.");
        // "About" asks for no less than the exact figure.
        assert_eq!(
            answer("About how many grams are in an ounce?"),
            "1 ounce = 28.3495 grams."
        );
        assert_eq!(answer("roughly how many feet in a meter"), "1 meter = 3.28084 feet.");
        assert_eq!(
            answer("Can you tell me how many hours there are in a week?"),
            "1 week = 168 hours."
        );
        assert_eq!(
            answer("hey, can you convert 2 cups to ml"),
            "2 cups = 473.176 milliliters."
        );
        // A unit that differs by country says so in its method.
        let gallon = calculate("how many liters in a gallon").unwrap();
        assert_eq!(gallon.sentence, "1 gallon = 3.78541 liters.");
        assert!(gallon.method.contains("imperial gallon is 4.546"), "{}", gallon.method);
        let kb = calculate("How many bytes are there in a kilobyte?").unwrap();
        assert!(kb.method.contains("1,024"), "{}", kb.method);
    }

    #[test]
    fn sums_and_percentages() {
        assert_eq!(answer("12*17"), "12 × 17 = 204");
        assert_eq!(answer("What is 17 times 23?"), "17 × 23 = 391");
        assert_eq!(answer("7x8"), "7 × 8 = 56");
        assert!(answer("how many ounzes in a pound").starts_with("1 pound = 16 ounces"));
        assert!(misspelt_unit("ounzes").is_some());
        assert!(misspelt_unit("pond").is_none());
        assert_eq!(answer("what is 2x3x4"), "2 × 3 × 4 = 24");
        assert_eq!(answer("what is 2 + 2 ?"), "2 + 2 = 4");
        assert_eq!(answer("(3+4)^2"), "(3 + 4) ^ 2 = 49");
        assert_eq!(answer("2 + 3 * 4"), "2 + 3 × 4 = 14");
        assert_eq!(answer("square root of 144"), "√ 144 = 12");
        assert_eq!(answer("what is the square root of 144"), "√ 144 = 12");
        assert_eq!(answer("what is 15% of 80"), "15% of 80 is 12.");
        assert_eq!(answer("how much is 15 percent of 80?"), "15% of 80 is 12.");
        assert_eq!(answer("15 is what percent of 60"), "15 is 25% of 60.");
        assert_eq!(answer("what's 1/4 as a decimal"), "1/4 = 0.25");
        assert_eq!(answer("convert 5/8 to a decimal"), "5/8 = 0.625");
        assert_eq!(answer("What is 3/4 in decimal form?"), "3/4 = 0.75");
        assert_eq!(answer("1/8 as a percentage"), "1/8 = 12.5%");
        assert!(calculate("1/0 as a decimal").is_none());
        assert_eq!(answer("10 / 3"), "10 ÷ 3 = 3.33333");
        assert_eq!(answer("1,000,000 / 4"), "1,000,000 ÷ 4 = 250,000");
    }

    #[test]
    fn days_between_dates() {
        assert_eq!(
            answer("how many days between 1 january 2024 and 1 march 2024"),
            "There are 60 days from 2024-01-01 to 2024-03-01."
        );
        assert_eq!(
            answer("days from 2023-12-25 to 2024-12-25"),
            "There are 366 days from 2023-12-25 to 2024-12-25."
        );
        assert_eq!(answer("how many days between 31 feb 2024 and 1 march 2024"), "NONE");
    }

    #[test]
    fn anything_more_than_a_calculation_is_left_alone() {
        for q in [
            "1984",
            "what is 2",
            "10 / 0",
            "Calculate (1+2+3)*2 + 10 =\n\nYou are AI, but your math module is damaged",
            "Write a python function that returns 2 + 2",
            "Solve: x^2 - 8*x + 12 = 0",
            "how many people in a football team",
            "how many calories in a banana",
            "how many liters in a mile",
            "what is the capital of peru",
            "how many states are in the usa",
            "5 km to the nearest town",
            "what is 9/11",
            "what is 24/7",
            "50-50",
        ] {
            assert_eq!(answer(q), "NONE", "{q}");
        }
    }

    #[test]
    fn numbers_read_as_people_read_them() {
        assert_eq!(format_number(5280.0), "5280");
        assert_eq!(format_number(86_400.0), "86,400");
        assert_eq!(format_number(-12_345.0), "-12,345");
        assert_eq!(format_number(2.54), "2.54");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(1.0 / 3.0), "0.333333");
    }

    #[test]
    fn conversions_invert() {
        // Every pair of units of one dimension: there and back gives the value it started from.
        for from in UNITS.iter().filter(|u| u.dimension != Temperature) {
            for to in UNITS.iter().filter(|u| u.dimension == from.dimension) {
                for value in [1.0, 7.5, 12_345.0] {
                    let back = value * from.base / to.base * to.base / from.base;
                    assert!((back - value).abs() <= 1e-9 * value, "{} {}", from.plural, to.plural);
                }
            }
        }
        for c in [-40.0, 0.0, 37.0, 100.0] {
            let (celsius, fahrenheit) = (find_unit("c").unwrap(), find_unit("f").unwrap());
            let back = convert_temperature(convert_temperature(c, celsius, fahrenheit), fahrenheit, celsius);
            assert!((back - c).abs() < 1e-9);
        }
    }

    proptest! {
        // Integer sums agree with integer arithmetic.
        #[test]
        fn integer_sums_are_exact(a in 0i64..10_000, b in 0i64..10_000, c in 1i64..100) {
            let got = calculate(&format!("{a} + {b} * {c}")).unwrap();
            prop_assert!(got.sentence.ends_with(&format!("= {}", format_number((a + b * c) as f64))), "{}", got.sentence);
        }

        // Any text at all: no panic.
        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = calculate(&text);
        }
    }
}
