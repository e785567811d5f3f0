//! Against a real PostgreSQL server: full-text search as the search backend, and the ledger shared
//! by two proxies that `report` then reads as one.
//!
//! The server comes from `ECOROUTE_TEST_POSTGRES_URL` (`.ci/run` starts one with
//! `scripts/ci/postgres.sh`). The tests are `#[ignore]`d, so a plain `cargo test` counts them as
//! ignored in its summary instead of passing them unrun; `cargo test -- --include-ignored` (as
//! `.ci/run` does) runs them, and then a missing server is a failure. Each test works in its own
//! new database.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{energy_spent, user, Harness};
use ecoroute::config::Config;
use ecoroute::ledger::LedgerStore;
use ecoroute::search::answer;
use serde_json::Value;

const NEEDS: &str = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored";

fn server_url() -> String {
    std::env::var("ECOROUTE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| panic!("ECOROUTE_TEST_POSTGRES_URL is not set; {NEEDS}"))
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A new, empty database on the test server; returns its URL.
async fn fresh_database(server: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "ecoroute_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    connect(server)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn full_text_search_in_postgres_answers_lookups() {
    let server = server_url();
    let url = fresh_database(&server).await;
    let db = connect(&url).await;
    db.batch_execute(
        "CREATE TABLE documents (
            id text PRIMARY KEY, title text NOT NULL, body text NOT NULL, url text,
            tsv tsvector GENERATED ALWAYS AS
              (setweight(to_tsvector('english', title), 'A') || to_tsvector('english', body)) STORED);
         CREATE INDEX documents_tsv ON documents USING gin (tsv);",
    )
    .await
    .unwrap();
    let corpus = std::fs::read_to_string(crate::support::fixture_corpus()).unwrap();
    for line in corpus.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        db.execute(
            "INSERT INTO documents (id, title, body, url) VALUES ($1, $2, $3, $4)",
            &[
                &doc["id"].as_str(),
                &doc["title"].as_str(),
                &doc["text"].as_str(),
                &doc["url"].as_str(),
            ],
        )
        .await
        .unwrap();
    }

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/postgres.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let config = Config::from_toml_str(&text, &example, &|_| Some(url.clone())).unwrap();
    let backend = ecoroute::search::connect(&config.search).await.unwrap();
    assert_eq!(backend.name(), "postgres");

    let hits = backend.search("What is the capital of Peru?", 5).await.unwrap();
    assert_eq!(hits[0].id, "country/PE/capital", "{hits:?}");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "ranked by ts_rank");
    let a = answer::answer("What is the capital of Peru?", &hits, &config.search.adequacy).unwrap();
    // GeoNames' "The capital of Peru is Lima." or WordNet's gloss of Lima, as the reader weighs
    // them; either way the answer and its source URL come from the same table row.
    assert!(
        a.sentence.contains("Lima") && a.sentence.contains("capital"),
        "{}",
        a.sentence
    );
    let row = hits
        .iter()
        .find(|h| h.url == a.url)
        .expect("the answer's URL is one of the hits");
    assert!(row.text.contains("Lima"), "{row:?}");

    // A question the table cannot answer finds nothing that passes the adequacy check.
    let hits = backend.search("Who wrote Hamlet?", 5).await.unwrap();
    assert!(answer::answer("Who wrote Hamlet?", &hits, &config.search.adequacy).is_err());
    // Quotes and operators in the question are data, not SQL or tsquery syntax.
    backend.search("'); DROP TABLE documents; -- & | !", 5).await.unwrap();
    let count: i64 = db
        .query_one("SELECT count(*) FROM documents", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 11);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn two_proxies_share_one_postgres_ledger_and_report_counts_both() {
    let server = server_url();
    let url = fresh_database(&server).await;
    let store = LedgerStore::postgres(url.clone());
    let start = |store: LedgerStore| {
        Harness::start_with("", move |config| {
            config.ledger.store = Some(store);
            config.ledger.spool = None;
        })
    };
    // Both start at once: the schema lock keeps their migrations apart.
    let (mut a, mut b) = tokio::join!(start(store.clone()), start(store.clone()));
    for i in 0..3 {
        a.chat(user("What is the capital of Peru?")).await;
        b.chat(user(&format!("Write a haiku about rain number {i}"))).await;
    }
    b.chat(user("What is the capital of Chile?")).await;
    a.server.take().unwrap().shutdown().await.unwrap();
    b.server.take().unwrap().shutdown().await.unwrap();

    let rows = ecoroute::ledger::read_store(&store).unwrap();
    assert_eq!(rows.len(), 7, "every request of both proxies is in the one ledger");
    // The repeats of a lookup come from each proxy's own response cache.
    assert_eq!(rows.iter().filter(|r| r.route == "search").count(), 2);
    assert_eq!(rows.iter().filter(|r| r.route == "cache").count(), 2);
    assert!(
        rows.iter().all(|r| r.accounting.is_some()),
        "energy figures are written too"
    );
    assert!(!a.dir.path().join("ledger.sqlite").exists(), "nothing on local disk");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args(["report", "--format", "json", "--ledger", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["requests"], 7, "{report}");
    assert_eq!(report["by_route"]["search"], 2, "{report}");
    assert_eq!(report["by_route"]["cache"], 2, "{report}");
    assert!(report["energy_saved_wh"]["central"].as_f64().unwrap() > 0.0, "{report}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn rows_past_retention_are_deleted_from_postgres() {
    let server = server_url();
    let url = fresh_database(&server).await;
    let base = Config::from_toml_str("", std::path::Path::new("test.toml"), &|_| None).unwrap();
    let store = LedgerStore::postgres(url.clone());
    let ledger_config = |retention| ecoroute::ledger::LedgerConfig {
        store: Some(store.clone()),
        spool: None,
        retention,
        ..base.ledger.clone()
    };
    let old = |i: usize| ecoroute::ledger::LedgerRecord {
        ts_ms: i as i64,
        request_id: format!("old-{i}"),
        route: ecoroute::ledger::RouteTaken::Llm,
        status: 200,
        ..Default::default()
    };
    let (ledger, writer) = ecoroute::ledger::start(&ledger_config(None), &base.energy, Default::default()).unwrap();
    for i in 0..7 {
        ledger.record(old(i));
    }
    writer.unwrap().shutdown().await.unwrap();

    let week = Some(std::time::Duration::from_secs(7 * 86_400));
    let (ledger, writer) = ecoroute::ledger::start(&ledger_config(week), &base.energy, Default::default()).unwrap();
    ledger.record(ecoroute::ledger::LedgerRecord {
        ts_ms: ecoroute::ledger::now_ms(),
        request_id: "today".into(),
        ..old(0)
    });
    writer.unwrap().shutdown().await.unwrap();
    let ids: Vec<String> = tokio::task::spawn_blocking(move || ecoroute::ledger::read_store(&store).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(ids, ["today"]);
}

/// A fleet's ledger from before settings were recorded (schema 3) is migrated in place: its rows
/// stay readable (without a settings hash), new rows name theirs, and the settings are recorded once.
#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn a_schema_3_postgres_ledger_is_migrated_and_records_settings() {
    // Make it a schema-3 ledger: no v4 or v5 columns, no settings table.
    let mut v4 = vec![
        "settings_hash",
        "unpriced",
        "energy_source",
        "measured_gpu_wh",
        "actual_embodied_g_low",
        "actual_embodied_g_central",
        "actual_embodied_g_high",
        "cache_origin",
        "requested_model",
        "tier_shadow_model",
        "tier_review_of",
        "review_answer",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for metric in ["energy_wh", "co2e_g", "water_ml", "cost_usd"] {
        for bound in ["low", "central", "high"] {
            v4.push(format!("tier_shadow_saved_{metric}_{bound}"));
        }
    }
    v4.extend(V5_COLUMNS.map(String::from));
    let drops: Vec<String> = v4.iter().map(|c| format!("DROP COLUMN {c}")).collect();
    let downgrade = format!(
        "ALTER TABLE requests {};
         DROP TABLE energy_settings;
         UPDATE ecoroute_schema SET version = 3;",
        drops.join(", ")
    );
    let (base, (rows, recorded)) = migrated_after("gpt-4o-2024-08-06", &downgrade).await;
    let hashes: Vec<Option<String>> = rows.iter().map(|r| r.settings_hash.clone()).collect();
    assert_eq!(hashes[0], None, "the old row keeps no hash");
    let hash = hashes[1].clone().expect("the new row names its settings");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].hash, hash);
    assert_eq!(recorded[0].settings, base.energy.settings());
    assert_eq!(
        rows[1].model_entry.as_deref(),
        Some("gpt-4o"),
        "v5: the entry that priced it"
    );
    assert_eq!(rows[1].model_match.as_deref(), Some("undated"));
}

/// A fresh fleet ledger with one row of `model` ("before"), taken back to an older schema by
/// `downgrade`, then opened again (which migrates it) and given a second row ("after"): the base
/// config and what the store reads back.
async fn migrated_after(
    model: &str,
    downgrade: &str,
) -> (
    Config,
    (
        Vec<ecoroute::ledger::LedgerRecord>,
        Vec<ecoroute::ledger::StoredSettings>,
    ),
) {
    let server = server_url();
    let url = fresh_database(&server).await;
    let base = Config::from_toml_str("", std::path::Path::new("test.toml"), &|_| None).unwrap();
    let store = LedgerStore::postgres(url.clone());
    let ledger_config = ecoroute::ledger::LedgerConfig {
        store: Some(store.clone()),
        spool: None,
        ..base.ledger.clone()
    };
    let row = |id: &str| ecoroute::ledger::LedgerRecord {
        ts_ms: ecoroute::ledger::now_ms(),
        request_id: id.into(),
        route: ecoroute::ledger::RouteTaken::Llm,
        status: 200,
        model: Some(model.into()),
        ..Default::default()
    };
    let (ledger, writer) = ecoroute::ledger::start(&ledger_config, &base.energy, Default::default()).unwrap();
    ledger.record(row("before"));
    writer.unwrap().shutdown().await.unwrap();
    let db = connect(&url).await;
    db.batch_execute(downgrade).await.unwrap();
    let (ledger, writer) = ecoroute::ledger::start(&ledger_config, &base.energy, Default::default()).unwrap();
    ledger.record(row("after"));
    writer.unwrap().shutdown().await.unwrap();
    let version: i64 = db
        .query_one("SELECT max(version) FROM ecoroute_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, ecoroute::ledger::SCHEMA_VERSION);
    let read =
        tokio::task::spawn_blocking(move || ecoroute::ledger::read_store_with_settings(&store, None, None).unwrap())
            .await
            .unwrap();
    (base, read)
}

/// The v5 columns: the catalogue entry that priced a row, how its name found it, and the bounds
/// of its avoided answer's length.
const V5_COLUMNS: [&str; 4] = [
    "model_entry",
    "model_match",
    "counterfactual_tokens_low",
    "counterfactual_tokens_high",
];

/// A schema-4 fleet ledger gains the v5 columns in place; its rows stay readable.
#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn a_schema_4_postgres_ledger_is_migrated_and_records_the_catalogue_entry() {
    let drops: Vec<String> = V5_COLUMNS.iter().map(|c| format!("DROP COLUMN {c}")).collect();
    let downgrade = format!(
        "ALTER TABLE requests {}; UPDATE ecoroute_schema SET version = 4;",
        drops.join(", ")
    );
    let (_, (rows, _)) = migrated_after("mistral-small", &downgrade).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].model_entry, None, "the old row had no entry recorded");
    assert_eq!(rows[1].model_entry.as_deref(), Some("mistral-small-latest"));
    assert_eq!(rows[1].model_match.as_deref(), Some("family"));
}

