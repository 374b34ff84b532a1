//! Analytics (`docs/architecture.md`, "Analytics"): what each event adds to the company's
//! daily tallies, and the periods and buckets they are read in, in the company's time zone.
//! A figure is a sum of daily tallies, so that a year costs a year of days to read,
//! whatever the company's size.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::Value;

use super::conversation::{Message, Role};
use super::event::OutboxEvent;
use super::{FieldErrors, Timestamp};

/// A change to one tally of one of the company's days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The company's day, `YYYY-MM-DD`.
    pub day: String,
    pub metric: String,
    pub delta: i64,
}

/// One day's tallies, by metric.
pub type DayTallies = BTreeMap<String, i64>;

/// What the tallies need to know of the company.
#[derive(Debug, Clone, PartialEq)]
pub struct Counting {
    pub timezone: super::zone::Zone,
    pub qualified: Vec<String>,
    pub converted: Vec<String>,
}

impl Counting {
    pub fn of(settings: &Value) -> Counting {
        let list = |key: &str, default: &str| {
            super::company::text_list(settings, key).unwrap_or_else(|| vec![default.to_string()])
        };
        Counting {
            timezone: super::zone::Zone::or_default(
                settings["timezone"]
                    .as_str()
                    .unwrap_or(super::zone::DEFAULT),
            ),
            qualified: list("qualified_statuses", "qualificado"),
            converted: list("converted_statuses", "convertido"),
        }
    }

    /// The company's day of an instant.
    pub fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        self.timezone.day(at)
    }

    /// The company's today.
    pub fn today(&self) -> NaiveDate {
        self.day(Utc::now())
    }
}

/// The metrics a lead adds where it stands: the company's, and its pipeline's
/// (`leads.new@vendas`), so a pipeline's figures are read the same way.
fn lead_metrics(name: &str, pipeline: &str) -> [String; 2] {
    [format!("leads.{name}"), format!("leads.{name}@{pipeline}")]
}

/// What the store knows beside a message event: its conversation's channel (while the
/// conversation exists), and for a company message that answered the customer, how long
/// the customer waited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known<'a> {
    pub channel: Option<&'a str>,
    pub response_seconds: Option<i64>,
}

/// The bounds of the first-response histogram, in seconds; a wait beyond the last falls
/// in `over`.
pub const RESPONSE_BOUNDS: &[i64] = &[
    30, 60, 120, 300, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 86_400, 259_200,
];

/// The histogram metric a response time falls in.
pub fn response_bucket(seconds: i64) -> String {
    match RESPONSE_BOUNDS.iter().find(|b| seconds <= **b) {
        Some(b) => format!("responses.within.{b}"),
        None => "responses.within.over".into(),
    }
}

/// How long a company message made the customer wait, if it answered them: from the
/// customer's first message since the company last wrote. `before`: the conversation's
/// messages before it, oldest first.
pub fn response_seconds(reply: &Message, before: &[Message]) -> Option<i64> {
    let waiting = before
        .iter()
        .rev()
        .take_while(|m| m.role != Role::Assistant || !taken(m))
        .filter(|m| m.role == Role::User)
        .last()?;
    Some(
        (reply.created_at.inner() - waiting.created_at.inner())
            .num_seconds()
            .max(0),
    )
}

/// Whether the channel took a company message: it gave it its id (whatever happened to
/// it after, a failure included).
pub fn taken(m: &Message) -> bool {
    m.role == Role::Assistant && m.external_id.is_some()
}

