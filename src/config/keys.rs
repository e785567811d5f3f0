//! `[[keys]]` (the inbound API keys, each stored as its SHA-256, with its tenant and limits) and
//! `[limits]` (the budget warning threshold and `[[limits.tenant]]`, a tenant's own limits).
//!
//! Keys are matched by hashing the key a request presents and comparing that digest with every
//! configured one in constant time ([`KeysConfig::find`]), so neither the key nor how much of a
//! hash matched shows in the response time. A key in the file is only its hash: a leaked config
//! gives no working key (`ecoroute hash-key` prints the line to paste).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{problem, Problem};
use crate::limits::{key_subject, tenant_subject, LimitSettings, Period};

/// `[[keys]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKey {
    /// Shown in logs, metrics and the ledger; never the key.
    pub name: String,
    /// `sha256:` and 64 hex digits: what `ecoroute hash-key` prints.
    pub hash: String,
    pub tenant: String,
    /// Whether a request with this key may name another tenant in the tenant header.
    #[serde(default)]
    pub may_set_tenant: bool,
    #[serde(default)]
    pub limits: RawLimits,
}

/// The limits of a key or a tenant; every one is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub budget_usd: Option<f64>,
    pub budget_wh: Option<f64>,
    /// "day" or "month" (UTC); required with a budget.
    pub budget_period: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimitsTable {
    /// Share of a budget from which responses carry `x-ecoroute-budget` and the gauge shows it.
    pub budget_warn_at: f64,
    /// How often (seconds) the tenants' spend is read back from the ledger, which a fleet on one
    /// PostgreSQL ledger shares; 0: only at start and at reload.
    pub budget_refresh_s: u64,
    /// How often (ms) the replicas of a fleet exchange what they took from their per-minute
    /// rates, through the PostgreSQL ledger's database; 0: each replica limits alone.
    pub fleet_sync_ms: u64,
    pub tenant: Vec<RawTenantLimits>,
}

impl Default for RawLimitsTable {
    fn default() -> Self {
        Self {
            budget_warn_at: 0.8,
            budget_refresh_s: 60,
            fleet_sync_ms: 0,
            tenant: Vec::new(),
        }
    }
}

/// `[[limits.tenant]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenantLimits {
    pub name: String,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub budget_usd: Option<f64>,
    pub budget_wh: Option<f64>,
    pub budget_period: Option<String>,
}

/// One inbound key.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub name: String,
    /// The SHA-256 of the key; not shown by `/admin/config` (a short key could be guessed from it).
    #[serde(skip)]
    digest: [u8; 32],
    pub tenant: String,
    pub may_set_tenant: bool,
    pub limits: LimitSettings,
}

/// The validated `[[keys]]` and `[limits]`.
#[derive(Debug, Clone, Serialize)]
pub struct KeysConfig {
    pub keys: Vec<ApiKey>,
    pub tenant_limits: HashMap<String, LimitSettings>,
    pub budget_warn_at: f64,
    /// Every how often the tenants' budgets are read back from the ledger; `None`: only at start
    /// and reload.
    pub budget_refresh: Option<std::time::Duration>,
    /// The rate exchange of a fleet (`limits.fleet_sync_ms`); `None`: off.
    pub fleet_sync: Option<std::time::Duration>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            tenant_limits: HashMap::new(),
            budget_warn_at: 0.8,
            budget_refresh: Some(std::time::Duration::from_secs(60)),
            fleet_sync: None,
        }
    }
}

impl KeysConfig {
    /// Whether some tenant or key has a budget (whose spend the ledger holds).
    pub(crate) fn any_budget(&self) -> bool {
        self.tenant_limits
            .values()
            .chain(self.keys.iter().map(|k| &k.limits))
            .any(|l| l.budget_period.is_some())
    }
}

/// The hash line of a key, as `[[keys]].hash` takes it.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl KeysConfig {
    /// Whether requests must carry a key.
    pub(crate) fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The key whose hash is the presented key's. Every configured digest is compared, in
    /// constant time, whatever matches.
    pub(crate) fn find(&self, presented: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found
    }

    /// Every subject with limits, for [`crate::limits::Limits::configure`].
    pub(crate) fn subjects(&self) -> HashMap<String, LimitSettings> {
        let keys = self
            .keys
            .iter()
            .filter(|k| !k.limits.is_empty())
            .map(|k| (key_subject(&k.name), k.limits.clone()));
        let tenants = self
            .tenant_limits
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(t, l)| (tenant_subject(t), l.clone()));
        keys.chain(tenants).collect()
    }
}

