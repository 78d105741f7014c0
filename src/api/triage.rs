//! `/api/v1/questionnaires` (the definitions a front end renders, FHIR-shaped) and
//! `/api/v1/triage/evaluate` (a stateless what-if for clinicians testing answers and rules).

use std::collections::BTreeMap;

use entity::user::Role;
use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;

use crate::{
    api::{
        ApiTags,
        access::require_role,
        intakes::{
            ClinicalDetail, INTAKE_QUESTIONNAIRE, TriageOutcome, evaluate_error, to_answers,
        },
        types::{Date, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::{ApiError, ApiResult},
};

/// A questionnaire's identity; its items are at `GET /api/v1/questionnaires/{id}`.
#[derive(Debug, Object)]
pub struct QuestionnaireSummary {
    pub id: String,
    pub version: String,
    pub title: String,
}

/// Answers to judge, as if submitted on `as_of`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// Default `intake`.
    #[oai(nullable, validator(min_length = 1, max_length = 64))]
    pub questionnaire_id: Option<Text>,
    pub answers: BTreeMap<String, Value>,
    /// The clinic's date to judge on (ages, symptom days). Default: today.
    #[oai(nullable)]
    pub as_of: Option<Date>,
}

/// Everything the rules concluded, including what a patient is never shown.
#[derive(Debug, Object)]
pub struct EvaluationView {
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    /// What the patient would be told.
    pub outcome: TriageOutcome,
    pub clinical: ClinicalDetail,
}

pub struct TriageApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Triage")]
impl TriageApi {
    /// The questionnaires this clinic uses.
    #[oai(
        path = "/questionnaires",
        method = "get",
        operation_id = "listQuestionnaires"
    )]
    async fn list(&self, state: Data<&AppState>) -> ApiResult<Json<Vec<QuestionnaireSummary>>> {
        Ok(Json(
            state
                .triage
                .questionnaires()
                .map(|questionnaire| QuestionnaireSummary {
                    id: questionnaire.id().to_owned(),
                    version: questionnaire.version().to_owned(),
                    title: questionnaire.title().to_owned(),
                })
                .collect(),
        ))
    }

    /// A questionnaire definition shaped like a FHIR R4 `Questionnaire` (items with linkId,
    /// text, type, required, answerOption, enableWhen), so a front end can render the form.
    #[oai(
        path = "/questionnaires/:id",
        method = "get",
        operation_id = "getQuestionnaire"
    )]
    async fn get(&self, state: Data<&AppState>, id: Path<String>) -> ApiResult<Json<Value>> {
        let questionnaire = state
            .triage
            .questionnaire(&id.0)
            .ok_or(ApiError::NotFound)?;
        serde_json::to_value(questionnaire.definition())
            .map(Json)
            .map_err(ApiError::internal)
    }

    /// Judges a set of answers without storing anything: scores, derived facts, fired rules
    /// with their rationale, and the advice a patient would get (practitioners and admins).
    #[oai(
        path = "/triage/evaluate",
        method = "post",
        operation_id = "evaluateTriage"
    )]
    async fn evaluate(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<EvaluateRequest>,
    ) -> ApiResult<Json<EvaluationView>> {
        require_role(&state, request, &auth, &[Role::Practitioner, Role::Admin]).await?;
        let body = body.0;
        let questionnaire_id = body
            .questionnaire_id
            .map_or_else(|| INTAKE_QUESTIONNAIRE.to_owned(), Text::into_string);
        let as_of = body
            .as_of
            .map_or_else(|| state.local_today(), |date| date.0);
        let evaluation = state
            .triage
            .evaluate(&questionnaire_id, &to_answers(body.answers), as_of)
            .map_err(evaluate_error)?;
        let (outcome, clinical) = crate::api::intakes::split(&evaluation)?;
        Ok(Json(EvaluationView {
            questionnaire_id: evaluation.questionnaire_id,
            questionnaire_version: evaluation.questionnaire_version,
            outcome,
            clinical,
        }))
    }
}
