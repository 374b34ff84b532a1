//! SQLite: companies, API keys, channel accounts and custom inbound endpoints.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::Cached;
use super::{json, map_err, ts, uuid, SqliteStore};
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

const COMPANY_COLUMNS: &str = "id, name, domain, settings, created_at, updated_at";

type CompanyRow = (String, String, Option<String>, String, String, String);

fn company_row(r: &Row<'_>) -> rusqlite::Result<CompanyRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn company_from(row: CompanyRow) -> StoreResult<Company> {
    let (id, name, domain, settings, created_at, updated_at) = row;
    Ok(Company {
        id: CompanyId::new(id),
        name,
        domain,
        settings: json(&settings)?,
        created_at: ts(&created_at)?,
        updated_at: ts(&updated_at)?,
    })
}

const KEY_COLUMNS: &str =
    "id, company_id, name, prefix, scopes, active, created_by, created_at, last_used_at";

/// An API key's columns, in `KEY_COLUMNS` order.
type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    String,
    Option<String>,
);

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn key_from(row: KeyRow) -> StoreResult<ApiKey> {
    let (id, company, name, prefix, scopes, active, created_by, created_at, last_used) = row;
    Ok(ApiKey {
        id: uuid(&id)?,
        company_id: CompanyId::new(company),
        name,
        prefix,
        scopes: serde_json::from_str(&scopes)
            .map_err(|_| StoreError::Internal("unreadable scopes".into()))?,
        active,
        created_at: ts(&created_at)?,
        last_used_at: last_used.as_deref().map(ts).transpose()?,
        created_by,
    })
}

const CHANNEL_COLUMNS: &str =
    "id, company_id, channel, external_id, name, access_token, created_at, updated_at, ai";

type ChannelRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn channel_row(r: &Row<'_>) -> rusqlite::Result<ChannelRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn channel_from(row: ChannelRow) -> StoreResult<ChannelAccount> {
    let (id, company, channel, external_id, name, token, created_at, updated_at, ai) = row;
    Ok(ChannelAccount {
        id: uuid(&id)?,
        company_id: CompanyId::new(company),
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Internal("unreadable channel".into()))?,
        external_id,
        name,
        token_hint: AccessToken::new(token).hint(),
        assignment: Assignment::from_stored(Some(&ai)),
        created_at: ts(&created_at)?,
        updated_at: ts(&updated_at)?,
    })
}

type EndpointRow = (String, String, String, String, String, String);

fn endpoint_from(row: EndpointRow) -> StoreResult<(InboundEndpoint, AccessToken)> {
    let (id, company, client_id, name, secret, created_at) = row;
    Ok((
        InboundEndpoint {
            id: uuid(&id)?,
            company_id: CompanyId::new(company),
            client_id,
            name,
            created_at: ts(&created_at)?,
        },
        AccessToken::new(secret),
    ))
}

const ENDPOINT_COLUMNS: &str = "id, company_id, client_id, name, secret, created_at";

