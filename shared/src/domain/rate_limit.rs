//! Rate limits: a token bucket per caller (user or API key) and route group, with burst,
//! under a company-wide ceiling per group that bounds what all callers take together.
//!
//! The arithmetic lives here; a store keeps each bucket and applies [`Bucket::take`]
//! atomically, so every Lambda instance shares one bucket.

use serde_json::Value;

/// How many requests a bucket allows: `burst` at once, refilled at `per_period` per `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_period: u32,
    pub period_secs: u32,
    pub burst: u32,
}

impl Limit {
    pub const fn new(per_period: u32, period_secs: u32, burst: u32) -> Limit {
        Limit {
            per_period,
            period_secs,
            burst,
        }
    }

    /// Requests per second in the long run, to compare limits of different periods.
    pub fn per_second(&self) -> f64 {
        f64::from(self.per_period) / f64::from(self.period_secs.max(1))
    }

    fn refill_per_ms(&self) -> f64 {
        f64::from(self.per_period) / (f64::from(self.period_secs) * 1000.0)
    }

    /// The company-wide ceiling that goes with a caller's limit: ten callers' worth.
    pub const fn ceiling(&self) -> Limit {
        Limit::new(
            self.per_period.saturating_mul(CEILING_FACTOR),
            self.period_secs,
            self.burst.saturating_mul(CEILING_FACTOR),
        )
    }

    /// A company's override from its settings: `{"per_hour": 1000, "burst": 200}`
    /// (or `per_minute` / `per_day`), each count within [`MAX_PER_PERIOD`] and
    /// [`MAX_BURST`]; `company` may hold the ceiling in the same form.
    pub fn from_setting(v: &Value) -> Option<Limit> {
        let obj = v.as_object()?;
        let mut periods = [
            ("per_minute", 60u32),
            ("per_hour", 3600),
            ("per_day", 86_400),
        ]
        .into_iter()
        .filter_map(|(k, secs)| obj.get(k).map(|n| (n, secs)));
        let (count, period_secs) = periods.next()?;
        if periods.next().is_some() {
            return None;
        }
        // 5 and 5.0 are one number in JSON.
        let whole = |v: &Value| {
            v.as_u64().or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e12)
                    .map(|f| f as u64)
            })
        };
        let per_period = u32::try_from(whole(count)?)
            .ok()
            .filter(|n| (1..=MAX_PER_PERIOD).contains(n))?;
        let burst = match obj.get("burst") {
            Some(b) => u32::try_from(whole(b)?)
                .ok()
                .filter(|n| (1..=MAX_BURST).contains(n))?,
            None => per_period.min(MAX_BURST),
        };
        if obj.keys().any(|k| {
            !["per_minute", "per_hour", "per_day", "burst", "company"].contains(&k.as_str())
        }) {
            return None;
        }
        Some(Limit::new(per_period, period_secs, burst))
    }
}

/// The most requests a setting may allow per period, and the largest burst: generous for
/// any real company, and small enough that no bucket arithmetic can overflow.
pub const MAX_PER_PERIOD: u32 = 1_000_000;
pub const MAX_BURST: u32 = 100_000;
/// A company's ceiling per group is this many callers' limits, unless its settings say.
pub const CEILING_FACTOR: u32 = 10;

pub struct Group {
    pub name: &'static str,
    /// Path prefixes (under the public path) that count against this group.
    pub prefixes: &'static [&'static str],
    pub default: Limit,
}

