//! A traffic mix through the real server, then `ecoroute report`: the totals must match the ledger
//! row by row.

use crate::support::*;
use serde_json::Value;

#[tokio::test]
async fn report_totals_match_the_ledger_row_by_row() {
    let mut h = Harness::start().await;
    let mix = [
        ("What is the capital of Peru?", "team-a"),
        ("What is the capital of Chile?", "team-a"),
        ("What is the capital of France?", "team-b"),
        ("Write a limerick about Lima", "team-a"),
        ("Write a poem about Santiago", "team-b"),
    ];
    for (text, tenant) in mix {
        let r = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("x-ecoroute-tenant", tenant)
            .json(&user(text))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let _ = h
        .chat(user_stream("What is the capital of Peru?"))
        .await
        .text()
        .await
        .unwrap();
    let _ = h.client.get(h.url("/v1/models")).send().await.unwrap();
    let rows = h.stop().await;
    assert_eq!(rows.len(), 7);

    let ledger = h.ledger_path();
    let run = |by: &str| serde_json::from_str::<Value>(&crate::support::run_report(&ledger, by, "json")).unwrap();
    let report = run("route");
    assert_eq!(report["requests"], 7);
    let count = |route: &str| rows.iter().filter(|r| r.route == route && !r.escalated).count() as u64;
    assert_eq!(report["by_route"]["search"].as_u64().unwrap(), count("search"));
    assert_eq!(report["by_route"]["llm"].as_u64().unwrap(), count("llm"));
    assert_eq!(report["by_route"]["passthrough"], 1);
    assert!(count("search") >= 3, "the lookups were answered from search");
    for bound in ["low", "central", "high"] {
        let pick = |r: &ecoroute::energy::Range| match bound {
            "low" => r.low,
            "central" => r.central,
            _ => r.high,
        };
        let energy: f64 = rows
            .iter()
            .map(|r| pick(&r.accounting.unwrap().costs.saved.energy_wh))
            .sum();
        let cost: f64 = rows
            .iter()
            .map(|r| pick(&r.accounting.unwrap().costs.saved.cost_usd))
            .sum();
        assert!(
            (report["energy_saved_wh"][bound].as_f64().unwrap() - energy).abs() < 1e-12,
            "{bound}"
        );
        assert!(
            (report["cost_saved_usd"][bound].as_f64().unwrap() - cost).abs() < 1e-15,
            "{bound}"
        );
    }
    assert!(
        report["energy_saved_wh"]["low"].as_f64().unwrap() > 0.0,
        "lookups saved more than the rest cost"
    );
    assert_eq!(
        report["method_version"].as_str().unwrap(),
        ecoroute::energy::METHOD_VERSION
    );

    let by_tenant = run("tenant");
    let keys: Vec<&str> = by_tenant["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"team-a") && keys.contains(&"team-b"), "{keys:?}");
    let group_sum: u64 = by_tenant["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(group_sum, 7);
}
