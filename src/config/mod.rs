//! Configuration, loaded in two stages: [`raw`] is what serde reads from TOML (unknown keys are
//! errors), and [`Config`] is the validated form the server runs on: addresses parsed, regexes
//! compiled, ranges and references checked. Every problem names the file, the key and the fix, and
//! all problems are reported at once so `ecoroute check` is useful in one pass.

//!
//! One file per table validates it. The settings types of the search backend, the ledger and the
//! energy model live in those modules, which never import this one; the config depends on them,
//! not the other way round. Every validated type derives `Serialize` (secrets are
//! [`crate::redact::Secret`]s), which is what `GET /admin/config` shows.

mod admin;
pub(crate) mod cache;
mod classifier;
mod energy;
pub mod keys;
mod ledger;
pub(crate) mod llm;
pub(crate) mod raw;
mod routing;
pub mod search;
mod server;
pub(crate) mod telemetry;
pub(crate) mod tiers;

use admin::validate_admin;
pub(crate) use admin::AdminConfig;
use classifier::validate_classifier;
pub(crate) use classifier::ClassifierConfig;
use energy::validate_energy;
use ledger::validate_ledger;
use llm::validate_llm;
pub(crate) use llm::{validate_base_url, LlmConfig};
pub(crate) use routing::RoutingConfig;
use routing::{validate_routing, validate_rules};
pub(crate) use search::SearchConfig;
pub use search::{Adequacy, SearchBackendConfig};
use server::validate_server;
pub(crate) use server::ServerConfig;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::classify::{Guards, Rule};
use crate::energy::EnergyConfig;
use crate::ledger::LedgerConfig;
use raw::RawConfig;

/// One thing wrong with a config file: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}. Fix: {}", self.key, self.problem, self.fix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}. Fix: pass --config PATH to an existing file")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { file: String, problems: Vec<Problem> },
}

impl From<ConfigError> for crate::Error {
    fn from(e: ConfigError) -> crate::Error {
        let problems = match &e {
            ConfigError::Invalid { problems, .. } => problems.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        };
        crate::Error::Config(crate::error::ConfigFailure {
            problems,
            error: Box::new(e),
        })
    }
}

/// The validated configuration the proxy runs on.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file this was loaded from, for error messages and reloads.
    pub source: PathBuf,
    pub server: ServerConfig,
    pub llm: LlmConfig,
    pub search: SearchConfig,
    pub classifier: ClassifierConfig,
    pub guards: Guards,
    pub rules: Vec<Rule>,
    pub routing: RoutingConfig,
    pub ledger: LedgerConfig,
    pub energy: EnergyConfig,
    pub admin: AdminConfig,
    pub cache: cache::CacheConfig,
    pub tiers: Vec<tiers::Tier>,
    /// `[[keys]]` and `[limits]`: inbound keys, their tenants, and limits per key and tenant.
    pub keys: keys::KeysConfig,
    /// `[telemetry]`: OpenTelemetry traces, off by default.
    pub telemetry: telemetry::TelemetryConfig,
    /// Command-line and environment overrides, applied again at every reload.
    pub overrides: Overrides,
}

/// Settings given on the command line or in the environment (`--listen`, `--upstream`,
/// `ECOROUTE_UPSTREAM`). They win over the file at start and at every reload.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    /// The upstream of every API: `llm.base_url`, and `llm.anthropic.base_url` unless
    /// `anthropic_upstream` names another (one mock, or one gateway, serves all three APIs).
    pub upstream: Option<String>,
    pub anthropic_upstream: Option<String>,
}

/// What the config is loaded for: `serve` and `check` need every secret the file names; offline
/// commands (search, classify, eval, replay, …) never call the LLM or open the admin surface, so
/// they do without the upstream key and the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    #[default]
    Serve,
    Offline,
}

