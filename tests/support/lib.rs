//! What the tests share: throw-away stores and apps, tokens, requests built from the
//! `events/` files, and the store conformance suite every backend runs.

pub mod conformance;
pub mod logs;

use std::path::PathBuf;
use std::sync::Arc;

use lambda_http::{Body, Response};
use serde_json::Value;
use shared::auth::{mint, Role, TokenClaims};
use shared::config::Config;
use shared::domain::CompanyId;
use shared::store::{DynamoStore, SqliteStore, Store};
use shared::App;

pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
pub const TEST_META_APP_SECRET: &str = "test-meta-app-secret";
pub const TEST_META_VERIFY_TOKEN: &str = "test-verify-token";

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// A fresh SQLite file under the system's temp folder.
pub fn temp_db_path() -> PathBuf {
    let dir = std::env::temp_dir().join("wiizo-tests");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{}.sqlite", uuid::Uuid::new_v4()))
}

pub fn sqlite_store() -> Arc<dyn Store> {
    sqlite_store_at(&temp_db_path())
}

pub fn sqlite_store_at(path: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path).expect("a temp SQLite store opens"))
}

/// The local DynamoDB-compatible server the tests use (moto), as `make test` starts it.
/// Refuses to run without one, so a test can never reach a real AWS account.
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("DynamoDB tests need a local moto server: run them with `make test` or `scripts/with-moto.sh cargo nextest run`")
    })
}

/// A new, empty database on the PostgreSQL cluster of `DATABASE_URL` (a throw-away one:
/// `scripts/with-postgres.sh`), and its URL.
pub async fn pg_database() -> String {
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("PostgreSQL tests need a cluster: run them with `make test` or `scripts/with-postgres.sh cargo nextest run`")
    });
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("the test cluster answers");
    tokio::spawn(connection);
    let name = format!("wiizo_test_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a test database");
    let (url, options) = base.split_once('?').unwrap_or((&base, ""));
    let options = if options.is_empty() {
        String::new()
    } else {
        format!("?{options}")
    };
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}{options}"),
        None => panic!("DATABASE_URL names no database: {base}"),
    }
}

/// A store on a new, empty PostgreSQL database (migrated on its first connection).
pub async fn pg_store() -> Arc<dyn Store> {
    store_at(&pg_database().await)
}

/// The store a helper process is given: a `postgres://` URL, or a SQLite file's path.
pub fn store_at(spec: &str) -> Arc<dyn Store> {
    if spec.starts_with("postgres://") {
        Arc::new(shared::store::postgres::PgStore::open(spec).expect("a PostgreSQL store"))
    } else {
        sqlite_store_at(std::path::Path::new(spec))
    }
}

/// A store on a new, empty table of the local DynamoDB server.
pub async fn dynamo_store() -> Arc<dyn Store> {
    Arc::new(dynamo_store_on(&dynamodb_endpoint()).await)
}

/// A new table on the DynamoDB server at `endpoint`, through the production SDK set-up.
pub async fn dynamo_store_on(endpoint: &str) -> DynamoStore {
    dynamo_store_with(dynamo_config(endpoint).await).await
}

/// The production SDK set-up pointed at `endpoint`, with attempts allowed 30 s: moto serves
/// one request at a time and slows down under load, and an attempt the SDK abandons and
/// retries is applied twice by moto, which ignores transactions' ClientRequestToken.
pub async fn dynamo_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    let sdk = shared::store::dynamodb::sdk_config().await;
    aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(1))
                .operation_attempt_timeout(std::time::Duration::from_secs(30))
                .operation_timeout(std::time::Duration::from_secs(60))
                .build(),
        )
}

/// A new table through a client built from `config`.
pub async fn dynamo_store_with(config: aws_sdk_dynamodb::config::Builder) -> DynamoStore {
    let store = DynamoStore::with_client(
        aws_sdk_dynamodb::Client::from_conf(config.build()),
        format!("wiizo-test-{}", uuid::Uuid::new_v4()),
    );
    store
        .create_table()
        .await
        .expect("the test table is created");
    store
}

/// The configuration tests run with: development mode, the test secret, `vars` on top.
pub fn test_config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
            .or_else(|| match k {
                "WIIZO_ENV" => Some("development".into()),
                "JWT_SECRET" => Some(TEST_JWT_SECRET.into()),
                "META_APP_SECRET" => Some(TEST_META_APP_SECRET.into()),
                "META_VERIFY_TOKEN" => Some(TEST_META_VERIFY_TOKEN.into()),
                // Tests never reach Meta: a test that needs Graph starts a fake one.
                "META_GRAPH_URL" => Some("http://127.0.0.1:9/v21.0".into()),
                "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".into()),
                _ => None,
            })
    })
    .expect("the test configuration is valid")
}

/// A function's app on `store`.
pub fn app_on(service: &'static str, store: Arc<dyn Store>) -> App {
    App::new(service, test_config(&[]), store)
}

/// A function's app on a fresh SQLite store.
pub fn app(service: &'static str) -> App {
    app_on(service, sqlite_store())
}

/// A company that exists only as a tenant id in its tokens.
pub fn company() -> CompanyId {
    CompanyId::new(uuid::Uuid::now_v7().to_string())
}

pub fn token(company: &CompanyId, role: Role) -> String {
    let claims = TokenClaims::new(&format!("user-{}", role.as_str()), company, role, 3600);
    mint(TEST_JWT_SECRET, &claims).expect("a token is minted")
}

/// An API Gateway v2 event, loaded from `events/` and adjusted for one test.
#[derive(Debug, Clone)]
pub struct Event(pub Value);

