//! Follow-up questionnaires after visits, and a patient's outcome trend. The clinic team
//! emails a patient a link; the patient opens and submits the form behind it without logging
//! in (the link's token is the credential: single use, expiring), and the answers are judged
//! and stored like an intake's. Practitioners follow pain and disability over time against the
//! patient's latest intake.

use chrono::{DateTime, Duration, Utc};
use entity::{
    account_token::{self, Purpose},
    intake::IntakeStatus,
};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Audit, AuditContext, Subject},
    error::{ApiError, ApiResult},
    notify::content::{EmailContent, FollowUpInvitation},
    service::{
        Caller, Work,
        access::{CLINIC_TEAM, PRACTITIONER},
        intake::{Advice, Outcome, Visibility, interrupt_draft, store_judged},
    },
    store::{
        account_tokens,
        intakes::{self, NewIntake},
        patients,
    },
    triage::{
        Answers, FOLLOW_UP_QUESTIONNAIRE, INTAKE_QUESTIONNAIRE, Questionnaire,
        QuestionnaireDefinition, StandingFacts,
        scoring::{NRS_MEANINGFUL_CHANGE, ODI_MEANINGFUL_CHANGE_HUNDREDTHS, Trend},
        standing_answers,
    },
};

/// How long a follow-up link works.
pub const FOLLOW_UP_TTL: Duration = Duration::days(14);

