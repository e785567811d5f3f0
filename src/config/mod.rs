//! Configuration, loaded in two stages: [`raw`] is what serde reads from TOML (unknown keys are
//! errors), and [`Config`] is the validated form the server runs on: addresses parsed, regexes
//! compiled, ranges and references checked. Every problem names the file, the key and the fix, and
//! all problems are reported at once so `ecoroute check` is useful in one pass.

mod energy;
pub mod raw;
mod routing;
pub mod search;

use energy::validate_energy;
use routing::{validate_routing, validate_rules};
pub use routing::{Mode, RoutingConfig, TenantPolicy};
pub use search::{Adequacy, SearchBackendConfig, SearchConfig};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use crate::classify::{model, Guards, HeuristicScorer, Rule, Scorer};
use crate::energy::{Catalogue, LocalSettings};
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

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// More messages than this in one chat request is a 400.
    pub max_messages: usize,
    pub max_concurrency: usize,
    pub shutdown_grace: Duration,
    /// After SIGTERM, how long to keep accepting while `/readyz` says draining, so a load balancer
    /// stops sending traffic before the listener closes.
    pub drain_delay: Duration,
    /// Open client connections at most; past it the proxy stops accepting until one closes.
    pub max_connections: usize,
    /// From accepting a connection (or the end of the previous response on a keep-alive one) to
    /// the end of the request headers. Covers idle keep-alive connections and slow headers.
    pub header_read_timeout: Duration,
    /// From the end of the headers to the end of the body. The body is read before the request
    /// takes a concurrency slot, so a client that stalls is cut off without holding one.
    pub body_read_timeout: Duration,
    /// Request header fields at most (HTTP/1.1); more is a 431.
    pub max_headers: usize,
    /// Bytes of request line and headers at most (HTTP/1.1); more is a 431.
    pub max_header_bytes: usize,
}

#[derive(Clone)]
pub struct LlmConfig {
    /// Base URL including the API version prefix, without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// The key read from `api_key_env` at load time. Never printed: see the `Debug` impl.
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub total_timeout: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("total_timeout", &self.total_timeout)
            .finish()
    }
}

#[derive(Clone)]
pub struct ClassifierConfig {
    pub lookup_threshold: f64,
    /// Whether a client may force search with `x-ecoroute-route: search` (forcing the LLM is always allowed).
    pub allow_search_override: bool,
    /// What `model` named: `builtin`, `heuristic`, or a file path.
    pub model: String,
    /// The loaded scorer; loading happens at config load so `check` catches a bad model file.
    pub scorer: Arc<dyn Scorer>,
}

impl fmt::Debug for ClassifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifierConfig")
            .field("lookup_threshold", &self.lookup_threshold)
            .field("model", &self.model)
            .field("scorer", &self.scorer.name())
            .finish()
    }
}

/// Where the ledger is kept.
#[derive(Clone, PartialEq)]
pub enum LedgerStore {
    Sqlite(PathBuf),
    /// Shared by a fleet of proxies.
    Postgres {
        url: String,
    },
}

impl fmt::Debug for LedgerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerStore::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            // The URL may carry a password.
            LedgerStore::Postgres { .. } => f.write_str("Postgres"),
        }
    }
}