impl Event {
    pub fn load(name: &str) -> Event {
        let path = events_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Event(serde_json::from_str(&text).expect("events are JSON"))
    }

    fn headers(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.0["headers"].is_object() {
            self.0["headers"] = Value::Object(Default::default());
        }
        self.0["headers"]
            .as_object_mut()
            .expect("headers is an object")
    }

    pub fn header(mut self, name: &str, value: &str) -> Event {
        self.headers()
            .insert(name.to_lowercase(), Value::from(value));
        self
    }

    pub fn without_header(mut self, name: &str) -> Event {
        self.headers().remove(&name.to_lowercase());
        self
    }

    /// Authenticates as `role` of `company`.
    pub fn as_user(self, company: &CompanyId, role: Role) -> Event {
        self.bearer(&token(company, role))
    }

    pub fn bearer(self, token: &str) -> Event {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn method(mut self, method: &str) -> Event {
        self.0["requestContext"]["http"]["method"] = Value::from(method);
        self
    }

    pub fn path(mut self, path: &str) -> Event {
        self.0["rawPath"] = Value::from(path);
        self.0["requestContext"]["http"]["path"] = Value::from(path);
        self
    }

    /// Replaces the query string.
    pub fn query(mut self, params: &[(&str, &str)]) -> Event {
        let map: serde_json::Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        self.0["rawQueryString"] = Value::from(
            params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
        );
        if map.is_empty() {
            self.0
                .as_object_mut()
                .map(|o| o.remove("queryStringParameters"));
        } else {
            self.0["queryStringParameters"] = Value::Object(map);
        }
        self
    }

    pub fn json(self, body: &Value) -> Event {
        self.raw_body(&body.to_string())
    }

    /// A body sent as is, with `content-type: application/json`.
    pub fn raw_body(mut self, body: &str) -> Event {
        self.0["body"] = Value::from(body);
        self.0["isBase64Encoded"] = Value::from(false);
        self.header("content-type", "application/json")
    }

    pub fn base64_body(mut self, bytes: &[u8]) -> Event {
        use base64::Engine;
        self.0["body"] = Value::from(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.0["isBase64Encoded"] = Value::from(true);
        self
    }

    pub fn request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.0.to_string()).expect("the event is a gateway request")
    }
}

/// A Meta webhook delivery of `body`, signed with the test app secret as Meta signs it.
pub fn meta_delivery(body: &str) -> Event {
    Event::load("webhooks/whatsapp-messages.json")
        .raw_body(body)
        .header(
            "x-hub-signature-256",
            &shared::signature::sign_sha256(TEST_META_APP_SECRET.as_bytes(), body.as_bytes()),
        )
}

/// A response, read the way a client reads it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

pub fn read(response: Response<Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

/// Sends `event` to the function `app` was built for.
pub async fn send(app: &App, event: &Event) -> Answer {
    let req = event.request();
    let response = match app.service {
        "leads-management" => leads_management::handle(app, req).await,
        "whatsapp-api" => whatsapp_api::handle(app, req).await,
        "webhooks" => webhooks::handle(app, req).await,
        "openai-proxy" => openai_proxy::handle(app, req).await,
        "analytics" => analytics::handle(app, req).await,
        "accounts" => accounts::handle(app, req).await,
        other => panic!("no function named {other}"),
    };
    match response {
        Ok(r) => read(r),
        Err(never) => match never {},
    }
}

/// Every message of a conversation in time order, read page by page as a client would.
pub async fn all_messages(
    store: &dyn Store,
    company: &shared::domain::CompanyId,
    conversation: uuid::Uuid,
) -> Result<Vec<shared::domain::conversation::Message>, shared::store::StoreError> {
    shared::usecase::conversations::all_messages(store, company, conversation).await
}

/// A signed delivery to a custom inbound endpoint, sent `age_secs` ago.
pub fn custom_delivery(
    client_id: &str,
    secret: &str,
    event: &str,
    data: Value,
    age_secs: i64,
) -> Event {
    let at = chrono::Utc::now().timestamp() - age_secs;
    let body = serde_json::json!({"event": event, "data": data, "timestamp": at}).to_string();
    Event::load("webhooks/whatsapp-messages.json")
        .path(&format!("/webhooks/{client_id}"))
        .raw_body(&body)
        .without_header("x-hub-signature-256")
        .header(
            "x-webhook-signature",
            &shared::signature::sign_sha256(secret.as_bytes(), body.as_bytes()),
        )
}

/// Every function's route table, by the function's name.
pub fn route_tables() -> [(&'static str, &'static [shared::http::Route]); 6] {
    [
        ("leads-management", leads_management::ROUTES),
        ("whatsapp-api", whatsapp_api::ROUTES),
        ("webhooks", webhooks::ROUTES),
        ("openai-proxy", openai_proxy::ROUTES),
        ("analytics", analytics::ROUTES),
        ("accounts", accounts::ROUTES),
    ]
}

/// The whole API's contract, from every function's route table.
pub fn contract() -> serde_json::Value {
    shared::http::openapi::document(&route_tables())
}

/// Runs futures concurrently on the current task.
pub async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// A request of the person of company `c` with `role`: `method path`, with a JSON body.
pub fn call(c: &CompanyId, role: Role, method: &str, path: &str, body: Option<Value>) -> Event {
    let e = Event::load("leads-management/list.json")
        .as_user(c, role)
        .method(method)
        .path(path);
    match body {
        Some(b) => e.json(&b),
        None => e,
    }
}
