//! Availability: the free start instants of an appointment type over a range of local dates,
//! per practitioner and location.
//!
//! A start `s` is offered when, with `occupied = [s, s + duration + buffer after)`:
//!
//! * `s` reads on the location's clock as a multiple of the slot grid (09:00, 09:15, …);
//! * `occupied` lies entirely inside working time at that location (touching intervals, such
//!   as 09:00–12:00 and 12:00–15:00, count as one stretch);
//! * `occupied` overlaps no time off and no existing appointment extended by its own buffer;
//! * `s` is inside the actor's [`BookingWindow`] (minimum notice for patients, horizon);
//! * the local date of `s` is in the requested range.
//!
//! All arithmetic is on instants, so a 60-minute slot is 60 real minutes on any day; see
//! the module documentation for how wall-clock hours become instants on DST days.

use crate::ids::{LocationId, PractitionerId};
use chrono::{DateTime, Days, FixedOffset, NaiveDate, Offset, Utc};
use serde::Serialize;

use super::clinic::{
    Actor, AppointmentType, BookingWindow, ClinicPolicies, Discipline, add_saturating,
};
use super::error::{ValidationCode, ValidationError, ValidationErrors};
use super::hours::{LocationHours, WorkPiece};
use super::time::{Interval, Minutes};
use super::zone::{WallClock, Zone, naive_midnight};

/// The longest date range one query may cover, so a request cannot ask for years of slots.
pub const MAX_RANGE_DAYS: i64 = 62;

/// What to compute availability for.
#[derive(Debug, Clone, Copy)]
pub struct AvailabilityQuery<'a> {
    pub appointment_type: &'a AppointmentType,
    /// First local date (in each location's zone), inclusive.
    pub from: NaiveDate,
    /// Last local date, inclusive.
    pub to: NaiveDate,
    /// Patients get the minimum notice; see [`ClinicPolicies::booking_window`].
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

/// An existing appointment (booked or checked in) as it blocks the calendar: its own
/// `[start, end)` plus the buffer after it of its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Busy {
    pub interval: Interval,
    pub buffer_after: Minutes,
}

impl Busy {
    /// The error's field is `end`.
    pub fn new(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        buffer_after: Minutes,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            interval: Interval::new(start, end)?,
            buffer_after,
        })
    }

    /// The end of the appointment plus its buffer: nothing else can start before this.
    pub fn blocked_until(&self) -> DateTime<Utc> {
        add_saturating(self.interval.end(), self.buffer_after.duration())
    }
}

/// Everything availability needs about one practitioner. Load time off and appointments that
/// overlap the query's dates, with a day's margin on each side (see
/// [`AvailabilityQuery::load_window`]); passing more is correct, only slower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PractitionerCalendar {
    pub practitioner_id: PractitionerId,
    pub discipline: Discipline,
    /// Weekly hours at each location where the practitioner works.
    pub locations: Vec<LocationHours>,
    pub time_off: Vec<Interval>,
    /// Active appointments at any location: a practitioner is in one place at a time.
    pub busy: Vec<Busy>,
}

/// One offered start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub practitioner_id: PractitionerId,
    pub location_id: LocationId,
    pub start: DateTime<Utc>,
    /// `start` + duration: the appointment's end.
    pub end: DateTime<Utc>,
    /// `end` + buffer after: store it with the appointment so the database constraint
    /// covers the buffer as well.
    pub blocked_until: DateTime<Utc>,
    /// The start on the location's clock, with the offset in force (RFC 3339).
    pub local_start: DateTime<FixedOffset>,
    /// `EST`/`EDT`, `GMT`/`BST`: tells the two 01:30s of a fall-back night apart.
    pub abbreviation: String,
    pub time_zone: Zone,
}

impl Slot {
    /// Any instant of this slot's location, as read on its clock (for emails).
    pub fn wall_clock(&self) -> WallClock {
        self.time_zone.wall_clock(self.start)
    }

