//! `GET /api/ai/usage?from&to&group_by=day|model|agent`: what the company's AI calls used
//! and cost, and where the month's budget stands.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use serde_json::{json, Value};
use shared::domain::ai::{budget_month, nano_to_usd, usage_day, Usage};
use shared::http::{Ctx, Reply};
use shared::store::AiUsageRow;
use shared::{ApiError, App, FieldErrors};

pub async fn report(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let company = &ctx.principal()?.company_id;
    let mut errors = FieldErrors::new();
    for (key, _) in &ctx.query {
        if !["from", "to", "group_by"].contains(&key.as_str()) {
            errors.add(key.clone(), "is not a parameter of this report");
        }
    }
    let settings = app.company_settings(company).await?;
    let timezone = settings["timezone"].as_str().unwrap_or("America/Sao_Paulo");
    let today = usage_day(Utc::now(), timezone);
    let (month, _) = budget_month(Utc::now(), timezone);
    let mut day = |name: &str, default: String| {
        let v = ctx.query_param(name).map_or(default, str::to_string);
        NaiveDate::parse_from_str(&v, "%Y-%m-%d")
            .ok()
            .filter(|_| v.len() == 10)
            .unwrap_or_else(|| {
                errors.add(name, "must be a date: YYYY-MM-DD");
                NaiveDate::MIN
            })
    };
    let from = day("from", format!("{month}-01"));
    let to = day("to", today);
    let group_by = ctx.query_param("group_by").unwrap_or("day");
    if !["day", "model", "agent"].contains(&group_by) {
        errors.add("group_by", "must be one of: day, model, agent");
    }
    errors.into_result()?;
    let (from, to) = (from.to_string(), to.to_string());
    let rows = app.store.ai_usage(company, &from, &to).await?;
    let mut groups: BTreeMap<String, AiUsageRow> = BTreeMap::new();
    let mut totals = AiUsageRow::default();
    for r in &rows {
        let key = match group_by {
            "model" => r.model.clone(),
            "agent" => r.agent_id.clone(),
            _ => r.day.clone(),
        };
        add(groups.entry(key).or_default(), r);
        add(&mut totals, r);
    }
    let (spent, reserved) = app.store.ai_spend(company, &month).await?;
    Reply::ok(json!({
        "from": from, "to": to, "group_by": group_by, "timezone": timezone,
        "rows": groups.iter().map(|(k, r)| row(group_by, k, r)).collect::<Vec<_>>(),
        "totals": row("total", "", &totals),
        "budget": {
            "month": month,
            "budget_usd": settings["ai_budget_usd"],
            "spent_usd": nano_to_usd(spent),
            "reserved_usd": nano_to_usd(reserved),
        },
    }))
}

fn add(into: &mut AiUsageRow, r: &AiUsageRow) {
    into.calls += r.calls;
    into.cost_nano += r.cost_nano;
    into.estimated_calls += r.estimated_calls;
    let (a, b) = (&mut into.usage, r.usage);
    *a = Usage {
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
        cached_tokens: a.cached_tokens + b.cached_tokens,
        reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
    };
}

fn row(group_by: &str, key: &str, r: &AiUsageRow) -> Value {
    let u = r.usage;
    let mut v = json!({
        "calls": r.calls,
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "cached_tokens": u.cached_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "cost_usd": nano_to_usd(r.cost_nano),
        "estimated_calls": r.estimated_calls,
    });
    if group_by != "total" {
        // An agent-less call groups under `null`.
        v[group_by] = if key.is_empty() {
            Value::Null
        } else {
            json!(key)
        };
    }
    v
}
