//! `/api/v1/intakes` and `/api/v1/reviews`: a patient (or the front desk for a patient) starts
//! an intake, saves drafts and submits; the submission is validated, scored and judged by the
//! red-flag rules in one transaction, and flagged cases wait in the practitioners' review queue.
//! The use cases are `service::intake` and `service::review`; this is their JSON edge.
//!
//! What each role sees of an intake is decided in `service::intake::Visibility`: the patient
//! their own answers, disposition and advice (never the clinician rationale); the front desk the
//! status, the disposition and its general advice (never the answers, scores, fired rules or the
//! advice's reasons); practitioners everything. Admins see none of it. Fields a role does not
//! see are left out of the JSON, so the schema marks them optional.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    api::{
        ApiTags, caller,
        types::{Date, MultiLine},
    },
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    service::{
        intake::{self, Clinical, Intake, Outcome, ReviewStatus, StartIntake, Status, Visibility},
        review::{self, Decide, QueueEntry as Queued, RecordedDecision},
    },
    triage::{Disposition, Finding, PatientView, review::Decision},
};

/// How urgently the patient needs care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DispositionView {
    Routine,
    Review,
    Urgent,
    Emergency,
}

impl From<Disposition> for DispositionView {
    fn from(disposition: Disposition) -> Self {
        match disposition {
            Disposition::Routine => Self::Routine,
            Disposition::Review => Self::Review,
            Disposition::Urgent => Self::Urgent,
            Disposition::Emergency => Self::Emergency,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "IntakeStatus", rename_all = "lowercase")]
pub enum IntakeStatusView {
    Draft,
    Submitted,
    /// Corrected by a later submission.
    Superseded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReviewStatus", rename_all = "lowercase")]
pub enum ReviewStatusView {
    Pending,
    Decided,
}

pub use crate::error::Advice;

/// The triage result: what the patient is told to do next (the front desk sees it without
/// the advice's reasons).
#[derive(Debug, Clone, Object)]
pub struct TriageOutcome {
    pub disposition: DispositionView,
    pub advice: Advice,
}

/// One fired red-flag rule, for clinicians.
#[derive(Debug, Clone, Object)]
pub struct FindingView {
    pub rule_id: String,
    pub category: String,
    pub disposition: DispositionView,
    pub rationale: String,
    pub source: String,
}

/// Scores, derived facts and fired rules: for practitioners only.
#[derive(Debug, Clone, Object)]
pub struct ClinicalDetail {
    pub rule_set_version: String,
    /// The clinic's date the answers were judged on.
    pub as_of: Date,
    /// STarT Back, ODI and pain NRS scores.
    pub scores: Value,
    /// Age, age at onset, symptom days and the other derived facts the rules read.
    pub facts: Value,
    pub findings: Vec<FindingView>,
}

impl From<intake::Advice> for Advice {
    fn from(advice: intake::Advice) -> Self {
        Self {
            headline: advice.headline,
            paragraphs: advice.paragraphs,
            reasons: advice.reasons,
        }
    }
}

impl From<Outcome> for TriageOutcome {
    fn from(outcome: Outcome) -> Self {
        Self {
            disposition: outcome.disposition.into(),
            advice: outcome.advice.into(),
        }
    }
}

/// The clinicians' what-if (`POST /triage/evaluate`), which judges answers that are no one's:
/// shown whole, as to a practitioner.
impl From<PatientView> for TriageOutcome {
    fn from(view: PatientView) -> Self {
        Visibility::Clinical.outcome(view).into()
    }
}

impl From<Finding> for FindingView {
    fn from(finding: Finding) -> Self {
        Self {
            rule_id: finding.rule_id,
            category: finding.category,
            disposition: finding.disposition.into(),
            rationale: finding.rationale,
            source: finding.source,
        }
    }
}

impl From<Clinical> for ClinicalDetail {
    fn from(clinical: Clinical) -> Self {
        Self {
            rule_set_version: clinical.rule_set_version,
            as_of: Date(clinical.as_of),
            scores: clinical.scores,
            facts: clinical.facts,
            findings: clinical
                .findings
                .into_iter()
                .map(FindingView::from)
                .collect(),
        }
    }
}

/// A practitioner's decision on a flagged intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Safe for chiropractic or physiotherapy care; lets an urgent patient book.
    ClearedForCare,
    ReferToGp,
    ReferToEmergency,
    /// Spoke to the patient; the case stays open.
    ContactedPatient,
}

impl From<DecisionKind> for Decision {
    fn from(kind: DecisionKind) -> Self {
        match kind {
            DecisionKind::ClearedForCare => Self::ClearedForCare,
            DecisionKind::ReferToGp => Self::ReferToGp,
            DecisionKind::ReferToEmergency => Self::ReferToEmergency,
            DecisionKind::ContactedPatient => Self::ContactedPatient,
        }
    }
}

impl From<Decision> for DecisionKind {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::ClearedForCare => Self::ClearedForCare,
            Decision::ReferToGp => Self::ReferToGp,
            Decision::ReferToEmergency => Self::ReferToEmergency,
            Decision::ContactedPatient => Self::ContactedPatient,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct DecisionView {
    pub id: Uuid,
    pub decision: DecisionKind,
    pub note: String,
    pub decided_by: Uuid,
    pub decided_at: DateTime<Utc>,
}

impl From<RecordedDecision> for DecisionView {
    fn from(recorded: RecordedDecision) -> Self {
        Self {
            id: recorded.id,
            decision: recorded.decision.into(),
            note: recorded.note,
            decided_by: recorded.decided_by,
            decided_at: recorded.decided_at,
        }
    }
}

/// An intake or follow-up, as much of it as the caller may see.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Intake")]
pub struct IntakeView {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// `intake` or `follow-up`.
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    pub status: IntakeStatusView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// The submission this one corrects.
    #[oai(skip_serializing_if_is_none)]
    pub supersedes: Option<Uuid>,
    /// Submitted intakes: how urgently care is needed (every role that may see the intake).
    #[oai(skip_serializing_if_is_none)]
    pub disposition: Option<DispositionView>,
    /// The answers (`linkId -> value`): the patient and practitioners, never the front desk.
    #[oai(skip_serializing_if_is_none)]
    pub answers: Option<BTreeMap<String, Value>>,
    /// Submitted intakes: the advice the patient was given (the front desk without its
    /// reasons).
    #[oai(skip_serializing_if_is_none)]
    pub advice: Option<Advice>,
    /// Practitioners only.
    #[oai(skip_serializing_if_is_none)]
    pub clinical: Option<ClinicalDetail>,
    /// Practitioners only, for flagged submissions.
    #[oai(skip_serializing_if_is_none)]
    pub review_status: Option<ReviewStatusView>,
    /// A draft just saved whose answers call for emergency care now (the safety interrupt):
    /// the emergency advice to show at once, before the rest of the form.
    #[oai(skip_serializing_if_is_none)]
    pub safety_advice: Option<Advice>,
}

impl From<Status> for IntakeStatusView {
    fn from(status: Status) -> Self {
        match status {
            Status::Draft => Self::Draft,
            Status::Submitted => Self::Submitted,
            Status::Superseded => Self::Superseded,
        }
    }
}

impl From<ReviewStatus> for ReviewStatusView {
    fn from(status: ReviewStatus) -> Self {
        match status {
            ReviewStatus::Pending => Self::Pending,
            ReviewStatus::Decided => Self::Decided,
        }
    }
}

impl From<Intake> for IntakeView {
    fn from(shown: Intake) -> Self {
        Self {
            id: shown.id,
            patient_id: shown.patient_id,
            questionnaire_id: shown.questionnaire_id,
            questionnaire_version: shown.questionnaire_version,
            status: shown.status.into(),
            created_at: shown.created_at,
            updated_at: shown.updated_at,
            submitted_at: shown.submitted_at,
            supersedes: shown.supersedes,
            disposition: shown.disposition.map(DispositionView::from),
            answers: shown.answers,
            advice: shown.advice.map(Advice::from),
            safety_advice: shown.safety_advice.map(Advice::from),
            clinical: shown.clinical.map(ClinicalDetail::from),
            review_status: shown.review_status.map(ReviewStatusView::from),
        }
    }
}

/// Starts an intake.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewIntakeRequest {
    /// Whose intake: the front desk must say; a patient may leave it out (their own).
    #[oai(nullable)]
    pub patient_id: Option<Uuid>,
    /// A submitted intake to correct: the new draft starts from its answers and replaces it
    /// when submitted.
    #[oai(nullable)]
    pub corrects: Option<Uuid>,
}

/// Answers so far, `linkId -> value` (see `GET /api/v1/questionnaires/intake`).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AnswersRequest {
    pub answers: BTreeMap<String, Value>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: DecisionKind,
    /// What was decided and why, for the record (1 to 4000 characters).
    pub note: MultiLine<4000>,
}

