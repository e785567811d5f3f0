//! `replay`: requests through `serve`'s own routing without calling the LLM, as a summary, a
//! comparison of two configs, or one JSON line per request.

use super::error::CliError;
use super::*;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReplayFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSON Lines, each a question (`query`), a whole chat request (`request`, or the body itself
    /// with `messages`) or a ledger row with its stored `prompt`; or a ledger database (`.sqlite`,
    /// rows stored with ledger.store_prompts). An optional `tenant` picks that tenant's policy.
    #[arg(long)]
    pub input: PathBuf,
    /// One JSON line per input, in order: how `serve` would answer it (`route` search, cache or
    /// llm, `served`, `reason`, the `answer` text when search answers, what the response cache
    /// did (`cache`, as a fresh `serve` with this config would) and a model tier's choice (`tier`)).
    #[arg(long, conflicts_with = "compare")]
    pub json: bool,
    /// Config A.
    #[arg(long, short, env = "ECOROUTE_CONFIG", default_value = "config/ecoroute.toml")]
    pub config: PathBuf,
    /// Config B, to compare with A.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReplayFormat,
}

/// One request to replay.
pub(super) struct ReplayItem {
    line: usize,
    features: RequestFeatures,
    model: String,
    tenant: Option<String>,
    prompt_tokens: f64,
    /// The request's `stop` and `max_tokens` (none for a bare question).
    limits: AnswerLimits,
    /// The request body `serve` would get: the cache's keys are made of it.
    body: Vec<u8>,
}

pub(super) fn replay_items(path: &Path) -> Result<Vec<ReplayItem>, CliError> {
    let from_text = |line: usize, text: &str, model: Option<String>, tenant: Option<String>| {
        let model = model.unwrap_or_else(|| "unknown".into());
        // A single user turn, as `scripts/replay_vs_serve.py` sends it to `serve`.
        let body = serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]});
        ReplayItem {
            line,
            prompt_tokens: f64::from(crate::openai::estimate_tokens(text) + 7),
            features: RequestFeatures::from_query(text),
            model,
            tenant,
            limits: AnswerLimits::default(),
            body: body.to_string().into_bytes(),
        }
    };
    if path.extension().is_some_and(|e| e == "sqlite") {
        return Ok(crate::ledger::read_all(path)?
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.prompt
                    .clone()
                    .map(|p| from_text(i + 1, &p, r.model.clone(), r.tenant.clone()))
            })
            .collect());
    }
    let mut items = Vec::new();
    for (line_no, value) in super::jsonl::read_jsonl::<serde_json::Value>(path)? {
        let bad = |why: String| CliError::Usage(format!("{} line {line_no}: {why}", path.display()));
        let tenant = value.get("tenant").and_then(|t| t.as_str()).map(str::to_string);
        let request = match value.get("request") {
            Some(request) => Some(request.to_string()),
            None if value.get("messages").is_some() => Some(value.to_string()),
            None => None,
        };
        if let Some(request) = request {
            let chat = crate::openai::ChatRequest::parse(request.as_bytes()).map_err(|e| bad(e.to_string()))?;
            items.push(ReplayItem {
                line: line_no,
                prompt_tokens: f64::from(chat.estimated_prompt_tokens()),
                features: chat.features(),
                model: chat.model_name().to_string(),
                tenant,
                limits: chat.limits(),
                body: request.into_bytes(),
            });
        } else if let Some(prompt) = value
            .get("query")
            .or_else(|| value.get("prompt"))
            .and_then(|p| p.as_str())
        {
            let model = value.get("model").and_then(|m| m.as_str()).map(str::to_string);
            items.push(from_text(line_no, prompt, model, tenant));
        } else {
            return Err(bad(
                "none of `query`, `request`, `messages` (a chat body) or `prompt` (a ledger row)".into(),
            ));
        }
    }
    Ok(items)
}

#[derive(serde::Serialize, Default)]
pub(super) struct ReplaySummary {
    config: String,
    requests: usize,
    search: usize,
    escalated: usize,
    llm: usize,
    expected_energy_saved_wh: crate::energy::Range,
    expected_cost_saved_usd: crate::energy::Range,
}

