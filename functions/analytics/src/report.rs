//! The four reports. Each reads the company's daily tallies of its range in one store call
//! (AI figures: the AI usage rows, one more), whatever the company's size, and may be cached
//! for a minute by the caller.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use shared::domain::ai::{budget_month, nano_to_usd};
use shared::domain::analytics::{
    growth, percent, response_bucket, sum, timeline, Bucket, Counting, Range, RESPONSE_BOUNDS,
};
use shared::domain::conversation::Channel;
use shared::domain::CompanyId;
use shared::http::{Ctx, Reply};
use shared::store::AiUsageRow;
use shared::usecase::analytics::read;
use shared::{ApiError, App, FieldErrors};

const CACHE: &str = "private, max-age=60";
const CHANNELS: [Channel; 3] = [Channel::Whatsapp, Channel::Instagram, Channel::Facebook];

/// What a report was asked: its range and buckets in the company's calendar.
struct Asked {
    company: CompanyId,
    range: Range,
    bucket: Bucket,
    pipeline: Option<String>,
    timezone: String,
    settings: Value,
}

impl Asked {
    fn period(&self) -> Value {
        json!({"from": self.range.from.to_string(), "to": self.range.to.to_string(),
               "days": self.range.days(), "timezone": self.timezone})
    }
}

async fn asked(app: &App, ctx: &Ctx, params: &[&str]) -> Result<Asked, ApiError> {
    let company = ctx.principal()?.company_id.clone();
    let mut errors = FieldErrors::new();
    for (key, _) in &ctx.query {
        if !params.contains(&key.as_str()) {
            errors.add(key.clone(), "is not a parameter of this report");
        }
    }
    let settings = app.company_settings(&company).await?;
    let counting = Counting::of(&settings);
    let range = Range::parse(
        ctx.query_param("period"),
        ctx.query_param("from"),
        ctx.query_param("to"),
        &counting,
        &mut errors,
    );
    let bucket = Bucket::parse(ctx.query_param("group_by"), &mut errors);
    let pipeline = ctx
        .query_param("pipeline")
        .map(|p| shared::domain::text::label("pipeline", p, 100, &mut errors));
    errors.into_result()?;
    let range = range.ok_or_else(|| ApiError::validation("period", "is not a range"))?;
    Ok(Asked {
        company,
        range,
        bucket,
        pipeline,
        timezone: counting.timezone.name().to_string(),
        settings,
    })
}

fn answer(body: Value) -> Result<Reply, ApiError> {
    // Cached by the caller's browser only, and per credential.
    Ok(Reply::ok(body)?
        .header("Cache-Control", CACHE.to_string())
        .header("Vary", "Authorization, X-API-Key, apikey".to_string()))
}

/// `GET /api/analytics/overview?period|from&to`: leads, conversations, messages and AI of
/// the period, with the growth against the period of equal length before it.
pub async fn overview(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let a = asked(app, ctx, &["period", "from", "to"]).await?;
    let (range, previous) = (a.range, a.range.previous());
    // One read: every day up to the period's end (the gauges sum them all).
    let days = read(app, &a.company, range.history()).await?;
    let at = |r: Range, m: &str| sum(&days, r, m);
    let ever = range.history();
    let new = at(range, "leads.new");
    let converted = at(range, "leads.converted");
    let (sent, received) = (at(range, "messages.sent"), at(range, "messages.received"));
    let responses = at(range, "responses.count");
    let response_avg = (responses > 0).then(|| at(range, "responses.seconds") / responses);
    let ai = ai_rows(app, &a.company, range).await?;
    let ai_total = ai.iter().fold(AiUsageRow::default(), add);
    answer(json!({
        "period": a.period(),
        "leads": {
            "total": at(ever, "leads.new") - at(ever, "leads.deleted"),
            "new": new,
            "qualified": at(range, "leads.qualified"),
            "converted": converted,
        },
        "conversations": {
            "total": at(range, "conversations.started"),
            "active": at(ever, "conversations.started") + at(ever, "conversations.reopened")
                - at(ever, "conversations.closed"),
            "closed": at(range, "conversations.closed"),
        },
        "messages": {"total": sent + received, "sent": sent, "received": received},
        "ai": ai_figures(&ai_total),
        "trends": {
            "previous": {"from": previous.from.to_string(), "to": previous.to.to_string(),
                         "leads_new": at(previous, "leads.new")},
            "leads_growth": growth(new, at(previous, "leads.new")),
            "conversion_rate": percent(converted, new),
            "response_time_avg": response_avg,
        },
    }))
}

