//! Conversations as the functions meet them: the lead's active one on a channel, and the
//! 24-hour window Meta closes.

use serde_json::json;
use uuid::Uuid;

use super::Outcome;
use crate::domain::conversation::{Channel, ConversationChange};
use crate::domain::lead::LeadId;
use crate::domain::{CompanyId, Timestamp};
use crate::error::{ApiError, Entity};
use crate::store::{Store, StoreError};

/// The lead's active conversation on `channel`, started if it has none.
pub async fn ensure_active(
    store: &dyn Store,
    company: &CompanyId,
    lead: LeadId,
    channel: Channel,
) -> Result<Outcome<Uuid>, ApiError> {
    match store.create_conversation(company, lead, channel).await {
        Ok(c) => Ok(Outcome::Created(c.id)),
        Err(StoreError::Duplicate { existing_id, .. }) => {
            Ok(Outcome::Existing(Entity::Conversation.id(&existing_id)?))
        }
        // The conversation would be the lead's: no lead, no conversation.
        Err(e) => Err(Entity::Lead.store_error(e)),
    }
}

/// Meta said (131047) that the customer's 24 hours are over: free-form messages stop
/// until the customer writes again.
pub async fn close_window(
    store: &dyn Store,
    company: &CompanyId,
    conversation: Uuid,
) -> Result<(), ApiError> {
    let change = ConversationChange {
        status: None,
        metadata: Some(json!({"window_closed_at": Timestamp::now()})),
        ..ConversationChange::default()
    };
    match store
        .update_conversation(company, conversation, change)
        .await
    {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every message of a conversation in time order, read page by page (the analytics
/// rebuild; never a request's path).
pub async fn all_messages(
    store: &dyn Store,
    company: &CompanyId,
    conversation: Uuid,
) -> Result<Vec<crate::domain::conversation::Message>, StoreError> {
    use crate::domain::page::{Cursor, Order, PageRequest};
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = PageRequest {
            page: 1,
            limit: 100,
            order: Order::Asc,
            cursor: cursor.take(),
        };
        let found = store.list_messages(company, conversation, &page).await?;
        let next = found
            .items
            .last()
            .filter(|_| found.has_more)
            .map(|m| Cursor {
                sort: "created_at".into(),
                order: Order::Asc,
                value: m.created_at.as_string().into(),
                id: m.id.to_string(),
                position: Some((out.len() + found.items.len()) as u64),
            });
        out.extend(found.items);
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}
