//! Follow-up questionnaires by emailed link (`/api/v1/follow-ups/{token}`: no login, the token
//! is the credential, single use and expiring) and the outcome trend practitioners see.

use chrono::{DateTime, Duration, Utc};
use entity::{account_token::Purpose, intake::IntakeStatus};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::{CLINIC_TEAM, PRACTITIONER, require_role},
        intakes::{AnswersRequest, TriageOutcome, judge_and_store, split, to_answers},
    },
    app::AppState,
    audit::{self, Action, AuditContext, Entry, Record},
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    notify::content::{EmailContent, FollowUpInvitation},
    store::{
        account_tokens::{self, Subject},
        intakes::{self, NewIntake},
        outbox::NewMessage,
        patients,
    },
    triage::scoring::{NRS_MEANINGFUL_CHANGE, ODI_MEANINGFUL_CHANGE_HUNDREDTHS},
};

/// The follow-up questionnaire's id.
pub const FOLLOW_UP_QUESTIONNAIRE: &str = "follow-up";
/// How long a follow-up link works.
pub const FOLLOW_UP_TTL: Duration = Duration::days(14);

#[derive(Debug, Object)]
pub struct FollowUpSent {
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum FollowUpQueued {
    #[oai(status = 202)]
    Sent(Json<FollowUpSent>),
}

/// What the follow-up page shows before the patient answers.
#[derive(Debug, Object)]
pub struct FollowUpForm {
    /// The patient's first name, to greet them.
    pub given_name: String,
    /// The questionnaire (FHIR-shaped, as `GET /api/v1/questionnaires/follow-up`).
    pub questionnaire: Value,
    pub expires_at: DateTime<Utc>,
}

/// Direction of a change against the intake baseline; lower is better on both instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Change {
    /// Better by at least the meaningful change (2 NRS points, 10 ODI points).
    MeaningfullyBetter,
    MeaningfullyWorse,
    NoMeaningfulChange,
}

fn change_of(delta: i32, meaningful: i32) -> Change {
    if delta <= -meaningful {
        Change::MeaningfullyBetter
    } else if delta >= meaningful {
        Change::MeaningfullyWorse
    } else {
        Change::NoMeaningfulChange
    }
}

/// One submission's outcome measures, and their change against the baseline.
#[derive(Debug, Object)]
pub struct OutcomePoint {
    pub intake_id: Uuid,
    pub questionnaire_id: String,
    pub submitted_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub pain_now: Option<i16>,
    #[oai(skip_serializing_if_is_none)]
    pub odi_percent: Option<f64>,
    /// Points against the baseline (negative is better).
    #[oai(skip_serializing_if_is_none)]
    pub pain_change: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub pain_trend: Option<Change>,
    /// Percentage points against the baseline (negative is better).
    #[oai(skip_serializing_if_is_none)]
    pub odi_change: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub odi_trend: Option<Change>,
}

/// Pain and disability over time, oldest first, against the latest intake as baseline.
#[derive(Debug, Object)]
pub struct OutcomeTrend {
    #[oai(skip_serializing_if_is_none)]
    pub baseline_intake_id: Option<Uuid>,
    pub points: Vec<OutcomePoint>,
}

fn link_not_valid() -> ApiError {
    ApiError::NotFound
}