/// Emails a patient a link to the follow-up questionnaire; answers when the link expires.
#[tracing::instrument(name = "service.follow_ups.send", skip_all)]
pub async fn send(state: &AppState, caller: &Caller, patient_id: Uuid) -> ApiResult<DateTime<Utc>> {
    caller.require(state, CLINIC_TEAM).await?;
    let record = patients::find(&state.db, patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let Some(email) = record.email.clone() else {
        return Err(ApiError::Conflict {
            code: "patient_has_no_email",
            detail: "Add the patient's email address first.".into(),
        });
    };
    let work = Work::begin(state, caller).await?;
    let link = (Purpose::FollowUp, FOLLOW_UP_TTL);
    let expires_at = work
        .email_patient_link(state, record.id, email, link, |secret| {
            EmailContent::FollowUpInvitation(FollowUpInvitation {
                patient_name: record.given_name.clone(),
                questionnaire_url: state.page_url(&format!("follow-ups/{secret}")),
            })
        })
        .await?;
    work.allowed(Action::FollowUpSend, &record).await?;
    work.commit().await?;
    Ok(expires_at)
}

/// What the follow-up page shows before the patient answers.
#[derive(Debug, Clone)]
pub struct FollowUpForm {
    /// The patient's first name, to greet them.
    pub given_name: String,
    pub questionnaire: QuestionnaireDefinition,
    pub expires_at: DateTime<Utc>,
}

/// The form behind an emailed link. An unknown, used or expired link is a 404.
#[tracing::instrument(name = "service.follow_ups.form", skip_all)]
pub async fn form(state: &AppState, context: AuditContext, token: &str) -> ApiResult<FollowUpForm> {
    let now = state.clock.now();
    let token = account_tokens::peek(&state.db, now, Purpose::FollowUp, token)
        .await?
        .ok_or_else(link_not_valid)?;
    let record = match token.patient_id {
        Some(id) => patients::find(&state.db, id).await?,
        None => None,
    }
    .ok_or_else(link_not_valid)?;
    let questionnaire = questionnaire(state)?;
    Audit::new(context, now)
        .allowed(&state.db, Action::FollowUpRead, Subject::patient(record.id))
        .await?;
    Ok(FollowUpForm {
        given_name: record.given_name,
        questionnaire: questionnaire.definition().clone(),
        expires_at: token.expires_at,
    })
}

/// Submits the answers behind an emailed link: judged and stored like an intake (a finding
/// that alerts practitioners does so). The link works once; what the patient should do next
/// comes back, as the patient sees it (the link is theirs: whoever holds it is answering as them).
#[tracing::instrument(name = "service.follow_ups.submit", skip_all)]
pub async fn submit(
    state: &AppState,
    context: AuditContext,
    token: &str,
    answers: Answers,
) -> ApiResult<Outcome> {
    let now = state.clock.now();
    // Judged before the link is spent: a patient who mistyped can correct and resend.
    let found = account_tokens::peek(&state.db, now, Purpose::FollowUp, token)
        .await?
        .ok_or_else(link_not_valid)?;
    let patient_id = found.patient_id.ok_or_else(link_not_valid)?;
    let standing = standing_facts(state, patient_id).await?;
    let today = state.local_today();
    let evaluation = match state.triage.evaluate_follow_up(&answers, &standing, today) {
        Ok(evaluation) => evaluation,
        Err(refused) => {
            let error = ApiError::from(refused);
            return Err(match interrupt(state, context, &found, &answers).await? {
                Some(advice) => error.with_safety_advice(advice.into()),
                None => error,
            });
        }
    };
    let work = Work::begin_anonymous(state, context).await?;
    account_tokens::consume(work.db(), work.now(), Purpose::FollowUp, token)
        .await?
        .ok_or_else(link_not_valid)?;
    // A follow-up refused earlier with emergency answers is already a case: this is its
    // submission.
    let row = match interrupted_draft(work.db(), &found).await? {
        Some(draft) => draft,
        None => new_follow_up(state, &work, patient_id, "{}".into()).await?,
    };
    store_judged(state, &work, &row, answers, &evaluation).await?;
    work.allowed(Action::FollowUpSubmit, &row).await?;
    work.commit().await?;
    Ok(Visibility::Patient.outcome(evaluation.patient_view()))
}

/// The safety interrupt for a follow-up refused as incomplete (it has no draft of its own): its
/// emergency answers are kept as a draft of the link's follow-up, queued as an open flag, with
/// practitioners alerted once; the emergency advice is returned to show at once. Rules that
/// need standing facts wait for the submission.
async fn interrupt(
    state: &AppState,
    context: AuditContext,
    link: &account_token::Model,
    answers: &Answers,
) -> ApiResult<Option<Advice>> {
    let Some(found) =
        state
            .triage
            .safety_interrupt(FOLLOW_UP_QUESTIONNAIRE, answers, state.local_today())?
    else {
        return Ok(None);
    };
    let patient_id = link.patient_id.ok_or_else(link_not_valid)?;
    let text = serde_json::Value::Object(answers.clone()).to_string();
    let work = Work::begin_anonymous(state, context).await?;
    let draft = match interrupted_draft(work.db(), link).await? {
        Some(draft) => {
            intakes::save_answers(work.db(), work.now(), draft.id, text).await?;
            draft
        }
        None => new_follow_up(state, &work, patient_id, text).await?,
    };
    interrupt_draft(state, &work, draft.id).await?;
    work.commit().await?;
    Ok(Some(Visibility::Patient.advice(found.advice)))
}

/// The draft an earlier refused submission of `link` left (follow-ups have drafts only so).
async fn interrupted_draft<C: sea_orm::ConnectionTrait>(
    db: &C,
    link: &account_token::Model,
) -> ApiResult<Option<entity::intake::Model>> {
    let Some(patient_id) = link.patient_id else {
        return Ok(None);
    };
    Ok(intakes::for_patient(db, patient_id)
        .await?
        .into_iter()
        .find(|row| {
            row.questionnaire_id == FOLLOW_UP_QUESTIONNAIRE
                && row.status == IntakeStatus::Draft
                && row.created_at >= link.created_at
        }))
}

async fn new_follow_up(
    state: &AppState,
    work: &Work,
    patient_id: Uuid,
    answers: String,
) -> ApiResult<entity::intake::Model> {
    let questionnaire = questionnaire(state)?;
    Ok(intakes::create(
        work.db(),
        work.now(),
        NewIntake {
            patient_id,
            questionnaire_id: FOLLOW_UP_QUESTIONNAIRE.into(),
            questionnaire_version: questionnaire.version().to_owned(),
            answers,
            created_by: None,
            supersedes: None,
        },
    )
    .await?)
}

/// The facts a follow-up does not ask again (rules-v2.md): the date of birth from the
/// patient's record, the rest from their latest submitted intake. A stored answer the current
/// intake no longer accepts is left out (unknown, so a rule needing it does not fire) rather
/// than failing the patient's submission.
async fn standing_facts(state: &AppState, patient_id: Uuid) -> ApiResult<StandingFacts> {
    let record = patients::find(&state.db, patient_id)
        .await?
        .ok_or_else(link_not_valid)?;
    let latest_intake = intakes::for_patient(&state.db, patient_id)
        .await?
        .into_iter()
        .filter(|row| {
            row.questionnaire_id == INTAKE_QUESTIONNAIRE && row.status == IntakeStatus::Submitted
        })
        .max_by_key(|row| row.submitted_at);
    let mut raw = match latest_intake {
        Some(row) => match serde_json::from_str(&row.answers) {
            Ok(serde_json::Value::Object(answers)) => standing_answers(&answers),
            _ => Answers::new(),
        },
        None => Answers::new(),
    };
    raw.insert(
        "date_of_birth".into(),
        serde_json::Value::String(record.date_of_birth.to_string()),
    );
    let today = state.local_today();
    match state.triage.standing_facts(&raw, today) {
        Ok(standing) => Ok(standing),
        Err(problems) => {
            tracing::warn!(
                count = problems.len(),
                "stored intake answers no longer fit the intake; left out of standing facts"
            );
            for problem in &problems {
                if problem.link_id != "date_of_birth" {
                    raw.remove(&problem.link_id);
                }
            }
            Ok(state.triage.standing_facts(&raw, today).unwrap_or_default())
        }
    }
}

/// One submission's outcome measures, and their change against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomePoint {
    pub intake_id: Uuid,
    pub questionnaire_id: String,
    pub submitted_at: DateTime<Utc>,
    pub pain_now: Option<i16>,
    pub odi_percent: Option<f64>,
    /// NRS points against the baseline (negative is better).
    pub pain_change: Option<i32>,
    pub pain_trend: Option<Trend>,
    /// ODI percentage points against the baseline (negative is better).
    pub odi_change: Option<f64>,
    pub odi_trend: Option<Trend>,
}

