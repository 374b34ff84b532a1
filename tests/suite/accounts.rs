//! accounts: API keys, channels, company settings; and what every route gets from them:
//! API-key authentication, shared rate limits and Idempotency-Key.

use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::CompanyId;
use shared::App;
use wiizo_tests::{
    app_on, dynamo_store_on, dynamodb_endpoint, send, sqlite_store, temp_db_path, Event,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The accounts and leads functions on one store, and a company that exists in it.
async fn setup() -> (App, App, CompanyId) {
    let store = sqlite_store();
    let company = store
        .create_company(&format!("Empresa {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id;
    (
        app_on("accounts", store.clone()),
        app_on("leads-management", store),
        company,
    )
}

/// `accounts` talking to a fake Graph API that shows the example number to any token:
/// channel ownership has its own test (hardening).
async fn with_fake_graph(accounts: App) -> (App, MockServer) {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/106540352242922"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "106540352242922", "display_phone_number": "+55 11 4000-0000", "verified_name": "Vendas SP"})))
        .mount(&graph)
        .await;
    let app = App::new(
        "accounts",
        wiizo_tests::test_config(&[("META_GRAPH_URL", &graph.uri())]),
        accounts.store.clone(),
    );
    (app, graph)
}

fn req(method: &str, path: &str, c: &CompanyId, role: Role) -> Event {
    Event::load("leads-management/list.json")
        .as_user(c, role)
        .method(method)
        .path(path)
}

fn leads() -> Event {
    Event::load("leads-management/list.json").without_header("authorization")
}

#[tokio::test]
async fn an_api_key_works_alone_until_revoked_and_never_shows_again() {
    let (accounts, leads_fn, c) = setup().await;
    let (logs, _guard) = wiizo_tests::logs::capture();
    // GIVEN an admin creates a key
    let created = send(
        &accounts,
        &req("POST", "/api/api-keys", &c, Role::Admin)
            .json(&json!({"name": "ERP", "scopes": ["read", "write"]})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let key = created.json["data"]["key"]
        .as_str()
        .expect("the key, once")
        .to_string();
    let key_id = created.json["data"]["id"].as_str().expect("id").to_string();
    assert!(key.starts_with("wzk_") && key.len() > 40);
    // WHEN the key alone calls the API, in each of its three forms
    for event in [
        leads().header("x-api-key", &key),
        leads().header("apikey", &key),
        leads().bearer(&key),
    ] {
        let a = send(&leads_fn, &event).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let made = send(
        &leads_fn,
        &Event::load("leads-management/create.json")
            .without_header("authorization")
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(made.status, 201);
    assert_eq!(made.json["data"]["company_id"], c.as_str());
    // THEN listing keys shows it without the key
    let listed = send(&accounts, &req("GET", "/api/api-keys", &c, Role::Owner)).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json["data"][0]["name"], "ERP");
    assert!(listed.json["data"][0]["last_used_at"].is_string());
    assert!(!listed.text.contains(&key));
    // WHEN it is revoked THEN it is refused
    let revoked = send(
        &accounts,
        &req(
            "DELETE",
            &format!("/api/api-keys/{key_id}"),
            &c,
            Role::Admin,
        ),
    )
    .await;
    assert_eq!(
        (revoked.status, revoked.json["message"].as_str()),
        (200, Some("API key revoked"))
    );
    let refused = send(&leads_fn, &leads().header("x-api-key", &key)).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, "INVALID_API_KEY")
    );
    let listed = send(&accounts, &req("GET", "/api/api-keys", &c, Role::Owner)).await;
    assert_eq!(listed.json["data"][0]["active"], false);
    assert!(!listed.text.contains(&key));
    // AND no log line ever held the key
    let lines = logs.lines();
    assert!(lines.len() >= 8);
    assert!(!lines.iter().any(|l| l.to_string().contains(&key)));
}

#[tokio::test]
async fn viewers_read_only_and_agents_do_not_manage() {
    let (accounts, leads_fn, c) = setup().await;
    let viewer_key = send(
        &accounts,
        &req("POST", "/api/api-keys", &c, Role::Owner)
            .json(&json!({"name": "BI", "scopes": ["read"]})),
    )
    .await
    .json["data"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let as_key = |e: Event| {
        e.without_header("authorization")
            .header("x-api-key", &viewer_key)
    };
    // A read-only key and a viewer's token read...
    assert_eq!(send(&leads_fn, &as_key(leads())).await.status, 200);
    assert_eq!(
        send(&accounts, &req("GET", "/api/company", &c, Role::Viewer))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&accounts, &req("GET", "/api/channels", &c, Role::Viewer))
            .await
            .status,
        200
    );
    // ...and every write is 403.
    let writes = [
        (&leads_fn, Event::load("leads-management/create.json")),
        (&accounts, req("PATCH", "/api/company", &c, Role::Viewer).json(&json!({"name": "X"}))),
        (&accounts, req("POST", "/api/api-keys", &c, Role::Viewer).json(&json!({"name": "X"}))),
        (&accounts, req("POST", "/api/channels", &c, Role::Viewer).json(&json!({"channel": "whatsapp", "external_id": "1", "name": "x", "access_token": "t"}))),
    ];
    for (app, event) in writes {
        for e in [event.clone().as_user(&c, Role::Viewer), as_key(event)] {
            let a = send(app, &e).await;
            assert_eq!(
                (a.status, a.error_code()),
                (403, "FORBIDDEN"),
                "{}",
                e.0["rawPath"]
            );
        }
    }
    // An agent writes leads but manages neither keys nor channels.
    for e in [
        req("GET", "/api/api-keys", &c, Role::Agent),
        req("POST", "/api/api-keys", &c, Role::Agent).json(&json!({"name": "X"})),
        req("POST", "/api/channels", &c, Role::Agent).json(
            &json!({"channel": "whatsapp", "external_id": "1", "name": "x", "access_token": "t"}),
        ),
        req("PATCH", "/api/company", &c, Role::Agent).json(&json!({"name": "X"})),
    ] {
        assert_eq!(send(&accounts, &e).await.status, 403, "{}", e.0["rawPath"]);
    }
}

#[tokio::test]
async fn a_channel_token_is_stored_for_sending_and_never_answered() {
    let (accounts, _, c) = setup().await;
    let (accounts, _graph) = with_fake_graph(accounts).await;
    let token = "EAAGm0PX4ZCpsBAKZBsecretvalue7Q9w";
    let body = json!({"channel": "whatsapp", "external_id": "106540352242922", "name": "Vendas SP", "access_token": token});
    let created = send(
        &accounts,
        &req("POST", "/api/channels", &c, Role::Admin).json(&body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["data"]["token_hint"], "…7Q9w");
    let id = created.json["data"]["id"].as_str().expect("id").to_string();
    let path = format!("/api/channels/{id}");
    let answers = [
        created,
        send(&accounts, &req("GET", "/api/channels", &c, Role::Agent)).await,
        send(&accounts, &req("GET", &path, &c, Role::Agent)).await,
        send(
            &accounts,
            &req("PATCH", &path, &c, Role::Admin).json(&json!({"name": "Vendas"})),
        )
        .await,
    ];
    for a in &answers {
        assert!(a.status < 300, "{}", a.text);
        assert!(!a.text.contains("secretvalue"), "{}", a.text);
    }
    // The code that sends reads it from the store.
    let uuid = uuid::Uuid::parse_str(&id).expect("uuid");
    assert_eq!(
        accounts
            .store
            .channel_token(&c, uuid)
            .await
            .expect("token")
            .expose(),
        token
    );
    // The same number in another company is refused without telling whose it is.
    let other = CompanyId::new(uuid::Uuid::now_v7().to_string());
    let clash = send(
        &accounts,
        &req("POST", "/api/channels", &other, Role::Owner).json(&body),
    )
    .await;
    assert_eq!((clash.status, clash.error_code()), (409, "CONFLICT"));
    assert!(!clash.text.contains(&id) && !clash.text.contains(c.as_str()));
    // Another company's admin can neither see nor remove it.
    for method in ["GET", "PATCH", "DELETE"] {
        let e = req(method, &path, &other, Role::Owner).json(&json!({"name": "roubado"}));
        assert_eq!(send(&accounts, &e).await.status, 404, "{method}");
    }
    // Bad input names the fields.
    let bad = send(
        &accounts,
        &req("POST", "/api/channels", &c, Role::Admin)
            .json(&json!({"channel": "telegram", "external_id": "abc", "name": ""})),
    )
    .await;
    assert_eq!(bad.status, 422);
    for field in ["channel", "external_id", "name", "access_token"] {
        assert!(
            bad.json["error"]["details"][field].is_array(),
            "{field}: {}",
            bad.text
        );
    }
    let gone = send(&accounts, &req("DELETE", &path, &c, Role::Admin)).await;
    assert_eq!(gone.status, 200);
    assert!(accounts
        .store
        .find_channel(
            shared::domain::conversation::Channel::Whatsapp,
            "106540352242922"
        )
        .await
        .expect("find")
        .is_none());
}

#[tokio::test]
async fn company_settings_are_read_and_merge_patched_by_admins() {
    let (accounts, _, c) = setup().await;
    let got = send(&accounts, &req("GET", "/api/company", &c, Role::Agent)).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.json["data"]["settings"]["timezone"],
        "America/Sao_Paulo"
    );
    assert_eq!(
        got.json["data"]["settings"]["qualified_statuses"],
        json!(["qualificado"])
    );
    let patch = json!({"domain": "padaria.com.br", "settings": {"timezone": "America/Manaus", "ai_budget_usd": 50, "converted_statuses": ["fechado", "convertido"]}});
    let changed = send(
        &accounts,
        &req("PATCH", "/api/company", &c, Role::Owner).json(&patch),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let s = &changed.json["data"]["settings"];
    assert_eq!(
        (s["timezone"].as_str(), s["ai_budget_usd"].as_i64()),
        (Some("America/Manaus"), Some(50))
    );
    assert_eq!(
        s["qualified_statuses"],
        json!(["qualificado"]),
        "untouched settings stay"
    );
    assert_eq!(changed.json["data"]["domain"], "padaria.com.br");
    for (bad, field) in [
        (
            json!({"settings": {"timezone": "Mars/Olympus Mons!"}}),
            "settings.timezone",
        ),
        (
            json!({"settings": {"ai_budget_usd": -1}}),
            "settings.ai_budget_usd",
        ),
        (json!({"settings": {"colour": "blue"}}), "settings.colour"),
        (
            json!({"settings": {"rate_limits": {"leads": {"per_hour": 0}}}}),
            "settings.rate_limits",
        ),
        (
            json!({"settings": {"rate_limits": {"nonsense": {"per_hour": 5}}}}),
            "settings.rate_limits",
        ),
        (json!({"domain": "not a domain"}), "domain"),
        (json!({"plan": "gold"}), "plan"),
    ] {
        let a = send(
            &accounts,
            &req("PATCH", "/api/company", &c, Role::Owner).json(&bad),
        )
        .await;
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
        assert!(
            a.json["error"]["details"][field].is_array(),
            "{field}: {}",
            a.text
        );
    }
    // A company that exists only in tokens has no settings to show.
    let ghost = CompanyId::new(uuid::Uuid::now_v7().to_string());
    assert_eq!(
        send(&accounts, &req("GET", "/api/company", &ghost, Role::Owner))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_same_idempotency_key_replays_the_first_answer() {
    let (_, leads_fn, c) = setup().await;
    let create = Event::load("leads-management/create.json")
        .as_user(&c, Role::Agent)
        .header("idempotency-key", "pedido-42");
    let first = send(&leads_fn, &create).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send(&leads_fn, &create).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.text, first.text, "the very same body");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let total = send(
        &leads_fn,
        &Event::load("leads-management/list.json").as_user(&c, Role::Agent),
    )
    .await;
    assert_eq!(total.json["pagination"]["total"], 1);
    // Another body under the same key conflicts with the key's first use.
    let other = send(
        &leads_fn,
        &create.clone().json(&json!({"name": "Outra pessoa"})),
    )
    .await;
    assert_eq!((other.status, other.error_code()), (409, "CONFLICT"));
    assert_eq!(other.json["error"]["details"]["header"], "Idempotency-Key");
    // A request still running holds its key.
    let fp =
        shared::domain::idempotency::fingerprint("POST", "/api/leads", b"{\"name\":\"Lenta\"}");
    leads_fn
        .store
        .claim_idempotency_key(
            &c,
            &shared::domain::idempotency::scoped_key("user-agent", "POST", "/api/leads", "lento"),
            &fp,
            shared::domain::Timestamp::now(),
        )
        .await
        .expect("claim");
    let busy = send(
        &leads_fn,
        &create
            .clone()
            .header("idempotency-key", "lento")
            .raw_body("{\"name\":\"Lenta\"}"),
    )
    .await;
    assert_eq!((busy.status, busy.error_code()), (409, "CONFLICT"));
    // A refused request (422) is kept too: its retry gets the same refusal.
    let invalid = create
        .clone()
        .header("idempotency-key", "ruim")
        .json(&json!({"score": 500}));
    let r1 = send(&leads_fn, &invalid).await;
    let r2 = send(&leads_fn, &invalid).await;
    assert_eq!((r1.status, r2.status), (422, 422));
    // Keys are checked.
    let long = "k".repeat(300);
    assert_eq!(
        send(&leads_fn, &create.header("idempotency-key", &long))
            .await
            .status,
        422
    );
}

/// Sends 150 `GET /api/leads` from 4 processes at once; returns (status, remaining,
/// retry-after) triples and how long the burst took.
fn burst(
    kind: &str,
    place: &str,
    c: &CompanyId,
) -> (Vec<(u16, String, String)>, std::time::Duration) {
    let started = std::time::Instant::now();
    let children: Vec<_> = [38, 38, 37, 37]
        .iter()
        .map(|n| {
            Command::new(env!("CARGO_BIN_EXE_burst-client"))
                .args([kind, place, c.as_str(), &n.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("the client starts")
        })
        .collect();
    let mut answers = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("the client ends");
        assert!(out.status.success());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            answers.push((
                parts[0].parse().expect("status"),
                parts[1].to_string(),
                parts[2].to_string(),
            ));
        }
    }
    (answers, started.elapsed())
}

/// Exactly the burst passes, and no more than the 500/h limit refilled while it ran (one
/// request every 7.2 s: a burst slowed by a loaded store server may see one or two).
fn check_burst((answers, took): &(Vec<(u16, String, String)>, std::time::Duration)) {
    assert_eq!(answers.len(), 150);
    let refilled = (took.as_secs_f64() / 7.2).floor() as usize;
    let ok: Vec<u32> = answers
        .iter()
        .filter(|a| a.0 == 200)
        .map(|a| a.1.parse().expect("remaining"))
        .collect();
    let limited: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert!(
        (100..=100 + refilled).contains(&ok.len()) && ok.len() + limited.len() == 150,
        "exactly the burst passes (and {refilled} refilled in {took:?}): {} passed, {} limited",
        ok.len(),
        limited.len()
    );
    let mut remaining = ok.clone();
    remaining.sort_unstable_by(|a, b| b.cmp(a));
    remaining.dedup();
    if refilled == 0 {
        assert_eq!(
            remaining,
            (0..100).rev().collect::<Vec<u32>>(),
            "each of 99..0, across processes"
        );
    } else {
        // A token refilled mid-burst moves the count between two answers: a value may be
        // told twice or skipped, one each side of every refill.
        let missing = (0..100u32).filter(|n| !remaining.contains(n)).count();
        assert!(
            remaining.first() == Some(&99)
                && remaining.iter().all(|r| *r < 100)
                && missing <= 2 * refilled,
            "99 down to 0 across processes, {refilled} refilled in {took:?}: {remaining:?}"
        );
    }
    // A request's time is taken before its store write: on a store slow enough for refills,
    // one stamped earlier may be applied after a later one and wait up to that much longer.
    let skew = if refilled == 0 { 0 } else { took.as_secs() };
    for (_, left, retry) in limited {
        assert_eq!(left, "0");
        let retry: u64 = retry.parse().expect("a Retry-After");
        assert!(
            (1..=8 + skew).contains(&retry),
            "500/h refills one request every 7.2 s: {retry} (burst of {took:?})"
        );
    }
}

#[tokio::test]
async fn four_processes_share_one_bucket_on_sqlite() {
    let db = temp_db_path();
    let store = wiizo_tests::sqlite_store_at(&db);
    let c = CompanyId::new(uuid::Uuid::now_v7().to_string());
    check_burst(&burst("sqlite", db.to_str().expect("path"), &c));
    // Another company has its own bucket.
    let app = app_on("leads-management", store);
    let other = send(
        &app,
        &leads().as_user(
            &CompanyId::new(uuid::Uuid::now_v7().to_string()),
            Role::Agent,
        ),
    )
    .await;
    assert_eq!(
        (other.status, other.header("x-ratelimit-remaining")),
        (200, Some("99"))
    );
    let mine = send(&app, &leads().as_user(&c, Role::Agent)).await;
    assert_eq!(
        (mine.status, mine.error_code()),
        (429, "RATE_LIMIT_EXCEEDED")
    );
    assert!(mine.json["error"]["retry_after"].as_u64().is_some());
    assert_eq!(mine.header("x-ratelimit-limit"), Some("100"));
}

#[tokio::test]
async fn four_processes_share_one_bucket_on_dynamodb() {
    let store = dynamo_store_on(&dynamodb_endpoint()).await;
    let table = store.table().to_string();
    let c = CompanyId::new(uuid::Uuid::now_v7().to_string());
    check_burst(&burst("dynamodb", &table, &c));
    let app = app_on("leads-management", Arc::new(store));
    let other = send(
        &app,
        &leads().as_user(
            &CompanyId::new(uuid::Uuid::now_v7().to_string()),
            Role::Agent,
        ),
    )
    .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn four_processes_share_one_bucket_on_postgres() {
    let url = wiizo_tests::pg_database().await;
    let store = wiizo_tests::store_at(&url);
    let c = CompanyId::new(uuid::Uuid::now_v7().to_string());
    check_burst(&burst("postgres", &url, &c));
    let app = app_on("leads-management", store);
    let mine = send(&app, &leads().as_user(&c, Role::Agent)).await;
    assert_eq!(
        (mine.status, mine.error_code()),
        (429, "RATE_LIMIT_EXCEEDED")
    );
}

#[tokio::test]
async fn a_company_override_changes_its_limit_without_a_deploy() {
    let (accounts, leads_fn, c) = setup().await;
    let tight = json!({"settings": {"rate_limits": {"leads": {"per_minute": 600, "burst": 3}}}});
    let a = send(
        &accounts,
        &req("PATCH", "/api/company", &c, Role::Owner).json(&tight),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // The leads function reads settings through its own short cache: a new process sees
    // the change at once, a warm one within 30 s.
    let fresh = app_on("leads-management", leads_fn.store.clone());
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(send(&fresh, &leads().as_user(&c, Role::Agent)).await.status);
        }
        v
    };
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    // 600 a minute is one every 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let refilled = send(&fresh, &leads().as_user(&c, Role::Agent)).await;
    assert_eq!(refilled.status, 200);
    assert_eq!(refilled.header("x-ratelimit-limit"), Some("3"));
    let _: Value = refilled.json;
}

#[tokio::test]
async fn every_accounts_event_is_a_valid_request() {
    // GIVEN the example events, as an owner of a company that exists
    let (accounts, _, c) = setup().await;
    let (accounts, _graph) = with_fake_graph(accounts).await;
    let load = |name: &str| Event::load(&format!("accounts/{name}.json")).as_user(&c, Role::Owner);
    let created = send(&accounts, &load("create-channel")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let channel = created.json["data"]["id"].as_str().expect("id").to_string();
    let key = send(&accounts, &load("create-api-key")).await;
    assert_eq!(key.status, 201, "{}", key.text);
    let key_id = key.json["data"]["id"].as_str().expect("id").to_string();
    for (name, path, status) in [
        ("get-company", None, 200),
        ("patch-company", None, 200),
        ("list-api-keys", None, 200),
        ("list-channels", None, 200),
        ("get-channel", Some(format!("/api/channels/{channel}")), 200),
        (
            "patch-channel",
            Some(format!("/api/channels/{channel}")),
            200,
        ),
        (
            "delete-channel",
            Some(format!("/api/channels/{channel}")),
            200,
        ),
        (
            "delete-api-key",
            Some(format!("/api/api-keys/{key_id}")),
            200,
        ),
    ] {
        let mut e = load(name);
        if let Some(p) = &path {
            e = e.path(p);
        }
        let a = send(&accounts, &e).await;
        assert_eq!(a.status, status, "{name}: {}", a.text);
    }
}
