//! Intakes: a patient (or the front desk for a patient) starts the intake questionnaire, saves
//! drafts and submits. A submission is validated, scored and judged by the red-flag rules, and
//! stored with the versions that judged it in one transaction, together with its place in the
//! review queue and the practitioners' alert ([`store_judged`], which follow-ups share).
//!
//! What each role sees of an intake or follow-up ([`Visibility`], the one place it is decided):
//! the patient their own answers, disposition and advice (never the clinician rationale); the
//! front desk the status, the disposition and its general advice, never the answers, scores,
//! fired rules or the advice's reasons, which restate the answers (minimum necessary, also in
//! the answer to a submission they make for a patient); practitioners everything. Admins see
//! none of it.
//!
//! The date of birth is the patient record's (rules-v2.md): a new intake starts with it filled
//! in, and a draft or submission whose `date_of_birth` differs from the record is refused
//! ([`birth_date::check_against_record`]), so the age rules never read an age typed
//! differently. (Records always carry a date of birth; without one the answer is taken as
//! given, as the CLI does.)

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{intake, patient, user::Role};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Record, Subject},
    error::{ApiError, ApiResult, FieldError},
    notify::content::{EmailContent, ReviewNeeded},
    service::{
        Caller, Work,
        access::{INTAKE_WRITERS, PATIENT_RECORD_READERS},
        review,
    },
    store::{
        intakes::{self, Judgement, NewIntake},
        outbox::NewMessage,
        patients, scope, users,
    },
    triage::{
        Answers, Disposition, EvaluateError, Evaluation, EvaluationRecord, Finding,
        INTAKE_QUESTIONNAIRE, PatientAdvice, PatientView, ValidationMode,
        birth_date::{self, DATE_OF_BIRTH},
        review::queues_submission,
    },
};

/// Where an intake is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Draft,
    Submitted,
    /// Corrected by a later submission.
    Superseded,
}

/// Where a flagged submission is in the practitioners' review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    Pending,
    Decided,
}

impl ReviewStatus {
    fn of(stored: intake::ReviewStatus) -> Self {
        match stored {
            intake::ReviewStatus::Pending => Self::Pending,
            intake::ReviewStatus::Decided => Self::Decided,
        }
    }

    pub(crate) fn stored(self) -> intake::ReviewStatus {
        match self {
            Self::Pending => intake::ReviewStatus::Pending,
            Self::Decided => intake::ReviewStatus::Decided,
        }
    }
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
    pub fn of(role: Role) -> Self {
        match role {
            Role::Patient => Self::Patient,
            Role::Practitioner => Self::Clinical,
            Role::Staff | Role::Admin => Self::FrontDesk,
        }
    }

    /// The answers, and the advice's reasons (which restate them).
    fn sees_answers(self) -> bool {
        self != Self::FrontDesk
    }

    /// Scores, derived facts, fired rules and the review status.
    fn sees_clinical(self) -> bool {
        self == Self::Clinical
    }

    /// `advice` as this role may read it: everyone the disposition's general advice, the
    /// reasons only those who may see the answers.
    pub fn advice(self, advice: PatientAdvice) -> Advice {
        Advice {
            headline: advice.headline,
            paragraphs: advice.paragraphs,
            reasons: self.sees_answers().then_some(advice.reasons),
        }
    }

    /// A triage outcome as this role may read it.
    pub fn outcome(self, view: PatientView) -> Outcome {
        Outcome {
            disposition: view.disposition,
            advice: self.advice(view.advice),
        }
    }
}

/// The advice a patient was given, as much as the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub headline: String,
    /// The disposition's general advice, in order.
    pub paragraphs: Vec<String>,
    /// Why, in the patient's words: the patient and practitioners (they restate answers).
    pub reasons: Option<Vec<String>>,
}

/// What to do next after a submission, as much as the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub disposition: Disposition,
    pub advice: Advice,
}

/// Scores, derived facts and fired rules: for practitioners only.
#[derive(Debug, Clone, PartialEq)]
pub struct Clinical {
    pub rule_set_version: String,
    /// The clinic's date the answers were judged on.
    pub as_of: NaiveDate,
    pub scores: Value,
    pub facts: Value,
    pub findings: Vec<Finding>,
}

