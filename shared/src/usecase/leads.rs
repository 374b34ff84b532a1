//! Leads as the functions meet them: by phone, e-mail or channel contact, and patched.

use serde_json::{json, Value};

use super::Outcome;
use crate::domain::conversation::Channel;
use crate::domain::inbound::Contact;
use crate::domain::lead::{Lead, LeadChange, LeadFields, LeadId, LeadUpdate};
use crate::domain::CompanyId;
use crate::error::{ApiError, Concerning, Entity};
use crate::store::{Store, StoreError};

/// Creates the lead, or finds the one that has its phone (ninth-digit rule included) or
/// e-mail already.
pub async fn create_or_find(
    store: &dyn Store,
    company: &CompanyId,
    fields: LeadFields,
    by: &str,
) -> Result<Outcome<LeadId>, ApiError> {
    match store.create_lead(company, fields, by).await {
        Ok(lead) => Ok(Outcome::Created(lead.id)),
        Err(StoreError::Duplicate { existing_id, .. }) => Ok(Outcome::Existing(
            Entity::Lead.id(&existing_id).map(LeadId)?,
        )),
        Err(e) => Err(Entity::Lead.store_error(e)),
    }
}

/// A lead after a patch, and whether the patch changed it.
pub struct Patched {
    pub lead: Lead,
    pub changed: bool,
}

/// Applies a JSON Merge Patch to a lead: validated as a whole, written only when it
/// changes something, with history entries by `by`.
pub async fn patch(
    store: &dyn Store,
    company: &CompanyId,
    id: LeadId,
    patch: &Value,
    by: &str,
) -> Result<Patched, ApiError> {
    patch_noted(store, company, id, patch, by, None).await
}

/// [`patch`], with `note` added to the history in the same write (an AI agent's tool
/// call), or alone when the patch changes nothing.
pub async fn patch_noted(
    store: &dyn Store,
    company: &CompanyId,
    id: LeadId,
    patch: &Value,
    by: &str,
    note: Option<LeadChange>,
) -> Result<Patched, ApiError> {
    let current = store.get_lead(company, id).await.concerning(Entity::Lead)?;
    let fields = current.fields.patched(patch)?;
    if fields == current.fields {
        if let Some(note) = &note {
            store
                .add_lead_event(company, id, note, by)
                .await
                .concerning(Entity::Lead)?;
        }
        return Ok(Patched {
            lead: current,
            changed: false,
        });
    }
    let mut changes = current.fields.changes_to(&fields);
    changes.extend(note);
    let update = LeadUpdate {
        changes,
        fields,
        expected_version: current.version,
        by: by.to_string(),
    };
    let lead = store
        .update_lead(company, id, update)
        .await
        .concerning(Entity::Lead)?;
    Ok(Patched {
        lead,
        changed: true,
    })
}

/// The lead a channel contact writes as: by phone on WhatsApp, by scoped user id on
/// Instagram and Messenger; made (name from the profile, source = the channel) if new.
pub async fn of_contact(
    store: &dyn Store,
    company: &CompanyId,
    channel: Channel,
    contact: &Contact,
    by: &str,
) -> Result<LeadId, ApiError> {
    match contact {
        Contact::Phone { phone, name } => {
            let fields = from_contact(
                name.as_deref().unwrap_or(phone.as_str()),
                Some(phone.as_str()),
                channel,
            )?;
            Ok(create_or_find(store, company, fields, by)
                .await?
                .into_inner())
        }
        Contact::Scoped { user_id, name } => {
            if let Some(lead) = store
                .find_contact(company, channel, user_id)
                .await
                .concerning(Entity::Lead)?
            {
                return Ok(lead);
            }
            let default_name = format!("{} {user_id}", channel.label());
            let fields = from_contact(name.as_deref().unwrap_or(&default_name), None, channel)?;
            let lead = store
                .create_lead(company, fields, by)
                .await
                .concerning(Entity::Lead)?;
            match store
                .claim_contact(company, channel, user_id, lead.id)
                .await
            {
                Ok(()) => Ok(lead.id),
                // Another delivery made the user's lead meanwhile: that one stays.
                Err(StoreError::Duplicate { existing_id, .. }) => {
                    store
                        .delete_lead(company, lead.id)
                        .await
                        .concerning(Entity::Lead)?;
                    Entity::Lead.id(&existing_id).map(LeadId)
                }
                Err(e) => Err(Entity::Lead.store_error(e)),
            }
        }
    }
}

/// A new lead's fields from what a channel tells of a contact; a name that cannot be
/// used becomes "Sem nome".
fn from_contact(name: &str, phone: Option<&str>, channel: Channel) -> Result<LeadFields, ApiError> {
    let name: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    let name = if name.trim().is_empty() {
        "Sem nome".to_string()
    } else {
        name
    };
    Ok(LeadFields::parse(
        json!({"name": name, "phone": phone, "source": channel.as_str()}),
    )?)
}
