//! The PostgreSQL store on the seed's own database, against a real cluster
//! (`scripts/with-postgres.sh`): its migrations keep the seed's rows and the API serves
//! them, row-level security holds when a query forgets its company, and Supabase's tokens
//! (a user, no company) find their company. The store's operations themselves are in the
//! conformance suite.

use std::sync::Arc;

use serde_json::json;
use shared::auth::Role;
use shared::domain::CompanyId;
use shared::store::postgres::PgStore;
use tokio_postgres::{Client, NoTls};
use wiizo_tests::{app_on, call, join_all, pg_database, send, Event, TEST_JWT_SECRET};

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
}

/// One number of a query, as text.
async fn one(client: &Client, sql: &str) -> String {
    client
        .query_one(&format!("SELECT ({sql})::text"), &[])
        .await
        .expect(sql)
        .get(0)
}

const SEED_COMPANY: &str = "11111111-1111-4111-8111-111111111111";
const SEED_USER: &str = "22222222-2222-4222-8222-222222222222";
const SEED_LEAD: &str = "33333333-3333-4333-8333-333333333333";
const SEED_CONVERSATION: &str = "44444444-4444-4444-8444-444444444444";

/// A database holding the seed's schema and the rows its web app wrote (before any
/// migration of this service), and a connection to it.
async fn seed_database() -> (String, Client) {
    let url = pg_database().await;
    let seed = connect(&url).await;
    // The seed's schema, and rows the way the seed's web app wrote them.
    seed.batch_execute(include_str!("../fixtures/seed-schema.sql"))
        .await
        .expect("the seed's schema");
    seed.batch_execute(
        "INSERT INTO companies (id, name, settings) VALUES
           ('11111111-1111-4111-8111-111111111111', 'Padaria Pão Quente', '{\"timezone\": \"America/Sao_Paulo\"}');
         INSERT INTO users (id, email, full_name, company_id) VALUES
           ('22222222-2222-4222-8222-222222222222', 'ana@paoquente.com.br', 'Ana', '11111111-1111-4111-8111-111111111111');
         INSERT INTO leads (id, company_id, user_id, name, phone, status, custom_fields) VALUES
           ('33333333-3333-4333-8333-333333333333', '11111111-1111-4111-8111-111111111111',
            '22222222-2222-4222-8222-222222222222', 'João da Conceição', '+5511987654321', 'qualificado', '{\"origem\": \"site\"}');
         INSERT INTO conversations (id, lead_id, channel) VALUES
           ('44444444-4444-4444-8444-444444444444', '33333333-3333-4333-8333-333333333333', 'whatsapp');
         INSERT INTO messages (conversation_id, role, content, created_at) VALUES
           ('44444444-4444-4444-8444-444444444444', 'user', 'Oi, vocês entregam?', now() - interval '1 minute'),
           ('44444444-4444-4444-8444-444444444444', 'assistant', 'Entregamos, sim!', now());
         INSERT INTO ai_agents (company_id, name, type, temperature) VALUES
           ('11111111-1111-4111-8111-111111111111', 'Vendas', 'sales', 0.4);",
    )
    .await
    .expect("the seed's rows");
    (url, seed)
}

#[tokio::test]
async fn a_database_of_the_seed_keeps_every_row_through_the_migrations_run_twice() {
    let (url, seed) = seed_database().await;
    let store = PgStore::new(&url).expect("a store");
    assert_eq!(
        store.migrate().await.expect("migrate"),
        ["0001_seed", "0002_wiizo"]
    );
    assert_eq!(store.migrate().await.expect("again"), Vec::<String>::new());
    // Every row is there, as it was.
    for (sql, want) in [
        ("SELECT count(*) FROM companies", "1"),
        ("SELECT count(*) FROM users", "1"),
        (
            "SELECT name FROM leads WHERE phone = '+5511987654321'",
            "João da Conceição",
        ),
        ("SELECT custom_fields->>'origem' FROM leads", "site"),
        ("SELECT count(*) FROM messages", "2"),
        ("SELECT temperature FROM ai_agents", "0.40"),
        (
            "SELECT count(*) FROM pg_policies WHERE policyname <> 'wiizo_tenant'",
            "5",
        ),
    ] {
        assert_eq!(one(&seed, sql).await, want, "{sql}");
    }
}

