//! Sending on a conversation's channel: validated before any call, recorded before the
//! call (`pending`), then `sent` with Meta's id or `failed` with Meta's error, so that a
//! timeout and a retry never leave an untracked message.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::account::{AccessToken, ChannelAccount};
use crate::domain::conversation::{Channel, Message, NewMessage, Role};
use crate::domain::inbound::DeliveryStatus;
use crate::domain::outgoing::{window_open, Outgoing};
use crate::domain::rate_limit;
use crate::domain::CompanyId;
use crate::error::{ApiError, Concerning, Entity};
use crate::meta::GraphError;
use crate::usecase::limits::{self, Caller};
use crate::App;

/// Sends `outgoing` on `conversation` for `sent_by` and answers with the recorded message.
pub async fn send(
    app: &App,
    company: &CompanyId,
    sent_by: &str,
    conversation: Uuid,
    outgoing: &Outgoing,
) -> Result<Message, ApiError> {
    let store = app.store.as_ref();
    let conv = store
        .get_conversation(company, conversation)
        .await
        .concerning(Entity::Conversation)?;
    if !outgoing.is_template() && !window_open(&conv) {
        return Err(ApiError::WindowClosed(
            "More than 24 hours since the customer last wrote: only templates may be sent".into(),
        ));
    }
    let payload = match conv.channel {
        Channel::Whatsapp => {
            let lead = store
                .get_lead(company, conv.lead_id)
                .await
                .concerning(Entity::Lead)?;
            let to = lead
                .fields
                .phone
                .as_ref()
                .map(|p| p.as_str().trim_start_matches('+').to_string())
                .ok_or_else(|| ApiError::validation("lead", "has no phone number to send to"))?;
            outgoing.whatsapp_payload(&to)
        }
        Channel::Instagram | Channel::Facebook => {
            let user = store
                .contact_of(company, conv.lead_id, conv.channel)
                .await?
                .ok_or_else(|| {
                    ApiError::validation("lead", "has not written on this channel yet")
                })?;
            outgoing.messenger_payload(&user)?
        }
    };
    let (account, token) = channel_account(app, company, conv.channel).await?;
    let graph = app.graph()?;
    if conv.channel == Channel::Whatsapp {
        // WhatsApp's daily cap counts every message sent, whichever route sends it.
        if let Some(group) = rate_limit::group("whatsapp") {
            let caller = Caller {
                company,
                id: sent_by,
                managing: false,
            };
            limits::check(&limits::take(app, group, &caller).await?)?;
        }
    }

    // Recorded first: whatever happens to the call, the message is not lost.
    let mut record = NewMessage::plain(Role::Assistant, &outgoing.summary, &outgoing.kind);
    // The caller's metadata, with what this service records beside it.
    let mut metadata = outgoing.metadata.clone().unwrap_or_default();
    metadata.insert("request".into(), payload.clone());
    metadata.insert("sent_by".into(), json!(sent_by));
    record.metadata = Value::Object(metadata);
    record.status = Some(DeliveryStatus::Pending);
    let stored = store.add_message(company, conv.id, record).await?;

    match graph
        .send_message(&account.external_id, &token, &payload)
        .await
    {
        Ok(id) => Ok(store
            .record_delivery(company, &stored, Some(&id), DeliveryStatus::Sent, None)
            .await?),
        Err(GraphError::Timeout) => Err(ApiError::UpstreamTimeout(format!(
            "Meta did not answer in time; message {} is kept as pending",
            stored.id
        ))),
        Err(e) => {
            let error = meta_error(&e);
            store
                .record_delivery(
                    company,
                    &stored,
                    None,
                    DeliveryStatus::Failed,
                    Some(error.clone()),
                )
                .await?;
            if e.code() == Some(131047) {
                super::conversations::close_window(store, company, conv.id).await?;
                return Err(ApiError::WindowClosed(
                    "Meta refused a free-form message: more than 24 hours since the customer last wrote".into(),
                ));
            }
            Err(ApiError::Upstream {
                code: "WHATSAPP_API_ERROR",
                message: "Meta refused the message".into(),
                details: Some(json!({"message_id": stored.id, "meta": error})),
            })
        }
    }
}

/// Marks the customer's last WhatsApp message of `conversation` read upstream; `false`
/// when there is nothing to mark.
pub async fn mark_read(
    app: &App,
    company: &CompanyId,
    conversation: Uuid,
) -> Result<bool, ApiError> {
    let Some(last) = app
        .store
        .last_inbound_message(company, conversation)
        .await
        .concerning(Entity::Conversation)?
    else {
        return Ok(false);
    };
    let (account, token) = channel_account(app, company, Channel::Whatsapp).await?;
    let body =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": last.external_id});
    match app
        .graph()?
        .send_message(&account.external_id, &token, &body)
        .await
    {
        Ok(_) => Ok(true),
        Err(GraphError::Timeout) => Err(ApiError::UpstreamTimeout(
            "Meta did not answer in time".into(),
        )),
        Err(e) => Err(ApiError::Upstream {
            code: "WHATSAPP_API_ERROR",
            message: "Meta refused to mark the message read".into(),
            details: Some(meta_error(&e)).filter(|e| !e.is_null()),
        }),
    }
}

/// What Meta said, as a message's `error` keeps it.
fn meta_error(e: &GraphError) -> Value {
    match e {
        GraphError::Refused { error, .. } => error.clone(),
        GraphError::Unreachable(m) => json!({"message": m}),
        GraphError::Timeout => Value::Null,
    }
}

/// The company's account on `channel` (its WhatsApp number, Instagram account or page),
/// with its token.
async fn channel_account(
    app: &App,
    company: &CompanyId,
    channel: Channel,
) -> Result<(ChannelAccount, AccessToken), ApiError> {
    let account = app
        .store
        .list_channels(company)
        .await?
        .into_iter()
        .find(|c| c.channel == channel)
        // The message is well formed; the company is not yet able to send it.
        .ok_or_else(|| ApiError::Conflict {
            message: format!(
                "No {} account is connected: connect one at /api/channels",
                channel.as_str()
            ),
            details: Some(serde_json::json!({"channel": channel.as_str()})),
        })?;
    let token = app.store.channel_token(company, account.id).await?;
    Ok((account, token))
}
