//! Intakes and follow-ups: drafts, submissions with their triage result, the review queue and
//! practitioners' decisions. Who may see which intake is decided by the scoped finders
//! ([`super::scope`]); what a submission or a decision changes is decided by `triage` and
//! handed in here to be written.

use chrono::{DateTime, Utc};
use entity::{
    intake::{self, Column, Entity, IntakeStatus, ReviewStatus},
    review_decision,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

use crate::triage::{Disposition, review::Decision};

pub struct NewIntake {
    pub patient_id: Uuid,
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    /// Starting answers (a correction starts from the answers it corrects).
    pub answers: String,
    pub created_by: Option<Uuid>,
    pub supersedes: Option<Uuid>,
}

#[tracing::instrument(name = "store.intakes.create", skip_all)]
pub async fn create<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    new: NewIntake,
) -> Result<intake::Model, DbErr> {
    intake::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(new.patient_id),
        questionnaire_id: Set(new.questionnaire_id),
        questionnaire_version: Set(new.questionnaire_version),
        status: Set(IntakeStatus::Draft),
        answers: Set(new.answers),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
        submitted_at: Set(None),
        supersedes: Set(new.supersedes),
        rule_set_version: Set(None),
        disposition: Set(None),
        result: Set(None),
        review_status: Set(None),
        severity: Set(None),
        pain_now: Set(None),
        odi_hundredths: Set(None),
    }
    .insert(db)
    .await
}

#[tracing::instrument(name = "store.intakes.find", skip_all)]
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<intake::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// Replaces a draft's answers. `false` when the intake is no longer a draft.
#[tracing::instrument(name = "store.intakes.save_answers", skip_all)]
pub async fn save_answers<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    answers: String,
) -> Result<bool, DbErr> {
    let saved = Entity::update_many()
        .col_expr(Column::Answers, Expr::value(answers))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(IntakeStatus::Draft))
        .exec(db)
        .await?;
    Ok(saved.rows_affected == 1)
}

/// What a submission stores besides its answers.
pub struct Judgement {
    pub rule_set_version: String,
    pub questionnaire_version: String,
    pub disposition: Disposition,
    /// `Pending` puts the submission in the review queue; `None` keeps it out.
    pub review_status: Option<ReviewStatus>,
    /// The review queue's order (most severe highest).
    pub severity: Option<i16>,
    /// The evaluation as the intake is shown from (`triage::EvaluationRecord`), as JSON text.
    pub result: String,
    pub pain_now: Option<i16>,
    pub odi_hundredths: Option<i32>,
}

/// Turns a draft into a submission, once: `false` if it was submitted already (by a concurrent
/// request, say). The submission is immutable from here on.
#[tracing::instrument(name = "store.intakes.submit", skip_all)]
pub async fn submit<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    answers: String,
    judgement: Judgement,
) -> Result<bool, DbErr> {
    let submitted = Entity::update_many()
        .col_expr(Column::Status, Expr::value(IntakeStatus::Submitted))
        .col_expr(Column::Answers, Expr::value(answers))
        .col_expr(Column::SubmittedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(
            Column::RuleSetVersion,
            Expr::value(judgement.rule_set_version),
        )
        .col_expr(
            Column::QuestionnaireVersion,
            Expr::value(judgement.questionnaire_version),
        )
        .col_expr(
            Column::Disposition,
            Expr::value(Some(stored_disposition(judgement.disposition))),
        )
        .col_expr(Column::Result, Expr::value(judgement.result))
        .col_expr(Column::ReviewStatus, Expr::value(judgement.review_status))
        .col_expr(Column::Severity, Expr::value(judgement.severity))
        .col_expr(Column::PainNow, Expr::value(judgement.pain_now))
        .col_expr(Column::OdiHundredths, Expr::value(judgement.odi_hundredths))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(IntakeStatus::Draft))
        .exec(db)
        .await?;
    Ok(submitted.rows_affected == 1)
}