impl SqliteStore {
    fn channel_row_of(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelRow> {
        self.conn()
            .row(
                &format!("SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE company_id = ?1 AND id = ?2"),
                params![company.as_str(), id.to_string()],
                channel_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_company(&self, name: &str) -> StoreResult<Company> {
        let now = Timestamp::now();
        let id = Uuid::now_v7().to_string();
        let key = name_key(name);
        self.write(|tx| {
            let existing: Option<String> = tx
                .row(
                    "SELECT id FROM companies WHERE name_key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate {
                    field: "name",
                    existing_id,
                });
            }
            tx.run(
                "INSERT INTO companies (id, name, name_key, settings, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    id,
                    name.trim(),
                    key,
                    default_settings().to_string(),
                    now.as_string()
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.get_company(&CompanyId::new(id)).await
    }

    async fn find_company_by_name(&self, name: &str) -> StoreResult<Option<Company>> {
        let row = self
            .conn()
            .row(
                &format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE name_key = ?1"),
                [name_key(name)],
                company_row,
            )
            .optional()
            .map_err(map_err)?;
        row.map(company_from).transpose()
    }

    async fn get_company(&self, id: &CompanyId) -> StoreResult<Company> {
        let row = self
            .conn()
            .row(
                &format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = ?1"),
                [id.as_str()],
                company_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        company_from(row)
    }

    async fn update_company(&self, id: &CompanyId, change: CompanyChange) -> StoreResult<Company> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let settings = change.settings.as_ref().map(|s| s.to_string());
            let (set_domain, domain) = match &change.domain {
                Some(d) => (true, d.clone()),
                None => (false, None),
            };
            let key = change.name.as_deref().map(name_key);
            if let Some(key) = &key {
                let other: Option<String> = tx
                    .row("SELECT id FROM companies WHERE name_key = ?1 AND id <> ?2", params![key, id.as_str()], |r| r.get(0))
                    .optional()
                    .map_err(map_err)?;
                if let Some(existing_id) = other {
                    return Err(StoreError::Duplicate { field: "name", existing_id });
                }
            }
            let n = tx
                .run(
                    "UPDATE companies SET name = COALESCE(?2, name), name_key = COALESCE(?3, name_key), \
                     domain = CASE WHEN ?4 THEN ?5 ELSE domain END, settings = COALESCE(?6, settings), \
                     updated_at = ?7 WHERE id = ?1",
                    params![id.as_str(), change.name.as_deref().map(str::trim), key, set_domain, domain, settings, now],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })?;
        self.get_company(id).await
    }

    async fn create_api_key(&self, company: &CompanyId, key: NewApiKey) -> StoreResult<ApiKey> {
        let id = Uuid::now_v7();
        let now = Timestamp::now();
        let scopes =
            serde_json::to_string(&key.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(|tx| {
            tx.run(
                "INSERT INTO api_keys (id, company_id, name, prefix, key_hash, scopes, active, created_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
                params![id.to_string(), company.as_str(), key.name, key.prefix, key.hash, scopes, key.created_by, now.as_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        Ok(key.stored(id, company, now))
    }

    async fn list_api_keys(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE company_id = ?1 ORDER BY created_at, id"
            ))
            .map_err(map_err)?;
        let rows = stmt
            .query_map([company.as_str()], key_row)
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err).and_then(key_from))
            .collect()
    }

    async fn revoke_api_key(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "UPDATE api_keys SET active = 0 WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let row = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1 AND active = 1"
            ))
            .and_then(|mut s| s.query_row([hash], key_row).optional())
            .map_err(map_err)?;
        row.map(key_from).transpose()
    }

    async fn touch_api_key(&self, company: &CompanyId, id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.write(|tx| {
            tx.run(
                "UPDATE api_keys SET last_used_at = ?3 WHERE company_id = ?1 AND id = ?2",
                params![company.as_str(), id.to_string(), at.as_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    async fn create_channel(
        &self,
        company: &CompanyId,
        c: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let existing: Option<String> = tx
                .row(
                    "SELECT id FROM channel_accounts WHERE channel = ?1 AND external_id = ?2",
                    params![c.channel.as_str(), c.external_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate { field: "external_id", existing_id });
            }
            tx.run(
                "INSERT INTO channel_accounts (id, company_id, channel, external_id, name, access_token, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![id.to_string(), company.as_str(), c.channel.as_str(), c.external_id, c.name, c.token.expose(), now],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.get_channel(company, id).await
    }

    async fn list_channels(&self, company: &CompanyId) -> StoreResult<Vec<ChannelAccount>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE company_id = ?1 ORDER BY created_at, id"))
            .map_err(map_err)?;
        let rows = stmt
            .query_map([company.as_str()], channel_row)
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err).and_then(channel_from))
            .collect()
    }

    async fn get_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelAccount> {
        channel_from(self.channel_row_of(company, id)?)
    }

    async fn update_channel(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let ai: String = tx
                .row(
                    "SELECT ai FROM channel_accounts WHERE company_id = ?1 AND id = ?2",
                    params![company.as_str(), id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            let ai = change.assignment(&Assignment::from_stored(Some(&ai))).to_stored();
            tx.run(
                "UPDATE channel_accounts SET name = COALESCE(?3, name), access_token = COALESCE(?4, access_token), \
                 updated_at = ?5, ai = ?6 WHERE company_id = ?1 AND id = ?2",
                params![company.as_str(), id.to_string(), change.name, change.token.as_ref().map(AccessToken::expose), now, ai],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.get_channel(company, id).await
    }

    async fn delete_channel(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM channel_accounts WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }

    async fn channel_token(&self, company: &CompanyId, id: Uuid) -> StoreResult<AccessToken> {
        Ok(AccessToken::new(self.channel_row_of(company, id)?.5))
    }

    async fn find_channel(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        let row = self
            .conn()
            .row(
                &format!("SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE channel = ?1 AND external_id = ?2"),
                params![channel.as_str(), external_id],
                channel_row,
            )
            .optional()
            .map_err(map_err)?;
        row.map(channel_from).transpose()
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
        self.write(|tx| {
            tx.run(
                "INSERT INTO inbound_endpoints (id, company_id, client_id, name, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![endpoint.id.to_string(), company.as_str(), client_id, name, secret.expose(), endpoint.created_at.as_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        Ok(endpoint)
    }

    async fn list_inbound_endpoints(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<InboundEndpoint>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {ENDPOINT_COLUMNS} FROM inbound_endpoints WHERE company_id = ?1 ORDER BY created_at, id"))
            .map_err(map_err)?;
        let rows = stmt
            .query_map([company.as_str()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(map_err)?;
        rows.map(|r| r.map_err(map_err).and_then(endpoint_from).map(|(e, _)| e))
            .collect()
    }

    async fn delete_inbound_endpoint(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM inbound_endpoints WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }

    async fn find_inbound_endpoint(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        let row: Option<EndpointRow> = self
            .conn()
            .row(
                &format!("SELECT {ENDPOINT_COLUMNS} FROM inbound_endpoints WHERE client_id = ?1"),
                [client_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(map_err)?;
        row.map(endpoint_from).transpose()
    }
}
