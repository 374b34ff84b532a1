//! PostgreSQL: rate-limit buckets (shared by every company, so kept as the connecting
//! role) and `Idempotency-Key` records.

use async_trait::async_trait;

use super::{get, PgStore, Tx};
use crate::domain::idempotency::{self, Claim, Held, StoredResponse};
use crate::domain::rate_limit::{Bucket, Decision, Limit};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

/// Takes one token from the bucket `key`: the row is locked from its read to its write.
async fn take(tx: &mut Tx<'_>, key: &str, limit: &Limit, now_ms: i64) -> StoreResult<Decision> {
    tx.exec(
        "INSERT INTO rate_buckets (key, tokens, at_ms) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        &[&key, &f64::from(limit.burst), &now_ms],
    )
    .await?;
    let row = tx
        .one(
            "SELECT tokens, at_ms FROM rate_buckets WHERE key = $1 FOR UPDATE",
            &[&key],
        )
        .await?;
    let current = Bucket {
        tokens: get(&row, 0)?,
        at_ms: get(&row, 1)?,
    };
    let (bucket, decision) = Bucket::take(Some(current), limit, now_ms);
    tx.exec(
        "UPDATE rate_buckets SET tokens = $2, at_ms = $3 WHERE key = $1",
        &[&key, &bucket.tokens, &bucket.at_ms],
    )
    .await?;
    Ok(decision)
}

#[async_trait]
impl GuardStore for PgStore {
    async fn take_rate_token(
        &self,
        key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        let mut tx = self.unscoped().await?;
        let d = take(&mut tx, key, limit, now_ms).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// All in one transaction: one commit for a caller's bucket and the company's.
    async fn take_rate_tokens(
        &self,
        buckets: &[(&str, &Limit)],
        now_ms: i64,
    ) -> StoreResult<Vec<Decision>> {
        let mut tx = self.unscoped().await?;
        let mut decisions = Vec::with_capacity(buckets.len());
        for (key, limit) in buckets {
            let d = take(&mut tx, key, limit, now_ms).await?;
            decisions.push(d);
            if !d.allowed {
                break;
            }
        }
        tx.commit().await?;
        Ok(decisions)
    }

    async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let now_s = now.inner().timestamp();
        let (mut tx, c) = self.write(company).await?;
        let existing = tx
            .opt(
                "SELECT fingerprint, state, response, lease_until, expires_at FROM idempotency_keys \
                 WHERE company_id = $1 AND key = $2",
                &[&c, &key],
            )
            .await?;
        if let Some(r) = existing {
            let held = Held {
                fingerprint: get(&r, 0)?,
                state: get(&r, 1)?,
                response: get(&r, 2)?,
                lease_until: get(&r, 3)?,
                expires_at: get(&r, 4)?,
            };
            if let Some(claim) = held
                .answer(fingerprint, now_s)
                .map_err(|e| StoreError::Internal(e.into()))?
            {
                return Ok(claim);
            }
        }
        tx.exec(
            "INSERT INTO idempotency_keys (company_id, key, fingerprint, state, response, lease_until, expires_at) \
             VALUES ($1, $2, $3, 'in_progress', NULL, $4, $5) ON CONFLICT (company_id, key) DO UPDATE SET \
             fingerprint = excluded.fingerprint, state = excluded.state, response = NULL, \
             lease_until = excluded.lease_until, expires_at = excluded.expires_at",
            &[
                &c,
                &key,
                &fingerprint,
                &(now_s + idempotency::LEASE_SECS),
                &(now_s + idempotency::TTL_SECS),
            ],
        )
        .await?;
        // Expired records go as new ones come.
        tx.exec(
            "DELETE FROM idempotency_keys WHERE company_id = $1 AND expires_at < $2",
            &[&c, &now_s],
        )
        .await?;
        tx.commit().await?;
        Ok(Claim::Started)
    }

    async fn finish_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let text =
            serde_json::to_string(response).map_err(|e| StoreError::Internal(e.to_string()))?;
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "UPDATE idempotency_keys SET state = 'done', response = $3 WHERE company_id = $1 AND key = $2",
            &[&c, &key, &text],
        )
        .await?;
        tx.commit().await
    }

    async fn abandon_idempotency_key(&self, company: &CompanyId, key: &str) -> StoreResult<()> {
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "DELETE FROM idempotency_keys WHERE company_id = $1 AND key = $2 AND state = 'in_progress'",
            &[&c, &key],
        )
        .await?;
        tx.commit().await
    }
}
