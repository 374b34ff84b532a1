//! The contract in the repository is the one the route tables make, and each function
//! serves its part.

use serde_json::Value;
use wiizo_tests::{app, send, Event};

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
