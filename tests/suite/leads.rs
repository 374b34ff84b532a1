//! The leads API, driven through the leads-management handler with requests built from
//! `events/leads-management/*.json`.

use serde_json::{json, Value};
use shared::auth::Role;
use shared::domain::CompanyId;
use wiizo_tests::{app, company, send, Answer, Event};

const SERVICE: &str = "leads-management";

fn ev(name: &str, c: &CompanyId) -> Event {
    Event::load(&format!("leads-management/{name}.json")).as_user(c, Role::Agent)
}

async fn create(app: &shared::App, c: &CompanyId, body: Value) -> Answer {
    send(app, &ev("create", c).json(&body)).await
}

fn lead_path(id: &str) -> String {
    format!("/api/leads/{id}")
}

#[tokio::test]
async fn an_empty_company_lists_no_leads() {
    // GIVEN a new company WHEN it lists its leads THEN it gets an empty page.
    let app = app(SERVICE);
    let a = send(&app, &ev("list", &company())).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["success"], true);
    assert_eq!(a.json["data"], json!([]));
    assert_eq!(
        a.json["pagination"],
        json!({"page": 1, "limit": 20, "total": 0, "pages": 0, "hasNext": false, "hasPrev": false})
    );
    assert!(a.json["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn a_lead_lives_through_create_get_update_and_delete() {
    let app = app(SERVICE);
    let c = company();
    // WHEN the example lead is created THEN it comes back stored, with defaults.
    let created = send(&app, &ev("create", &c)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let lead = &created.json["data"];
    let id = lead["id"].as_str().expect("an id").to_string();
    assert_eq!(lead["name"], "João da Conceição");
    assert_eq!(lead["phone"], "+5511987654321");
    assert_eq!(lead["pipeline"], "novos-leads");
    assert_eq!(lead["status"], "novo");
    assert_eq!(lead["score"], 0);
    assert_eq!(lead["notes"], "Pediu orçamento às 14h 🎉");
    assert_eq!(lead["custom_fields"]["orçamento"], 1500);
    assert!(lead["created_at"].as_str().is_some_and(|t| t.len() == 24));
    assert_eq!(lead["created_at"], lead["updated_at"]);

    // get
    let got = send(&app, &ev("get", &c).path(&lead_path(&id))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["data"], *lead);

    // PUT merges: absent fields untouched.
    let put = send(&app, &ev("put", &c).path(&lead_path(&id))).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json["data"]["status"], "qualificado");
    assert_eq!(put.json["data"]["score"], 80);
    assert_eq!(put.json["data"]["email"], "joao@exemplo.com.br");

    // PATCH: null clears, custom_fields merge key by key.
    let patched = send(&app, &ev("patch", &c).path(&lead_path(&id))).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let p = &patched.json["data"];
    assert_eq!(p["pipeline"], "negociacao");
    assert_eq!(p["notes"], Value::Null);
    assert_eq!(
        p["custom_fields"],
        json!({"interesse": "pão de queijo", "orçamento": 2000})
    );
    assert_eq!(p["status"], "qualificado");

    // list shows it
    let listed = send(&app, &ev("list", &c)).await;
    assert_eq!(listed.json["data"][0]["id"], id.as_str());
    assert_eq!(listed.json["pagination"]["total"], 1);

    // delete answers the seed's message, and the lead is gone.
    let deleted = send(&app, &ev("delete", &c).path(&lead_path(&id))).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json["success"], true);
    assert_eq!(deleted.json["message"], "Lead deleted successfully");
    let gone = send(&app, &ev("get", &c).path(&lead_path(&id))).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_code(), "LEAD_NOT_FOUND");
}