/// A schema-5 fleet ledger gains the v6 columns (the deployment that answered, the failed tries,
/// every try) in place; its rows stay readable, without tries.
#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn a_schema_5_postgres_ledger_gains_the_upstream_tries() {
    let downgrade = "ALTER TABLE requests DROP COLUMN deployment, DROP COLUMN failed_tries, DROP COLUMN tries;
                     UPDATE ecoroute_schema SET version = 5;";
    let (_, (rows, _)) = migrated_after("gpt-4o-mini", downgrade).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].deployment.as_deref(),
            rows[0].failed_tries,
            rows[0].tries.as_deref()
        ),
        (None, 0, None)
    );
    assert_eq!(rows[1].request_id, "after", "a row is written after the migration");
}

/// A schema-6 fleet ledger gains the v7 column (the inbound key's name, for the keys' budgets) in
/// place; its rows stay readable.
#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn a_schema_6_postgres_ledger_gains_the_keys_name() {
    let downgrade = "ALTER TABLE requests DROP COLUMN api_key; UPDATE ecoroute_schema SET version = 6;";
    let (_, (rows, _)) = migrated_after("gpt-4o-mini", downgrade).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].api_key, None);
    assert_eq!(rows[1].request_id, "after", "a row is written after the migration");
}

/// Issue #37: a replica starts from the fleet's spend: what another proxy spent for a tenant this
/// month, in the shared ledger, counts against the tenant's budget here.
#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn a_replica_starts_from_the_fleets_spend_in_the_shared_ledger() {
    let url = fresh_database(&server_url()).await;
    let store = LedgerStore::postgres(url.clone());
    let budget =
        |wh: f64| format!("[[limits.tenant]]\nname = \"team-a\"\nbudget_wh = {wh}\nbudget_period = \"month\"\n");
    let start = |extra: String, store: LedgerStore| async move {
        Harness::start_with(&extra, move |config| {
            config.ledger.store = Some(store);
            config.ledger.spool = None;
        })
        .await
    };
    let ask = |h: &Harness| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .header("x-ecoroute-tenant", "team-a")
            .json(&user("Write a limerick"))
            .send()
    };
    let mut a = start(budget(1000.0), store.clone()).await;
    assert_eq!(ask(&a).await.unwrap().status(), 200);
    a.server.take().unwrap().shutdown().await.unwrap();
    let read = store.clone();
    let rows = tokio::task::spawn_blocking(move || ecoroute::ledger::read_store(&read).unwrap())
        .await
        .unwrap();
    let spent = energy_spent(&rows);
    assert!(spent > 0.0);

    let b = start(budget(spent / 0.9), store).await;
    let r = ask(&b).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-ecoroute-budget"],
        "tenant:team-a; budget=wh/month; used=0.90"
    );
}

