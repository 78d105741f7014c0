//! `/api/v1/intakes` and `/api/v1/reviews`: a patient (or the front desk for a patient) starts
//! an intake, saves drafts and submits; the submission is validated, scored and judged by the
//! red-flag rules in one transaction, and flagged cases wait in the practitioners' review queue.
//!
//! What each role sees of an intake: the patient their own answers, disposition and advice
//! (never the clinician rationale); the front desk the status and disposition only (no answers);
//! practitioners everything. Admins see none of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{
    intake::{self, IntakeStatus, ReviewStatus},
    patient, review_decision,
    user::Role,
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::{PRACTITIONER, require_role},
        types::{Date, NonBlank},
    },
    app::AppState,
    audit::{self, Action, AuditContext, Entry, Record},
    auth::BearerAuth,
    error::{ApiError, ApiResult, FieldError},
    notify::content::{EmailContent, ReviewNeeded},
    store::{
        intakes::{self, Judgement, NewIntake},
        outbox::NewMessage,
        patients, users,
    },
    triage::{Answers, Disposition, EvaluateError, Evaluation, ValidationMode},
};

/// The questionnaire every new intake uses.
pub const INTAKE_QUESTIONNAIRE: &str = "intake";

/// How urgently the patient needs care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
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

/// What the patient reads: calm, clear next steps.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct Advice {
    pub headline: String,
    pub paragraphs: Vec<String>,
    /// Why, in the patient's words; empty for routine.
    pub reasons: Vec<String>,
}

/// The triage result as the patient sees it.
#[derive(Debug, Clone, Object)]
pub struct TriageOutcome {
    pub disposition: DispositionView,
    pub advice: Advice,
}

/// One fired red-flag rule, for clinicians.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
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

/// The stored triage result: the serialized [`Evaluation`], read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredResult {
    disposition: DispositionView,
    advice: Advice,
    findings: Vec<FindingView>,
    scores: Value,
    facts: Value,
    as_of: chrono::NaiveDate,
    rule_set_version: String,
}

impl StoredResult {
    fn of(evaluation: &Evaluation) -> ApiResult<Self> {
        serde_json::to_value(evaluation)
            .and_then(serde_json::from_value)
            .map_err(ApiError::internal)
    }

    fn read(row: &intake::Model) -> Option<Self> {
        row.result
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    }
}

