//! Booking policies: the pure checks a booking must pass before it is written, each refusal
//! typed with a stable code, a kind for the HTTP status, and a message for the person booking.

use std::fmt;

use crate::ids::{LocationId, PractitionerId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::availability::{Availability, Slot};
use super::clinic::{Actor, AppointmentType, Discipline, add_saturating};
use super::time::Interval;

/// How long a submitted intake stays valid for booking.
pub const INTAKE_VALID_DAYS: i64 = 90;

/// A staff override reason longer than this is refused (it is stored in the audit trail).
pub const MAX_OVERRIDE_REASON_CHARS: usize = 500;

/// A red flag that is open on the patient's record (rules-v2.md, "The booking gate"): which
/// cases hold one is triage's rule; scheduling only reads the most severe. The service maps
/// triage's disposition onto it, so scheduling does not depend on triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenFlag {
    /// See a doctor within 24 hours; booking waits for a practitioner's clearance.
    Urgent,
    /// Go to an emergency department now; booking waits for a practitioner's clearance.
    Emergency,
}

/// What the intake gate reads of the patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IntakeGateFacts {
    /// When the patient's latest intake was submitted (a follow-up is not an intake).
    pub latest_intake_at: Option<DateTime<Utc>>,
    /// The most severe open flag over every case of the patient, if any.
    pub open_flag: Option<OpenFlag>,
}

/// Stable machine-readable reason of a [`BookingRefusal`]; serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The requested start is not (or no longer) offered for this practitioner and location.
    SlotNotOffered,
    /// The patient already has an appointment (with anyone) at that time.
    PatientBusy,
    AppointmentTypeInactive,
    /// The practitioner no longer takes bookings.
    PractitionerInactive,
    /// The location no longer takes bookings.
    LocationInactive,
    /// The type's discipline is not the practitioner's.
    DisciplineMismatch,
    /// A patient new to the discipline must book a new-patient type.
    NewPatientTypeRequired,
    /// No submitted intake at all.
    IntakeRequired,
    /// The latest intake is older than [`INTAKE_VALID_DAYS`].
    IntakeExpired,
    /// An emergency flag is open: no practitioner has cleared it.
    IntakeEmergency,
    /// An urgent flag is open: no practitioner has cleared it.
    IntakeUrgentNotCleared,
    /// Only staff can override the intake gate.
    OverrideNotAllowed,
    /// An override needs a reason, for the audit trail.
    OverrideReasonRequired,
    OverrideReasonTooLong,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SlotNotOffered => "slot_not_offered",
            Self::PatientBusy => "patient_busy",
            Self::AppointmentTypeInactive => "appointment_type_inactive",
            Self::PractitionerInactive => "practitioner_inactive",
            Self::LocationInactive => "location_inactive",
            Self::DisciplineMismatch => "discipline_mismatch",
            Self::NewPatientTypeRequired => "new_patient_type_required",
            Self::IntakeRequired => "intake_required",
            Self::IntakeExpired => "intake_expired",
            Self::IntakeEmergency => "intake_emergency",
            Self::IntakeUrgentNotCleared => "intake_urgent_not_cleared",
            Self::OverrideNotAllowed => "override_not_allowed",
            Self::OverrideReasonRequired => "override_reason_required",
            Self::OverrideReasonTooLong => "override_reason_too_long",
        }
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of refusal, so the HTTP layer can choose the status without matching codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// The slot is not free (taken meanwhile, or never offered): 409, with the next free
    /// slots from the same [`Availability`].
    SlotUnavailable,
    /// The request breaks a rule that retrying will not fix (wrong discipline, a regular type
    /// for a new patient, an inactive type, a bad override): 422.
    NotAllowed,
    /// The patient needs a (new) intake or a practitioner's clearance first: 403. Staff can
    /// book past a missing or expired intake with an override reason, never past an open flag.
    IntakeGate,
}

/// Why a booking cannot go ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct BookingRefusal {
    pub code: RefusalCode,
    pub kind: RefusalKind,
    /// Written for the actor: kind and plain for a patient, factual for staff.
    pub message: String,
    /// Staff may book anyway by passing an override reason (a missing or expired intake only).
    pub overridable: bool,
}

impl BookingRefusal {
    fn new(code: RefusalCode, kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            message: message.into(),
            overridable: kind == RefusalKind::IntakeGate,
        }
    }
}

/// How the intake gate was passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IntakeGate {
    Passed,
    /// Staff booked despite the gate; audit it with the reason.
    Overridden {
        reason: String,
        /// What the gate would have refused.
        refusal: RefusalCode,
    },
}

