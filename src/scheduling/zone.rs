//! Time zones, and the one place where local wall-clock time is turned into real instants.
//!
//! The rule everything else builds on: a local interval `[a, b)` on date `d` is the set of
//! instants whose wall-clock reading in the zone lies in `[d a, d b)`. On a spring-forward
//! day the skipped wall-clock times are never read, so the set is shorter (a nonexistent
//! 02:30 is never offered); on a fall-back day the repeated hour is read twice, so the set is
//! longer, and each real instant still appears once. Durations are then plain arithmetic on
//! instants, which makes them real elapsed minutes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetName, Tz};
use serde::{Deserialize, Serialize, Serializer};

use super::error::{ValidationCode, ValidationError};

/// An IANA time zone, such as `America/New_York`, checked against the tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Zone(Tz);

impl Zone {
    /// Parses an IANA name exactly as the tz database spells it. Abbreviations such as `EST`
    /// and fixed offsets are refused: they do not know about daylight saving time, and a
    /// clinic's hours follow the clock on its wall. The error's field is `time_zone`.
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        let unknown = || {
            ValidationError::new(
                "time_zone",
                ValidationCode::UnknownTimeZone,
                format!(
                    "{name:?} is not an IANA time zone name; use a name such as \
                     \"Europe/London\" or \"America/New_York\""
                ),
            )
        };
        let tz = Tz::from_str(name.trim()).map_err(|_| unknown())?;
        // Names such as "EST" or "Etc/GMT+5" are in the database but are fixed offsets or
        // legacy aliases that ignore daylight saving time; a location is somewhere, so it
        // needs an Area/City name. UTC itself is allowed (servers, tests).
        let fixed = !tz.name().contains('/') || tz.name().starts_with("Etc/");
        if fixed && !matches!(tz, Tz::UTC | Tz::Etc__UTC) {
            return Err(unknown());
        }
        Ok(Self(tz))
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    /// Any zone of the tz database, unchecked: for the clinic's configured zone, which the
    /// configuration validated already.
    pub fn from_tz(tz: Tz) -> Self {
        Self(tz)
    }

    /// The instants of a local calendar date: from its first instant up to the next date's
    /// first. On a DST day that is 23 or 25 hours; where midnight does not exist, the day
    /// starts when the clock jumps.
    pub fn day_bounds(self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = date.succ_opt().unwrap_or(date);
        (self.first_instant(date), self.first_instant(next))
    }

