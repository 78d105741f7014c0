//! The practitioners' review queue: flagged submissions, most severe first; a case with
//! everything needed to decide it; and their decisions. Which decision closes a case is the
//! triage module's rule ([`closes_case`]); a newer or corrected submission
//! never lifts a flag, only a practitioner's decision does.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{intake::IntakeStatus, patient, review_decision};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Subject},
    error::{ApiError, ApiResult},
    scheduling::{IntakeGateFacts, OpenFlag},
    service::{
        Caller, Work,
        access::PRACTITIONER,
        intake::{self, Intake, ReviewStatus, Visibility, result_of},
    },
    store::{
        intakes::{self, CaseRow, NewDecision, triage_decision},
        patients,
    },
    triage::{
        Disposition, INTAKE_QUESTIONNAIRE,
        review::{Decision, closes_case, most_severe_open_flag},
    },
};

/// A case in the review queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub intake_id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub questionnaire_id: String,
    /// Emergency answers in a draft not submitted yet (the safety interrupt).
    pub unsubmitted: bool,
    pub disposition: Disposition,
    /// When it was submitted, or for an unsubmitted draft, interrupted.
    pub submitted_at: DateTime<Utc>,
    /// Minutes since submission.
    pub waiting_minutes: i64,
    /// The rules that fired, most severe first.
    pub rule_ids: Vec<String>,
    /// The most severe flag the patient has open (on this case or another): a case with a
    /// mild disposition of its own is queued because of it.
    pub open_flag: Option<Disposition>,
}

/// The review queue (`Pending` or `Decided` cases): most severe first, then oldest first.
#[tracing::instrument(name = "service.review.queue", skip_all)]
pub async fn queue(
    state: &AppState,
    caller: &Caller,
    status: ReviewStatus,
) -> ApiResult<Vec<QueueEntry>> {
    caller.require(state, PRACTITIONER).await?;
    let now = state.clock.now();
    let rows = intakes::review_queue(&state.db, status.stored()).await?;
    // One query for every patient in the queue, not one per case.
    let names: std::collections::HashMap<Uuid, String> =
        patients::find_many(&state.db, rows.iter().map(|row| row.patient_id))
            .await?
            .into_iter()
            .map(|record| (record.id, full_name(&record)))
            .collect();
    let mut patient_ids: Vec<Uuid> = rows.iter().map(|row| row.patient_id).collect();
    patient_ids.sort_unstable();
    patient_ids.dedup();
    let cases = intakes::cases(&state.db, &patient_ids).await?;
    let entries = rows
        .into_iter()
        .filter_map(|row| {
            // An interrupted draft is queued before it has a result: its emergency answers.
            let (disposition, rule_ids) = match result_of(&row) {
                Some(result) => (
                    result.disposition,
                    result
                        .findings
                        .into_iter()
                        .map(|finding| finding.rule_id)
                        .collect(),
                ),
                None if row.safety_interrupted_at.is_some() => (Disposition::Emergency, Vec::new()),
                None => return None,
            };
            let submitted_at = row
                .submitted_at
                .or(row.safety_interrupted_at)
                .unwrap_or(row.created_at);
            Some(QueueEntry {
                intake_id: row.id,
                patient_id: row.patient_id,
                patient_name: names.get(&row.patient_id).cloned().unwrap_or_default(),
                unsubmitted: row.status == IntakeStatus::Draft,
                questionnaire_id: row.questionnaire_id,
                disposition,
                submitted_at,
                waiting_minutes: (now - submitted_at).num_minutes().max(0),
                rule_ids,
                open_flag: most_severe_open_flag(
                    cases
                        .iter()
                        .filter(|case| case.patient_id == row.patient_id)
                        .map(CaseRow::facts),
                    now,
                ),
            })
        })
        .collect();
    caller
        .audit(state)
        .allowed(&state.db, Action::ReviewQueueRead, Subject::NONE)
        .await?;
    Ok(entries)
}

/// A practitioner's decision, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDecision {
    pub id: Uuid,
    pub decision: Decision,
    pub note: String,
    pub decided_by: Uuid,
    pub decided_at: DateTime<Utc>,
}

impl From<review_decision::Model> for RecordedDecision {
    fn from(row: review_decision::Model) -> Self {
        Self {
            id: row.id,
            decision: triage_decision(row.decision),
            note: row.note,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
        }
    }
}

