//! PostgreSQL: companies (the seed's table), API keys, channel accounts and custom inbound
//! endpoints.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{company_uuid, get, PgStore};
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

const COMPANY_COLUMNS: &str = "id, name, domain, COALESCE(settings, '{}'), \
     COALESCE(created_at, now()), COALESCE(updated_at, created_at, now())";

fn company_from(r: &Row) -> StoreResult<Company> {
    let id: Uuid = get(r, 0)?;
    Ok(Company {
        id: CompanyId::new(id.to_string()),
        name: get(r, 1)?,
        domain: get(r, 2)?,
        settings: get(r, 3)?,
        created_at: Timestamp::from_datetime(get(r, 4)?),
        updated_at: Timestamp::from_datetime(get(r, 5)?),
    })
}

const KEY_COLUMNS: &str =
    "id, company_id, name, prefix, scopes, active, created_by, created_at, last_used_at";

fn key_from(r: &Row) -> StoreResult<ApiKey> {
    let company: Uuid = get(r, 1)?;
    Ok(ApiKey {
        id: get(r, 0)?,
        company_id: CompanyId::new(company.to_string()),
        name: get(r, 2)?,
        prefix: get(r, 3)?,
        scopes: serde_json::from_value(get(r, 4)?)
            .map_err(|_| StoreError::Internal("unreadable scopes".into()))?,
        active: get(r, 5)?,
        created_by: get(r, 6)?,
        created_at: Timestamp::from_datetime(get(r, 7)?),
        last_used_at: get::<Option<_>>(r, 8)?.map(Timestamp::from_datetime),
    })
}

const CHANNEL_COLUMNS: &str =
    "id, company_id, channel, external_id, name, access_token, created_at, updated_at, ai";

fn channel_from(r: &Row) -> StoreResult<ChannelAccount> {
    let company: Uuid = get(r, 1)?;
    let channel: String = get(r, 2)?;
    let token: String = get(r, 5)?;
    let ai: String = get(r, 8)?;
    Ok(ChannelAccount {
        id: get(r, 0)?,
        company_id: CompanyId::new(company.to_string()),
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Internal("unreadable channel".into()))?,
        external_id: get(r, 3)?,
        name: get(r, 4)?,
        token_hint: AccessToken::new(token).hint(),
        assignment: Assignment::from_stored(Some(&ai)),
        created_at: Timestamp::from_datetime(get(r, 6)?),
        updated_at: Timestamp::from_datetime(get(r, 7)?),
    })
}

const ENDPOINT_COLUMNS: &str = "id, company_id, client_id, name, secret, created_at";

fn endpoint_from(r: &Row) -> StoreResult<(InboundEndpoint, AccessToken)> {
    let company: Uuid = get(r, 1)?;
    Ok((
        InboundEndpoint {
            id: get(r, 0)?,
            company_id: CompanyId::new(company.to_string()),
            client_id: get(r, 2)?,
            name: get(r, 3)?,
            created_at: Timestamp::from_datetime(get(r, 5)?),
        },
        AccessToken::new(get::<String>(r, 4)?),
    ))
}

/// Company names are unique by their folded form: creating and renaming take this lock.
const COMPANY_NAMES: &str = "SELECT pg_advisory_xact_lock(6289639006820892674)";