/// `GET /api/analytics/leads?pipeline&period|from&to&group_by`: the period's new,
/// qualified and converted leads (of a pipeline, if named), with every bucket.
pub async fn leads(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let a = asked(app, ctx, &["period", "from", "to", "group_by", "pipeline"]).await?;
    let days = read(app, &a.company, a.range).await?;
    let metric = |name: &str| match &a.pipeline {
        Some(p) => format!("leads.{name}@{p}"),
        None => format!("leads.{name}"),
    };
    let metrics = [metric("new"), metric("qualified"), metric("converted")];
    let total = sum(&days, a.range, &metrics[0]);
    let score = sum(&days, a.range, &metric("score"));
    let qualified = sum(&days, a.range, &metrics[1]);
    let converted = sum(&days, a.range, &metrics[2]);
    let timeline: Vec<Value> = timeline(a.bucket, a.range, &days, &metrics)
        .into_iter()
        .map(|(date, s)| json!({"date": date, "leads": s[0], "qualified": s[1], "converted": s[2]}))
        .collect();
    answer(json!({
        "period": a.period(),
        "pipeline": a.pipeline,
        "metrics": {
            "total_leads": total,
            "qualified_leads": qualified,
            "converted_leads": converted,
            "conversion_rate": percent(converted, total),
            "qualification_rate": percent(qualified, total),
            "avg_score": (total > 0).then(|| ((score as f64) * 100.0 / (total as f64)).round() / 100.0),
        },
        "statuses": {"qualified": a.settings["qualified_statuses"], "converted": a.settings["converted_statuses"]},
        "timeline": timeline,
    }))
}

/// `GET /api/analytics/messages?period|from&to&group_by`: messages sent and received, by
/// channel; the company's answers by AI agents and by people; where the sent ones stand
/// (delivered, read, failed with the channel's top error codes); how long customers waited
/// for a first answer.
pub async fn messages(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let a = asked(app, ctx, &["period", "from", "to", "group_by"]).await?;
    let days = read(app, &a.company, a.range).await?;
    let mut metrics: Vec<String> = [
        "messages.sent",
        "messages.received",
        "messages.sent.ai",
        "messages.sent.human",
        "messages.status.delivered",
        "messages.status.read",
        "messages.status.failed",
        "responses.count",
        "responses.seconds",
    ]
    .map(String::from)
    .to_vec();
    for c in CHANNELS {
        metrics.push(format!("messages.sent.{}", c.as_str()));
        metrics.push(format!("messages.received.{}", c.as_str()));
    }
    let histogram: Vec<String> = RESPONSE_BOUNDS
        .iter()
        .map(|b| response_bucket(*b))
        .chain([response_bucket(i64::MAX)])
        .collect();
    metrics.extend(histogram.iter().cloned());
    let figures = |s: &[i64]| {
        let at = |name: &str| metrics.iter().position(|m| m == name).map_or(0, |i| s[i]);
        let sent = at("messages.sent");
        let (read, failed) = (at("messages.status.read"), at("messages.status.failed"));
        let delivered = at("messages.status.delivered") + read;
        let by_channel: serde_json::Map<String, Value> = CHANNELS
            .iter()
            .map(|c| {
                let (sent, received) = (
                    at(&format!("messages.sent.{}", c.as_str())),
                    at(&format!("messages.received.{}", c.as_str())),
                );
                (
                    c.as_str().to_string(),
                    json!({"sent": sent, "received": received}),
                )
            })
            .collect();
        let responses = at("responses.count");
        let counts: Vec<i64> = histogram.iter().map(|h| at(h)).collect();
        json!({
            "sent": sent, "received": at("messages.received"),
            "ai": at("messages.sent.ai"), "human": at("messages.sent.human"),
            "ai_share": percent(at("messages.sent.ai"), sent),
            "delivered": delivered, "read": read, "failed": failed,
            "delivery_rate": percent(delivered, sent), "read_rate": percent(read, sent),
            "by_channel": by_channel,
            "first_response": {
                "responses": responses,
                "avg_seconds": (responses > 0).then(|| at("responses.seconds") / responses),
                "median_within_seconds": median_within(&counts),
            },
        })
    };
    let totals: Vec<i64> = metrics.iter().map(|m| sum(&days, a.range, m)).collect();
    let timeline: Vec<Value> = timeline(a.bucket, a.range, &days, &metrics)
        .into_iter()
        .map(|(date, s)| {
            let mut v = figures(&s);
            v["date"] = json!(date);
            v
        })
        .collect();
    let mut codes: BTreeMap<&str, i64> = BTreeMap::new();
    let (from, to) = (a.range.from.to_string(), a.range.to.to_string());
    for tallies in days.range(from..=to).map(|(_, t)| t) {
        for (metric, n) in tallies {
            if let Some(code) = metric.strip_prefix("messages.failed.code.") {
                *codes.entry(code).or_default() += n;
            }
        }
    }
    let mut codes: Vec<(&str, i64)> = codes.into_iter().filter(|(_, n)| *n > 0).collect();
    codes.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    let top: Vec<Value> = codes
        .iter()
        .take(5)
        .map(|(code, n)| json!({"code": code, "count": n}))
        .collect();
    let mut totals = figures(&totals);
    totals["failed_top_codes"] = json!(top);
    answer(json!({"period": a.period(), "totals": totals, "timeline": timeline}))
}