#[tokio::test]
async fn an_empty_database_gets_the_seed_tables_once_from_two_processes_at_once() {
    let url = pg_database().await;
    let stores = [
        PgStore::new(&url).expect("a store"),
        PgStore::new(&url).expect("a store"),
    ];
    let applied = join_all(stores.iter().map(|s| s.migrate())).await;
    let mut names: Vec<String> = applied
        .into_iter()
        .flat_map(|r| r.expect("both finish"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["0001_seed", "0002_wiizo"],
        "applied by one of them only"
    );
    let client = connect(&url).await;
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
                  AND tablename IN ('companies', 'users', 'leads', 'conversations', 'messages', 'workflows', 'ai_agents')";
    assert_eq!(one(&client, tables).await, "7");
    assert_eq!(
        one(&client, "SELECT count(*) FROM wiizo_migrations").await,
        "2"
    );
    // A lead inserted as the seed's app does takes the seed's defaults.
    client
        .batch_execute(
            "INSERT INTO companies (id, name) VALUES ('55555555-5555-4555-8555-555555555555', 'Ótica');
             INSERT INTO leads (company_id, name) VALUES ('55555555-5555-4555-8555-555555555555', 'Marina');",
        )
        .await
        .expect("rows");
    assert_eq!(
        one(
            &client,
            "SELECT pipeline || '/' || status || '/' || score FROM leads"
        )
        .await,
        "novos-leads/novo/0"
    );
}

#[tokio::test]
async fn the_api_serves_the_seeds_rows_and_keeps_them_to_their_company() {
    let (url, seed) = seed_database().await;
    let store: Arc<dyn shared::store::Store> = Arc::new(PgStore::open(&url).expect("a store"));
    let company = CompanyId::new(SEED_COMPANY);
    let leads = app_on("leads-management", store.clone());
    let chats = app_on("whatsapp-api", store.clone());
    let agents = app_on("openai-proxy", store.clone());

    let listed = send(
        &leads,
        &call(&company, Role::Agent, "GET", "/api/leads", None),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json["pagination"]["total"], 1);
    let lead = &listed.json["data"][0];
    assert_eq!(
        (
            lead["id"].as_str(),
            lead["name"].as_str(),
            lead["status"].as_str()
        ),
        (
            Some(SEED_LEAD),
            Some("João da Conceição"),
            Some("qualificado")
        )
    );
    assert_eq!(lead["custom_fields"]["origem"], "site");
    assert_eq!(lead["user_id"], SEED_USER);
    // Found by the folded search text the migration gave the seed's row.
    let found = send(
        &leads,
        &call(&company, Role::Agent, "GET", "/api/leads", None).query(&[("search", "joao")]),
    )
    .await;
    assert_eq!(found.json["pagination"]["total"], 1, "{}", found.text);

    let conversations = send(
        &chats,
        &call(&company, Role::Agent, "GET", "/api/conversations", None),
    )
    .await;
    assert_eq!(conversations.status, 200, "{}", conversations.text);
    assert_eq!(conversations.json["data"][0]["id"], SEED_CONVERSATION);
    assert_eq!(
        conversations.json["data"][0]["last_message"]["content"],
        "Entregamos, sim!"
    );
    let messages = send(
        &chats,
        &call(
            &company,
            Role::Agent,
            "GET",
            &format!("/api/conversations/{SEED_CONVERSATION}/messages"),
            None,
        ),
    )
    .await;
    assert_eq!(messages.status, 200, "{}", messages.text);
    let contents: Vec<&str> = messages.json["data"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents.len(), 2, "{}", messages.text);
    assert!(contents.contains(&"Oi, vocês entregam?"));

    let listed = send(
        &agents,
        &call(&company, Role::Agent, "GET", "/api/agents", None),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json["data"][0]["name"], "Vendas");
    assert_eq!(listed.json["data"][0]["temperature"], 0.4);

    // The API writes beside the seed's rows: a lead changed through it keeps its place.
    let patched = send(
        &leads,
        &call(
            &company,
            Role::Agent,
            "PATCH",
            &format!("/api/leads/{SEED_LEAD}"),
            Some(json!({"score": 70})),
        ),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        one(
            &seed,
            &format!("SELECT score FROM leads WHERE id = '{SEED_LEAD}'")
        )
        .await,
        "70"
    );

    // Another company sees none of it.
    let other = wiizo_tests::company();
    let lead_of_other = send(
        &leads,
        &call(
            &other,
            Role::Agent,
            "GET",
            &format!("/api/leads/{SEED_LEAD}"),
            None,
        ),
    )
    .await;
    assert_eq!(lead_of_other.status, 404);
    let chat_of_other = send(
        &chats,
        &call(
            &other,
            Role::Agent,
            "GET",
            &format!("/api/conversations/{SEED_CONVERSATION}/messages"),
            None,
        ),
    )
    .await;
    assert_eq!(chat_of_other.status, 404);
    let none = send(
        &leads,
        &call(&other, Role::Agent, "GET", "/api/leads", None),
    )
    .await;
    assert_eq!(none.json["pagination"]["total"], 0);
}

#[tokio::test]
async fn row_level_security_refuses_a_query_that_forgot_its_company() {
    let (url, seed) = seed_database().await;
    let store = PgStore::open(&url).expect("a store");
    let ours = wiizo_tests::company();
    let lead = shared::domain::lead::LeadFields::parse(json!({"name": "Nossa"})).expect("fields");
    use shared::store::prelude::*;
    store
        .create_lead(&ours, lead, "test")
        .await
        .expect("a lead of ours");
    // The seed's company has a lead, a conversation and two messages; ours has one lead.
    for (table, everyone) in [("leads", "2"), ("conversations", "1"), ("messages", "2")] {
        let unscoped = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            one(&seed, &unscoped).await,
            everyone,
            "{table} as its owner sees it"
        );
        let seen = store
            .count_as_company(&ours, &unscoped)
            .await
            .expect("the query runs");
        let mine = if table == "leads" { 1 } else { 0 };
        assert_eq!(
            seen, mine,
            "{table}: the wall let another company's rows through"
        );
    }
    let theirs = CompanyId::new(SEED_COMPANY);
    let seen = store
        .count_as_company(&theirs, "SELECT count(*) FROM messages")
        .await
        .expect("the query runs");
    assert_eq!(seen, 2, "the company's own rows are visible");
}