    fn key(&self) -> (DateTime<Utc>, PractitionerId, LocationId) {
        (self.start, self.practitioner_id, self.location_id)
    }
}

/// Offered slots, sorted by start, then practitioner id, then location id, without
/// duplicates; the same inputs always give the same list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Availability {
    slots: Vec<Slot>,
}

impl Availability {
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn into_slots(self) -> Vec<Slot> {
        self.slots
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The offered slot starting at `start` with this practitioner at this location.
    pub fn find(
        &self,
        practitioner_id: PractitionerId,
        location_id: LocationId,
        start: DateTime<Utc>,
    ) -> Option<&Slot> {
        let first = self.slots.partition_point(|slot| slot.start < start);
        self.slots[first..]
            .iter()
            .take_while(|slot| slot.start == start)
            .find(|slot| slot.practitioner_id == practitioner_id && slot.location_id == location_id)
    }

    /// One practitioner's slots, in order.
    pub fn for_practitioner(&self, practitioner_id: PractitionerId) -> impl Iterator<Item = &Slot> {
        self.slots
            .iter()
            .filter(move |slot| slot.practitioner_id == practitioner_id)
    }

    /// Up to `limit` slots starting after `after`, optionally of one practitioner: what a 409
    /// for a lost slot suggests instead.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        practitioner_id: Option<PractitionerId>,
        limit: usize,
    ) -> Vec<&Slot> {
        let first = self.slots.partition_point(|slot| slot.start <= after);
        self.slots[first..]
            .iter()
            .filter(|slot| practitioner_id.is_none_or(|id| slot.practitioner_id == id))
            .take(limit)
            .collect()
    }
}

impl AvailabilityQuery<'_> {
    /// The instants whose time off and appointments matter to this query: the dates widened by
    /// a day and a half on each side (zones are at most 14 hours from UTC). Load busy
    /// intervals and time off overlapping this interval.
    pub fn load_window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        Self::load_window_of(self.from, self.to)
    }

    /// [`Self::load_window`] of a query over the dates `from..=to`, before the query exists.
    pub fn load_window_of(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let margin = 36 * 3600;
        let from = naive_midnight(from) - margin;
        let to = naive_midnight(to) + 24 * 3600 + margin;
        (
            DateTime::from_timestamp(from, 0).unwrap_or(DateTime::<Utc>::MIN_UTC),
            DateTime::from_timestamp(to, 0).unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    /// A window covering [`Self::load_window_of`] the local date of `instant` in any zone, for
    /// loading before the zone is known: the days either side of its UTC date (its local date
    /// is one of them).
    pub fn load_window_around(instant: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let utc_date = instant.date_naive();
        Self::load_window_of(
            utc_date.pred_opt().unwrap_or(utc_date),
            utc_date.succ_opt().unwrap_or(utc_date),
        )
    }

    /// Checks the query itself; fields `appointment_type`, `from`, `to`.
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if !self.appointment_type.is_active() {
            errors.push(ValidationError::new(
                "appointment_type",
                ValidationCode::Inactive,
                format!(
                    "the appointment type {:?} is no longer offered",
                    self.appointment_type.name()
                ),
            ));
        }
        let days = (self.to - self.from).num_days() + 1;
        if days < 1 {
            errors.push(ValidationError::new(
                "to",
                ValidationCode::EndNotAfterStart,
                format!(
                    "the last date ({}) is before the first ({})",
                    self.to, self.from
                ),
            ));
        } else if days > MAX_RANGE_DAYS {
            errors.push(ValidationError::new(
                "to",
                ValidationCode::RangeTooLong,
                format!("at most {MAX_RANGE_DAYS} days at a time, not {days}"),
            ));
        }
        for (field, date) in [("from", self.from), ("to", self.to)] {
            if date
                .pred_opt()
                .and_then(|date| date.succ_opt()?.succ_opt())
                .is_none()
            {
                errors.push(ValidationError::new(
                    field,
                    ValidationCode::OutOfRange,
                    format!("{date} is too far from today"),
                ));
            }
        }
        errors.into_result(())
    }
}

