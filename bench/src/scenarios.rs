//! What is measured: the floor, then each scenario on the chosen store.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use shared::auth::{mint, Role, TokenClaims};
use shared::config::StoreConfig;
use shared::domain::lead::LeadFields;
use shared::domain::CompanyId;

use crate::driver::{
    file_size, measure_cold, measure_init, measure_paired, measure_warm, Failure, Function, Load,
};
use crate::report::{Check, Report, Row};
use crate::Options;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";
const META_SECRET: &str = "bench-meta-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";

/// A signed WhatsApp delivery of 10 text messages from a pool of 50 customers: the first
/// batches create leads and conversations, later ones mostly add to them.
fn whatsapp_batch(envelope: &Event, i: usize) -> Bytes {
    let messages: Vec<Value> = (0..10)
        .map(|k| {
            let n = (i * 10 + k) % 50;
            json!({"from": format!("55119{:08}", 70_000_000 + n), "id": format!("wamid.bench.{i}.{k}"),
                   "timestamp": "1795766400", "type": "text", "text": {"body": "Olá, ainda tem pão de queijo? 🧀"}})
        })
        .collect();
    let contacts: Vec<Value> = messages
        .iter()
        .map(|m| json!({"profile": {"name": "Cliente"}, "wa_id": m["from"]}))
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "551130000000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": contacts, "messages": messages}}]}]})
    .to_string();
    let mut e = Event(envelope.0.clone());
    e.0["body"] = Value::from(body.as_str());
    e.0["headers"]["x-hub-signature-256"] = Value::from(shared::signature::sign_sha256(
        META_SECRET.as_bytes(),
        body.as_bytes(),
    ));
    e.bytes()
}

/// An event file from `events/`, adjusted.
struct Event(Value);

impl Event {
    fn load(dir: &Path, name: &str) -> Result<Event, String> {
        let path = dir.join(name);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map(Event)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn token(mut self, token: &str) -> Event {
        self.0["headers"]["authorization"] = Value::from(format!("Bearer {token}"));
        self
    }

    fn path(mut self, path: &str) -> Event {
        self.0["rawPath"] = Value::from(path);
        self.0["requestContext"]["http"]["path"] = Value::from(path);
        self
    }

    fn query(mut self, params: &[(&str, &str)]) -> Event {
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
        self.0["queryStringParameters"] = Value::Object(map);
        self
    }

    fn body(mut self, body: &Value) -> Event {
        self.0["body"] = Value::from(body.to_string());
        self
    }

    fn bytes(&self) -> Bytes {
        Bytes::from(self.0.to_string())
    }
}

struct Scenario {
    name: &'static str,
    function: &'static str,
    events: Vec<Bytes>,
    expect: u16,
}

fn store_env(opts: &Options, sqlite_path: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("WIIZO_ENV".to_string(), "production".to_string()),
        ("JWT_SECRET".into(), SECRET.into()),
        ("META_APP_SECRET".into(), META_SECRET.into()),
        (
            "META_VERIFY_TOKEN".into(),
            "bench-verify-token-0123456789abcdef01234".into(),
        ),
        ("RUST_LOG".into(), opts.log.clone()),
    ];
    if opts.store == "dynamodb" {
        env.push(("WIIZO_STORE".into(), "dynamodb".into()));
        env.push(("WIIZO_TABLE".into(), "wiizo-bench".into()));
        for var in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_EC2_METADATA_DISABLED",
        ] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.into(), v));
            }
        }
    } else if opts.store == "postgres" {
        env.push(("WIIZO_STORE".into(), "postgres".into()));
        env.push(("DATABASE_URL".into(), database_url()));
    } else {
        env.push(("WIIZO_STORE".into(), "sqlite".into()));
        env.push((
            "WIIZO_SQLITE_PATH".into(),
            sqlite_path.display().to_string(),
        ));
    }
    env
}

/// The PostgreSQL database of `--store postgres` (empty when unset: the store then says so).
fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_default()
}

