//! A batch's events into the store: the right company, lead and conversation for each
//! message, stored once; statuses applied forward only.

use std::collections::HashMap;

use serde::Serialize;
use shared::domain::account::ChannelAccount;
use shared::domain::conversation::{Channel, NewMessage, Role};
use shared::domain::inbound::{self, Event, InboundMessage};
use shared::domain::CompanyId;
use shared::store::StoreError;
use shared::{usecase, ApiError, App};

/// What a batch did, as the answer reports it.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub messages: usize,
    pub duplicates: usize,
    pub statuses: usize,
    pub ignored: usize,
}

pub async fn batch(app: &App, body: &serde_json::Value) -> Result<Counts, ApiError> {
    let mut counts = Counts::default();
    let mut accounts: HashMap<(Channel, String), Option<ChannelAccount>> = HashMap::new();
    for event in inbound::parse(body) {
        let (channel, account_id) = match &event {
            Event::Message(m) => (m.channel, m.account_id.clone()),
            Event::Status(s) => (s.channel, s.account_id.clone()),
            Event::Ignored { account_id, reason } => {
                tracing::info!(account_id = account_id.as_deref().unwrap_or_default(), reason = %reason, "webhook event ignored");
                counts.ignored += 1;
                continue;
            }
        };
        let account = match accounts.get(&(channel, account_id.clone())) {
            Some(a) => a.clone(),
            None => {
                let found = app.store.find_channel(channel, &account_id).await?;
                accounts.insert((channel, account_id.clone()), found.clone());
                found
            }
        };
        let Some(account) = account else {
            tracing::warn!(channel = channel.as_str(), account_id = %account_id, "webhook for a channel no company has connected");
            counts.ignored += 1;
            continue;
        };
        let company = &account.company_id;
        match event {
            Event::Message(m) => {
                if store_message(app, company, m).await? {
                    counts.messages += 1;
                } else {
                    counts.duplicates += 1;
                }
            }
            Event::Status(s) => {
                let window_closed = s.error.as_ref().is_some_and(|e| e["code"] == 131047);
                app.store
                    .apply_message_status(company, &s.external_id, s.status, s.error)
                    .await?;
                if window_closed {
                    if let Some(conversation) = app
                        .store
                        .conversation_of_message(company, &s.external_id)
                        .await?
                    {
                        usecase::conversations::close_window(
                            app.store.as_ref(),
                            company,
                            conversation,
                        )
                        .await?;
                    }
                }
                counts.statuses += 1;
            }
            Event::Ignored { .. } => {}
        }
    }
    Ok(counts)
}

/// Stores one inbound message; `false` when it was stored before.
async fn store_message(
    app: &App,
    company: &CompanyId,
    m: InboundMessage,
) -> Result<bool, ApiError> {
    let store = app.store.as_ref();
    let lead = usecase::leads::of_contact(store, company, m.channel, &m.contact, "webhook").await?;
    let conversation = usecase::conversations::ensure_active(store, company, lead, m.channel)
        .await?
        .into_inner();
    let message = NewMessage {
        role: Role::User,
        content: m.content,
        kind: m.kind,
        metadata: m.metadata,
        created_at: Some(m.at),
        external_id: Some(m.external_id),
        status: None,
    };
    match store.add_message(company, conversation, message).await {
        Ok(_) => Ok(true),
        Err(StoreError::Duplicate { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