/// What `event` adds to the tallies, with what the store `known` beside it.
pub fn tallies(event: &OutboxEvent, counting: &Counting, known: &Known) -> Vec<Tally> {
    let channel = known.channel;
    let d = &event.data;
    let time = |v: &Value| {
        v.as_str()
            .and_then(Timestamp::parse)
            .map(|t| t.inner())
            .unwrap_or_else(|| event.at.inner())
    };
    let mut out = Vec::new();
    let mut add = |at: DateTime<Utc>, metric: String, delta: i64| {
        out.push(Tally {
            day: counting.day(at).to_string(),
            metric,
            delta,
        })
    };
    let statuses = |status: &str| {
        let mut names = Vec::new();
        if counting.qualified.iter().any(|s| s == status) {
            names.push("qualified");
        }
        if counting.converted.iter().any(|s| s == status) {
            names.push("converted");
        }
        names
    };
    match event.kind.as_str() {
        "lead.created" => {
            let at = time(&d["created_at"]);
            let pipeline = d["pipeline"].as_str().unwrap_or_default();
            let status = d["status"].as_str().unwrap_or_default();
            for name in std::iter::once("new").chain(statuses(status)) {
                for metric in lead_metrics(name, pipeline) {
                    add(at, metric, 1);
                }
            }
            let score = d["score"].as_i64().unwrap_or(0);
            for metric in lead_metrics("score", pipeline) {
                add(at, metric, score);
            }
        }
        // A lead's score counts on its creation day: the figure is the score of the
        // leads created then, as it is now.
        "lead.score_changed" => {
            let at = time(&d["lead"]["created_at"]);
            let pipeline = d["lead"]["pipeline"].as_str().unwrap_or_default();
            let moved = d["to"].as_i64().unwrap_or(0) - d["from"].as_i64().unwrap_or(0);
            for metric in lead_metrics("score", pipeline) {
                add(at, metric, moved);
            }
        }
        "lead.status_changed" => {
            let at = time(&d["lead"]["updated_at"]);
            let pipeline = d["lead"]["pipeline"].as_str().unwrap_or_default();
            let before = statuses(d["from"].as_str().unwrap_or_default());
            for name in statuses(d["to"].as_str().unwrap_or_default()) {
                // Entering the set counts; moving within it does not.
                if !before.contains(&name) {
                    for metric in lead_metrics(name, pipeline) {
                        add(at, metric, 1);
                    }
                }
            }
        }
        "lead.deleted" => add(event.at.inner(), "leads.deleted".into(), 1),
        "conversation.started" => add(time(&d["created_at"]), "conversations.started".into(), 1),
        "conversation.closed" => add(time(&d["updated_at"]), "conversations.closed".into(), 1),
        "conversation.reopened" => add(time(&d["updated_at"]), "conversations.reopened".into(), 1),
        "message.received" | "message.sent" => {
            let at = time(&d["message"]["created_at"]);
            let way = if event.kind == "message.sent" {
                "sent"
            } else {
                "received"
            };
            add(at, format!("messages.{way}"), 1);
            if let Some(channel) = channel {
                add(at, format!("messages.{way}.{channel}"), 1);
            }
            if way == "sent" {
                let by = if d["message"]["metadata"]["agent_id"].is_string() {
                    "ai"
                } else {
                    "human"
                };
                add(at, format!("messages.sent.{by}"), 1);
                add(at, "messages.status.sent".into(), 1);
                if let Some(waited) = known.response_seconds {
                    add(at, "responses.count".into(), 1);
                    add(at, response_bucket(waited), 1);
                    add(at, "responses.seconds".into(), waited);
                }
            }
        }
        "message.status" => {
            // Counted on the day the message was sent: it leaves its status for the new one.
            let at = time(&d["created_at"]);
            let status = d["status"].as_str().unwrap_or_default();
            if let Some(p @ ("sent" | "delivered" | "read" | "failed")) = d["previous"].as_str() {
                add(at, format!("messages.status.{p}"), -1);
            }
            add(at, format!("messages.status.{status}"), 1);
            if status == "failed" {
                let code = match &d["error"]["code"] {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) if s.len() <= 20 => s.clone(),
                    _ => "unknown".into(),
                };
                add(at, format!("messages.failed.code.{code}"), 1);
            }
        }
        _ => {}
    }
    out
}

/// The days of a period, in the company's calendar, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The longest range a request may read.
pub const MAX_DAYS: i64 = 3 * 366;

impl Range {
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of equal length just before this one.
    pub fn previous(&self) -> Range {
        let to = self.from - Duration::days(1);
        Range {
            from: to - Duration::days(self.days() - 1),
            to,
        }
    }