impl PgStore {
    async fn channel_row(&self, company: &CompanyId, id: Uuid) -> StoreResult<Row> {
        let (mut tx, c) = self.read(company).await?;
        let row = tx
            .one(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE company_id = $1 AND id = $2"
                ),
                &[&c, &id],
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_company(&self, name: &str) -> StoreResult<Company> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().inner();
        let key = name_key(name);
        let mut tx = self.begin(COMPANY_NAMES).await?;
        if let Some(r) = tx
            .opt(
                "SELECT id FROM companies WHERE name_key = $1 LIMIT 1",
                &[&key],
            )
            .await?
        {
            let existing_id: Uuid = get(&r, 0)?;
            return Err(StoreError::Duplicate {
                field: "name",
                existing_id: existing_id.to_string(),
            });
        }
        let row = tx
            .one(
                &format!(
                    "INSERT INTO companies (id, name, name_key, settings, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COMPANY_COLUMNS}"
                ),
                &[&id, &name.trim(), &key, &default_settings(), &now],
            )
            .await?;
        tx.commit().await?;
        company_from(&row)
    }

    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>> {
        let mut tx = self.unscoped().await?;
        let row = tx
            .opt(
                &format!(
                    "SELECT {COMPANY_COLUMNS} FROM companies WHERE name_key = $1 ORDER BY created_at LIMIT 1"
                ),
                &[&name_key(name)],
            )
            .await?;
        tx.commit().await?;
        row.as_ref().map(company_from).transpose()
    }

    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company> {
        let (mut tx, c) = self.read(id).await?;
        let row = tx
            .one(
                &format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1"),
                &[&c],
            )
            .await?;
        tx.commit().await?;
        company_from(&row)
    }

    async fn update_company(&self, id: &CompanyId, change: CompanyChange) -> StoreResult<Company> {
        let c = company_uuid(id)?;
        let now = Timestamp::now().inner();
        let key = change.name.as_deref().map(name_key);
        let mut tx = self.begin(COMPANY_NAMES).await?;
        if let Some(key) = &key {
            if let Some(r) = tx
                .opt(
                    "SELECT id FROM companies WHERE name_key = $1 AND id <> $2 LIMIT 1",
                    &[key, &c],
                )
                .await?
            {
                let existing_id: Uuid = get(&r, 0)?;
                return Err(StoreError::Duplicate {
                    field: "name",
                    existing_id: existing_id.to_string(),
                });
            }
        }
        let (set_domain, domain) = match &change.domain {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let row = tx
            .opt(
                &format!(
                    "UPDATE companies SET name = COALESCE($2, name), name_key = COALESCE($3, name_key), \
                     domain = CASE WHEN $4 THEN $5 ELSE domain END, settings = COALESCE($6, settings), \
                     updated_at = $7 WHERE id = $1 RETURNING {COMPANY_COLUMNS}"
                ),
                &[
                    &c,
                    &change.name.as_deref().map(str::trim),
                    &key,
                    &set_domain,
                    &domain,
                    &change.settings.clone(),
                    &now,
                ],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        company_from(&row)
    }

    async fn create_api_key(&self, company: &CompanyId, key: NewApiKey) -> StoreResult<ApiKey> {
        let id = Uuid::now_v7();
        let now = Timestamp::now();
        let scopes =
            serde_json::to_value(&key.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "INSERT INTO api_keys (id, company_id, name, prefix, key_hash, scopes, active, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8)",
            &[&id, &c, &key.name, &key.prefix, &key.hash, &scopes, &key.created_by, &now.inner()],
        )
        .await?;
        tx.commit().await?;
        Ok(key.stored(id, company, now))
    }

    async fn list_api_keys(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE company_id = $1 ORDER BY created_at, id"
                ),
                &[&c],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(key_from).collect()
    }

    async fn revoke_api_key(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "UPDATE api_keys SET active = false WHERE company_id = $1 AND id = $2",
            company,
            id,
        )
        .await
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let mut tx = self.unscoped().await?;
        let row = tx
            .opt(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND active"),
                &[&hash],
            )
            .await?;
        tx.commit().await?;
        row.as_ref().map(key_from).transpose()
    }

    async fn touch_api_key(&self, company: &CompanyId, id: Uuid, at: Timestamp) -> StoreResult<()> {
        let (mut tx, c) = self.read(company).await?;
        tx.exec(
            "UPDATE api_keys SET last_used_at = $3 WHERE company_id = $1 AND id = $2",
            &[&c, &id, &at.inner()],
        )
        .await?;
        tx.commit().await
    }

