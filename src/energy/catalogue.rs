//! The model catalogue (`config/models.toml`) and the electricity zones (`config/zones.toml`),
//! parsed from text; both files are compiled into the binary as the defaults. Looking a model up
//! tries the exact name, then aliases, then the name without a trailing date
//! (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`; only a date: `claude-sonnet-4-20250514` is
//! `claude-sonnet-4`, never `claude-sonnet`), then the gateway spelling of a family. Anything else
//! falls back to a stated default and is flagged. How the entry was found ([`Match`]) is recorded
//! on each ledger row with the entry's name, so reports can say which figures rest on another
//! model's entry or on a guess.
//!
//! A team adds its own models and providers, or its contract prices, at run time
//! (`energy.catalogue`, `energy.prices`): [`Catalogue::overlay`] and [`Catalogue::set_prices`].
//! The catalogue's [`Catalogue::version`] names its source and a hash of every file it was read
//! from, so a ledger row says which catalogue priced it.

use serde::Deserialize;

use super::LlmProfile;

const DEFAULT_MODELS_TOML: &str = include_str!("../../config/models.toml");
const DEFAULT_ZONES_TOML: &str = include_str!("../../config/zones.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelSpec {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub provider: String,
    pub total_params_b: [f64; 2],
    pub active_params_b: [f64; 2],
    #[serde(default)]
    pub tps: Option<f64>,
    #[serde(default)]
    pub ttft_s: Option<f64>,
    /// List price, USD per million input tokens.
    #[serde(default)]
    pub input_usd_per_mtok: Option<f64>,
    /// List price, USD per million output tokens.
    #[serde(default)]
    pub output_usd_per_mtok: Option<f64>,
    pub source: String,
}

/// Where a provider runs its models: the zone of the electricity mix, the PUE and the on-site water
/// use of its data centres, as ranges.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderSpec {
    pub name: String,
    pub zone: String,
    pub pue: [f64; 2],
    pub wue_l_per_kwh: [f64; 2],
    pub source: String,
}

impl ModelSpec {
    pub(crate) fn profile(&self) -> LlmProfile {
        LlmProfile {
            active_b: (self.active_params_b[0], self.active_params_b[1]),
            total_b: (self.total_params_b[0], self.total_params_b[1]),
            tps: self.tps,
            ttft_s: self.ttft_s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub code: String,
    pub name: String,
    pub gco2e_per_kwh: f64,
    pub water_l_per_kwh: f64,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    #[serde(default)]
    model: Vec<ModelSpec>,
    #[serde(default)]
    provider: Vec<ProviderSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZonesFile {
    #[serde(default)]
    zone: Vec<Zone>,
}

/// The result of a lookup: the spec used, whether it is the fallback for an unknown model, and
/// how the name led to it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved<'a> {
    pub spec: &'a ModelSpec,
    pub fallback: bool,
    pub how: Match,
}

/// How a requested model name found its catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// The entry's name or one of its aliases.
    Exact,
    /// The name without its trailing date: the same model, a dated snapshot of it.
    Undated,
    /// Another spelling of the family (`mistral-small` for `mistral-small-latest`): a substitution,
    /// which reports count apart.
    Family,
    /// No entry: the stated default.
    Default,
}

impl Match {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Match::Exact => "exact",
            Match::Undated => "undated",
            Match::Family => "family",
            Match::Default => "default",
        }
    }
}

/// A contract or list price for one model, from a team's prices file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceSpec {
    pub model: String,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    #[serde(default)]
    price: Vec<PriceSpec>,
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    models: Vec<ModelSpec>,
    fallback: ModelSpec,
    providers: Vec<ProviderSpec>,
    zones: Vec<Zone>,
    /// What the catalogue was read from, and a hash over those files.
    version: String,
    digest: sha2::Sha256,
}

fn check_ranges(m: &ModelSpec) -> Result<(), String> {
    let ok = |r: [f64; 2]| r[0] > 0.0 && r[0] <= r[1];
    if !ok(m.total_params_b) || !ok(m.active_params_b) || m.active_params_b[1] > m.total_params_b[1] {
        return Err(format!("`{}` has inconsistent parameter ranges", m.name));
    }
    Ok(())
}