#[derive(ApiResponse)]
pub enum IntakeCreated {
    #[oai(status = 201)]
    Created(Json<IntakeView>),
}

#[derive(ApiResponse)]
pub enum DecisionRecorded {
    #[oai(status = 201)]
    Created(Json<DecisionView>),
}

/// The result of a submission, as much as the submitter may see (the front desk submitting
/// for a patient sees no answers, scores, fired rules or reasons).
#[derive(Debug, Object)]
pub struct Submitted {
    pub intake: IntakeView,
    /// What to do next, for the patient.
    pub outcome: TriageOutcome,
}

/// A case in the review queue.
#[derive(Debug, Object)]
pub struct QueueEntry {
    pub intake_id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub questionnaire_id: String,
    /// Emergency answers in a draft the patient has not submitted yet (the safety interrupt):
    /// practitioners decide on it like a submission.
    pub unsubmitted: bool,
    pub disposition: DispositionView,
    /// When it was submitted, or for an unsubmitted draft, when its answers interrupted it.
    pub submitted_at: DateTime<Utc>,
    /// Minutes since submission.
    pub waiting_minutes: i64,
    /// The rules that fired, most severe first.
    pub rule_ids: Vec<String>,
    /// The most severe red flag the patient has open (from this case or an earlier one): a
    /// case is queued while one is open whatever its own disposition. Absent when none is.
    pub open_flag: Option<DispositionView>,
}

