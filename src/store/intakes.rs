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
    ActiveEnum, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QueryResult,
    TryGetError, TryGetable,
    sea_query::{self, Alias, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement},
};
use uuid::Uuid;

use crate::triage::{
    Disposition,
    review::{CaseFacts, Decision},
};

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
        safety_interrupted_at: Set(None),
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

/// Records a draft's safety interrupt, once: the draft becomes an emergency case in the review
/// queue. `false` when it was interrupted already (or is no longer a draft), so practitioners
/// are alerted once per draft however often it is saved.
#[tracing::instrument(name = "store.intakes.interrupt", skip_all)]
pub async fn interrupt<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    severity: i16,
) -> Result<bool, DbErr> {
    let marked = Entity::update_many()
        .col_expr(Column::SafetyInterruptedAt, Expr::value(now))
        .col_expr(
            Column::ReviewStatus,
            Expr::value(Some(ReviewStatus::Pending)),
        )
        .col_expr(Column::Severity, Expr::value(severity))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(IntakeStatus::Draft))
        .filter(Column::SafetyInterruptedAt.is_null())
        .exec(db)
        .await?;
    Ok(marked.rows_affected == 1)
}

/// Marks a submission as corrected by a later one. Its place in the review queue and any flag
/// it holds stay: a correction supersedes the answers as the record of the patient's history
/// and nothing else (rules-v2.md); only a practitioner's decision closes a case.
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

/// The review queue: most severe first, then oldest first (interrupted drafts by their
/// interrupt).
#[tracing::instrument(name = "store.intakes.review_queue", skip_all)]
pub async fn review_queue<C: ConnectionTrait>(
    db: &C,
    status: ReviewStatus,
) -> Result<Vec<intake::Model>, DbErr> {
    Entity::find()
        .filter(Column::ReviewStatus.eq(status))
        .order_by_desc(Column::Severity)
        // An interrupted draft waits from its interrupt (and NULLs sort alike on both backends).
        .order_by(
            Func::coalesce([
                Expr::col(Column::SubmittedAt),
                Expr::col(Column::SafetyInterruptedAt),
            ]),
            Order::Asc,
        )
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

// ---------------------------------------------------------------------------------------------
// Cases: the raw facts the booking gate and the review queue decide flags from
// ---------------------------------------------------------------------------------------------

/// One case of a patient as stored: a submission (intake or follow-up, superseded or not) or
/// a draft a safety interrupt made a case. Which of them hold a flag open is decided by
/// `triage::review` from [`CaseRow::facts`], not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub intake_id: Uuid,
    pub patient_id: Uuid,
    pub questionnaire_id: String,
    /// When it was submitted; `None` for an interrupted draft.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it became a case: submitted, or for a draft, interrupted.
    pub raised_at: DateTime<Utc>,
    pub safety_interrupted: bool,
    pub disposition: Option<Disposition>,
    pub latest_decision: Option<Decision>,
}

impl CaseRow {
    pub fn facts(&self) -> CaseFacts {
        CaseFacts {
            raised_at: self.raised_at,
            disposition: self.disposition,
            safety_interrupted: self.safety_interrupted,
            latest_decision: self.latest_decision,
        }
    }
}

/// The columns of [`cases_query`], in order.
pub(crate) const CASE_COLUMNS: [&str; 7] = [
    "case_intake_id",
    "case_patient_id",
    "case_questionnaire_id",
    "case_submitted",
    "case_raised_at",
    "case_safety_interrupted",
    "case_state",
];

/// Every case of the patients `patient_matches` selects (a condition on
/// `intakes.patient_id`), with its latest decision. A missing disposition or decision is
/// read as `''` (in `case_state`, `disposition/decision`), so the columns also travel as
/// PostgreSQL arrays, which cannot carry NULLs through sea-orm.
pub(crate) fn cases_query(patient_matches: sea_query::SimpleExpr) -> SelectStatement {
    let latest_decision = Query::select()
        .column((review_decision::Entity, review_decision::Column::Decision))
        .from(review_decision::Entity)
        .and_where(
            Expr::col((review_decision::Entity, review_decision::Column::IntakeId))
                .equals((Entity, Column::Id)),
        )
        .order_by(
            (review_decision::Entity, review_decision::Column::DecidedAt),
            Order::Desc,
        )
        .order_by(
            (review_decision::Entity, review_decision::Column::Id),
            Order::Desc,
        )
        .limit(1)
        .to_owned();
    let text = |expr: Expr| Expr::from(Func::coalesce([expr, Expr::val("")]));
    let concat = sea_query::BinOper::Custom("||");
    let state = text(Expr::col((Entity, Column::Disposition)))
        .binary(concat, Expr::val("/"))
        .binary(concat, text(Expr::from(latest_decision)));
    let raised_at = Func::coalesce([
        Expr::col((Entity, Column::SubmittedAt)),
        Expr::col((Entity, Column::SafetyInterruptedAt)),
    ]);
    let columns: [Expr; 7] = [
        Expr::col((Entity, Column::Id)),
        Expr::col((Entity, Column::PatientId)),
        Expr::col((Entity, Column::QuestionnaireId)),
        Expr::col((Entity, Column::SubmittedAt)).is_not_null(),
        raised_at.clone().into(),
        Expr::col((Entity, Column::SafetyInterruptedAt)).is_not_null(),
        state,
    ];
    let mut query = Query::select();
    query.from(Entity).and_where(patient_matches);
    // A draft that was never interrupted is no case.
    query.and_where(Expr::expr(raised_at).is_not_null());
    for (column, name) in columns.into_iter().zip(CASE_COLUMNS) {
        query.expr_as(column, Alias::new(name));
    }
    query
}