/// Marks a submission as corrected by a later one. Its place in the review queue goes with it.
#[tracing::instrument(name = "store.intakes.supersede", skip_all)]
pub async fn supersede<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(IntakeStatus::Superseded))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(IntakeStatus::Submitted))
        .exec(db)
        .await?;
    Entity::update_many()
        .col_expr(
            Column::ReviewStatus,
            Expr::value(Some(ReviewStatus::Decided)),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::ReviewStatus.eq(ReviewStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// A patient's intakes and follow-ups, newest first.
#[tracing::instrument(name = "store.intakes.for_patient", skip_all)]
pub async fn for_patient<C: ConnectionTrait>(
    db: &C,
    patient_id: Uuid,
) -> Result<Vec<intake::Model>, DbErr> {
    Entity::find()
        .filter(Column::PatientId.eq(patient_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(db)
        .await
}

/// The review queue: most severe first, then oldest first.
#[tracing::instrument(name = "store.intakes.review_queue", skip_all)]
pub async fn review_queue<C: ConnectionTrait>(
    db: &C,
    status: ReviewStatus,
) -> Result<Vec<intake::Model>, DbErr> {
    Entity::find()
        .filter(Column::ReviewStatus.eq(status))
        .order_by_desc(Column::Severity)
        .order_by_asc(Column::SubmittedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await
}

/// A practitioner's decision, and whether it closes the case (`triage::review::closes_case`).
pub struct NewDecision {
    pub intake_id: Uuid,
    pub decided_by: Uuid,
    pub decision: Decision,
    pub note: String,
    pub closes_case: bool,
}

/// Records a practitioner's decision, and takes the case out of the queue if it closes it.
#[tracing::instrument(name = "store.intakes.record_decision", skip_all)]
pub async fn record_decision<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    new: NewDecision,
) -> Result<review_decision::Model, DbErr> {
    let row = review_decision::ActiveModel {
        id: Set(Uuid::now_v7()),
        intake_id: Set(new.intake_id),
        decided_by: Set(new.decided_by),
        decision: Set(stored_decision(new.decision)),
        note: Set(new.note),
        decided_at: Set(now),
    }
    .insert(db)
    .await?;
    if new.closes_case {
        Entity::update_many()
            .col_expr(
                Column::ReviewStatus,
                Expr::value(Some(ReviewStatus::Decided)),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(new.intake_id))
            .exec(db)
            .await?;
    }
    Ok(row)
}

/// The decisions on an intake, oldest first.
#[tracing::instrument(name = "store.intakes.decisions", skip_all)]
pub async fn decisions<C: ConnectionTrait>(
    db: &C,
    intake_id: Uuid,
) -> Result<Vec<review_decision::Model>, DbErr> {
    review_decision::Entity::find()
        .filter(review_decision::Column::IntakeId.eq(intake_id))
        .order_by_asc(review_decision::Column::DecidedAt)
        .order_by_asc(review_decision::Column::Id)
        .all(db)
        .await
}

/// A stored disposition as the triage rules name it. The one mapping between the column and
/// `triage`; the database refuses (a read error) a value that is none of these.
pub fn triage_disposition(stored: intake::Disposition) -> Disposition {
    match stored {
        intake::Disposition::Routine => Disposition::Routine,
        intake::Disposition::Review => Disposition::Review,
        intake::Disposition::Urgent => Disposition::Urgent,
        intake::Disposition::Emergency => Disposition::Emergency,
    }
}

/// The stored form of a disposition.
pub fn stored_disposition(disposition: Disposition) -> intake::Disposition {
    match disposition {
        Disposition::Routine => intake::Disposition::Routine,
        Disposition::Review => intake::Disposition::Review,
        Disposition::Urgent => intake::Disposition::Urgent,
        Disposition::Emergency => intake::Disposition::Emergency,
    }
}

/// A stored decision as `triage` names it.
pub fn triage_decision(stored: review_decision::Decision) -> Decision {
    match stored {
        review_decision::Decision::ClearedForCare => Decision::ClearedForCare,
        review_decision::Decision::ReferToGp => Decision::ReferToGp,
        review_decision::Decision::ReferToEmergency => Decision::ReferToEmergency,
        review_decision::Decision::ContactedPatient => Decision::ContactedPatient,
    }
}

/// The stored form of a decision.
pub fn stored_decision(decision: Decision) -> review_decision::Decision {
    match decision {
        Decision::ClearedForCare => review_decision::Decision::ClearedForCare,
        Decision::ReferToGp => review_decision::Decision::ReferToGp,
        Decision::ReferToEmergency => review_decision::Decision::ReferToEmergency,
        Decision::ContactedPatient => review_decision::Decision::ContactedPatient,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    #[test]
    fn every_disposition_is_stored_as_its_name_and_read_back_as_itself() {
        for disposition in Disposition::ALL {
            let stored = stored_disposition(disposition);
            // The column holds the names rows were always written with.
            assert_eq!(stored.to_value(), disposition.as_str());
            let read = intake::Disposition::try_from_value(&disposition.as_str().to_owned());
            assert_eq!(read.ok().map(triage_disposition), Some(disposition));
        }
    }

    #[test]
    fn an_unknown_stored_disposition_is_refused() {
        assert!(intake::Disposition::try_from_value(&"severe".to_owned()).is_err());
    }

    #[test]
    fn every_decision_is_stored_and_read_back_as_itself() {
        for decision in Decision::ALL {
            assert_eq!(triage_decision(stored_decision(decision)), decision);
        }
    }
}