    fn first_instant(self, date: NaiveDate) -> DateTime<Utc> {
        // Gaps are at most a few hours; probe forward a minute at a time from midnight.
        let midnight = date.and_time(NaiveTime::MIN);
        (0..24 * 60)
            .find_map(|minute| {
                self.0
                    .from_local_datetime(&(midnight + chrono::TimeDelta::minutes(minute)))
                    .earliest()
            })
            .map_or_else(|| midnight.and_utc(), |local| local.with_timezone(&Utc))
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The instant a local wall-clock reading here names, as a person typing a date and time
    /// means it: in the repeated hour of a fall-back day the first (earlier) one; `None` for a
    /// time the clock skips on a spring-forward day, which no instant reads.
    pub fn instant(self, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        self.0
            .from_local_datetime(&local)
            .earliest()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The local calendar date of an instant here.
    pub fn local_date(self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.0).date_naive()
    }

    /// How an instant reads on a clock here, for display and emails.
    pub fn wall_clock(self, instant: DateTime<Utc>) -> WallClock {
        let local = instant.with_timezone(&self.0);
        let offset = *local.offset();
        WallClock {
            local: local.with_timezone(&offset.fix()),
            abbreviation: abbreviation(&offset),
            time_zone: self,
        }
    }
}

/// The abbreviation tz data gives for an offset (`EDT`, `BST`), or the numeric form where a
/// zone has none (`-03`, `+0545`).
fn abbreviation(offset: &chrono_tz::TzOffset) -> String {
    if let Some(name) = offset.abbreviation() {
        return name.to_owned();
    }
    let seconds = offset.fix().local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    // The tz database's own numeric style: "-03", "+0545".
    match minutes % 60 {
        0 => format!("{sign}{:02}", minutes / 60),
        rest => format!("{sign}{:02}{rest:02}", minutes / 60),
    }
}

impl TryFrom<String> for Zone {
    type Error = ValidationError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl FromStr for Zone {
    type Err = ValidationError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// An instant as read on a clock in a zone: `2026-03-08T03:00:00-04:00`, `EDT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WallClock {
    /// Local date and time with the UTC offset in force (RFC 3339 when serialised).
    pub local: DateTime<FixedOffset>,
    /// `EDT`, `GMT`, `BST`, …
    pub abbreviation: String,
    pub time_zone: Zone,
}

impl fmt::Display for WallClock {
    /// `Sun 8 Mar 2026 03:00 EDT`, the form used in emails.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.local.format("%a %-d %b %Y %H:%M"),
            self.abbreviation
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Local wall-clock time to instants (seconds since the Unix epoch, UTC)
// ---------------------------------------------------------------------------------------------

/// Wider than any real UTC offset (−12:00 … +14:00), so a window this much larger than a
/// local range contains every instant whose wall clock is in it.
const OFFSET_MARGIN: i64 = 18 * 3600;

/// Offsets are probed this often; a change between two probes is then found to the second.
/// No zone in the tz database keeps an offset for less than an hour.
const PROBE_STEP: i64 = 3600;

/// Local midnight of `date` as naive seconds: the number a wall clock shows, written as if UTC.
pub(crate) fn naive_midnight(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// A stretch of real time with one UTC offset (`offset` = local minus UTC, in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    start: i64,
    end: i64,
    offset: i64,
}

/// A stretch of instants with one UTC offset whose wall clock lies in a requested local range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub start: i64,
    pub end: i64,
    pub offset: i64,
}

/// The offsets of a zone over a window of real time, for mapping many local ranges in it.
#[derive(Debug, Clone)]
pub(crate) struct OffsetMap {
    periods: Vec<Period>,
}

fn offset_at(tz: Tz, instant: i64) -> i64 {
    DateTime::from_timestamp(instant, 0).map_or(0, |utc| {
        i64::from(
            tz.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    })
}

impl OffsetMap {
    /// The offsets in force for every instant whose wall clock lies in local dates
    /// `first..=last`.
    pub(crate) fn for_dates(tz: Tz, first: NaiveDate, last: NaiveDate) -> Self {
        let from = naive_midnight(first) - OFFSET_MARGIN;
        let to = naive_midnight(last) + 24 * 3600 + OFFSET_MARGIN;
        Self::over(tz, from, to)
    }

    fn over(tz: Tz, from: i64, to: i64) -> Self {
        let mut periods = Vec::new();
        let mut start = from;
        let mut offset = offset_at(tz, from);
        let mut checked = from;
        while checked < to {
            let probe = (checked + PROBE_STEP).min(to);
            if offset_at(tz, probe) == offset {
                checked = probe;
                continue;
            }
            // The first second with another offset lies in (checked, probe].
            let (mut same, mut other) = (checked, probe);
            while other - same > 1 {
                let middle = same + (other - same) / 2;
                if offset_at(tz, middle) == offset {
                    same = middle;
                } else {
                    other = middle;
                }
            }
            periods.push(Period {
                start,
                end: other,
                offset,
            });
            start = other;
            offset = offset_at(tz, other);
            checked = other;
        }
        periods.push(Period {
            start,
            end: to,
            offset,
        });
        Self { periods }
    }

    /// Appends the instants whose wall clock lies in `[local_start, local_end)` (naive
    /// seconds), in time order, one piece per offset.
    pub(crate) fn map_local(&self, local_start: i64, local_end: i64, out: &mut Vec<Piece>) {
        for period in &self.periods {
            let start = period.start.max(local_start - period.offset);
            let end = period.end.min(local_end - period.offset);
            if start < end {
                out.push(Piece {
                    start,
                    end,
                    offset: period.offset,
                });
            }
        }
    }
}
