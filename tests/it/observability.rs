//! Issue #37: Prometheus series per model (requests, input and output tokens, upstream latency),
//! time to first token, and the energy and spend counters, checked against the ledger's rows.

use serde_json::json;

use crate::support::*;

/// The value of one series, e.g. `ecoroute_cost_usd_total`.
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

#[tokio::test]
async fn tokens_latency_and_energy_series_match_the_ledger() {
    let mut h = Harness::start().await;
    assert_eq!(h.chat(user("Write a limerick about Lima")).await.status(), 200);
    // Streamed, 400 ms between chunks: the first chunk's time is well before the end.
    let streamed = h.chat(user_stream("Write a limerick __pause")).await;
    assert_eq!(streamed.status(), 200);
    let _ = streamed.text().await.unwrap();
    let mut lookup = user("What is the capital of Peru?");
    lookup["model"] = json!("gpt-4.1");
    assert_eq!(h.chat(lookup).await.status(), 200);
    // Drain the ledger (the metrics stay readable on the state) and compare with its rows.
    let state = std::sync::Arc::clone(&h.server.as_ref().unwrap().state);
    let rows = h.stop().await;
    let metrics = state.metrics.encode();

    let llm: Vec<_> = rows.iter().filter(|r| r.route == "llm").collect();
    assert_eq!(llm.len(), 2);
    let input: u32 = llm.iter().filter_map(|r| r.prompt_tokens).sum();
    let output: u32 = llm.iter().filter_map(|r| r.completion_tokens).sum();
    assert!(input > 0 && output > 0);
    assert_eq!(
        value(&metrics, "ecoroute_input_tokens_total{model=\"gpt-4o-mini\"}"),
        f64::from(input)
    );
    assert_eq!(
        value(&metrics, "ecoroute_output_tokens_total{model=\"gpt-4o-mini\"}"),
        f64::from(output)
    );
    // Search answers have their per-model series, but no upstream tokens or latency.
    assert_eq!(
        value(
            &metrics,
            "ecoroute_model_requests_total{model=\"gpt-4.1\",route=\"search\",status=\"2xx\"}"
        ),
        1.0
    );
    assert!(!metrics.contains("ecoroute_input_tokens_total{model=\"gpt-4.1\"}"));
    assert_eq!(
        value(
            &metrics,
            "ecoroute_upstream_latency_seconds_count{model=\"gpt-4o-mini\"}"
        ),
        2.0
    );
    let upstream_s: f64 = llm.iter().filter_map(|r| r.upstream_ms).sum::<f64>() / 1e3;
    let sum = value(&metrics, "ecoroute_upstream_latency_seconds_sum{model=\"gpt-4o-mini\"}");
    assert!((sum - upstream_s).abs() < 1e-9, "{sum} vs {upstream_s}");

    // Only the streamed answer has a first token; it came before the 400 ms pauses.
    assert_eq!(
        value(
            &metrics,
            "ecoroute_time_to_first_token_seconds_count{api=\"chat_completions\"}"
        ),
        1.0
    );
    let ttft = value(
        &metrics,
        "ecoroute_time_to_first_token_seconds_sum{api=\"chat_completions\"}",
    );
    let stream_row = llm.iter().find(|r| r.stream).unwrap();
    assert!(
        ttft > 0.0 && ttft * 1e3 < stream_row.latency_ms - 300.0,
        "{ttft} s vs {} ms",
        stream_row.latency_ms
    );

    // Energy and spend: the ledger's own central figures, summed.
    let energy = energy_spent(&rows);
    let cost: f64 = rows
        .iter()
        .map(|r| r.accounting.unwrap().costs.actual.cost_usd.central)
        .sum();
    assert!(energy > 0.0 && cost > 0.0);
    let e = value(&metrics, "ecoroute_energy_used_wh_total");
    let c = value(&metrics, "ecoroute_cost_usd_total");
    assert!((e - energy).abs() < 1e-9 * energy.max(1.0), "{e} vs {energy}");
    assert!((c - cost).abs() < 1e-9 * cost.max(1.0), "{c} vs {cost}");
    assert!(value(&metrics, "ecoroute_energy_avoided_wh_total") > 0.0);
}

/// Issue #34: one set of ledger counters. After N requests the rows `/metrics` says were written,
/// the ledger's own count and the rows in the ledger file are the same number.
#[tokio::test]
async fn rows_written_in_metrics_are_the_rows_in_the_ledger_file() {
    let mut h = Harness::start().await;
    let asked = ["What is the capital of Peru?", "Write a limerick about Lima"];
    for i in 0..7 {
        assert_eq!(h.chat(user(asked[i % 2])).await.status(), 200);
    }
    let state = std::sync::Arc::clone(&h.server.as_ref().unwrap().state);
    let rows = h.stop().await;
    let metrics = state.metrics.encode();
    assert_eq!(rows.len(), 7);
    assert_eq!(value(&metrics, "ecoroute_ledger_rows_written_total"), rows.len() as f64);
    assert_eq!(state.ledger.stats().written(), rows.len() as u64);
    assert_eq!(value(&metrics, "ecoroute_ledger_rows_dropped_total"), 0.0);
    assert_eq!(state.ledger.stats().dropped(), 0);
}