impl From<EvaluationRecord> for Clinical {
    fn from(record: EvaluationRecord) -> Self {
        Self {
            rule_set_version: record.rule_set_version,
            as_of: record.as_of,
            scores: record.scores,
            facts: record.facts,
            findings: record.findings,
        }
    }
}

/// What a submission keeps of `evaluation`.
pub(crate) fn record_of(evaluation: &Evaluation) -> ApiResult<EvaluationRecord> {
    EvaluationRecord::of(evaluation).map_err(ApiError::internal)
}

/// The stored evaluation of a submitted intake (none for a draft, or one that does not read).
pub(crate) fn result_of(row: &intake::Model) -> Option<EvaluationRecord> {
    row.result
        .as_deref()
        .and_then(|text| EvaluationRecord::from_json(text).ok())
}

/// An intake or follow-up, as much of it as the caller may see.
#[derive(Debug, Clone, PartialEq)]
pub struct Intake {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// `intake` or `follow-up`.
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// The submission this one corrects.
    pub supersedes: Option<Uuid>,
    /// Submitted: how urgently care is needed (every role that may see the intake).
    pub disposition: Option<Disposition>,
    /// The patient and practitioners.
    pub answers: Option<BTreeMap<String, Value>>,
    /// Submitted: every role that may see the intake (the reasons as [`Visibility::advice`]).
    pub advice: Option<Advice>,
    /// Practitioners.
    pub clinical: Option<Clinical>,
    /// Practitioners.
    pub review_status: Option<ReviewStatus>,
    /// Set on the answer to a draft save whose answers call for emergency care now.
    pub safety_advice: Option<Advice>,
}