/// The route groups (`docs/architecture.md`, "Limits"); `api` covers the rest of `/api`.
pub const GROUPS: &[Group] = &[
    Group {
        name: "leads",
        prefixes: &["/api/leads"],
        default: Limit::new(500, 3600, 100),
    },
    Group {
        name: "conversations",
        prefixes: &["/api/conversations", "/api/messages", "/api/whatsapp"],
        default: Limit::new(300, 3600, 50),
    },
    Group {
        name: "ai",
        prefixes: &["/api/openai-proxy", "/api/ai", "/api/agents"],
        default: Limit::new(1000, 3600, 200),
    },
    // No route counts against it by path: every WhatsApp message sent, whichever route
    // sends it, takes from it (`usecase::send`).
    Group {
        name: "whatsapp",
        prefixes: &[],
        default: Limit::new(1000, 86_400, 1000),
    },
    Group {
        name: "analytics",
        prefixes: &["/api/analytics"],
        default: Limit::new(500, 3600, 100),
    },
    Group {
        name: "webhooks",
        prefixes: &["/webhooks/"],
        default: Limit::new(100, 60, 100),
    },
    Group {
        name: "api",
        prefixes: &["/api/"],
        default: Limit::new(1000, 3600, 200),
    },
];

/// The group a route (by its pattern, never the raw path) counts against, if any.
pub fn group_for(path: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| {
        g.prefixes.iter().any(|p| {
            path.starts_with(p)
                && (p.ends_with('/') || path.len() == p.len() || path[p.len()..].starts_with('/'))
        })
    })
}

/// The group by name.
pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

/// The limit in force for each caller in `group`: the company's override from its
/// settings, else the default.
pub fn limit_for(group: &Group, settings: &Value) -> Limit {
    setting(group, settings)
        .and_then(Limit::from_setting)
        .unwrap_or(group.default)
}

/// The company-wide ceiling for `group`: `company` in the override, else ten times the
/// caller's limit.
pub fn ceiling_for(group: &Group, settings: &Value) -> Limit {
    setting(group, settings)
        .and_then(|s| s.get("company"))
        .and_then(Limit::from_setting)
        .unwrap_or_else(|| limit_for(group, settings).ceiling())
}

fn setting<'a>(group: &Group, settings: &'a Value) -> Option<&'a Value> {
    settings.get("rate_limits").and_then(|r| r.get(group.name))
}

/// A bucket as stored: tokens left at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: i64,
}

/// The answer to one request, and what its headers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until one more request is allowed (0 when allowed).
    pub retry_after_secs: u64,
}