    /// `period=today|week|month|year` (weeks start on Monday; each up to today), or
    /// `from`/`to` as dates or RFC 3339 instants (taken as the company's day).
    pub fn parse(
        period: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        counting: &Counting,
        errors: &mut FieldErrors,
    ) -> Option<Range> {
        let today = counting.today();
        let day = |field: &str, s: &str, errors: &mut FieldErrors| {
            let parsed = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .or_else(|| Timestamp::parse(s).map(|t| counting.day(t.inner())));
            if parsed.is_none() {
                errors.add(field, "must be a date (2026-11-01) or an RFC 3339 time");
            }
            parsed
        };
        let range = match (period, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                errors.add("period", "give a period or from/to, not both");
                return None;
            }
            (Some(p), None, None) => {
                let from = match p {
                    "today" => today,
                    "week" => {
                        today - Duration::days(i64::from(today.weekday().num_days_from_monday()))
                    }
                    "month" => today.with_day(1).unwrap_or(today),
                    "year" => today.with_ordinal(1).unwrap_or(today),
                    _ => {
                        errors.add("period", "must be one of: today, week, month, year");
                        return None;
                    }
                };
                Range { from, to: today }
            }
            (None, from, to) => {
                let from = from.map(|s| day("from", s, errors));
                let to = to.map(|s| day("to", s, errors));
                let (from, to) = match (from, to) {
                    (Some(None), _) | (_, Some(None)) => return None,
                    (Some(Some(f)), Some(Some(t))) => (f, t),
                    (Some(Some(f)), None) => (f, today),
                    (None, Some(Some(t))) => (t.with_day(1).unwrap_or(t), t),
                    // The default: this month.
                    (None, None) => (today.with_day(1).unwrap_or(today), today),
                };
                Range { from, to }
            }
        };
        if range.from > range.to {
            errors.add("from", "must not be after to");
            return None;
        }
        if range.days() > MAX_DAYS {
            errors.add("to", format!("the range must be at most {MAX_DAYS} days"));
            return None;
        }
        Some(range)
    }
}

/// How a timeline is bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Week,
    Month,
}

impl Bucket {
    pub fn parse(s: Option<&str>, errors: &mut FieldErrors) -> Bucket {
        match s.unwrap_or("day") {
            "day" => Bucket::Day,
            "week" => Bucket::Week,
            "month" => Bucket::Month,
            _ => {
                errors.add("group_by", "must be one of: day, week, month");
                Bucket::Day
            }
        }
    }

    /// The first day of the bucket `day` falls in.
    pub fn start(&self, day: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => day,
            Bucket::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Bucket::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// Every bucket of `range`, in order, each with the range's days it covers.
    pub fn all(&self, range: Range) -> Vec<NaiveDate> {
        let mut out: Vec<NaiveDate> = Vec::new();
        let mut day = range.from;
        while day <= range.to {
            let start = self.start(day);
            if out.last() != Some(&start) {
                out.push(start);
            }
            day += Duration::days(1);
        }
        out
    }
}

/// The first day tallies exist for: a gauge (leads, open conversations) is summed from it.
pub const BEGINNING: &str = "2000-01-01";

impl Range {
    /// From [`BEGINNING`] to the end of this range: what a gauge at its end sums.
    pub fn history(&self) -> Range {
        Range {
            from: NaiveDate::parse_from_str(BEGINNING, "%Y-%m-%d").unwrap_or(self.from),
            to: self.to,
        }
    }
}

impl Bucket {
    /// The bucket (its first day) of a `YYYY-MM-DD` day.
    pub fn key(&self, day: &str) -> Option<String> {
        NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .ok()
            .map(|d| self.start(d).to_string())
    }
}

/// Each bucket of `range` with the sums of `metrics` over its days in the range, zeros
/// included: `(bucket, [sum per metric])`.
pub fn timeline(
    bucket: Bucket,
    range: Range,
    days: &BTreeMap<String, DayTallies>,
    metrics: &[String],
) -> Vec<(String, Vec<i64>)> {
    let mut out: BTreeMap<String, Vec<i64>> = bucket
        .all(range)
        .into_iter()
        .map(|d| (d.to_string(), vec![0; metrics.len()]))
        .collect();
    let (from, to) = (range.from.to_string(), range.to.to_string());
    for (day, tallies) in days.range(from..=to) {
        let Some(sums) = bucket.key(day).and_then(|k| out.get_mut(&k)) else {
            continue;
        };
        for (i, m) in metrics.iter().enumerate() {
            sums[i] += tallies.get(m).copied().unwrap_or(0);
        }
    }
    out.into_iter().collect()
}

/// Sums of `metrics` over the days of `range`.
pub fn sum(days: &BTreeMap<String, DayTallies>, range: Range, metric: &str) -> i64 {
    let (from, to) = (range.from.to_string(), range.to.to_string());
    days.range(from..=to)
        .map(|(_, t)| t.get(metric).copied().unwrap_or(0))
        .sum()
}

/// A percentage with two decimals; none of nothing.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64) * 10_000.0 / (whole as f64)).round() / 100.0)
}

