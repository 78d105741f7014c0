//! Small time types that validate when built: durations in whole minutes, the slot grid, a
//! wall-clock time of day and an absolute UTC interval.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Serialize, Serializer};

use super::error::{ValidationCode, ValidationError};

/// A non-negative whole number of real (elapsed) minutes.
///
/// Bounded by [`Minutes::MAX`] (two years) so that adding any of them to an instant can never
/// overflow, and so a typo such as a buffer of 10,000,000 minutes is refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Minutes(pub(crate) u32);

impl Minutes {
    pub const ZERO: Self = Self(0);
    /// Two years (731 days).
    pub const MAX: Self = Self(731 * 24 * 60);

    /// Refuses negative values and values above [`Minutes::MAX`]. The error's field is
    /// `minutes`; callers rename it with [`ValidationError::for_field`].
    pub fn new(value: i64) -> Result<Self, ValidationError> {
        match u32::try_from(value) {
            Ok(minutes) if minutes <= Self::MAX.0 => Ok(Self(minutes)),
            _ => Err(ValidationError::new(
                "minutes",
                ValidationCode::OutOfRange,
                format!(
                    "must be between 0 and {} minutes (two years), not {value}",
                    Self::MAX.0
                ),
            )),
        }
    }

    /// Whole days; the same bounds as [`Minutes::new`].
    pub fn from_days(days: i64) -> Result<Self, ValidationError> {
        Self::new(days.saturating_mul(24 * 60))
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    pub fn duration(self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.0))
    }

    pub(crate) fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }

    pub(crate) fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Minutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} min", self.0)
    }
}

/// The clinic's slot grid: offered start times are multiples of it in local wall-clock time
/// (09:00, 09:15, … for 15). Only divisors of an hour are allowed, so the grid lines up with
/// every hour of every day and also in zones whose offset is not a whole hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SlotGrid(u32);

impl SlotGrid {
    pub const ALLOWED: [u32; 6] = [5, 10, 15, 20, 30, 60];

    /// The error's field is `slot_grid_minutes`.
    pub fn new(minutes: i64) -> Result<Self, ValidationError> {
        Self::ALLOWED
            .into_iter()
            .find(|allowed| i64::from(*allowed) == minutes)
            .map(Self)
            .ok_or_else(|| {
                ValidationError::new(
                    "slot_grid_minutes",
                    ValidationCode::InvalidSlotGrid,
                    format!("the slot grid must be 5, 10, 15, 20, 30 or 60 minutes, not {minutes}"),
                )
            })
    }

    pub const fn minutes(self) -> u32 {
        self.0
    }

    pub(crate) fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }

    /// Whether `minutes` is a whole number of grid steps.
    pub fn fits(self, minutes: u32) -> bool {
        minutes.is_multiple_of(self.0)
    }
}

impl Default for SlotGrid {
    /// 15 minutes.
    fn default() -> Self {
        Self(15)
    }
}

/// A wall-clock time of day with minute precision, `00:00` to `24:00` inclusive; `24:00` is
/// the end of the day, so a working interval can run until midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(u16);

impl LocalTime {
    pub const MIDNIGHT: Self = Self(0);
    pub const END_OF_DAY: Self = Self(24 * 60);

    /// `None` outside 00:00–24:00.
    pub fn from_hm(hour: u32, minute: u32) -> Option<Self> {
        let total = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && total <= 24 * 60)
            .then(|| u16::try_from(total).ok())
            .flatten()
            .map(Self)
    }

    /// `None` past 24:00.
    pub fn from_minutes(minutes: u32) -> Option<Self> {
        Self::from_hm(minutes / 60, minutes % 60)
    }

    /// Parses `HH:MM` (two digits each). The error's field is `time`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                "time",
                ValidationCode::InvalidTime,
                format!("expected a time of day written HH:MM (00:00 to 24:00), not {text:?}"),
            )
        };
        let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
        let two_digits = |part: &str| {
            (part.len() == 2 && part.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        match (two_digits(hour), two_digits(minute)) {
            (Some(hour), Some(minute)) => Self::from_hm(hour, minute).ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }

    /// Minutes since local midnight (0–1440).
    pub const fn minutes(self) -> u32 {
        self.0 as u32
    }
}

impl FromStr for LocalTime {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An absolute half-open interval `[start, end)` of real time, never empty.
///
/// Used for time off and for existing appointments; two intervals that only touch
/// (one ends at 10:00, the next starts at 10:00) do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Interval {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Interval {
    /// The error's field is `end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, ValidationError> {
        if end > start {
            Ok(Self { start, end })
        } else {
            Err(ValidationError::new(
                "end",
                ValidationCode::EndNotAfterStart,
                format!("the end ({end}) must be after the start ({start})"),
            ))
        }
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    pub fn overlaps(&self, other: &Self) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn duration(&self) -> TimeDelta {
        self.end - self.start
    }
}