impl Bucket {
    /// Takes one token from `self` (a new, full bucket when `None`) at `now_ms`.
    pub fn take(current: Option<Bucket>, limit: &Limit, now_ms: i64) -> (Bucket, Decision) {
        let burst = f64::from(limit.burst);
        let rate = limit.refill_per_ms();
        let tokens = match current {
            None => burst,
            Some(b) => (b.tokens + (now_ms - b.at_ms).max(0) as f64 * rate).min(burst),
        };
        let allowed = tokens >= 1.0;
        let left = if allowed { tokens - 1.0 } else { tokens };
        // Less a nanosecond: float division must not round a whole second up to the next.
        let secs = |missing: f64| (missing / rate / 1000.0 - 1e-9).ceil().max(0.0) as u64;
        let decision = Decision {
            allowed,
            limit: limit.burst,
            remaining: left.floor() as u32,
            reset_secs: secs(burst - left),
            retry_after_secs: if allowed { 0 } else { secs(1.0 - left).max(1) },
        };
        (
            Bucket {
                tokens: left,
                at_ms: now_ms,
            },
            decision,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refill_at_the_rate() {
        let limit = Limit::new(500, 3600, 100);
        let mut bucket = None;
        let mut allowed = 0;
        for i in 0..150 {
            let (b, d) = Bucket::take(bucket, &limit, 0);
            bucket = Some(b);
            if d.allowed {
                allowed += 1;
                assert_eq!(d.remaining, 99 - i);
            } else {
                assert!(d.retry_after_secs >= 7, "one token every 7.2 s");
            }
        }
        assert_eq!(allowed, 100);
        // 500/h is one token per 7.2 s.
        let (_, d) = Bucket::take(bucket, &limit, 7_100);
        assert!(!d.allowed);
        let (_, d) = Bucket::take(bucket, &limit, 7_300);
        assert!(d.allowed);
    }

    #[test]
    fn paths_find_their_group() {
        assert_eq!(group_for("/api/leads").map(|g| g.name), Some("leads"));
        assert_eq!(
            group_for("/api/leads/1/history").map(|g| g.name),
            Some("leads")
        );
        assert_eq!(group_for("/api/leadsx").map(|g| g.name), Some("api"));
        assert_eq!(
            group_for("/api/messages").map(|g| g.name),
            Some("conversations")
        );
        assert_eq!(
            group_for("/api/ai/v1/chat/completions").map(|g| g.name),
            Some("ai")
        );
        assert_eq!(group_for("/webhooks/abc").map(|g| g.name), Some("webhooks"));
        assert_eq!(
            group_for("/api/whatsapp/send-message").map(|g| g.name),
            Some("conversations")
        );
        assert_eq!(group_for("/api/company").map(|g| g.name), Some("api"));
        assert_eq!(group_for("/health").map(|g| g.name), None);
    }

    #[test]
    fn overrides_come_from_settings() {
        let settings =
            serde_json::json!({"rate_limits": {"leads": {"per_minute": 10, "burst": 5}}});
        let leads = group_for("/api/leads").expect("group");
        assert_eq!(limit_for(leads, &settings), Limit::new(10, 60, 5));
        assert_eq!(
            Limit::from_setting(&serde_json::json!({"per_hour": 0})),
            None
        );
        assert_eq!(
            Limit::from_setting(&serde_json::json!({"per_hour": 5, "per_day": 9})),
            None
        );
    }
}

/// The same bucket as [`Bucket`], kept as one number, the theoretical arrival time (GCRA):
/// a request at `now` is allowed when `max(tat, now) + interval - now ≤ burst × interval`.
/// One number lets a store update it atomically (`SET tat = tat + :interval` under a
/// condition), so concurrent requests never need to retry a read-modify-write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gcra {
    /// Microseconds per token.
    pub interval_us: i64,
    /// Microseconds a full bucket lasts: `burst × interval`.
    pub tolerance_us: i64,
    pub burst: u32,
}

impl Gcra {
    pub fn of(limit: &Limit) -> Gcra {
        // Saturating: no `Limit`, however extreme, can overflow (see the property test).
        let interval_us = (i64::from(limit.period_secs).saturating_mul(1_000_000)
            / i64::from(limit.per_period.max(1)))
        .max(1);
        Gcra {
            interval_us,
            tolerance_us: interval_us.saturating_mul(i64::from(limit.burst)),
            burst: limit.burst,
        }
    }

    /// The largest `tat` from which one more request fits.
    pub fn max_tat_before(&self, now_us: i64) -> i64 {
        now_us
            .saturating_add(self.tolerance_us)
            .saturating_sub(self.interval_us)
    }

    /// The headers' figures after a request was allowed and moved `tat` to `new_tat`.
    pub fn allowed(&self, new_tat: i64, now_us: i64) -> Decision {
        let left = now_us
            .saturating_add(self.tolerance_us)
            .saturating_sub(new_tat)
            .max(0)
            / self.interval_us;
        Decision {
            allowed: true,
            limit: self.burst,
            remaining: u32::try_from(left).unwrap_or(0),
            reset_secs: ceil_secs(new_tat.saturating_sub(now_us)),
            retry_after_secs: 0,
        }
    }

    /// The figures of a refusal while the bucket's `tat` stands where it is.
    pub fn refused(&self, tat: i64, now_us: i64) -> Decision {
        Decision {
            allowed: false,
            limit: self.burst,
            remaining: 0,
            reset_secs: ceil_secs(tat.saturating_sub(now_us)),
            retry_after_secs: ceil_secs(
                tat.saturating_add(self.interval_us)
                    .saturating_sub(self.tolerance_us)
                    .saturating_sub(now_us),
            )
            .max(1),
        }
    }
}

fn ceil_secs(us: i64) -> u64 {
    u64::try_from(us.max(0).saturating_add(999_999) / 1_000_000).unwrap_or(0)
}