    async fn create_channel(
        &self,
        company: &CompanyId,
        ch: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().inner();
        let c = company_uuid(company)?;
        // An external id belongs to one company at most: the check spans companies.
        let mut tx = self
            .begin("SELECT pg_advisory_xact_lock(6289639006820892675)")
            .await?;
        if let Some(r) = tx
            .opt(
                "SELECT id FROM channel_accounts WHERE channel = $1 AND external_id = $2",
                &[&ch.channel.as_str(), &ch.external_id],
            )
            .await?
        {
            let existing_id: Uuid = get(&r, 0)?;
            return Err(StoreError::Duplicate {
                field: "external_id",
                existing_id: existing_id.to_string(),
            });
        }
        tx.exec(
            "INSERT INTO channel_accounts (id, company_id, channel, external_id, name, access_token, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            &[&id, &c, &ch.channel.as_str(), &ch.external_id, &ch.name, &ch.token.expose(), &now],
        )
        .await?;
        tx.commit().await?;
        self.get_channel(company, id).await
    }

    async fn list_channels(&self, company: &CompanyId) -> StoreResult<Vec<ChannelAccount>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE company_id = $1 ORDER BY created_at, id"
                ),
                &[&c],
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(channel_from).collect()
    }

    async fn get_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelAccount> {
        channel_from(&self.channel_row(company, id).await?)
    }

    async fn update_channel(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        let now = Timestamp::now().inner();
        let (mut tx, c) = self.write(company).await?;
        let row = tx
            .one(
                "SELECT ai FROM channel_accounts WHERE company_id = $1 AND id = $2",
                &[&c, &id],
            )
            .await?;
        let ai: String = get(&row, 0)?;
        let ai = change
            .assignment(&Assignment::from_stored(Some(&ai)))
            .to_stored();
        tx.exec(
            "UPDATE channel_accounts SET name = COALESCE($3, name), \
             access_token = COALESCE($4, access_token), updated_at = $5, ai = $6 \
             WHERE company_id = $1 AND id = $2",
            &[
                &c,
                &id,
                &change.name,
                &change.token.as_ref().map(AccessToken::expose),
                &now,
                &ai,
            ],
        )
        .await?;
        tx.commit().await?;
        self.get_channel(company, id).await
    }

    async fn delete_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM channel_accounts WHERE company_id = $1 AND id = $2",
            company,
            id,
        )
        .await
    }

    async fn channel_token(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        let row = self.channel_row(company, id).await?;
        Ok(AccessToken::new(get::<String>(&row, 5)?))
    }

    async fn find_channel(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        let mut tx = self.unscoped().await?;
        let row = tx
            .opt(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE channel = $1 AND external_id = $2"
                ),
                &[&channel.as_str(), &external_id],
            )
            .await?;
        tx.commit().await?;
        row.as_ref().map(channel_from).transpose()
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
        let (mut tx, c) = self.write(company).await?;
        tx.exec(
            "INSERT INTO inbound_endpoints (id, company_id, client_id, name, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &endpoint.id,
                &c,
                &client_id,
                &name,
                &secret.expose(),
                &endpoint.created_at.inner(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    async fn list_inbound_endpoints(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>> {
        let (mut tx, c) = self.read(company).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM inbound_endpoints WHERE company_id = $1 ORDER BY created_at, id"
                ),
                &[&c],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| endpoint_from(r).map(|(e, _)| e))
            .collect()
    }

    async fn delete_inbound_endpoint(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM inbound_endpoints WHERE company_id = $1 AND id = $2",
            company,
            id,
        )
        .await
    }

    async fn find_inbound_endpoint(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        let mut tx = self.unscoped().await?;
        let row = tx
            .opt(
                &format!("SELECT {ENDPOINT_COLUMNS} FROM inbound_endpoints WHERE client_id = $1"),
                &[&client_id],
            )
            .await?;
        tx.commit().await?;
        row.as_ref().map(endpoint_from).transpose()
    }

    async fn user_company(&self, user: &str) -> StoreResult<Option<CompanyId>> {
        let Ok(user) = Uuid::parse_str(user) else {
            return Ok(None);
        };
        let mut tx = self.unscoped().await?;
        let row = tx
            .opt("SELECT company_id FROM users WHERE id = $1", &[&user])
            .await?;
        tx.commit().await?;
        Ok(row
            .map(|r| get::<Option<Uuid>>(&r, 0))
            .transpose()?
            .flatten()
            .map(|c| CompanyId::new(c.to_string())))
    }
}