#[tokio::test]
async fn history_shows_creation_and_every_move_with_who_made_it() {
    let app = app(SERVICE);
    let c = company();
    let id = create(&app, &c, json!({"name": "Histórico"})).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = lead_path(&id);
    for body in [
        json!({"status": "contato"}),
        json!({"notes": "só nota"}),
        json!({"status": "qualificado", "pipeline": "vendas"}),
    ] {
        let a = send(
            &app,
            &ev("patch", &c)
                .path(&path)
                .json(&body)
                .as_user(&c, Role::Admin),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let h = send(&app, &ev("history", &c).path(&format!("{path}/history"))).await;
    assert_eq!(h.status, 200, "{}", h.text);
    let steps: Vec<(String, Value, Value, Value)> = h.json["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["from"].clone(),
                e["to"].clone(),
                e["by"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                "created".into(),
                Value::Null,
                json!("novo"),
                json!("user-agent")
            ),
            (
                "status_changed".into(),
                json!("novo"),
                json!("contato"),
                json!("user-admin")
            ),
            (
                "status_changed".into(),
                json!("contato"),
                json!("qualificado"),
                json!("user-admin")
            ),
            (
                "pipeline_changed".into(),
                json!("novos-leads"),
                json!("vendas"),
                json!("user-admin")
            ),
        ]
    );
    let ats: Vec<&str> = h.json["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["at"].as_str())
        .collect();
    let mut sorted = ats.clone();
    sorted.sort();
    assert_eq!(ats, sorted, "in time order");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_naming_the_fields() {
    let app = app(SERVICE);
    let c = company();
    let create_ev = ev("create", &c);
    let cases: Vec<(Event, u16, &str, Option<&str>)> = vec![
        (
            create_ev.clone().raw_body("{\"name\": \"Ana\","),
            400,
            "BAD_REQUEST",
            None,
        ),
        (
            create_ev
                .clone()
                .raw_body("{\"name\": \"Ana\"}")
                .header("content-type", "text/plain"),
            400,
            "BAD_REQUEST",
            None,
        ),
        (create_ev.clone().raw_body(""), 400, "BAD_REQUEST", None),
        (
            create_ev.clone().json(&json!({"email": "a@b.com"})),
            422,
            "MISSING_REQUIRED_FIELD",
            Some("name"),
        ),
        (
            create_ev.clone().json(&json!({"name": null})),
            422,
            "MISSING_REQUIRED_FIELD",
            Some("name"),
        ),
        (
            create_ev.clone().json(&json!({"name": "   "})),
            422,
            "VALIDATION_ERROR",
            Some("name"),
        ),
        (
            create_ev.clone().json(&json!({"name": "x".repeat(256)})),
            422,
            "VALIDATION_ERROR",
            Some("name"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "email": "not-an-email"})),
            422,
            "VALIDATION_ERROR",
            Some("email"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "phone": "12-abc"})),
            422,
            "VALIDATION_ERROR",
            Some("phone"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "phone": "+0123"})),
            422,
            "VALIDATION_ERROR",
            Some("phone"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "score": 101})),
            422,
            "VALIDATION_ERROR",
            Some("score"),
        ),
        (
            create_ev.clone().json(&json!({"name": "Ana", "score": -1})),
            422,
            "VALIDATION_ERROR",
            Some("score"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "score": 5.5})),
            422,
            "VALIDATION_ERROR",
            Some("score"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "score": "alto"})),
            422,
            "VALIDATION_ERROR",
            Some("score"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "custom_fields": [1]})),
            422,
            "VALIDATION_ERROR",
            Some("custom_fields"),
        ),
        (
            create_ev
                .clone()
                .json(&json!({"name": "Ana", "favourite": "azul"})),
            422,
            "VALIDATION_ERROR",
            Some("favourite"),
        ),
        (
            create_ev.clone().json(&json!([{"name": "Ana"}])),
            422,
            "VALIDATION_ERROR",
            Some("body"),
        ),
        (
            ev("list", &c).query(&[("sort", "password")]),
            422,
            "VALIDATION_ERROR",
            Some("sort"),
        ),
        (
            ev("list", &c).query(&[("limit", "0")]),
            422,
            "VALIDATION_ERROR",
            Some("limit"),
        ),
        (
            ev("list", &c).query(&[("limit", "1000")]),
            422,
            "VALIDATION_ERROR",
            Some("limit"),
        ),
        (
            ev("list", &c).query(&[("page", "0")]),
            422,
            "VALIDATION_ERROR",
            Some("page"),
        ),
        (
            ev("list", &c).query(&[("order", "sideways")]),
            422,
            "VALIDATION_ERROR",
            Some("order"),
        ),
        (
            ev("list", &c).query(&[("cursor", "not-a-cursor")]),
            422,
            "VALIDATION_ERROR",
            Some("cursor"),
        ),
        (
            ev("list", &c).query(&[("created_from", "yesterday")]),
            422,
            "VALIDATION_ERROR",
            Some("created_from"),
        ),
        (
            ev("list", &c).query(&[("colour", "red")]),
            422,
            "VALIDATION_ERROR",
            Some("colour"),
        ),
    ];
    for (event, status, code, field) in cases {
        let a = send(&app, &event).await;
        let body = event.0["body"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect::<String>();
        assert_eq!(
            a.status, status,
            "{body} {}: {}",
            event.0["rawQueryString"], a.text
        );
        assert_eq!(a.json["success"], false);
        assert_eq!(a.error_code(), code, "{}", a.text);
        if let Some(field) = field {
            assert!(
                a.json["error"]["details"][field].is_array(),
                "details name {field}: {}",
                a.text
            );
        }
    }
    // Nothing was written by any of them.
    assert_eq!(
        send(&app, &ev("list", &c)).await.json["pagination"]["total"],
        0
    );
}

