//! The DynamoDB backend under the conditions production brings: concurrency, full
//! erasure, and an outage.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::auth::Role;
use wiizo_tests::{app_on, company, dynamo_store_on, dynamodb_endpoint, send, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_with_one_phone_make_one_lead() {
    // GIVEN a company on DynamoDB
    let app = Arc::new(app_on(
        "leads-management",
        Arc::new(dynamo_store_on(&dynamodb_endpoint()).await),
    ));
    let c = company();
    let spellings = [
        "+55 11 9 8765-4321",
        "+5511987654321",
        "+551187654321",
        "55 (11) 98765-4321",
    ];
    // WHEN 20 clients create a lead with the same phone at once
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            let event = Event::load("leads-management/create.json")
                .as_user(&c, Role::Agent)
                .json(&json!({"name": format!("Cliente {i}"), "phone": spellings[i % spellings.len()]}));
            tokio::spawn(async move { send(&app, &event).await })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut created_id = None;
    for t in tasks {
        let a = t.await.expect("the task ran");
        if a.status == 201 {
            created_id = a.json["data"]["id"].as_str().map(str::to_string);
        }
        statuses.push(a.status);
    }
    // THEN exactly one is created, the others are told who has the phone
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let list = send(
        &app,
        &Event::load("leads-management/list.json").as_user(&c, Role::Agent),
    )
    .await;
    assert_eq!(list.json["pagination"]["total"], 1);
    assert_eq!(list.json["data"][0]["id"].as_str(), created_id.as_deref());
}

struct Moto(Child);

impl Moto {
    fn start(port: u16) -> Moto {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto-server.py");
        let child = Command::new("python3")
            .args([script, "127.0.0.1", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto starts (pip install 'moto[server]')");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto(child)
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn an_outage_answers_503_in_time_and_service_resumes_after_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut moto = Moto::start(port);
    let store = Arc::new(dynamo_store_on(&endpoint).await);
    let app = app_on("leads-management", store.clone());
    let c = company();
    let list = Event::load("leads-management/list.json").as_user(&c, Role::Agent);
    assert_eq!(send(&app, &list).await.status, 200);

    // WHEN the store goes away
    moto.stop();
    let started = Instant::now();
    let down = send(&app, &list).await;
    // THEN the answer is a clear 503, well inside the function's 15 s timeout
    assert_eq!(
        (down.status, down.error_code()),
        (503, "STORE_UNAVAILABLE"),
        "{}",
        down.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let create = send(
        &app,
        &Event::load("leads-management/create.json").as_user(&c, Role::Agent),
    )
    .await;
    assert_eq!(create.status, 503);
    let health = send(&app, &Event::load("leads-management/health.json")).await;
    assert_eq!(
        (health.status, health.json["status"].as_str()),
        (503, Some("unhealthy"))
    );

    // WHEN it is back (moto keeps nothing across restarts: the table is made again)
    let _moto = Moto::start(port);
    store.create_table().await.expect("table");
    // THEN the same process serves again
    let created = send(
        &app,
        &Event::load("leads-management/create.json").as_user(&c, Role::Agent),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(send(&app, &list).await.json["pagination"]["total"], 1);
}