/// A token as Supabase signs it: the user's id, `role: authenticated`, no company.
fn supabase_token(user: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "aud": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "sub": user,
        "email": "ana@paoquente.com.br",
        "role": "authenticated",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "aal": "aal1",
        "session_id": "9b1c1bde-8a4e-4e0a-9c36-7a2f0c5b1f10",
        "is_anonymous": false
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("a token")
}

#[tokio::test]
async fn a_supabase_token_reads_its_users_company() {
    let (url, _seed) = seed_database().await;
    let store: Arc<dyn shared::store::Store> = Arc::new(PgStore::open(&url).expect("a store"));
    let leads = app_on("leads-management", store);
    let listed = send(
        &leads,
        &Event::load("leads-management/list.json").bearer(&supabase_token(SEED_USER)),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json["data"][0]["id"], SEED_LEAD);
    // A user the database does not know has no company.
    let stranger = send(
        &leads,
        &Event::load("leads-management/list.json")
            .bearer(&supabase_token("99999999-9999-4999-8999-999999999999")),
    )
    .await;
    assert_eq!(stranger.status, 401, "{}", stranger.text);
}

#[tokio::test]
async fn a_refused_write_does_not_keep_the_company_waiting() {
    use shared::domain::lead::LeadFields;
    use shared::store::prelude::*;
    let url = pg_database().await;
    // Two function processes on one database.
    let (one_fn, other_fn) = (
        PgStore::open(&url).expect("a store"),
        PgStore::open(&url).expect("a store"),
    );
    let c = wiizo_tests::company();
    let fields =
        || LeadFields::parse(json!({"name": "Ana", "phone": "+5511987654321"})).expect("f");
    one_fn
        .create_lead(&c, fields(), "t")
        .await
        .expect("the first");
    let refused = one_fn.create_lead(&c, fields(), "t").await;
    assert!(matches!(
        refused,
        Err(shared::store::StoreError::Duplicate { .. })
    ));
    // The refused write held the company's write lock; the other process must not wait
    // for this one's next request to get it.
    let other = LeadFields::parse(json!({"name": "Bia"})).expect("f");
    let written = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        other_fn.create_lead(&c, other, "t"),
    )
    .await;
    assert!(
        matches!(written, Ok(Ok(_))),
        "the other process waited: {written:?}"
    );
}

