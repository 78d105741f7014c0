//! The audit trail: who touched which patient record, logged in, reused a token or was refused,
//! when and from where. An entry names the record, never its content. The table is append-only
//! in the database too (a trigger refuses updates and deletes).

use chrono::{DateTime, Utc};
use entity::{audit_event::Outcome, user::Role};
use poem::Request;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::{
    auth::{Principal, tokens::role_name},
    middleware::RequestContext,
    store,
};

/// What happened. The names are stable: admins filter and export by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    /// A spent refresh token was presented again; its whole login was revoked.
    RefreshTokenReuse,
    Register,
    VerifyEmail,
    /// A patient confirmed the new address they asked for.
    ConfirmEmailChange,
    AcceptInvitation,
    /// Someone asked for a password reset link for an account (denied: for no account, or a
    /// disabled one; no email was sent).
    PasswordResetRequest,
    /// A password was set anew through an emailed reset link.
    PasswordReset,
    /// A signed-in caller changed their own password (denied: the current one was wrong).
    PasswordChange,
    /// A signed-in caller asked for something their role may not do.
    AccessDenied,
    PatientCreate,
    PatientRead,
    PatientUpdate,
    PatientSearch,
    PatientInvite,
    /// The front desk read which patients emails could not reach.
    PatientUnreachableList,
    IntakeCreate,
    IntakeRead,
    IntakeList,
    IntakeUpdate,
    IntakeSubmit,
    ReviewQueueRead,
    ReviewDecision,
    FollowUpSend,
    FollowUpRead,
    FollowUpSubmit,
    OutcomesRead,
    AppointmentBook,
    AppointmentRead,
    AppointmentList,
    AppointmentReschedule,
    AppointmentCancel,
    AppointmentCheckIn,
    AppointmentComplete,
    AppointmentNoShow,
    /// A no-show was taken back on the appointment's day: it is booked again.
    AppointmentNoShowUndo,
    /// The front desk booked although the intake check refused (the reason is on the row).
    IntakeCheckOverride,
    /// A practitioner's calendar feed token was issued (replacing any earlier one) or revoked.
    CalendarTokenIssue,
    CalendarTokenRevoke,
    /// An administrator disabled or re-enabled an account.
    UserDisable,
    UserEnable,
    /// An administrator gave a staff account another staff role.
    UserRoleChange,
    /// Time off was recorded over this booked visit, which the front desk chose to keep.
    TimeOffKeepsAppointment,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::RefreshTokenReuse => "refresh_token.reuse",
            Self::Register => "register",
            Self::VerifyEmail => "verify_email",
            Self::ConfirmEmailChange => "confirm_email_change",
            Self::AcceptInvitation => "accept_invitation",
            Self::PasswordResetRequest => "password_reset.request",
            Self::PasswordReset => "password_reset",
            Self::PasswordChange => "password_change",
            Self::AccessDenied => "access_denied",
            Self::PatientCreate => "patient.create",
            Self::PatientRead => "patient.read",
            Self::PatientUpdate => "patient.update",
            Self::PatientSearch => "patient.search",
            Self::PatientInvite => "patient.invite",
            Self::PatientUnreachableList => "patient.unreachable_list",
            Self::IntakeCreate => "intake.create",
            Self::IntakeRead => "intake.read",
            Self::IntakeList => "intake.list",
            Self::IntakeUpdate => "intake.update",
            Self::IntakeSubmit => "intake.submit",
            Self::ReviewQueueRead => "review_queue.read",
            Self::ReviewDecision => "review.decision",
            Self::FollowUpSend => "follow_up.send",
            Self::FollowUpRead => "follow_up.read",
            Self::FollowUpSubmit => "follow_up.submit",
            Self::OutcomesRead => "outcomes.read",
            Self::AppointmentBook => "appointment.book",
            Self::AppointmentRead => "appointment.read",
            Self::AppointmentList => "appointment.list",
            Self::AppointmentReschedule => "appointment.reschedule",
            Self::AppointmentCancel => "appointment.cancel",
            Self::AppointmentCheckIn => "appointment.check_in",
            Self::AppointmentComplete => "appointment.complete",
            Self::AppointmentNoShow => "appointment.no_show",
            Self::AppointmentNoShowUndo => "appointment.no_show_undo",
            Self::IntakeCheckOverride => "intake_check.override",
            Self::CalendarTokenIssue => "calendar_token.issue",
            Self::CalendarTokenRevoke => "calendar_token.revoke",
            Self::UserDisable => "user.disable",
            Self::UserEnable => "user.enable",
            Self::UserRoleChange => "user.role_change",
            Self::TimeOffKeepsAppointment => "time_off.keeps_appointment",
        }
    }
}

/// The record an entry is about.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    User(Uuid),
    Patient(Uuid),
    Intake(Uuid),
    Appointment(Uuid),
}

impl Record {
    pub fn type_name(self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Patient(_) => "patient",
            Self::Intake(_) => "intake",
            Self::Appointment(_) => "appointment",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Self::User(id) | Self::Patient(id) | Self::Intake(id) | Self::Appointment(id) => id,
        }
    }
}

/// Who is acting and from where: the part of every entry that comes from the request.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    pub actor_user_id: Option<Uuid>,
    pub actor_role: Option<Role>,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

