//! Weekly working hours: local wall-clock intervals per weekday for one practitioner at one
//! location, validated when built, and their conversion into real instants on given dates.

use std::collections::BTreeSet;

use crate::ids::LocationId;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize, Serializer};

use super::error::{ValidationCode, ValidationError, ValidationErrors};
use super::time::{LocalTime, SlotGrid};
use super::zone::{OffsetMap, Piece, Zone, naive_midnight};

/// One working interval as entered: a weekday and `HH:MM` wall-clock times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingIntervalInput {
    pub weekday: Weekday,
    /// `HH:MM`, local wall-clock time.
    pub start: String,
    /// `HH:MM`, after `start`; `24:00` for midnight.
    pub end: String,
}

impl WorkingIntervalInput {
    pub fn new(weekday: Weekday, start: &str, end: &str) -> Self {
        Self {
            weekday,
            start: start.to_owned(),
            end: end.to_owned(),
        }
    }
}

/// One working interval as stored: a weekday and minutes since local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredInterval {
    pub weekday: Weekday,
    pub start_minute: u32,
    pub end_minute: u32,
}

/// An ISO weekday number as stored (1 = Monday … 7 = Sunday).
pub fn weekday_from_iso(iso: i16) -> Option<Weekday> {
    Weekday::try_from(u8::try_from(iso.checked_sub(1)?).ok()?).ok()
}

/// One validated working interval `[start, end)` in local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct WorkingInterval {
    pub weekday: Weekday,
    pub start: LocalTime,
    pub end: LocalTime,
}

impl std::fmt::Display for WorkingInterval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}–{}",
            weekday_name(self.weekday),
            self.start,
            self.end
        )
    }
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// A practitioner's weekly hours at one location. Several intervals on one weekday are the
/// day with its breaks; intervals may touch (09:00–12:00 and 12:00–15:00) but not overlap.
///
/// Times must lie on the clinic's slot grid: hours of 09:07–17:00 would make the first offered
/// start 09:15 and confuse whoever reads the schedule. (Availability does not rely on this:
/// if the grid later changes, starts are still rounded up onto the new grid.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyHours {
    /// In input order, so that error field names and stored rows line up.
    intervals: Vec<WorkingInterval>,
    /// Per weekday (Monday first): `(start minute, end minute, index into intervals)`,
    /// sorted by start.
    by_day: [Vec<(u32, u32, usize)>; 7],
}

impl WeeklyHours {
    /// More than ten intervals a day is a data-entry accident, not a schedule.
    pub const MAX_INTERVALS: usize = 70;

    /// Validates every interval and reports every problem, with fields named
    /// `intervals[i].start` and `intervals[i].end`; once every interval is valid on its own,
    /// overlaps are reported on `intervals[i]`, the later of the two in input order.
    pub fn new(input: &[WorkingIntervalInput], grid: SlotGrid) -> Result<Self, ValidationErrors> {
        if input.len() > Self::MAX_INTERVALS {
            return Err(ValidationError::new(
                "intervals",
                ValidationCode::TooMany,
                format!(
                    "at most {} working intervals a week, not {}",
                    Self::MAX_INTERVALS,
                    input.len()
                ),
            )
            .into());
        }
        Self::from_checked(
            input
                .iter()
                .enumerate()
                .map(|(index, item)| parse_interval(index, item, grid)),
        )
    }

    /// Hours as stored, in minutes since local midnight, checked as [`WeeklyHours::new`]
    /// checks typed ones (the grid may have changed since they were saved) without writing
    /// and parsing `HH:MM` text on the way.
    pub fn from_stored(
        stored: &[StoredInterval],
        grid: SlotGrid,
    ) -> Result<Self, ValidationErrors> {
        Self::from_checked(stored.iter().enumerate().map(|(index, item)| {
            let time = |part: &str, minutes: u32| {
                LocalTime::from_minutes(minutes).ok_or_else(|| {
                    ValidationError::new(
                        format!("intervals[{index}].{part}"),
                        ValidationCode::InvalidTime,
                        format!("{minutes} minutes is not a time of day"),
                    )
                })
            };
            let (start, end) = both(
                time("start", item.start_minute),
                time("end", item.end_minute),
            )?;
            check_interval(index, item.weekday, start, end, grid)
        }))
    }

