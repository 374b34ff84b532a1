//! DynamoDB: leads, their uniqueness claims (phone, e-mail) and history, and the erasure
//! of everything a lead owns.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem};
use serde_json::Value;
use uuid::Uuid;

use super::items::*;
use super::keys::{self, active_sk, company_pk, email_sk, lead_sk, phone_sk, sort_index, sort_key};
use super::{built, sdk_error, stale, DynamoStore, TxError};
use crate::domain::conversation::Channel;
use crate::domain::event::OutboxEvent;
use crate::domain::lead::{
    Email, Lead, LeadChange, LeadEvent, LeadEventKind, LeadFields, LeadFilters, LeadId, LeadQuery,
    LeadSort, LeadUpdate,
};
use crate::domain::page::{Order, Page};
use crate::domain::phone::Phone;
use crate::domain::{CompanyId, Timestamp};
use crate::store::prelude::*;
use crate::store::{StoreError, StoreResult};

pub fn lead_item(lead: &Lead) -> StoreResult<Item> {
    let f = &lead.fields;
    let id = lead.id.to_string();
    let custom =
        serde_json::to_string(&f.custom_fields).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut i = item([
        ("pk", Some(s(company_pk(&lead.company_id)))),
        ("sk", Some(s(lead_sk(lead.id)))),
        ("kind", Some(s("lead"))),
        ("id", Some(s(&id))),
        ("company_id", Some(s(lead.company_id.as_str()))),
        ("name", Some(s(&f.name))),
        ("email", f.email.as_ref().map(|e| s(e.as_str()))),
        ("phone", f.phone.as_ref().map(|p| s(p.as_str()))),
        ("company", f.company.as_deref().map(s)),
        ("source", f.source.as_deref().map(s)),
        ("pipeline", Some(s(&f.pipeline))),
        ("status", Some(s(&f.status))),
        ("score", Some(n(f.score))),
        ("custom_fields", Some(s(custom))),
        ("notes", f.notes.as_deref().map(s)),
        ("user_id", f.user_id.as_deref().map(s)),
        ("search_text", Some(s(f.search_text()))),
        ("version", Some(n(lead.version))),
        ("created_at", Some(s(lead.created_at.as_string()))),
        ("updated_at", Some(s(lead.updated_at.as_string()))),
    ]);
    for sort in LeadSort::ALL {
        let (_, attribute) = sort_index(sort);
        i.insert(
            attribute.to_string(),
            s(sort_key(sort, &lead.sort_value(sort), &id)),
        );
    }
    Ok(i)
}

pub fn lead_from(i: &Item) -> StoreResult<Lead> {
    let custom_fields = match get_json(i, "custom_fields")? {
        Value::Object(m) => m,
        _ => return Err(corrupt("custom_fields")),
    };
    Ok(Lead {
        id: LeadId(get_uuid(i, "id")?),
        company_id: CompanyId::new(get_s(i, "company_id")?),
        fields: LeadFields {
            name: get_s(i, "name")?,
            email: opt_s(i, "email").map(Email::from_stored),
            phone: opt_s(i, "phone")
                .map(|p| Phone::parse(&p).map_err(|_| corrupt("phone")))
                .transpose()?,
            company: opt_s(i, "company"),
            source: opt_s(i, "source"),
            pipeline: get_s(i, "pipeline")?,
            status: get_s(i, "status")?,
            score: get_n(i, "score")?,
            custom_fields,
            notes: opt_s(i, "notes"),
            user_id: opt_s(i, "user_id"),
        },
        created_at: get_ts(i, "created_at")?,
        updated_at: get_ts(i, "updated_at")?,
        version: get_n(i, "version")?,
    })
}

/// A phone or e-mail claim: the item that makes the value belong to one lead.
pub fn claim_item(company: &CompanyId, sk: String, lead: LeadId) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(sk))),
        ("lead_id", Some(s(lead.to_string()))),
    ])
}

pub fn event_item(company: &CompanyId, e: &LeadEvent) -> Item {
    item([
        ("pk", Some(s(company_pk(company)))),
        ("sk", Some(s(keys::lead_event_sk(e.lead_id, e.at, e.id)))),
        ("id", Some(s(e.id.to_string()))),
        ("lead_id", Some(s(e.lead_id.to_string()))),
        ("kind", Some(s(e.kind.as_str()))),
        ("from", e.from.as_deref().map(s)),
        ("to", e.to.as_deref().map(s)),
        ("at", Some(s(e.at.as_string()))),
        ("by", e.by.as_deref().map(s)),
    ])
}

