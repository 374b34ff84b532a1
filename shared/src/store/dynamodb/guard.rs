//! DynamoDB: rate-limit buckets (GCRA in one conditional update) and `Idempotency-Key`
//! records.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::items::*;
use super::keys::{self, company_pk};
use super::schema::TTL_ATTRIBUTE;
use super::{condition_failed, sdk_error, DynamoStore};
use crate::domain::idempotency::{self, Claim, StoredResponse};
use crate::domain::rate_limit::{Decision, Gcra, Limit};
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

#[async_trait]
impl GuardStore for DynamoStore {
    /// One atomic conditional update per request (GCRA, see [`Gcra`]): contention costs
    /// at most a switch between the "bucket in use" and "bucket rested" cases.
    async fn take_rate_token(
        &self,
        bucket_key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        let gcra = Gcra::of(limit);
        let now_us = now_ms.saturating_mul(1000);
        let k = key_of(keys::rate_bucket(bucket_key));
        let expires = (now_ms / 1000)
            .saturating_add(i64::from(limit.period_secs) * 2)
            .saturating_add(60);
        for _ in 0..4 {
            // The bucket is in use: move its arrival time on by one interval, if it fits.
            let in_use = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(k.clone()))
                .update_expression("SET tat = tat + :interval, #exp = :exp")
                .condition_expression("tat > :now AND tat <= :max")
                .expression_attribute_names("#exp", TTL_ATTRIBUTE)
                .expression_attribute_values(":interval", n(gcra.interval_us))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":max", n(gcra.max_tat_before(now_us)))
                .expression_attribute_values(":exp", n(expires))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match in_use {
                Ok(out) => {
                    let bucket = out.attributes.unwrap_or_default();
                    let tat = get_n(&bucket, "tat")?;
                    // A process whose clock reading predates the bucket's last rest counts
                    // from the rest, as SQLite counts no negative elapsed time: so
                    // `X-RateLimit-Remaining` never repeats across processes.
                    let rested_at = get_n(&bucket, "rested_at").unwrap_or(now_us);
                    return Ok(gcra.allowed(tat, now_us.max(rested_at)));
                }
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(sdk_error(e)),
            }
            // The bucket rested (or is new): it starts again from now.
            let rested = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(k.clone()))
                .update_expression("SET tat = :tat, rested_at = :now, #exp = :exp")
                .condition_expression("attribute_not_exists(tat) OR tat <= :now")
                .expression_attribute_names("#exp", TTL_ATTRIBUTE)
                .expression_attribute_values(":tat", n(now_us + gcra.interval_us))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":exp", n(expires))
                .send()
                .await;
            match rested {
                Ok(_) => return Ok(gcra.allowed(now_us + gcra.interval_us, now_us)),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(sdk_error(e)),
            }
            // Neither: the bucket may be empty.
            let Some(bucket) = self.get_key(keys::rate_bucket(bucket_key)).await? else {
                continue;
            };
            let tat = get_n(&bucket, "tat")?;
            if tat > gcra.max_tat_before(now_us) {
                return Ok(gcra.refused(tat, now_us));
            }
        }
        Err(StoreError::Unavailable(
            "the rate-limit bucket is too contended".into(),
        ))
    }

    async fn claim_idempotency_key(
        &self,
        company: &CompanyId,
        idem_key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let now_s = now.inner().timestamp();
        let pk = company_pk(company);
        let sk = keys::idempotency_sk(idem_key);
        for _ in 0..3 {
            let claim = item([
                ("pk", Some(s(&pk))),
                ("sk", Some(s(&sk))),
                ("fingerprint", Some(s(fingerprint))),
                ("state", Some(s("in_progress"))),
                ("lease_until", Some(n(now_s + idempotency::LEASE_SECS))),
                (TTL_ATTRIBUTE, Some(n(now_s + idempotency::TTL_SECS))),
            ]);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(claim))
                .condition_expression(
                    "attribute_not_exists(pk) OR #exp < :now OR (#state = :running AND lease_until < :now AND fingerprint = :fp)",
                )
                .expression_attribute_names("#exp", TTL_ATTRIBUTE)
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":now", n(now_s))
                .expression_attribute_values(":running", s("in_progress"))
                .expression_attribute_values(":fp", s(fingerprint))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Claim::Started),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(sdk_error(e)),
            }
            let Some(existing) = self.get(pk.clone(), sk.clone()).await? else {
                continue;
            };
            if get_s(&existing, "fingerprint")? != fingerprint {
                return Ok(Claim::Mismatch);
            }
            if get_s(&existing, "state")? == "done" {
                let stored: StoredResponse = serde_json::from_str(&get_s(&existing, "response")?)
                    .map_err(|_| corrupt("response"))?;
                return Ok(Claim::Replay(stored));
            }
            return Ok(Claim::InProgress);
        }
        Err(StoreError::Conflict(
            "the idempotency key is changing hands; retry".into(),
        ))
    }

    async fn finish_idempotency_key(
        &self,
        company: &CompanyId,
        idem_key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let text =
            serde_json::to_string(response).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                company_pk(company),
                keys::idempotency_sk(idem_key),
            )))
            .update_expression("SET #state = :done, #response = :r")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":r", s(text))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn abandon_idempotency_key(
        &self,
        company: &CompanyId,
        idem_key: &str,
    ) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                company_pk(company),
                keys::idempotency_sk(idem_key),
            )))
            .condition_expression("#state = :running")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":running", s("in_progress"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }
}