/// Reads one case from columns named `<prefix><CASE_COLUMNS>`… as a row of [`cases_query`].
fn case_from(row: &QueryResult) -> Result<CaseRow, DbErr> {
    let state: String = row.try_get("", CASE_COLUMNS[6])?;
    let submitted: bool = row.try_get("", CASE_COLUMNS[3])?;
    let raised_at: DateTime<Utc> = row.try_get("", CASE_COLUMNS[4])?;
    let (disposition, latest_decision) = case_state(&state)?;
    Ok(CaseRow {
        intake_id: row.try_get("", CASE_COLUMNS[0])?,
        patient_id: row.try_get("", CASE_COLUMNS[1])?,
        questionnaire_id: row.try_get("", CASE_COLUMNS[2])?,
        submitted_at: submitted.then_some(raised_at),
        raised_at,
        safety_interrupted: row.try_get("", CASE_COLUMNS[5])?,
        disposition,
        latest_decision,
    })
}

/// `disposition/decision` as [`cases_query`] writes it. A value that is none of the stored
/// ones fails the read, so the gate fails closed.
fn case_state(state: &str) -> Result<(Option<Disposition>, Option<Decision>), DbErr> {
    let unreadable = || DbErr::Custom(format!("unreadable case state {state:?}"));
    let (disposition, decision) = state.split_once('/').ok_or_else(unreadable)?;
    let disposition = match disposition {
        "" => None,
        stored => Some(triage_disposition(
            intake::Disposition::try_from_value(&stored.to_owned()).map_err(|_| unreadable())?,
        )),
    };
    let decision = match decision {
        "" => None,
        stored => Some(triage_decision(
            review_decision::Decision::try_from_value(&stored.to_owned())
                .map_err(|_| unreadable())?,
        )),
    };
    Ok((disposition, decision))
}

/// The cases of `patient_ids`.
#[tracing::instrument(name = "store.intakes.cases", skip_all)]
pub async fn cases<C: ConnectionTrait>(
    db: &C,
    patient_ids: &[Uuid],
) -> Result<Vec<CaseRow>, DbErr> {
    if patient_ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = cases_query(Column::PatientId.is_in(patient_ids.iter().copied()));
    db.query_all(&query).await?.iter().map(case_from).collect()
}

/// Adds [`cases_query`]'s columns as arrays `cases_<column>` (one row, in the same statement,
/// PostgreSQL only) to `select`.
pub(crate) fn join_case_arrays(
    select: &mut SelectStatement,
    patient_matches: sea_query::SimpleExpr,
) {
    let alias = Alias::new("cases");
    let mut part = Query::select();
    part.from_subquery(cases_query(patient_matches), Alias::new("case_rows"));
    for column in CASE_COLUMNS {
        let name = Alias::new(format!("cases_{column}"));
        part.expr_as(
            Func::cust("array_agg").arg(Expr::col(Alias::new(column))),
            name.clone(),
        );
        select.column((alias.clone(), name));
    }
    // An aggregate without GROUP BY is always one row (its arrays null when empty).
    select.join_subquery(JoinType::LeftJoin, part, alias, Expr::cust("TRUE"));
}