/// The free starts of `query.appointment_type` for every practitioner of its discipline in
/// `calendars` (others are skipped, so a caller can pass everyone at a location).
///
/// Fails only on the query itself: an inactive type, `to` before `from`, or more than
/// [`MAX_RANGE_DAYS`] days.
pub fn availability(
    query: &AvailabilityQuery<'_>,
    policies: &ClinicPolicies,
    calendars: &[PractitionerCalendar],
) -> Result<Availability, ValidationErrors> {
    query.validate()?;
    let needs = Needs::new(query, policies);
    let mut slots = Vec::new();
    for calendar in calendars
        .iter()
        .filter(|calendar| calendar.discipline == query.appointment_type.discipline())
    {
        let blocked = blocked_intervals(calendar, query);
        for location in &calendar.locations {
            location_slots(
                calendar.practitioner_id,
                location,
                &needs,
                &blocked,
                &mut slots,
            );
        }
    }
    slots.sort_by_key(Slot::key);
    slots.dedup_by_key(|slot| slot.key());
    Ok(Availability { slots })
}

/// The query reduced to numbers (seconds since the epoch, UTC).
struct Needs {
    /// Duration plus buffer after.
    occupies: i64,
    duration: i64,
    grid: i64,
    earliest: i64,
    latest: i64,
    from: NaiveDate,
    to: NaiveDate,
}

impl Needs {
    fn new(query: &AvailabilityQuery<'_>, policies: &ClinicPolicies) -> Self {
        let BookingWindow { earliest, latest } = policies.booking_window(query.actor, query.now);
        let kind = query.appointment_type;
        Self {
            occupies: kind.occupies().seconds(),
            duration: kind.duration().seconds(),
            grid: policies.slot_grid().seconds(),
            // Starts are whole seconds: the first one at or after `earliest`.
            earliest: ceil_seconds(earliest),
            latest: ceil_seconds(latest),
            from: query.from,
            to: query.to,
        }
    }
}

/// Time off and appointments (with their buffers) that could touch the query, as sorted,
/// merged, disjoint `[start, end)` seconds.
fn blocked_intervals(
    calendar: &PractitionerCalendar,
    query: &AvailabilityQuery<'_>,
) -> Vec<(i64, i64)> {
    let (window_start, window_end) = query.load_window();
    let relevant =
        |start: DateTime<Utc>, end: DateTime<Utc>| start < window_end && end > window_start;
    let mut blocked: Vec<(i64, i64)> = calendar
        .time_off
        .iter()
        .map(|off| (off.start(), off.end()))
        .chain(
            calendar
                .busy
                .iter()
                .map(|busy| (busy.interval.start(), busy.blocked_until())),
        )
        .filter(|&(start, end)| relevant(start, end))
        .map(|(start, end)| (start.timestamp(), ceil_seconds(end)))
        .collect();
    blocked.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(blocked.len());
    for (start, end) in blocked {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Whole seconds, rounded up, so a blocked interval ending at 10:00:00.5 still blocks 10:00:00.
fn ceil_seconds(instant: DateTime<Utc>) -> i64 {
    instant.timestamp() + i64::from(instant.timestamp_subsec_nanos() > 0)
}

/// Whether `[start, end)` misses every interval of a sorted, disjoint list.
fn is_free(blocked: &[(i64, i64)], start: i64, end: i64) -> bool {
    let next = blocked.partition_point(|&(_, blocked_end)| blocked_end <= start);
    blocked
        .get(next)
        .is_none_or(|&(blocked_start, _)| blocked_start >= end)
}

/// What the slot search at one location of one practitioner works with.
struct Search<'a> {
    practitioner_id: PractitionerId,
    location: &'a LocationHours,
    needs: &'a Needs,
    /// Sorted, disjoint.
    blocked: &'a [(i64, i64)],
}

/// The offered slots of one practitioner at one location.
fn location_slots(
    practitioner_id: PractitionerId,
    location: &LocationHours,
    needs: &Needs,
    blocked: &[(i64, i64)],
    out: &mut Vec<Slot>,
) {
    let search = Search {
        practitioner_id,
        location,
        needs,
        blocked,
    };
    // A day either side, so a slot starting late on the last date may run past midnight into
    // the next day's hours, and the first date's early hours join the evening before.
    let first = needs
        .from
        .checked_sub_days(Days::new(1))
        .unwrap_or(needs.from);
    let last = needs.to.checked_add_days(Days::new(1)).unwrap_or(needs.to);
    let pieces = location.pieces(first, last);
    for run in runs(&pieces) {
        let run_end = run
            .iter()
            .map(|work| work.piece.end)
            .max()
            .unwrap_or(i64::MIN);
        for work in run
            .iter()
            .filter(|work| (needs.from..=needs.to).contains(&work.date))
        {
            search.piece_slots(work, run_end, out);
        }
    }
}

/// Splits sorted pieces into runs of continuous working time (each piece starting at or
/// before the end of the run so far).
fn runs(pieces: &[WorkPiece]) -> Vec<&[WorkPiece]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut end = i64::MIN;
    for (index, work) in pieces.iter().enumerate() {
        if index > start && work.piece.start > end {
            runs.push(&pieces[start..index]);
            start = index;
        }
        end = if index == start {
            work.piece.end
        } else {
            end.max(work.piece.end)
        };
    }
    if start < pieces.len() {
        runs.push(&pieces[start..]);
    }
    runs
}