impl Catalogue {
    /// The catalogue shipped in the binary.
    pub(crate) fn builtin() -> Result<Catalogue, String> {
        Self::parse(DEFAULT_MODELS_TOML, DEFAULT_ZONES_TOML)
    }

    pub(crate) fn parse(models_toml: &str, zones_toml: &str) -> Result<Catalogue, String> {
        use sha2::Digest;
        let models: ModelsFile = toml::from_str(models_toml).map_err(|e| format!("models catalogue: {e}"))?;
        let zones: ZonesFile = toml::from_str(zones_toml).map_err(|e| format!("zones table: {e}"))?;
        for m in &models.model {
            check_ranges(m).map_err(|e| format!("models catalogue: {e}"))?;
        }
        let mut digest = sha2::Sha256::new();
        digest.update(models_toml.as_bytes());
        digest.update(zones_toml.as_bytes());
        let catalogue = Catalogue {
            models: models.model,
            fallback: fallback_model(),
            providers: models.provider,
            zones: zones.zone,
            version: "ecologits 0.11.3 (config/models.toml, config/zones.toml)".into(),
            digest,
        };
        for p in &catalogue.providers {
            if catalogue.zone(&p.zone).is_none() {
                return Err(format!(
                    "models catalogue: provider `{}` names zone `{}`, which zones.toml lacks",
                    p.name, p.zone
                ));
            }
        }
        Ok(catalogue)
    }

    /// A catalogue with no models, providers or zones: every model resolves to the fallback.
    pub(crate) fn empty() -> Catalogue {
        Catalogue {
            models: Vec::new(),
            fallback: fallback_model(),
            providers: Vec::new(),
            zones: Vec::new(),
            version: "empty".into(),
            digest: sha2::Digest::new(),
        }
    }

    /// Adds a team's `[[model]]` and `[[provider]]` entries (same keys as `config/models.toml`):
    /// an entry with a name already known replaces it, so a team can correct a shipped one; new
    /// names are added and take precedence over family matches. `origin` names the file.
    pub(crate) fn overlay(&mut self, models_toml: &str, origin: &str) -> Result<(), String> {
        use sha2::Digest;
        let file: ModelsFile = toml::from_str(models_toml).map_err(|e| format!("{e}"))?;
        for m in file.model {
            check_ranges(&m)?;
            self.models.retain(|known| !known.name.eq_ignore_ascii_case(&m.name));
            self.models.insert(0, m);
        }
        for p in file.provider {
            if self.zone(&p.zone).is_none() {
                return Err(format!(
                    "provider `{}` names zone `{}`, which zones.toml lacks",
                    p.name, p.zone
                ));
            }
            self.providers.retain(|known| known.name != p.name);
            self.providers.push(p);
        }
        self.digest.update(models_toml.as_bytes());
        self.version.push_str(&format!(" + {origin}"));
        Ok(())
    }

    /// Sets prices from a team's `[[price]]` entries (contract prices, or models the shipped
    /// catalogue has no price for). Each `model` must resolve to a catalogue entry.
    pub(crate) fn set_prices(&mut self, prices_toml: &str, origin: &str) -> Result<(), String> {
        use sha2::Digest;
        let file: PricesFile = toml::from_str(prices_toml).map_err(|e| format!("{e}"))?;
        for price in file.price {
            if !(price.input_usd_per_mtok >= 0.0 && price.output_usd_per_mtok >= 0.0) {
                return Err(format!("the price of `{}` is negative", price.model));
            }
            let resolved = self.resolve(&price.model);
            if resolved.fallback {
                return Err(format!(
                    "`{}` is not in the catalogue; add it with energy.catalogue first",
                    price.model
                ));
            }
            let name = resolved.spec.name.clone();
            if let Some(spec) = self.models.iter_mut().find(|m| m.name == name) {
                spec.input_usd_per_mtok = Some(price.input_usd_per_mtok);
                spec.output_usd_per_mtok = Some(price.output_usd_per_mtok);
                spec.source = format!("{}; price: {}", spec.source, price.source);
            }
        }
        self.digest.update(prices_toml.as_bytes());
        self.version.push_str(&format!(" + prices {origin}"));
        Ok(())
    }

