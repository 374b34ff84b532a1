//! The attacks a hostile tenant or a careless integrator tried, each as a story that runs
//! on SQLite and on DynamoDB: idempotency bound to its caller, per-caller limits under a
//! company ceiling, groups from the matched route, bounded settings, and custom inbound
//! webhooks that check signatures first and apply a delivery once.

use std::sync::Arc;

use serde_json::{json, Value};
use shared::auth::{mint, Role, TokenClaims};
use shared::domain::CompanyId;
use shared::store::Store;
use shared::App;
use wiizo_tests::{app_on, send, Event, TEST_JWT_SECRET};

/// Runs a story on a fresh SQLite store and on a fresh DynamoDB table.
macro_rules! on_both_stores {
    ($story:ident) => {
        mod $story {
            #[tokio::test]
            async fn on_sqlite() {
                super::$story(wiizo_tests::sqlite_store()).await;
            }

            #[tokio::test]
            async fn on_dynamodb() {
                super::$story(wiizo_tests::dynamo_store().await).await;
            }
        }
    };
}

async fn company_in(store: &dyn Store) -> CompanyId {
    store
        .create_company(&format!("Empresa {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id
}

/// A request from the person `sub` of company `c` with `role`.
fn by(c: &CompanyId, sub: &str, role: Role, method: &str, path: &str) -> Event {
    let token = mint(TEST_JWT_SECRET, &TokenClaims::new(sub, c, role, 3600)).expect("token");
    Event::load("leads-management/list.json")
        .bearer(&token)
        .method(method)
        .path(path)
}

async fn set_rate_limits(accounts: &App, c: &CompanyId, limits: Value) {
    let a = send(
        accounts,
        &by(c, "owner-1", Role::Owner, "PATCH", "/api/company")
            .json(&json!({"settings": {"rate_limits": limits}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

on_both_stores!(idempotency_is_bound_to_the_caller_and_keeps_no_secret);
async fn idempotency_is_bound_to_the_caller_and_keeps_no_secret(store: Arc<dyn Store>) {
    // GIVEN an owner who created an API key with an Idempotency-Key
    let c = company_in(store.as_ref()).await;
    let accounts = app_on("accounts", store);
    let create = |sub: &str, role: Role| {
        by(&c, sub, role, "POST", "/api/api-keys")
            .header("idempotency-key", "k1")
            .json(&json!({"name": "ERP", "scopes": ["admin"]}))
    };
    let first = send(&accounts, &create("owner-1", Role::Owner)).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let key = first.json["data"]["key"]
        .as_str()
        .expect("the key")
        .to_string();

    // WHEN a viewer sends the same key and body THEN it is refused, not replayed
    let viewer = send(&accounts, &create("viewer-1", Role::Viewer)).await;
    assert_eq!((viewer.status, viewer.error_code()), (403, "FORBIDDEN"));
    assert!(!viewer.text.contains(&key));

    // WHEN another admin sends them THEN its own request runs: a new key, no replay
    let admin = send(&accounts, &create("admin-2", Role::Admin)).await;
    assert_eq!(admin.status, 201, "{}", admin.text);
    assert_eq!(admin.header("idempotent-replayed"), None);
    assert_ne!(admin.json["data"]["id"], first.json["data"]["id"]);
    assert_ne!(admin.json["data"]["key"].as_str(), Some(key.as_str()));

    // WHEN the owner retries THEN the answer is replayed with the secret masked, and says so
    let again = send(&accounts, &create("owner-1", Role::Owner)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json["data"]["id"], first.json["data"]["id"]);
    assert!(!again.text.contains(&key), "the replay holds the secret");
    let masked = again.json["data"]["key"].as_str().expect("a masked key");
    assert!(masked.ends_with('…') && key.starts_with(masked.trim_end_matches('…')));
    assert!(again.json["message"]
        .as_str()
        .unwrap_or_default()
        .contains("masked"));
}

on_both_stores!(one_caller_cannot_starve_the_company);
async fn one_caller_cannot_starve_the_company(store: Arc<dyn Store>) {
    // GIVEN a company whose `api` group allows 3 requests per caller
    let c = company_in(store.as_ref()).await;
    let accounts = app_on("accounts", store.clone());
    let leads = app_on("leads-management", store);
    set_rate_limits(&accounts, &c, json!({"api": {"per_hour": 3, "burst": 3}})).await;
    let key = send(
        &accounts,
        &by(&c, "owner-1", Role::Owner, "POST", "/api/api-keys")
            .json(&json!({"name": "leaked", "scopes": ["read"]})),
    )
    .await;
    let (key_id, secret) = (
        key.json["data"]["id"].as_str().expect("id").to_string(),
        key.json["data"]["key"].as_str().expect("key").to_string(),
    );
    // WHEN a leaked read-only key spends its bucket
    let with_key = || {
        Event::load("leads-management/list.json")
            .without_header("authorization")
            .header("x-api-key", &secret)
            .path("/api/company")
    };
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..5 {
            s.push(send(&accounts, &with_key()).await.status);
        }
        s
    };
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // THEN the owner still changes settings and revokes the key
    for _ in 0..4 {
        let a = send(
            &accounts,
            &by(&c, "owner-1", Role::Owner, "PATCH", "/api/company")
                .json(&json!({"settings": {"timezone": "America/Sao_Paulo"}})),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let revoke = send(
        &accounts,
        &by(
            &c,
            "owner-1",
            Role::Owner,
            "DELETE",
            &format!("/api/api-keys/{key_id}"),
        ),
    )
    .await;
    assert_eq!(revoke.status, 200, "{}", revoke.text);
    // AND two agents have a bucket each, under a company ceiling of 8
    set_rate_limits(
        &accounts,
        &c,
        json!({"leads": {"per_hour": 5, "burst": 5, "company": {"per_hour": 8, "burst": 8}}}),
    )
    .await;
    let mut allowed = std::collections::HashMap::new();
    for sub in ["agent-1", "agent-2"] {
        for _ in 0..6 {
            let a = send(&leads, &by(&c, sub, Role::Agent, "GET", "/api/leads")).await;
            if a.status == 200 {
                *allowed.entry(sub).or_insert(0) += 1;
            } else {
                assert_eq!((a.status, a.error_code()), (429, "RATE_LIMIT_EXCEEDED"));
                assert!(a.header("retry-after").is_some());
            }
        }
    }
    assert_eq!(allowed.get("agent-1"), Some(&5), "a caller's own bucket");
    assert_eq!(
        allowed.get("agent-2"),
        Some(&3),
        "the company's ceiling: 8 in all"
    );
}

on_both_stores!(the_group_comes_from_the_matched_route);
async fn the_group_comes_from_the_matched_route(store: Arc<dyn Store>) {
    let c = company_in(store.as_ref()).await;
    let leads = app_on("leads-management", store);
    for path in ["/api/leads", "/api//leads", "/api/leads/"] {
        let a = send(&leads, &by(&c, "agent-1", Role::Agent, "GET", path)).await;
        assert_eq!(a.status, 200, "{path}");
        // The `leads` group's burst, not the `api` group's 200.
        assert_eq!(a.header("x-ratelimit-limit"), Some("100"), "{path}");
    }
}

on_both_stores!(settings_are_bounded_and_cannot_lock_the_owner_out);
async fn settings_are_bounded_and_cannot_lock_the_owner_out(store: Arc<dyn Store>) {
    let c = company_in(store.as_ref()).await;
    let accounts = app_on("accounts", store);
    let patch = |limits: Value| {
        by(&c, "owner-1", Role::Owner, "PATCH", "/api/company")
            .json(&json!({"settings": {"rate_limits": limits}}))
    };
    for beyond in [
        json!({"api": {"per_day": 1, "burst": 4294967295u64}}),
        json!({"api": {"per_minute": 1_000_001}}),
        json!({"api": {"per_hour": 10, "burst": 100_001}}),
        json!({"api": {"per_hour": 10, "company": {"per_hour": 0}}}),
        json!({"api": {"per_hour": 10, "company": {"per_hour": 5, "company": {"per_hour": 1}}}}),
        json!({"nope": {"per_hour": 10}}),
    ] {
        let a = send(&accounts, &patch(beyond.clone())).await;
        assert_eq!(
            (a.status, a.error_code()),
            (422, "VALIDATION_ERROR"),
            "{beyond}"
        );
        assert!(a.json["error"]["details"]["settings.rate_limits"].is_array());
    }
    for budget in [json!(-1), json!(1_000_000.01), json!("10")] {
        let a = send(
            &accounts,
            &by(&c, "owner-1", Role::Owner, "PATCH", "/api/company")
                .json(&json!({"settings": {"ai_budget_usd": budget}})),
        )
        .await;
        assert_eq!(a.status, 422, "{budget}: {}", a.text);
    }
    // The tightest accepted setting still leaves the owner its company route.
    let tight = send(
        &accounts,
        &patch(json!({"api": {"per_day": 1, "burst": 1}})),
    )
    .await;
    assert_eq!(tight.status, 200, "{}", tight.text);
    for _ in 0..5 {
        let a = send(
            &accounts,
            &patch(json!({"api": {"per_day": 1, "burst": 1}})),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    // Other callers are held to it.
    let agent = |_| by(&c, "agent-1", Role::Agent, "GET", "/api/company");
    assert_eq!(send(&accounts, &agent(1)).await.status, 200);
    assert_eq!(send(&accounts, &agent(2)).await.status, 429);
}

fn custom_delivery(client_id: &str, secret: &str, data: Value, age_secs: i64) -> Event {
    wiizo_tests::custom_delivery(client_id, secret, "lead.updated", data, age_secs)
}

on_both_stores!(custom_webhooks_check_the_signature_first_and_apply_once);
async fn custom_webhooks_check_the_signature_first_and_apply_once(store: Arc<dyn Store>) {
    // GIVEN a company's inbound endpoint
    let c = company_in(store.as_ref()).await;
    let webhooks = app_on("webhooks", store.clone());
    let created = send(
        &webhooks,
        &by(&c, "admin-1", Role::Admin, "POST", "/api/webhooks/inbound")
            .json(&json!({"name": "ERP"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let client_id = created.json["data"]["client_id"]
        .as_str()
        .expect("id")
        .to_string();
    let secret = created.json["data"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();

    // WHEN 120 unsigned junk requests arrive THEN they are 401, then 429 from their own bucket
    let mut junk = Vec::new();
    for i in 0..120 {
        let e = custom_delivery(
            &client_id,
            "whsec_guess",
            json!({"name": format!("x{i}")}),
            0,
        );
        junk.push(send(&webhooks, &e).await.status);
    }
    assert!(junk.iter().all(|s| *s == 401 || *s == 429), "{junk:?}");
    assert!(junk.contains(&429), "guesses are limited too");
    // AND the signed sender is not starved
    let first = custom_delivery(
        &client_id,
        &secret,
        json!({"name": "Rafa", "phone": "+5511987651234", "status": "novo"}),
        30,
    );
    let a = send(&webhooks, &first).await;
    assert_eq!(
        (a.status, a.json["data"]["action"].as_str()),
        (200, Some("created")),
        "{}",
        a.text
    );
    let lead_id = a.json["data"]["lead_id"]
        .as_str()
        .expect("lead")
        .to_string();

    // WHEN the same signed delivery is replayed THEN it is acknowledged as a duplicate
    let again = send(&webhooks, &first).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["data"]["duplicate"], true);
    // AND the lead it made was told once, to its own company's subscribers
    let created: Vec<_> = store
        .pending_events(10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.company_id == c && e.kind == "lead.created")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].data["id"], json!(lead_id));
    // AND a delivery id names a delivery whatever its bytes
    let newer = custom_delivery(
        &client_id,
        &secret,
        json!({"phone": "+5511987651234", "status": "qualificado"}),
        10,
    )
    .header("webhook-id", "msg_1");
    let a = send(&webhooks, &newer).await;
    assert_eq!(a.json["data"]["action"], "updated", "{}", a.text);
    let a = send(&webhooks, &newer).await;
    assert_eq!(a.json["data"]["duplicate"], true, "{}", a.text);

    // WHEN an older update arrives after a newer one THEN it is acknowledged and ignored
    let older = custom_delivery(
        &client_id,
        &secret,
        json!({"phone": "+5511987651234", "status": "perdido"}),
        20,
    );
    let a = send(&webhooks, &older).await;
    assert_eq!(
        (a.status, a.json["data"]["action"].as_str()),
        (200, Some("ignored_stale")),
        "{}",
        a.text
    );
    let lead = store
        .get_lead(
            &c,
            shared::domain::lead::LeadId::parse(&lead_id).expect("id"),
        )
        .await
        .expect("lead");
    assert_eq!(lead.fields.status, "qualificado");
    assert_eq!(lead.version, 2, "created, then one update");
}

/// A lead at every size limit, with the characters that grow most when escaped twice (once
/// in the JSON body, once in the Lambda answer that carries the body as a string).
fn largest_lead(i: usize) -> Value {
    let wide = |n: usize| "𝕎".repeat(n);
    let quotes = "\"".repeat(16 * 1024 / 2 - 40);
    json!({
        "name": wide(255),
        "email": format!("{i:0>60}@{}.com.br", "e".repeat(50)),
        "phone": format!("+5511{:09}", 900_000_000 + i),
        "company": wide(255),
        "source": wide(100),
        "pipeline": wide(100),
        "status": wide(50),
        "score": 100,
        "custom_fields": {"q": quotes},
        "notes": "\"".repeat(4000),
        "user_id": wide(255),
    })
}

on_both_stores!(the_largest_page_fits_in_a_lambda_answer);
async fn the_largest_page_fits_in_a_lambda_answer(store: Arc<dyn Store>) {
    // GIVEN 100 leads at every size limit
    let c = company_in(store.as_ref()).await;
    let leads = app_on("leads-management", store.clone());
    for i in 0..100 {
        let fields = shared::domain::lead::LeadFields::parse(largest_lead(i)).expect("valid");
        store.create_lead(&c, fields, "t").await.expect("lead");
    }
    // AND one byte more is refused
    let mut over = largest_lead(100);
    over["custom_fields"]["q"] = json!("\"".repeat(16 * 1024 / 2));
    over["notes"] = json!("x".repeat(4001));
    let a = send(
        &leads,
        &by(&c, "a", Role::Agent, "POST", "/api/leads").json(&over),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(a.json["error"]["details"]["custom_fields"].is_array());
    assert!(a.json["error"]["details"]["notes"].is_array());
    let mut deep = json!("fundo");
    for _ in 0..9 {
        deep = json!({ "n": deep });
    }
    let a = send(
        &leads,
        &by(&c, "a", Role::Agent, "POST", "/api/leads")
            .json(&json!({"name": "Fundo", "custom_fields": deep})),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.text);

    // WHEN the page of 100 is read
    let page = send(
        &leads,
        &by(&c, "a", Role::Agent, "GET", "/api/leads").query(&[("limit", "100")]),
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.json["data"].as_array().map(Vec::len), Some(100));
    // THEN the Lambda answer that carries it, body escaped as a string, is under 6 MB
    let answer = json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": page.text, "isBase64Encoded": false})
        .to_string();
    assert!(
        answer.len() < 6 * 1024 * 1024,
        "{} bytes in the answer",
        answer.len()
    );
}

/// A fake Graph API that shows the WhatsApp number only to the token that holds it.
async fn graph_with_number(pnid: &str, good_token: &str) -> wiremock::MockServer {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/{pnid}")))
        .and(header("authorization", format!("Bearer {good_token}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": pnid, "display_phone_number": "+55 11 4000-1234", "verified_name": "Padaria Pão Quente"
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException", "code": 190, "fbtrace_id": "A1b2C3"
        }})))
        .mount(&graph)
        .await;
    graph
}

on_both_stores!(a_channel_is_connected_only_with_a_token_meta_accepts);
async fn a_channel_is_connected_only_with_a_token_meta_accepts(store: Arc<dyn Store>) {
    // GIVEN V's WhatsApp number, which only V's token can read on Meta
    let pnid = "109876543210987";
    let graph = graph_with_number(pnid, "EAAG-v-real-token").await;
    let accounts = App::new(
        "accounts",
        wiizo_tests::test_config(&[("META_GRAPH_URL", &graph.uri())]),
        store.clone(),
    );
    let (v, m) = (
        company_in(store.as_ref()).await,
        company_in(store.as_ref()).await,
    );
    let connect = |c: &CompanyId, token: &str| {
        by(c, "admin-1", Role::Admin, "POST", "/api/channels").json(&json!({
            "channel": "whatsapp", "external_id": pnid, "name": "Vendas", "access_token": token
        }))
    };
    // WHEN company M connects V's number with a junk token THEN 422 names the token
    let taken = send(&accounts, &connect(&m, "junk")).await;
    assert_eq!(
        (taken.status, taken.error_code()),
        (422, "VALIDATION_ERROR"),
        "{}",
        taken.text
    );
    assert!(taken.json["error"]["details"]["access_token"].is_array());
    // AND nothing is stored: Meta's deliveries for the number go nowhere yet
    assert!(store
        .find_channel(shared::domain::conversation::Channel::Whatsapp, pnid)
        .await
        .expect("find")
        .is_none());
    // WHEN V connects it with its own token THEN 201 shows what Meta returned
    let ok = send(&accounts, &connect(&v, "EAAG-v-real-token")).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(
        ok.json["data"]["meta"]["display_phone_number"],
        "+55 11 4000-1234"
    );
    assert_eq!(
        ok.json["data"]["meta"]["verified_name"],
        "Padaria Pão Quente"
    );
    let id = ok.json["data"]["id"].as_str().expect("id").to_string();
    // AND M trying again with junk learns nothing about V: still 422, not 409
    let again = send(&accounts, &connect(&m, "junk")).await;
    assert_eq!(again.status, 422, "{}", again.text);
    // AND replacing V's token with one Meta refuses changes nothing
    let patch = by(
        &v,
        "admin-1",
        Role::Admin,
        "PATCH",
        &format!("/api/channels/{id}"),
    )
    .json(&json!({"access_token": "EAAG-expired"}));
    let refused = send(&accounts, &patch).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    let token = store
        .channel_token(&v, uuid::Uuid::parse_str(&id).expect("uuid"))
        .await
        .expect("token");
    assert_eq!(token.expose(), "EAAG-v-real-token");
    // AND only a token that passes Meta's check hears that the number is taken
    let clash = send(&accounts, &connect(&m, "EAAG-v-real-token")).await;
    assert_eq!((clash.status, clash.error_code()), (409, "CONFLICT"));
}

/// Counts the items DynamoDB hands back to reads (Query's scanned items, GetItem's item,
/// BatchGetItem's items), and those that are messages.
#[derive(Debug, Clone, Default)]
struct ItemsRead {
    items: Arc<std::sync::atomic::AtomicU64>,
    messages: Arc<std::sync::atomic::AtomicU64>,
}

impl ItemsRead {
    fn take(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.items.swap(0, SeqCst), self.messages.swap(0, SeqCst))
    }
}

impl aws_sdk_dynamodb::config::Intercept for ItemsRead {
    fn name(&self) -> &'static str {
        "ItemsRead"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation::{get_item::GetItemOutput, query::QueryOutput};
        use std::sync::atomic::Ordering::SeqCst;
        let is_message =
            |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
                i.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk.contains("#MSG#"))
            };
        if let Some(Ok(output)) = context.inner().output_or_error() {
            if let Some(q) = output.downcast_ref::<QueryOutput>() {
                self.items
                    .fetch_add(u64::try_from(q.scanned_count).unwrap_or(0), SeqCst);
                let messages = q.items().iter().filter(|i| is_message(i)).count();
                self.messages.fetch_add(messages as u64, SeqCst);
            } else if let Some(g) = output.downcast_ref::<GetItemOutput>() {
                self.items.fetch_add(u64::from(g.item.is_some()), SeqCst);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn reads_do_not_grow_with_the_company_on_dynamodb() {
    // GIVEN a company with 25 conversations of 80 messages: 2 000 messages
    let counter = ItemsRead::default();
    let config = wiizo_tests::dynamo_config(&wiizo_tests::dynamodb_endpoint())
        .await
        .interceptor(counter.clone());
    let dynamo = wiizo_tests::dynamo_store_with(config).await;
    let client = dynamo.client().clone();
    let table = dynamo.table().to_string();
    let store: Arc<dyn Store> = Arc::new(dynamo);
    let c = company_in(store.as_ref()).await;
    let mut conversations = Vec::new();
    for i in 0..25 {
        let fields = shared::domain::lead::LeadFields::parse(
            json!({"name": format!("Cliente {i}"), "phone": format!("+55119{:08}", 70_000_000 + i)}),
        )
        .expect("fields");
        let lead = store.create_lead(&c, fields, "t").await.expect("lead");
        let conv = store
            .create_conversation(&c, lead.id, shared::domain::conversation::Channel::Whatsapp)
            .await
            .expect("conversation");
        conversations.push(conv.id);
    }
    // 80 messages through the store in the first conversation…
    for m in 0..80 {
        let message = shared::domain::conversation::NewMessage::plain(
            shared::domain::conversation::Role::User,
            &format!("mensagem {m}"),
            "text",
        );
        store
            .add_message(&c, conversations[0], message)
            .await
            .expect("message");
    }
    // …and 1 920 more written straight into the others' key ranges (moto is too slow to
    // take them one transaction each): any read that touches them counts them.
    use aws_sdk_dynamodb::types::{AttributeValue as Av, PutRequest, WriteRequest};
    let mut raw = Vec::new();
    for conv in &conversations[1..] {
        for m in 0..80 {
            let item = [
                ("pk", Av::S(format!("C#{c}"))),
                (
                    "sk",
                    Av::S(format!(
                        "CONV#{conv}#MSG#2026-01-01T00:00:{:02}.000Z#{}",
                        m % 60,
                        uuid::Uuid::now_v7()
                    )),
                ),
                ("kind", Av::S("message".into())),
                ("content", Av::S(format!("antiga {m}"))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            raw.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("put"),
                    )
                    .build(),
            );
        }
    }
    assert_eq!(raw.len() + 80, 2000);
    for chunk in raw.chunks(25) {
        client
            .batch_write_item()
            .request_items(&table, chunk.to_vec())
            .send()
            .await
            .expect("seed");
    }
    let whatsapp = app_on("whatsapp-api", store.clone());
    let leads = app_on("leads-management", store);
    let get = |path: &str| by(&c, "agent-1", Role::Agent, "GET", path).query(&[("limit", "20")]);
    // The company's settings are cached by each function after its first request.
    send(&whatsapp, &get("/api/conversations")).await;
    send(&leads, &get("/api/leads")).await;
    counter.take();

    // WHEN a page of 20 conversations is read THEN no message item is
    let a = send(&whatsapp, &get("/api/conversations")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["pagination"]["total"], 25);
    let newest = &a.json["data"][0];
    assert_eq!(newest["last_message"]["content"], "mensagem 79", "{newest}");
    let (items, messages) = counter.take();
    assert_eq!(messages, 0, "a conversation page read message items");
    // 20 conversations, their 20 leads' names, and the conversation count.
    assert!(
        items <= 41,
        "{items} items read for a page of 20 conversations"
    );

    // WHEN a page of 20 messages is read THEN at most 21 items are
    let path = format!("/api/conversations/{}/messages", conversations[0]);
    let a = send(&whatsapp, &get(&path)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["pagination"]["total"], 80);
    let cursor = a.json["next_cursor"].as_str().expect("more").to_string();
    assert!(counter.take().0 <= 21, "a message page");
    let a = send(
        &whatsapp,
        &get(&path).query(&[("limit", "20"), ("cursor", &cursor)]),
    )
    .await;
    assert_eq!(a.json["data"][0]["content"], "mensagem 20");
    assert!(counter.take().0 <= 21, "a message page after a cursor");

    // WHEN a page of 20 leads is read THEN at most 21 lead items and the counter are
    let a = send(&leads, &get("/api/leads")).await;
    assert_eq!(a.json["pagination"]["total"], 25);
    let (items, _) = counter.take();
    assert!(items <= 22, "{items} items read for a page of 20 leads");
}

/// A company on `store` with `conversations` WhatsApp conversations of `per` messages each
/// and `leads` leads in all; the first conversation's id.
async fn busy_company(
    store: &dyn Store,
    conversations: usize,
    per: usize,
    leads: usize,
) -> (CompanyId, uuid::Uuid) {
    use shared::domain::conversation::{Channel, NewMessage, Role as Who};
    let c = company_in(store).await;
    let mut first = None;
    for i in 0..leads {
        let fields = shared::domain::lead::LeadFields::parse(
            json!({"name": format!("Cliente {i}"), "phone": format!("+55119{:08}", 60_000_000 + i)}),
        )
        .expect("fields");
        let lead = store.create_lead(&c, fields, "t").await.expect("lead");
        if i < conversations {
            let conv = store
                .create_conversation(&c, lead.id, Channel::Whatsapp)
                .await
                .expect("conversation");
            for m in 0..per {
                let message = NewMessage::plain(Who::User, &format!("mensagem {m}"), "text");
                store
                    .add_message(&c, conv.id, message)
                    .await
                    .expect("message");
            }
            first.get_or_insert(conv.id);
        }
    }
    (c, first.expect("a conversation"))
}

#[tokio::test]
async fn a_killed_process_leaves_the_next_cold_start_a_short_wal_on_sqlite() {
    // GIVEN a process that wrote 1 000 messages and 300 leads and was never closed (as
    // Lambda kills its processes)
    let path = wiizo_tests::temp_db_path();
    let store: Arc<dyn Store> = Arc::new(shared::store::SqliteStore::open(&path).expect("open"));
    busy_company(store.as_ref(), 10, 100, 300).await;
    // WHEN another process opens the database THEN the WAL it must read before its first
    // request is short: SQLite's default (1 000 pages) would leave up to 4 MiB
    let other = rusqlite::Connection::open(&path).expect("open");
    let frames: i64 = other
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .expect("checkpoint");
    assert!((0..=320).contains(&frames), "{frames} pages in the WAL");
    drop(store);
}

#[tokio::test]
async fn reads_do_not_grow_with_the_company_on_sqlite() {
    // GIVEN a small company (25 messages, 25 leads) and a busy one (2 000 messages, 1 000
    // leads) in one SQLite file
    let path = wiizo_tests::temp_db_path();
    let sqlite = Arc::new(shared::store::SqliteStore::open(&path).expect("open"));
    let store: Arc<dyn Store> = sqlite.clone();
    let small = busy_company(store.as_ref(), 25, 1, 25).await;
    let busy = busy_company(store.as_ref(), 25, 80, 1000).await;
    let whatsapp = app_on("whatsapp-api", store.clone());
    let leads = app_on("leads-management", store);
    let work = sqlite.count_work();
    // WHEN the same pages of 20 are read in each THEN the busy company's cost no more
    for (path, app) in [
        ("/api/leads".to_string(), &leads),
        ("/api/conversations".to_string(), &whatsapp),
    ] {
        let (a, b) = (
            steps(&work, app, &small.0, &path).await,
            steps(&work, app, &busy.0, &path).await,
        );
        assert!(
            b <= a * 3 / 2 + 5,
            "{path}: {b} steps for the busy company, {a} for the small one"
        );
    }
    let (a, b) = (
        steps(
            &work,
            &whatsapp,
            &small.0,
            &format!("/api/conversations/{}/messages", small.1),
        )
        .await,
        steps(
            &work,
            &whatsapp,
            &busy.0,
            &format!("/api/conversations/{}/messages", busy.1),
        )
        .await,
    );
    assert!(
        b <= a * 3 / 2 + 5,
        "messages: {b} steps for 80 messages, {a} for 1"
    );
}

/// SQLite's work (hundreds of VM instructions) for one page of 20 at `path`, warm.
async fn steps(work: &std::sync::atomic::AtomicU64, app: &App, c: &CompanyId, path: &str) -> u64 {
    use std::sync::atomic::Ordering::SeqCst;
    let request = by(c, "agent-1", Role::Agent, "GET", path).query(&[("limit", "20")]);
    assert_eq!(send(app, &request).await.status, 200, "{path}");
    work.store(0, SeqCst);
    assert_eq!(send(app, &request).await.status, 200, "{path}");
    work.load(SeqCst)
}

on_both_stores!(a_filtered_list_reads_a_budget_and_continues_by_cursor);
async fn a_filtered_list_reads_a_budget_and_continues_by_cursor(store: Arc<dyn Store>) {
    // GIVEN Zélia, then 520 newer leads that do not match her name
    let c = company_in(store.as_ref()).await;
    let fields = |v: Value| shared::domain::lead::LeadFields::parse(v).expect("fields");
    store
        .create_lead(&c, fields(json!({"name": "Zélia Prado"})), "t")
        .await
        .expect("lead");
    for i in 0..520 {
        store
            .create_lead(&c, fields(json!({"name": format!("Cliente {i}")})), "t")
            .await
            .expect("lead");
    }
    let leads = app_on("leads-management", store);
    // WHEN a search reads its budget without finding her THEN it says so and gives a cursor
    let search = |extra: &[(&str, &str)]| {
        let mut q = vec![("search", "zelia"), ("limit", "20")];
        q.extend_from_slice(extra);
        by(&c, "agent-1", Role::Agent, "GET", "/api/leads").query(&q)
    };
    let first = send(&leads, &search(&[])).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["data"], json!([]));
    assert_eq!(first.json["pagination"]["hasNext"], true);
    let cursor = first.json["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_string();
    // AND the next call continues where the first stopped, and finds her
    let next = send(&leads, &search(&[("cursor", &cursor)])).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.json["data"][0]["name"], "Zélia Prado");
    assert_eq!(next.json["pagination"]["hasNext"], false);
    // AND the unfiltered total is the kept count
    let all = send(&leads, &by(&c, "agent-1", Role::Agent, "GET", "/api/leads")).await;
    assert_eq!(all.json["pagination"]["total"], 521);
}