impl Intake {
    /// `row` as `visibility` lets it be seen.
    pub(crate) fn shown(row: intake::Model, visibility: Visibility) -> Self {
        let result = result_of(&row);
        let sees_answers = visibility.sees_answers();
        let clinical = visibility.sees_clinical();
        Self {
            id: row.id,
            patient_id: row.patient_id,
            status: match row.status {
                intake::IntakeStatus::Draft => Status::Draft,
                intake::IntakeStatus::Submitted => Status::Submitted,
                intake::IntakeStatus::Superseded => Status::Superseded,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
            submitted_at: row.submitted_at,
            supersedes: row.supersedes,
            disposition: result.as_ref().map(|result| result.disposition),
            answers: sees_answers
                .then(|| serde_json::from_str(&row.answers).ok())
                .flatten(),
            advice: result
                .as_ref()
                .map(|result| visibility.advice(result.advice.clone())),
            review_status: clinical
                .then(|| row.review_status.map(ReviewStatus::of))
                .flatten(),
            clinical: clinical.then(|| result.map(Clinical::from)).flatten(),
            safety_advice: None,
            questionnaire_id: row.questionnaire_id,
            questionnaire_version: row.questionnaire_version,
        }
    }
}

/// Starts an intake: for a patient their own (or `patient_id`, if it is theirs), for the
/// front desk the patient it names. A correction starts from the answers of the submission it
/// corrects, and replaces it when submitted. Either starts with the record's date of birth.
#[derive(Debug, Clone, Default)]
pub struct StartIntake {
    pub patient_id: Option<Uuid>,
    pub corrects: Option<Uuid>,
}

/// Starts an intake questionnaire as a draft.
#[tracing::instrument(name = "service.intake.start", skip_all)]
pub async fn start(state: &AppState, caller: &Caller, command: StartIntake) -> ApiResult<Intake> {
    caller.require(state, INTAKE_WRITERS).await?;
    let record = intake_patient(state, caller, command.patient_id).await?;
    let questionnaire = state
        .triage
        .questionnaire(INTAKE_QUESTIONNAIRE)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no intake questionnaire")))?;
    let mut answers = match command.corrects {
        Some(corrected) => {
            serde_json::from_str(&correctable(state, &record, corrected).await?.answers)
                .map_err(ApiError::internal)?
        }
        None => Answers::new(),
    };
    if questionnaire.question_ids().any(|id| id == DATE_OF_BIRTH) {
        // The record's date is the intake's: a front end shows it filled in, and a correction
        // takes the record as it is now (it may have been corrected since).
        let on_record = Value::String(record.date_of_birth.to_string());
        answers.insert(DATE_OF_BIRTH.into(), on_record);
    }
    let answers = Value::Object(answers).to_string();
    let work = Work::begin(state, caller).await?;
    let created = intakes::create(
        work.db(),
        work.now(),
        NewIntake {
            patient_id: record.id,
            questionnaire_id: INTAKE_QUESTIONNAIRE.into(),
            questionnaire_version: questionnaire.version().to_owned(),
            answers,
            created_by: Some(caller.user_id()),
            supersedes: command.corrects,
        },
    )
    .await?;
    work.allowed(Action::IntakeCreate, &created).await?;
    work.commit().await?;
    Ok(Intake::shown(created, Visibility::of(caller.role())))
}

/// Whose intake this is. A patient's own record, found by their account or named and in their
/// scope; anything else is a 404 as if it did not exist, audited. The front desk must name one.
async fn intake_patient(
    state: &AppState,
    caller: &Caller,
    requested: Option<Uuid>,
) -> ApiResult<patient::Model> {
    let found = match requested {
        Some(id) => scope::patient(&state.db, caller.scope(), id)
            .await?
            .visible(),
        None if caller.is_patient() => patients::find_by_user(&state.db, caller.user_id()).await?,
        None => {
            return Err(ApiError::required_field(
                "patient_id",
                "Say whose intake this is.",
                "The front desk starts an intake for a patient: give patient_id.",
            ));
        }
    };
    match found {
        Some(record) => Ok(record),
        None if caller.is_patient() => {
            let subject = requested.map_or(Subject::NONE, Subject::patient);
            caller
                .audit(state)
                .denied(&state.db, Action::IntakeCreate, subject)
                .await?;
            Err(ApiError::NotFound)
        }
        None => Err(ApiError::NotFound),
    }
}

/// The submission a correction starts from: `record`'s current submitted intake.
async fn correctable(
    state: &AppState,
    record: &patient::Model,
    id: Uuid,
) -> ApiResult<intake::Model> {
    let original = intakes::find(&state.db, id)
        .await?
        .filter(|row| row.patient_id == record.id)
        .ok_or(ApiError::NotFound)?;
    if original.status != intake::IntakeStatus::Submitted
        || original.questionnaire_id != INTAKE_QUESTIONNAIRE
    {
        return Err(ApiError::Conflict {
            code: "not_correctable",
            detail: "Only the current submitted intake can be corrected.".into(),
        });
    }
    Ok(original)
}

/// One intake, as much as the caller may see (a 404 for someone else's, as a patient).
#[tracing::instrument(name = "service.intake.get", skip_all)]
pub async fn get(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Intake> {
    let row = visible(
        state,
        caller,
        PATIENT_RECORD_READERS,
        id,
        Action::IntakeRead,
    )
    .await?;
    caller
        .audit(state)
        .allowed(&state.db, Action::IntakeRead, &row)
        .await?;
    Ok(Intake::shown(row, Visibility::of(caller.role())))
}

/// Saves a draft's answers so far. Only what is answered is checked; nothing is required yet.
#[tracing::instrument(name = "service.intake.save_draft", skip_all)]
pub async fn save_draft(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    answers: Answers,
) -> ApiResult<Intake> {
    let row = visible(state, caller, INTAKE_WRITERS, id, Action::IntakeUpdate).await?;
    if row.status != intake::IntakeStatus::Draft {
        return Err(not_a_draft());
    }
    // A draft that carries a date of birth is held to the record too: a date that can never be
    // submitted is best refused when it is typed, and no stored answer then contradicts the
    // record (so nothing that reads a draft computes an age from it).
    let on_record = record_date_of_birth(state, &row).await?;
    let checked = state.triage.validate(
        &row.questionnaire_id,
        &answers,
        state.local_today(),
        ValidationMode::Draft,
    );
    // The emergency answers are heeded even when the save is refused for another answer.
    let safety_advice = safety_interrupt(state, caller, &row, &answers).await?;
    let refused = match differs_from_record(caller, &answers, on_record) {
        Some(problem) => Some(refused_birth_date(problem, checked)),
        None => checked.err().map(ApiError::from),
    };
    if let Some(error) = refused {
        return Err(match safety_advice {
            Some(advice) => error.with_safety_advice(advice.into()),
            None => error,
        });
    }
    let work = Work::begin(state, caller).await?;
    let text = Value::Object(answers).to_string();
    if !intakes::save_answers(work.db(), work.now(), row.id, text).await? {
        return Err(not_a_draft());
    }
    work.allowed(Action::IntakeUpdate, &row).await?;
    work.commit().await?;
    let saved = intakes::find(&state.db, row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Intake {
        safety_advice,
        ..Intake::shown(saved, Visibility::of(caller.role()))
    })
}

/// Saves the answers of one section of a draft (a page of the form): they replace what the
/// section held, and answers that no longer apply after them (an earlier answer changed and
/// now hides a question) are dropped. Checked, stored and interrupted as [`save_draft`].
#[tracing::instrument(name = "service.intake.save_section", skip_all)]
pub async fn save_section(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    section: &str,
    section_answers: Answers,
) -> ApiResult<Intake> {
    let row = visible(state, caller, INTAKE_WRITERS, id, Action::IntakeUpdate).await?;
    if row.status != intake::IntakeStatus::Draft {
        return Err(not_a_draft());
    }
    let questionnaire = state
        .triage
        .questionnaire(&row.questionnaire_id)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the draft's questionnaire is gone")))?;
    let section_ids = questionnaire
        .section_link_ids(section)
        .ok_or(ApiError::NotFound)?;
    let mut answers: Answers = serde_json::from_str(&row.answers).map_err(ApiError::internal)?;
    answers.retain(|link_id, _| !section_ids.contains(link_id));
    answers.extend(
        section_answers
            .into_iter()
            .filter(|(link_id, _)| section_ids.contains(link_id)),
    );
    let answers = questionnaire.without_hidden(answers, state.local_today());
    save_draft(state, caller, id, answers).await
}

/// The emergency advice intake `id` calls for now, if it does: a submission judged an
/// emergency, or a draft whose answers so far fire an emergency rule (the safety interrupt).
#[tracing::instrument(name = "service.intake.emergency_advice", skip_all)]
pub async fn emergency_advice(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<Option<Advice>> {
    let shown = get(state, caller, id).await?;
    if shown.status != Status::Draft {
        return Ok(shown
            .advice
            .filter(|_| shown.disposition == Some(Disposition::Emergency)));
    }
    let answers: Answers = shown.answers.unwrap_or_default().into_iter().collect();
    let found =
        state
            .triage
            .safety_interrupt(&shown.questionnaire_id, &answers, state.local_today())?;
    Ok(found.map(|found| Visibility::of(caller.role()).advice(found.advice)))
}

/// The safety interrupt of rule set v2 for draft `row` with `answers` (being saved, or
/// refused as incomplete): when they already fire an emergency rule, the draft becomes an
/// emergency case in the review queue and an open flag, practitioners are alerted (once per
/// draft: a later save or the submission does not alert again), and the emergency advice is
/// returned to show at once.
async fn safety_interrupt(
    state: &AppState,
    caller: &Caller,
    row: &intake::Model,
    answers: &Answers,
) -> ApiResult<Option<Advice>> {
    let Some(found) =
        state
            .triage
            .safety_interrupt(&row.questionnaire_id, answers, state.local_today())?
    else {
        return Ok(None);
    };
    let work = Work::begin(state, caller).await?;
    interrupt_draft(state, &work, row.id).await?;
    work.commit().await?;
    Ok(Some(Visibility::of(caller.role()).advice(found.advice)))
}

/// Makes draft `id` an interrupted emergency case in `work` (queued, an open flag) and alerts
/// practitioners the first time only.
pub(crate) async fn interrupt_draft(state: &AppState, work: &Work, id: Uuid) -> ApiResult<()> {
    let severity = i16::from(Disposition::Emergency.severity());
    if intakes::interrupt(work.db(), work.now(), id, severity).await? {
        alert_practitioners(state, work, id).await?;
    }
    Ok(())
}

/// A submission, and what the patient is told to do next (as much as the caller may see).
#[derive(Debug, Clone)]
pub struct Submitted {
    pub intake: Intake,
    pub outcome: Outcome,
}

/// Submits a draft: every answer is checked (a safety question left unanswered is refused,
/// never read as "no"), scored and judged; the submission cannot change afterwards.
#[tracing::instrument(name = "service.intake.submit", skip_all)]
pub async fn submit(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Submitted> {
    let row = visible(state, caller, INTAKE_WRITERS, id, Action::IntakeSubmit).await?;
    if row.status != intake::IntakeStatus::Draft {
        return Err(not_a_draft());
    }
    let answers: Answers = serde_json::from_str(&row.answers).map_err(ApiError::internal)?;
    let on_record = record_date_of_birth(state, &row).await?;
    let today = state.local_today();
    if let Some(problem) = differs_from_record(caller, &answers, on_record) {
        // Checked but never judged: no rule reads an age typed differently from the record.
        let checked = state.triage.validate(
            &row.questionnaire_id,
            &answers,
            today,
            ValidationMode::Submit,
        );
        return Err(refused_birth_date(problem, checked));
    }
    let evaluation = match state
        .triage
        .evaluate(&row.questionnaire_id, &answers, today)
    {
        Ok(evaluation) => evaluation,
        Err(refused) => {
            let error = ApiError::from(refused);
            return Err(
                match safety_interrupt(state, caller, &row, &answers).await? {
                    Some(advice) => error.with_safety_advice(advice.into()),
                    None => error,
                },
            );
        }
    };
    let work = Work::begin(state, caller).await?;
    store_judged(state, &work, &row, answers, &evaluation).await?;
    work.commit().await?;
    let saved = intakes::find(&state.db, row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let visibility = Visibility::of(caller.role());
    Ok(Submitted {
        intake: Intake::shown(saved, visibility),
        outcome: visibility.outcome(evaluation.patient_view()),
    })
}

/// A patient's intakes and follow-ups, newest first, as much as the caller may see.
#[tracing::instrument(name = "service.intake.of_patient", skip_all)]
pub async fn of_patient(
    state: &AppState,
    caller: &Caller,
    patient_id: Uuid,
) -> ApiResult<Vec<Intake>> {
    let record = caller
        .require_visible(
            state,
            PATIENT_RECORD_READERS,
            Action::IntakeList,
            Record::Patient(patient_id),
            async |scope| scope::patient(&state.db, scope, patient_id).await,
        )
        .await?;
    let rows = intakes::for_patient(&state.db, record.id).await?;
    caller
        .audit(state)
        .allowed(&state.db, Action::IntakeList, Subject::patient(record.id))
        .await?;
    let visibility = Visibility::of(caller.role());
    Ok(rows
        .into_iter()
        .map(|row| Intake::shown(row, visibility))
        .collect())
}

/// The date of birth on the record of `row`'s patient (none if the record is gone: then the
/// answer is taken as given, as for the CLI).
async fn record_date_of_birth(
    state: &AppState,
    row: &intake::Model,
) -> ApiResult<Option<NaiveDate>> {
    Ok(patients::find(&state.db, row.patient_id)
        .await?
        .map(|record| record.date_of_birth))
}

/// The problem with `answers` when their `date_of_birth` is not the record's
/// ([`birth_date::check_against_record`]), named like any answer problem.
fn differs_from_record(
    caller: &Caller,
    answers: &Answers,
    on_record: Option<NaiveDate>,
) -> Option<FieldError> {
    birth_date::check_against_record(answers, on_record).err()?;
    let message = if caller.is_patient() {
        "This is not the date of birth on your record. If your record is wrong, please ask the \
         clinic to correct it."
    } else {
        "This is not the date of birth on the patient's record. If the record is wrong, correct \
         the record first."
    };
    Some(FieldError {
        field: DATE_OF_BIRTH.into(),
        code: "differs_from_record".into(),
        message: message.into(),
    })
}

/// The 422 for a date of birth that is not the record's, listing `checked`'s other problems
/// with the answers too, so the form shows them all at once.
fn refused_birth_date(problem: FieldError, checked: Result<(), EvaluateError>) -> ApiError {
    let mut errors: Vec<FieldError> = match checked {
        Ok(()) => Vec::new(),
        Err(EvaluateError::InvalidAnswers(errors)) => {
            errors.into_iter().map(FieldError::from).collect()
        }
        Err(other) => return other.into(),
    };
    let detail = if errors.is_empty() {
        "The date of birth is not the one on the patient's record."
    } else {
        "Some answers are missing or not valid; every problem is listed in `errors`."
    };
    // A date the questionnaire refused itself (in the future, implausible) says so already.
    if !errors.iter().any(|error| error.field == DATE_OF_BIRTH) {
        // The birth date is the questionnaire's first item: its problem comes first.
        errors.insert(0, problem);
    }
    ApiError::Validation {
        detail: detail.into(),
        errors,
    }
}

/// Loads an intake `caller` may act on as `action`: one of `allowed` roles, and for a patient
/// only their own (anything else is a 404, audited as denied).
pub(crate) async fn visible(
    state: &AppState,
    caller: &Caller,
    allowed: &[Role],
    id: Uuid,
    action: Action,
) -> ApiResult<intake::Model> {
    caller
        .require_visible(state, allowed, action, Record::Intake(id), async |scope| {
            scope::intake(&state.db, scope, id).await
        })
        .await
}

/// Stores the judged submission of draft `row` in `work`: the earlier submission it corrects
/// is superseded (its case and flag stay), a flagged case joins the review queue (and so does
/// any submission made while the patient has an open flag), and a disposition that alerts
/// practitioners emails every one of them (a link to the case, nothing clinical).
pub(crate) async fn store_judged(
    state: &AppState,
    work: &Work,
    row: &intake::Model,
    answers: Answers,
    evaluation: &Evaluation,
) -> ApiResult<()> {
    let open_flag = review::open_flag(work.db(), row.patient_id, work.now()).await?;
    let mut judgement = judgement(evaluation, open_flag)?;
    if row.safety_interrupted_at.is_some() {
        // The case includes the emergency answers that interrupted the draft: it ranks so.
        judgement.severity = judgement
            .severity
            .max(Some(i16::from(Disposition::Emergency.severity())));
    }
    let text = Value::Object(answers).to_string();
    if !intakes::submit(work.db(), work.now(), row.id, text, judgement).await? {
        return Err(not_a_draft());
    }
    if let Some(corrected) = row.supersedes {
        intakes::supersede(work.db(), work.now(), corrected).await?;
    }
    if evaluation.disposition.alerts_practitioners() {
        alert_practitioners(state, work, row.id).await?;
    }
    work.allowed(Action::IntakeSubmit, row).await?;
    Ok(())
}

/// What a submission stores of its evaluation: the versions, the disposition and what it sets
/// in motion, the result the intake is shown from, and the scores the outcome trend reads.
/// `open_flag` is the patient's most severe open flag when it was submitted: a submission
/// made under one is queued whatever its own disposition (ranked by its own; the queue shows
/// the flag beside it). Shared with the demo seed so seeded intakes read exactly like
/// submitted ones.
pub fn judgement(evaluation: &Evaluation, open_flag: Option<Disposition>) -> ApiResult<Judgement> {
    let disposition = evaluation.disposition;
    let queued = queues_submission(disposition, open_flag);
    let rank = disposition;
    Ok(Judgement {
        rule_set_version: evaluation.rule_set_version.clone(),
        questionnaire_version: evaluation.questionnaire_version.clone(),
        disposition,
        review_status: queued.then_some(intake::ReviewStatus::Pending),
        severity: queued.then(|| i16::from(rank.severity())),
        result: record_of(evaluation)?
            .to_json()
            .map_err(ApiError::internal)?,
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

async fn alert_practitioners(state: &AppState, work: &Work, intake_id: Uuid) -> ApiResult<()> {
    let review_url = state.page_url(&format!("reviews/{intake_id}"));
    for practitioner in users::active_with_role(work.db(), Role::Practitioner).await? {
        let mut message = NewMessage::immediate(
            practitioner.email.clone(),
            EmailContent::ReviewNeeded(ReviewNeeded {
                practitioner_name: practitioner.display_name.clone(),
                review_url: review_url.clone(),
            }),
            work.now(),
        );
        message.dedupe_key = Some(format!("review:{intake_id}:{}", practitioner.id));
        state.outbox.enqueue(work.db(), work.now(), message).await?;
    }
    Ok(())
}

fn not_a_draft() -> ApiError {
    ApiError::Conflict {
        code: "intake_not_draft",
        detail: "This intake was submitted and cannot change; start a correction instead.".into(),
    }
}