/// The cases [`join_case_arrays`] put in `row`.
pub(crate) fn cases_from_arrays(row: &QueryResult) -> Result<Vec<CaseRow>, DbErr> {
    fn array<T>(row: &QueryResult, column: &str) -> Result<Vec<T>, DbErr>
    where
        Vec<T>: TryGetable,
    {
        match Vec::<T>::try_get(row, "", &format!("cases_{column}")) {
            Ok(values) => Ok(values),
            Err(TryGetError::Null(_)) => Ok(Vec::new()),
            Err(TryGetError::DbErr(err)) => Err(err),
        }
    }
    let ids: Vec<Uuid> = array(row, CASE_COLUMNS[0])?;
    let patients: Vec<Uuid> = array(row, CASE_COLUMNS[1])?;
    let questionnaires: Vec<String> = array(row, CASE_COLUMNS[2])?;
    let submitted: Vec<bool> = array(row, CASE_COLUMNS[3])?;
    let raised: Vec<DateTime<Utc>> = array(row, CASE_COLUMNS[4])?;
    let interrupted: Vec<bool> = array(row, CASE_COLUMNS[5])?;
    let states: Vec<String> = array(row, CASE_COLUMNS[6])?;
    let n = ids.len();
    if [
        patients.len(),
        questionnaires.len(),
        submitted.len(),
        raised.len(),
        interrupted.len(),
        states.len(),
    ] != [n; 6]
    {
        return Err(DbErr::Custom("case arrays of different lengths".into()));
    }
    let mut cases = Vec::with_capacity(n);
    for i in 0..n {
        let (disposition, latest_decision) = case_state(&states[i])?;
        cases.push(CaseRow {
            intake_id: ids[i],
            patient_id: patients[i],
            questionnaire_id: questionnaires[i].clone(),
            submitted_at: submitted[i].then_some(raised[i]),
            raised_at: raised[i],
            safety_interrupted: interrupted[i],
            disposition,
            latest_decision,
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod case_tests {
    use chrono::TimeZone;
    use migration::MigratorTrait;
    use sea_orm::{Database, DatabaseConnection};

    use super::*;

    async fn database() -> DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        migration::Migrator::up(&db, None).await.expect("migrated");
        // The cases read only intakes and decisions: no patients or practitioners needed.
        db.execute_unprepared("PRAGMA foreign_keys = OFF")
            .await
            .expect("pragma");
        db
    }

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, hour, 0, 0).unwrap()
    }

    async fn draft(db: &DatabaseConnection, patient_id: Uuid, questionnaire: &str) -> Uuid {
        create(
            db,
            at(8),
            NewIntake {
                patient_id,
                questionnaire_id: questionnaire.into(),
                questionnaire_version: "2".into(),
                answers: "{}".into(),
                created_by: None,
                supersedes: None,
            },
        )
        .await
        .expect("created")
        .id
    }

    fn judged(disposition: Disposition) -> Judgement {
        Judgement {
            rule_set_version: "v2".into(),
            questionnaire_version: "2".into(),
            disposition,
            review_status: Some(ReviewStatus::Pending),
            severity: Some(i16::from(disposition.severity())),
            result: "{}".into(),
            pain_now: None,
            odi_hundredths: None,
        }
    }

    /// Cases are read as stored, the latest decision with each, and the same on both of the
    /// shapes the booking facts use (rows here; PostgreSQL arrays share the columns).
    #[tokio::test]
    async fn cases_are_submissions_with_their_latest_decision_and_drafts_are_not() {
        let db = database().await;
        let patient = Uuid::now_v7();
        let other_patient = Uuid::now_v7();
        let _unsent = draft(&db, patient, "intake").await;
        let urgent = draft(&db, patient, "intake").await;
        assert!(
            submit(&db, at(9), urgent, "{}".into(), judged(Disposition::Urgent))
                .await
                .unwrap()
        );
        let follow_up = draft(&db, patient, "follow-up").await;
        assert!(
            submit(
                &db,
                at(10),
                follow_up,
                "{}".into(),
                judged(Disposition::Routine)
            )
            .await
            .unwrap()
        );
        let elsewhere = draft(&db, other_patient, "intake").await;
        assert!(
            submit(
                &db,
                at(9),
                elsewhere,
                "{}".into(),
                judged(Disposition::Emergency)
            )
            .await
            .unwrap()
        );
        for (hour, decision) in [(11, Decision::ClearedForCare), (12, Decision::ReferToGp)] {
            record_decision(
                &db,
                at(hour),
                NewDecision {
                    intake_id: urgent,
                    decided_by: Uuid::now_v7(),
                    decision,
                    note: "Spoke on the phone.".into(),
                    closes_case: true,
                },
            )
            .await
            .unwrap();
        }
        let mut cases = cases(&db, &[patient]).await.unwrap();
        cases.sort_by_key(|case| case.raised_at);
        assert_eq!(
            cases,
            [
                CaseRow {
                    intake_id: urgent,
                    patient_id: patient,
                    questionnaire_id: "intake".into(),
                    submitted_at: Some(at(9)),
                    raised_at: at(9),
                    safety_interrupted: false,
                    disposition: Some(Disposition::Urgent),
                    latest_decision: Some(Decision::ReferToGp),
                },
                CaseRow {
                    intake_id: follow_up,
                    patient_id: patient,
                    questionnaire_id: "follow-up".into(),
                    submitted_at: Some(at(10)),
                    raised_at: at(10),
                    safety_interrupted: false,
                    disposition: Some(Disposition::Routine),
                    latest_decision: None,
                },
            ]
        );
    }
}