/// A tenant name the tenant header could carry too (the same rule as `claimed_tenant`).
fn valid_tenant(name: &str) -> bool {
    let trimmed = name.trim();
    !trimmed.is_empty()
        && trimmed == name
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

fn parse_digest(hash: &str) -> Option<[u8; 32]> {
    let hex = hash.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

fn validate_limits(raw: &RawLimits, at: &str, problems: &mut Vec<Problem>) -> LimitSettings {
    for (name, value) in [
        ("requests_per_minute", raw.requests_per_minute),
        ("tokens_per_minute", raw.tokens_per_minute),
    ] {
        if value == Some(0) {
            problems.push(problem(
                format!("{at}.{name}"),
                "0 would refuse every request",
                "give a positive number, or leave the key out for no limit",
            ));
        }
    }
    for (name, value) in [("budget_usd", raw.budget_usd), ("budget_wh", raw.budget_wh)] {
        if value.is_some_and(|v| !v.is_finite() || v <= 0.0) {
            problems.push(problem(
                format!("{at}.{name}"),
                format!("{} is not a positive amount", value.unwrap_or_default()),
                "give a positive amount, or leave the key out for no budget",
            ));
        }
    }
    let period = match raw.budget_period.as_deref() {
        None => None,
        Some("day") => Some(Period::Day),
        Some("month") => Some(Period::Month),
        Some(other) => {
            problems.push(problem(
                format!("{at}.budget_period"),
                format!("`{other}` is not a period"),
                "use \"day\" or \"month\" (UTC)",
            ));
            None
        }
    };
    let budget = raw.budget_usd.is_some() || raw.budget_wh.is_some();
    if budget != raw.budget_period.is_some() {
        problems.push(problem(
            format!("{at}.budget_period"),
            if budget {
                "a budget needs its period"
            } else {
                "a period without budget_usd or budget_wh"
            },
            "give budget_usd and/or budget_wh together with budget_period = \"day\" or \"month\"",
        ));
    }
    LimitSettings {
        requests_per_minute: raw.requests_per_minute,
        tokens_per_minute: raw.tokens_per_minute,
        budget_usd: raw.budget_usd,
        budget_wh: raw.budget_wh,
        budget_period: period,
    }
}

pub(super) fn validate_keys(
    raw: Vec<RawKey>,
    limits: RawLimitsTable,
    ledger: Option<&crate::ledger::LedgerStore>,
    problems: &mut Vec<Problem>,
) -> KeysConfig {
    let ledger_on = ledger.is_some();
    let postgres = matches!(ledger, Some(crate::ledger::LedgerStore::Postgres { .. }));
    if limits.fleet_sync_ms > 0 && !postgres {
        problems.push(problem(
            "limits.fleet_sync_ms",
            "the fleet's rates are exchanged through the PostgreSQL ledger, and this ledger is not one",
            "set ledger.url_env to the fleet's PostgreSQL database, or fleet_sync_ms = 0",
        ));
    }
    if limits.fleet_sync_ms > 0 && !(50..=60_000).contains(&limits.fleet_sync_ms) {
        problems.push(problem(
            "limits.fleet_sync_ms",
            format!("{} ms is outside 50..=60000", limits.fleet_sync_ms),
            "use a few hundred ms: the fleet can overshoot a rate by what it admits in one interval",
        ));
    }
    let mut keys = Vec::with_capacity(raw.len());
    let mut names = HashSet::new();
    let mut digests = HashSet::new();
    for (i, k) in raw.into_iter().enumerate() {
        let at = format!("keys[{i}]");
        if k.name.trim().is_empty() || !names.insert(k.name.clone()) {
            problems.push(problem(
                format!("{at}.name"),
                format!("`{}` is empty or names another key too", k.name),
                "give each key its own name (it shows in logs and metrics, the key never does)",
            ));
        }
        if !valid_tenant(&k.tenant) {
            problems.push(problem(
                format!("{at}.tenant"),
                format!("`{}` is not a tenant name", k.tenant),
                "use 1 to 64 printable ASCII characters, without surrounding spaces",
            ));
        }
        let digest = parse_digest(&k.hash).unwrap_or_else(|| {
            problems.push(problem(
                format!("{at}.hash"),
                "not `sha256:` and 64 hex digits",
                "run `ecoroute hash-key` and paste the line it prints (the key itself never goes in the file)",
            ));
            [0; 32]
        });
        if !digests.insert(digest) {
            problems.push(problem(
                format!("{at}.hash"),
                "the same key as another entry",
                "give each key one entry, or revoke the duplicate",
            ));
        }
        let settings = validate_limits(&k.limits, &format!("{at}.limits"), problems);
        keys.push(ApiKey {
            name: k.name,
            digest,
            tenant: k.tenant,
            may_set_tenant: k.may_set_tenant,
            limits: settings,
        });
    }
    let mut tenant_limits = HashMap::new();
    for (i, t) in limits.tenant.into_iter().enumerate() {
        let at = format!("limits.tenant[{i}]");
        let raw = RawLimits {
            requests_per_minute: t.requests_per_minute,
            tokens_per_minute: t.tokens_per_minute,
            budget_usd: t.budget_usd,
            budget_wh: t.budget_wh,
            budget_period: t.budget_period,
        };
        let settings = validate_limits(&raw, &at, problems);
        if tenant_limits.insert(t.name.clone(), settings).is_some() || !valid_tenant(&t.name) {
            problems.push(problem(
                format!("{at}.name"),
                format!("`{}` is not a tenant name, or has limits twice", t.name),
                "give each tenant one [[limits.tenant]] entry with a valid name",
            ));
        }
    }
    if !(limits.budget_warn_at > 0.0 && limits.budget_warn_at <= 1.0) {
        problems.push(problem(
            "limits.budget_warn_at",
            format!("{} is outside (0, 1]", limits.budget_warn_at),
            "use a share of the budget, e.g. 0.8",
        ));
    }
    let config = KeysConfig {
        keys,
        tenant_limits,
        budget_warn_at: limits.budget_warn_at,
        budget_refresh: (limits.budget_refresh_s > 0).then(|| std::time::Duration::from_secs(limits.budget_refresh_s)),
        fleet_sync: (limits.fleet_sync_ms > 0).then(|| std::time::Duration::from_millis(limits.fleet_sync_ms)),
    };
    let budgets = config.subjects().values().any(|l| l.budget_period.is_some());
    if budgets && !ledger_on {
        problems.push(problem(
            "ledger.enabled",
            "budgets are set but the ledger is off: their spending comes from the ledger's figures",
            "set ledger.enabled = true, or remove budget_usd/budget_wh",
        ));
    }
    config
}

/// What `serve` warns about at start: a proxy that spends its own upstream key for anyone who
/// reaches it, or keys whose holders would reach an upstream without any key.
pub(crate) fn start_warnings(keys: &KeysConfig, upstream_keys: [(&str, bool); 2]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (api, has_key) in upstream_keys {
        if !keys.required() && has_key {
            warnings.push(format!(
                "no [[keys]] configured: anyone who reaches this port spends the {api} upstream key; add [[keys]] (docs/operations.md, \"Keys, limits and budgets\")"
            ));
        }
        if keys.required() && !has_key {
            warnings.push(format!(
                "[[keys]] are configured but the {api} upstream has no key of the proxy's: clients' keys are not forwarded, so that upstream is called without one"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite() -> crate::ledger::LedgerStore {
        crate::ledger::LedgerStore::Sqlite("ledger.sqlite".into())
    }

    fn key(name: &str, secret: &str) -> RawKey {
        RawKey {
            name: name.into(),
            hash: hash_key(secret),
            tenant: "team-a".into(),
            may_set_tenant: false,
            limits: RawLimits::default(),
        }
    }

    #[test]
    fn keys_are_found_by_their_hash_only() {
        let mut problems = Vec::new();
        let c = validate_keys(
            vec![key("a", "sk-eco-aaa"), key("b", "sk-eco-bbb")],
            RawLimitsTable::default(),
            Some(&sqlite()),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.find("sk-eco-bbb").map(|k| k.name.as_str()), Some("b"));
        assert!(c.find("sk-eco-bb").is_none());
        assert!(c.find(&hash_key("sk-eco-aaa")).is_none(), "the hash is not a key");
        assert!(!serde_json::to_string(&c)
            .unwrap()
            .contains(&hash_key("sk-eco-aaa")[7..]));
    }

    #[test]
    fn bad_entries_name_their_key_and_fix() {
        let mut problems = Vec::new();
        let mut bad = key("a", "x");
        bad.hash = "sk-plaintext".into();
        bad.limits.budget_usd = Some(5.0);
        let mut dup = key("a", "y");
        dup.tenant = " padded".into();
        validate_keys(
            vec![bad, dup],
            RawLimitsTable {
                budget_warn_at: 1.5,
                fleet_sync_ms: 500,
                ..RawLimitsTable::default()
            },
            None,
            &mut problems,
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "limits.fleet_sync_ms",
                "keys[0].hash",
                "keys[0].limits.budget_period",
                "keys[1].name",
                "keys[1].tenant",
                "limits.budget_warn_at",
            ]
        );
        assert!(problems[1].fix.contains("ecoroute hash-key"));
        // A budget needs the ledger, whose figures it adds up.
        let mut problems = Vec::new();
        let mut budget = key("a", "x");
        budget.limits.budget_wh = Some(5.0);
        budget.limits.budget_period = Some("day".into());
        validate_keys(vec![budget], RawLimitsTable::default(), None, &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "ledger.enabled");
    }

    #[test]
    fn start_warnings_name_the_exposed_upstream() {
        let none = KeysConfig::default();
        let w = start_warnings(&none, [("OpenAI", true), ("Anthropic", false)]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("OpenAI") && w[0].contains("anyone"), "{w:?}");
        let mut problems = Vec::new();
        let some = validate_keys(
            vec![key("a", "k")],
            RawLimitsTable::default(),
            Some(&sqlite()),
            &mut problems,
        );
        let w = start_warnings(&some, [("OpenAI", true), ("Anthropic", false)]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("Anthropic"), "{w:?}");
    }
}