pub fn event_from(i: &Item) -> StoreResult<LeadEvent> {
    Ok(LeadEvent {
        id: get_uuid(i, "id")?,
        lead_id: LeadId(get_uuid(i, "lead_id")?),
        kind: LeadEventKind::parse(&get_s(i, "kind")?).ok_or_else(|| corrupt("kind"))?,
        from: opt_s(i, "from"),
        to: opt_s(i, "to"),
        at: get_ts(i, "at")?,
        by: opt_s(i, "by"),
    })
}

/// A list's filters as a DynamoDB filter expression.
struct Filter {
    expression: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Filter {
    fn new(f: &LeadFilters) -> Filter {
        let mut clauses = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut add = |attr: &str, op: &str, value: String| {
            let (name, placeholder) = (format!("#{attr}"), format!(":{attr}{}", values.len()));
            clauses.push(match op {
                "contains" => format!("contains({name}, {placeholder})"),
                _ => format!("{name} {op} {placeholder}"),
            });
            names.insert(name, attr.to_string());
            values.insert(placeholder, s(value));
        };
        for (attr, value) in [
            ("status", &f.status),
            ("pipeline", &f.pipeline),
            ("source", &f.source),
            ("user_id", &f.user_id),
        ] {
            if let Some(v) = value {
                add(attr, "=", v.clone());
            }
        }
        if let Some(from) = f.created_from {
            add("created_at", ">=", from.as_string());
        }
        if let Some(to) = f.created_to {
            add("created_at", "<=", to.as_string());
        }
        if let Some(q) = &f.search {
            add("search_text", "contains", q.clone());
        }
        Filter {
            expression: (!clauses.is_empty()).then(|| clauses.join(" AND ")),
            names,
            values,
        }
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self, company: &CompanyId) -> HashMap<String, AttributeValue> {
        let mut v = self.values.clone();
        v.insert(":pk".into(), s(company_pk(company)));
        v
    }
}

impl DynamoStore {
    /// Everything a lead owns, declared once: the items under its prefix (history, and the
    /// links to its conversations and contacts), each linked conversation's items with its
    /// messages' channel-id claims, each linked contact's claim, and its active-conversation
    /// claims. Its phone and e-mail claims go with the lead itself. A new item kind a lead
    /// owns is linked here, or the erasure test finds it in the table after an erasure.
    async fn owned_by_lead(&self, pk: &str, id: LeadId, links: &[Item]) -> StoreResult<Vec<Item>> {
        let lead_key = lead_sk(id);
        let mut doomed = Vec::new();
        for link in links {
            let sk = get_s(link, "sk")?;
            if let Some(conversation) = sk.split(keys::LEAD_CONVERSATION).nth(1) {
                for i in self
                    .query_prefix(pk, &keys::conversation_sk(conversation))
                    .await?
                {
                    if let Some(external) = opt_s(&i, "external_id") {
                        doomed.push(key(pk, keys::message_id_sk(&external)));
                    }
                    doomed.push(key(pk, get_s(&i, "sk")?));
                }
            }
            if let Some(contact) = sk.split(keys::LEAD_CONTACT).nth(1) {
                doomed.push(key(pk, keys::contact_sk(contact)));
            }
            if let Some(delivery) = sk.split(keys::LEAD_DELIVERY).nth(1) {
                doomed.push(key(pk, keys::delivery_of_link(delivery)));
            }
            if sk != lead_key {
                doomed.push(key(pk, sk));
            }
        }
        for channel in [Channel::Whatsapp, Channel::Instagram, Channel::Facebook] {
            doomed.push(key(pk, active_sk(id, channel)));
        }
        Ok(doomed)
    }

    pub(super) async fn read_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
        let item = self
            .get(company_pk(company), lead_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        lead_from(&item)
    }

    /// The puts and deletes that move a lead's phone and e-mail claims from `old` to
    /// `new`, with the index of each put and the field it claims.
    fn claim_changes(
        &self,
        company: &CompanyId,
        id: LeadId,
        old: Option<&LeadFields>,
        new: Option<&LeadFields>,
        items: &mut Vec<TransactWriteItem>,
    ) -> StoreResult<Vec<(usize, &'static str, String)>> {
        let keys = |f: Option<&LeadFields>| {
            (
                f.and_then(|f| f.phone.as_ref()).map(phone_sk),
                f.and_then(|f| f.email.as_ref()).map(email_sk),
            )
        };
        let (old_phone, old_email) = keys(old);
        let (new_phone, new_email) = keys(new);
        let mut claims = Vec::new();
        for (field, before, after) in [
            ("phone", old_phone, new_phone),
            ("email", old_email, new_email),
        ] {
            if before == after {
                continue;
            }
            if let Some(sk) = before {
                items.push(self.delete_if_owned(key(company_pk(company), sk), id)?);
            }
            if let Some(sk) = after {
                claims.push((items.len(), field, sk.clone()));
                items.push(self.create(claim_item(company, sk, id))?);
            }
        }
        Ok(claims)
    }