#[tokio::test]
async fn a_cursor_for_another_sort_is_refused() {
    let app = app(SERVICE);
    let c = company();
    for i in 0..3 {
        create(&app, &c, json!({"name": format!("L{i}")})).await;
    }
    let first = send(&app, &ev("list", &c).query(&[("limit", "2")])).await;
    let cursor = first.json["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_string();
    let other = send(
        &app,
        &ev("list", &c).query(&[("limit", "2"), ("sort", "name"), ("cursor", &cursor)]),
    )
    .await;
    assert_eq!(other.status, 422);
    assert!(other.json["error"]["details"]["cursor"].is_array());
}

#[tokio::test]
async fn no_body_of_any_shape_makes_a_server_error() {
    let app = app(SERVICE);
    let c = company();
    let id = create(&app, &c, json!({"name": "Alvo"})).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let bodies = [
        "null",
        "true",
        "0",
        "\"x\"",
        "[]",
        "{}",
        "{\"name\":{}}",
        "{\"name\":[\"a\"]}",
        "{\"name\":\"a\",\"score\":1e400}",
        "{\"name\":\"a\",\"score\":99999999999999999999}",
        "{\"name\":\"a\",\"custom_fields\":null}",
        "{\"name\":\"\\u0000\"}",
        "{\"name\":\"a\",\"email\":null,\"phone\":null}",
        "{\"a\":",
        "\u{feff}{}",
        "{\"name\":\"a\"}garbage",
        "{\"name\":\"\\ud800\"}",
    ];
    for body in bodies {
        for (event, path) in [
            (ev("create", &c), "/api/leads".to_string()),
            (ev("patch", &c), lead_path(&id)),
            (ev("put", &c), lead_path(&id)),
        ] {
            let a = send(&app, &event.path(&path).raw_body(body)).await;
            assert!(a.status < 500, "{body} on {path}: {} {}", a.status, a.text);
            assert!(a.json.is_object(), "{body}: an envelope");
        }
    }
    let weird_ids = [
        "x",
        "1",
        "..",
        "%00",
        "0196f3a2-7c4e-7b1a-9e2f-3d4c5b6a7980extra",
    ];
    for id in weird_ids {
        let a = send(&app, &ev("get", &c).path(&lead_path(id))).await;
        assert_eq!(a.status, 404, "{id}");
    }
    let a = send(&app, &ev("get", &c).path("/api/leads/x/y/z")).await;
    assert_eq!((a.status, a.error_code()), (404, "NOT_FOUND"));
    let a = send(&app, &ev("list", &c).method("DELETE")).await;
    assert_eq!((a.status, a.error_code()), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test]
async fn one_phone_and_one_email_per_lead_within_a_company() {
    let app = app(SERVICE);
    let (a, b) = (company(), company());
    let first = create(
        &app,
        &a,
        json!({"name": "Ana", "phone": "+55 11 9 8765-4321", "email": "Ana@Loja.com.br"}),
    )
    .await;
    assert_eq!(first.status, 201);
    let first_id = first.json["data"]["id"].as_str().expect("id").to_string();
    for dup in [
        json!({"name": "A2", "phone": "+5511987654321"}),
        json!({"name": "A3", "phone": "+551187654321"}),
        json!({"name": "A4", "phone": "55 (11) 98765-4321"}),
        json!({"name": "A5", "email": "ana@loja.com.br"}),
        json!({"name": "A6", "email": "ANA@LOJA.COM.BR", "phone": "+5511900000000"}),
    ] {
        let r = create(&app, &a, dup.clone()).await;
        assert_eq!(r.status, 409, "{dup}: {}", r.text);
        assert_eq!(r.error_code(), "CONFLICT");
        assert_eq!(
            r.json["error"]["details"]["existing_lead_id"],
            first_id.as_str()
        );
        assert!(r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&first_id)));
    }
    // The same contact in another company is a different lead.
    let other = create(
        &app,
        &b,
        json!({"name": "Ana", "phone": "+551187654321", "email": "ana@loja.com.br"}),
    )
    .await;
    assert_eq!(other.status, 201);
    // Updating a lead onto another's phone is refused too.
    let second = create(&app, &a, json!({"name": "Bia", "phone": "+5511912345678"})).await;
    let second_id = second.json["data"]["id"].as_str().expect("id");
    let clash = send(
        &app,
        &ev("patch", &a)
            .path(&lead_path(second_id))
            .json(&json!({"phone": "+551187654321"})),
    )
    .await;
    assert_eq!(clash.status, 409);
    assert_eq!(
        send(&app, &ev("list", &a)).await.json["pagination"]["total"],
        2
    );
}

