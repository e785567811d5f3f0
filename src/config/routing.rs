//! `[[rules]]`, `[routing]` and `[[tenant]]`: the config rules (regexes compiled here), the routing
//! mode, and each tenant's own mode, threshold and rules.

use regex::Regex;

use super::{check_unit, problem, raw, Problem};
use crate::classify::{Conditions, Mode, Route, Rule};

/// Compiles a regex from the config, or records the problem under `key`. The size limit keeps a
/// pathological pattern from costing memory on every request.
pub(super) fn compile_regex(key: String, pattern: Option<&str>, problems: &mut Vec<Problem>) -> Option<Regex> {
    match regex::RegexBuilder::new(pattern?).size_limit(1 << 20).build() {
        Ok(re) => Some(re),
        Err(e) => {
            problems.push(problem(
                key,
                format!(
                    "invalid regex: {}",
                    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
                ),
                "fix the pattern (Rust regex syntax; use '...' TOML strings to avoid escaping)",
            ));
            None
        }
    }
}

/// Validates a list of rules; `prefix` names them in problems (`rules`, `tenant[0].rules`).
pub(super) fn validate_rules(raw_rules: Vec<raw::RawRule>, prefix: &str, problems: &mut Vec<Problem>) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::with_capacity(raw_rules.len());
    for (i, r) in raw_rules.into_iter().enumerate() {
        let key = |field: &str| format!("{prefix}[{i}].{field}");
        if r.name.trim().is_empty() {
            problems.push(problem(
                key("name"),
                "is empty",
                "give every rule a unique name; it appears in x-ecoroute-reason",
            ));
        } else if rules.iter().any(|other| other.name == r.name) {
            problems.push(problem(
                key("name"),
                format!("`{}` is used by an earlier rule", r.name),
                "rule names must be unique",
            ));
        }
        let route = match r.route.as_str() {
            "search" => Route::Search,
            "llm" => Route::Llm,
            other => {
                problems.push(problem(
                    key("route"),
                    format!("unknown route `{other}`"),
                    "use \"search\" or \"llm\"",
                ));
                Route::Llm
            }
        };
        let mut compile =
            |field: &str, pattern: &Option<String>| compile_regex(key(field), pattern.as_deref(), problems);
        let conditions = Conditions {
            last_user: compile("last_user_regex", &r.last_user_regex),
            system: compile("system_regex", &r.system_regex),
            has_tools: r.has_tools,
            has_media: r.has_media,
            has_response_format: r.has_response_format,
            min_turns: r.min_turns,
            max_turns: r.max_turns,
            min_chars: r.min_chars,
            max_chars: r.max_chars,
        };
        if conditions.is_empty() && r.last_user_regex.is_none() && r.system_regex.is_none() {
            problems.push(problem(
                key("name"),
                format!("rule `{}` has no condition, so it would match every request", r.name),
                "add a condition such as last_user_regex, or remove the rule",
            ));
        }
        if let (Some(lo), Some(hi)) = (r.min_turns, r.max_turns) {
            if lo > hi {
                problems.push(problem(key("min_turns"), "is larger than max_turns", "swap them"));
            }
        }
        if let (Some(lo), Some(hi)) = (r.min_chars, r.max_chars) {
            if lo > hi {
                problems.push(problem(key("min_chars"), "is larger than max_chars", "swap them"));
            }
        }
        rules.push(Rule {
            name: r.name,
            route,
            when: conditions,
        });
    }

    rules
}

pub(super) fn parse_mode(value: &str, key: String, problems: &mut Vec<Problem>) -> Mode {
    match value {
        "route" => Mode::Route,
        "shadow" => Mode::Shadow,
        "off" => Mode::Off,
        other => {
            problems.push(problem(
                key,
                format!("unknown mode `{other}`"),
                "use \"route\", \"shadow\" or \"off\"",
            ));
            Mode::Route
        }
    }
}

/// A tenant's own policy; unset fields fall back to the global ones. Its rules run before the
/// global rules.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantPolicy {
    pub name: String,
    pub mode: Option<Mode>,
    pub lookup_threshold: Option<f64>,
    /// The system prompts this tenant declares compatible with search answers.
    #[serde(serialize_with = "crate::redact::ser::opt_regex")]
    pub search_compatible_system: Option<Regex>,
    pub cache_ttl: Option<std::time::Duration>,
    pub cache_llm: Option<crate::cache::LlmCaching>,
    /// The tenant's own mode for every tier.
    pub tiers: Option<super::tiers::TierMode>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RoutingConfig {
    pub mode: Mode,
    pub tenants: Vec<TenantPolicy>,
}

pub(super) fn validate_routing(
    raw: &raw::RawRouting,
    tenants: Vec<raw::RawTenant>,
    problems: &mut Vec<Problem>,
) -> RoutingConfig {
    let mode = parse_mode(&raw.mode, "routing.mode".into(), problems);
    let mut policies: Vec<TenantPolicy> = Vec::with_capacity(tenants.len());
    for (i, t) in tenants.into_iter().enumerate() {
        if t.name.trim().is_empty() {
            problems.push(problem(
                format!("tenant[{i}].name"),
                "is empty",
                "use the tenant header's value, or key:<hash> as shown in the ledger",
            ));
        } else if policies.iter().any(|p| p.name == t.name) {
            problems.push(problem(
                format!("tenant[{i}].name"),
                format!("`{}` is listed twice", t.name),
                "merge the two entries",
            ));
        }
        let mode = t
            .mode
            .as_deref()
            .map(|m| parse_mode(m, format!("tenant[{i}].mode"), problems));
        if let Some(th) = t.lookup_threshold {
            check_unit(problems, &format!("tenant[{i}].lookup_threshold"), th);
        }
        let rules = validate_rules(t.rules, &format!("tenant[{i}].rules"), problems);
        let search_compatible_system = compile_regex(
            format!("tenant[{i}].search_compatible_system"),
            t.search_compatible_system.as_deref(),
            problems,
        );
        let cache_ttl = t
            .cache_ttl_s
            .map(|ttl| super::cache::check_ttl(ttl, format!("tenant[{i}].cache_ttl_s"), problems));
        let cache_llm = t
            .cache_llm
            .as_deref()
            .map(|llm| super::cache::parse_llm_caching(llm, format!("tenant[{i}].cache_llm"), problems));
        let tiers = t
            .tiers
            .as_deref()
            .map(|mode| super::tiers::parse_tier_mode(mode, format!("tenant[{i}].tiers"), problems));
        policies.push(TenantPolicy {
            tiers,
            name: t.name,
            mode,
            lookup_threshold: t.lookup_threshold,
            search_compatible_system,
            cache_ttl,
            cache_llm,
            rules,
        });
    }
    RoutingConfig {
        mode,
        tenants: policies,
    }
}