impl AuditContext {
    pub fn from_request(request: &Request, actor: Option<&Principal>) -> Self {
        Self {
            actor_user_id: actor.map(|principal| principal.user_id),
            actor_role: actor.map(|principal| principal.role),
            request_id: request
                .extensions()
                .get::<RequestContext>()
                .map(|context| context.request_id.clone()),
            source_address: source_address(request),
        }
    }

    /// The same request, now known to be acting as this account (after a login).
    pub fn acting_as(mut self, user_id: Uuid, role: Role) -> Self {
        self.actor_user_id = Some(user_id);
        self.actor_role = Some(role);
        self
    }

    pub fn actor_role_name(&self) -> Option<&'static str> {
        self.actor_role.map(role_name)
    }
}

/// The caller's IP address, as the connection shows it.
pub fn source_address(request: &Request) -> Option<String> {
    request
        .remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_string())
}

/// What an entry is about: a record and the patient it belongs to, either optional. Records
/// that belong to a patient convert into their subject, so a use case names the row it touched
/// (`Subject::from(&appointment)`) instead of spelling out its ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject {
    pub record: Option<Record>,
    pub patient_id: Option<Uuid>,
}

impl Subject {
    /// Nothing in particular (a list, a login that named no account).
    pub const NONE: Self = Self {
        record: None,
        patient_id: None,
    };

    pub fn record(record: Record) -> Self {
        Self::NONE.on(record)
    }

    /// One patient's records as a whole (a list of their intakes), not one record.
    pub fn patient(patient_id: Uuid) -> Self {
        Self {
            record: None,
            patient_id: Some(patient_id),
        }
    }

    /// The same subject, naming `record` (a patient record is also the subject's patient).
    pub fn on(mut self, record: Record) -> Self {
        self.record = Some(record);
        if let Record::Patient(id) = record {
            self.patient_id = Some(id);
        }
        self
    }

    pub fn for_patient(mut self, patient_id: Uuid) -> Self {
        self.patient_id = Some(patient_id);
        self
    }
}

impl From<Record> for Subject {
    fn from(record: Record) -> Self {
        Self::record(record)
    }
}

impl From<&entity::appointment::Model> for Subject {
    fn from(row: &entity::appointment::Model) -> Self {
        Self::record(Record::Appointment(row.id)).for_patient(row.patient_id)
    }
}

impl From<&entity::intake::Model> for Subject {
    fn from(row: &entity::intake::Model) -> Self {
        Self::record(Record::Intake(row.id)).for_patient(row.patient_id)
    }
}

impl From<&entity::patient::Model> for Subject {
    fn from(row: &entity::patient::Model) -> Self {
        Self::record(Record::Patient(row.id))
    }
}

/// One entry to append.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub action: Action,
    pub record: Option<Record>,
    pub patient_id: Option<Uuid>,
    pub outcome: Outcome,
}

impl Entry {
    pub fn allowed(action: Action) -> Self {
        Self {
            action,
            record: None,
            patient_id: None,
            outcome: Outcome::Allowed,
        }
    }

    pub fn denied(action: Action) -> Self {
        Self {
            outcome: Outcome::Denied,
            ..Self::allowed(action)
        }
    }

    /// The entry about `subject`.
    pub fn about(mut self, subject: impl Into<Subject>) -> Self {
        let subject = subject.into();
        self.record = subject.record;
        self.patient_id = subject.patient_id;
        self
    }
}

/// The audit trail of one request: who acts, from where, and when. A use case says what it
/// did (`audit.allowed(&txn, action, &row)`) and the handle writes the whole entry.
#[derive(Debug, Clone)]
pub struct Audit {
    pub context: AuditContext,
    pub now: DateTime<Utc>,
}

impl Audit {
    pub fn new(context: AuditContext, now: DateTime<Utc>) -> Self {
        Self { context, now }
    }

    /// Records that `action` was done on `subject`. Pass the transaction of the change.
    pub async fn allowed<C: ConnectionTrait>(
        &self,
        db: &C,
        action: Action,
        subject: impl Into<Subject>,
    ) -> Result<(), DbErr> {
        self.append(db, Entry::allowed(action).about(subject)).await
    }

    /// Records that `action` on `subject` was refused.
    pub async fn denied<C: ConnectionTrait>(
        &self,
        db: &C,
        action: Action,
        subject: impl Into<Subject>,
    ) -> Result<(), DbErr> {
        self.append(db, Entry::denied(action).about(subject)).await
    }

    async fn append<C: ConnectionTrait>(&self, db: &C, entry: Entry) -> Result<(), DbErr> {
        record(db, self.now, &self.context, entry).await
    }

    /// The row [`Audit::allowed`] writes, for a write that inserts it with others at once.
    pub fn allowed_row(
        &self,
        action: Action,
        subject: impl Into<Subject>,
    ) -> entity::audit_event::ActiveModel {
        store::audit::row(
            self.now,
            &self.context,
            Entry::allowed(action).about(subject),
        )
    }
}

/// Appends `entry`. Pass the transaction of the change it records, so both land or neither does.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    context: &AuditContext,
    entry: Entry,
) -> Result<(), DbErr> {
    store::audit::append(db, now, context, entry).await
}