#[tokio::test]
async fn another_companys_lead_answers_404_everywhere() {
    let app = app(SERVICE);
    let (a, b) = (company(), company());
    let id = create(&app, &a, json!({"name": "Segredo"})).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = lead_path(&id);
    for event in [
        ev("get", &b).path(&path),
        ev("put", &b).path(&path),
        ev("patch", &b).path(&path),
        ev("delete", &b).path(&path),
        ev("history", &b).path(&format!("{path}/history")),
    ] {
        let r = send(&app, &event).await;
        assert_eq!(
            (r.status, r.error_code()),
            (404, "LEAD_NOT_FOUND"),
            "{}",
            event.0["requestContext"]["http"]["method"]
        );
        assert!(!r.text.contains("Segredo"));
    }
    let missing = send(
        &app,
        &ev("get", &b).path(&lead_path("0196f3a2-7c4e-7b1a-9e2f-3d4c5b6a7980")),
    )
    .await;
    assert_eq!(
        missing.json["error"],
        send(&app, &ev("get", &b).path(&path)).await.json["error"]
    );
    let listed = send(&app, &ev("list", &b).query(&[("search", "segredo")])).await;
    assert_eq!(listed.json["data"], json!([]));
    // A's lead is unharmed.
    let mine = send(&app, &ev("get", &a).path(&path)).await;
    assert_eq!(mine.json["data"]["name"], "Segredo");
}

