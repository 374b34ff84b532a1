//! The route tables alone decide who may call what: every function's table is walked, and
//! each route is called as the roles it must refuse, with a method it does not answer,
//! and next to a path no route has.

use shared::auth::Role;
use shared::http::{Access, Method, Route};
use wiizo_tests::{app, company, send, Event};

use wiizo_tests::route_tables as tables;

/// The route's pattern with every `{parameter}` filled by an id nobody has.
fn path_of(route: &Route) -> String {
    route
        .pattern
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn request(method: &Method, path: &str, role: Role) -> Event {
    Event::load("leads-management/create.json")
        .method(method.as_str())
        .path(path)
        .as_user(&company(), role)
}

#[tokio::test]
async fn no_route_lets_a_viewer_write() {
    let mut checked = 0;
    for (function, routes) in tables() {
        let app = app(function);
        for route in routes.iter().filter(|r| r.method != Method::GET) {
            assert_ne!(
                route.access,
                Access::Read,
                "{function}: {} {} lets viewers write",
                route.method,
                route.pattern
            );
            if route.access == Access::Public {
                continue;
            }
            let a = send(&app, &request(&route.method, &path_of(route), Role::Viewer)).await;
            assert_eq!(
                (a.status, a.error_code()),
                (403, "FORBIDDEN"),
                "{function}: {} {}",
                route.method,
                route.pattern
            );
            checked += 1;
        }
    }
    // Every write route of leads, conversations, sending, inbound endpoints and accounts.
    assert!(checked >= 20, "only {checked} routes checked");
}

#[tokio::test]
async fn admin_routes_refuse_agents() {
    for (function, routes) in tables() {
        let app = app(function);
        for route in routes.iter().filter(|r| r.access == Access::Admin) {
            let a = send(&app, &request(&route.method, &path_of(route), Role::Agent)).await;
            assert_eq!(
                (a.status, a.error_code()),
                (403, "FORBIDDEN"),
                "{function}: {} {}",
                route.method,
                route.pattern
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_path_404() {
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    for (function, routes) in tables() {
        let app = app(function);
        for route in routes.iter() {
            let declared: Vec<&str> = routes
                .iter()
                .filter(|r| r.pattern == route.pattern)
                .map(|r| r.method.as_str())
                .collect();
            let Some(wrong) = all.iter().find(|m| !declared.contains(&m.as_str())) else {
                continue;
            };
            let a = send(&app, &request(wrong, &path_of(route), Role::Owner)).await;
            assert_eq!(
                (a.status, a.error_code()),
                (405, "METHOD_NOT_ALLOWED"),
                "{function}: {wrong} {}",
                route.pattern
            );
            let allow = a.header("allow").unwrap_or_default().to_string();
            for m in &declared {
                assert!(
                    allow.contains(m),
                    "{function} {}: Allow {allow:?} lacks {m}",
                    route.pattern
                );
            }
            assert!(
                !allow.contains(wrong.as_str()),
                "{function}: Allow {allow:?} has {wrong}"
            );
        }
        for path in ["/api/nothing-here", "/api/leads/1/2/3/4", "/elsewhere"] {
            let a = send(&app, &request(&Method::GET, path, Role::Owner)).await;
            assert_eq!(
                (a.status, a.error_code()),
                (404, "NOT_FOUND"),
                "{function} {path}"
            );
        }
    }
}
