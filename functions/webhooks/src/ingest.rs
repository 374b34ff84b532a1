//! A batch's events into the store: the right company, lead and conversation for each
//! message, stored once; statuses applied forward only.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;
use shared::domain::account::ChannelAccount;
use shared::domain::conversation::{Channel, NewMessage, Role};
use shared::domain::inbound::{self, Contact, Event, InboundMessage};
use shared::domain::lead::{LeadFields, LeadId};
use shared::domain::CompanyId;
use shared::store::{StoreError, StoreResult};
use shared::App;
use uuid::Uuid;

/// What a batch did, as the answer reports it.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub messages: usize,
    pub duplicates: usize,
    pub statuses: usize,
    pub ignored: usize,
}

pub async fn batch(app: &App, body: &serde_json::Value) -> StoreResult<Counts> {
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
                    close_window(app, company, &s.external_id).await?;
                }
                counts.statuses += 1;
            }
            Event::Ignored { .. } => {}
        }
    }
    Ok(counts)
}

/// Stores one inbound message; `false` when it was stored before.
async fn store_message(app: &App, company: &CompanyId, m: InboundMessage) -> StoreResult<bool> {
    let lead = lead_for(app, company, m.channel, &m.contact).await?;
    let conversation = match app
        .store
        .create_conversation(company, lead, m.channel)
        .await
    {
        Ok(c) => c.id,
        Err(StoreError::Duplicate { existing_id, .. }) => parse_id(&existing_id)?,
        Err(e) => return Err(e),
    };
    let message = NewMessage {
        role: Role::User,
        content: m.content,
        kind: m.kind,
        metadata: m.metadata,
        created_at: Some(m.at),
        external_id: Some(m.external_id),
        status: None,
    };
    match app.store.add_message(company, conversation, message).await {
        Ok(_) => Ok(true),
        Err(StoreError::Duplicate { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn parse_id(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Internal(format!("unreadable id {s}")))
}

/// The contact's lead, created (name from the profile, source = the channel) if new.
async fn lead_for(
    app: &App,
    company: &CompanyId,
    channel: Channel,
    contact: &Contact,
) -> StoreResult<LeadId> {
    let by = "webhook";
    match contact {
        Contact::Phone { phone, name } => {
            let fields = new_lead(
                name.as_deref().unwrap_or(phone.as_str()),
                Some(phone.as_str()),
                channel,
            )?;
            match app.store.create_lead(company, fields, by).await {
                Ok(lead) => Ok(lead.id),
                // The number (with or without the ninth digit) is a lead already.
                Err(StoreError::Duplicate { existing_id, .. }) => {
                    parse_id(&existing_id).map(LeadId)
                }
                Err(e) => Err(e),
            }
        }
        Contact::Scoped { user_id, name } => {
            if let Some(lead) = app.store.find_contact(company, channel, user_id).await? {
                return Ok(lead);
            }
            let label = match channel {
                Channel::Instagram => "Instagram",
                Channel::Facebook => "Messenger",
                Channel::Whatsapp => "WhatsApp",
            };
            let default_name = format!("{label} {user_id}");
            let fields = new_lead(name.as_deref().unwrap_or(&default_name), None, channel)?;
            let lead = app.store.create_lead(company, fields, by).await?;
            match app
                .store
                .claim_contact(company, channel, user_id, lead.id)
                .await
            {
                Ok(()) => Ok(lead.id),
                // Another delivery created the user's lead meanwhile: use that one.
                Err(StoreError::Duplicate { existing_id, .. }) => {
                    app.store.delete_lead(company, lead.id).await?;
                    parse_id(&existing_id).map(LeadId)
                }
                Err(e) => Err(e),
            }
        }
    }
}

fn new_lead(name: &str, phone: Option<&str>, channel: Channel) -> StoreResult<LeadFields> {
    let name: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    let name = if name.trim().is_empty() {
        "Sem nome".to_string()
    } else {
        name
    };
    LeadFields::parse(json!({"name": name, "phone": phone, "source": channel.as_str()}))
        .map_err(|e| StoreError::Internal(format!("lead from a contact: {e}")))
}

/// Meta's 131047 says the customer's 24 hours are over: free-form messages stop until the
/// customer writes again.
async fn close_window(app: &App, company: &CompanyId, external_id: &str) -> StoreResult<()> {
    let Some(conversation) = app
        .store
        .conversation_of_message(company, external_id)
        .await?
    else {
        return Ok(());
    };
    let change = shared::domain::conversation::ConversationChange {
        status: None,
        metadata: Some(json!({"window_closed_at": shared::domain::Timestamp::now()})),
    };
    match app
        .store
        .update_conversation(company, conversation, change)
        .await
    {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}