/// Each item's plan, as `serve` would make it; with `cache`, through the response cache as a
/// freshly started `serve` would (the summary measures the routing alone).
pub(super) async fn plan_items(
    config: Config,
    items: &[ReplayItem],
    cache: bool,
) -> Result<(Pipeline, Vec<Plan>), CliError> {
    let pipeline = Pipeline::build(config).await?;
    let mut plans = Vec::with_capacity(items.len());
    for item in items {
        let lookup = CacheRequest {
            body: &item.body,
            partition: crate::server::request::cache_partition(item.tenant.as_deref(), None),
            ..CacheRequest::default()
        };
        let request = PlanRequest {
            api: crate::api::Api::ChatCompletions,
            features: &item.features,
            tenant: item.tenant.as_deref(),
            requested: None,
            limits: &item.limits,
            model: &item.model,
            cache: cache.then_some(&lookup),
            review_draw: None,
        };
        plans.push(pipeline.plan(request).await);
    }
    Ok((pipeline, plans))
}

/// Each item's route, as `serve` would take it, with no cache.
pub(super) async fn route_items(config: Config, items: &[ReplayItem]) -> Result<(Pipeline, Vec<Routed>), CliError> {
    let (pipeline, plans) = plan_items(config, items, false).await?;
    // Nothing is looked up in a cache, so every plan has a route.
    let routed = plans
        .into_iter()
        .map(|plan| {
            plan.routed
                .ok_or_else(|| Error::internal("a plan without a cache look-up was not routed"))
        })
        .collect::<Result<_, _>>()?;
    Ok((pipeline, routed))
}

pub(super) async fn replay_with(
    config: Config,
    items: &[ReplayItem],
) -> Result<(ReplaySummary, Vec<(String, String)>), CliError> {
    use crate::energy::{account, LocalWork};
    use crate::ledger::{outcome_of, Avoided, CallFacts};
    let source = config.source.display().to_string();
    let (pipeline, routed) = route_items(config, items).await?;
    let energy = &pipeline.config.energy;
    // Replay has no history: the stated prior for an answer to a lookup. (For requests the LLM
    // answers, the call is on both sides and cancels out of the saving.)
    let answer_tokens = energy.local.lookup_answer_tokens;
    let mut summary = ReplaySummary {
        config: source,
        ..ReplaySummary::default()
    };
    let mut routes = Vec::with_capacity(items.len());
    for (item, run) in items.iter().zip(&routed) {
        // In shadow mode, what the routing would do live: that is what a team replays it for.
        let outcome = run.would_serve();
        let work = LocalWork {
            proxy_cpu_s: 0.0,
            search_cpu_s: run.search().and_then(|s| s.cpu_us).unwrap_or(0.0) / 1e6,
            // Replayed requests have no wall time between them to charge the host's baseline.
            host_s: 0.0,
        };
        // The ledger's own mapping, with what replay knows: no measurement, no latency, the
        // stated prior for every answer's length. Routing never answers from the cache (replay
        // measures routing), and the tiers are left out of the saving.
        let accounted = outcome_of(
            &CallFacts {
                served: outcome,
                searched: outcome == Served::Escalated,
                prompt_tokens: item.prompt_tokens,
                completion_tokens: answer_tokens.central,
                latency_s: None,
                requested_model: None,
                tier_review: false,
                measured: None,
            },
            Avoided::Lookup {
                tokens: answer_tokens,
                measured: None,
            },
        );
        let costs = account(&energy.catalogue, &energy.local, &item.model, accounted, work);
        summary.expected_energy_saved_wh = summary.expected_energy_saved_wh + costs.saved.energy_wh;
        summary.expected_cost_saved_usd = summary.expected_cost_saved_usd + costs.saved.cost_usd;
        summary.requests += 1;
        match outcome {
            Served::Search | Served::Cache => summary.search += 1,
            Served::Escalated => summary.escalated += 1,
            Served::Llm | Served::Passthrough | Served::Unrouted => summary.llm += 1,
        }
        routes.push((outcome.as_str().to_string(), run.reason()));
    }
    Ok((summary, routes))
}

