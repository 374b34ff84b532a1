//! Taking from the rate-limit buckets (`docs/architecture.md`, "Limits"): each caller's own
//! bucket per group, and the company's ceiling for the group, both kept in the store so
//! that every Lambda instance shares them.

use crate::domain::rate_limit::{ceiling_for, limit_for, Decision, Group};
use crate::domain::{CompanyId, Timestamp};
use crate::error::ApiError;
use crate::App;

/// Who is charged.
pub struct Caller<'a> {
    pub company: &'a CompanyId,
    /// A user id, or `apikey:{id}`.
    pub id: &'a str,
    /// An owner or admin managing the company (keys, settings): its own bucket is never
    /// below the default, whatever the settings say, and the company's ceiling does not
    /// apply, so other callers and settings cannot lock it out.
    pub managing: bool,
}

/// Takes one token for `caller` in `group`: the caller's decision (its figures are the
/// headers'), refused when the caller's bucket or the company's ceiling is empty.
pub async fn take(app: &App, group: &Group, caller: &Caller<'_>) -> Result<Decision, ApiError> {
    let settings = app.company_settings(caller.company).await?;
    let mut limit = limit_for(group, &settings);
    if caller.managing && limit.per_second() < group.default.per_second() {
        limit = group.default;
    }
    let now = Timestamp::now().inner().timestamp_millis();
    let key = format!("{}:{}:{}", caller.company, group.name, caller.id);
    if caller.managing {
        return Ok(app.store.take_rate_token(&key, &limit, now).await?);
    }
    let ceiling = ceiling_for(group, &settings);
    let company_key = format!("{}:{}", caller.company, group.name);
    let decisions = app
        .store
        .take_rate_tokens(&[(&key, &limit), (&company_key, &ceiling)], now)
        .await?;
    match decisions.as_slice() {
        [_, company] if !company.allowed => Ok(Decision {
            remaining: 0,
            ..*company
        }),
        [mine, ..] => Ok(*mine),
        [] => Err(ApiError::Internal("no rate-limit decision".into())),
    }
}

/// Takes one token from a bucket that belongs to no caller (a webhook endpoint's).
pub async fn take_key(
    app: &App,
    key: &str,
    limit: &crate::domain::rate_limit::Limit,
) -> Result<Decision, ApiError> {
    let now = Timestamp::now().inner().timestamp_millis();
    Ok(app.store.take_rate_token(key, limit, now).await?)
}

/// The 429 of a refused decision.
pub fn check(d: &Decision) -> Result<(), ApiError> {
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::RateLimited {
            retry_after: d.retry_after_secs,
        })
    }
}