    /// The hours from intervals each checked on its own (in input order), once none has a
    /// problem and none overlaps another; otherwise every problem.
    fn from_checked(
        checked: impl Iterator<Item = Result<WorkingInterval, ValidationErrors>>,
    ) -> Result<Self, ValidationErrors> {
        let mut found: Vec<(usize, ValidationError)> = Vec::new();
        let mut intervals = Vec::new();
        for (index, interval) in checked.enumerate() {
            match interval {
                Ok(interval) => intervals.push(interval),
                Err(errors) => found.extend(errors.into_iter().map(|error| (index, error))),
            }
        }
        if !found.is_empty() {
            return Err(into_errors(found));
        }
        let hours = Self::from_intervals(intervals);
        found.extend(hours.overlaps());
        if found.is_empty() {
            Ok(hours)
        } else {
            Err(into_errors(found))
        }
    }

    fn from_intervals(intervals: Vec<WorkingInterval>) -> Self {
        let mut by_day: [Vec<(u32, u32, usize)>; 7] = Default::default();
        for (index, interval) in intervals.iter().enumerate() {
            by_day[day_index(interval.weekday)].push((
                interval.start.minutes(),
                interval.end.minutes(),
                index,
            ));
        }
        for day in &mut by_day {
            day.sort_unstable();
        }
        Self { intervals, by_day }
    }

    /// Overlapping pairs on one weekday, reported on the later one in input order.
    fn overlaps(&self) -> Vec<(usize, ValidationError)> {
        let mut found = Vec::new();
        for day in &self.by_day {
            for (position, &(start, end, index)) in day.iter().enumerate() {
                for &(other_start, other_end, other) in &day[position + 1..] {
                    if other_start >= end {
                        break;
                    }
                    if start < other_end {
                        let (later, earlier) = (index.max(other), index.min(other));
                        found.push((
                            later,
                            ValidationError::new(
                                format!("intervals[{later}]"),
                                ValidationCode::Overlapping,
                                format!(
                                    "{} overlaps {} (intervals[{earlier}])",
                                    self.intervals[later], self.intervals[earlier]
                                ),
                            ),
                        ));
                    }
                }
            }
        }
        found
    }

    /// The intervals in input order.
    pub fn intervals(&self) -> &[WorkingInterval] {
        &self.intervals
    }

    /// The intervals of one weekday, sorted by start.
    pub fn on(&self, weekday: Weekday) -> impl Iterator<Item = &WorkingInterval> {
        self.by_day[day_index(weekday)]
            .iter()
            .map(|&(_, _, index)| &self.intervals[index])
    }

    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }
}

impl Serialize for WeeklyHours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.intervals.serialize(serializer)
    }
}

fn day_index(weekday: Weekday) -> usize {
    weekday.num_days_from_monday() as usize
}

fn into_errors(mut found: Vec<(usize, ValidationError)>) -> ValidationErrors {
    found.sort_by_key(|(index, _)| *index);
    let mut errors = ValidationErrors::default();
    errors.extend(found.into_iter().map(|(_, error)| error));
    errors
}

fn parse_interval(
    index: usize,
    item: &WorkingIntervalInput,
    grid: SlotGrid,
) -> Result<WorkingInterval, ValidationErrors> {
    let field = |part: &str| format!("intervals[{index}].{part}");
    let start = LocalTime::parse(&item.start).map_err(|error| error.for_field(field("start")));
    let end = LocalTime::parse(&item.end).map_err(|error| error.for_field(field("end")));
    let (start, end) = both(start, end)?;
    check_interval(index, item.weekday, start, end, grid)
}

