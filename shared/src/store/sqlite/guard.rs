//! SQLite: rate-limit buckets and `Idempotency-Key` records.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};

use super::Cached;
use super::{map_err, SqliteStore};
use crate::domain::idempotency::{self, Claim, Held, StoredResponse};
use crate::domain::rate_limit::{Bucket, Decision, Limit};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

/// Takes one token from the bucket `key` inside `tx`.
fn take(tx: &Transaction<'_>, key: &str, limit: &Limit, now_ms: i64) -> StoreResult<Decision> {
    let current = tx
        .row(
            "SELECT tokens, at_ms FROM rate_buckets WHERE key = ?1",
            [key],
            |r| {
                Ok(Bucket {
                    tokens: r.get(0)?,
                    at_ms: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(map_err)?;
    let (bucket, decision) = Bucket::take(current, limit, now_ms);
    tx.run(
        "INSERT INTO rate_buckets (key, tokens, at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at_ms = excluded.at_ms",
        params![key, bucket.tokens, bucket.at_ms],
    )
    .map_err(map_err)?;
    Ok(decision)
}

#[async_trait]
impl GuardStore for SqliteStore {
    async fn take_rate_token(
        &self,
        key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        self.write(|tx| take(tx, key, limit, now_ms))
    }

    /// All in one transaction: one commit for a caller's bucket and the company's.
    async fn take_rate_tokens(
        &self,
        buckets: &[(&str, &Limit)],
        now_ms: i64,
    ) -> StoreResult<Vec<Decision>> {
        self.write(|tx| {
            let mut decisions = Vec::with_capacity(buckets.len());
            for (key, limit) in buckets {
                let d = take(tx, key, limit, now_ms)?;
                decisions.push(d);
                if !d.allowed {
                    break;
                }
            }
            Ok(decisions)
        })
    }

    async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let now_s = now.inner().timestamp();
        self.write(|tx| {
            let held = tx
                .row(
                    "SELECT fingerprint, state, response, lease_until, expires_at FROM idempotency_keys \
                     WHERE company_id = ?1 AND key = ?2",
                    params![company.as_str(), key],
                    |r| Ok(Held {
                        fingerprint: r.get(0)?,
                        state: r.get(1)?,
                        response: r.get(2)?,
                        lease_until: r.get(3)?,
                        expires_at: r.get(4)?,
                    }),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(held) = held {
                if let Some(claim) = held.answer(fingerprint, now_s).map_err(|e| StoreError::Internal(e.into()))? {
                    return Ok(claim);
                }
            }
            tx.run(
                "INSERT INTO idempotency_keys (company_id, key, fingerprint, state, response, lease_until, expires_at) \
                 VALUES (?1, ?2, ?3, 'in_progress', NULL, ?4, ?5) ON CONFLICT (company_id, key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, state = excluded.state, response = NULL, \
                 lease_until = excluded.lease_until, expires_at = excluded.expires_at",
                params![company.as_str(), key, fingerprint, now_s + idempotency::LEASE_SECS, now_s + idempotency::TTL_SECS],
            )
            .map_err(map_err)?;
            // Expired records go as new ones come.
            tx.run("DELETE FROM idempotency_keys WHERE expires_at < ?1", [now_s]).map_err(map_err)?;
            Ok(Claim::Started)
        })
    }

    async fn finish_idempotency_key(
        &self,
        company: &CompanyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let text =
            serde_json::to_string(response).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(|tx| {
            tx.run(
                "UPDATE idempotency_keys SET state = 'done', response = ?3 WHERE company_id = ?1 AND key = ?2",
                params![company.as_str(), key, text],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn abandon_idempotency_key(&self, company: &CompanyId, key: &str) -> StoreResult<()> {
        self.write(|tx| {
            tx.run(
                "DELETE FROM idempotency_keys WHERE company_id = ?1 AND key = ?2 AND state = 'in_progress'",
                params![company.as_str(), key],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }
}
