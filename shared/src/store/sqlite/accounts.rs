//! SQLite: API keys, channel accounts, rate buckets and idempotency records.

use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{map_err, ts, uuid, SqliteStore};
use crate::domain::account::{
    AccessToken, ApiKey, ChannelAccount, ChannelChange, InboundEndpoint, NewApiKey,
    NewChannelAccount,
};
use crate::domain::conversation::Channel;
use crate::domain::idempotency::{self, Claim, StoredResponse};
use crate::domain::rate_limit::{Bucket, Decision, Limit};
use crate::domain::{CompanyId, Timestamp};
use crate::store::{StoreError, StoreResult};

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
    "id, company_id, channel, external_id, name, access_token, created_at, updated_at";

type ChannelRow = (
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
    ))
}

fn channel_from(row: ChannelRow) -> StoreResult<ChannelAccount> {
    let (id, company, channel, external_id, name, token, created_at, updated_at) = row;
    Ok(ChannelAccount {
        id: uuid(&id)?,
        company_id: CompanyId::new(company),
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Internal("unreadable channel".into()))?,
        external_id,
        name,
        token_hint: AccessToken::new(token).hint(),
        created_at: ts(&created_at)?,
        updated_at: ts(&updated_at)?,
    })
}

impl SqliteStore {
    /// Runs `sql` (company as `?1`, id as `?2`) on exactly one row of the company, or
    /// answers NotFound.
    fn change_one(&self, sql: &str, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.write(|tx| {
            let changed = tx
                .execute(sql, params![company.as_str(), id.to_string()])
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    pub(super) fn create_api_key_sync(
        &self,
        company: &CompanyId,
        key: NewApiKey,
    ) -> StoreResult<ApiKey> {
        let id = Uuid::now_v7();
        let now = Timestamp::now();
        let scopes =
            serde_json::to_string(&key.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_keys (id, company_id, name, prefix, key_hash, scopes, active, created_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
                params![id.to_string(), company.as_str(), key.name, key.prefix, key.hash, scopes, key.created_by, now.as_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        Ok(ApiKey {
            id,
            company_id: company.clone(),
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            active: true,
            created_at: now,
            last_used_at: None,
            created_by: key.created_by,
        })
    }

    pub(super) fn list_api_keys_sync(&self, company: &CompanyId) -> StoreResult<Vec<ApiKey>> {
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

    pub(super) fn revoke_api_key_sync(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "UPDATE api_keys SET active = 0 WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }

    pub(super) fn find_api_key_sync(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let row = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1 AND active = 1"
            ))
            .and_then(|mut s| s.query_row([hash], key_row).optional())
            .map_err(map_err)?;
        row.map(key_from).transpose()
    }

    pub(super) fn touch_api_key_sync(
        &self,
        company: &CompanyId,
        id: Uuid,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?3 WHERE company_id = ?1 AND id = ?2",
                params![company.as_str(), id.to_string(), at.as_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    pub(super) fn create_channel_sync(
        &self,
        company: &CompanyId,
        c: NewChannelAccount,
    ) -> StoreResult<ChannelAccount> {
        let id = Uuid::now_v7();
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM channel_accounts WHERE channel = ?1 AND external_id = ?2",
                    params![c.channel.as_str(), c.external_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            if let Some(existing_id) = existing {
                return Err(StoreError::Duplicate { field: "external_id", existing_id });
            }
            tx.execute(
                "INSERT INTO channel_accounts (id, company_id, channel, external_id, name, access_token, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![id.to_string(), company.as_str(), c.channel.as_str(), c.external_id, c.name, c.token.expose(), now],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        self.get_channel_sync(company, id)
    }

    pub(super) fn list_channels_sync(
        &self,
        company: &CompanyId,
    ) -> StoreResult<Vec<ChannelAccount>> {
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

    fn channel_row_sync(&self, company: &CompanyId, id: Uuid) -> StoreResult<ChannelRow> {
        self.conn()
            .query_row(
                &format!("SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE company_id = ?1 AND id = ?2"),
                params![company.as_str(), id.to_string()],
                channel_row,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
    }

    pub(super) fn get_channel_sync(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<ChannelAccount> {
        channel_from(self.channel_row_sync(company, id)?)
    }

    pub(super) fn update_channel_sync(
        &self,
        company: &CompanyId,
        id: Uuid,
        change: ChannelChange,
    ) -> StoreResult<ChannelAccount> {
        let now = Timestamp::now().as_string();
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE channel_accounts SET name = COALESCE(?3, name), access_token = COALESCE(?4, access_token), \
                     updated_at = ?5 WHERE company_id = ?1 AND id = ?2",
                    params![company.as_str(), id.to_string(), change.name, change.token.as_ref().map(AccessToken::expose), now],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })?;
        self.get_channel_sync(company, id)
    }

    pub(super) fn delete_channel_sync(&self, company: &CompanyId, id: Uuid) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM channel_accounts WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }

    pub(super) fn channel_token_sync(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<AccessToken> {
        Ok(AccessToken::new(self.channel_row_sync(company, id)?.5))
    }

    pub(super) fn find_channel_sync(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> StoreResult<Option<ChannelAccount>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {CHANNEL_COLUMNS} FROM channel_accounts WHERE channel = ?1 AND external_id = ?2"),
                params![channel.as_str(), external_id],
                channel_row,
            )
            .optional()
            .map_err(map_err)?;
        row.map(channel_from).transpose()
    }

    pub(super) fn take_rate_token_sync(
        &self,
        key: &str,
        limit: &Limit,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        self.write(|tx| {
            let current = tx
                .query_row(
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
            tx.execute(
                "INSERT INTO rate_buckets (key, tokens, at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at_ms = excluded.at_ms",
                params![key, bucket.tokens, bucket.at_ms],
            )
            .map_err(map_err)?;
            Ok(decision)
        })
    }

    pub(super) fn claim_idempotency_key_sync(
        &self,
        company: &CompanyId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<Claim> {
        let now_s = now.inner().timestamp();
        self.write(|tx| {
            let existing: Option<(String, String, Option<String>, i64, i64)> = tx
                .query_row(
                    "SELECT fingerprint, state, response, lease_until, expires_at FROM idempotency_keys \
                     WHERE company_id = ?1 AND key = ?2",
                    params![company.as_str(), key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(map_err)?;
            if let Some((fp, state, response, lease_until, expires_at)) = existing {
                if expires_at > now_s {
                    if fp != fingerprint {
                        return Ok(Claim::Mismatch);
                    }
                    if state == "done" {
                        let stored = response
                            .as_deref()
                            .and_then(|r| serde_json::from_str::<StoredResponse>(r).ok())
                            .ok_or_else(|| StoreError::Internal("unreadable idempotent response".into()))?;
                        return Ok(Claim::Replay(stored));
                    }
                    if lease_until > now_s {
                        return Ok(Claim::InProgress);
                    }
                }
            }
            tx.execute(
                "INSERT INTO idempotency_keys (company_id, key, fingerprint, state, response, lease_until, expires_at) \
                 VALUES (?1, ?2, ?3, 'in_progress', NULL, ?4, ?5) ON CONFLICT (company_id, key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, state = excluded.state, response = NULL, \
                 lease_until = excluded.lease_until, expires_at = excluded.expires_at",
                params![company.as_str(), key, fingerprint, now_s + idempotency::LEASE_SECS, now_s + idempotency::TTL_SECS],
            )
            .map_err(map_err)?;
            // Expired records go as new ones come.
            tx.execute("DELETE FROM idempotency_keys WHERE expires_at < ?1", [now_s]).map_err(map_err)?;
            Ok(Claim::Started)
        })
    }

    pub(super) fn finish_idempotency_key_sync(
        &self,
        company: &CompanyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let text =
            serde_json::to_string(response).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(|tx| {
            tx.execute(
                "UPDATE idempotency_keys SET state = 'done', response = ?3 WHERE company_id = ?1 AND key = ?2",
                params![company.as_str(), key, text],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    pub(super) fn abandon_idempotency_key_sync(
        &self,
        company: &CompanyId,
        key: &str,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM idempotency_keys WHERE company_id = ?1 AND key = ?2 AND state = 'in_progress'",
                params![company.as_str(), key],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }
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
    pub(super) fn create_inbound_endpoint_sync(
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
            tx.execute(
                "INSERT INTO inbound_endpoints (id, company_id, client_id, name, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![endpoint.id.to_string(), company.as_str(), client_id, name, secret.expose(), endpoint.created_at.as_string()],
            )
            .map_err(map_err)?;
            Ok(())
        })?;
        Ok(endpoint)
    }

    pub(super) fn list_inbound_endpoints_sync(
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

    pub(super) fn delete_inbound_endpoint_sync(
        &self,
        company: &CompanyId,
        id: Uuid,
    ) -> StoreResult<()> {
        self.change_one(
            "DELETE FROM inbound_endpoints WHERE company_id = ?1 AND id = ?2",
            company,
            id,
        )
    }

    pub(super) fn find_inbound_endpoint_sync(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<(InboundEndpoint, AccessToken)>> {
        let row: Option<EndpointRow> = self
            .conn()
            .query_row(
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
