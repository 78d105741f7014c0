//! Scheduling: clinic setup, availability from local working hours (correct on DST days),
//! booking policies and the appointment lifecycle.
//!
//! Pure: no database, clock, network or filesystem. The caller loads the data and passes
//! `now`, so every answer is reproducible and the same code runs in a service, a test and a
//! benchmark. The application layer (`service`) uses it like this:
//!
//! | endpoint | pure calls |
//! |---|---|
//! | setup (locations, policies, types, hours, time off) | [`Zone::parse`], [`ClinicPolicies::new`], [`AppointmentType::new`], [`WeeklyHours::new`] then [`LocationHours::check_against`], [`TimeOff::new`] then [`check_time_off`] against the visits it would fall on — each error a [`ValidationError`] with `field`, `code`, `message` for a per-field 422 |
//! | `GET /availability` | load the type, policies and one [`PractitionerCalendar`] per practitioner (busy and time off over [`AvailabilityQuery::load_window`]), then [`availability`] |
//! | `POST /appointments` | read the facts in one statement, outside any transaction (the practitioner's calendar over [`AvailabilityQuery::load_window_around`] the start), [`availability`] for the start's [`Zone::local_date`], [`check_booking`]; write `slot.start`, `slot.end`, `slot.blocked_until` and the [`reminder`] all or nothing: the database's overlap constraint settles a race (see `service::booking`) |
//! | reschedule / cancel | [`check_reschedule`] (then as a booking), [`cancel`] |
//! | check-in / complete / no-show / undo a no-show | the location's [`Zone`], then [`desk_change`] (the [`transition`], inside its [`desk_window`]); [`follow_up_at`] on completion |
//!
//! # Example
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc, Weekday};
//! use lumbar::{ids::{LocationId, PractitionerId}, scheduling::*};
//! use uuid::Uuid;
//!
//! let policies = ClinicPolicies::default(); // 15-minute grid, 2 h notice, 90 days ahead
//! let grid = policies.slot_grid();
//! let first_visit = AppointmentType::new(
//!     AppointmentTypeInput {
//!         name: "Chiropractic first visit".into(),
//!         discipline: Discipline::Chiropractic,
//!         duration_minutes: 45,
//!         buffer_after_minutes: 15,
//!         new_patient: true,
//!         active: true,
//!     },
//!     grid,
//! )?;
//! let hours = WeeklyHours::new(
//!     &[
//!         WorkingIntervalInput::new(Weekday::Mon, "09:00", "12:00"),
//!         WorkingIntervalInput::new(Weekday::Mon, "13:00", "17:00"),
//!     ],
//!     grid,
//! )?;
//! let practitioner_id = PractitionerId::from(Uuid::now_v7());
//! let calendar = PractitionerCalendar {
//!     practitioner_id,
//!     discipline: Discipline::Chiropractic,
//!     locations: vec![LocationHours {
//!         location_id: LocationId::from(Uuid::now_v7()),
//!         zone: Zone::parse("Europe/London")?,
//!         hours,
//!     }],
//!     time_off: Vec::new(),
//!     busy: Vec::new(),
//! };
//! let now = Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).single().unwrap_or_default();
//! let monday = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap_or_default(); // the first BST Monday
//! let query = AvailabilityQuery {
//!     appointment_type: &first_visit,
//!     from: monday,
//!     to: monday,
//!     actor: Actor::Patient,
//!     now,
//! };
//! let offered = availability(&query, &policies, &[calendar])?;
//! let first = &offered.slots()[0];
//! assert_eq!(first.local_start.to_rfc3339(), "2026-03-30T09:00:00+01:00");
//! assert_eq!(first.abbreviation, "BST");
//! assert_eq!(first.start.to_rfc3339(), "2026-03-30T08:00:00+00:00");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Time zones and DST
//!
//! Working hours are local wall-clock intervals; a location has an IANA zone ([`Zone`]). A
//! local interval on a date means *the instants whose wall-clock reading lies in it*:
//!
//! * spring forward (New York 2026-03-08 02:00→03:00): hours of 01:00–03:00 are one real hour
//!   (01:00–02:00 EST), and no slot is offered at 02:xx, which does not exist;
//! * fall back (New York 2026-11-01 02:00→01:00): hours of 01:00–03:00 are three real hours;
//!   01:00 EDT and 01:00 EST are different instants and both are offered, each exactly once,
//!   told apart by [`Slot::abbreviation`] and the offset in [`Slot::local_start`].
//!
//! Starts align to the grid on the wall clock (09:00, 09:15 local, whatever the offset), and
//! durations and buffers are real elapsed minutes: a 60-minute slot starting 01:30 EDT on the
//! fall-back night ends at 01:30 EST. Results carry UTC instants plus the local time and zone
//! abbreviation for display; [`Zone::wall_clock`] formats any instant the same way for emails.
//!
//! # Booking policies
//!
//! [`check_booking`] returns a [`BookingApproval`] or the first [`BookingRefusal`], each with a
//! stable [`RefusalCode`], a [`RefusalKind`] that picks the HTTP status (409 slot unavailable,
//! 422 not allowed, 403 intake gate) and a message written for the actor. The intake gate
//! ([`check_intake`]) refuses while the patient has an [`OpenFlag`] (which cases hold one is
//! `triage::review`'s rule), with a calm message telling the patient what to do, and wants a
//! submitted intake at most 90 days old. Staff may book past a missing or expired intake with
//! a reason (the approval then says so for the audit trail), never past an open flag.
//!
//! # Lifecycle
//!
//! `booked → checked_in → completed | no_show`, `booked → cancelled`, `no_show → booked` (an
//! undone no-show), guarded by [`transition`] (`illegal_transition`). The front desk's
//! changes happen around the visit ([`desk_window`], `too_early` / `too_late`): check-in from
//! [`CHECK_IN_OPENS_BEFORE_START`] before the start, completion from the start, a no-show
//! from [`NO_SHOW_GRACE`] after it, each (and undoing a no-show) until the end of the
//! appointment's local day. Patients reschedule only outside the cancellation
//! window; cancellations inside it are marked late. The [`reminder`] goes while the patient can
//! still move the visit online (at the lead time, or [`REMINDER_BEFORE_WINDOW`] before the
//! window closes when the lead time is inside it); booked too late for that, at the lead time
//! with "call the clinic"; if that has passed too, there is none (the confirmation just sent
//! serves), so a reminder is never sent late. The follow-up invitation is due at completion + delay.