#[tokio::test]
async fn a_polling_worker_hands_on_an_event_written_while_it_waits() {
    use shared::domain::lead::LeadFields;
    // On Lambda with PostgreSQL nothing wakes the worker: its scheduled run polls.
    let store = wiizo_tests::pg_store().await;
    let worker = app_on("events-worker", store.clone());
    let c = wiizo_tests::company();
    let writer = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let fields = LeadFields::parse(json!({"name": "Chegou depois"})).expect("f");
        store.create_lead(&c, fields, "t").await.expect("a lead");
    };
    let (polled, ()) = tokio::join!(
        events_worker::poll(&worker, std::time::Duration::from_secs(2)),
        writer
    );
    let polled = polled.expect("the worker runs");
    assert_eq!(polled["events"], 1, "{polled}");
    assert!(store.pending_events(10).await.expect("outbox").is_empty());
}

#[tokio::test]
async fn tls_connects_with_the_databases_ca_and_refuses_an_unknown_one() {
    use shared::store::prelude::*;
    let Ok(ca) = std::env::var("PG_TEST_CA") else {
        panic!("the test cluster speaks TLS when openssl is there (scripts/with-postgres.sh): install openssl");
    };
    let url = pg_database()
        .await
        .replace("sslmode=disable", "sslmode=require");
    assert!(url.contains("sslmode=require"), "{url}");
    // Trusting the cluster's certificate: connected, migrated, used.
    let store = PgStore::open_with_ca(&url, Some(std::path::Path::new(&ca))).expect("a store");
    store.ping().await.expect("a TLS connection");
    let c = wiizo_tests::company();
    let lead = shared::domain::lead::LeadFields::parse(json!({"name": "Segura"})).expect("f");
    store
        .create_lead(&c, lead, "t")
        .await
        .expect("a lead over TLS");
    let client = connect(&url.replace("sslmode=require", "sslmode=disable")).await;
    assert_eq!(
        one(&client, "SELECT count(*) FROM pg_stat_ssl WHERE ssl").await,
        "1",
        "the store's connection is the one using TLS"
    );
    // Trusting only the public roots, the self-signed certificate is refused.
    let public = PgStore::open(&url).expect("a store");
    match public.ping().await {
        Err(shared::store::StoreError::Unavailable(why)) => {
            assert!(why.contains("cannot reach PostgreSQL"), "{why}")
        }
        other => panic!("an unverified server was trusted: {other:?}"),
    }
}

/// An RDS IAM token made by the store equals botocore's (`generate_db_auth_token`, what
/// AWS's own tools use) for the same credentials, database and second.
#[test]
fn an_iam_token_is_the_one_aws_tools_make() {
    use shared::store::postgres::iam::auth_token;
    let (key, secret) = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let host = "wiizo.abc123.sa-east-1.rds.amazonaws.com";
    let credentials = aws_credential_types::Credentials::new(key, secret, None, None, "test");
    let params = |token: &str| -> std::collections::BTreeMap<String, String> {
        let (address, query) = token.split_once("/?").expect("host:port/?query");
        assert_eq!(address, format!("{host}:5432"));
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    };
    let botocore = format!(
        "import botocore.session\n\
         s = botocore.session.get_session()\n\
         s.set_credentials('{key}', '{secret}')\n\
         print(s.create_client('rds', region_name='sa-east-1')\
           .generate_db_auth_token('{host}', 5432, 'wiizo_app'))"
    );
    // Both sign at the current second: asked again if a second boundary fell between them.
    for _ in 0..3 {
        let ours = auth_token(
            &credentials,
            "sa-east-1",
            host,
            5432,
            "wiizo_app",
            std::time::SystemTime::now(),
        )
        .expect("a token");
        let out = std::process::Command::new("python3")
            .args(["-c", &botocore])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "botocore (installed by .ci/run with aws-sam-cli) must be importable by python3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (ours, theirs) = (params(&ours), params(&theirs));
        if ours.get("X-Amz-Date") != theirs.get("X-Amz-Date") {
            continue;
        }
        assert_eq!(ours, theirs);
        assert_eq!(ours["Action"], "connect");
        assert_eq!(ours["X-Amz-Expires"], "900");
        assert!(ours["X-Amz-Credential"].ends_with("/sa-east-1/rds-db/aws4_request"));
        return;
    }
    panic!("the two tokens were never made in the same second");
}
