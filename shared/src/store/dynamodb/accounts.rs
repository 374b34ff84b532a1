//! DynamoDB: companies, API keys, channel accounts and custom inbound endpoints.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use uuid::Uuid;

use super::items::*;
use super::keys::{self, company_pk};
use super::{built, condition_failed, sdk_error, DynamoStore, TxError};
use crate::domain::account::{
    AccessToken, ApiKey, ChannelAccount, ChannelChange, InboundEndpoint, NewApiKey,
    NewChannelAccount,
};
use crate::domain::autoreply::Assignment;
use crate::domain::company::{default_settings, name_key, CompanyChange};
use crate::domain::conversation::Channel;
use crate::domain::{Company, CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

pub fn company_item(c: &Company, name_key: &str) -> Item {
    keyed(
        keys::company(&c.id),
        [
            ("id", Some(s(c.id.as_str()))),
            ("name", Some(s(&c.name))),
            ("name_key", Some(s(name_key))),
            ("domain", c.domain.as_deref().map(s)),
            ("settings", Some(s(c.settings.to_string()))),
            ("created_at", Some(s(c.created_at.as_string()))),
            ("updated_at", Some(s(c.updated_at.as_string()))),
        ],
    )
}

pub fn company_from(i: &Item) -> StoreResult<Company> {
    Ok(Company {
        id: CompanyId::new(get_s(i, "id")?),
        name: get_s(i, "name")?,
        domain: opt_s(i, "domain"),
        settings: get_json(i, "settings")?,
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
    })
}

fn key_item(company: &CompanyId, k: &ApiKey, hash: &str) -> StoreResult<Item> {
    Ok(item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(keys::api_key_sk(k.id)))),
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
        created_at: get_ts(i, "created_at")?,
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
        assignment: Assignment::from_stored(opt_s(i, "ai").as_deref()),
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
    })
}

fn endpoint_from(i: &Item) -> StoreResult<(InboundEndpoint, AccessToken)> {
    Ok((
        InboundEndpoint {
            id: Uuid::parse_str(&get_s(i, "id")?).map_err(|_| corrupt("id"))?,
            company_id: CompanyId::new(get_s(i, "company_id")?),
            client_id: get_s(i, "client_id")?,
            name: get_s(i, "name")?,
            created_at: get_ts(i, "created_at")?,
        },
        AccessToken::new(get_s(i, "secret")?),
    ))
}

