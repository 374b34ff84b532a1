//! The API's whole contract and its reference page. The gateway routes `GET /openapi.json`
//! and `GET /docs` here; every other function serves only its own part at `/openapi.json`.

use shared::http::{Ctx, Reply};
use shared::{ApiError, App};

/// `openapi.json` as committed; `tests/suite/contract.rs` keeps it equal to the route tables.
const CONTRACT: &str = include_str!("../../../openapi.json");

/// A static Redoc page that loads the contract beside it (the browser fetches Redoc).
const PAGE: &str = r#"<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WiizoChat API</title>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/v2.5.1/bundles/redoc.standalone.js"></script>
</body>
</html>
"#;

pub async fn contract(_app: &App, _ctx: &Ctx) -> Result<Reply, ApiError> {
    Ok(Reply::text(200, "application/json", CONTRACT.to_string()))
}

pub async fn page(_app: &App, _ctx: &Ctx) -> Result<Reply, ApiError> {
    Ok(Reply::text(
        200,
        "text/html; charset=utf-8",
        PAGE.to_string(),
    ))
}