/// Fills the store with `n` leads of one company; returns the company and one lead's id.
async fn seed(opts: &Options, config: &StoreConfig) -> Result<(CompanyId, String), String> {
    shared::store::migrate(config)
        .await
        .map_err(|e| format!("migrate: {e}"))?;
    let store = shared::store::open(config)
        .await
        .map_err(|e| format!("open: {e}"))?;
    // A company whose rate limits let thousands of requests through in seconds.
    let company = store
        .create_company(&format!("Bench {}", uuid::Uuid::now_v7()))
        .await
        .map_err(|e| format!("company: {e}"))?
        .id;
    // The most a setting allows: 1 000 000 a minute, a burst of 100 000.
    let unlimited = json!({"per_minute": 1_000_000, "burst": 100_000});
    let settings = json!({"rate_limits": {"leads": unlimited, "api": unlimited, "ai": unlimited,
                                          "analytics": unlimited}});
    store
        .update_company(
            &company,
            shared::domain::company::CompanyChange {
                settings: Some(settings),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("settings: {e}"))?;
    let channel = shared::domain::account::NewChannelAccount {
        channel: shared::domain::conversation::Channel::Whatsapp,
        external_id: PHONE_NUMBER_ID.into(),
        name: "Bench".into(),
        token: shared::domain::account::AccessToken::new("EAAG-bench".into()),
    };
    store
        .create_channel(&company, channel)
        .await
        .map_err(|e| format!("channel: {e}"))?;
    let started = Instant::now();
    let mut some_id = String::new();
    for i in 0..opts.leads {
        let source = ["whatsapp", "instagram", "facebook"][i % 3];
        let fields = LeadFields::parse(json!({
            "name": format!("Cliente {i:05} da Silva"),
            "email": format!("cliente{i}@exemplo.com.br"),
            "phone": format!("+55119{:08}", 60_000_000 + i),
            "score": i % 101,
            "source": source,
        }))
        .map_err(|e| format!("seed lead: {e}"))?;
        let lead = store
            .create_lead(&company, fields, "bench")
            .await
            .map_err(|e| format!("seeding lead {i}: {e}"))?;
        if i == opts.leads / 2 || some_id.is_empty() {
            some_id = lead.id.to_string();
        }
    }
    // A year of analytics: each day's tallies, as the events worker writes them.
    let today = chrono::Utc::now().date_naive();
    for d in 0..366 {
        let day = (today - chrono::Duration::days(d)).to_string();
        let tallies: Vec<shared::domain::analytics::Tally> = [
            ("leads.new", 27),
            ("leads.qualified", 9),
            ("leads.converted", 3),
            ("messages.received", 270),
            ("messages.sent", 240),
            ("messages.status.read", 200),
        ]
        .map(|(metric, delta)| shared::domain::analytics::Tally {
            day: day.clone(),
            metric: metric.into(),
            delta,
        })
        .to_vec();
        store
            .add_tallies(&company, &format!("evt_bench_{d}"), &tallies)
            .await
            .map_err(|e| format!("tallies: {e}"))?;
    }
    eprintln!(
        "seeded {} leads and a year of analytics in {:.1}s",
        opts.leads,
        started.elapsed().as_secs_f64()
    );
    Ok((company, some_id))
}

pub async fn run(opts: &Options) -> Result<Report, String> {
    let work = std::env::temp_dir().join(format!("wiizo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let sqlite_path = work.join("bench.sqlite");
    let config = if opts.store == "dynamodb" {
        StoreConfig::Dynamodb {
            table: "wiizo-bench".into(),
        }
    } else if opts.store == "postgres" {
        StoreConfig::Postgres {
            url: database_url(),
            ca_file: None,
            iam_auth: false,
        }
    } else {
        StoreConfig::Sqlite {
            path: sqlite_path.clone(),
        }
    };
    let (company, lead_id) = seed(opts, &config).await?;
    let token = mint(
        SECRET,
        &TokenClaims::new("bench-user", &company, Role::Agent, 3600),
    )
    .map_err(|e| e.to_string())?;
    let ev = |name: &str| Event::load(&opts.events, name).map(|e| e.token(&token));

    let envelope = Event::load(&opts.events, "webhooks/whatsapp-messages.json")?;
    let batches: Vec<Bytes> = (0..opts.invocations.max(1))
        .map(|i| whatsapp_batch(&envelope, i))
        .collect();
    let creates: Vec<Bytes> = (0..opts.invocations.max(1))
        .map(|i| {
            ev("leads-management/create.json").map(|e| {
                e.body(&json!({"name": format!("Novo {i}"), "notes": "não 🎉"}))
                    .bytes()
            })
        })
        .collect::<Result<_, _>>()?;
    // The year the seed counted, to the day (the company's days are São Paulo's; the seed's
    // UTC days cover them).
    let today = chrono::Utc::now().date_naive();
    let (year_ago, today) = (
        (today - chrono::Duration::days(364)).to_string(),
        today.to_string(),
    );
    let scenarios = [
        Scenario {
            name: "floor: hello-world lambda_http",
            function: "hello",
            events: vec![ev("accounts/health.json")?.bytes()],
            expect: 200,
        },
        Scenario {
            name: "health (accounts)",
            function: "accounts",
            events: vec![ev("accounts/health.json")?.bytes()],
            expect: 200,
        },
        Scenario {
            name: "auth + routing + 404 envelope",
            function: "leads-management",
            events: vec![ev("leads-management/list.json")?
                .path("/api/nothing-here")
                .bytes()],
            expect: 404,
        },
        Scenario {
            name: "lead: GET one",
            function: "leads-management",
            events: vec![ev("leads-management/get.json")?
                .path(&format!("/api/leads/{lead_id}"))
                .bytes()],
            expect: 200,
        },
        Scenario {
            name: "leads: list 20 of N",
            function: "leads-management",
            events: vec![ev("leads-management/list.json")?
                .query(&[("limit", "20")])
                .bytes()],
            expect: 200,
        },
        Scenario {
            name: "lead: create",
            function: "leads-management",
            events: creates,
            expect: 201,
        },
        Scenario {
            name: "webhooks: ingest signed 10-message batch",
            function: "webhooks",
            events: batches,
            expect: 200,
        },
        Scenario {
            name: "analytics: a year of daily leads",
            function: "analytics",
            events: vec![ev("analytics/leads.json")?
                .query(&[("from", &year_ago), ("to", &today), ("group_by", "day")])
                .bytes()],
            expect: 200,
        },
        Scenario {
            name: "ai: completion, local upstream",
            function: "openai-proxy",
            events: vec![ev("openai-proxy/seed-form.json")?.bytes()],
            expect: 200,
        },
    ];

    let upstream = crate::runtime_api::fake_openai()
        .await
        .map_err(|e| format!("the OpenAI stand-in: {e}"))?;
    let mut env = store_env(opts, &sqlite_path);
    env.push(("OPENAI_BASE_URL".into(), format!("http://{upstream}/v1")));
    env.push(("OPENAI_API_KEY".into(), "sk-bench".into()));
    let function = |name: &str| Function {
        name: name.to_string(),
        binary: opts.bin_dir.join(name),
        env: env.clone(),
    };
    let mut rows = Vec::new();
    let floor_fn = function(scenarios[0].function);
    let floor = Load {
        function: &floor_fn,
        events: &scenarios[0].events,
        expect: scenarios[0].expect,
    };
    for (i, s) in scenarios.iter().enumerate() {
        eprintln!("measuring {} …", s.name);
        let f = function(s.function);
        let first = s.events.first().map(|e| (e, s.expect));
        let cold = measure_cold(&f, opts.inits, first, (i > 0).then_some(&floor_fn)).await;
        let load = Load {
            function: &f,
            events: &s.events,
            expect: s.expect,
        };
        let (warm, paired_floor) = if i == 0 {
            (measure_warm(&load, opts.invocations, None).await, None)
        } else {
            match measure_paired(&floor, &load, opts.invocations).await {
                Ok((warm, floor_latencies)) => (Ok(warm), Some(floor_latencies)),
                Err(e) => (Err(e), None),
            }
        };
        let size = file_size(&f.binary);
        rows.push(Row::new(s.name, s.function, size, cold, warm, paired_floor));
    }

    let checks = failure_checks(&function("leads-management"), &scenarios[3].events).await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(Report::new(opts, rows, checks))
}

/// The tool's own promise: a function that dies is reported, never waited on forever.
async fn failure_checks(f: &Function, events: &[Bytes]) -> Vec<Check> {
    let mut broken = f.clone();
    broken
        .env
        .push(("WIIZO_STORE".into(), "no-such-store".into()));
    let started = Instant::now();
    let init = measure_init(&broken, 1).await;
    let mut checks = vec![Check::new(
        "a function that fails at init",
        matches!(init, Err(Failure::InitCrash(_))),
        describe(init.map(|_| ()), started.elapsed()),
    )];
    let started = Instant::now();
    let load = Load {
        function: f,
        events,
        expect: 200,
    };
    let killed = measure_warm(&load, 200, Some(50)).await;
    checks.push(Check::new(
        "a function killed mid-run",
        matches!(killed, Err(Failure::Crashed(_))),
        describe(killed.map(|_| ()), started.elapsed()),
    ));
    checks
}

fn describe(result: Result<(), Failure>, took: Duration) -> String {
    match result {
        Ok(()) => format!("not detected ({took:.1?})"),
        Err(f) => format!("reported in {:.0} ms: {f}", took.as_secs_f64() * 1000.0),
    }
}