impl DynamoStore {
    async fn channel_item(&self, company: &CompanyId, id: Uuid) -> StoreResult<Item> {
        self.get(company_pk(company), keys::channel_sk(id))
            .await?
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn create_company(&self, name: &str) -> StoreResult<Company> {
        let now = Timestamp::now();
        let company = Company {
            id: CompanyId::new(Uuid::now_v7().to_string()),
            name: name.trim().to_string(),
            domain: None,
            settings: default_settings(),
            created_at: now,
            updated_at: now,
        };
        let key_name = name_key(name);
        let name_item = keyed(
            keys::company_name(&key_name),
            [("company_id", Some(s(company.id.as_str())))],
        );
        let items = vec![
            self.create(name_item)?,
            self.create(company_item(&company, &key_name))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(company),
            Err(TxError::Conditions(_)) => match self.find_company_by_name(name).await? {
                Some(existing) => Err(StoreError::Duplicate {
                    field: "name",
                    existing_id: existing.id.to_string(),
                }),
                None => Err(StoreError::Conflict(
                    "the company name is being taken; try again".into(),
                )),
            },
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>> {
        let Some(claim) = self.get_key(keys::company_name(&name_key(name))).await? else {
            return Ok(None);
        };
        let id = CompanyId::new(get_s(&claim, "company_id")?);
        match self.get_company(&id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company> {
        let item = self
            .get_key(keys::company(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        company_from(&item)
    }

    async fn update_company(&self, id: &CompanyId, change: CompanyChange) -> StoreResult<Company> {
        let mut company = self.get_company(id).await?;
        let old_key = name_key(&company.name);
        if let Some(name) = &change.name {
            company.name = name.trim().to_string();
        }
        if let Some(domain) = change.domain {
            company.domain = domain;
        }
        if let Some(settings) = change.settings {
            company.settings = settings;
        }
        company.updated_at = Timestamp::now();
        let new_key = name_key(&company.name);
        let mut items = vec![self.put(
            company_item(&company, &new_key),
            Some("attribute_exists(pk)"),
        )?];
        if new_key != old_key {
            items.push(self.create(keyed(
                keys::company_name(&new_key),
                [("company_id", Some(s(id.as_str())))],
            ))?);
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key_of(keys::company_name(&old_key))))
                .build()
                .map_err(built)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(company),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => match self.find_company_by_name(&company.name).await? {
                Some(other) => Err(StoreError::Duplicate {
                    field: "name",
                    existing_id: other.id.to_string(),
                }),
                None => Err(StoreError::Conflict(
                    "the name is being taken; try again".into(),
                )),
            },
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn create_api_key(&self, company: &CompanyId, new: NewApiKey) -> StoreResult<ApiKey> {
        let hash = new.hash.clone();
        let k = new.stored(Uuid::now_v7(), company, Timestamp::now());
        let lookup = keyed(
            keys::api_key_lookup(&hash),
            [
                ("company_id", Some(s(company.as_str()))),
                ("key_id", Some(s(k.id.to_string()))),
            ],
        );
        let items = vec![
            self.create(key_item(company, &k, &hash)?)?,
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

    async fn list_api_keys(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
        self.query_prefix(&company_pk(company), keys::API_KEY_PREFIX)
            .await?
            .iter()
            .map(key_from)
            .collect()
    }

    async fn revoke_api_key(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let pk = company_pk(company);
        let stored = self
            .get(pk.clone(), keys::api_key_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let hash = get_s(&stored, "key_hash")?;
        let mut revoked = stored.clone();
        revoked.insert("active".into(), n(0));
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(keys::api_key_lookup(&hash))))
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

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let Some(lookup) = self.get_key(keys::api_key_lookup(hash)).await? else {
            return Ok(None);
        };
        let company = CompanyId::new(get_s(&lookup, "company_id")?);
        let id = get_s(&lookup, "key_id")?;
        let Some(stored) = self.get(company_pk(&company), keys::api_key_sk(id)).await? else {
            return Ok(None);
        };
        let k = key_from(&stored)?;
        Ok(k.active.then_some(k))
    }

    async fn touch_api_key(&self, company: &CompanyId, id: Uuid, at: Timestamp) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), keys::api_key_sk(id))))
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

    async fn create_channel(
        &self,
        company: &CompanyId,
        c: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        let now = Timestamp::now();
        let id = Uuid::now_v7();
        let stored = item([
            ("pk", Some(s(company_pk(company)))),
            ("sk", Some(s(keys::channel_sk(id)))),
            ("id", Some(s(id.to_string()))),
            ("company_id", Some(s(company.as_str()))),
            ("channel", Some(s(c.channel.as_str()))),
            ("external_id", Some(s(&c.external_id))),
            ("name", Some(s(&c.name))),
            ("access_token", Some(s(c.token.expose()))),
            ("created_at", Some(s(now.as_string()))),
            ("updated_at", Some(s(now.as_string()))),
        ]);
        let lookup = keyed(
            keys::channel_lookup(c.channel, &c.external_id),
            [
                ("company_id", Some(s(company.as_str()))),
                ("channel_id", Some(s(id.to_string()))),
            ],
        );
        let account = channel_from(&stored)?;
        match self
            .transact(vec![self.create(lookup)?, self.create(stored)?])
            .await
        {
            Ok(()) => Ok(account),
            Err(TxError::Conditions(_)) => {
                let holder = self
                    .get_key(keys::channel_lookup(c.channel, &c.external_id))
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

    async fn list_channels(&self, company: &CompanyId) -> StoreResult<Vec<ChannelAccount>> {
        self.query_prefix(&company_pk(company), keys::CHANNEL_PREFIX)
            .await?
            .iter()
            .map(channel_from)
            .collect()
    }

    async fn get_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelAccount> {
        channel_from(&self.channel_item(company, id).await?)
    }

    async fn update_channel(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        let mut stored = self.channel_item(company, id).await?;
        let assignment =
            change.assignment(&Assignment::from_stored(opt_s(&stored, "ai").as_deref()));
        stored.insert("ai".into(), s(assignment.to_stored()));
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

    async fn delete_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let stored = self.channel_item(company, id).await?;
        let channel =
            Channel::parse(&get_s(&stored, "channel")?).ok_or_else(|| corrupt("channel"))?;
        let external_id = get_s(&stored, "external_id")?;
        self.delete_all(vec![
            key(company_pk(company), keys::channel_sk(id)),
            key_of(keys::channel_lookup(channel, &external_id)),
        ])
        .await
    }

    async fn channel_token(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        Ok(AccessToken::new(get_s(
            &self.channel_item(company, id).await?,
            "access_token",
        )?))
    }

    async fn find_channel(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        let Some(lookup) = self
            .get_key(keys::channel_lookup(channel, external_id))
            .await?
        else {
            return Ok(None);
        };
        let company = CompanyId::new(get_s(&lookup, "company_id")?);
        let id =
            Uuid::parse_str(&get_s(&lookup, "channel_id")?).map_err(|_| corrupt("channel_id"))?;
        match self.get_channel(&company, id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_inbound_endpoint(
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
            ("sk", Some(s(keys::inbound_sk(endpoint.id)))),
            ("id", Some(s(endpoint.id.to_string()))),
            ("company_id", Some(s(company.as_str()))),
            ("client_id", Some(s(client_id))),
            ("name", Some(s(name))),
            ("secret", Some(s(secret.expose()))),
            ("created_at", Some(s(endpoint.created_at.as_string()))),
        ]);
        let lookup = keyed(
            keys::inbound_lookup(client_id),
            [
                ("company_id", Some(s(company.as_str()))),
                ("endpoint_id", Some(s(endpoint.id.to_string()))),
            ],
        );
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

    async fn list_inbound_endpoints(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>> {
        self.query_prefix(&company_pk(company), keys::INBOUND_PREFIX)
            .await?
            .iter()
            .map(|i| endpoint_from(i).map(|(e, _)| e))
            .collect()
    }

    async fn delete_inbound_endpoint(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        let stored = self
            .get(company_pk(company), keys::inbound_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let client_id = get_s(&stored, "client_id")?;
        self.delete_all(vec![
            key(company_pk(company), keys::inbound_sk(id)),
            key_of(keys::inbound_lookup(&client_id)),
        ])
        .await
    }

    async fn find_inbound_endpoint(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        let Some(lookup) = self.get_key(keys::inbound_lookup(client_id)).await? else {
            return Ok(None);
        };
        let company = CompanyId::new(get_s(&lookup, "company_id")?);
        let id = get_s(&lookup, "endpoint_id")?;
        match self.get(company_pk(&company), keys::inbound_sk(id)).await? {
            Some(i) => endpoint_from(&i).map(Some),
            None => Ok(None),
        }
    }
}