/// Pain and disability over time, oldest first, against the latest intake as baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeTrend {
    /// Whose trend it is, for the page's heading (the API leaves it out: the caller knows).
    pub patient_name: String,
    pub baseline_intake_id: Option<Uuid>,
    pub points: Vec<OutcomePoint>,
}

/// A patient's pain (NRS) and disability (ODI) over time against their latest intake, with
/// the instruments' meaningful changes judged by `triage`.
#[tracing::instrument(name = "service.follow_ups.outcomes", skip_all)]
pub async fn outcomes(
    state: &AppState,
    caller: &Caller,
    patient_id: Uuid,
) -> ApiResult<OutcomeTrend> {
    caller.require(state, PRACTITIONER).await?;
    let record = patients::find(&state.db, patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut rows: Vec<_> = intakes::for_patient(&state.db, record.id)
        .await?
        .into_iter()
        .filter(|row| row.status == IntakeStatus::Submitted)
        .collect();
    rows.sort_by_key(|row| (row.submitted_at, row.id));
    let baseline = rows
        .iter()
        .rfind(|row| row.questionnaire_id != FOLLOW_UP_QUESTIONNAIRE)
        .cloned();
    let points = rows
        .into_iter()
        .filter_map(|row| {
            let submitted_at = row.submitted_at?;
            let pain_change = baseline
                .as_ref()
                .and_then(|base| Some(i32::from(row.pain_now?) - i32::from(base.pain_now?)));
            let odi_change = baseline
                .as_ref()
                .and_then(|base| Some(row.odi_hundredths? - base.odi_hundredths?));
            Some(OutcomePoint {
                intake_id: row.id,
                questionnaire_id: row.questionnaire_id,
                submitted_at,
                pain_now: row.pain_now,
                odi_percent: row.odi_hundredths.map(hundredths_to_points),
                pain_change,
                pain_trend: pain_change.map(|delta| Trend::of(delta, NRS_MEANINGFUL_CHANGE)),
                odi_change: odi_change.map(hundredths_to_points),
                odi_trend: odi_change
                    .map(|delta| Trend::of(delta, ODI_MEANINGFUL_CHANGE_HUNDREDTHS)),
            })
        })
        .collect();
    caller
        .audit(state)
        .allowed(&state.db, Action::OutcomesRead, &record)
        .await?;
    Ok(OutcomeTrend {
        patient_name: format!("{} {}", record.given_name, record.family_name),
        baseline_intake_id: baseline.map(|row| row.id),
        points,
    })
}

fn hundredths_to_points(value: i32) -> f64 {
    f64::from(value) / 100.0
}

fn questionnaire(state: &AppState) -> ApiResult<&Questionnaire> {
    state
        .triage
        .questionnaire(FOLLOW_UP_QUESTIONNAIRE)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no follow-up questionnaire")))
}

/// An unknown, used or expired link: a 404 that does not say which.
fn link_not_valid() -> ApiError {
    ApiError::NotFound
}
