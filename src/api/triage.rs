//! `/api/v1/questionnaires` (the definitions a front end renders, FHIR-shaped) and
//! `/api/v1/triage/evaluate` (a stateless what-if for clinicians testing answers and rules).
//! The use cases are `service::triage`.

use std::collections::BTreeMap;

use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;

use crate::{
    api::{
        ApiTags, caller,
        intakes::{ClinicalDetail, TriageOutcome},
        types::{Date, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    service::triage::{self, Evaluate},
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
            triage::questionnaires(&state)
                .into_iter()
                .map(|summary| QuestionnaireSummary {
                    id: summary.id,
                    version: summary.version,
                    title: summary.title,
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
    async fn get(&self, state: Data<&AppState>, id: Path<Text>) -> ApiResult<Json<Value>> {
        let definition = triage::questionnaire(&state, id.0.as_str())?;
        serde_json::to_value(definition)
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
        let body = body.0;
        let command = Evaluate {
            questionnaire_id: body.questionnaire_id.map(Text::into_string),
            answers: body.answers.into_iter().collect(),
            as_of: body.as_of.map(|date| date.0),
        };
        let evaluated = triage::evaluate(&state, &caller(request, &auth), command).await?;
        Ok(Json(EvaluationView {
            questionnaire_id: evaluated.questionnaire_id,
            questionnaire_version: evaluated.questionnaire_version,
            outcome: evaluated.outcome.into(),
            clinical: evaluated.clinical.into(),
        }))
    }
}
