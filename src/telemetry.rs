//! OpenTelemetry traces over OTLP/HTTP, following the GenAI semantic conventions: one server span
//! per request (route, decision, tenant, status), with a `search` child when search ran and a
//! `chat {model}` client child for the LLM call (`gen_ai.*` model, provider and token usage).
//!
//! The spans are written from the request's ledger row when the request ends, with the row's own
//! timings: the server span is exact (arrival to last byte); the children's durations are the
//! row's (search time; the LLM call from its start to the last byte, its time to first byte as an
//! attribute), laid out in order (search first, then the call) rather than clocked at their own
//! start. Building them from the row keeps the handlers free of span plumbing and makes the trace
//! say exactly what the ledger says. There are no retries yet, so a call has one try.
//!
//! Export runs on the SDK's own batch thread (a bounded queue; a full one drops spans rather than
//! wait), never on a serving thread.

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::ledger::{LedgerRecord, RouteTaken};
use crate::Error;

pub(crate) struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traces")
    }
}

impl Traces {
    /// Starts the exporter to `url` (the collector's OTLP/HTTP traces URL).
    pub(crate) fn start(url: &str, service_name: &str) -> Result<Traces, Error> {
        let url = url.to_string();
        // The blocking HTTP client must be built outside the async runtime (it runs its own).
        let exporter = std::thread::spawn(move || {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(url)
                .build()
        })
        .join()
        .map_err(|_| Error::internal("building the OTLP exporter panicked"))?
        .map_err(|e| Error::internal_from("building the OTLP exporter", e))?;
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(service_name.to_string())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("ecoroute");
        Ok(Traces { provider, tracer })
    }

    /// The spans of one finished request.
    pub(crate) fn record(&self, r: &LedgerRecord) {
        let start = UNIX_EPOCH + Duration::from_millis(u64::try_from(r.ts_ms).unwrap_or(0));
        let end = start + Duration::from_secs_f64(r.latency_ms.max(0.0) / 1e3);
        let api = crate::api::Api::of_path(&r.path);
        let name = api.map_or("passthrough", |a| a.path());
        let mut attributes = vec![
            KeyValue::new("url.path", r.path.clone()),
            KeyValue::new("http.response.status_code", i64::from(r.status)),
            KeyValue::new("ecoroute.request_id", r.request_id.clone()),
            KeyValue::new("ecoroute.route", r.served().as_str()),
            KeyValue::new("ecoroute.reason", r.reason.clone()),
        ];
        let optional = [
            ("ecoroute.tenant", r.tenant.clone()),
            ("ecoroute.decided_by", r.decided_by.map(|d| d.as_str().to_string())),
            ("ecoroute.class", r.class.map(|c| c.as_str().to_string())),
            ("gen_ai.request.model", r.model.clone()),
            ("error.type", r.error.clone()),
        ];
        attributes.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| KeyValue::new(k, v))));
        let mut server = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes(attributes)
            .start(&self.tracer);
        if r.status >= 500 {
            server.set_status(Status::error(format!("status {}", r.status)));
        }
        let parent = Context::new().with_remote_span_context(server.span_context().clone());
        let mut at = start;
        if let Some(ms) = r.search_ms {
            let done = at + Duration::from_secs_f64(ms.max(0.0) / 1e3);
            let mut search = self
                .tracer
                .span_builder("search")
                .with_kind(SpanKind::Internal)
                .with_start_time(at)
                .with_attributes([
                    KeyValue::new("ecoroute.search.answered", r.route == RouteTaken::Search),
                    KeyValue::new("ecoroute.answer_source", r.answer_source.clone().unwrap_or_default()),
                ])
                .start_with_context(&self.tracer, &parent);
            search.end_with_timestamp(done);
            at = done;
        }
        if let (RouteTaken::Llm, Some(first_byte_ms)) = (r.route, r.upstream_ms) {
            let model = r.model.clone().unwrap_or_default();
            let provider = if api == Some(crate::api::Api::Messages) {
                "anthropic"
            } else {
                "openai"
            };
            let mut attributes = vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.provider.name", provider),
                KeyValue::new("gen_ai.request.model", model.clone()),
                KeyValue::new("ecoroute.upstream.first_byte_ms", first_byte_ms),
                KeyValue::new(
                    "ecoroute.upstream.tries",
                    i64::from(r.failed_tries) + i64::from(r.deployment.is_some()),
                ),
                KeyValue::new("ecoroute.upstream.failed_tries", i64::from(r.failed_tries)),
            ];
            if let Some(deployment) = &r.deployment {
                attributes.push(KeyValue::new("ecoroute.upstream.deployment", deployment.clone()));
            }
            if let Some(tries) = &r.tries {
                attributes.push(KeyValue::new("ecoroute.upstream.try_outcomes", tries.clone()));
            }
            if let Some(t) = r.prompt_tokens {
                attributes.push(KeyValue::new("gen_ai.usage.input_tokens", i64::from(t)));
            }
            if let Some(t) = r.completion_tokens {
                attributes.push(KeyValue::new("gen_ai.usage.output_tokens", i64::from(t)));
            }
            let mut call = self
                .tracer
                .span_builder(format!("chat {model}"))
                .with_kind(SpanKind::Client)
                .with_start_time(at.min(end))
                .with_attributes(attributes)
                .start_with_context(&self.tracer, &parent);
            if r.status >= 400 {
                call.set_status(Status::error(format!("status {}", r.status)));
            }
            call.end_with_timestamp(end);
        }
        server.end_with_timestamp(end);
    }

    /// Exports what is queued and stops. Blocking: call it off the serving threads.
    pub(crate) fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
        }
    }
}
