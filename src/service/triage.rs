//! The triage content as data: the questionnaires a front end renders, and a stateless what-if
//! for clinicians trying answers against the loaded rules (nothing is stored or audited).

use chrono::NaiveDate;

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    service::{Caller, access::RULE_TESTERS, intake::Clinical, intake::record_of},
    triage::{Answers, INTAKE_QUESTIONNAIRE, PatientView, QuestionnaireDefinition},
};

/// A questionnaire's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionnaireSummary {
    pub id: String,
    pub version: String,
    pub title: String,
}

/// The questionnaires this clinic uses, by id.
#[tracing::instrument(name = "service.triage.questionnaires", skip_all)]
pub fn questionnaires(state: &AppState) -> Vec<QuestionnaireSummary> {
    state
        .triage
        .questionnaires()
        .map(|questionnaire| QuestionnaireSummary {
            id: questionnaire.id().to_owned(),
            version: questionnaire.version().to_owned(),
            title: questionnaire.title().to_owned(),
        })
        .collect()
}

/// A questionnaire's definition (FHIR-shaped), or a 404.
#[tracing::instrument(name = "service.triage.questionnaire", skip_all)]
pub fn questionnaire(state: &AppState, id: &str) -> ApiResult<QuestionnaireDefinition> {
    state
        .triage
        .questionnaire(id)
        .map(|questionnaire| questionnaire.definition().clone())
        .ok_or(ApiError::NotFound)
}

/// Answers to judge, as if submitted on `as_of`.
#[derive(Debug, Clone, Default)]
pub struct Evaluate {
    /// Default: the intake questionnaire.
    pub questionnaire_id: Option<String>,
    pub answers: Answers,
    /// Default: the clinic's today.
    pub as_of: Option<NaiveDate>,
}

/// Everything the rules concluded, including what a patient is never shown.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    /// What the patient would be told.
    pub outcome: PatientView,
    pub clinical: Clinical,
}

/// Judges a set of answers without storing anything.
#[tracing::instrument(name = "service.triage.evaluate", skip_all)]
pub async fn evaluate(
    state: &AppState,
    caller: &Caller,
    command: Evaluate,
) -> ApiResult<Evaluated> {
    caller.require(state, RULE_TESTERS).await?;
    let questionnaire_id = command
        .questionnaire_id
        .unwrap_or_else(|| INTAKE_QUESTIONNAIRE.to_owned());
    let as_of = command.as_of.unwrap_or_else(|| state.local_today());
    let evaluation = state
        .triage
        .evaluate(&questionnaire_id, &command.answers, as_of)?;
    Ok(Evaluated {
        outcome: evaluation.patient_view(),
        clinical: record_of(&evaluation)?.into(),
        questionnaire_id: evaluation.questionnaire_id,
        questionnaire_version: evaluation.questionnaire_version,
    })
}
