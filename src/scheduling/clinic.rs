//! Clinic setup: disciplines, appointment types, clinic policies and time off, each validated
//! when built so the rest of the module never sees a nonsensical value.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ValidationCode, ValidationError, ValidationErrors};
use super::time::{Interval, Minutes, SlotGrid};

/// What a practitioner practises and what an appointment type is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discipline {
    Chiropractic,
    Physiotherapy,
}

impl Discipline {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chiropractic => "chiropractic",
            Self::Physiotherapy => "physiotherapy",
        }
    }

    /// "a chiropractor", "a physiotherapist": for messages.
    pub(crate) fn practitioner(self) -> &'static str {
        match self {
            Self::Chiropractic => "a chiropractor",
            Self::Physiotherapy => "a physiotherapist",
        }
    }
}

impl fmt::Display for Discipline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking. Some rules are for patients booking for themselves; staff (front desk,
/// practitioners, admins acting on a patient's behalf) are trusted with more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Patient,
    Staff,
}

fn required_text(field: &str, value: &str, max_chars: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(
            field,
            ValidationCode::Required,
            "must not be empty",
        ));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            ValidationCode::TooLong,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn on_grid(field: &str, minutes: Minutes, grid: SlotGrid) -> Result<Minutes, ValidationError> {
    if grid.fits(minutes.get()) {
        Ok(minutes)
    } else {
        Err(ValidationError::new(
            field,
            ValidationCode::OffGrid,
            format!(
                "{} minutes is not a multiple of the clinic's {}-minute slot grid",
                minutes.get(),
                grid.minutes()
            ),
        ))
    }
}

/// The value, or `None` with the error recorded.
fn take<T>(errors: &mut ValidationErrors, result: Result<T, ValidationError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

fn minutes_in(field: &str, value: i64, min: i64, max: i64) -> Result<Minutes, ValidationError> {
    if (min..=max).contains(&value) {
        Minutes::new(value).map_err(|error| error.for_field(field))
    } else {
        Err(ValidationError::new(
            field,
            ValidationCode::OutOfRange,
            format!("must be between {min} and {max}, not {value}"),
        ))
    }
}

/// An appointment type as entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentTypeInput {
    pub name: String,
    pub discipline: Discipline,
    pub duration_minutes: i64,
    /// Time kept free after the appointment (notes, cleaning, room change).
    pub buffer_after_minutes: i64,
    /// For a patient's first visit in the discipline (a longer assessment).
    pub new_patient: bool,
    /// Inactive types are kept for history but neither offered nor bookable.
    pub active: bool,
}

/// A validated appointment type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppointmentType {
    name: String,
    discipline: Discipline,
    duration: Minutes,
    buffer_after: Minutes,
    new_patient: bool,
    active: bool,
}

impl AppointmentType {
    pub const MAX_NAME_CHARS: usize = 100;
    pub const MAX_DURATION_MINUTES: i64 = 8 * 60;
    pub const MAX_BUFFER_MINUTES: i64 = 4 * 60;

    /// Validates against the clinic's grid: a duration must be a whole number of grid steps,
    /// so an appointment ends on the grid and the next one can start right after it. The
    /// buffer need not be: the next start is rounded up onto the grid anyway.
    pub fn new(input: AppointmentTypeInput, grid: SlotGrid) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = take(
            &mut errors,
            required_text("name", &input.name, Self::MAX_NAME_CHARS),
        );
        let duration = take(
            &mut errors,
            minutes_in(
                "duration_minutes",
                input.duration_minutes,
                1,
                Self::MAX_DURATION_MINUTES,
            )
            .and_then(|duration| on_grid("duration_minutes", duration, grid)),
        );
        let buffer_after = take(
            &mut errors,
            minutes_in(
                "buffer_after_minutes",
                input.buffer_after_minutes,
                0,
                Self::MAX_BUFFER_MINUTES,
            ),
        );
        match (name, duration, buffer_after) {
            (Some(name), Some(duration), Some(buffer_after)) => Ok(Self {
                name,
                discipline: input.discipline,
                duration,
                buffer_after,
                new_patient: input.new_patient,
                active: input.active,
            }),
            _ => Err(errors),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn discipline(&self) -> Discipline {
        self.discipline
    }

    pub fn duration(&self) -> Minutes {
        self.duration
    }

    pub fn buffer_after(&self) -> Minutes {
        self.buffer_after
    }

    /// Duration plus buffer: how long the practitioner's calendar is blocked.
    pub fn occupies(&self) -> Minutes {
        self.duration.saturating_add(self.buffer_after)
    }

    pub fn is_new_patient(&self) -> bool {
        self.new_patient
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The same type, active or not (types are retired, never deleted).
    #[must_use]
    pub fn with_active(mut self, active: bool) -> Self {
        self.active = active;
        self
    }
}

/// Clinic policies as entered. Units are in the field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicPoliciesInput {
    /// 5, 10, 15, 20, 30 or 60.
    pub slot_grid_minutes: i64,
    /// How long before a start a patient can still book it online.
    pub min_notice_minutes: i64,
    /// How far ahead anyone can book.
    pub horizon_days: i64,
    /// Inside this long before the start, patients cannot reschedule and cancellations are
    /// late.
    pub cancellation_window_minutes: i64,
    /// How long before the start the reminder email is sent.
    pub reminder_lead_minutes: i64,
    /// How long after a completed visit the follow-up questionnaire is sent.
    pub follow_up_delay_days: i64,
}

/// Validated clinic policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClinicPolicies {
    slot_grid: SlotGrid,
    min_notice: Minutes,
    horizon: Minutes,
    cancellation_window: Minutes,
    reminder_lead: Minutes,
    follow_up_delay: Minutes,
}