/// Issue #37: two replicas on one PostgreSQL ledger share a key's requests per minute
/// (`limits.fleet_sync_ms`): two a minute across the fleet, not two on each replica.
#[tokio::test]
#[ignore = "needs PostgreSQL: eval \"$(scripts/ci/postgres.sh)\", then cargo test -- --include-ignored"]
async fn replicas_share_a_keys_rate_through_the_ledger_database() {
    let url = fresh_database(&server_url()).await;
    let store = LedgerStore::postgres(url.clone());
    let key = "sk-eco-fleet-0123456789";
    let extra = format!(
        "[[keys]]\nname = \"ci\"\nhash = \"{}\"\ntenant = \"team-a\"\nlimits = {{ requests_per_minute = 2 }}\n",
        ecoroute::config::keys::hash_key(key)
    );
    let start = |store: LedgerStore| {
        let extra = extra.clone();
        async move {
            Harness::start_with(&extra, move |config| {
                config.ledger.store = Some(store);
                config.ledger.spool = None;
                config.keys.fleet_sync = Some(std::time::Duration::from_millis(100));
            })
            .await
        }
    };
    let (a, b) = tokio::join!(start(store.clone()), start(store.clone()));
    let ask = |h: &Harness| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&user("Write a limerick"))
            .send()
    };
    assert_eq!(ask(&a).await.unwrap().status(), 200);
    assert_eq!(ask(&b).await.unwrap().status(), 200);
    // A few exchanges later each replica knows of the other's request: the minute's two are spent.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(ask(&a).await.unwrap().status(), 429);
    assert_eq!(ask(&b).await.unwrap().status(), 429);
}