pub struct FollowUpsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Triage")]
impl FollowUpsApi {
    /// Emails a patient a link to the follow-up questionnaire (valid 14 days, single use).
    #[oai(
        path = "/patients/:id/follow-ups",
        method = "post",
        operation_id = "sendFollowUp"
    )]
    async fn send(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<FollowUpQueued> {
        require_role(&state, request, &auth, CLINIC_TEAM).await?;
        let record = patients::find(&state.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        let Some(email) = record.email.clone() else {
            return Err(ApiError::Conflict {
                code: "patient_has_no_email",
                detail: "Add the patient's email address first.".into(),
            });
        };
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let secret = account_tokens::issue(
            &txn,
            now,
            Purpose::FollowUp,
            Subject::Patient(record.id),
            FOLLOW_UP_TTL,
        )
        .await?;
        let url = state.page_url(&format!("follow-ups/{secret}"));
        state
            .outbox
            .enqueue(
                &txn,
                now,
                NewMessage::immediate(
                    email,
                    EmailContent::FollowUpInvitation(FollowUpInvitation {
                        patient_name: record.given_name.clone(),
                        questionnaire_url: url,
                    }),
                    now,
                ),
            )
            .await
            .map_err(ApiError::internal)?;
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::FollowUpSend).on(Record::Patient(record.id)),
        )
        .await?;
        txn.commit().await?;
        Ok(FollowUpQueued::Sent(Json(FollowUpSent {
            expires_at: now + FOLLOW_UP_TTL,
        })))
    }

    /// The follow-up form behind an emailed link. An unknown, used or expired link is a 404.
    #[oai(
        path = "/follow-ups/:token",
        method = "get",
        operation_id = "getFollowUp"
    )]
    async fn form(
        &self,
        request: &Request,
        state: Data<&AppState>,
        #[oai(validator(min_length = 1, max_length = 128))] token: Path<String>,
    ) -> ApiResult<Json<FollowUpForm>> {
        let now = state.clock.now();
        let token = account_tokens::peek(&state.db, now, Purpose::FollowUp, &token.0)
            .await?
            .ok_or_else(link_not_valid)?;
        let record = match token.patient_id {
            Some(id) => patients::find(&state.db, id).await?,
            None => None,
        }
        .ok_or_else(link_not_valid)?;
        let questionnaire = state
            .triage
            .questionnaire(FOLLOW_UP_QUESTIONNAIRE)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no follow-up questionnaire")))?;
        audit::record(
            &state.db,
            now,
            &AuditContext::from_request(request, None),
            Entry::allowed(Action::FollowUpRead).for_patient(record.id),
        )
        .await?;
        Ok(Json(FollowUpForm {
            given_name: record.given_name,
            questionnaire: serde_json::to_value(questionnaire.definition())
                .map_err(ApiError::internal)?,
            expires_at: token.expires_at,
        }))
    }

    /// Submits the follow-up answers: scored and judged like an intake (an emergency finding
    /// alerts practitioners). The link works once.
    #[oai(
        path = "/follow-ups/:token",
        method = "post",
        operation_id = "submitFollowUp"
    )]
    async fn submit(
        &self,
        request: &Request,
        state: Data<&AppState>,
        #[oai(validator(min_length = 1, max_length = 128))] token: Path<String>,
        body: Json<AnswersRequest>,
    ) -> ApiResult<Json<TriageOutcome>> {
        let now = state.clock.now();
        let answers = to_answers(body.0.answers);
        // Judged before the link is spent: a patient who mistyped can correct and resend.
        let found = account_tokens::peek(&state.db, now, Purpose::FollowUp, &token.0)
            .await?
            .ok_or_else(link_not_valid)?;
        state
            .triage
            .evaluate(FOLLOW_UP_QUESTIONNAIRE, &answers, state.local_today())
            .map_err(crate::api::intakes::evaluate_error)?;
        let patient_id = found.patient_id.ok_or_else(link_not_valid)?;
        let questionnaire = state
            .triage
            .questionnaire(FOLLOW_UP_QUESTIONNAIRE)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no follow-up questionnaire")))?;
        let txn = crate::store::begin_write(&state.db).await?;
        account_tokens::consume(&txn, now, Purpose::FollowUp, &token.0)
            .await?
            .ok_or_else(link_not_valid)?;
        let row = intakes::create(
            &txn,
            now,
            NewIntake {
                patient_id,
                questionnaire_id: FOLLOW_UP_QUESTIONNAIRE.into(),
                questionnaire_version: questionnaire.version().to_owned(),
                answers: "{}".into(),
                created_by: None,
                supersedes: None,
            },
        )
        .await?;
        let context = AuditContext::from_request(request, None);
        let evaluation = judge_and_store(&state, &txn, now, &row, answers, &context).await?;
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::FollowUpSubmit)
                .on(Record::Intake(row.id))
                .for_patient(patient_id),
        )
        .await?;
        txn.commit().await?;
        Ok(Json(split(&evaluation)?.0))
    }

    /// A patient's pain (NRS) and disability (ODI) over time against their latest intake,
    /// with meaningful changes (2 NRS points, 10 ODI points) flagged.
    #[oai(
        path = "/patients/:id/outcomes",
        method = "get",
        operation_id = "getPatientOutcomes"
    )]
    async fn outcomes(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<OutcomeTrend>> {
        require_role(&state, request, &auth, PRACTITIONER).await?;
        let record = patients::find(&state.db, id.0)
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
                    odi_percent: row.odi_hundredths.map(|value| f64::from(value) / 100.0),
                    pain_change,
                    pain_trend: pain_change.map(|delta| change_of(delta, NRS_MEANINGFUL_CHANGE)),
                    odi_change: odi_change.map(|value| f64::from(value) / 100.0),
                    odi_trend: odi_change
                        .map(|delta| change_of(delta, ODI_MEANINGFUL_CHANGE_HUNDREDTHS)),
                })
            })
            .collect();
        audit::record(
            &state.db,
            state.clock.now(),
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::OutcomesRead).on(Record::Patient(record.id)),
        )
        .await?;
        Ok(Json(OutcomeTrend {
            baseline_intake_id: baseline.map(|row| row.id),
            points,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_meaningful_from_the_threshold_on() {
        assert_eq!(change_of(-2, 2), Change::MeaningfullyBetter);
        assert_eq!(change_of(-1, 2), Change::NoMeaningfulChange);
        assert_eq!(change_of(1, 2), Change::NoMeaningfulChange);
        assert_eq!(change_of(2, 2), Change::MeaningfullyWorse);
        assert_eq!(change_of(-1000, 1000), Change::MeaningfullyBetter);
        assert_eq!(change_of(-999, 1000), Change::NoMeaningfulChange);
    }
}
