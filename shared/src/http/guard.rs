//! What stands between an authorized request and its handler: the caller's rate limit for
//! the route's group, and `Idempotency-Key` replay (`docs/architecture.md`, "Limits").

use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::router::{Access, Route};
use super::{Ctx, Reply};
use crate::auth::Role;
use crate::domain::idempotency::{self, Claim, StoredResponse};
use crate::domain::rate_limit::{group_for, Decision};
use crate::domain::{CompanyId, Timestamp};
use crate::error::ApiError;
use crate::usecase::limits::{self, Caller};
use crate::App;

#[derive(Default)]
pub(super) struct Guard {
    decision: Option<Decision>,
    decided_at: i64,
    /// A key this request claimed: its answer is kept when the request ends.
    claimed: Option<(CompanyId, String)>,
}

impl Guard {
    /// Takes a rate-limit token and claims the idempotency key, if any. `Ok(Some(reply))`
    /// is a replay of this caller's earlier answer: the handler does not run again.
    pub(super) async fn enter(
        &mut self,
        app: &App,
        ctx: &Ctx,
        route: &Route,
    ) -> Result<Option<Reply>, ApiError> {
        let Some(principal) = &ctx.principal else {
            return Ok(None);
        };
        let company = &principal.company_id;
        // The group is the matched route's, so no spelling of a path can change it.
        if let Some(group) = group_for(route.pattern) {
            self.decided_at = Timestamp::now().inner().timestamp();
            let caller = Caller {
                company,
                id: &principal.user_id,
                managing: route.access == Access::Admin
                    && matches!(principal.role, Role::Owner | Role::Admin),
            };
            let decision = limits::take(app, group, &caller).await?;
            self.decision = Some(decision);
            limits::check(&decision)?;
        }
        let Some(key) = ctx
            .header("idempotency-key")
            .filter(|_| ctx.method == Method::POST)
        else {
            return Ok(None);
        };
        if !idempotency::valid_key(key) {
            return Err(ApiError::validation(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        // A key is the caller's own, for one method and route: another caller reusing it
        // runs (or is refused) on its own.
        let key =
            idempotency::scoped_key(&principal.user_id, ctx.method.as_str(), route.pattern, key);
        let fingerprint = idempotency::fingerprint(ctx.method.as_str(), &ctx.path, &ctx.body);
        match app
            .store
            .claim_idempotency_key(company, &key, &fingerprint, Timestamp::now())
            .await?
        {
            Claim::Started => {
                self.claimed = Some((company.clone(), key));
                Ok(None)
            }
            Claim::Replay(stored) => Ok(Some(
                Reply::stored(stored.status, stored.content_type, stored.body)
                    .header("idempotent-replayed", "true".into()),
            )),
            Claim::InProgress => Err(ApiError::Conflict {
                message: "A request with this Idempotency-Key is still in progress".into(),
                details: None,
            }),
            // The request is well formed; it conflicts with the key's first use.
            Claim::Mismatch => Err(ApiError::Conflict {
                message: "This Idempotency-Key was already used for a different request".into(),
                details: Some(serde_json::json!({"header": "Idempotency-Key"})),
            }),
        }
    }

    /// Keeps the answer for the claimed key (or frees the key after a server error), with
    /// the `secrets` of its data masked, and adds the rate-limit headers.
    pub(super) async fn leave(
        self,
        app: &App,
        response: &mut Response<Body>,
        secrets: &[&str],
        streamed: bool,
    ) {
        if let Some((company, key)) = self.claimed {
            let status = response.status().as_u16();
            // A stream is not kept for a replay: its key is freed, as after a 5xx.
            let result = if status >= 500 || streamed {
                app.store.abandon_idempotency_key(&company, &key).await
            } else {
                let stored = StoredResponse {
                    status,
                    content_type: response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/json")
                        .to_string(),
                    body: masked(response.body().as_ref(), secrets),
                };
                app.store
                    .finish_idempotency_key(&company, &key, &stored)
                    .await
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "could not record the idempotent answer");
            }
        }
        if let Some(d) = self.decision {
            let headers = response.headers_mut();
            let reset = self.decided_at + i64::try_from(d.reset_secs).unwrap_or(i64::MAX / 2);
            for (name, value) in [
                ("x-ratelimit-limit", d.limit.to_string()),
                ("x-ratelimit-remaining", d.remaining.to_string()),
                ("x-ratelimit-reset", reset.to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
        }
    }
}

/// The answer as an idempotency record keeps it: a secret shown once (a new API key, a
/// webhook secret) is never stored; a replay shows its first characters and says why.
fn masked(body: &[u8], secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body).into_owned();
    if secrets.is_empty() {
        return text;
    }
    let Ok(mut json) = serde_json::from_slice::<Value>(body) else {
        return text;
    };
    for field in secrets {
        if let Some(v) = json["data"].get_mut(*field) {
            let hint: String = v.as_str().unwrap_or_default().chars().take(8).collect();
            *v = Value::String(format!("{hint}…"));
        }
    }
    json["message"] = Value::String(
        "Replayed answer: the secret was shown only in the first answer and is masked here".into(),
    );
    json.to_string()
}