/// Both times, or the problems of either.
fn both(
    start: Result<LocalTime, ValidationError>,
    end: Result<LocalTime, ValidationError>,
) -> Result<(LocalTime, LocalTime), ValidationErrors> {
    match (start, end) {
        (Ok(start), Ok(end)) => Ok((start, end)),
        (start, end) => {
            let mut errors = ValidationErrors::default();
            errors.extend(start.err());
            errors.extend(end.err());
            Err(errors)
        }
    }
}

/// An interval's times, already read, checked: the end after the start, both on the grid.
fn check_interval(
    index: usize,
    weekday: Weekday,
    start: LocalTime,
    end: LocalTime,
    grid: SlotGrid,
) -> Result<WorkingInterval, ValidationErrors> {
    let field = |part: &str| format!("intervals[{index}].{part}");
    let mut errors = ValidationErrors::default();
    if end <= start {
        errors.push(ValidationError::new(
            field("end"),
            ValidationCode::EndNotAfterStart,
            format!("the end ({end}) must be after the start ({start}) on the same day"),
        ));
    }
    for (part, time) in [("start", start), ("end", end)] {
        if !grid.fits(time.minutes()) {
            errors.push(ValidationError::new(
                field(part),
                ValidationCode::OffGrid,
                format!(
                    "{time} is not on the clinic's {}-minute slot grid",
                    grid.minutes()
                ),
            ));
        }
    }
    errors.into_result(WorkingInterval {
        weekday,
        start,
        end,
    })
}

/// A practitioner's weekly hours at one location, with the location's zone: what
/// availability needs to turn wall-clock hours into instants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocationHours {
    pub location_id: LocationId,
    pub zone: Zone,
    pub hours: WeeklyHours,
}

/// A stretch of real working time at one location, with the offset in force and the
/// interval and local date it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkPiece {
    pub piece: Piece,
    pub interval: usize,
    pub date: NaiveDate,
}

impl LocationHours {
    /// How far ahead [`LocationHours::check_against`] compares real instants: a year and a
    /// week, so both the summer and the winter offsets of both zones are seen.
    pub const OVERLAP_CHECK_DAYS: u64 = 371;

    /// The real working time on local dates `first..=last`, sorted by start.
    pub(crate) fn pieces(&self, first: NaiveDate, last: NaiveDate) -> Vec<WorkPiece> {
        let map = OffsetMap::for_dates(self.zone.tz(), first, last);
        let mut out = Vec::new();
        let mut buffer = Vec::new();
        for date in first.iter_days().take_while(|date| *date <= last) {
            let midnight = naive_midnight(date);
            for &(start, end, interval) in &self.hours.by_day[day_index(date.weekday())] {
                buffer.clear();
                map.map_local(
                    midnight + i64::from(start) * 60,
                    midnight + i64::from(end) * 60,
                    &mut buffer,
                );
                out.extend(buffer.iter().map(|&piece| WorkPiece {
                    piece,
                    interval,
                    date,
                }));
            }
        }
        out.sort_by_key(|work| (work.piece.start, work.piece.end));
        out
    }