impl LedgerStore {
    /// For messages: the file, or the database without credentials.
    pub fn describe(&self) -> String {
        match self {
            LedgerStore::Sqlite(path) => path.display().to_string(),
            LedgerStore::Postgres { url } => match url.parse::<tokio_postgres::Config>() {
                Ok(c) => format!(
                    "postgres://{}/{}",
                    c.get_hosts()
                        .iter()
                        .map(|h| match h {
                            tokio_postgres::config::Host::Tcp(name) => name.clone(),
                            #[cfg(unix)]
                            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    c.get_dbname().unwrap_or("")
                ),
                Err(_) => "postgres".into(),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// `None` when the ledger is disabled.
    pub store: Option<LedgerStore>,
    /// Rows the database cannot take go here, to be replayed; `None` drops (and counts) them.
    pub spool: Option<PathBuf>,
    pub store_prompts: bool,
    /// Request header that names the tenant; without it the tenant is a hash of the API key.
    pub tenant_header: http::HeaderName,
    pub channel_capacity: usize,
    pub batch_size: usize,
    /// Rows older than this are deleted by the ledger writer; `None` keeps every row.
    pub retention: Option<std::time::Duration>,
}

/// The energy model's inputs: the catalogue (models, providers, zones) and the local settings.
#[derive(Debug, Clone)]
pub struct EnergyConfig {
    pub catalogue: Arc<Catalogue>,
    pub local: LocalSettings,
}

/// The validated configuration the proxy runs on.
#[derive(Debug, Clone)]
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
    /// Command-line and environment overrides, applied again at every reload.
    pub overrides: Overrides,
}

/// Admin endpoints (`/dashboard`, `/admin/*`): off unless a token is configured.
#[derive(Clone, Default)]
pub struct AdminConfig {
    pub token: Option<String>,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Settings given on the command line or in the environment (`--listen`, `--upstream`,
/// `ECOROUTE_UPSTREAM`). They win over the file at start and at every reload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub upstream: Option<String>,
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
    pub fn load_offline(path: &Path) -> Result<Config, ConfigError> {
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
    pub fn apply(&mut self, overrides: Overrides) -> Result<(), ConfigError> {
        if let Some(addr) = overrides.listen {
            self.server.listen = addr;
        }
        if let Some(url) = &overrides.upstream {
            self.llm.base_url = validate_base_url(url).map_err(|mut p| {
                p.key = "--upstream (or ECOROUTE_UPSTREAM)".into();
                ConfigError::Invalid {
                    file: self.source.display().to_string(),
                    problems: vec![p],
                }
            })?;
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
    pub fn parse(
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

    let listen = raw.server.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
        problems.push(problem(
            "server.listen",
            format!("`{}` is not an address: {e}", raw.server.listen),
            "use IP:PORT, e.g. \"127.0.0.1:8080\"",
        ));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    if raw.server.max_body_bytes < 1024 {
        problems.push(problem(
            "server.max_body_bytes",
            "must be at least 1024",
            "raise it; OpenAI requests are often tens of kilobytes",
        ));
    }
    if raw.server.max_connections == 0 {
        problems.push(problem(
            "server.max_connections",
            "must be at least 1",
            "set it to the client connections the proxy may hold open at once (default 4096)",
        ));
    }
    for (key, value) in [
        ("server.header_read_timeout_ms", raw.server.header_read_timeout_ms),
        ("server.body_read_timeout_ms", raw.server.body_read_timeout_ms),
    ] {
        if value == 0 {
            problems.push(problem(key, "must be greater than 0", "give a timeout in milliseconds"));
        }
    }
    if raw.server.max_headers == 0 {
        problems.push(problem(
            "server.max_headers",
            "must be at least 1",
            "use the default, 100",
        ));
    }
    // hyper's read buffer cannot be smaller than 8 KiB.
    if raw.server.max_header_bytes < 8192 {
        problems.push(problem(
            "server.max_header_bytes",
            "must be at least 8192",
            "use the default, 65536",
        ));
    }
    if raw.server.max_concurrency == 0 {
        problems.push(problem(
            "server.max_concurrency",
            "must be at least 1",
            "set it to the number of requests the proxy may serve at once",
        ));
    }

    let base_url = validate_base_url(&raw.llm.base_url).unwrap_or_else(|p| {
        problems.push(p);
        String::new()
    });
    let api_key = match &raw.llm.api_key_env {
        Some(name) if name.trim().is_empty() => {
            problems.push(problem(
                "llm.api_key_env",
                "is empty",
                "name an environment variable, or remove the key to forward the client's Authorization header",
            ));
            None
        }
        Some(name) => match env(name) {
            Some(key) if !key.is_empty() => Some(key),
            _ if purpose == Purpose::Offline => None,
            _ => {
                problems.push(problem(
                    "llm.api_key_env",
                    format!("environment variable `{name}` is not set"),
                    format!("export {name}=..., or remove llm.api_key_env to forward the client's key"),
                ));
                None
            }
        },
        None => None,
    };
    for (key, value) in [
        ("llm.connect_timeout_ms", raw.llm.connect_timeout_ms),
        ("llm.first_byte_timeout_ms", raw.llm.first_byte_timeout_ms),
        ("llm.total_timeout_ms", raw.llm.total_timeout_ms),
        ("search.timeout_ms", raw.search.timeout_ms),
    ] {
        if value == 0 {
            problems.push(problem(key, "must be greater than 0", "give a timeout in milliseconds"));
        }
    }
    if raw.llm.first_byte_timeout_ms > raw.llm.total_timeout_ms {
        problems.push(problem(
            "llm.first_byte_timeout_ms",
            "is longer than llm.total_timeout_ms",
            "make the first-byte timeout at most the total timeout",
        ));
    }

    let search = search::validate_search(raw.search, env, &mut problems);
    check_unit(
        &mut problems,
        "classifier.lookup_threshold",
        raw.classifier.lookup_threshold,
    );
    let scorer: Arc<dyn Scorer> = match load_scorer(&raw.classifier.model) {
        Ok(scorer) => scorer,
        Err(message) => {
            problems.push(problem(
                "classifier.model",
                message,
                "use \"builtin\", \"heuristic\", or the path of a file written by `ecoroute train`",
            ));
            Arc::new(HeuristicScorer)
        }
    };

    let rules = validate_rules(raw.rules, "rules", &mut problems);
    let routing = validate_routing(&raw.routing, raw.tenant, &mut problems);

    if raw.ledger.channel_capacity == 0 || raw.ledger.batch_size == 0 {
        problems.push(problem(
            "ledger.channel_capacity",
            "channel_capacity and batch_size must be at least 1",
            "use the defaults (65536 and 512)",
        ));
    }
    if raw.ledger.retention_days == Some(0) {
        problems.push(problem(
            "ledger.retention_days",
            "0 would delete every row as soon as it is written",
            "use at least 1, or remove the key to keep every row",
        ));
    }
    let ledger_url = match (&raw.ledger.url, &raw.ledger.url_env) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                "ledger.url",
                "is set together with ledger.url_env",
                "keep one; url_env keeps the password out of the file",
            ));
            None
        }
        (Some(url), None) => Some(url.clone()),
        (None, Some(var)) => match env(var) {
            Some(url) if !url.is_empty() => Some(url),
            _ => {
                problems.push(problem(
                    "ledger.url_env",
                    format!("environment variable `{var}` is not set"),
                    format!("export {var}=postgres://..., or remove ledger.url_env to use the SQLite file"),
                ));
                None
            }
        },
        (None, None) => None,
    };
    if let Some(url) = &ledger_url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
            || url.parse::<tokio_postgres::Config>().is_err()
        {
            problems.push(problem(
                "ledger.url",
                "is not a PostgreSQL URL",
                "use postgres://user:password@host:5432/dbname",
            ));
        }
    }
    if raw.ledger.enabled && ledger_url.is_none() && raw.ledger.path.trim().is_empty() {
        problems.push(problem(
            "ledger.path",
            "is empty",
            "give a file path such as \"data/ledger.sqlite\", or set enabled = false",
        ));
    }
    let store = match (raw.ledger.enabled, ledger_url) {
        (false, _) => None,
        (true, Some(url)) => Some(LedgerStore::Postgres { url }),
        (true, None) => Some(LedgerStore::Sqlite(PathBuf::from(&raw.ledger.path))),
    };
    let spool = match (&raw.ledger.spool, &store) {
        (Some(path), _) if path.is_empty() => None,
        (Some(path), _) => Some(PathBuf::from(path)),
        (None, Some(LedgerStore::Sqlite(path))) => Some(crate::ledger::spool::Spool::default_path(path)),
        (None, _) => None,
    };
    let tenant_header = http::HeaderName::from_bytes(raw.ledger.tenant_header.to_ascii_lowercase().as_bytes())
        .unwrap_or_else(|_| {
            problems.push(problem(
                "ledger.tenant_header",
                format!("`{}` is not a header name", raw.ledger.tenant_header),
                "use a name such as \"x-ecoroute-tenant\"",
            ));
            http::HeaderName::from_static("x-ecoroute-tenant")
        });
    let mut energy = validate_energy(&raw.energy, &mut problems);
    energy.local.search_wh_per_query = search.wh_per_query;
    let admin = match &raw.admin.token_env {
        None => AdminConfig::default(),
        Some(_) if purpose == Purpose::Offline => AdminConfig::default(),
        Some(name) => match env(name) {
            Some(token) => match weak_token(&token) {
                None => AdminConfig { token: Some(token) },
                Some(why) => {
                    problems.push(problem(
                        "admin.token_env",
                        format!("the token in `{name}` {why}"),
                        "use a long random token, e.g. `openssl rand -hex 32`",
                    ));
                    AdminConfig::default()
                }
            },
            None => {
                problems.push(problem(
                    "admin.token_env",
                    format!("environment variable `{name}` is not set"),
                    format!("export {name}=<token>, or remove admin.token_env to keep admin endpoints off"),
                ));
                AdminConfig::default()
            }
        },
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        source: source.to_path_buf(),
        server: ServerConfig {
            listen,
            max_body_bytes: raw.server.max_body_bytes,
            max_messages: raw.server.max_messages,
            max_concurrency: raw.server.max_concurrency,
            shutdown_grace: Duration::from_millis(raw.server.shutdown_grace_ms),
            drain_delay: Duration::from_millis(raw.server.drain_delay_ms),
            max_connections: raw.server.max_connections,
            header_read_timeout: Duration::from_millis(raw.server.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(raw.server.body_read_timeout_ms),
            max_headers: raw.server.max_headers,
            max_header_bytes: raw.server.max_header_bytes,
        },
        llm: LlmConfig {
            base_url,
            api_key_env: raw.llm.api_key_env,
            api_key,
            connect_timeout: Duration::from_millis(raw.llm.connect_timeout_ms),
            first_byte_timeout: Duration::from_millis(raw.llm.first_byte_timeout_ms),
            total_timeout: Duration::from_millis(raw.llm.total_timeout_ms),
        },
        search,
        classifier: ClassifierConfig {
            lookup_threshold: raw.classifier.lookup_threshold,
            allow_search_override: raw.classifier.allow_search_override,
            model: raw.classifier.model,
            scorer,
        },
        guards: raw.guards,
        rules,
        routing,
        ledger: LedgerConfig {
            store,
            spool,
            store_prompts: raw.ledger.store_prompts,
            tenant_header,
            channel_capacity: raw.ledger.channel_capacity,
            batch_size: raw.ledger.batch_size,
            retention: raw
                .ledger
                .retention_days
                .map(|days| std::time::Duration::from_secs(u64::from(days) * 86_400)),
        },
        energy,
        admin,
        overrides: Overrides::default(),
    })
}

/// Why an admin token is too weak to guard the admin surface, if it is.
fn weak_token(token: &str) -> Option<&'static str> {
    let distinct: std::collections::BTreeSet<char> = token.chars().collect();
    if token.chars().count() < 16 {
        Some("is shorter than 16 characters")
    } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        // A bearer token is read up to the first space, and surrounding blanks are trimmed.
        Some("contains spaces or control characters")
    } else if distinct.len() < 8 {
        Some("repeats too few characters (fewer than 8 distinct ones)")
    } else {
        None
    }
}

impl Config {
    /// The running config as JSON for `GET /admin/config`, secrets left out: the upstream key
    /// and the admin token appear only as whether they are set.
    pub fn redacted(&self) -> serde_json::Value {
        let rule_json = |r: &Rule| {
            let c = &r.when;
            serde_json::json!({
                "name": r.name, "route": r.route.as_str(),
                "last_user_regex": c.last_user.as_ref().map(|re| re.as_str()),
                "system_regex": c.system.as_ref().map(|re| re.as_str()),
                "has_tools": c.has_tools, "has_media": c.has_media, "has_response_format": c.has_response_format,
                "min_turns": c.min_turns, "max_turns": c.max_turns, "min_chars": c.min_chars, "max_chars": c.max_chars,
            })
        };
        let rules: Vec<serde_json::Value> = self.rules.iter().map(rule_json).collect();
        let tenants: Vec<serde_json::Value> = self
            .routing
            .tenants
            .iter()
            .map(|t| {
                serde_json::json!({"name": t.name, "mode": t.mode.map(Mode::as_str), "lookup_threshold": t.lookup_threshold,
                                   "rules": t.rules.iter().map(rule_json).collect::<Vec<_>>()})
            })
            .collect();
        serde_json::json!({
            "source": self.source.display().to_string(),
            "server": {"listen": self.server.listen.to_string(), "max_body_bytes": self.server.max_body_bytes,
                       "max_concurrency": self.server.max_concurrency, "shutdown_grace_ms": self.server.shutdown_grace.as_millis() as u64,
                       "drain_delay_ms": self.server.drain_delay.as_millis() as u64, "max_messages": self.server.max_messages,
                       "max_connections": self.server.max_connections,
                       "header_read_timeout_ms": self.server.header_read_timeout.as_millis() as u64,
                       "body_read_timeout_ms": self.server.body_read_timeout.as_millis() as u64,
                       "max_headers": self.server.max_headers, "max_header_bytes": self.server.max_header_bytes},
            "llm": {"base_url": self.llm.base_url, "api_key_env": self.llm.api_key_env, "api_key_set": self.llm.api_key.is_some(),
                    "connect_timeout_ms": self.llm.connect_timeout.as_millis() as u64,
                    "first_byte_timeout_ms": self.llm.first_byte_timeout.as_millis() as u64,
                    "total_timeout_ms": self.llm.total_timeout.as_millis() as u64},
            "search": self.search.redacted(),
            "classifier": {"model": self.classifier.model, "scorer": self.classifier.scorer.name(), "lookup_threshold": self.classifier.lookup_threshold,
                           "allow_search_override": self.classifier.allow_search_override},
            "routing": {"mode": self.routing.mode.as_str(), "tenants": tenants},
            "guards": {"tools": self.guards.tools, "media": self.guards.media, "response_format": self.guards.response_format,
                       "multiple_choices": self.guards.multiple_choices, "follow_up": self.guards.follow_up,
                       "personal": self.guards.personal},
            "rules": rules,
            "ledger": {"enabled": self.ledger.store.is_some(), "store": self.ledger.store.as_ref().map(LedgerStore::describe),
                       "spool": self.ledger.spool.as_ref().map(|p| p.display().to_string()),
                       "store_prompts": self.ledger.store_prompts, "tenant_header": self.ledger.tenant_header.as_str(),
                       "channel_capacity": self.ledger.channel_capacity, "batch_size": self.ledger.batch_size,
                       "retention_days": self.ledger.retention.map(|r| r.as_secs() / 86_400)},
            "energy": {"zone": self.energy.local.zone.code, "pue": self.energy.local.pue,
                       "watts_per_core": [self.energy.local.watts_per_core.0, self.energy.local.watts_per_core.1],
                       "default_output_tokens": self.energy.local.default_output_tokens},
            "admin": {"token_set": self.admin.token.is_some()},
        })
    }
}

/// The scorer a `classifier.model` value names.
pub fn load_scorer(spec: &str) -> Result<Arc<dyn Scorer>, String> {
    match spec {
        "builtin" => Ok(model::builtin()?),
        "heuristic" => Ok(Arc::new(HeuristicScorer)),
        path => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read model file `{path}`: {e}"))?;
            Ok(Arc::new(model::decode_gz(&bytes, path)?))
        }
    }
}

/// An upstream API root: http(s), parseable, without a trailing slash.
pub fn validate_base_url(url: &str) -> Result<String, Problem> {
    let trimmed = url.trim_end_matches('/');
    let scheme_ok = trimmed.starts_with("http://") || trimmed.starts_with("https://");
    if !scheme_ok || reqwest::Url::parse(trimmed).is_err() {
        return Err(problem(
            "llm.base_url",
            format!("`{url}` is not an http(s) URL"),
            "use the upstream's API root, e.g. \"https://api.openai.com/v1\"",
        ));
    }
    Ok(trimmed.to_string())
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
    }

    #[test]
    fn unknown_key_is_a_parse_error_naming_file_and_key() {
        let err = load("[server]\nlisten_addr = \"x\"\n").unwrap_err().to_string();
        assert!(err.starts_with("test.toml:"), "{err}");
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn bad_regex_names_the_rule_key_and_a_fix() {
        let p = problems("[[rules]]\nname = \"r\"\nroute = \"llm\"\nlast_user_regex = \"(unclosed\"\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "rules[0].last_user_regex");
        assert!(p[0].problem.contains("invalid regex"));
        assert!(!p[0].fix.is_empty());
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
        assert_eq!(c.llm.api_key.as_deref(), Some("sk-test"));
        assert!(!format!("{:?}", c.llm).contains("sk-test"));
        let p = problems("[llm]\napi_key_env = \"KEY_MISSING\"\n");
        assert_eq!(p[0].key, "llm.api_key_env");
    }
}