/// The intake gate: no open flag, and a submitted intake at most [`INTAKE_VALID_DAYS`] old.
/// An open flag is checked first and refuses whatever else is true: only a practitioner's
/// decision lifts it.
///
/// Staff may pass `override_reason` to book past a missing or expired intake (a phone
/// booking); it is used only when the gate would refuse (so an unneeded override is not
/// audited) and must not be blank. It never passes an open flag. A patient cannot override.
pub fn check_intake(
    actor: Actor,
    facts: &IntakeGateFacts,
    override_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IntakeGate, BookingRefusal> {
    let Some(refusal) = gate_refusal(actor, facts, now) else {
        return Ok(IntakeGate::Passed);
    };
    let Some(reason) = override_reason else {
        return Err(refusal);
    };
    if actor == Actor::Patient {
        return Err(BookingRefusal::new(
            RefusalCode::OverrideNotAllowed,
            RefusalKind::NotAllowed,
            "only clinic staff can override the intake check",
        ));
    }
    if !refusal.overridable {
        return Err(refusal);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(BookingRefusal::new(
            RefusalCode::OverrideReasonRequired,
            RefusalKind::NotAllowed,
            format!(
                "{} To book anyway, give a reason for the override.",
                refusal.message
            ),
        ));
    }
    if reason.chars().count() > MAX_OVERRIDE_REASON_CHARS {
        return Err(BookingRefusal::new(
            RefusalCode::OverrideReasonTooLong,
            RefusalKind::NotAllowed,
            format!("the override reason must be at most {MAX_OVERRIDE_REASON_CHARS} characters"),
        ));
    }
    Ok(IntakeGate::Overridden {
        reason: reason.to_owned(),
        refusal: refusal.code,
    })
}

fn gate_refusal(
    actor: Actor,
    facts: &IntakeGateFacts,
    now: DateTime<Utc>,
) -> Option<BookingRefusal> {
    let gate = |code, patient: &str, staff: String| {
        let message = match actor {
            Actor::Patient => patient.to_owned(),
            Actor::Staff => staff,
        };
        Some(BookingRefusal::new(code, RefusalKind::IntakeGate, message))
    };
    // The words name the flag's disposition and what to do, never the answer behind it.
    let flag = |code, patient: &str, staff: &str| {
        let mut refusal = gate(code, patient, staff.to_owned())?;
        refusal.overridable = false;
        Some(refusal)
    };
    match facts.open_flag {
        Some(OpenFlag::Emergency) => {
            return flag(
                RefusalCode::IntakeEmergency,
                "We can't book an appointment for you right now. Your answers can be a sign of \
                 a problem that should be checked in hospital today. Please go to your nearest \
                 emergency department now, or call your local emergency number if you cannot \
                 get there safely. Most people with these symptoms turn out not to have a \
                 serious problem, but it is important not to wait. Once a practitioner has \
                 spoken with you, you can book again.",
                "The patient has an open emergency flag: no one can book for them until a \
                 practitioner clears it. An override does not apply. Advise the patient to go \
                 to an emergency department now.",
            );
        }
        Some(OpenFlag::Urgent) => {
            return flag(
                RefusalCode::IntakeUrgentNotCleared,
                "We can't book this appointment online yet. Your answers mean a doctor should \
                 see you within the next 24 hours, and one of our practitioners will look at \
                 them before your treatment starts. Please contact your GP (family doctor) \
                 today. We will contact you, and you can book once a practitioner has cleared \
                 you.",
                "The patient has an open urgent flag: no one can book for them until a \
                 practitioner clears it. An override does not apply. Advise the patient to see \
                 their GP within 24 hours.",
            );
        }
        None => {}
    }
    let Some(submitted_at) = facts.latest_intake_at else {
        return gate(
            RefusalCode::IntakeRequired,
            "Before you book, please complete the intake questionnaire. It helps us make sure \
             the appointment is right for you, and it takes about ten minutes.",
            "The patient has no submitted intake; staff may book with an override reason."
                .to_owned(),
        );
    };
    let valid_until = submitted_at
        .checked_add_signed(TimeDelta::days(INTAKE_VALID_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now > valid_until {
        let submitted = submitted_at.format("%Y-%m-%d");
        return gate(
            RefusalCode::IntakeExpired,
            "Your last intake questionnaire is more than 90 days old. Please fill it in again \
             so we know how you are now; then you can book.",
            format!(
                "The patient's latest intake ({submitted}) is more than {INTAKE_VALID_DAYS} days \
                 old; staff may book with an override reason."
            ),
        );
    }
    None
}

/// Everything one booking is checked against, as the caller read it (in one statement: one
/// snapshot). A race between two bookings is settled by the write, not by this check.
#[derive(Debug, Clone, Copy)]
pub struct BookingRequest<'a> {
    pub actor: Actor,
    pub appointment_type: &'a AppointmentType,
    pub practitioner_id: PractitionerId,
    pub practitioner_discipline: Discipline,
    pub location_id: LocationId,
    pub start: DateTime<Utc>,
    /// Whether the practitioner is active (an inactive one takes no new bookings).
    pub practitioner_active: bool,
    /// Whether the location is active (an inactive one takes no new bookings).
    pub location_active: bool,
    /// How many appointments the patient holds (booked, checked in or completed: not
    /// cancelled, not a no-show) per discipline; a discipline not listed has none.
    pub held_by_discipline: &'a [(Discipline, u64)],
    /// The patient's own appointments holding their time around the start (any practitioner).
    pub patient_busy: &'a [Interval],
    pub intake: IntakeGateFacts,
    /// Staff only: book despite the intake gate, for this reason.
    pub intake_override: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// A booking that passed every check: store `slot.start`, `slot.end`, `slot.blocked_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookingApproval {
    pub slot: Slot,
    pub intake: IntakeGate,
    /// The patient's first appointment in this discipline.
    pub new_to_discipline: bool,
}

/// Runs every booking check, returning the first refusal in this order: the intake gate
/// (first, so a patient who should go to hospital reads that, not "slot taken"), an inactive
/// practitioner, an inactive location, an inactive type, the discipline, the new-patient rule, then the slot.
///
/// `offered` is availability computed from the same read for the same actor, type and
/// `now`, over (at least) the start's local date ([`Zone::local_date`](super::Zone::local_date)).
pub fn check_booking(
    request: &BookingRequest<'_>,
    offered: &Availability,
) -> Result<BookingApproval, BookingRefusal> {
    let intake = check_intake(
        request.actor,
        &request.intake,
        request.intake_override,
        request.now,
    )?;
    if !request.practitioner_active {
        return Err(BookingRefusal::new(
            RefusalCode::PractitionerInactive,
            RefusalKind::NotAllowed,
            "This practitioner is not taking appointments. Please choose another.",
        ));
    }
    if !request.location_active {
        return Err(BookingRefusal::new(
            RefusalCode::LocationInactive,
            RefusalKind::NotAllowed,
            "This location is not taking appointments. Please choose another.",
        ));
    }
    let kind = request.appointment_type;
    if !kind.is_active() {
        return Err(BookingRefusal::new(
            RefusalCode::AppointmentTypeInactive,
            RefusalKind::NotAllowed,
            format!("{:?} appointments are no longer offered", kind.name()),
        ));
    }
    if kind.discipline() != request.practitioner_discipline {
        return Err(BookingRefusal::new(
            RefusalCode::DisciplineMismatch,
            RefusalKind::NotAllowed,
            format!(
                "a {} appointment cannot be booked with {}",
                kind.discipline(),
                request.practitioner_discipline.practitioner()
            ),
        ));
    }
    let new_to_discipline = !request
        .held_by_discipline
        .iter()
        .any(|&(discipline, held)| discipline == kind.discipline() && held > 0);
    if new_to_discipline && !kind.is_new_patient() {
        let message = match request.actor {
            Actor::Patient => format!(
                "This is your first {} visit with us, so please choose a new-patient \
                 appointment: it leaves time for a full assessment.",
                kind.discipline()
            ),
            Actor::Staff => format!(
                "The patient has had no {} appointment yet; book a new-patient type.",
                kind.discipline()
            ),
        };
        return Err(BookingRefusal::new(
            RefusalCode::NewPatientTypeRequired,
            RefusalKind::NotAllowed,
            message,
        ));
    }
    check_patient_free(
        request.actor,
        request.patient_busy,
        request.start,
        add_saturating(request.start, kind.duration().duration()),
    )?;
    let slot = check_slot(
        offered,
        request.practitioner_id,
        request.location_id,
        request.start,
    )?;
    Ok(BookingApproval {
        slot: slot.clone(),
        intake,
        new_to_discipline,
    })
}

/// Whether the patient is free over `[start, end)`: none of their own appointments (`busy`,
/// with any practitioner) overlaps it. A visit holds the patient until its end; the buffer
/// after it is the practitioner's.
pub fn patient_free(busy: &[Interval], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    Interval::new(start, end).is_ok_and(|wanted| !busy.iter().any(|own| own.overlaps(&wanted)))
}

/// A patient cannot be in two visits at once: a time that overlaps one of their own
/// appointments is refused as such (409 `patient_busy`), not as a time someone else took.
pub fn check_patient_free(
    actor: Actor,
    busy: &[Interval],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), BookingRefusal> {
    if patient_free(busy, start, end) {
        return Ok(());
    }
    let message = match actor {
        Actor::Patient => {
            "You already have an appointment at that time. Please choose another time."
        }
        Actor::Staff => "The patient already has an appointment at that time.",
    };
    Err(BookingRefusal::new(
        RefusalCode::PatientBusy,
        RefusalKind::SlotUnavailable,
        message,
    ))
}

/// The requested start must be one of the offered slots of this practitioner and location.
pub fn check_slot(
    offered: &Availability,
    practitioner_id: PractitionerId,
    location_id: LocationId,
    start: DateTime<Utc>,
) -> Result<&Slot, BookingRefusal> {
    offered
        .find(practitioner_id, location_id, start)
        .ok_or_else(|| {
            BookingRefusal::new(
                RefusalCode::SlotNotOffered,
                RefusalKind::SlotUnavailable,
                "That time is no longer available. Please choose another time.",
            )
        })
}