    /// The matches of a filter among the company's newest FILTER_BUDGET leads: a filtered
    /// total is a lower bound, read in one bounded query.
    async fn count_leads(&self, company: &CompanyId, filter: &Filter) -> StoreResult<u64> {
        let (index, _) = sort_index(crate::domain::lead::LeadSort::CreatedAt);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("pk = :pk")
            .set_filter_expression(filter.expression.clone())
            .set_expression_attribute_names(filter.names())
            .set_expression_attribute_values(Some(filter.values(company)))
            .select(Select::Count)
            .scan_index_forward(false)
            .limit(i32::try_from(FILTER_BUDGET).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(u64::try_from(out.count).unwrap_or_default())
    }
}

/// The most leads a filtered list reads per call (`docs/architecture.md`, "Store").
const FILTER_BUDGET: usize = 500;

#[async_trait]
impl LeadStore for DynamoStore {
    async fn create_lead(
        &self,
        company: &CompanyId,
        fields: LeadFields,
        by: &str,
    ) -> StoreResult<Lead> {
        let now = Timestamp::now();
        let lead = Lead {
            id: LeadId(Uuid::now_v7()),
            company_id: company.clone(),
            fields,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let created = LeadEvent {
            id: Uuid::now_v7(),
            lead_id: lead.id,
            kind: LeadEventKind::Created,
            from: None,
            to: Some(lead.fields.status.clone()),
            at: now,
            by: Some(by.to_string()),
        };
        let mut items = vec![self.create(lead_item(&lead)?)?];
        let claims = self.claim_changes(company, lead.id, None, Some(&lead.fields), &mut items)?;
        items.push(self.put(event_item(company, &created), None)?);
        items.push(self.count(company, keys::LEAD_COUNT, 1)?);
        items.push(self.enqueue(&OutboxEvent::lead_created(&lead))?);
        match self.transact(items).await {
            Ok(()) => Ok(lead),
            Err(TxError::Conditions(failed)) => {
                for (index, field, sk) in claims {
                    if failed.contains(&index) {
                        return Err(self.claimant(company, sk, field).await);
                    }
                }
                Err(StoreError::Conflict(
                    "the lead could not be created; try again".into(),
                ))
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<Lead> {
        self.read_lead(company, id).await
    }

    async fn list_leads(&self, company: &CompanyId, query: &LeadQuery) -> StoreResult<Page<Lead>> {
        let filter = Filter::new(&query.filters);
        // The company's lead count is kept; only a filter has to count what it matches.
        let total = match filter.expression {
            None => self.counted(company, keys::LEAD_COUNT).await?,
            Some(_) => self.count_leads(company, &filter).await?,
        };
        let (index, attribute) = sort_index(query.sort);
        let page = &query.page;
        let want = page.limit as usize + 1;
        let mut skip = if page.cursor.is_some() {
            0
        } else {
            page.offset()
        };
        let mut start = page.cursor.as_ref().map(|c| {
            let mut k = key(company_pk(company), keys::lead_sk(&c.id));
            k.insert(
                attribute.to_string(),
                s(sort_key(query.sort, &c.value, &c.id)),
            );
            k
        });
        // Without a filter or an offset, each item read is one to return; a filter reads at
        // most FILTER_BUDGET leads per call.
        let filtered = filter.expression.is_some();
        let mut budget = FILTER_BUDGET;
        let mut items = Vec::with_capacity(want);
        let mut resume = None;
        loop {
            let read_limit = if filtered {
                Some(i32::try_from(budget).unwrap_or(i32::MAX))
            } else {
                (skip == 0).then_some(want as i32)
            };
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("pk = :pk")
                .set_filter_expression(filter.expression.clone())
                .set_expression_attribute_names(filter.names())
                .set_expression_attribute_values(Some(filter.values(company)))
                .scan_index_forward(page.order == Order::Asc)
                .set_limit(read_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                items.push(lead_from(item)?);
                if items.len() == want {
                    break;
                }
            }
            budget = budget.saturating_sub(usize::try_from(out.scanned_count).unwrap_or(0));
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && items.len() < want && (!filtered || budget > 0) => {
                    start = Some(k)
                }
                Some(k) if !k.is_empty() && items.len() < want => {
                    // The budget ran out first: the next page continues after the last
                    // lead read.
                    let sk = opt_s(&k, "sk").unwrap_or_default();
                    resume = self
                        .get(company_pk(company), sk)
                        .await?
                        .as_ref()
                        .map(lead_from)
                        .transpose()?;
                    break;
                }
                _ => break,
            }
        }
        let has_more = items.len() == want || resume.is_some();
        items.truncate(page.limit as usize);
        Ok(Page {
            items,
            total,
            has_more,
            resume,
        })
    }

    async fn update_lead(
        &self,
        company: &CompanyId,
        id: LeadId,
        update: LeadUpdate,
    ) -> StoreResult<Lead> {
        let current = self.read_lead(company, id).await?;
        if current.version != update.expected_version {
            return Err(stale());
        }
        let now = Timestamp::now();
        let lead = Lead {
            fields: update.fields,
            updated_at: now,
            version: current.version + 1,
            ..current.clone()
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(lead_item(&lead)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(update.expected_version))
            .build()
            .map_err(built)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        let claims = self.claim_changes(
            company,
            id,
            Some(&current.fields),
            Some(&lead.fields),
            &mut items,
        )?;
        for change in &update.changes {
            let event = LeadEvent {
                id: Uuid::now_v7(),
                lead_id: id,
                kind: change.kind,
                from: change.from.clone(),
                to: change.to.clone(),
                at: now,
                by: Some(update.by.clone()),
            };
            items.push(self.put(event_item(company, &event), None)?);
        }
        for event in OutboxEvent::lead_updated(&lead, &update.changes) {
            items.push(self.enqueue(&event)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(lead),
            Err(TxError::Conditions(failed)) => {
                for (index, field, sk) in claims {
                    if failed.contains(&index) {
                        return Err(self.claimant(company, sk, field).await);
                    }
                }
                // The lead itself changed or went away meanwhile.
                self.read_lead(company, id).await?;
                Err(stale())
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn delete_lead(&self, company: &CompanyId, id: LeadId) -> StoreResult<()> {
        let pk = company_pk(company);
        let owned = self.query_prefix(&pk, &lead_sk(id)).await?;
        let lead_key = lead_sk(id);
        let lead = owned
            .iter()
            .find(|i| opt_s(i, "sk").as_deref() == Some(lead_key.as_str()))
            .map(lead_from)
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        // Everything the lead owns goes first, the lead last: an interrupted delete leaves
        // the lead in place, and deleting it again finishes the job.
        let mut doomed = self.owned_by_lead(&pk, id, &owned).await?;
        doomed.extend(self.pending_of_lead(id).await?);
        doomed.extend(self.retries_of_lead(id).await?);
        doomed.extend(self.turns_of_lead(id).await?);
        self.batch_delete(doomed).await?;

        let mut items = vec![{
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), lead_key)))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(built)?;
            TransactWriteItem::builder().delete(delete).build()
        }];
        self.claim_changes(company, id, Some(&lead.fields), None, &mut items)?;
        items.push(self.count(company, keys::LEAD_COUNT, -1)?);
        items.push(self.enqueue(&OutboxEvent::lead_deleted(company, id))?);
        let conversations = owned
            .iter()
            .filter(|l| opt_s(l, "sk").is_some_and(|sk| sk.contains(keys::LEAD_CONVERSATION)))
            .count();
        if conversations > 0 {
            let delta = -i64::try_from(conversations).unwrap_or(i64::MAX);
            items.push(self.count(company, keys::CONVERSATION_COUNT, delta)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(_)) => Err(StoreError::NotFound),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn add_lead_event(
        &self,
        company: &CompanyId,
        lead: LeadId,
        change: &LeadChange,
        by: &str,
    ) -> StoreResult<()> {
        let entry = LeadEvent {
            id: Uuid::now_v7(),
            lead_id: lead,
            kind: change.kind,
            from: change.from.clone(),
            to: change.to.clone(),
            at: Timestamp::now(),
            by: Some(by.to_string()),
        };
        let items = vec![
            self.exists(key(company_pk(company), lead_sk(lead)))?,
            self.put(event_item(company, &entry), None)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Conditions(_)) => Err(StoreError::NotFound),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn lead_history(&self, company: &CompanyId, id: LeadId) -> StoreResult<Vec<LeadEvent>> {
        self.read_lead(company, id).await?;
        self.query_prefix(&company_pk(company), &format!("{}#EV#", lead_sk(id)))
            .await?
            .iter()
            .map(event_from)
            .collect()
    }

    async fn advance_lead_mark(
        &self,
        company: &CompanyId,
        lead: LeadId,
        source: &str,
        at: i64,
    ) -> StoreResult<bool> {
        let pk = company_pk(company);
        let mark = item([
            ("pk", Some(s(&pk))),
            ("sk", Some(s(keys::lead_mark_sk(lead, source)))),
            ("at", Some(n(at))),
        ]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(mark))
            .condition_expression("attribute_not_exists(pk) OR #at <= :at")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", n(at))
            .build()
            .map_err(built)?;
        let items = vec![
            self.exists(key(pk.clone(), lead_sk(lead)))?,
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(StoreError::NotFound),
            Err(TxError::Conditions(_)) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}
