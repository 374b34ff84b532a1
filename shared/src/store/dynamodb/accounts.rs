//! DynamoDB: API keys, channel accounts, rate buckets and idempotency records.
//!
//! | entity | pk | sk | note |
//! |---|---|---|---|
//! | API key | `C#{company}` | `APIKEY#{id}` | listed by Query begins_with |
//! | API key lookup | `APIKEYHASH#{sha256}` | `APIKEY` | authentication; deleted on revoke |
//! | channel account | `C#{company}` | `CHANNEL#{id}` | holds the access token |
//! | channel lookup | `CHANNELID#{channel}#{external id}` | `CHANNEL` | webhook routing; one company per id |
//! | inbound endpoint | `C#{company}` | `INBOUND#{id}` | holds the signing secret |
//! | inbound endpoint lookup | `INBOUNDID#{client_id}` | `INBOUND` | `POST /webhooks/{client_id}` |
//! | rate bucket | `RATE#{company}:{group}` or `RATE#inbound:{client_id}` | `RATE` | GCRA: one conditional update; TTL |
//! | idempotency record | `C#{company}` | `IDEM#{key}` | conditional claim; TTL after 24 h |

use aws_sdk_dynamodb::types::{Delete, ReturnValue, TransactWriteItem};
use uuid::Uuid;

use super::items::{get_n, get_s, item, key, n, opt_s, s, Item};
use super::schema::{company_pk, TTL_ATTRIBUTE};
use super::{built, condition_failed, sdk_error, DynamoStore, TxError};
use crate::domain::account::{
    AccessToken, ApiKey, ChannelAccount, ChannelChange, InboundEndpoint, NewApiKey,
    NewChannelAccount,
};
use crate::domain::conversation::Channel;
use crate::domain::idempotency::{self, Claim, StoredResponse};
use crate::domain::rate_limit::{Decision, Gcra, Limit};
use crate::domain::{CompanyId, Timestamp};
use crate::store::{StoreError, StoreResult};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the table"))
}

fn ts(i: &Item, k: &str) -> StoreResult<Timestamp> {
    Timestamp::parse(&get_s(i, k)?).ok_or_else(|| corrupt(k))
}

fn key_item(company: &CompanyId, k: &ApiKey, hash: &str) -> StoreResult<Item> {
    Ok(item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(format!("APIKEY#{}", k.id)))),
        ("id", Some(s(k.id.to_string()))),
        ("company_id", Some(s(company.as_str()))),
        ("name", Some(s(&k.name))),
        ("prefix", Some(s(&k.prefix))),
        ("key_hash", Some(s(hash))),
        (
            "scopes",
            Some(s(serde_json::to_string(&k.scopes)
                .map_err(|e| StoreError::Internal(e.to_string()))?)),
        ),
        ("active", Some(n(i64::from(k.active)))),
        ("created_by", Some(s(&k.created_by))),
        ("created_at", Some(s(k.created_at.as_string()))),
        ("last_used_at", k.last_used_at.map(|t| s(t.as_string()))),
    ]))
}

fn key_from(i: &Item) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: Uuid::parse_str(&get_s(i, "id")?).map_err(|_| corrupt("id"))?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        name: get_s(i, "name")?,
        prefix: get_s(i, "prefix")?,
        scopes: serde_json::from_str(&get_s(i, "scopes")?).map_err(|_| corrupt("scopes"))?,
        active: get_n(i, "active")? == 1,
        created_at: ts(i, "created_at")?,
        last_used_at: opt_s(i, "last_used_at").and_then(|t| Timestamp::parse(&t)),
        created_by: get_s(i, "created_by")?,
    })
}

