//! `[[tiers]]`: for a requested model, a cheaper one that may serve the requests whose task a
//! smaller model does as well (see [`crate::classify::tasks`]). Off unless configured; each tier
//! starts in shadow mode (ledger what would have been downgraded, change nothing) until a team
//! sets `mode = "route"`. Tenants may set their own mode (`[[tenant]] tiers`).

use serde::Serialize;

use super::{problem, raw, Problem};
use crate::classify::tasks::TaskType;

/// What a tier does: serve with the cheaper model, only ledger what it would have done, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TierMode {
    Route,
    Shadow,
    Off,
}

pub(super) fn parse_tier_mode(text: &str, key: String, problems: &mut Vec<Problem>) -> TierMode {
    match text {
        "route" => TierMode::Route,
        "shadow" => TierMode::Shadow,
        "off" => TierMode::Off,
        other => {
            problems.push(problem(
                key,
                format!("unknown mode `{other}`"),
                "use \"shadow\" (ledger only, the default), \"route\" or \"off\"",
            ));
            TierMode::Off
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    /// The model clients ask for (compared without case).
    pub model: String,
    pub cheaper: String,
    pub tasks: Vec<TaskType>,
    /// Requests whose last user message is longer keep the requested model.
    pub max_chars: usize,
    pub mode: TierMode,
    /// A team's own rule: matching requests qualify whatever their task.
    #[serde(serialize_with = "crate::redact::ser::opt_regex")]
    pub last_user_regex: Option<regex::Regex>,
    /// Shadow mode: the share of would-be downgrades also answered by the cheaper model, for review.
    pub review_sample: f64,
    /// Requests whose difficulty ([`crate::classify::difficulty`]) is at or under this qualify
    /// whatever their task.
    pub max_difficulty: Option<f64>,
}

pub(super) fn validate_tiers(raw: Vec<raw::RawTier>, problems: &mut Vec<Problem>) -> Vec<Tier> {
    let mut tiers: Vec<Tier> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("tiers[{i}].{field}");
        if t.model.trim().is_empty() || t.cheaper.trim().is_empty() {
            problems.push(problem(
                key("model"),
                "model and cheaper must both be named",
                "e.g. model = \"gpt-4o\", cheaper = \"gpt-4o-mini\"",
            ));
        }
        if t.model.eq_ignore_ascii_case(&t.cheaper) {
            problems.push(problem(
                key("cheaper"),
                "is the requested model itself",
                "name a smaller model",
            ));
        }
        if tiers.iter().any(|known| known.model.eq_ignore_ascii_case(&t.model)) {
            problems.push(problem(
                key("model"),
                format!("`{}` has two tiers", t.model),
                "keep one [[tiers]] entry per requested model",
            ));
        }
        let mut tasks = Vec::new();
        for (j, name) in t.tasks.iter().enumerate() {
            match TaskType::parse(name) {
                Some(TaskType::Other) | None => problems.push(problem(
                    format!("tiers[{i}].tasks[{j}]"),
                    format!("`{name}` is not a task a smaller model may serve"),
                    "use extraction, classification, short_rewrite, translation or lookup",
                )),
                Some(task) => tasks.push(task),
            }
        }
        if t.max_chars == 0 {
            problems.push(problem(
                key("max_chars"),
                "must be more than 0",
                "2000 keeps short tasks only",
            ));
        }
        if let Some(max) = t.max_difficulty.filter(|m| !(0.0..=1.0).contains(m)) {
            problems.push(problem(
                key("max_difficulty"),
                format!("{max} is not a probability"),
                "use a value from 0 to 1: the threshold `ecoroute calibrate-tiers` prints for your quality target",
            ));
        }
        if t.max_difficulty.is_some() && crate::classify::difficulty::DifficultyModel::builtin().is_none() {
            problems.push(problem(
                key("max_difficulty"),
                "this build's difficulty router (models/difficulty.json) does not load",
                "remove max_difficulty, or rebuild with a model written by `ecoroute train-router`",
            ));
        }
        let last_user_regex =
            super::routing::compile_regex(key("last_user_regex"), t.last_user_regex.as_deref(), problems);
        tiers.push(Tier {
            mode: parse_tier_mode(&t.mode, key("mode"), problems),
            model: t.model,
            cheaper: t.cheaper,
            tasks,
            max_chars: t.max_chars,
            last_user_regex,
            review_sample: t.review_sample,
            max_difficulty: t.max_difficulty,
        });
    }
    tiers
}