/// Model names are the client's text: only so many get a series of their own.
#[tokio::test]
async fn model_series_are_bounded() {
    let h = Harness::start().await;
    for i in 0..(ecoroute::metrics::MAX_MODEL_SERIES + 6) {
        let mut lookup = user("What is the capital of Peru?");
        lookup["model"] = json!(format!("made-up-{i}"));
        assert_eq!(h.chat(lookup).await.status(), 200);
    }
    let metrics = h.metrics().await;
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("ecoroute_model_requests_total{"))
        .count();
    assert_eq!(series, ecoroute::metrics::MAX_MODEL_SERIES + 1, "{metrics}");
    assert_eq!(
        value(
            &metrics,
            "ecoroute_model_requests_total{model=\"other\",route=\"search\",status=\"2xx\"}"
        ),
        6.0
    );
}

/// OpenTelemetry: a tiny OTLP/HTTP receiver on port 0 takes what the proxy exports; every ledger
/// row has its server span, with a `search` child for a search answer and a `chat {model}` client
/// child carrying the GenAI attributes for an LLM call.
#[tokio::test]
async fn traces_reach_an_otlp_receiver_with_the_genai_attributes() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use prost::Message;

    let received: std::sync::Arc<std::sync::Mutex<Vec<ExportTraceServiceRequest>>> = Default::default();
    let store = std::sync::Arc::clone(&received);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            store
                .lock()
                .unwrap()
                .push(ExportTraceServiceRequest::decode(body).unwrap());
            ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut h = Harness::start_with(
        &format!("[telemetry]\notlp_traces_url = \"http://{addr}/v1/traces\"\nservice_name = \"eco-test\"\n"),
        |_| {},
    )
    .await;
    assert_eq!(h.chat(user("Write a limerick about Lima")).await.status(), 200);
    assert_eq!(h.chat(user("What is the capital of Peru?")).await.status(), 200);
    // Shutdown exports what is queued.
    let rows = h.stop().await;

    let requests = received.lock().unwrap().clone();
    let resource = requests[0].resource_spans[0].resource.clone().unwrap();
    let attr = |attrs: &[KeyValue], key: &str| -> Option<Any> {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(
        attr(&resource.attributes, "service.name"),
        Some(Any::StringValue("eco-test".into()))
    );
    let spans: Vec<_> = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    for row in &rows {
        let server = spans
            .iter()
            .find(|s| attr(&s.attributes, "ecoroute.request_id") == Some(Any::StringValue(row.request_id.clone())))
            .unwrap_or_else(|| panic!("no span for {}", row.request_id));
        assert_eq!(server.kind, SpanKind::Server as i32);
        assert_eq!(server.name, "/v1/chat/completions");
        assert_eq!(
            attr(&server.attributes, "ecoroute.route"),
            Some(Any::StringValue(row.served().as_str().into()))
        );
        let children: Vec<_> = spans
            .iter()
            .filter(|s| s.trace_id == server.trace_id && s.parent_span_id == server.span_id)
            .collect();
        match row.route.as_str() {
            "llm" => {
                let call = children.iter().find(|s| s.name == "chat gpt-4o-mini").unwrap();
                assert_eq!(call.kind, SpanKind::Client as i32);
                assert_eq!(
                    attr(&call.attributes, "gen_ai.usage.input_tokens"),
                    Some(Any::IntValue(i64::from(row.prompt_tokens.unwrap())))
                );
                assert_eq!(
                    attr(&call.attributes, "gen_ai.usage.output_tokens"),
                    Some(Any::IntValue(i64::from(row.completion_tokens.unwrap())))
                );
                assert_eq!(
                    attr(&call.attributes, "gen_ai.provider.name"),
                    Some(Any::StringValue("openai".into()))
                );
                assert!(call.end_time_unix_nano == server.end_time_unix_nano);
                // Without [[llm.deployments]], `[llm]` is the one implicit deployment, tried once.
                assert_eq!(
                    attr(&call.attributes, "ecoroute.upstream.deployment"),
                    Some(Any::StringValue("default".into()))
                );
                assert_eq!(
                    attr(&call.attributes, "ecoroute.upstream.try_outcomes"),
                    Some(Any::StringValue("default:ok".into()))
                );
                assert_eq!(
                    attr(&call.attributes, "ecoroute.upstream.tries"),
                    Some(Any::IntValue(1))
                );
            }
            "search" => {
                let search = children.iter().find(|s| s.name == "search").unwrap();
                assert_eq!(
                    attr(&search.attributes, "ecoroute.search.answered"),
                    Some(Any::BoolValue(true))
                );
                assert!(children.iter().all(|s| !s.name.starts_with("chat")));
            }
            other => panic!("unexpected route {other}"),
        }
    }
}
