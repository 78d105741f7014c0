//! Follow-up questionnaires by emailed link (`/api/v1/follow-ups/{token}`: no login, the token
//! is the credential, single use and expiring) and the outcome trend practitioners see. The use
//! cases are `service::follow_ups`.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    api::{
        ApiTags, caller,
        intakes::{AnswersRequest, TriageOutcome},
        types::Text,
    },
    app::AppState,
    audit::AuditContext,
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    service::follow_ups::{self, OutcomePoint as Point, OutcomeTrend as Trend},
    triage::scoring,
};

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

impl From<scoring::Trend> for Change {
    fn from(trend: scoring::Trend) -> Self {
        match trend {
            scoring::Trend::Improved => Self::MeaningfullyBetter,
            scoring::Trend::Worsened => Self::MeaningfullyWorse,
            scoring::Trend::NoMeaningfulChange => Self::NoMeaningfulChange,
        }
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

impl From<Point> for OutcomePoint {
    fn from(point: Point) -> Self {
        Self {
            intake_id: point.intake_id,
            questionnaire_id: point.questionnaire_id,
            submitted_at: point.submitted_at,
            pain_now: point.pain_now,
            odi_percent: point.odi_percent,
            pain_change: point.pain_change,
            pain_trend: point.pain_trend.map(Change::from),
            odi_change: point.odi_change,
            odi_trend: point.odi_trend.map(Change::from),
        }
    }
}

impl From<Trend> for OutcomeTrend {
    fn from(trend: Trend) -> Self {
        Self {
            baseline_intake_id: trend.baseline_intake_id,
            points: trend.points.into_iter().map(OutcomePoint::from).collect(),
        }
    }
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
        let expires_at = follow_ups::send(&state, &caller(request, &auth), id.0).await?;
        Ok(FollowUpQueued::Sent(Json(FollowUpSent { expires_at })))
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
        #[oai(validator(min_length = 1, max_length = 128))] token: Path<Text>,
    ) -> ApiResult<Json<FollowUpForm>> {
        let context = AuditContext::from_request(request, None);
        let form = follow_ups::form(&state, context, token.0.as_str()).await?;
        Ok(Json(FollowUpForm {
            given_name: form.given_name,
            questionnaire: serde_json::to_value(form.questionnaire).map_err(ApiError::internal)?,
            expires_at: form.expires_at,
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
        #[oai(validator(min_length = 1, max_length = 128))] token: Path<Text>,
        body: Json<AnswersRequest>,
    ) -> ApiResult<Json<TriageOutcome>> {
        let context = AuditContext::from_request(request, None);
        let answers = body.0.answers.into_iter().collect();
        let outcome = follow_ups::submit(&state, context, token.0.as_str(), answers).await?;
        Ok(Json(outcome.into()))
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
        let trend = follow_ups::outcomes(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(trend.into()))
    }
}