mod availability;
mod booking;
mod clinic;
mod error;
mod hours;
mod lifecycle;
mod time;
mod zone;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use availability::{
    Availability, AvailabilityQuery, Busy, MAX_RANGE_DAYS, PractitionerCalendar, Slot, availability,
};
pub use booking::{
    BookingApproval, BookingRefusal, BookingRequest, INTAKE_VALID_DAYS, IntakeGate,
    IntakeGateFacts, MAX_OVERRIDE_REASON_CHARS, OpenFlag, RefusalCode, RefusalKind, check_booking,
    check_intake, check_patient_free, check_slot, patient_free,
};
pub use clinic::{
    Actor, AppointmentType, AppointmentTypeInput, BookingWindow, ClinicPolicies,
    ClinicPoliciesInput, Discipline, HeldVisit, TimeOff, TimeOffDecision, check_time_off,
};
pub use error::{ValidationCode, ValidationError, ValidationErrors};
pub use hours::{
    LocationHours, LocationHoursInput, StoredInterval, WeeklyHours, WorkingInterval,
    WorkingIntervalInput, Workplace, check_practitioner_hours, check_weekly_schedule,
    weekday_from_iso,
};
pub use lifecycle::{
    AppointmentStatus, CHECK_IN_OPENS_BEFORE_START, Cancellation, DeskWindow, IllegalTransition,
    LifecycleError, MAX_CANCEL_REASON_CHARS, NO_SHOW_GRACE, Placement, REMINDER_BEFORE_WINDOW,
    Reminder, StatusChange, cancel, check_reschedule, desk_change, desk_window, follow_up_at,
    inside_cancellation_window, reminder, reschedule_moves, transition,
};
pub use time::{Interval, LocalTime, Minutes, SlotGrid};
pub use zone::{WallClock, Zone};
