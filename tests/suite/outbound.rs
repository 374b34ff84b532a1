//! Outbound webhooks against a receiver (`wiremock`): endpoints, signed test deliveries,
//! the delivery log, 410, timeouts, and the addresses production refuses.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::CompanyId;
use shared::App;
use wiizo_tests::{send, sqlite_store, test_config, Answer, Event};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn app(extra: &[(&str, &str)]) -> App {
    App::new("webhooks", test_config(extra), sqlite_store())
}

async fn register(app: &App, c: &CompanyId, url: &str) -> Answer {
    send(
        app,
        &wiizo_tests::call(
            c,
            Role::Admin,
            "POST",
            "/api/webhooks/register",
            Some(json!({"url": url, "events": ["lead.created", "message.received"]})),
        ),
    )
    .await
}

/// A receiver that answers `first` `times` times, then 200.
async fn flaky_receiver(first: ResponseTemplate, times: u64) -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(first)
        .up_to_n_times(times)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    receiver
}

/// The webhooks function on a fresh store with retries `schedule`, and a company whose
/// admin subscribed `receiver` to `events`.
async fn subscribed(
    schedule: &str,
    receiver: &MockServer,
    events: &[&str],
) -> (App, std::sync::Arc<dyn shared::store::Store>, CompanyId) {
    let store = sqlite_store();
    let app = App::new(
        "webhooks",
        test_config(&[("WEBHOOK_RETRY_SCHEDULE_MS", schedule)]),
        store.clone(),
    );
    let c = wiizo_tests::company();
    let body = json!({"url": receiver.uri(), "events": events});
    let created = send(
        &app,
        &wiizo_tests::call(&c, Role::Admin, "POST", "/api/webhooks", Some(body)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    (app, store, c)
}

#[tokio::test]
async fn a_test_delivery_is_signed_both_ways_and_logged() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("recebido"))
        .mount(&receiver)
        .await;
    let app = app(&[]);
    let c = wiizo_tests::company();
    // GIVEN an endpoint registered the seed's way: a whsec_ secret, shown once
    let created = register(&app, &c, &format!("{}/wiizo", receiver.uri())).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.json["data"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let id = created.json["data"]["id"].as_str().expect("id").to_string();
    let shown = send(
        &app,
        &wiizo_tests::call(&c, Role::Admin, "GET", &format!("/api/webhooks/{id}"), None),
    )
    .await;
    assert!(!shown.text.contains(&secret) && shown.json["data"]["secret"].is_null());
    // WHEN a test ping is sent
    let ping = send(
        &app,
        &wiizo_tests::call(
            &c,
            Role::Admin,
            "POST",
            &format!("/api/webhooks/{id}/test"),
            None,
        ),
    )
    .await;
    assert_eq!(ping.status, 200, "{}", ping.text);
    assert_eq!(
        (
            ping.json["data"]["status"].as_str(),
            ping.json["data"]["http_status"].as_i64()
        ),
        (Some("succeeded"), Some(200))
    );
    // THEN the receiver got the event, signed by both schemes
    let requests = receiver.received_requests().await.unwrap_or_default();
    let r = &requests[0];
    let header = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let body: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(body["event"], "webhook.test");
    assert_eq!(
        header("webhook-id"),
        body["id"].as_str().unwrap_or_default()
    );
    assert!(header("webhook-signature").starts_with("v1,"));
    let ts: i64 = header("webhook-timestamp").parse().expect("timestamp");
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert!(shared::signature::verify_sha256(
        secret.as_bytes(),
        &r.body,
        Some(&header("x-webhook-signature"))
    ));
    // The log shows it; a resend is the next attempt of the same event.
    let delivery = ping.json["data"]["id"]
        .as_str()
        .expect("delivery")
        .to_string();
    let again = send(
        &app,
        &wiizo_tests::call(
            &c,
            Role::Admin,
            "POST",
            &format!("/api/webhooks/{id}/deliveries/{delivery}/retry"),
            None,
        ),
    )
    .await;
    assert_eq!(
        (again.status, again.json["data"]["attempt"].as_i64()),
        (200, Some(2)),
        "{}",
        again.text
    );
    assert_eq!(
        again.json["data"]["event_id"],
        ping.json["data"]["event_id"]
    );
    let log = send(
        &app,
        &wiizo_tests::call(
            &c,
            Role::Admin,
            "GET",
            &format!("/api/webhooks/{id}/deliveries"),
            None,
        ),
    )
    .await;
    let attempts: Vec<i64> = log.json["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["attempt"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(attempts, vec![2, 1]);
    assert_eq!(log.json["data"][1]["response"], "recebido");
    // Agents may not manage webhooks; another company does not see them.
    let agent = send(
        &app,
        &wiizo_tests::call(&c, Role::Agent, "GET", "/api/webhooks", None),
    )
    .await;
    assert_eq!(agent.status, 403);
    let other = send(
        &app,
        &wiizo_tests::call(
            &wiizo_tests::company(),
            Role::Admin,
            "GET",
            &format!("/api/webhooks/{id}"),
            None,
        ),
    )
    .await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_a_slow_receiver_is_cut_at_the_timeout() {
    let gone = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&gone)
        .await;
    let app = app(&[("WEBHOOK_TIMEOUT_MS", "300")]);
    let c = wiizo_tests::company();
    let id = register(&app, &c, &gone.uri()).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let ping = send(
        &app,
        &wiizo_tests::call(
            &c,
            Role::Admin,
            "POST",
            &format!("/api/webhooks/{id}/test"),
            None,
        ),
    )
    .await;
    assert_eq!(ping.json["data"]["status"], "failed");
    let endpoint = send(
        &app,
        &wiizo_tests::call(&c, Role::Admin, "GET", &format!("/api/webhooks/{id}"), None),
    )
    .await;
    assert_eq!(endpoint.json["data"]["active"], false);
    assert!(endpoint.json["data"]["disabled_reason"]
        .as_str()
        .unwrap_or_default()
        .contains("410"));
    // Turning it back on clears the reason.
    let on = send(
        &app,
        &wiizo_tests::call(
            &c,
            Role::Admin,
            "PATCH",
            &format!("/api/webhooks/{id}"),
            Some(json!({"active": true})),
        ),
    )
    .await;
    assert_eq!(
        (
            on.json["data"]["active"].as_bool(),
            &on.json["data"]["disabled_reason"]
        ),
        (Some(true), &Value::Null)
    );

    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&slow)
        .await;
    let id = register(&app, &c, &slow.uri()).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let started = Instant::now();
    let ping = send(
        &app,
        &wiizo_tests::call(
            &c,
            Role::Admin,
            "POST",
            &format!("/api/webhooks/{id}/test"),
            None,
        ),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(ping.json["data"]["status"], "failed");
    assert_eq!(ping.json["data"]["http_status"], Value::Null);
    assert!(ping.json["data"]["response"]
        .as_str()
        .unwrap_or_default()
        .contains("timeout"));
}

#[tokio::test]
async fn production_refuses_what_could_reach_inside_the_network() {
    let app = app(&[
        ("WIIZO_ENV", "production"),
        (
            "JWT_SECRET",
            "a-production-secret-of-at-least-32-bytes-0001",
        ),
        (
            "META_APP_SECRET",
            "a-production-meta-secret-of-32-bytes-000001",
        ),
        (
            "META_VERIFY_TOKEN",
            "a-production-verify-token-of-32-bytes-0001",
        ),
    ]);
    let c = wiizo_tests::company();
    let admin = |body: Value| {
        Event::load("leads-management/list.json")
            .header(
                "authorization",
                &format!(
                    "Bearer {}",
                    shared::auth::mint(
                        "a-production-secret-of-at-least-32-bytes-0001",
                        &shared::auth::TokenClaims::new("admin", &c, Role::Admin, 3600),
                    )
                    .expect("token")
                ),
            )
            .method("POST")
            .path("/api/webhooks")
            .json(&body)
    };
    for url in [
        "http://erp.exemplo.com.br/hooks",
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://localhost/hooks",
        "https://[::1]/hooks",
    ] {
        let a = send(&app, &admin(json!({"url": url, "events": ["*"]}))).await;
        assert_eq!(a.status, 422, "{url}: {}", a.text);
        assert!(
            a.json["error"]["details"]["url"].is_array(),
            "{url}: {}",
            a.text
        );
    }
}

/// A lead's events, through the outbox and the worker: a receiver that fails twice gets a
/// third attempt, each later than the last; fifty updates of one lead arrive in order.
#[tokio::test]
async fn events_are_retried_on_schedule_and_arrive_in_order() {
    use shared::domain::lead::{LeadFields, LeadUpdate};
    use shared::usecase::events::drain;
    let receiver = flaky_receiver(ResponseTemplate::new(500), 2).await;
    let (app, store, c) = subscribed("150,300", &receiver, &["lead.created", "lead.updated"]).await;
    // GIVEN a new lead, and a receiver that answers 500 twice
    let lead = store
        .create_lead(
            &c,
            LeadFields::parse(json!({"name": "Bia"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    // WHEN the worker runs until the receiver has said 200
    let started = Instant::now();
    let mut at = Vec::new();
    while at.len() < 3 && started.elapsed() < Duration::from_secs(5) {
        let d = drain(&app, 100).await.expect("drain");
        for _ in 0..d.deliveries {
            at.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // THEN three attempts, the waits growing as the schedule says
    assert_eq!(at.len(), 3, "{at:?}");
    assert!(
        at[1] - at[0] >= Duration::from_millis(150) && at[2] - at[1] >= Duration::from_millis(300),
        "{at:?}"
    );
    let bodies: Vec<Value> = receiver
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect();
    assert!(bodies
        .iter()
        .all(|b| b["event"] == "lead.created" && b["data"]["id"] == json!(lead.id)));
    assert!(
        bodies.windows(2).all(|w| w[0]["id"] == w[1]["id"]),
        "one event, three attempts"
    );

    // Fifty updates of one lead arrive in their order.
    let mut current = lead;
    for score in 1..=50 {
        let fields = current
            .fields
            .patched(&json!({"score": score}))
            .expect("patch");
        let update = LeadUpdate {
            fields,
            expected_version: current.version,
            changes: vec![],
            by: "t".into(),
        };
        current = store
            .update_lead(&c, current.id, update)
            .await
            .expect("update");
    }
    while drain(&app, 100).await.expect("drain").events > 0 {}
    let scores: Vec<i64> = receiver
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter(|b| b["event"] == "lead.updated")
        .filter_map(|b| b["data"]["score"].as_i64())
        .collect();
    assert_eq!(scores, (1..=50).collect::<Vec<_>>());
}

/// A receiver that answers `Retry-After` gets the time it asked for, not the schedule's.
#[tokio::test]
async fn a_receivers_retry_after_is_honoured() {
    use shared::domain::lead::LeadFields;
    use shared::usecase::events::drain;
    let asks = ResponseTemplate::new(503).insert_header("retry-after", "1");
    let receiver = flaky_receiver(asks, 1).await;
    let (app, store, c) = subscribed("50", &receiver, &["lead.created"]).await;
    store
        .create_lead(
            &c,
            LeadFields::parse(json!({"name": "Rita"})).expect("f"),
            "t",
        )
        .await
        .expect("lead");
    assert_eq!(drain(&app, 100).await.expect("drain").failed, 1);
    // The schedule says 50 ms; the receiver asked for a second.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(drain(&app, 100).await.expect("drain").deliveries, 0);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let d = drain(&app, 100).await.expect("drain");
    assert_eq!((d.deliveries, d.failed), (1, 0));
}

/// An endpoint every delivery of which has failed for five days is turned off, and says
/// why; one answer in between starts the count again.
#[tokio::test]
async fn five_days_of_failures_turn_an_endpoint_off() {
    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&failing)
        .await;
    let store = sqlite_store();
    let app = App::new("webhooks", test_config(&[]), store.clone());
    let c = wiizo_tests::company();
    let id = register(&app, &c, &failing.uri()).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let endpoint = uuid::Uuid::parse_str(&id).expect("uuid");
    let ping = || {
        wiizo_tests::call(
            &c,
            Role::Admin,
            "POST",
            &format!("/api/webhooks/{id}/test"),
            None,
        )
    };
    // A first failure starts the count: still on.
    send(&app, &ping()).await;
    let since = store
        .webhook_failing_since(&c, endpoint)
        .await
        .expect("read");
    assert!(since.is_some());
    let shown = send(
        &app,
        &wiizo_tests::call(&c, Role::Admin, "GET", &format!("/api/webhooks/{id}"), None),
    )
    .await;
    assert_eq!(shown.json["data"]["active"], true);
    // Six days of failures later, the next one turns it off.
    let six_days_ago =
        shared::domain::Timestamp::from_unix_seconds(chrono::Utc::now().timestamp() - 6 * 86_400);
    store
        .set_webhook_failing(&c, endpoint, None)
        .await
        .expect("reset");
    store
        .set_webhook_failing(&c, endpoint, six_days_ago)
        .await
        .expect("backdate");
    send(&app, &ping()).await;
    let shown = send(
        &app,
        &wiizo_tests::call(&c, Role::Admin, "GET", &format!("/api/webhooks/{id}"), None),
    )
    .await;
    assert_eq!(shown.json["data"]["active"], false);
    assert!(
        shown.json["data"]["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("5 days"),
        "{}",
        shown.text
    );
}