#[tokio::test]
async fn search_filters_sort_and_offset_pages() {
    let app = app(SERVICE);
    let c = company();
    for (name, status, score) in [
        ("João", "novo", 10),
        ("Joana", "qualificado", 50),
        ("Conceição", "novo", 90),
        ("Zé", "perdido", 30),
    ] {
        assert_eq!(
            create(
                &app,
                &c,
                json!({"name": name, "status": status, "score": score})
            )
            .await
            .status,
            201
        );
    }
    let names = |a: &Answer| -> Vec<String> {
        a.json["data"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let found = send(&app, &ev("list", &c).query(&[("search", "JOAO")])).await;
    assert_eq!(names(&found), vec!["João"]);
    let found = send(&app, &ev("list", &c).query(&[("search", "conceicao")])).await;
    assert_eq!(names(&found), vec!["Conceição"]);
    let filtered = send(
        &app,
        &ev("list-filtered", &c).query(&[("status", "novo"), ("sort", "score"), ("order", "desc")]),
    )
    .await;
    assert_eq!(names(&filtered), vec!["Conceição", "João"]);
    let page = send(
        &app,
        &ev("list", &c).query(&[
            ("sort", "score"),
            ("order", "asc"),
            ("limit", "3"),
            ("page", "2"),
        ]),
    )
    .await;
    assert_eq!(names(&page), vec!["Conceição"]);
    assert_eq!(
        page.json["pagination"],
        json!({"page": 2, "limit": 3, "total": 4, "pages": 2, "hasNext": false, "hasPrev": true})
    );
    let page1 = send(
        &app,
        &ev("list", &c).query(&[("sort", "score"), ("order", "asc"), ("limit", "3")]),
    )
    .await;
    assert_eq!(names(&page1), vec!["João", "Zé", "Joana"]);
    assert_eq!(page1.json["pagination"]["hasNext"], true);
    assert!(page1.json["next_cursor"].is_string());
    // The example event itself is a valid query.
    let example = send(&app, &ev("list-filtered", &c)).await;
    assert_eq!(example.status, 200, "{}", example.text);
}

#[tokio::test]
async fn cursor_pages_have_no_duplicates_or_gaps_while_leads_arrive() {
    let app = app(SERVICE);
    let c = company();
    for i in 0..30 {
        create(&app, &c, json!({"name": format!("antes-{i:02}")})).await;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0..20 {
        let mut q = vec![("limit", "8")];
        if let Some(cur) = cursor.as_deref() {
            q.push(("cursor", cur));
        }
        let page = send(&app, &ev("list", &c).query(&q)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(
            page.json["data"]
                .as_array()
                .expect("list")
                .iter()
                .filter_map(|l| l["name"].as_str().map(str::to_string)),
        );
        create(&app, &c, json!({"name": format!("durante-{round}")})).await;
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..30).rev().map(|i| format!("antes-{i:02}")).collect();
    assert_eq!(
        seen, expected,
        "newest first, each once, none missing, none of the new ones"
    );
}

#[tokio::test]
async fn viewers_read_but_never_write() {
    let app = app(SERVICE);
    let c = company();
    let id = create(&app, &c, json!({"name": "Só leitura"})).await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = lead_path(&id);
    for event in [
        ev("create", &c),
        ev("put", &c).path(&path),
        ev("patch", &c).path(&path),
        ev("delete", &c).path(&path),
    ] {
        let r = send(&app, &event.as_user(&c, Role::Viewer)).await;
        assert_eq!((r.status, r.error_code()), (403, "FORBIDDEN"));
    }
    for event in [
        ev("list", &c),
        ev("get", &c).path(&path),
        ev("history", &c).path(&format!("{path}/history")),
    ] {
        assert_eq!(
            send(&app, &event.as_user(&c, Role::Viewer)).await.status,
            200
        );
    }
}
