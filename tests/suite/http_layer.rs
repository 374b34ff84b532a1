//! What every function shares: health, CORS, request ids, body limits, the log line.

use serde_json::json;
use shared::auth::Role;
use wiizo_tests::{app, company, send, Event};

const FUNCTIONS: [&str; 6] = [
    "leads-management",
    "whatsapp-api",
    "webhooks",
    "openai-proxy",
    "analytics",
    "accounts",
];

#[tokio::test]
async fn every_function_answers_its_health_route() {
    for f in FUNCTIONS {
        let app = app(f);
        for path in [format!("/health/{f}"), "/health".to_string()] {
            let a = send(&app, &Event::load(&format!("{f}/health.json")).path(&path)).await;
            assert_eq!(a.status, 200, "{f} {path}: {}", a.text);
            assert_eq!(a.json["status"], "healthy");
            assert_eq!(a.json["checks"]["store"]["status"], "up");
            assert!(a.json["checks"]["store"]["latency_ms"].is_number());
            assert!(a.json["timestamp"].is_string());
            assert!(a.header("x-request-id").is_some());
        }
    }
}

#[tokio::test]
async fn functions_without_routes_yet_answer_a_clear_404() {
    let c = company();
    for f in FUNCTIONS.iter().filter(|f| **f != "leads-management") {
        let app = app(f);
        let a = send(
            &app,
            &Event::load("leads-management/list.json")
                .path("/api/anything")
                .as_user(&c, Role::Owner),
        )
        .await;
        assert_eq!((a.status, a.error_code()), (404, "NOT_FOUND"), "{f}");
        assert_eq!(a.json["success"], false);
    }
}

#[tokio::test]
async fn preflight_answers_204_with_the_cors_headers() {
    let app = app("leads-management");
    let a = send(&app, &Event::load("leads-management/preflight.json")).await;
    assert_eq!(a.status, 204);
    assert_eq!(a.header("access-control-allow-origin"), Some("*"));
    let allowed = a.header("access-control-allow-headers").unwrap_or_default();
    for h in [
        "authorization",
        "x-client-info",
        "apikey",
        "content-type",
        "x-api-key",
        "idempotency-key",
    ] {
        assert!(allowed.contains(h), "{h} allowed");
    }
    assert!(a
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PATCH")));
    assert_eq!(a.header("access-control-max-age"), Some("86400"));
    assert!(a.text.is_empty());
}

#[tokio::test]
async fn only_listed_origins_get_cors_headers() {
    let config = wiizo_tests::test_config(&[("ALLOWED_ORIGINS", "https://app.wiizo.chat")]);
    let app = shared::App::new("leads-management", config, wiizo_tests::sqlite_store());
    let c = company();
    let ok = send(
        &app,
        &Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .header("origin", "https://app.wiizo.chat"),
    )
    .await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.wiizo.chat")
    );
    let other = send(
        &app,
        &Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = app("leads-management");
    let c = company();
    let list = Event::load("leads-management/list.json").as_user(&c, Role::Agent);
    let echoed = send(&app, &list.clone().header("x-request-id", "req-abc.123")).await;
    assert_eq!(echoed.header("x-request-id"), Some("req-abc.123"));
    let insane = send(
        &app,
        &list.clone().header("x-request-id", "bad id with spaces\""),
    )
    .await;
    let generated = insane.header("x-request-id").expect("an id");
    assert_ne!(generated, "bad id with spaces\"");
    assert!(!generated.is_empty());
    let failed = send(
        &app,
        &list
            .without_header("authorization")
            .without_header("x-request-id"),
    )
    .await;
    assert_eq!(failed.status, 401);
    assert!(failed.header("x-request-id").is_some());
    assert_eq!(failed.header("cache-control"), Some("no-store"));
    assert_eq!(failed.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn bodies_over_1_mib_are_refused_and_base64_bodies_are_decoded() {
    let app = app("leads-management");
    let c = company();
    let create = Event::load("leads-management/create.json").as_user(&c, Role::Agent);
    let big = json!({"name": "Grande", "notes": "x".repeat(1024 * 1024)});
    let a = send(&app, &create.clone().json(&big)).await;
    assert_eq!((a.status, a.error_code()), (413, "PAYLOAD_TOO_LARGE"));
    let body = json!({"name": "Codificado", "notes": "não ção 🎉"}).to_string();
    let a = send(&app, &create.base64_body(body.as_bytes())).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json["data"]["notes"], "não ção 🎉");
}

#[tokio::test]
async fn each_request_logs_one_json_line_with_the_fields_of_section_10() {
    let app = app("leads-management");
    let c = company();
    let (logs, _guard) = wiizo_tests::logs::capture();
    let a = send(
        &app,
        &Event::load("leads-management/list.json")
            .as_user(&c, Role::Agent)
            .header("x-request-id", "trace-42"),
    )
    .await;
    assert_eq!(a.status, 200);
    let lines = logs.lines();
    let requests: Vec<_> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 1, "{lines:?}");
    let line = requests[0];
    for field in [
        "timestamp",
        "level",
        "message",
        "service",
        "cold_start",
        "function_request_id",
        "correlation_id",
        "company_id",
        "method",
        "path",
        "status",
        "duration_ms",
    ] {
        assert!(line.get(field).is_some(), "{field} in {line}");
    }
    assert_eq!(line["service"], "leads-management");
    assert_eq!(line["correlation_id"], "trace-42");
    assert_eq!(line["company_id"], c.as_str());
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/api/leads");
    assert_eq!(line["status"], 200);
    assert!(
        !lines.iter().any(|l| l.to_string().contains("Bearer")),
        "no credentials in logs"
    );
}