impl Config {
    /// Reads, parses and validates a config file for `serve`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, &Overrides::default(), Purpose::Serve)
    }

    /// Reads a config file for a command that neither serves nor calls the LLM.
    pub(crate) fn load_offline(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, &Overrides::default(), Purpose::Offline)
    }

    /// Reads, parses and validates a config file, then applies the overrides.
    pub fn load_with(path: &Path, overrides: &Overrides, purpose: Purpose) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let env = |name: &str| std::env::var(name).ok();
        let mut config = Self::parse(&text, path, &env, purpose)?;
        config.apply(overrides.clone())?;
        Ok(config)
    }

    /// Applies command-line overrides; they are kept so that a reload applies them again.
    pub(crate) fn apply(&mut self, overrides: Overrides) -> Result<(), ConfigError> {
        if let Some(addr) = overrides.listen {
            self.server.listen = addr;
        }
        let invalid = |key: &str, mut p: Problem| {
            p.key = key.into();
            ConfigError::Invalid {
                file: self.source.display().to_string(),
                problems: vec![p],
            }
        };
        if let Some(url) = &overrides.upstream {
            let url = validate_base_url(url).map_err(|p| invalid("--upstream (or ECOROUTE_UPSTREAM)", p))?;
            self.llm.anthropic.base_url.clone_from(&url);
            self.llm.base_url = url;
        }
        if let Some(url) = &overrides.anthropic_upstream {
            self.llm.anthropic.base_url = validate_base_url(url)
                .map_err(|p| invalid("--anthropic-upstream (or ECOROUTE_ANTHROPIC_UPSTREAM)", p))?;
        }
        self.overrides = overrides;
        Ok(())
    }

    /// Parses and validates TOML text. `env` looks up environment variables, so tests stay pure.
    pub fn from_toml_str(
        text: &str,
        source: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::parse(text, source, env, Purpose::Serve)
    }

    /// Parses and validates; every problem of the file is reported at once, those TOML and serde
    /// find (syntax, unknown keys, wrong types) together with the validation's.
    pub(crate) fn parse(
        text: &str,
        source: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        purpose: Purpose,
    ) -> Result<Config, ConfigError> {
        let file = source.display().to_string();
        let (raw, mut problems) = parse_collecting(text);
        let Some(raw) = raw else {
            return Err(ConfigError::Invalid { file, problems });
        };
        match validate(raw, source, env, purpose) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError::Invalid { file, problems }),
            Err(more) => {
                problems.extend(more);
                Err(ConfigError::Invalid { file, problems })
            }
        }
    }
}

/// Deserialises the file, and on each error notes it and reads on with the offending line left
/// out, so one `check` lists every unknown key and mistyped value instead of the first only.
fn parse_collecting(text: &str) -> (Option<RawConfig>, Vec<Problem>) {
    const MAX_PARSE_PROBLEMS: usize = 32;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut problems = Vec::new();
    let mut attempt = text.to_string();
    for _ in 0..MAX_PARSE_PROBLEMS {
        let error = match toml::from_str::<RawConfig>(&attempt) {
            Ok(raw) => return (Some(raw), problems),
            Err(error) => error,
        };
        let line = error
            .span()
            .map(|span| attempt[..span.start.min(attempt.len())].matches('\n').count());
        let message = error.message().trim().to_string();
        let fix = if message.starts_with("unknown field") {
            "remove the key or correct its spelling (the message lists the keys this table takes)"
        } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
            "give a value of the type the message names"
        } else {
            "correct the TOML at that line"
        };
        let key = line.map_or_else(|| "(file)".to_string(), |l| key_at(&lines, l));
        let at = line.map_or_else(String::new, |l| format!("line {}: ", l + 1));
        problems.push(problem(key, format!("{at}{message}"), fix));
        // Leave the line out and read on; a line already left out (or none named) ends the pass.
        match line {
            Some(l) if l < lines.len() && !lines[l].trim_start().starts_with('#') => {
                lines[l] = format!("# {}", lines[l]);
                attempt = lines.join("\n");
            }
            _ => return (None, problems),
        }
    }
    (None, problems)
}

/// The dotted key written on line `index` (0-based), with the table it sits in.
fn key_at(lines: &[String], index: usize) -> String {
    let table = lines[..index.min(lines.len())]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = lines
        .get(index)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => format!("line {}", index + 1),
    }
}

