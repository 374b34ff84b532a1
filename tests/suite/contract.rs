//! The contract in the repository is the one the route tables make, and each function
//! serves its part.

use serde_json::{json, Value};
use wiizo_tests::{app, app_on, send, Event};

fn committed() -> Value {
    let text = include_str!("../../openapi.json");
    serde_json::from_str(text).expect("openapi.json is JSON")
}

#[test]
fn openapi_json_is_the_contract_the_route_tables_make() {
    assert_eq!(
        committed(),
        wiizo_tests::contract(),
        "openapi.json is out of date: run `make openapi` and commit it"
    );
}

#[test]
fn every_route_of_every_table_is_in_the_contract_and_nothing_else() {
    let contract = committed();
    let mut in_tables = Vec::new();
    for (_, routes) in wiizo_tests::route_tables() {
        for r in routes.iter() {
            in_tables.push(format!(
                "{} {}",
                r.method.as_str().to_lowercase(),
                r.pattern
            ));
        }
    }
    let mut in_contract = Vec::new();
    for (path, item) in contract["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            in_contract.push(format!("{method} {path}"));
        }
    }
    in_tables.sort();
    in_contract.sort();
    assert_eq!(in_tables, in_contract);
    assert!(in_tables.len() >= 35, "{}", in_tables.len());
}

