//! The model catalogue (`config/models.toml`) and the electricity zones (`config/zones.toml`),
//! parsed from text; both files are compiled into the binary as the defaults. Looking a model up
//! tries the exact name, then aliases, then the name without a date suffix
//! (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`). Anything else falls back to a stated default and is
//! flagged, so reports can say which figures rest on a guess.

use serde::Deserialize;

use super::LlmProfile;

pub const DEFAULT_MODELS_TOML: &str = include_str!("../../config/models.toml");
pub const DEFAULT_ZONES_TOML: &str = include_str!("../../config/zones.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
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
pub struct ProviderSpec {
    pub name: String,
    pub zone: String,
    pub pue: [f64; 2],
    pub wue_l_per_kwh: [f64; 2],
    pub source: String,
}

impl ModelSpec {
    pub fn profile(&self) -> LlmProfile {
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

/// The result of a lookup: the spec used, and whether it is the fallback for an unknown model.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'a> {
    pub spec: &'a ModelSpec,
    pub fallback: bool,
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    models: Vec<ModelSpec>,
    fallback: ModelSpec,
    providers: Vec<ProviderSpec>,
    zones: Vec<Zone>,
}

impl Catalogue {
    /// The catalogue shipped in the binary.
    pub fn builtin() -> Result<Catalogue, String> {
        Self::parse(DEFAULT_MODELS_TOML, DEFAULT_ZONES_TOML)
    }

    pub fn parse(models_toml: &str, zones_toml: &str) -> Result<Catalogue, String> {
        let models: ModelsFile = toml::from_str(models_toml).map_err(|e| format!("models catalogue: {e}"))?;
        let zones: ZonesFile = toml::from_str(zones_toml).map_err(|e| format!("zones table: {e}"))?;
        for m in &models.model {
            let ok = |r: [f64; 2]| r[0] > 0.0 && r[0] <= r[1];
            if !ok(m.total_params_b) || !ok(m.active_params_b) || m.active_params_b[1] > m.total_params_b[1] {
                return Err(format!(
                    "models catalogue: `{}` has inconsistent parameter ranges",
                    m.name
                ));
            }
        }
        let catalogue = Catalogue {
            models: models.model,
            fallback: fallback_model(),
            providers: models.provider,
            zones: zones.zone,
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
    pub fn empty() -> Catalogue {
        Catalogue {
            models: Vec::new(),
            fallback: fallback_model(),
            providers: Vec::new(),
            zones: Vec::new(),
        }
    }

    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    pub fn zone(&self, code: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.code.eq_ignore_ascii_case(code))
    }

    /// The provider's data centre; unknown providers get the widest range of the known ones.
    pub fn provider(&self, name: &str) -> ProviderSpec {
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

    pub fn resolve(&self, requested: &str) -> Resolved<'_> {
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
            .or_else(|| find(strip_date(&name)))
            .or_else(|| find_family(&name));
        match found {
            Some(spec) => Resolved { spec, fallback: false },
            None => Resolved {
                spec: &self.fallback,
                fallback: true,
            },
        }
    }
}

/// The stated default for models the catalogue does not know: a mid-size model of 8–132 billion
/// active and 8–440 billion total parameters (the span from gpt-4o-mini to gpt-4o), so the range is
/// wide and honest rather than precise and wrong.
pub fn fallback_model() -> ModelSpec {
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

/// `gpt-4o-2024-08-06` → `gpt-4o`, `claude-3-5-sonnet-20241022` → `claude-3-5-sonnet`.
fn strip_date(name: &str) -> &str {
    let bytes = name.as_bytes();
    let digits_from = |start: usize| bytes[start..].iter().all(|b| b.is_ascii_digit() || *b == b'-');
    if let Some(i) = name.rfind(|c: char| !(c.is_ascii_digit() || c == '-')) {
        let tail = &name[i + 1..];
        let digit_count = tail.bytes().filter(u8::is_ascii_digit).count();
        if tail.starts_with('-') && digit_count >= 6 && digits_from(i + 1) {
            return &name[..=i];
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
    }
}
