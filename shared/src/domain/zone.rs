//! A company's time zone (an IANA name such as `America/Sao_Paulo`), for its days, months
//! and business hours.
//!
//! The tz database is the one bundled in the binary by `jiff` (one compressed blob, a zone
//! read from it on first use). chrono-tz, used before, compiles every zone into tables of
//! pointers that the dynamic loader relocates at every process start: 30 000 relocations
//! and 1 MB of pages copied, a third of the init of the functions that link it
//! (`docs/architecture.md`, "Performance budgets").

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};

/// The zone of a company that names none, or names one the database does not know.
pub const DEFAULT: &str = "America/Sao_Paulo";

#[derive(Debug, Clone, PartialEq)]
pub struct Zone(jiff::tz::TimeZone);

impl Zone {
    /// The zone `name`, when the tz database knows it.
    pub fn named(name: &str) -> Option<Zone> {
        jiff::tz::TimeZone::get(name).ok().map(Zone)
    }

    /// The zone `name`, else the default (São Paulo, where the product's companies are).
    pub fn or_default(name: &str) -> Zone {
        Zone::named(name)
            .or_else(|| Zone::named(DEFAULT))
            .unwrap_or_else(|| Zone(jiff::tz::TimeZone::UTC))
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    /// The wall-clock time of `at` in this zone.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        let offset = jiff::Timestamp::from_second(at.timestamp())
            .map(|t| self.0.to_offset(t).seconds())
            .unwrap_or(0);
        at.naive_utc() + Duration::seconds(i64::from(offset))
    }

    /// The day of `at` in this zone.
    pub fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        self.local(at).date()
    }

    /// The first instant of the wall-clock time `local` (the later side of a gap, the
    /// earlier of a fold), or None out of the database's range.
    pub fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let date = local.date();
        let civil = jiff::civil::DateTime::new(
            i16::try_from(chrono::Datelike::year(&date)).ok()?,
            i8::try_from(chrono::Datelike::month(&date)).ok()?,
            i8::try_from(chrono::Datelike::day(&date)).ok()?,
            i8::try_from(local.hour()).ok()?,
            i8::try_from(local.minute()).ok()?,
            i8::try_from(local.second()).ok()?,
            0,
        )
        .ok()?;
        let at = self.0.to_ambiguous_timestamp(civil).compatible().ok()?;
        DateTime::from_timestamp(at.as_second(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("instant").to_utc()
    }

    #[test]
    fn a_late_evening_in_sao_paulo_is_the_next_day_in_utc() {
        let sp = Zone::or_default("America/Sao_Paulo");
        let at = utc("2026-11-28T01:30:00Z");
        assert_eq!(sp.local(at).to_string(), "2026-11-27 22:30:00");
        assert_eq!(sp.day(at).to_string(), "2026-11-27");
        let manaus = Zone::or_default("America/Manaus");
        assert_eq!(manaus.local(at).to_string(), "2026-11-27 21:30:00");
        assert_eq!(manaus.name(), "America/Manaus");
    }

    #[test]
    fn unknown_names_are_not_zones_and_fall_back_to_sao_paulo() {
        assert!(Zone::named("America/Sao_Pualo").is_none());
        assert!(Zone::named("Mars/Olympus").is_none());
        assert!(Zone::named("UTC").is_some());
        assert_eq!(Zone::or_default("Mars/Olympus"), Zone::or_default(DEFAULT));
    }

    #[test]
    fn local_midnights_map_back_to_their_instants_across_daylight_saving() {
        let sp = Zone::or_default(DEFAULT);
        let midnight = |d: &str| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .expect("date")
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
        };
        assert_eq!(
            sp.instant(midnight("2026-12-01")),
            Some(utc("2026-12-01T03:00:00Z"))
        );
        // 2018-11-04 00:00 did not exist in São Paulo (clocks went to 01:00): the day began
        // at 01:00 local, 03:00 UTC.
        assert_eq!(
            sp.instant(midnight("2018-11-04")),
            Some(utc("2018-11-04T03:00:00Z"))
        );
        // In summer time (UTC-2) midnight was 02:00 UTC.
        assert_eq!(
            sp.instant(midnight("2018-12-01")),
            Some(utc("2018-12-01T02:00:00Z"))
        );
        let ny = Zone::or_default("America/New_York");
        assert_eq!(
            ny.local(utc("2026-07-01T12:00:00Z")).to_string(),
            "2026-07-01 08:00:00"
        );
    }
}