#[test]
fn every_route_has_its_bodies_and_answers_described() {
    let mut missing = Vec::new();
    for (function, routes) in wiizo_tests::route_tables() {
        for r in routes.iter() {
            if !shared::http::openapi::describes(r) {
                missing.push(format!("{function}: {} {}", r.method, r.pattern));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these to shared/src/http/openapi/operations.rs: {missing:?}"
    );
}

#[tokio::test]
async fn each_function_serves_its_part_and_accounts_the_whole_with_its_page() {
    for (function, routes) in wiizo_tests::route_tables() {
        let a = send(
            &app(function),
            &Event::load("leads-management/list.json")
                .without_header("authorization")
                .path("/openapi.json"),
        )
        .await;
        assert_eq!(a.status, 200, "{function}");
        assert_eq!(a.json["openapi"], "3.1.0");
        let served: usize = a.json["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .map(|i| i.as_object().map_or(0, |o| o.len()))
                    .sum()
            })
            .unwrap_or(0);
        if function == "accounts" {
            // The gateway's GET /openapi.json: the whole contract, as committed.
            assert_eq!(a.json, committed());
        } else {
            assert_eq!(served, routes.len(), "{function}");
        }
    }
    let page = send(
        &app("accounts"),
        &Event::load("leads-management/list.json")
            .without_header("authorization")
            .path("/docs"),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(r#"spec-url="openapi.json""#),
        "{}",
        page.text
    );
    // The contract's security holds: an /api operation without credentials is a 401.
    let a = send(
        &app("leads-management"),
        &Event::load("leads-management/list.json").without_header("authorization"),
    )
    .await;
    assert_eq!(a.status, 401);
}

/// The gateway in `template.yaml` routes every route of every table to its function.
#[test]
fn the_gateway_routes_every_route_to_its_function() {
    let template = include_str!("../../template.yaml");
    // (binary, gateway path) for each HttpApi event, read from the template's text.
    let mut routed: Vec<(String, String)> = Vec::new();
    let mut binary = String::new();
    for line in template.lines() {
        let line = line.trim();
        if let Some(b) = line.strip_prefix("Binary: ") {
            binary = b.trim().to_string();
        } else if let Some(p) = line.strip_prefix("Path: ") {
            routed.push((binary.clone(), p.trim().to_string()));
        }
    }
    let covers = |path: &str, pattern: &str| {
        path == pattern
            || path
                .strip_suffix("{proxy+}")
                .is_some_and(|prefix| pattern.starts_with(prefix))
    };
    let mut missing = Vec::new();
    for (function, routes) in wiizo_tests::route_tables() {
        for r in routes.iter() {
            if !routed
                .iter()
                .any(|(b, p)| b == function && covers(p, r.pattern))
            {
                missing.push(format!("{function}: {} {}", r.method, r.pattern));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not routed in template.yaml: {missing:?}"
    );
}

#[test]
fn operation_ids_are_unique() {
    let contract = committed();
    let mut ids: Vec<&str> = contract["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("operations").values())
        .map(|op| op["operationId"].as_str().expect("operationId"))
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "{ids:?}");
}

/// A company that exists in a fresh SQLite store.
async fn company_with_store() -> (
    std::sync::Arc<dyn shared::store::Store>,
    shared::domain::CompanyId,
) {
    let store = wiizo_tests::sqlite_store();
    let c = store
        .create_company(&format!("Padaria {}", uuid::Uuid::new_v4()))
        .await
        .expect("company")
        .id;
    (store, c)
}

/// One request and what it must answer: (function, event, body or query, status, field).
struct Rule {
    what: &'static str,
    function: &'static str,
    event: Event,
    status: u16,
    /// The field `details` names, for a refusal.
    field: Option<&'static str>,
}

/// The rules the contract states are the rules the handlers apply, at both sides of each
/// boundary: what the fuzzer found where they differed.
#[tokio::test]
async fn the_limits_in_the_contract_are_the_limits_applied() {
    use shared::auth::Role;
    let (store, c) = company_with_store().await;
    let leads =
        |e: &str| Event::load(&format!("leads-management/{e}.json")).as_user(&c, Role::Owner);
    let wa = |e: &str| Event::load(&format!("whatsapp-api/{e}.json")).as_user(&c, Role::Owner);
    let accounts = |e: &str| Event::load(&format!("accounts/{e}.json")).as_user(&c, Role::Owner);
    let conversation = format!("/api/conversations/{}/messages", uuid::Uuid::new_v4());
    let rule = |what, function, event, status, field| Rule {
        what,
        function,
        event,
        status,
        field,
    };
    let rules = vec![
        rule("page 10 is the last by number", "leads-management", leads("list").query(&[("page", "10"), ("limit", "100")]), 200, None),
        rule("page 11 is for the cursor", "leads-management", leads("list").query(&[("page", "11"), ("limit", "1")]), 422, Some("page")),
        rule("a blank name", "leads-management", leads("create").json(&json!({"name": " \u{3000} "})), 422, Some("name")),
        rule("a status of 51 characters as sent, 49 once trimmed", "leads-management",
            leads("create").json(&json!({"name": "Ana", "status": format!(" {} ", "q".repeat(49))})), 422, Some("status")),
        rule("a name with a control character", "leads-management", leads("create").json(&json!({"name": "Ana\u{7}"})), 422, Some("name")),
        rule("a company with a control character", "leads-management",
            leads("create").json(&json!({"name": "Ana", "company": "Padaria\u{1b}"})), 422, Some("company")),
        rule("a score of 67.5", "leads-management", leads("create").json(&json!({"name": "Ana", "score": 67.5})), 422, Some("score")),
        rule("text and media on one message", "whatsapp-api",
            wa("send-message").path(&conversation).json(&json!({"text": "oi", "media": {"link": "https://x.com/a.png"}})), 422, Some("media")),
        rule("a caption that is not text", "whatsapp-api",
            wa("send-message").path(&conversation).json(&json!({"type": "image", "media": {"link": "https://x.com/a.png", "caption": 5}})), 422, Some("media.caption")),
        rule("a media id that is null", "whatsapp-api",
            wa("send-message").path(&conversation).json(&json!({"type": "image", "media": {"link": "https://x.com/a.png", "id": null}})), 422, Some("media.id")),
        rule("send-template with another type", "whatsapp-api",
            wa("whatsapp-send-template").json(&json!({"to": "+5511987654321", "type": "text", "template": {"name": "oi", "language": "pt_BR"}})), 422, Some("type")),
        rule("a context that is not an object", "whatsapp-api",
            wa("whatsapp-send-message").json(&json!({"to": "+5511987654321", "text": "oi", "context": "x"})), 422, Some("context")),
        rule("a company name set to null", "accounts", accounts("patch-company").json(&json!({"name": null})), 422, Some("name")),
        rule("a token that is not visible ASCII", "accounts",
            accounts("create-channel").json(&json!({"channel": "whatsapp", "external_id": "123", "name": "Vendas", "access_token": "EAAG\nx"})), 422, Some("access_token")),
    ];
    for r in rules {
        let a = send(&app_on(r.function, store.clone()), &r.event).await;
        assert_eq!(a.status, r.status, "{}: {}", r.what, a.text);
        if let Some(field) = r.field {
            assert!(
                a.json["error"]["details"][field].is_array(),
                "{}: {}",
                r.what,
                a.text
            );
        }
    }
    // What the domain forgives: blanks around a value, a blank optional of any length, 67.0.
    let a = send(
        &app_on("leads-management", store.clone()),
        &leads("create").json(&json!({"name": " Ana ", "status": "\u{85}".repeat(80), "score": 67.0, "notes": "linha 1\nlinha 2"})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        (
            &a.json["data"]["name"],
            &a.json["data"]["status"],
            &a.json["data"]["score"]
        ),
        (&json!("Ana"), &json!("novo"), &json!(67))
    );
}

/// Without a connected account, a well-formed send is a conflict with the company's state.
#[tokio::test]
async fn a_send_without_an_account_on_the_channel_is_a_conflict() {
    use shared::auth::Role;
    let c = wiizo_tests::company();
    let a = send(
        &app("whatsapp-api"),
        &Event::load("whatsapp-api/whatsapp-send-template.json")
            .as_user(&c, Role::Owner)
            .json(&json!({"to": "+5511987654321", "template": {"name": "boas_vindas", "language": "pt_BR"}})),
    )
    .await;
    assert_eq!((a.status, a.error_code()), (409, "CONFLICT"), "{}", a.text);
    assert_eq!(a.json["error"]["details"]["channel"], "whatsapp");
}

/// A group's rate limit is replaced as a whole: never a merge that holds two periods.
#[tokio::test]
async fn a_rate_limit_is_set_as_a_whole() {
    use shared::auth::Role;
    let (store, c) = company_with_store().await;
    let patch = |body: Value| {
        Event::load("accounts/patch-company.json")
            .as_user(&c, Role::Owner)
            .json(&body)
    };
    let accounts = app_on("accounts", store);
    let a = send(
        &accounts,
        &patch(json!({"settings": {"rate_limits": {"leads": {"per_hour": 100, "burst": 10}}}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = send(
        &accounts,
        &patch(json!({"settings": {"rate_limits": {"leads": {"per_minute": 10}}}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.json["data"]["settings"]["rate_limits"]["leads"],
        json!({"per_minute": 10})
    );
}

/// Every sample event in `events/<function>/` is a request its function routes: none is
/// left behind by a renamed route.
#[tokio::test]
async fn every_sample_event_reaches_a_route_of_its_function() {
    use shared::auth::Role;
    let mut checked = 0;
    for (function, _) in wiizo_tests::route_tables() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(function);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("events directory")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for name in names {
            let mut event = Event::load(&format!("{function}/{name}"));
            if event.0["headers"]["authorization"].is_string() {
                event = event.as_user(&wiizo_tests::company(), Role::Owner);
            }
            let a = send(&app(function), &event).await;
            assert_ne!(
                a.json["error"]["message"], "Route not found",
                "{function}/{name}: {}",
                a.text
            );
            assert!(
                a.status < 500 || a.status == 502,
                "{function}/{name}: {} {}",
                a.status,
                a.text
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}