impl ClinicPolicies {
    pub const MAX_NOTICE_MINUTES: i64 = 30 * 24 * 60;
    pub const MAX_HORIZON_DAYS: i64 = 730;
    pub const MAX_CANCELLATION_WINDOW_MINUTES: i64 = 14 * 24 * 60;
    pub const MAX_REMINDER_LEAD_MINUTES: i64 = 14 * 24 * 60;
    pub const MAX_FOLLOW_UP_DELAY_DAYS: i64 = 365;

    /// Validates every field and reports every problem. The minimum notice must be shorter
    /// than the horizon, or nothing could ever be booked online.
    pub fn new(input: ClinicPoliciesInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let slot_grid = take(&mut errors, SlotGrid::new(input.slot_grid_minutes));
        let min_notice = take(
            &mut errors,
            minutes_in(
                "min_notice_minutes",
                input.min_notice_minutes,
                0,
                Self::MAX_NOTICE_MINUTES,
            ),
        );
        let horizon = take(
            &mut errors,
            minutes_in(
                "horizon_days",
                input.horizon_days,
                1,
                Self::MAX_HORIZON_DAYS,
            )
            .and_then(|_| Minutes::from_days(input.horizon_days)),
        );
        let cancellation_window = take(
            &mut errors,
            minutes_in(
                "cancellation_window_minutes",
                input.cancellation_window_minutes,
                0,
                Self::MAX_CANCELLATION_WINDOW_MINUTES,
            ),
        );
        let reminder_lead = take(
            &mut errors,
            minutes_in(
                "reminder_lead_minutes",
                input.reminder_lead_minutes,
                1,
                Self::MAX_REMINDER_LEAD_MINUTES,
            ),
        );
        let follow_up_delay = take(
            &mut errors,
            minutes_in(
                "follow_up_delay_days",
                input.follow_up_delay_days,
                1,
                Self::MAX_FOLLOW_UP_DELAY_DAYS,
            )
            .and_then(|_| Minutes::from_days(input.follow_up_delay_days)),
        );
        if let (Some(notice), Some(horizon)) = (min_notice, horizon)
            && notice >= horizon
        {
            errors.push(ValidationError::new(
                "min_notice_minutes",
                ValidationCode::OutOfRange,
                "the minimum notice must be shorter than the booking horizon",
            ));
        }
        match (
            slot_grid,
            min_notice,
            horizon,
            cancellation_window,
            reminder_lead,
            follow_up_delay,
        ) {
            (
                Some(slot_grid),
                Some(min_notice),
                Some(horizon),
                Some(cancellation_window),
                Some(reminder_lead),
                Some(follow_up_delay),
            ) if errors.is_empty() => Ok(Self {
                slot_grid,
                min_notice,
                horizon,
                cancellation_window,
                reminder_lead,
                follow_up_delay,
            }),
            _ => Err(errors),
        }
    }

    /// The values as entered, for storing and echoing back.
    pub fn to_input(&self) -> ClinicPoliciesInput {
        let days = |minutes: Minutes| i64::from(minutes.get() / (24 * 60));
        ClinicPoliciesInput {
            slot_grid_minutes: i64::from(self.slot_grid.minutes()),
            min_notice_minutes: i64::from(self.min_notice.get()),
            horizon_days: days(self.horizon),
            cancellation_window_minutes: i64::from(self.cancellation_window.get()),
            reminder_lead_minutes: i64::from(self.reminder_lead.get()),
            follow_up_delay_days: days(self.follow_up_delay),
        }
    }

    pub fn slot_grid(&self) -> SlotGrid {
        self.slot_grid
    }