/// The bound of the histogram bucket that holds the median wait; none without answers,
/// or when it is beyond the last bound.
fn median_within(counts: &[i64]) -> Option<i64> {
    let total: i64 = counts.iter().sum();
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if total > 0 && seen * 2 >= total {
            return RESPONSE_BOUNDS.get(i).copied();
        }
    }
    None
}

/// `GET /api/analytics/ai?period|from&to&group_by`: requests, tokens and cost by bucket,
/// model and agent, and the month's budget.
pub async fn ai(app: &App, ctx: &Ctx) -> Result<Reply, ApiError> {
    let a = asked(app, ctx, &["period", "from", "to", "group_by"]).await?;
    let rows = ai_rows(app, &a.company, a.range).await?;
    let mut buckets: BTreeMap<String, AiUsageRow> = a
        .bucket
        .all(a.range)
        .into_iter()
        .map(|d| (d.to_string(), AiUsageRow::default()))
        .collect();
    let (mut models, mut agents) = (BTreeMap::new(), BTreeMap::new());
    let mut total = AiUsageRow::default();
    for r in &rows {
        if let Some(b) = a.bucket.key(&r.day).and_then(|k| buckets.get_mut(&k)) {
            *b = add(std::mem::take(b), r);
        }
        let m: &mut AiUsageRow = models.entry(r.model.clone()).or_default();
        *m = add(std::mem::take(m), r);
        let g: &mut AiUsageRow = agents.entry(r.agent_id.clone()).or_default();
        *g = add(std::mem::take(g), r);
        total = add(total, r);
    }
    let timezone = a.timezone.as_str();
    let (month, _) = budget_month(chrono::Utc::now(), timezone);
    let (spent, _) = app.store.ai_spend(&a.company, &month).await?;
    let budget = a.settings["ai_budget_usd"].as_f64();
    let list = |key: &str, map: BTreeMap<String, AiUsageRow>| -> Vec<Value> {
        map.into_iter()
            .map(|(k, r)| {
                let mut v = ai_figures(&r);
                v[key] = if k.is_empty() { Value::Null } else { json!(k) };
                v
            })
            .collect()
    };
    answer(json!({
        "period": a.period(),
        "totals": ai_figures(&total),
        "timeline": list("date", buckets),
        "by_model": list("model", models),
        "by_agent": list("agent_id", agents),
        "budget": {
            "month": month,
            "budget_usd": budget,
            "spent_usd": nano_to_usd(spent),
            "used_percent": budget.filter(|b| *b > 0.0)
                .map(|b| (nano_to_usd(spent) * 10_000.0 / b).round() / 100.0),
        },
    }))
}

async fn ai_rows(
    app: &App,
    company: &CompanyId,
    range: Range,
) -> Result<Vec<AiUsageRow>, ApiError> {
    Ok(app
        .store
        .ai_usage(company, &range.from.to_string(), &range.to.to_string())
        .await?)
}

fn add(mut into: AiUsageRow, r: &AiUsageRow) -> AiUsageRow {
    into.calls += r.calls;
    into.usage.prompt_tokens += r.usage.prompt_tokens;
    into.usage.completion_tokens += r.usage.completion_tokens;
    into.cost_nano += r.cost_nano;
    into
}

fn ai_figures(r: &AiUsageRow) -> Value {
    json!({
        "requests": r.calls,
        "tokens": r.usage.prompt_tokens + r.usage.completion_tokens,
        "cost_usd": nano_to_usd(r.cost_nano),
    })
}