    /// Where the catalogue came from and a short hash over every file read: two ledgers with the
    /// same version used the same parameters, data centres, grids and prices.
    pub(crate) fn version(&self) -> String {
        use sha2::Digest;
        let hash = self.digest.clone().finalize();
        let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("{} sha256:{short}", self.version)
    }

    // Only the tests list the catalogue; requests resolve one model.
    #[cfg(test)]
    pub(crate) fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    pub(crate) fn zones(&self) -> &[Zone] {
        &self.zones
    }

    pub(crate) fn zone(&self, code: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.code.eq_ignore_ascii_case(code))
    }

    /// The provider's data centre; unknown providers get the widest range of the known ones.
    pub(crate) fn provider(&self, name: &str) -> ProviderSpec {
        self.providers
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .unwrap_or_else(|| ProviderSpec {
                name: name.to_string(),
                zone: "USA".into(),
                pue: [1.09, 1.2],
                wue_l_per_kwh: [0.09, 0.999],
                source: "ecoroute default for unknown providers: the span of EcoLogits' provider settings".into(),
            })
    }

    pub(crate) fn resolve(&self, requested: &str) -> Resolved<'_> {
        let name = requested.trim().to_ascii_lowercase();
        let find = |n: &str| {
            self.models
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(n) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(n)))
        };
        // Then as gateways and self-hosted servers spell the same model: "llama-3.1-70b" for
        // "meta-llama/Meta-Llama-3.1-70B-Instruct", "mistral-small" for "mistral-small-latest".
        let family = |n: &str| family_name(strip_date(n)).to_string();
        let find_family = |n: &str| {
            let wanted = family(n);
            self.models.iter().find(|m| {
                family(&m.name.to_ascii_lowercase()) == wanted
                    || m.aliases.iter().any(|a| family(&a.to_ascii_lowercase()) == wanted)
            })
        };
        let found = find(&name)
            .map(|spec| (spec, Match::Exact))
            .or_else(|| find(strip_date(&name)).map(|spec| (spec, Match::Undated)))
            .or_else(|| find_family(&name).map(|spec| (spec, Match::Family)));
        match found {
            Some((spec, how)) => Resolved {
                spec,
                fallback: false,
                how,
            },
            None => Resolved {
                spec: &self.fallback,
                fallback: true,
                how: Match::Default,
            },
        }
    }
}

/// The stated default for models the catalogue does not know: a mid-size model of 8–132 billion
/// active and 8–440 billion total parameters (the span from gpt-4o-mini to gpt-4o), so the range is
/// wide and honest rather than precise and wrong.
fn fallback_model() -> ModelSpec {
    ModelSpec {
        name: "unknown".into(),
        aliases: Vec::new(),
        provider: "unknown".into(),
        total_params_b: [8.0, 440.0],
        active_params_b: [8.0, 132.0],
        tps: None,
        ttft_s: None,
        input_usd_per_mtok: None,
        output_usd_per_mtok: None,
        source: "ecoroute default for unknown models: spans gpt-4o-mini to gpt-4o in the EcoLogits catalogue".into(),
    }
}

/// A lower-case model name without what gateways add or drop: the organisation ("meta-llama/"),
/// a "meta-" prefix, and "-latest", "-instruct" or "-chat" suffixes.
fn family_name(name: &str) -> &str {
    let name = name.rsplit('/').next().unwrap_or(name);
    let name = name.strip_prefix("meta-").unwrap_or(name);
    let mut name = name;
    for suffix in ["-latest", "-instruct", "-chat"] {
        name = name.strip_suffix(suffix).unwrap_or(name);
    }
    name
}

