//! The appointment lifecycle as a guarded state machine, plus the timing rules that follow an
//! appointment: rescheduling and cancelling around the cancellation window, the reminder and
//! the follow-up invitation.
//!
//! ```text
//! booked ──check_in──▶ checked_in ──complete──▶ completed
//!   │  └──no_show──────────┴─────no_show──────▶ no_show
//!   └──cancel──▶ cancelled
//! no_show ──undo_no_show (the same local day)──▶ booked
//! ```
//!
//! A no-show is a patient who never arrived, so it normally follows `booked`; it may also
//! follow `checked_in` for a patient who left before being seen. Completing requires a
//! check-in first. `completed` and `cancelled` are final; a no-show can be undone (back to
//! `booked`) on the appointment's own day, for the patient who turns up late after all or a
//! mark made on the wrong row.
//!
//! The front desk's changes are also bound to the visit's time ([`desk_window`]): nobody can
//! mark a 13:30 visit as a no-show at 10:45, or complete tomorrow's visit today.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{LocationId, PractitionerId};

use super::clinic::{Actor, ClinicPolicies, add_saturating, sub_saturating};
use super::error::{ValidationCode, ValidationError};
use super::zone::{WallClock, Zone};

/// Where an appointment is in its life; serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Completed,
    NoShow,
    Cancelled,
}

impl AppointmentStatus {
    pub const ALL: [Self; 5] = [
        Self::Booked,
        Self::CheckedIn,
        Self::Completed,
        Self::NoShow,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::CheckedIn => "checked_in",
            Self::Completed => "completed",
            Self::NoShow => "no_show",
            Self::Cancelled => "cancelled",
        }
    }

    /// No transition leaves this state. (A no-show is not final: it can be undone, on its day.)
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Whether the appointment holds its time in the practitioner's and patient's calendars:
    /// the statuses the database exclusion constraint covers, and the ones to pass to
    /// availability as [`Busy`](super::Busy).
    pub fn holds_time(self) -> bool {
        matches!(self, Self::Booked | Self::CheckedIn | Self::Completed)
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested change of an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    CheckIn,
    Complete,
    NoShow,
    Cancel,
    /// Moves a booked appointment; it stays booked.
    Reschedule,
    /// Takes back a no-show: the appointment is booked again.
    UndoNoShow,
}

impl StatusChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckIn => "check_in",
            Self::Complete => "complete",
            Self::NoShow => "no_show",
            Self::Cancel => "cancel",
            Self::Reschedule => "reschedule",
            Self::UndoNoShow => "undo_no_show",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::CheckIn => "check in",
            Self::Complete => "complete",
            Self::NoShow => "mark as a no-show",
            Self::Cancel => "cancel",
            Self::Reschedule => "reschedule",
            Self::UndoNoShow => "undo the no-show of",
        }
    }

    /// What the change does to an appointment, for "this appointment can be …".
    fn done(self) -> &'static str {
        match self {
            Self::CheckIn => "checked in",
            Self::Complete => "completed",
            Self::NoShow => "marked as a no-show",
            Self::Cancel => "cancelled",
            Self::Reschedule => "moved",
            Self::UndoNoShow => "taken back from no-show",
        }
    }
}

