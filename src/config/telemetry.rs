//! `[telemetry]`: OpenTelemetry traces over OTLP/HTTP, off unless a collector's URL is given.

use serde::{Deserialize, Serialize};

use super::{problem, Problem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTelemetry {
    /// The collector's OTLP/HTTP traces URL, path included (e.g. `http://127.0.0.1:4318/v1/traces`).
    pub otlp_traces_url: Option<String>,
    pub service_name: String,
}

impl Default for RawTelemetry {
    fn default() -> Self {
        Self {
            otlp_traces_url: None,
            service_name: "ecoroute".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TelemetryConfig {
    pub otlp_traces_url: Option<String>,
    pub service_name: String,
}

pub(super) fn validate_telemetry(raw: RawTelemetry, problems: &mut Vec<Problem>) -> TelemetryConfig {
    let url = raw.otlp_traces_url.filter(|u| {
        let ok = url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
        if !ok {
            problems.push(problem(
                "telemetry.otlp_traces_url",
                format!("`{u}` is not an http(s) URL"),
                "give the collector's OTLP/HTTP traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\", or leave it out",
            ));
        }
        ok
    });
    if raw.service_name.trim().is_empty() {
        problems.push(problem(
            "telemetry.service_name",
            "empty",
            "name the service as the trace backend should show it, e.g. \"ecoroute\"",
        ));
    }
    TelemetryConfig {
        otlp_traces_url: url,
        service_name: raw.service_name,
    }
}
