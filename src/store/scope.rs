//! Scoped finders: a record is loaded together with the question "may this caller see it?", so
//! that no use case can forget to ask. The service layer turns a hidden record into a 404 and a
//! denied audit entry (`service::access::Caller::visible`).

use entity::{appointment, intake, patient, practitioner};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::{appointments, intakes, patients, practitioners};

/// Whose patient records a caller may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientScope {
    /// Staff and practitioners: any patient's (their role decides how much of it they see).
    AnyPatient,
    /// A patient: only the record linked to their own account.
    Account(Uuid),
}

impl PatientScope {
    /// Whether a record belongs to this scope. The single statement of the rule.
    pub fn admits(self, record: &patient::Model) -> bool {
        match self {
            Self::AnyPatient => true,
            Self::Account(user_id) => record.user_id == Some(user_id),
        }
    }
}

/// What a scoped finder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    Visible(T),
    /// Not there, or not the caller's to see; `owner` is the patient a record that exists
    /// belongs to (for the audit entry, never for the caller).
    Hidden {
        owner: Option<Uuid>,
    },
}

impl<T> Found<T> {
    pub fn visible(self) -> Option<T> {
        match self {
            Self::Visible(row) => Some(row),
            Self::Hidden { .. } => None,
        }
    }
}

/// A patient record in `scope`.
#[tracing::instrument(name = "store.scope.patient", skip_all)]
pub async fn patient<C: ConnectionTrait>(
    db: &C,
    scope: PatientScope,
    id: Uuid,
) -> Result<Found<patient::Model>, DbErr> {
    Ok(match patients::find(db, id).await? {
        Some(record) if scope.admits(&record) => Found::Visible(record),
        Some(record) => Found::Hidden {
            owner: Some(record.id),
        },
        None => Found::Hidden { owner: None },
    })
}

/// An intake (or follow-up) of a patient in `scope`.
#[tracing::instrument(name = "store.scope.intake", skip_all)]
pub async fn intake<C: ConnectionTrait>(
    db: &C,
    scope: PatientScope,
    id: Uuid,
) -> Result<Found<intake::Model>, DbErr> {
    let row = intakes::find(db, id).await?;
    owned_by(db, scope, row, |row| row.patient_id).await
}

/// An appointment of a patient in `scope`.
#[tracing::instrument(name = "store.scope.appointment", skip_all)]
pub async fn appointment<C: ConnectionTrait>(
    db: &C,
    scope: PatientScope,
    id: Uuid,
) -> Result<Found<appointment::Model>, DbErr> {
    let row = appointments::find(db, id).await?;
    owned_by(db, scope, row, |row| row.patient_id).await
}

/// `row`, if its patient is in `scope`. Only a patient's scope needs the record read.
async fn owned_by<C: ConnectionTrait, T>(
    db: &C,
    scope: PatientScope,
    row: Option<T>,
    patient_of: impl Fn(&T) -> Uuid,
) -> Result<Found<T>, DbErr> {
    let Some(row) = row else {
        return Ok(Found::Hidden { owner: None });
    };
    let owner = patient_of(&row);
    let admitted = match scope {
        PatientScope::AnyPatient => true,
        PatientScope::Account(_) => patients::find(db, owner)
            .await?
            .is_some_and(|record| scope.admits(&record)),
    };
    Ok(if admitted {
        Found::Visible(row)
    } else {
        Found::Hidden { owner: Some(owner) }
    })
}

/// Which practitioners' own settings (their calendar feed token) a caller may manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PractitionerScope {
    /// The front desk and admins: any practitioner's.
    AnyPractitioner,
    /// A practitioner: only the practitioner linked to their own account.
    Account(Uuid),
}

impl PractitionerScope {
    /// Whether a practitioner belongs to this scope. The single statement of the rule.
    pub fn admits(self, record: &practitioner::Model) -> bool {
        match self {
            Self::AnyPractitioner => true,
            Self::Account(user_id) => record.user_id == user_id,
        }
    }
}

/// A practitioner in `scope`. Another practitioner's record is hidden like a missing one.
#[tracing::instrument(name = "store.scope.practitioner", skip_all)]
pub async fn practitioner<C: ConnectionTrait>(
    db: &C,
    scope: PractitionerScope,
    id: Uuid,
) -> Result<Found<practitioner::Model>, DbErr> {
    Ok(match practitioners::find(db, id).await? {
        Some(record) if scope.admits(&record) => Found::Visible(record),
        _ => Found::Hidden { owner: None },
    })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;

    fn record(user_id: Option<Uuid>) -> patient::Model {
        let now = Utc::now();
        patient::Model {
            id: Uuid::now_v7(),
            user_id,
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            email: None,
            pending_email: None,
            phone: None,
            created_at: now,
            updated_at: now,
            created_by: None,
        }
    }

    #[test]
    fn a_patient_is_admitted_only_to_their_own_record() {
        let me = Uuid::now_v7();
        let someone = Uuid::now_v7();
        assert!(PatientScope::Account(me).admits(&record(Some(me))));
        assert!(!PatientScope::Account(me).admits(&record(Some(someone))));
        assert!(!PatientScope::Account(me).admits(&record(None)));
        assert!(PatientScope::AnyPatient.admits(&record(None)));
        assert!(PatientScope::AnyPatient.admits(&record(Some(someone))));
    }

    fn practitioner_of(user_id: Uuid) -> practitioner::Model {
        let now = Utc::now();
        practitioner::Model {
            id: Uuid::now_v7(),
            user_id,
            display_name: "Sam Taylor".into(),
            discipline: practitioner::Discipline::Chiropractic,
            active: true,
            calendar_token_hash: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_practitioner_is_admitted_only_to_their_own_record() {
        let me = Uuid::now_v7();
        let colleague = Uuid::now_v7();
        assert!(PractitionerScope::Account(me).admits(&practitioner_of(me)));
        assert!(!PractitionerScope::Account(me).admits(&practitioner_of(colleague)));
        assert!(PractitionerScope::AnyPractitioner.admits(&practitioner_of(colleague)));
    }
}