fn problem(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn validate(
    raw: RawConfig,
    source: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    purpose: Purpose,
) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let server = validate_server(&raw.server, &mut problems);
    let llm = validate_llm(raw.llm, env, purpose, &mut problems);
    let search = search::validate_search(raw.search, env, &mut problems);
    let classifier = validate_classifier(raw.classifier, &mut problems);
    let rules = validate_rules(raw.rules, "rules", &mut problems);
    let routing = validate_routing(&raw.routing, raw.tenant, &mut problems);
    let ledger = validate_ledger(raw.ledger, env, &mut problems);
    let mut energy = validate_energy(&raw.energy, &mut problems);
    energy.local.search_wh_per_query = search.wh_per_query;
    let admin = validate_admin(&raw.admin, env, purpose, &mut problems);
    let cache = cache::validate_cache(&raw.cache, &mut problems);
    let tiers = tiers::validate_tiers(raw.tiers, &mut problems);
    let keys = keys::validate_keys(raw.keys, raw.limits, ledger.store.as_ref(), &mut problems);
    let telemetry = telemetry::validate_telemetry(raw.telemetry, &mut problems);

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        source: source.to_path_buf(),
        server,
        llm,
        search,
        classifier,
        guards: raw.guards,
        rules,
        routing,
        ledger,
        energy,
        admin,
        cache,
        tiers,
        keys,
        telemetry,
        overrides: Overrides::default(),
    })
}

impl Config {
    /// The running config as JSON for `GET /admin/config`: derived from the validated types, so
    /// every key is there, and secrets show as `<redacted>`.
    pub(crate) fn redacted(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}))
    }
}

