//! What stands between an authenticated request and its route: the company's rate limit
//! for the route group, and `Idempotency-Key` replay.

use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Response};

use super::{Ctx, Reply};
use crate::domain::idempotency::{self, Claim, StoredResponse};
use crate::domain::rate_limit::{group_for, limit_for, Decision};
use crate::domain::{CompanyId, Timestamp};
use crate::error::ApiError;
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
    /// is a replay of an earlier answer: the route does not run again.
    pub(super) async fn enter(&mut self, app: &App, ctx: &Ctx) -> Result<Option<Reply>, ApiError> {
        let Some(principal) = &ctx.principal else {
            return Ok(None);
        };
        let company = &principal.company_id;
        if let Some(group) = group_for(&ctx.path) {
            let settings = app.company_settings(company).await?;
            let limit = limit_for(group, &settings);
            let now = Timestamp::now();
            self.decided_at = now.inner().timestamp();
            let decision = app
                .store
                .take_rate_token(
                    &format!("{company}:{}", group.name),
                    &limit,
                    now.inner().timestamp_millis(),
                )
                .await?;
            self.decision = Some(decision);
            if !decision.allowed {
                return Err(ApiError::RateLimited {
                    retry_after: decision.retry_after_secs,
                });
            }
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
        let fingerprint = idempotency::fingerprint(ctx.method.as_str(), &ctx.path, &ctx.body);
        match app
            .store
            .claim_idempotency_key(company, key, &fingerprint, Timestamp::now())
            .await?
        {
            Claim::Started => {
                self.claimed = Some((company.clone(), key.to_string()));
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
            Claim::Mismatch => Err(ApiError::validation(
                "Idempotency-Key",
                "was already used for a different request",
            )),
        }
    }

    /// Keeps the answer for the claimed key (or frees the key after a server error),
    /// and adds the rate-limit headers.
    pub(super) async fn leave(self, app: &App, response: &mut Response<Body>) {
        if let Some((company, key)) = self.claimed {
            let status = response.status().as_u16();
            let result = if status >= 500 {
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
                    body: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
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