/// `gpt-4o-2024-08-06` → `gpt-4o`, `claude-3-5-sonnet-20241022` → `claude-3-5-sonnet`: only a
/// trailing `-YYYYMMDD` or `-YYYY-MM-DD` goes. Version numbers before it stay: stripping the whole
/// digit tail turned `claude-sonnet-4-20250514` into `claude-sonnet` and booked it as Sonnet 4.5,
/// silently (the energy audit's M1).
fn strip_date(name: &str) -> &str {
    let is_date = |tail: &str| {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let year = |y: &str| y.starts_with("19") || y.starts_with("20");
        match tail.split('-').collect::<Vec<_>>()[..] {
            [compact] => compact.len() == 8 && digits(compact) && year(&compact[..4]),
            [y, m, d] => y.len() == 4 && m.len() == 2 && d.len() == 2 && digits(y) && digits(m) && digits(d) && year(y),
            _ => false,
        }
    };
    for len in [11, 9] {
        // "-YYYY-MM-DD" is 11 bytes, "-YYYYMMDD" 9.
        if name.len() > len && name.is_char_boundary(name.len() - len) {
            let (head, tail) = name.split_at(name.len() - len);
            if tail.strip_prefix('-').is_some_and(is_date) {
                return head;
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads_with_common_models_and_zones() {
        let c = Catalogue::builtin().unwrap();
        for name in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "mistral-large-latest",
            "gemini-2.5-flash",
        ] {
            assert!(!c.resolve(name).fallback, "{name} is in the catalogue");
        }
        assert!(c.models().iter().any(|m| m.provider == "anthropic"));
        assert!(
            c.models().iter().any(|m| m.provider == "huggingface_hub"),
            "open-weight models"
        );
        for zone in ["WOR", "EEE", "USA", "FRA", "BEL", "DEU", "SWE"] {
            assert!(c.zone(zone).is_some(), "zone {zone}");
        }
        assert!(c.zone("FRA").unwrap().gco2e_per_kwh < c.zone("DEU").unwrap().gco2e_per_kwh);
        assert_eq!(c.provider("openai").pue, [1.2, 1.2]);
        assert_eq!(c.provider("mistralai").zone, "SWE");
        assert_eq!(c.resolve("gpt-4o-mini").spec.output_usd_per_mtok, Some(0.6));
    }

    #[test]
    fn dated_names_resolve_and_unknown_models_are_flagged() {
        let c = Catalogue::builtin().unwrap();
        assert_eq!(c.resolve("gpt-4o-mini-2024-07-18").spec.name, "gpt-4o-mini");
        assert_eq!(c.resolve("GPT-4o").spec.name, "gpt-4o");
        // As gateways and self-hosted servers name them.
        assert_eq!(c.resolve("mistral-small").spec.name, "mistral-small-latest");
        assert_eq!(
            c.resolve("llama-3.1-70b").spec.name,
            "meta-llama/Meta-Llama-3.1-70B-Instruct"
        );
        assert_eq!(
            c.resolve("meta-llama/llama-3.1-8b-instruct").spec.name,
            "meta-llama/Meta-Llama-3.1-8B-Instruct"
        );
        assert!(c.resolve("llama-3.1-7b").fallback, "a different size is another model");
        let unknown = c.resolve("my-private-model");
        assert!(unknown.fallback);
        assert_eq!(unknown.spec.name, "unknown");
    }

    /// A team's catalogue and prices change what resolves and what it costs, and the version.
    #[test]
    fn a_team_adds_models_and_prices_at_run_time() {
        let mut c = Catalogue::builtin().unwrap();
        let shipped = c.version();
        assert!(c.resolve("claude-3-5-sonnet-20241022").fallback);
        assert_eq!(c.resolve("mistral-small-latest").spec.output_usd_per_mtok, None);
        let models = "[[model]]\nname = \"claude-3-5-sonnet\"\nprovider = \"anthropic\"\ntotal_params_b = [300.0, 600.0]\nactive_params_b = [30.0, 60.0]\nsource = \"estimate from claude-sonnet-4-5\"\n";
        c.overlay(models, "team.toml").unwrap();
        assert!(
            !c.resolve("claude-3-5-sonnet-20241022").fallback,
            "dated names resolve to it"
        );
        let prices = "[[price]]\nmodel = \"mistral-small\"\ninput_usd_per_mtok = 0.1\noutput_usd_per_mtok = 0.3\nsource = \"contract 2026\"\n";
        c.set_prices(prices, "prices.toml").unwrap();
        assert_eq!(c.resolve("mistral-small-latest").spec.output_usd_per_mtok, Some(0.3));
        assert_ne!(c.version(), shipped);
        assert!(c.version().contains("team.toml") && c.version().contains("prices.toml"));
        let unknown =
            "[[price]]\nmodel = \"acme-9\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 1.0\nsource = \"s\"\n";
        assert!(c.set_prices(unknown, "p.toml").unwrap_err().contains("acme-9"));
        let bad_zone = "[[provider]]\nname = \"x\"\nzone = \"MARS\"\npue = [1.1, 1.2]\nwue_l_per_kwh = [0.0, 0.0]\nsource = \"s\"\n";
        assert!(c.overlay(bad_zone, "t.toml").unwrap_err().contains("MARS"));
    }

    #[test]
    fn inconsistent_ranges_are_refused() {
        let bad = "[[model]]\nname = \"x\"\nprovider = \"p\"\ntotal_params_b = [10.0, 5.0]\nactive_params_b = [1.0, 2.0]\nsource = \"s\"\n";
        assert!(Catalogue::parse(bad, "").is_err());
    }

    #[test]
    fn strip_date_only_strips_dates() {
        assert_eq!(strip_date("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(strip_date("claude-3-5-sonnet-20241022"), "claude-3-5-sonnet");
        assert_eq!(strip_date("gpt-4.1"), "gpt-4.1");
        assert_eq!(strip_date("llama-3-70b"), "llama-3-70b");
        assert_eq!(strip_date("claude-sonnet-4-20250514"), "claude-sonnet-4");
        assert_eq!(strip_date("claude-opus-4-1-20250805"), "claude-opus-4-1");
        assert_eq!(strip_date("gpt-5-2025-08-07"), "gpt-5");
        assert_eq!(strip_date("o1-2024-12-17"), "o1");
        assert_eq!(strip_date("command-r-08-2024"), "command-r-08-2024", "not a whole date");
    }

    /// The energy audit's M1: dated names keep their version. Each resolves to its own entry, or
    /// to the flagged default, never silently to a newer model; and a team's entry for the
    /// undated name is found.
    #[test]
    fn a_dated_name_is_never_another_version() {
        let c = Catalogue::builtin().unwrap();
        for (name, entry, how) in [
            ("gpt-5-2025-08-07", "gpt-5", Match::Undated),
            ("o1-2024-12-17", "o1", Match::Undated),
            ("gpt-4o-2024-08-06", "gpt-4o", Match::Undated),
            ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001", Match::Exact),
            ("mistral-small", "mistral-small-latest", Match::Family),
        ] {
            let r = c.resolve(name);
            assert_eq!((r.spec.name.as_str(), r.how), (entry, how), "{name}");
        }
        for name in [
            "claude-sonnet-4-20250514",
            "claude-opus-4-20250514",
            "claude-opus-4-1-20250805",
        ] {
            let r = c.resolve(name);
            assert!(r.fallback && r.how == Match::Default, "{name} became {}", r.spec.name);
        }
        let mut team = Catalogue::builtin().unwrap();
        let entry = "[[model]]\nname = \"claude-sonnet-4\"\nprovider = \"anthropic\"\ntotal_params_b = [300.0, 600.0]\nactive_params_b = [30.0, 60.0]\nsource = \"team estimate\"\n";
        team.overlay(entry, "team.toml").unwrap();
        let r = team.resolve("claude-sonnet-4-20250514");
        assert_eq!((r.spec.name.as_str(), r.how), ("claude-sonnet-4", Match::Undated));
    }
}