fn check_unit(problems: &mut Vec<Problem>, key: &str, value: f64) {
    if !(0.0..=1.0).contains(&value) {
        problems.push(problem(
            key,
            format!("{value} is outside 0.0..=1.0"),
            "use a probability between 0 and 1",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"), &|name| {
            (name == "KEY_SET").then(|| "sk-test".to_string())
        })
    }

    fn problems(text: &str) -> Vec<Problem> {
        match load(text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn deployments_are_validated_with_their_keys_named() {
        let c = load(
            "[[llm.deployments]]\nname = \"east\"\nbase_url = \"https://east.example/v1\"\napi_key_env = \"KEY_SET\"\nweight = 3\n\
             [[llm.deployments]]\nname = \"claude\"\nbase_url = \"https://api.anthropic.com/v1\"\napi = \"anthropic\"\n",
        )
        .unwrap();
        assert_eq!(c.llm.deployments.len(), 2);
        assert_eq!(
            c.llm.deployments[0].api_key.as_ref().map(|k| k.expose().as_str()),
            Some("sk-test")
        );
        assert_eq!(c.llm.retry.max_tries, 3, "retries on once there are deployments");
        assert_eq!(load("").unwrap().llm.retry.max_tries, 1, "one try without, as before");
        let keys: Vec<String> = problems(
            "[[llm.deployments]]\nname = \"a\"\nbase_url = \"ftp://x\"\nweight = 0\nmodels = []\n\
             [[llm.deployments]]\nname = \"a\"\nbase_url = \"https://x/v1\"\napi_key_env = \"UNSET\"\n\
             [llm.retry]\nmax_tries = 0\n[llm.fallback_models]\n\"gpt-4o\" = []\n",
        )
        .into_iter()
        .map(|p| p.key)
        .collect();
        for key in [
            "llm.deployments[0].base_url",
            "llm.deployments[0].weight",
            "llm.deployments[0].models",
            "llm.deployments[1].name",
            "llm.deployments[1].api_key_env",
            "llm.retry.max_tries",
            "llm.fallback_models.gpt-4o",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        let unknown = load("[[llm.deployments]]\nname = \"a\"\nbase_url = \"https://x/v1\"\nwieght = 2\n");
        assert!(unknown.is_err(), "a misspelt key is refused");
    }

    #[test]
    fn empty_file_gives_working_defaults() {
        let c = load("").unwrap();
        assert_eq!(c.server.listen.port(), 8080);
        assert!(c.guards.tools && c.guards.follow_up);
        assert_eq!(c.llm.base_url, "https://api.openai.com/v1");
    }

    #[test]
    fn shipped_config_is_valid() {
        let text = include_str!("../../config/ecoroute.toml");
        let c = load(text).unwrap();
        assert!(!c.rules.is_empty());
        // /admin/config is derived: the rules show as written, with their regexes.
        let shown = c.redacted();
        let first = &shown["rules"][0];
        assert_eq!(first["name"], c.rules[0].name.as_str());
        assert_eq!(first["route"], c.rules[0].route.as_str());
        assert_eq!(shown["server"]["listen"], "127.0.0.1:8080");
        assert_eq!(shown["routing"]["mode"], "route");
    }

    #[test]
    fn pass_through_entries_are_checked() {
        let c = load("[llm]\npassthrough = [\"GET /v1/models\", \"* /v1/files/*\"]\n").unwrap();
        assert_eq!(c.llm.passthrough.len(), 2);
        assert_eq!(c.redacted()["llm"]["passthrough"][1], "* /v1/files/*");
        let p = problems("[llm]\npassthrough = [\"GET /v1/models\", \"delete /v1/files\"]\n");
        assert_eq!(p[0].key, "llm.passthrough[1]");
        assert!(p[0].fix.contains("GET /v1/models"), "{}", p[0].fix);
    }

    #[test]
    fn runtime_threads_and_languages_are_checked() {
        assert_eq!(load("[server]\nworker_threads = 1\n").unwrap().server.worker_threads, 1);
        let p = problems("[server]\nworker_threads = 5000\n");
        assert_eq!(p[0].key, "server.worker_threads");
        assert_eq!(load("[search]\nthreads = 3\n").unwrap().search.threads, 3);
        let p = problems("[search]\nthreads = 5000\n");
        assert_eq!(p[0].key, "search.threads");
        assert!(p[0].fix.contains("0 for one per core"), "{}", p[0].fix);
        let p = problems("[search]\nlanguages = [\"xx\"]\n");
        assert_eq!(p[0].key, "search.languages");
        assert!(p[0].problem.contains("xx.toml"), "{}", p[0].problem);
        let c = load("[search]\nlanguages = [\"fr\"]\n").unwrap();
        assert_eq!(c.search.languages[0].pack.code, "fr");
        assert!(c.search.languages[0].index_dir.ends_with("index.fr"));
    }

    #[test]
    fn unknown_key_is_a_parse_error_naming_file_and_key() {
        let err = load("[server]\nlisten_addr = \"x\"\n").unwrap_err().to_string();
        assert!(err.starts_with("test.toml:"), "{err}");
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn the_replaced_output_length_key_is_refused_with_the_new_one() {
        let p = problems("[energy]\ndefault_output_tokens = 300\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "energy.default_output_tokens");
        assert!(p[0].fix.contains("lookup_answer_tokens"), "{}", p[0].fix);
        let p = problems("[energy]\nlookup_answer_tokens = [50, 20, 150]\n");
        assert_eq!(p[0].key, "energy.lookup_answer_tokens");
    }

    #[test]
    fn bad_regex_names_the_rule_key_and_a_fix() {
        let p = problems("[[rules]]\nname = \"r\"\nroute = \"llm\"\nlast_user_regex = \"(unclosed\"\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "rules[0].last_user_regex");
        assert!(p[0].problem.contains("invalid regex"));
        assert!(!p[0].fix.is_empty());
        let p = problems("[[tenant]]\nname = \"acme\"\nsearch_compatible_system = \"[ada\"\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "tenant[0].search_compatible_system");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let p = problems(
            "[server]\nlisten = \"nope\"\n[classifier]\nlookup_threshold = 1.5\n[[rules]]\nname = \"a\"\nroute = \"moon\"\nhas_tools = true\n[[rules]]\nname = \"a\"\nroute = \"llm\"\n",
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"server.listen"), "{keys:?}");
        assert!(keys.contains(&"classifier.lookup_threshold"), "{keys:?}");
        assert!(keys.contains(&"rules[0].route"), "{keys:?}");
        assert!(keys.contains(&"rules[1].name"), "{keys:?}");
    }

    #[test]
    fn ledger_retention_is_days_and_never_zero() {
        assert_eq!(load("").unwrap().ledger.retention, None, "unset keeps every row");
        let c = load("[ledger]\nretention_days = 90\n").unwrap();
        assert_eq!(c.ledger.retention, Some(std::time::Duration::from_secs(90 * 86_400)));
        let p = problems("[ledger]\nretention_days = 0\n");
        assert_eq!(p[0].key, "ledger.retention_days");
    }

    #[test]
    fn the_ledger_queue_is_bounded_in_bytes_at_64_mib_unless_set() {
        assert_eq!(load("").unwrap().ledger.channel_max_bytes, 64 << 20);
        let c = load("[ledger]\nchannel_max_bytes = 16777216\n").unwrap();
        assert_eq!(c.ledger.channel_max_bytes, 16 << 20);
        let p = problems("[ledger]\nchannel_max_bytes = 4096\n");
        assert_eq!(p[0].key, "ledger.channel_max_bytes");
    }

    #[test]
    fn energy_settings_are_checked() {
        let c = load("[energy]\nzone = \"FRA\"\n").unwrap();
        assert_eq!(c.energy.local.zone.code, "FRA");
        let p = problems("[energy]\nzone = \"MARS\"\npue = 0.5\nwatts_per_core = [10.0, 5.0]\n");
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["energy.zone", "energy.pue", "energy.watts_per_core"]);
        assert!(p[0].fix.contains("FRA"), "the fix lists the zones");
    }

    #[test]
    fn classifier_model_is_loaded_or_refused() {
        assert_eq!(load("").unwrap().classifier.model, "builtin");
        assert_eq!(
            load("[classifier]\nmodel = \"heuristic\"\n")
                .unwrap()
                .classifier
                .scorer
                .name(),
            "heuristic-v1"
        );
        let p = problems("[classifier]\nmodel = \"/no/such/model.bin.gz\"\n");
        assert_eq!(p[0].key, "classifier.model");
    }

    #[test]
    fn weak_admin_tokens_are_refused() {
        let with_token = |token: &'static str| {
            Config::from_toml_str("[admin]\ntoken_env = \"T\"\n", Path::new("t.toml"), &move |_| {
                Some(token.to_string())
            })
        };
        assert!(with_token("0123456789abcdef0123").is_ok());
        for weak in [
            "short",
            "                ",
            "aaaaaaaaaaaaaaaaaaaa",
            "0123456789 abcdef0123",
        ] {
            let err = with_token(weak)
                .err()
                .unwrap_or_else(|| panic!("{weak:?} accepted"))
                .to_string();
            assert!(err.contains("admin.token_env"), "{err}");
        }
    }

    #[test]
    fn api_key_env_is_resolved_and_redacted() {
        let c = load("[llm]\napi_key_env = \"KEY_SET\"\n").unwrap();
        assert_eq!(c.llm.api_key.as_ref().map(|k| k.expose().as_str()), Some("sk-test"));
        assert!(!format!("{:?}", c.llm).contains("sk-test"));
        let shown = c.redacted().to_string();
        assert!(
            !shown.contains("sk-test") && shown.contains("\"api_key\":\"<redacted>\""),
            "{shown}"
        );
        let p = problems("[llm]\napi_key_env = \"KEY_MISSING\"\n");
        assert_eq!(p[0].key, "llm.api_key_env");
    }

    /// The shipped examples of a team's catalogue and prices load, and change what resolves.
    #[test]
    fn a_team_catalogue_and_prices_load_from_files() {
        let root = env!("CARGO_MANIFEST_DIR");
        let c = load(&format!(
            "[energy]\ncatalogue = \"{root}/config/models.local.example.toml\"\nprices = \"{root}/config/prices.example.toml\"\n"
        ))
        .unwrap();
        let catalogue = &c.energy.catalogue;
        assert!(!catalogue.resolve("claude-3-5-sonnet-20241022").fallback);
        assert_eq!(catalogue.resolve("mistral-small").spec.output_usd_per_mtok, Some(0.3));
        assert_eq!(catalogue.provider("acme-dc").zone, "FRA");
        assert!(catalogue.version().contains("models.local.example.toml"));
        let p = problems("[energy]\ncatalogue = \"/nonexistent/models.toml\"\n");
        assert_eq!(p[0].key, "energy.catalogue");
        assert!(p[0].problem.contains("/nonexistent/models.toml"), "{p:?}");
    }

    #[test]
    fn meters_are_checked_key_by_key() {
        let c = load("[[energy.meter]]\nurl = \"http://127.0.0.1:9400/metrics\"\nmodels = [\"llama\"]\n").unwrap();
        let m = &c.energy.meters[0];
        assert_eq!((m.unit.as_str(), m.scrape_interval_ms), ("mJ", 5000));
        assert!((m.wh_per_unit - 1.0 / 3.6e6).abs() < 1e-18);
        let p = problems(
            "[[energy.meter]]\nurl = \"ftp://x\"\nunit = \"BTU\"\nmodels = []\nscrape_interval_ms = 10\nzone = \"MARS\"\n",
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        for key in ["url", "unit", "models", "scrape_interval_ms", "zone"] {
            assert!(keys.contains(&format!("energy.meter[0].{key}").as_str()), "{keys:?}");
        }
    }
}
