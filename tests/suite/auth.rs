//! Who may call: JWTs verified with the configured secret, every failure a 401 envelope.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use shared::auth::Role;
use wiizo_tests::{app, company, send, token, Event, TEST_JWT_SECRET};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signed")
}

fn list() -> Event {
    Event::load("leads-management/list.json")
}

#[tokio::test]
async fn every_bad_credential_is_a_401_envelope() {
    let app = app("leads-management");
    let c = company();
    let good = json!({"sub": "u1", "company_id": c.as_str(), "exp": now() + 600});
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let cases: Vec<(&str, Event, &str)> = vec![
        ("no token", list().without_header("authorization"), "UNAUTHORIZED"),
        ("not bearer", list().header("authorization", "Basic dXNlcjpwYXNz"), "UNAUTHORIZED"),
        ("wrong signature", list().bearer(&sign(&good, Algorithm::HS256, "another-secret-another-secret-xx")), "UNAUTHORIZED"),
        ("expired", list().bearer(&sign(&json!({"sub": "u1", "company_id": c.as_str(), "exp": now() - 3600}), Algorithm::HS256, TEST_JWT_SECRET)), "UNAUTHORIZED"),
        ("not yet valid", list().bearer(&sign(&json!({"sub": "u1", "company_id": c.as_str(), "exp": now() + 7200, "nbf": now() + 3600}), Algorithm::HS256, TEST_JWT_SECRET)), "UNAUTHORIZED"),
        ("alg none", list().bearer(&unsigned), "UNAUTHORIZED"),
        ("another algorithm", list().bearer(&sign(&good, Algorithm::HS512, TEST_JWT_SECRET)), "UNAUTHORIZED"),
        ("no company", list().bearer(&sign(&json!({"sub": "u1", "exp": now() + 600}), Algorithm::HS256, TEST_JWT_SECRET)), "UNAUTHORIZED"),
        ("no exp", list().bearer(&sign(&json!({"sub": "u1", "company_id": c.as_str()}), Algorithm::HS256, TEST_JWT_SECRET)), "UNAUTHORIZED"),
        ("garbage JWT", list().bearer("eyJhbGciOi.x.y"), "UNAUTHORIZED"),
        ("unknown API key", list().bearer("wz_live_not_a_key"), "INVALID_API_KEY"),
        ("unknown X-API-Key", list().without_header("authorization").header("x-api-key", "wz_live_nope"), "INVALID_API_KEY"),
    ];
    for (what, event, code) in cases {
        let a = send(&app, &event).await;
        assert_eq!(a.status, 401, "{what}: {}", a.text);
        assert_eq!(a.json["success"], false, "{what}");
        assert_eq!(a.error_code(), code, "{what}");
        assert!(a.json["error"]["message"].is_string(), "{what}");
    }
}

#[tokio::test]
async fn supabase_tokens_carry_the_company_in_app_metadata() {
    let app = app("leads-management");
    let c = company();
    let supabase = json!({
        "sub": "8d0c1a4e-5b2f-4c3d-9e8f-7a6b5c4d3e2f", "aud": "authenticated", "role": "authenticated",
        "email": "vendas@padaria.com.br", "exp": now() + 600,
        "app_metadata": {"provider": "email", "company_id": c.as_str()}
    });
    let a = send(
        &app,
        &list().bearer(&sign(&supabase, Algorithm::HS256, TEST_JWT_SECRET)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // `authenticated` is no WiizoChat role: such a user is an agent, who may write.
    let created = send(
        &app,
        &Event::load("leads-management/create.json").bearer(&sign(
            &supabase,
            Algorithm::HS256,
            TEST_JWT_SECRET,
        )),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["data"]["company_id"], c.as_str());
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let config = wiizo_tests::test_config(&[
        ("JWT_ISSUER", "https://auth.wiizo.chat"),
        ("JWT_AUDIENCE", "wiizo-api"),
    ]);
    let app = shared::App::new("leads-management", config, wiizo_tests::sqlite_store());
    let c = company();
    let claims = |iss: &str, aud: &str| json!({"sub": "u", "company_id": c.as_str(), "exp": now() + 600, "iss": iss, "aud": aud});
    let ok = send(
        &app,
        &list().bearer(&sign(
            &claims("https://auth.wiizo.chat", "wiizo-api"),
            Algorithm::HS256,
            TEST_JWT_SECRET,
        )),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    for (iss, aud) in [
        ("https://evil.example", "wiizo-api"),
        ("https://auth.wiizo.chat", "other"),
    ] {
        let a = send(
            &app,
            &list().bearer(&sign(&claims(iss, aud), Algorithm::HS256, TEST_JWT_SECRET)),
        )
        .await;
        assert_eq!(a.status, 401, "{iss} {aud}");
    }
}

#[tokio::test]
async fn a_configured_issuer_and_audience_are_required() {
    let config = wiizo_tests::test_config(&[
        ("JWT_ISSUER", "https://auth.wiizo.chat"),
        ("JWT_AUDIENCE", "wiizo-api"),
    ]);
    let app = shared::App::new("leads-management", config, wiizo_tests::sqlite_store());
    let c = company();
    let base = json!({"sub": "u", "company_id": c.as_str(), "exp": now() + 600});
    for (missing, claims) in [
        ("iss", {
            let mut v = base.clone();
            v["aud"] = json!("wiizo-api");
            v
        }),
        ("aud", {
            let mut v = base.clone();
            v["iss"] = json!("https://auth.wiizo.chat");
            v
        }),
        ("both", base.clone()),
    ] {
        let a = send(
            &app,
            &list().bearer(&sign(&claims, Algorithm::HS256, TEST_JWT_SECRET)),
        )
        .await;
        assert_eq!(
            (a.status, a.error_code()),
            (401, "UNAUTHORIZED"),
            "without {missing}"
        );
    }
    // Without the settings, neither claim is needed.
    let open = shared::App::new(
        "leads-management",
        wiizo_tests::test_config(&[]),
        wiizo_tests::sqlite_store(),
    );
    let a = send(
        &open,
        &list().bearer(&sign(&base, Algorithm::HS256, TEST_JWT_SECRET)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_valid_token_for_each_role_is_accepted() {
    let app = app("leads-management");
    let c = company();
    for role in [Role::Owner, Role::Admin, Role::Agent, Role::Viewer] {
        let a = send(&app, &list().bearer(&token(&c, role))).await;
        assert_eq!(a.status, 200, "{role:?}");
    }
}