    pub fn min_notice(&self) -> Minutes {
        self.min_notice
    }

    pub fn horizon(&self) -> Minutes {
        self.horizon
    }

    pub fn cancellation_window(&self) -> Minutes {
        self.cancellation_window
    }

    pub fn reminder_lead(&self) -> Minutes {
        self.reminder_lead
    }

    pub fn follow_up_delay(&self) -> Minutes {
        self.follow_up_delay
    }

    /// Which starts `actor` may book at `now`. Patients need the minimum notice; staff can
    /// book anything not yet begun (a walk-in, a same-hour gap). The horizon applies to
    /// everyone: hours that far out may still change.
    pub fn booking_window(&self, actor: Actor, now: DateTime<Utc>) -> BookingWindow {
        let notice = match actor {
            Actor::Patient => self.min_notice,
            Actor::Staff => Minutes::ZERO,
        };
        BookingWindow {
            earliest: add_saturating(now, notice.duration()),
            latest: add_saturating(now, self.horizon.duration()),
        }
    }
}

impl Default for ClinicPolicies {
    /// A 15-minute grid, 2 hours' notice, 90 days ahead, a 24-hour cancellation window and
    /// reminder, and the follow-up questionnaire 14 days after a visit.
    fn default() -> Self {
        Self {
            slot_grid: SlotGrid::default(),
            min_notice: Minutes(120),
            horizon: Minutes(90 * 24 * 60),
            cancellation_window: Minutes(24 * 60),
            reminder_lead: Minutes(24 * 60),
            follow_up_delay: Minutes(14 * 24 * 60),
        }
    }
}

/// `instant + delta`, or the latest representable instant: policy arithmetic must not panic
/// whatever `now` a caller passes.
pub(crate) fn add_saturating(instant: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    instant
        .checked_add_signed(delta)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn sub_saturating(instant: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    instant
        .checked_sub_signed(delta)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The starts one actor may book now: `earliest <= start < latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BookingWindow {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

impl BookingWindow {
    pub fn contains(&self, start: DateTime<Utc>) -> bool {
        self.earliest <= start && start < self.latest
    }
}

/// A practitioner's absence (holiday, training, illness) as an absolute interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeOff {
    interval: Interval,
    reason: String,
}

impl TimeOff {
    pub const MAX_REASON_CHARS: usize = 200;

    /// Fields `end` and `reason`. The reason is for colleagues; it is never shown to patients.
    pub fn new(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: &str,
    ) -> Result<Self, ValidationErrors> {
        let interval = Interval::new(start, end);
        let reason = required_text("reason", reason, Self::MAX_REASON_CHARS);
        match (interval, reason) {
            (Ok(interval), Ok(reason)) => Ok(Self { interval, reason }),
            (interval, reason) => {
                let mut errors = ValidationErrors::default();
                errors.extend(interval.err());
                errors.extend(reason.err());
                Err(errors)
            }
        }
    }

    pub fn interval(&self) -> Interval {
        self.interval
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A visit that holds the practitioner's time: its id and its time (without the buffer after
/// it: being away while the room is tidied takes nothing from the patient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldVisit<Id> {
    pub id: Id,
    pub interval: Interval,
}

/// What recording a period of time off decides, given the visits the practitioner holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeOffDecision<Id> {
    /// No visit falls in the period.
    Clear,
    /// Visits fall in it and the front desk confirmed keeping them (each goes on the audit
    /// trail): record it.
    KeepsVisits(Vec<Id>),
    /// Refused: these visits fall in it (by start). The desk moves or cancels them first, or
    /// confirms keeping them.
    Clashes(Vec<Id>),
}

/// Decides whether `time_off` may be recorded over `visits`: time off silently laid over
/// booked patients leaves them turning up to an absent practitioner, so it is refused unless
/// `keep_visits` says the desk knows. Touching ends do not clash (intervals are half-open).
pub fn check_time_off<Id: Copy>(
    time_off: &TimeOff,
    visits: &[HeldVisit<Id>],
    keep_visits: bool,
) -> TimeOffDecision<Id> {
    let mut clashing: Vec<&HeldVisit<Id>> = visits
        .iter()
        .filter(|visit| visit.interval.overlaps(&time_off.interval()))
        .collect();
    if clashing.is_empty() {
        return TimeOffDecision::Clear;
    }
    clashing.sort_by_key(|visit| visit.interval.start());
    let ids = clashing.into_iter().map(|visit| visit.id).collect();
    if keep_visits {
        TimeOffDecision::KeepsVisits(ids)
    } else {
        TimeOffDecision::Clashes(ids)
    }
}