fn channel_from(i: &Item) -> StoreResult<ChannelAccount> {
    Ok(ChannelAccount {
        id: Uuid::parse_str(&get_s(i, "id")?).map_err(|_| corrupt("id"))?,
        company_id: CompanyId::new(get_s(i, "company_id")?),
        channel: Channel::parse(&get_s(i, "channel")?).ok_or_else(|| corrupt("channel"))?,
        external_id: get_s(i, "external_id")?,
        name: get_s(i, "name")?,
        token_hint: AccessToken::new(get_s(i, "access_token")?).hint(),
        created_at: ts(i, "created_at")?,
        updated_at: ts(i, "updated_at")?,
    })
}

fn channel_lookup_pk(channel: Channel, external_id: &str) -> String {
    format!("CHANNELID#{}#{external_id}", channel.as_str())
}

impl DynamoStore {
    /// Deletes these items together, in one transaction.
    async fn delete_all(&self, keys: Vec<Item>) -> StoreResult<()> {
        let items = keys
            .into_iter()
            .map(|k| {
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(k))
                    .build()
                    .map(|d| TransactWriteItem::builder().delete(d).build())
                    .map_err(built)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact(items).await.map_err(|e| match e {
            TxError::Conditions(_) => StoreError::NotFound,
            TxError::Store(e) => e,
        })
    }

    pub(super) async fn create_api_key_impl(
        &self,
        company: &CompanyId,
        new: NewApiKey,
    ) -> StoreResult<ApiKey> {
        let k = ApiKey {
            id: Uuid::now_v7(),
            company_id: company.clone(),
            name: new.name,
            prefix: new.prefix,
            scopes: new.scopes,
            active: true,
            created_at: Timestamp::now(),
            last_used_at: None,
            created_by: new.created_by,
        };
        let lookup = item([
            ("pk", Some(s(format!("APIKEYHASH#{}", new.hash)))),
            ("sk", Some(s("APIKEY"))),
            ("company_id", Some(s(company.as_str()))),
            ("key_id", Some(s(k.id.to_string()))),
        ]);
        let items = vec![
            self.create(key_item(company, &k, &new.hash)?)?,
            self.create(lookup)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(k),
            Err(TxError::Conditions(_)) => Err(StoreError::Conflict(
                "the key collided; create another".into(),
            )),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn list_api_keys_impl(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
        self.query_prefix(&company_pk(company), "APIKEY#")
            .await?
            .iter()
            .map(key_from)
            .collect()
    }

    pub(super) async fn revoke_api_key_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<()> {
        let pk = company_pk(company);
        let stored = self
            .get(pk.clone(), format!("APIKEY#{id}"))
            .await?
            .ok_or(StoreError::NotFound)?;
        let hash = get_s(&stored, "key_hash")?;
        let mut revoked = stored.clone();
        revoked.insert("active".into(), n(0));
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("APIKEYHASH#{hash}"), "APIKEY")))
            .build()
            .map_err(built)?;
        let items = vec![
            self.put(revoked, Some("attribute_exists(pk)"))?,
            TransactWriteItem::builder().delete(delete).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(_)) => Err(StoreError::NotFound),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn find_api_key_impl(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let Some(lookup) = self
            .get(format!("APIKEYHASH#{hash}"), "APIKEY".into())
            .await?
        else {
            return Ok(None);
        };
        let company = CompanyId::new(get_s(&lookup, "company_id")?);
        let id = get_s(&lookup, "key_id")?;
        let Some(stored) = self
            .get(company_pk(&company), format!("APIKEY#{id}"))
            .await?
        else {
            return Ok(None);
        };
        let k = key_from(&stored)?;
        Ok(k.active.then_some(k))
    }

    pub(super) async fn touch_api_key_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
        at: Timestamp,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), format!("APIKEY#{id}"))))
            .update_expression("SET last_used_at = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", s(at.as_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    pub(super) async fn create_channel_impl(
        &self,
        company: &CompanyId,
        c: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        let now = Timestamp::now();
        let id = Uuid::now_v7();
        let stored = item([
            ("pk", Some(s(company_pk(company)))),
            ("sk", Some(s(format!("CHANNEL#{id}")))),
            ("id", Some(s(id.to_string()))),
            ("company_id", Some(s(company.as_str()))),
            ("channel", Some(s(c.channel.as_str()))),
            ("external_id", Some(s(&c.external_id))),
            ("name", Some(s(&c.name))),
            ("access_token", Some(s(c.token.expose()))),
            ("created_at", Some(s(now.as_string()))),
            ("updated_at", Some(s(now.as_string()))),
        ]);
        let lookup = item([
            ("pk", Some(s(channel_lookup_pk(c.channel, &c.external_id)))),
            ("sk", Some(s("CHANNEL"))),
            ("company_id", Some(s(company.as_str()))),
            ("channel_id", Some(s(id.to_string()))),
        ]);
        let account = channel_from(&stored)?;
        match self
            .transact(vec![self.create(lookup)?, self.create(stored)?])
            .await
        {
            Ok(()) => Ok(account),
            Err(TxError::Conditions(_)) => {
                let holder = self
                    .get(
                        channel_lookup_pk(c.channel, &c.external_id),
                        "CHANNEL".into(),
                    )
                    .await?;
                match holder.as_ref().and_then(|h| opt_s(h, "channel_id")) {
                    Some(existing_id) => Err(StoreError::Duplicate {
                        field: "external_id",
                        existing_id,
                    }),
                    None => Err(StoreError::Conflict(
                        "the channel is being connected; try again".into(),
                    )),
                }
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn list_channels_impl(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<ChannelAccount>> {
        self.query_prefix(&company_pk(company), "CHANNEL#")
            .await?
            .iter()
            .map(channel_from)
            .collect()
    }

    async fn channel_item(&self, company: &CompanyId, id: Uuid) -> StoreResult<Item> {
        self.get(company_pk(company), format!("CHANNEL#{id}"))
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub(super) async fn get_channel_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<ChannelAccount> {
        channel_from(&self.channel_item(company, id).await?)
    }

    pub(super) async fn update_channel_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        let mut stored = self.channel_item(company, id).await?;
        if let Some(name) = change.name {
            stored.insert("name".into(), s(name));
        }
        if let Some(token) = change.token {
            stored.insert("access_token".into(), s(token.expose()));
        }
        stored.insert("updated_at".into(), s(Timestamp::now().as_string()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(stored.clone()))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => channel_from(&stored),
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(sdk_error(e)),
        }
    }

    pub(super) async fn delete_channel_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<()> {
        let stored = self.channel_item(company, id).await?;
        let channel =
            Channel::parse(&get_s(&stored, "channel")?).ok_or_else(|| corrupt("channel"))?;
        let external_id = get_s(&stored, "external_id")?;
        self.delete_all(vec![
            key(company_pk(company), format!("CHANNEL#{id}")),
            key(channel_lookup_pk(channel, &external_id), "CHANNEL"),
        ])
        .await
    }

    pub(super) async fn channel_token_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<AccessToken> {
        Ok(AccessToken::new(get_s(
            &self.channel_item(company, id).await?,
            "access_token",
        )?))
    }

    pub(super) async fn find_channel_impl(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        let Some(lookup) = self
            .get(channel_lookup_pk(channel, external_id), "CHANNEL".into())
            .await?
        else {
            return Ok(None);
        };
        let company = CompanyId::new(get_s(&lookup, "company_id")?);
        let id =
            Uuid::parse_str(&get_s(&lookup, "channel_id")?).map_err(|_| corrupt("channel_id"))?;
        match self.get_channel_impl(&company, id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One atomic conditional update per request (GCRA, see [`Gcra`]): contention costs
    /// at most a switch between the "bucket in use" and "bucket rested" cases.
    pub(super) async fn take_rate_token_impl(
        &self,
        bucket_key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        let gcra = Gcra::of(limit);
        let now_us = now_ms * 1000;
        let k = key(format!("RATE#{bucket_key}"), "RATE");
        let expires = now_ms / 1000 + i64::from(limit.period_secs) * 2 + 60;
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
            let Some(bucket) = self
                .get(format!("RATE#{bucket_key}"), "RATE".into())
                .await?
            else {
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

    pub(super) async fn claim_idempotency_key_impl(
        &self,
        company: &CompanyId,
        idem_key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let now_s = now.inner().timestamp();
        let pk = company_pk(company);
        let sk = format!("IDEM#{idem_key}");
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

    pub(super) async fn finish_idempotency_key_impl(
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
            .set_key(Some(key(company_pk(company), format!("IDEM#{idem_key}"))))
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

    pub(super) async fn abandon_idempotency_key_impl(
        &self,
        company: &CompanyId,
        idem_key: &str,
    ) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), format!("IDEM#{idem_key}"))))
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

fn endpoint_from(i: &Item) -> StoreResult<(InboundEndpoint, AccessToken)> {
    Ok((
        InboundEndpoint {
            id: Uuid::parse_str(&get_s(i, "id")?).map_err(|_| corrupt("id"))?,
            company_id: CompanyId::new(get_s(i, "company_id")?),
            client_id: get_s(i, "client_id")?,
            name: get_s(i, "name")?,
            created_at: ts(i, "created_at")?,
        },
        AccessToken::new(get_s(i, "secret")?),
    ))
}

impl DynamoStore {
    pub(super) async fn create_inbound_endpoint_impl(
        &self,
        company: &CompanyId,
        name: &str,
        client_id: &str,
        secret: &AccessToken,
    ) -> StoreResult<InboundEndpoint> {
        let endpoint = InboundEndpoint {
            id: Uuid::now_v7(),
            company_id: company.clone(),
            client_id: client_id.to_string(),
            name: name.to_string(),
            created_at: Timestamp::now(),
        };
        let stored = item([
            ("pk", Some(s(company_pk(company)))),
            ("sk", Some(s(format!("INBOUND#{}", endpoint.id)))),
            ("id", Some(s(endpoint.id.to_string()))),
            ("company_id", Some(s(company.as_str()))),
            ("client_id", Some(s(client_id))),
            ("name", Some(s(name))),
            ("secret", Some(s(secret.expose()))),
            ("created_at", Some(s(endpoint.created_at.as_string()))),
        ]);
        let lookup = item([
            ("pk", Some(s(format!("INBOUNDID#{client_id}")))),
            ("sk", Some(s("INBOUND"))),
            ("company_id", Some(s(company.as_str()))),
            ("endpoint_id", Some(s(endpoint.id.to_string()))),
        ]);
        match self
            .transact(vec![self.create(stored)?, self.create(lookup)?])
            .await
        {
            Ok(()) => Ok(endpoint),
            Err(TxError::Conditions(_)) => Err(StoreError::Conflict(
                "the client id collided; try again".into(),
            )),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn list_inbound_endpoints_impl(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>> {
        self.query_prefix(&company_pk(company), "INBOUND#")
            .await?
            .iter()
            .map(|i| endpoint_from(i).map(|(e, _)| e))
            .collect()
    }

    pub(super) async fn delete_inbound_endpoint_impl(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<()> {
        let stored = self
            .get(company_pk(company), format!("INBOUND#{id}"))
            .await?
            .ok_or(StoreError::NotFound)?;
        let client_id = get_s(&stored, "client_id")?;
        self.delete_all(vec![
            key(company_pk(company), format!("INBOUND#{id}")),
            key(format!("INBOUNDID#{client_id}"), "INBOUND"),
        ])
        .await
    }

    pub(super) async fn find_inbound_endpoint_impl(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        let Some(lookup) = self
            .get(format!("INBOUNDID#{client_id}"), "INBOUND".into())
            .await?
        else {
            return Ok(None);
        };
        let company = CompanyId::new(get_s(&lookup, "company_id")?);
        let id = get_s(&lookup, "endpoint_id")?;
        match self
            .get(company_pk(&company), format!("INBOUND#{id}"))
            .await?
        {
            Some(i) => endpoint_from(&i).map(Some),
            None => Ok(None),
        }
    }
}