impl Search<'_> {
    /// Grid-aligned starts inside one piece (one offset, so stepping in real time is stepping
    /// on the wall clock) whose occupied time ends within the run.
    fn piece_slots(&self, work: &WorkPiece, run_end: i64, out: &mut Vec<Slot>) {
        let needs = self.needs;
        let piece = work.piece;
        let from = piece.start.max(needs.earliest);
        // Align on the wall clock: local midnight is a multiple of every grid step.
        let mut start = align_up(from + piece.offset, needs.grid) - piece.offset;
        // The offset and abbreviation are the same throughout a piece: look them up once.
        let mut display: Option<(FixedOffset, String)> = None;
        while start < piece.end && start < needs.latest && start + needs.occupies <= run_end {
            if is_free(self.blocked, start, start + needs.occupies) {
                let (offset, abbreviation) = display
                    .get_or_insert_with(|| display_offset(self.location.zone, start, piece.offset));
                out.extend(self.slot(start, *offset, abbreviation));
            }
            start += needs.grid;
        }
    }

    fn slot(&self, start: i64, offset: FixedOffset, abbreviation: &str) -> Option<Slot> {
        let utc = |seconds: i64| DateTime::from_timestamp(seconds, 0);
        let start_utc = utc(start)?;
        Some(Slot {
            practitioner_id: self.practitioner_id,
            location_id: self.location.location_id,
            start: start_utc,
            end: utc(start + self.needs.duration)?,
            blocked_until: utc(start + self.needs.occupies)?,
            local_start: start_utc.with_timezone(&offset),
            abbreviation: abbreviation.to_owned(),
            time_zone: self.location.zone,
        })
    }
}

fn align_up(value: i64, step: i64) -> i64 {
    let remainder = value.rem_euclid(step);
    if remainder == 0 {
        value
    } else {
        value - remainder + step
    }
}

/// The fixed offset and abbreviation of a piece, looked up once per piece.
fn display_offset(zone: Zone, instant: i64, offset: i64) -> (FixedOffset, String) {
    let fixed = i32::try_from(offset)
        .ok()
        .and_then(FixedOffset::east_opt)
        .unwrap_or(Utc.fix());
    let abbreviation = DateTime::from_timestamp(instant, 0)
        .map_or_else(String::new, |utc| zone.wall_clock(utc).abbreviation);
    (fixed, abbreviation)
}