/// The change from `before` to `now`, in percent; none from nothing.
pub fn growth(now: i64, before: i64) -> Option<f64> {
    percent(now - before, before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CompanyId;
    use serde_json::json;

    fn counting(tz: &str) -> Counting {
        Counting::of(&json!({"timezone": tz}))
    }

    fn created(at: &str, status: &str) -> OutboxEvent {
        OutboxEvent::new(
            &CompanyId::new("c"),
            "lead.created",
            None,
            json!({"created_at": at, "pipeline": "vendas", "status": status}),
        )
    }

    #[test]
    fn a_lead_created_at_0230_utc_on_the_first_counts_on_the_last_day_before_in_sao_paulo() {
        let t = tallies(
            &created("2026-12-01T02:30:00.000Z", "novo"),
            &counting("America/Sao_Paulo"),
            &Known::default(),
        );
        assert_eq!(
            t.len(),
            4,
            "new and score, the company's and the pipeline's"
        );
        assert!(t.iter().all(|t| t.day == "2026-11-30"));
        let utc = tallies(
            &created("2026-12-01T02:30:00.000Z", "novo"),
            &counting("UTC"),
            &Known::default(),
        );
        assert_eq!(utc[0].day, "2026-12-01");
    }

    #[test]
    fn lisbon_days_follow_its_summer_time() {
        // Lisbon is UTC+1 in summer, UTC in winter (the change: 2026-10-25 at 01:00 UTC).
        let lisbon = counting("Europe/Lisbon");
        let at = |s: &str| {
            tallies(&created(s, "novo"), &lisbon, &Known::default())[0]
                .day
                .clone()
        };
        assert_eq!(at("2026-10-24T23:30:00.000Z"), "2026-10-25");
        assert_eq!(at("2026-10-25T23:30:00.000Z"), "2026-10-25");
        assert_eq!(at("2026-03-29T00:30:00.000Z"), "2026-03-29");
    }

    #[test]
    fn entering_the_qualified_set_counts_and_leaving_it_takes_nothing_back() {
        let c = counting("UTC");
        let moved = |from: &str, to: &str| {
            let e = OutboxEvent::new(
                &CompanyId::new("c"),
                "lead.status_changed",
                None,
                json!({"from": from, "to": to, "lead": {"updated_at": "2026-11-02T10:00:00.000Z", "pipeline": "p"}}),
            );
            tallies(&e, &c, &Known::default())
                .into_iter()
                .map(|t| t.metric)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            moved("novo", "qualificado"),
            ["leads.qualified", "leads.qualified@p"]
        );
        assert!(moved("qualificado", "perdido").is_empty());
        assert_eq!(
            moved("qualificado", "convertido"),
            ["leads.converted", "leads.converted@p"]
        );
    }

    #[test]
    fn periods_and_buckets() {
        let c = counting("UTC");
        let mut errors = FieldErrors::new();
        let r = Range::parse(
            None,
            Some("2026-02-25"),
            Some("2026-03-03"),
            &c,
            &mut errors,
        )
        .unwrap();
        assert_eq!(r.days(), 7);
        assert_eq!(r.previous().to.to_string(), "2026-02-24");
        assert_eq!(r.previous().days(), 7);
        // 2026-02-25 is a Wednesday: its week started on Monday the 23rd.
        let weeks: Vec<String> = Bucket::Week.all(r).iter().map(|d| d.to_string()).collect();
        assert_eq!(weeks, ["2026-02-23", "2026-03-02"]);
        let months: Vec<String> = Bucket::Month.all(r).iter().map(|d| d.to_string()).collect();
        assert_eq!(months, ["2026-02-01", "2026-03-01"]);
        for (period, from, to) in [
            (Some("decade"), None, None),
            (None, Some("2026-03-04"), Some("2026-03-03")),
            (None, Some("2020-01-01"), Some("2026-01-01")),
            (None, Some("ontem"), None),
            (Some("week"), Some("2026-01-01"), None),
        ] {
            let mut errors = FieldErrors::new();
            assert!(Range::parse(period, from, to, &c, &mut errors).is_none());
            assert!(!errors.is_empty());
        }
    }
}