impl fmt::Display for StatusChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change that the current status does not allow (HTTP 409, code `illegal_transition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("cannot {} an appointment that is {}", .change.verb(), .from.as_str().replace('_', " "))]
pub struct IllegalTransition {
    pub from: AppointmentStatus,
    pub change: StatusChange,
}

impl IllegalTransition {
    pub const CODE: &'static str = "illegal_transition";

    pub fn code(&self) -> &'static str {
        Self::CODE
    }
}

/// The guarded transition: the new status, or why not.
pub fn transition(
    from: AppointmentStatus,
    change: StatusChange,
) -> Result<AppointmentStatus, IllegalTransition> {
    use AppointmentStatus as S;
    use StatusChange as C;
    match (from, change) {
        (S::Booked, C::CheckIn) => Ok(S::CheckedIn),
        (S::CheckedIn, C::Complete) => Ok(S::Completed),
        (S::Booked | S::CheckedIn, C::NoShow) => Ok(S::NoShow),
        (S::Booked, C::Cancel) => Ok(S::Cancelled),
        (S::Booked, C::Reschedule) => Ok(S::Booked),
        (S::NoShow, C::UndoNoShow) => Ok(S::Booked),
        _ => Err(IllegalTransition { from, change }),
    }
}

/// Why a reschedule or cancellation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// HTTP 409.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// A patient tried to reschedule inside the cancellation window (HTTP 409); the clinic
    /// can still do it.
    #[error(
        "this appointment starts in less than {window_hours} hours, so it can no longer be \
         moved online; please call the clinic"
    )]
    InsideCancellationWindow { window_hours: u32 },
    /// A patient tried to cancel an appointment that has already started (HTTP 409).
    #[error("this appointment has already started; please call the clinic")]
    AlreadyStarted,
    /// Bad input, such as a blank reason (HTTP 422).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A front-desk change before its [`desk_window`] opens (HTTP 409); the words say when.
    #[error("{}", too_early_words(*.change, .opens))]
    TooEarly {
        change: StatusChange,
        opens: WallClock,
    },
    /// A front-desk change after its [`desk_window`] closed (HTTP 409).
    #[error("{}", too_late_words(*.change, .closed))]
    TooLate {
        change: StatusChange,
        closed: WallClock,
    },
}

impl LifecycleError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::IllegalTransition(_) => IllegalTransition::CODE,
            Self::InsideCancellationWindow { .. } => "inside_cancellation_window",
            Self::AlreadyStarted => "already_started",
            Self::Invalid(error) => error.code.as_str(),
            Self::TooEarly { .. } => "too_early",
            Self::TooLate { .. } => "too_late",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The front desk's changes and the visit's time
// ---------------------------------------------------------------------------------------------

/// Check-in opens this long before the start: patients arrive early, and the desk checks them
/// in as they come. (The endpoints' documentation in `api/appointments/lifecycle.rs` quotes
/// this and [`NO_SHOW_GRACE`]; change them together.)
pub const CHECK_IN_OPENS_BEFORE_START: TimeDelta = TimeDelta::minutes(60);

/// A patient who has not come this long after the start may be marked as a no-show: a few
/// minutes late is late, not absent (and the mark drops nothing that could still help them).
pub const NO_SHOW_GRACE: TimeDelta = TimeDelta::minutes(10);

/// When the front desk may make a change to an appointment: from `opens` (none: from the
/// moment the status allows it) until just before `closes`.
///
/// | change | opens | closes |
/// |---|---|---|
/// | check-in | [`CHECK_IN_OPENS_BEFORE_START`] before the start | the end of the day |
/// | complete | the start | the end of the day |
/// | no-show | [`NO_SHOW_GRACE`] after the start (the end, for a visit shorter than that) | the end of the day |
/// | undo a no-show | — | the end of the day |
///
/// "The day" is the date of the start on the location's clock (the date the day lists show
/// it under); its end is the next local midnight, or the visit's end when a late visit runs
/// past midnight. Check-in stays open after the visit's end because completing needs a
/// check-in: a desk that forgot to check in an arrived patient can still record the visit
/// that day. After the day, the record stands. Cancelling and rescheduling have their own
/// rules and no window here (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeskWindow {
    pub opens: Option<DateTime<Utc>>,
    pub closes: DateTime<Utc>,
}

/// The [`DeskWindow`] of `change` for a visit from `starts_at` to `ends_at` at a location in
/// `zone`.
pub fn desk_window(
    change: StatusChange,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    zone: Zone,
) -> Option<DeskWindow> {
    let (_, day_end) = zone.day_bounds(zone.local_date(starts_at));
    let closes = day_end.max(ends_at);
    let opens = match change {
        StatusChange::CheckIn => Some(sub_saturating(starts_at, CHECK_IN_OPENS_BEFORE_START)),
        StatusChange::Complete => Some(starts_at),
        StatusChange::NoShow => Some(add_saturating(starts_at, NO_SHOW_GRACE).min(ends_at)),
        StatusChange::UndoNoShow => None,
        StatusChange::Cancel | StatusChange::Reschedule => return None,
    };
    Some(DeskWindow { opens, closes })
}

/// A front-desk change of status (check-in, complete, no-show, undo a no-show): the new
/// status, if the current one allows the change ([`transition`]; that refusal comes first)
/// and `now` is inside its [`desk_window`]; otherwise `too_early` or `too_late`, with the
/// time on the location's clock.
pub fn desk_change(
    from: AppointmentStatus,
    change: StatusChange,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    zone: Zone,
    now: DateTime<Utc>,
) -> Result<AppointmentStatus, LifecycleError> {
    let to = transition(from, change)?;
    let Some(window) = desk_window(change, starts_at, ends_at, zone) else {
        return Ok(to);
    };
    if let Some(opens) = window.opens
        && now < opens
    {
        return Err(LifecycleError::TooEarly {
            change,
            opens: zone.wall_clock(opens),
        });
    }
    if now >= window.closes {
        return Err(LifecycleError::TooLate {
            change,
            closed: zone.wall_clock(window.closes),
        });
    }
    Ok(to)
}

fn too_early_words(change: StatusChange, opens: &WallClock) -> String {
    let rule = match change {
        StatusChange::CheckIn => format!(
            "{} minutes before it starts",
            CHECK_IN_OPENS_BEFORE_START.num_minutes()
        ),
        StatusChange::NoShow => format!("{} minutes after it starts", NO_SHOW_GRACE.num_minutes()),
        _ => "when it starts".to_owned(),
    };
    format!(
        "It is too early: this appointment can be {} from {opens}, {rule}.",
        change.done()
    )
}

fn too_late_words(change: StatusChange, closed: &WallClock) -> String {
    format!(
        "It is too late: this appointment could be {} only on its own day, until {closed}.",
        change.done()
    )
}

/// Whether `now` is inside the cancellation window before `starts_at`: less than the window
/// remains (a window of 24 hours allows changes until exactly 24 hours before).
pub fn inside_cancellation_window(
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policies: &ClinicPolicies,
) -> bool {
    now > sub_saturating(starts_at, policies.cancellation_window().duration())
}

/// May `actor` move this appointment now? It must be booked; a patient must be outside the
/// cancellation window, staff may always. The new time is then checked like a new booking.
pub fn check_reschedule(
    actor: Actor,
    status: AppointmentStatus,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policies: &ClinicPolicies,
) -> Result<(), LifecycleError> {
    transition(status, StatusChange::Reschedule)?;
    if actor == Actor::Patient && inside_cancellation_window(starts_at, now, policies) {
        return Err(LifecycleError::InsideCancellationWindow {
            window_hours: policies.cancellation_window().get().div_ceil(60),
        });
    }
    Ok(())
}

/// Where an appointment is: when, with whom, where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub start: DateTime<Utc>,
    pub practitioner_id: PractitionerId,
    pub location_id: LocationId,
}

/// Whether a reschedule to `requested` moves the appointment at all. One that does not is
/// answered as it stands: no new version, no "has moved" email, no new reminder.
pub fn reschedule_moves(current: Placement, requested: Placement) -> bool {
    current != requested
}

/// A decided cancellation: store the status, the reason and the late flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancellation {
    pub status: AppointmentStatus,
    pub reason: String,
    /// Cancelled inside the cancellation window (by whomever): the clinic's late-cancellation
    /// rules may apply.
    pub late: bool,
}

pub const MAX_CANCEL_REASON_CHARS: usize = 500;

/// Cancels a booked appointment with a reason (field `reason`). Patients may cancel until the
/// start, late inside the window; staff may also cancel one that has started.
pub fn cancel(
    actor: Actor,
    status: AppointmentStatus,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policies: &ClinicPolicies,
    reason: &str,
) -> Result<Cancellation, LifecycleError> {
    let status = transition(status, StatusChange::Cancel)?;
    if actor == Actor::Patient && now >= starts_at {
        return Err(LifecycleError::AlreadyStarted);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ValidationError::new(
            "reason",
            ValidationCode::Required,
            "please say why the appointment is cancelled",
        )
        .into());
    }
    if reason.chars().count() > MAX_CANCEL_REASON_CHARS {
        return Err(ValidationError::new(
            "reason",
            ValidationCode::TooLong,
            format!("must be at most {MAX_CANCEL_REASON_CHARS} characters"),
        )
        .into());
    }
    Ok(Cancellation {
        status,
        reason: reason.to_owned(),
        late: inside_cancellation_window(starts_at, now, policies),
    })
}

/// How long before the cancellation window closes the reminder goes, when the clinic's lead
/// time would otherwise bring it inside the window: a day, so the patient who reads it can
/// still move the visit online (and it arrives at the visit's time of day).
pub const REMINDER_BEFORE_WINDOW: TimeDelta = TimeDelta::hours(24);

/// When to send an appointment's reminder, and when it becomes pointless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub send_at: DateTime<Utc>,
    /// The outbox drops the reminder if it has not gone by then (the start).
    pub deadline: DateTime<Utc>,
    /// Until when the patient can still move the appointment online, if the reminder goes
    /// before then; `None` when it goes inside the cancellation window (so it must say: call).
    pub changes_online_until: Option<DateTime<Utc>>,
}

/// The reminder for an appointment booked (or moved) at `now`.
///
/// A reminder invites the patient to move a visit they cannot make, so it goes while they
/// still can: at the policy lead time when that is before the cancellation window closes,
/// otherwise [`REMINDER_BEFORE_WINDOW`] before the window closes. When that moment has passed
/// already (a late booking), it goes at the lead time, inside the window, and says so. `None`
/// when the lead time has passed too: the confirmation just sent says the same thing. Never
/// in the past, never after the start.
pub fn reminder(
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policies: &ClinicPolicies,
) -> Option<Reminder> {
    let window = policies.cancellation_window().duration();
    let closes = sub_saturating(starts_at, window);
    let at_lead = sub_saturating(starts_at, policies.reminder_lead().duration());
    let before_window = if policies.reminder_lead().duration() > window {
        at_lead
    } else {
        sub_saturating(closes, REMINDER_BEFORE_WINDOW)
    };
    // A moment that is now or past would only repeat the confirmation.
    let send_at = [before_window, at_lead]
        .into_iter()
        .find(|&moment| moment > now && moment < starts_at)?;
    Some(Reminder {
        send_at,
        deadline: starts_at,
        changes_online_until: (send_at < closes).then_some(closes),
    })
}

/// When to send the follow-up questionnaire after a visit completed at `completed_at`.
pub fn follow_up_at(completed_at: DateTime<Utc>, policies: &ClinicPolicies) -> DateTime<Utc> {
    add_saturating(completed_at, policies.follow_up_delay().duration())
}