/// `replay --json`: one line per input, what `serve` would answer.
pub(super) fn replay_lines(config: Config, items: &[ReplayItem]) -> Result<ExitCode, CliError> {
    let (_, plans) = tokio_runtime()?.block_on(plan_items(config, items, true))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (item, plan) in items.iter().zip(&plans) {
        let served = plan.served();
        let answer = match &plan.action {
            Action::Answered { content, .. } => Some(content.as_str()),
            // What the cache gives back, as `serve` sends it.
            Action::Cached(hit) => Some(hit.answer.content.as_str()),
            Action::Forward(_) => None,
        };
        let line = serde_json::json!({
            "line": item.line,
            "query": item.features.last_user,
            // As the `x-ecoroute-route` header says it.
            "route": match served {
                Served::Search => "search",
                Served::Cache => "cache",
                _ => "llm",
            },
            "served": served.as_str(),
            // An exact cache hit is not routed: the mode is the tenant's.
            "mode": plan.routed.as_ref().map_or(crate::classify::Mode::Route, |r| r.mode).as_str(),
            "reason": &plan.reason,
            "answer": answer,
            "cache": plan.cache.as_str(),
            "tier": plan.tier().map(|t| serde_json::json!({"model": t.cheaper, "why": t.why, "mode": t.mode})),
        });
        writeln!(out, "{line}").map_err(|e| CliError::io("writing to stdout", e))?;
    }
    out.flush().map_err(|e| CliError::io("writing to stdout", e))?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn replay_command(args: &ReplayArgs) -> Result<ExitCode, CliError> {
    let items = replay_items(&args.input)?;
    let config_a = Config::load_offline(&args.config)?;
    if args.json {
        return replay_lines(config_a, &items);
    }
    let config_b = args.compare.as_deref().map(Config::load_offline).transpose()?;
    let (a, b) = tokio_runtime()?.block_on(async {
        let a = replay_with(config_a, &items).await?;
        let b = match config_b {
            Some(c) => Some(replay_with(c, &items).await?),
            None => None,
        };
        Ok::<_, CliError>((a, b))
    })?;
    let changed: Vec<serde_json::Value> = match &b {
        Some((_, routes_b)) => items
            .iter()
            .zip(a.1.iter().zip(routes_b.iter()))
            .filter(|(_, (ra, rb))| ra.0 != rb.0)
            .map(|(item, (ra, rb))| {
                serde_json::json!({"line": item.line, "query": item.features.last_user,
                    "a": {"route": ra.0, "reason": ra.1}, "b": {"route": rb.0, "reason": rb.1}})
            })
            .collect(),
        None => Vec::new(),
    };
    match args.format {
        ReplayFormat::Json => {
            let v = serde_json::json!({"a": a.0, "b": b.as_ref().map(|b| &b.0), "changed": changed});
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ReplayFormat::Text => {
            for summary in std::iter::once(&a.0).chain(b.as_ref().map(|b| &b.0)) {
                let share = |n: usize| 100.0 * n as f64 / summary.requests.max(1) as f64;
                outln!("{} ({} requests)", summary.config, summary.requests);
                outln!(
                    "  answered from search {:>6}  {:5.1}%",
                    summary.search,
                    share(summary.search)
                );
                outln!(
                    "  escalated to the LLM {:>6}  {:5.1}%",
                    summary.escalated,
                    share(summary.escalated)
                );
                outln!("  sent to the LLM      {:>6}  {:5.1}%", summary.llm, share(summary.llm));
                outln!(
                    "  expected energy saved {}, spend avoided ${:.4}\n",
                    crate::report::human(summary.expected_energy_saved_wh, "Wh"),
                    summary.expected_cost_saved_usd.central
                );
            }
            if b.is_some() {
                outln!("{} requests change route between the configs:", changed.len());
                for c in &changed {
                    outln!(
                        "  line {:>5}: {} -> {}  {}\n              A: {}\n              B: {}",
                        c["line"],
                        c["a"]["route"].as_str().unwrap_or(""),
                        c["b"]["route"].as_str().unwrap_or(""),
                        c["query"].as_str().unwrap_or(""),
                        c["a"]["reason"].as_str().unwrap_or(""),
                        c["b"]["reason"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
