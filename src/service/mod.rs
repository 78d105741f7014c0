//! The application layer: one module per capability, one function per use case.
//!
//! A use case takes the caller ([`Caller`]) and a typed command. It authorizes (the caller's
//! role, then scoped finders: what this caller may load, or a 404 with an audit entry), loads
//! what the decision needs, decides through the pure modules (`triage`, `scheduling`), saves
//! with its outbox rows and audit entries in one transaction ([`Work`]), and returns a typed
//! outcome or an [`ApiError`]. The JSON handlers in `api` and the pages in `web` only turn
//! requests into commands and outcomes into responses, so both run exactly the same rules.
//!
//! # How a request flows: one booking
//!
//! 1. `POST /api/v1/appointments` reaches `api::appointments::booking`. The handler builds the
//!    [`Caller`] from the bearer token and the request (for the audit trail), turns the body
//!    and the `Idempotency-Key` header into a [`booking::BookAppointment`] command, and calls
//!    [`booking::book`].
//! 2. [`booking::book`] checks the caller's role, then reads everything the decision needs in
//!    one statement (`store::booking::facts`: the patient the caller may book for, the type,
//!    the practitioner, the location, the policies, the patient's latest intake and its
//!    decisions, the disciplines they have been seen for, and the practitioner's calendar
//!    around the requested start). It runs on the pool, outside a transaction: the write
//!    decides any race.
//! 3. The pure `scheduling` module computes the offered slots from that calendar and decides
//!    the booking (`scheduling::check_booking`): the slot, the new-patient rule, the intake
//!    gate (from `triage`'s dispositions and the practitioners' decisions), the front desk's
//!    override. A refusal comes back as a typed refusal; the use case adds the next free times
//!    for a taken slot and answers it (after checking the key does not replay an earlier
//!    success).
//! 4. An approval becomes rows: the appointment, its confirmation and reminder emails
//!    (composed by `notify::appointments`, checked by the outbox), the audit entries, and the
//!    idempotency entry holding the response ([`idempotency`]). `store::booking::write`
//!    writes them all or nothing: one statement on PostgreSQL, one transaction on SQLite. The
//!    database's overlap constraint has the last word: a lost race is a 409 with next times.
//! 5. The outcome ([`appointments::Appointment`], and whether it replays an earlier request)
//!    goes back to the handler, which answers 201 with the appointment as JSON. The delivery
//!    worker sends the emails later from the outbox.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod appointments;
pub mod availability;
pub mod booking;
pub mod clinic;
pub mod desk;
pub mod follow_ups;
pub mod idempotency;
pub mod intake;
pub mod ops;
pub mod patients;
pub mod practitioners;
pub mod review;
pub mod schedule;
pub mod triage;
pub mod users;

pub use access::Caller;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use crate::{
    app::AppState,
    audit::{Action, Audit, AuditContext, Subject},
    error::{ApiError, ApiResult},
};

/// A unit of work: the transaction a use case writes in, and its audit trail stamped with the
/// same instant. Everything written through it lands together at [`Work::commit`] or not at
/// all (dropping it rolls back).
pub struct Work {
    txn: DatabaseTransaction,
    audit: Audit,
}

impl Work {
    /// Starts a writing transaction for `caller` (on SQLite it takes the write lock now, so
    /// concurrent writers wait their turn).
    pub async fn begin(state: &AppState, caller: &Caller) -> ApiResult<Self> {
        Ok(Self {
            txn: crate::store::begin_write(&state.db).await?,
            audit: caller.audit(state),
        })
    }

    /// The transaction, for the store's functions.
    pub fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The instant this unit of work acts at.
    pub fn now(&self) -> DateTime<Utc> {
        self.audit.now
    }

    /// Records that `action` was done on `subject`, in this transaction.
    pub async fn allowed(&self, action: Action, subject: impl Into<Subject>) -> ApiResult<()> {
        self.audit.allowed(&self.txn, action, subject).await?;
        Ok(())
    }

    /// Issues a single-purpose link token for a patient, valid for `ttl`, and queues the email
    /// `compose` writes around it (to `recipient`, to go now). Returns the instant the link
    /// stops working.
    pub async fn email_patient_link(
        &self,
        state: &AppState,
        patient_id: uuid::Uuid,
        recipient: String,
        (purpose, ttl): (entity::account_token::Purpose, chrono::Duration),
        compose: impl FnOnce(&str) -> crate::notify::content::EmailContent,
    ) -> ApiResult<DateTime<Utc>> {
        let now = self.now();
        let secret = crate::store::account_tokens::issue(
            self.db(),
            now,
            purpose,
            crate::store::account_tokens::Subject::Patient(patient_id),
            ttl,
        )
        .await?;
        let message = crate::store::outbox::NewMessage::immediate(recipient, compose(&secret), now);
        state.outbox.enqueue(self.db(), now, message).await?;
        Ok(now + ttl)
    }

    pub async fn commit(self) -> ApiResult<()> {
        self.txn.commit().await.map_err(ApiError::from)
    }

    /// Gives the work up explicitly (dropping does the same, later).
    pub async fn rollback(self) -> ApiResult<()> {
        self.txn.rollback().await.map_err(ApiError::from)
    }

    /// [`Work::begin`] for a use case nobody is signed in for (a link from an email, whose
    /// token is the credential): audited with the request's `context` alone.
    pub async fn begin_anonymous(state: &AppState, context: AuditContext) -> ApiResult<Self> {
        Ok(Self {
            txn: crate::store::begin_write(&state.db).await?,
            audit: Audit::new(context, state.clock.now()),
        })
    }
}