impl From<Queued> for QueueEntry {
    fn from(queued: Queued) -> Self {
        Self {
            intake_id: queued.intake_id,
            patient_id: queued.patient_id,
            patient_name: queued.patient_name,
            questionnaire_id: queued.questionnaire_id,
            unsubmitted: queued.unsubmitted,
            disposition: queued.disposition.into(),
            submitted_at: queued.submitted_at,
            waiting_minutes: queued.waiting_minutes,
            rule_ids: queued.rule_ids,
            open_flag: queued.open_flag.map(Into::into),
        }
    }
}

/// Everything a practitioner needs to decide a case.
#[derive(Debug, Object)]
pub struct Case {
    pub intake: IntakeView,
    pub patient_name: String,
    pub date_of_birth: Date,
    /// The patient's other submissions, newest first.
    pub earlier: Vec<IntakeView>,
    pub decisions: Vec<DecisionView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "QueueStatus", rename_all = "lowercase")]
pub enum QueueStatus {
    Pending,
    Decided,
}

impl From<review::Case> for Case {
    fn from(case: review::Case) -> Self {
        Self {
            intake: case.intake.into(),
            patient_name: case.patient_name,
            date_of_birth: Date(case.date_of_birth),
            earlier: case.earlier.into_iter().map(IntakeView::from).collect(),
            decisions: case.decisions.into_iter().map(DecisionView::from).collect(),
        }
    }
}