/// The patient's and the clinician's parts of an evaluation.
pub fn split(evaluation: &Evaluation) -> ApiResult<(TriageOutcome, ClinicalDetail)> {
    let stored = StoredResult::of(evaluation)?;
    Ok((
        TriageOutcome {
            disposition: stored.disposition,
            advice: stored.advice,
        },
        ClinicalDetail {
            rule_set_version: stored.rule_set_version,
            as_of: Date(stored.as_of),
            scores: stored.scores,
            facts: stored.facts,
            findings: stored.findings,
        },
    ))
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

impl From<DecisionKind> for review_decision::Decision {
    fn from(kind: DecisionKind) -> Self {
        match kind {
            DecisionKind::ClearedForCare => Self::ClearedForCare,
            DecisionKind::ReferToGp => Self::ReferToGp,
            DecisionKind::ReferToEmergency => Self::ReferToEmergency,
            DecisionKind::ContactedPatient => Self::ContactedPatient,
        }
    }
}

impl From<review_decision::Decision> for DecisionKind {
    fn from(decision: review_decision::Decision) -> Self {
        match decision {
            review_decision::Decision::ClearedForCare => Self::ClearedForCare,
            review_decision::Decision::ReferToGp => Self::ReferToGp,
            review_decision::Decision::ReferToEmergency => Self::ReferToEmergency,
            review_decision::Decision::ContactedPatient => Self::ContactedPatient,
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

impl From<review_decision::Model> for DecisionView {
    fn from(row: review_decision::Model) -> Self {
        Self {
            id: row.id,
            decision: row.decision.into(),
            note: row.note,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
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
    /// The advice the patient was given: the patient and practitioners.
    #[oai(skip_serializing_if_is_none)]
    pub advice: Option<Advice>,
    /// Practitioners only.
    #[oai(skip_serializing_if_is_none)]
    pub clinical: Option<ClinicalDetail>,
    #[oai(skip_serializing_if_is_none)]
    pub review_status: Option<ReviewStatusView>,
}

/// Which parts of an intake a role may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// The patient themselves: answers and advice, no clinician rationale.
    Patient,
    /// The front desk: status and disposition (minimum necessary).
    FrontDesk,
    /// Practitioners: everything.
    Clinical,
}

impl Visibility {
    fn of(role: Role) -> Self {
        match role {
            Role::Patient => Self::Patient,
            Role::Practitioner => Self::Clinical,
            Role::Staff | Role::Admin => Self::FrontDesk,
        }
    }
}

pub fn intake_view(row: intake::Model, visibility: Visibility) -> IntakeView {
    let stored = StoredResult::read(&row);
    let answers = match visibility {
        Visibility::FrontDesk => None,
        Visibility::Patient | Visibility::Clinical => serde_json::from_str(&row.answers).ok(),
    };
    IntakeView {
        id: row.id,
        patient_id: row.patient_id,
        questionnaire_id: row.questionnaire_id,
        questionnaire_version: row.questionnaire_version,
        status: match row.status {
            IntakeStatus::Draft => IntakeStatusView::Draft,
            IntakeStatus::Submitted => IntakeStatusView::Submitted,
            IntakeStatus::Superseded => IntakeStatusView::Superseded,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
        submitted_at: row.submitted_at,
        supersedes: row.supersedes,
        disposition: stored.as_ref().map(|stored| stored.disposition),
        answers,
        advice: match visibility {
            Visibility::FrontDesk => None,
            _ => stored.as_ref().map(|stored| stored.advice.clone()),
        },
        clinical: match visibility {
            Visibility::Clinical => stored.map(|stored| ClinicalDetail {
                rule_set_version: stored.rule_set_version,
                as_of: Date(stored.as_of),
                scores: stored.scores,
                facts: stored.facts,
                findings: stored.findings,
            }),
            _ => None,
        },
        review_status: match visibility {
            Visibility::Clinical => row.review_status.map(|status| match status {
                ReviewStatus::Pending => ReviewStatusView::Pending,
                ReviewStatus::Decided => ReviewStatusView::Decided,
            }),
            _ => None,
        },
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
    pub note: NonBlank<4000>,
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

/// The result of a submission.
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
    pub disposition: DispositionView,
    pub submitted_at: DateTime<Utc>,
    /// Minutes since submission.
    pub waiting_minutes: i64,
    /// The rules that fired, most severe first.
    pub rule_ids: Vec<String>,
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

pub fn invalid_answers(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        detail: "Some answers are missing or not valid; every problem is listed in `errors`."
            .into(),
        errors,
    }
}

/// Maps the triage module's per-linkId problems to the problem document's field errors.
pub fn evaluate_error(error: EvaluateError) -> ApiError {
    match error {
        EvaluateError::UnknownQuestionnaire(_) => ApiError::NotFound,
        EvaluateError::InvalidAnswers(errors) => invalid_answers(
            errors
                .into_iter()
                .map(|error| FieldError {
                    field: error.link_id,
                    code: error.code.as_str().to_owned(),
                    message: error.message,
                })
                .collect(),
        ),
    }
}

pub fn to_answers(answers: BTreeMap<String, Value>) -> Answers {
    answers.into_iter().collect()
}

fn not_a_draft() -> ApiError {
    ApiError::Conflict {
        code: "intake_not_draft",
        detail: "This intake was submitted and cannot change; start a correction instead.".into(),
    }
}

pub struct IntakesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Intakes")]
impl IntakesApi {
    /// Starts an intake questionnaire (a draft). A patient starts their own; the front desk one
    /// for a patient.
    #[oai(path = "/intakes", method = "post", operation_id = "createIntake")]
    async fn create(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewIntakeRequest>,
    ) -> ApiResult<IntakeCreated> {
        require_role(&state, request, &auth, &[Role::Patient, Role::Staff]).await?;
        let context = AuditContext::from_request(request, Some(&auth.0));
        let record = match (auth.0.role, body.patient_id) {
            (Role::Patient, requested) => {
                let own = patients::find_by_user(&state.db, auth.0.user_id).await?;
                match own {
                    Some(own) if requested.is_none_or(|id| id == own.id) => own,
                    _ => {
                        deny(&state, &context, Action::IntakeCreate, requested).await?;
                        return Err(ApiError::NotFound);
                    }
                }
            }
            (_, Some(id)) => patients::find(&state.db, id)
                .await?
                .ok_or(ApiError::NotFound)?,
            (_, None) => {
                return Err(ApiError::Validation {
                    detail: "Say whose intake this is.".into(),
                    errors: vec![FieldError {
                        field: "patient_id".into(),
                        code: "required".into(),
                        message: "The front desk starts an intake for a patient: give patient_id."
                            .into(),
                    }],
                });
            }
        };
        let questionnaire = state
            .triage
            .questionnaire(INTAKE_QUESTIONNAIRE)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no intake questionnaire")))?;
        let mut answers = "{}".to_owned();
        if let Some(corrected) = body.corrects {
            let original = intakes::find(&state.db, corrected)
                .await?
                .filter(|row| row.patient_id == record.id)
                .ok_or(ApiError::NotFound)?;
            if original.status != IntakeStatus::Submitted
                || original.questionnaire_id != INTAKE_QUESTIONNAIRE
            {
                return Err(ApiError::Conflict {
                    code: "not_correctable",
                    detail: "Only the current submitted intake can be corrected.".into(),
                });
            }
            answers = original.answers;
        }
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let created = intakes::create(
            &txn,
            now,
            NewIntake {
                patient_id: record.id,
                questionnaire_id: INTAKE_QUESTIONNAIRE.into(),
                questionnaire_version: questionnaire.version().to_owned(),
                answers,
                created_by: Some(auth.0.user_id),
                supersedes: body.corrects,
            },
        )
        .await?;
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::IntakeCreate)
                .on(Record::Intake(created.id))
                .for_patient(record.id),
        )
        .await?;
        txn.commit().await?;
        Ok(IntakeCreated::Created(Json(intake_view(
            created,
            Visibility::of(auth.0.role),
        ))))
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
        let allowed = &[Role::Patient, Role::Staff, Role::Practitioner];
        let (row, context) =
            visible_intake(&state, request, &auth, allowed, id.0, Action::IntakeRead).await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &context,
            Entry::allowed(Action::IntakeRead)
                .on(Record::Intake(row.id))
                .for_patient(row.patient_id),
        )
        .await?;
        Ok(Json(intake_view(row, Visibility::of(auth.0.role))))
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
        let allowed = &[Role::Patient, Role::Staff];
        let (row, context) =
            visible_intake(&state, request, &auth, allowed, id.0, Action::IntakeUpdate).await?;
        if row.status != IntakeStatus::Draft {
            return Err(not_a_draft());
        }
        let answers = to_answers(body.0.answers);
        state
            .triage
            .validate(
                &row.questionnaire_id,
                &answers,
                state.local_today(),
                ValidationMode::Draft,
            )
            .map_err(evaluate_error)?;
        let now = state.clock.now();
        let text = Value::Object(answers).to_string();
        let txn = crate::store::begin_write(&state.db).await?;
        if !intakes::save_answers(&txn, now, row.id, text).await? {
            return Err(not_a_draft());
        }
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::IntakeUpdate)
                .on(Record::Intake(row.id))
                .for_patient(row.patient_id),
        )
        .await?;
        txn.commit().await?;
        let saved = intakes::find(&state.db, row.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Json(intake_view(saved, Visibility::of(auth.0.role))))
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
        let allowed = &[Role::Patient, Role::Staff];
        let (row, context) =
            visible_intake(&state, request, &auth, allowed, id.0, Action::IntakeSubmit).await?;
        if row.status != IntakeStatus::Draft {
            return Err(not_a_draft());
        }
        let answers: Answers = serde_json::from_str(&row.answers).map_err(ApiError::internal)?;
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let evaluation = judge_and_store(&state, &txn, now, &row, answers, &context).await?;
        txn.commit().await?;
        let saved = intakes::find(&state.db, row.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let (outcome, _) = split(&evaluation)?;
        Ok(Json(Submitted {
            intake: intake_view(saved, Visibility::of(auth.0.role)),
            outcome,
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
        require_role(
            &state,
            request,
            &auth,
            &[Role::Patient, Role::Staff, Role::Practitioner],
        )
        .await?;
        let context = AuditContext::from_request(request, Some(&auth.0));
        let record = patients::find(&state.db, id.0).await?;
        let record = match record {
            Some(record) if may_see(&auth, &record) => record,
            _ => {
                deny(&state, &context, Action::IntakeList, Some(id.0)).await?;
                return Err(ApiError::NotFound);
            }
        };
        let rows = intakes::for_patient(&state.db, record.id).await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &context,
            Entry::allowed(Action::IntakeList).for_patient(record.id),
        )
        .await?;
        let visibility = Visibility::of(auth.0.role);
        Ok(Json(
            rows.into_iter()
                .map(|row| intake_view(row, visibility))
                .collect(),
        ))
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
        require_role(&state, request, &auth, PRACTITIONER).await?;
        let status = match status.0.unwrap_or(QueueStatus::Pending) {
            QueueStatus::Pending => ReviewStatus::Pending,
            QueueStatus::Decided => ReviewStatus::Decided,
        };
        let now = state.clock.now();
        let rows = intakes::review_queue(&state.db, status).await?;
        // One query for every patient in the queue, not one per case.
        let names: std::collections::HashMap<Uuid, String> =
            patients::find_many(&state.db, rows.iter().map(|row| row.patient_id))
                .await?
                .into_iter()
                .map(|record| {
                    (
                        record.id,
                        format!("{} {}", record.given_name, record.family_name),
                    )
                })
                .collect();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(stored) = StoredResult::read(&row) else {
                continue;
            };
            let patient_name = names.get(&row.patient_id).cloned().unwrap_or_default();
            let submitted_at = row.submitted_at.unwrap_or(row.created_at);
            entries.push(QueueEntry {
                intake_id: row.id,
                patient_id: row.patient_id,
                patient_name,
                questionnaire_id: row.questionnaire_id,
                disposition: stored.disposition,
                submitted_at,
                waiting_minutes: (now - submitted_at).num_minutes().max(0),
                rule_ids: stored
                    .findings
                    .into_iter()
                    .map(|finding| finding.rule_id)
                    .collect(),
            });
        }
        audit::record(
            &state.db,
            now,
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::ReviewQueueRead),
        )
        .await?;
        Ok(Json(entries))
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
        let (row, context) = visible_intake(
            &state,
            request,
            &auth,
            PRACTITIONER,
            id.0,
            Action::IntakeRead,
        )
        .await?;
        let record = patients::find(&state.db, row.patient_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let earlier = intakes::for_patient(&state.db, row.patient_id)
            .await?
            .into_iter()
            .filter(|other| other.id != row.id && other.status != IntakeStatus::Draft)
            .map(|other| intake_view(other, Visibility::Clinical))
            .collect();
        let decisions = intakes::decisions(&state.db, row.id)
            .await?
            .into_iter()
            .map(DecisionView::from)
            .collect();
        audit::record(
            &state.db,
            state.clock.now(),
            &context,
            Entry::allowed(Action::IntakeRead)
                .on(Record::Intake(row.id))
                .for_patient(row.patient_id),
        )
        .await?;
        Ok(Json(Case {
            intake: intake_view(row, Visibility::Clinical),
            patient_name: format!("{} {}", record.given_name, record.family_name),
            date_of_birth: Date(record.date_of_birth),
            earlier,
            decisions,
        }))
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
        let (row, context) = visible_intake(
            &state,
            request,
            &auth,
            PRACTITIONER,
            id.0,
            Action::ReviewDecision,
        )
        .await?;
        if row.review_status.is_none() || row.status != IntakeStatus::Submitted {
            return Err(ApiError::Conflict {
                code: "not_in_review",
                detail: "Only a current submission that was flagged for review takes decisions."
                    .into(),
            });
        }
        let body = body.0;
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let decision = intakes::record_decision(
            &txn,
            now,
            row.id,
            auth.0.user_id,
            body.decision.into(),
            body.note.as_str().trim().to_owned(),
        )
        .await?;
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::ReviewDecision)
                .on(Record::Intake(row.id))
                .for_patient(row.patient_id),
        )
        .await?;
        txn.commit().await?;
        Ok(DecisionRecorded::Created(Json(decision.into())))
    }
}

/// Validates, scores and judges `answers`, and stores the submission with the versions that
/// judged it, in `txn`: the earlier submission it corrects is superseded, a flagged case joins
/// the review queue, and an emergency or urgent one alerts every practitioner by email (a link
/// to the case, nothing clinical).
pub async fn judge_and_store(
    state: &AppState,
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    row: &intake::Model,
    answers: Answers,
    context: &AuditContext,
) -> ApiResult<Evaluation> {
    let evaluation = state
        .triage
        .evaluate(&row.questionnaire_id, &answers, state.local_today())
        .map_err(evaluate_error)?;
    let judgement = judgement(&evaluation)?;
    let text = Value::Object(answers).to_string();
    if !intakes::submit(txn, now, row.id, text, judgement).await? {
        return Err(not_a_draft());
    }
    if let Some(corrected) = row.supersedes {
        intakes::supersede(txn, now, corrected).await?;
    }
    if evaluation.disposition.alerts_practitioners() {
        alert_practitioners(state, txn, now, row.id).await?;
    }
    audit::record(
        txn,
        now,
        context,
        Entry::allowed(Action::IntakeSubmit)
            .on(Record::Intake(row.id))
            .for_patient(row.patient_id),
    )
    .await?;
    Ok(evaluation)
}

/// What a submission stores of its evaluation: the versions, the disposition, the result as
/// the API reads it back, and the scores the outcome trend uses. Shared with the demo seed so
/// seeded intakes read exactly like submitted ones.
pub fn judgement(evaluation: &Evaluation) -> ApiResult<Judgement> {
    let stored = StoredResult::of(evaluation)?;
    let severity = match evaluation.disposition {
        Disposition::Emergency => Some(3),
        Disposition::Urgent => Some(2),
        Disposition::Review => Some(1),
        Disposition::Routine => None,
    };
    Ok(Judgement {
        rule_set_version: evaluation.rule_set_version.clone(),
        questionnaire_version: evaluation.questionnaire_version.clone(),
        disposition: evaluation.disposition.as_str().to_owned(),
        severity,
        result: serde_json::to_string(&stored).map_err(ApiError::internal)?,
        pain_now: evaluation
            .scores
            .pain_now
            .map(|score| i16::from(score.score)),
        odi_hundredths: evaluation
            .scores
            .odi
            .map(|odi| i32::from(odi.percent.hundredths())),
    })
}

async fn alert_practitioners(
    state: &AppState,
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    intake_id: Uuid,
) -> ApiResult<()> {
    let review_url = state.page_url(&format!("reviews/{intake_id}"));
    for practitioner in users::active_with_role(txn, Role::Practitioner).await? {
        let mut message = NewMessage::immediate(
            practitioner.email.clone(),
            EmailContent::ReviewNeeded(ReviewNeeded {
                practitioner_name: practitioner.display_name.clone(),
                review_url: review_url.clone(),
            }),
            now,
        );
        message.dedupe_key = Some(format!("review:{intake_id}:{}", practitioner.id));
        state.outbox.enqueue(txn, now, message).await?;
    }
    Ok(())
}

/// Whether the caller may see this patient's records: a patient only their own.
pub fn may_see(auth: &BearerAuth, record: &patient::Model) -> bool {
    auth.0.role != Role::Patient || record.user_id == Some(auth.0.user_id)
}

async fn deny(
    state: &AppState,
    context: &AuditContext,
    action: Action,
    patient_id: Option<Uuid>,
) -> ApiResult<()> {
    let mut entry = Entry::denied(action);
    if let Some(patient_id) = patient_id {
        entry = entry.for_patient(patient_id);
    }
    audit::record(&state.db, state.clock.now(), context, entry).await?;
    Ok(())
}

/// Loads an intake the caller may act on: one of `allowed` roles, and for a patient only their
/// own. Anything else is a 404 with a denied audit entry, as if it did not exist.
async fn visible_intake(
    state: &AppState,
    request: &Request,
    auth: &BearerAuth,
    allowed: &[Role],
    id: Uuid,
    action: Action,
) -> ApiResult<(intake::Model, AuditContext)> {
    require_role(state, request, auth, allowed).await?;
    let context = AuditContext::from_request(request, Some(&auth.0));
    let row = intakes::find(&state.db, id).await?;
    let visible = match &row {
        Some(row) if auth.0.role == Role::Patient => patients::find(&state.db, row.patient_id)
            .await?
            .is_some_and(|record| may_see(auth, &record)),
        Some(_) => true,
        None => false,
    };
    match row {
        Some(row) if visible => Ok((row, context)),
        _ => {
            let mut entry = Entry::denied(action).on(Record::Intake(id));
            if let Some(row) = &row {
                entry = entry.for_patient(row.patient_id);
            }
            audit::record(&state.db, state.clock.now(), &context, entry).await?;
            Err(ApiError::NotFound)
        }
    }
}