    /// Refuses intervals that overlap, in real time, the same practitioner's hours at the
    /// other locations (entries with this location's id are skipped, so a caller can pass
    /// all stored hours, including the ones being replaced).
    ///
    /// Locations can be in different zones, whose offsets differ by season, so the check is
    /// made on instants over [`Self::OVERLAP_CHECK_DAYS`] days from `from` (pass the clinic's
    /// today). Errors are on `intervals[i]` of `self`, one per interval and other location.
    pub fn check_against(&self, others: &[Self], from: NaiveDate) -> Result<(), ValidationErrors> {
        let last = from
            .checked_add_days(Days::new(Self::OVERLAP_CHECK_DAYS - 1))
            .unwrap_or(from);
        let mine = self.pieces(from, last);
        let mut reported = BTreeSet::new();
        let mut found = Vec::new();
        for other in others
            .iter()
            .filter(|other| other.location_id != self.location_id)
        {
            let theirs = other.pieces(from, last);
            for (work, clash) in overlapping_pairs(&mine, &theirs) {
                if reported.insert((work.interval, other.location_id)) {
                    found.push((
                        work.interval,
                        ValidationError::new(
                            format!("intervals[{}]", work.interval),
                            ValidationCode::OverlapsOtherLocation,
                            format!(
                                "{} overlaps {} at location {} (first on {})",
                                self.hours.intervals[work.interval],
                                other.hours.intervals[clash.interval],
                                other.location_id,
                                work.date
                            ),
                        ),
                    ));
                }
            }
        }
        if found.is_empty() {
            Ok(())
        } else {
            Err(into_errors(found))
        }
    }
}

/// Every pair of overlapping pieces of two sorted, internally disjoint lists.
fn overlapping_pairs<'a>(
    mine: &'a [WorkPiece],
    theirs: &'a [WorkPiece],
) -> Vec<(&'a WorkPiece, &'a WorkPiece)> {
    let mut pairs = Vec::new();
    let (mut i, mut j) = (0, 0);
    while let (Some(a), Some(b)) = (mine.get(i), theirs.get(j)) {
        if a.piece.start < b.piece.end && b.piece.start < a.piece.end {
            pairs.push((a, b));
        }
        if a.piece.end <= b.piece.end {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Checks all of one practitioner's locations against each other (see
/// [`LocationHours::check_against`]); fields are `locations[i].intervals[j]`.
pub fn check_practitioner_hours(
    locations: &[LocationHours],
    from: NaiveDate,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    for (index, location) in locations.iter().enumerate() {
        if let Err(found) = location.check_against(&locations[index + 1..], from) {
            errors.extend(found.into_iter().map(|error| {
                let field = format!("locations[{index}].{}", error.field);
                error.for_field(field)
            }));
        }
    }
    errors.into_result(())
}

/// A location a practitioner works at, with its zone: where their hours may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workplace {
    pub location_id: LocationId,
    pub zone: Zone,
}

/// One location's weekly hours as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationHoursInput {
    pub location_id: LocationId,
    pub intervals: Vec<WorkingIntervalInput>,
}

/// Checks a practitioner's whole week as entered, every problem at once: each location must
/// be one of their `workplaces` (`locations[i].location_id`), each location's hours valid on
/// the grid (`locations[i].intervals[j]…`, as [`WeeklyHours::new`]), and once all are, no
/// interval may overlap in real time one at another location (as [`check_practitioner_hours`]
/// from `from`, the clinic's today).
pub fn check_weekly_schedule(
    input: &[LocationHoursInput],
    workplaces: &[Workplace],
    grid: SlotGrid,
    from: NaiveDate,
) -> Result<Vec<LocationHours>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let mut checked = Vec::with_capacity(input.len());
    for (index, entry) in input.iter().enumerate() {
        let field = format!("locations[{index}]");
        let Some(workplace) = workplaces
            .iter()
            .find(|workplace| workplace.location_id == entry.location_id)
        else {
            errors.push(ValidationError::new(
                format!("{field}.location_id"),
                ValidationCode::Required,
                "The practitioner does not work at this location.",
            ));
            continue;
        };
        match WeeklyHours::new(&entry.intervals, grid) {
            Ok(hours) => checked.push(LocationHours {
                location_id: workplace.location_id,
                zone: workplace.zone,
                hours,
            }),
            Err(found) => errors.extend(found.into_iter().map(|error| {
                let prefixed = format!("{field}.{}", error.field);
                error.for_field(prefixed)
            })),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    check_practitioner_hours(&checked, from)?;
    Ok(checked)
}