/// Everything a practitioner needs to decide a case.
#[derive(Debug, Clone)]
pub struct Case {
    pub intake: Intake,
    pub patient_name: String,
    pub date_of_birth: NaiveDate,
    /// How to reach the patient (a practitioner may need to, today).
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The patient's other submissions, newest first.
    pub earlier: Vec<Intake>,
    /// Oldest first.
    pub decisions: Vec<RecordedDecision>,
}

/// Opens a case: the intake with its answers, scores and fired rules, the patient's other
/// submissions, and the decisions so far.
#[tracing::instrument(name = "service.review.case", skip_all)]
pub async fn case(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Case> {
    let row = intake::visible(state, caller, PRACTITIONER, id, Action::IntakeRead).await?;
    let record = patients::find(&state.db, row.patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let earlier = intakes::for_patient(&state.db, row.patient_id)
        .await?
        .into_iter()
        .filter(|other| other.id != row.id && other.status != IntakeStatus::Draft)
        .map(|other| Intake::shown(other, Visibility::Clinical))
        .collect();
    let decisions = intakes::decisions(&state.db, row.id)
        .await?
        .into_iter()
        .map(RecordedDecision::from)
        .collect();
    caller
        .audit(state)
        .allowed(&state.db, Action::IntakeRead, &row)
        .await?;
    Ok(Case {
        intake: Intake::shown(row, Visibility::Clinical),
        patient_name: full_name(&record),
        date_of_birth: record.date_of_birth,
        email: record.email.clone(),
        phone: record.phone.clone(),
        earlier,
        decisions,
    })
}

/// A decision on a flagged case, with the note that explains it.
#[derive(Debug, Clone)]
pub struct Decide {
    pub decision: Decision,
    pub note: String,
}

/// Records a decision on a flagged case (a submission, corrected since or not: a correction
/// never closes a case); the case leaves the queue when the decision closes it, and the
/// latest decision is what the booking gate reads.
#[tracing::instrument(name = "service.review.decide", skip_all)]
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    command: Decide,
) -> ApiResult<RecordedDecision> {
    let row = intake::visible(state, caller, PRACTITIONER, id, Action::ReviewDecision).await?;
    let interrupted_draft = row.safety_interrupted_at.is_some();
    if row.review_status.is_none() || (row.status == IntakeStatus::Draft && !interrupted_draft) {
        return Err(ApiError::Conflict {
            code: "not_in_review",
            detail: "Only a submission that was flagged for review, or a draft with emergency \
                     answers, takes decisions."
                .into(),
        });
    }
    let work = Work::begin(state, caller).await?;
    let decision = intakes::record_decision(
        work.db(),
        work.now(),
        NewDecision {
            intake_id: row.id,
            decided_by: caller.user_id(),
            decision: command.decision,
            note: command.note.trim().to_owned(),
            closes_case: closes_case(command.decision),
        },
    )
    .await?;
    work.allowed(Action::ReviewDecision, &row).await?;
    work.commit().await?;
    Ok(decision.into())
}

fn full_name(record: &patient::Model) -> String {
    format!("{} {}", record.given_name, record.family_name)
}

/// What the booking gate reads of a patient's cases: when the latest intake was submitted (a
/// follow-up is not an intake) and the most severe flag open at `now` (triage's rule).
pub fn gate_facts(cases: &[CaseRow], now: DateTime<Utc>) -> IntakeGateFacts {
    let latest_intake_at = cases
        .iter()
        .filter(|case| case.questionnaire_id == INTAKE_QUESTIONNAIRE)
        .filter_map(|case| case.submitted_at)
        .max();
    let open_flag = match most_severe_open_flag(cases.iter().map(CaseRow::facts), now) {
        Some(Disposition::Emergency) => Some(OpenFlag::Emergency),
        Some(Disposition::Urgent) => Some(OpenFlag::Urgent),
        Some(Disposition::Review | Disposition::Routine) | None => None,
    };
    IntakeGateFacts {
        latest_intake_at,
        open_flag,
    }
}

/// The most severe flag `patient_id` has open at `now`, read in `db` (a transaction, when
/// what is decided from it is written there).
pub(crate) async fn open_flag<C: sea_orm::ConnectionTrait>(
    db: &C,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<Option<Disposition>> {
    let cases = intakes::cases(db, &[patient_id]).await?;
    Ok(most_severe_open_flag(cases.iter().map(CaseRow::facts), now))
}