pub struct IntakesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Intakes")]
impl IntakesApi {
    /// Starts an intake questionnaire (a draft). A patient starts their own; the front desk one
    /// for a patient. The draft starts with `date_of_birth` from the patient's record, and a
    /// different date is refused when saved or submitted (422 naming `date_of_birth`).
    #[oai(path = "/intakes", method = "post", operation_id = "createIntake")]
    async fn create(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewIntakeRequest>,
    ) -> ApiResult<IntakeCreated> {
        let command = StartIntake {
            patient_id: body.patient_id,
            corrects: body.corrects,
        };
        let created = intake::start(&state, &caller(request, &auth), command).await?;
        Ok(IntakeCreated::Created(Json(created.into())))
    }

    /// One intake, as much as the caller may see (404 for someone else's, as a patient).
    #[oai(path = "/intakes/:id", method = "get", operation_id = "getIntake")]
    async fn get(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<IntakeView>> {
        let shown = intake::get(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(shown.into()))
    }

    /// Saves the answers so far (a draft can be resumed on another device). Only what is
    /// answered is checked: types, ranges, options and dates; nothing is required yet.
    #[oai(
        path = "/intakes/:id",
        method = "put",
        operation_id = "saveIntakeDraft"
    )]
    async fn save(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<AnswersRequest>,
    ) -> ApiResult<Json<IntakeView>> {
        let answers = body.0.answers.into_iter().collect();
        let saved = intake::save_draft(&state, &caller(request, &auth), id.0, answers).await?;
        Ok(Json(saved.into()))
    }

    /// Submits the intake: every answer is checked (all problems at once, per linkId; a
    /// safety question left unanswered is refused, never read as "no"), scored and judged by
    /// the red-flag rules. The answer says what to do next. A submission cannot change.
    #[oai(
        path = "/intakes/:id/submit",
        method = "post",
        operation_id = "submitIntake"
    )]
    async fn submit(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Submitted>> {
        let submitted = intake::submit(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(Submitted {
            intake: submitted.intake.into(),
            outcome: submitted.outcome.into(),
        }))
    }

    /// A patient's intakes and follow-ups, newest first, as much as the caller may see.
    #[oai(
        path = "/patients/:id/intakes",
        method = "get",
        operation_id = "listPatientIntakes"
    )]
    async fn list_for_patient(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<IntakeView>>> {
        let shown = intake::of_patient(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(shown.into_iter().map(IntakeView::from).collect()))
    }

    /// The review queue: flagged submissions, most severe first, then oldest first.
    #[oai(path = "/reviews", method = "get", operation_id = "listReviews")]
    async fn queue(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        /// `pending` (default) or `decided`.
        status: Query<Option<QueueStatus>>,
    ) -> ApiResult<Json<Vec<QueueEntry>>> {
        let status = match status.0.unwrap_or(QueueStatus::Pending) {
            QueueStatus::Pending => ReviewStatus::Pending,
            QueueStatus::Decided => ReviewStatus::Decided,
        };
        let queued = review::queue(&state, &caller(request, &auth), status).await?;
        Ok(Json(queued.into_iter().map(QueueEntry::from).collect()))
    }

    /// Opens a case: the intake with its answers, scores and fired rules, the patient's other
    /// submissions, and the decisions so far.
    #[oai(path = "/reviews/:id", method = "get", operation_id = "getReviewCase")]
    async fn case(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Case>> {
        let case = review::case(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(case.into()))
    }

    /// Records a decision on a flagged case. "Cleared for care" lets an urgent patient book;
    /// every decision but "contacted patient" takes the case out of the queue.
    #[oai(
        path = "/intakes/:id/review",
        method = "post",
        operation_id = "reviewIntake"
    )]
    async fn review(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<DecisionRequest>,
    ) -> ApiResult<DecisionRecorded> {
        let body = body.0;
        let command = Decide {
            decision: body.decision.into(),
            note: body.note.into_string(),
        };
        let decided = review::decide(&state, &caller(request, &auth), id.0, command).await?;
        Ok(DecisionRecorded::Created(Json(decided.into())))
    }
}
