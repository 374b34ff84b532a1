//! What an AI call costs: OpenAI's price table, the usage an answer reports, the
//! worst case a call may cost before it is made, and the month a budget counts in.

use chrono::Datelike;
use serde::Serialize;
use serde_json::Value;

/// The day the price table was read from OpenAI's pricing page.
pub const PRICES_AS_OF: &str = "2026-11-01";

/// US dollars per million tokens, as OpenAI publishes them, kept as nano-dollars per token
/// (the same number × 1000) so that every cost is an exact integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input: i64,
    pub cached_input: i64,
    pub output: i64,
}

const fn per_million(input: f64, cached: f64, output: f64) -> Price {
    Price {
        input: (input * 1000.0) as i64,
        cached_input: (cached * 1000.0) as i64,
        output: (output * 1000.0) as i64,
    }
}

/// Model prefixes and their prices; the longest prefix that matches a model id wins, so
/// dated snapshots (`gpt-4o-mini-2024-07-18`) and fine-tunes (`ft:gpt-4o-mini:…`) price as
/// their base model.
const PRICES: &[(&str, Price)] = &[
    ("gpt-4o", per_million(2.50, 1.25, 10.00)),
    ("gpt-4o-mini", per_million(0.15, 0.075, 0.60)),
    ("gpt-4.1", per_million(2.00, 0.50, 8.00)),
    ("gpt-4.1-mini", per_million(0.40, 0.10, 1.60)),
    ("gpt-4.1-nano", per_million(0.10, 0.025, 0.40)),
    ("gpt-5", per_million(1.25, 0.125, 10.00)),
    ("gpt-5-mini", per_million(0.25, 0.025, 2.00)),
    ("gpt-5-nano", per_million(0.05, 0.005, 0.40)),
    ("o3", per_million(2.00, 0.50, 8.00)),
    ("o4-mini", per_million(1.10, 0.275, 4.40)),
];

/// A model the table does not know is priced as the dearest one it does, so that a budget
/// never undercounts.
const UNKNOWN: Price = per_million(2.50, 1.25, 10.00);

/// The models `GET /api/ai/v1/models` lists.
pub fn known_models() -> impl Iterator<Item = &'static str> {
    PRICES.iter().map(|(m, _)| *m)
}

pub fn price(model: &str) -> Price {
    let base = model.strip_prefix("ft:").unwrap_or(model);
    PRICES
        .iter()
        .filter(|(prefix, _)| {
            base == *prefix
                || base
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('-') || rest.starts_with(':'))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(UNKNOWN, |(_, p)| *p)
}

/// The tokens of one call, as the upstream reported them (or as estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
}

impl Usage {
    /// OpenAI's `usage` object, if `v` is one.
    pub fn from_openai(v: &Value) -> Option<Usage> {
        let n = |v: &Value| v.as_i64().filter(|n| *n >= 0);
        Some(Usage {
            prompt_tokens: n(&v["prompt_tokens"])?,
            completion_tokens: n(&v["completion_tokens"])?,
            cached_tokens: n(&v["prompt_tokens_details"]["cached_tokens"]).unwrap_or(0),
            reasoning_tokens: n(&v["completion_tokens_details"]["reasoning_tokens"]).unwrap_or(0),
        })
    }

    /// What these tokens cost at `model`'s price, in nano-dollars. Reasoning tokens are
    /// part of the completion, as OpenAI bills them.
    pub fn cost_nano(&self, model: &str) -> i64 {
        let p = price(model);
        let cached = self.cached_tokens.min(self.prompt_tokens);
        (self.prompt_tokens - cached) * p.input
            + cached * p.cached_input
            + self.completion_tokens * p.output
    }
}

/// A rough count of a request's prompt tokens: a token is about four characters of
/// text, and each message has a few of its own. Used only for the reservation.
pub fn estimate_prompt_tokens(request: &Value) -> i64 {
    let mut chars = 0usize;
    let mut messages = 0i64;
    if let Some(list) = request["messages"].as_array() {
        for m in list {
            messages += 1;
            chars += m.to_string().chars().count();
        }
    }
    if let Some(tools) = request.get("tools") {
        chars += tools.to_string().chars().count();
    }
    (chars as i64 + 3) / 4 + 4 * messages + 8
}

/// The answer length a reservation assumes when the request sets none.
pub const DEFAULT_RESERVED_COMPLETION: i64 = 4096;

/// The most a call can cost: every prompt token estimated at full price and the whole
/// `max_tokens` answered.
pub fn worst_case_nano(model: &str, prompt_tokens: i64, max_tokens: Option<i64>) -> i64 {
    let p = price(model);
    prompt_tokens * p.input + max_tokens.unwrap_or(DEFAULT_RESERVED_COMPLETION) * p.output
}

pub fn usd_to_nano(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

pub fn nano_to_usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

/// The budget month (`2026-11`) `at` falls in, in `timezone`, and when the next begins.
pub fn budget_month(
    at: chrono::DateTime<chrono::Utc>,
    timezone: &str,
) -> (String, chrono::DateTime<chrono::Utc>) {
    let zone = super::zone::Zone::or_default(timezone);
    let local = zone.local(at);
    let (y, m) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    let next = chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|midnight| zone.instant(midnight))
        .unwrap_or(at);
    (format!("{:04}-{:02}", local.year(), local.month()), next)
}

/// The company's day (`2026-11-27`) `at` falls in.
pub fn usage_day(at: chrono::DateTime<chrono::Utc>, timezone: &str) -> String {
    super::zone::Zone::or_default(timezone)
        .day(at)
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshots_and_fine_tunes_price_as_their_base_model() {
        assert_eq!(price("gpt-4o-mini-2024-07-18"), price("gpt-4o-mini"));
        assert_eq!(price("ft:gpt-4o-mini:acme::abc"), price("gpt-4o-mini"));
        assert_ne!(price("gpt-4o-mini"), price("gpt-4o"));
        assert_eq!(price("llama-70b"), UNKNOWN);
    }

    #[test]
    fn cost_counts_cached_prompt_tokens_at_their_price() {
        let u = Usage::from_openai(&json!({"prompt_tokens": 1000, "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 400}}))
        .unwrap();
        // gpt-4o-mini: 600 × 150 + 400 × 75 + 500 × 600 nano-dollars.
        assert_eq!(u.cost_nano("gpt-4o-mini"), 90_000 + 30_000 + 300_000);
    }

    #[test]
    fn the_month_turns_in_the_company_timezone() {
        // 02:00 UTC on 1 December is still 30 November in São Paulo (UTC−3).
        let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 2, 0, 0).unwrap();
        let (month, next) = budget_month(at, "America/Sao_Paulo");
        assert_eq!(month, "2026-11");
        assert_eq!(
            next,
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 3, 0, 0).unwrap()
        );
        assert_eq!(budget_month(at, "UTC").0, "2026-12");
    }
}
