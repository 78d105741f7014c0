//! The practitioners' review queue, emergencies first with how long each has waited, which
//! looks for new cases by itself; and a flagged case, the page the "a case waits for review"
//! email links to.
//! It shows the answers in the questionnaire's words, the scores, the rules that fired with
//! their rationale and source, the patient's earlier submissions and the decisions so far, and
//! takes a decision. Who may open it is the service's decision (`review::case` and
//! `review::decide`, the same use cases as the API, audited the same way).

use minijinja::{Value, context};
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{CsrfToken, Data, Path, Redirect},
};
use serde_json::Value as Json;
use uuid::Uuid;

use super::{
    account::{SignedIn, page_error},
    form::{FormData, page_id},
    intake::{answers_of, questionnaire},
    questionnaire_form::view,
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    error::ApiError,
    service::{
        Caller,
        intake::{Intake, ReviewStatus},
        review::{self, Case, Decide, QueueEntry},
    },
    triage::{Disposition, review::Decision},
};

/// Longest note a decision takes (as the API's).
const MAX_NOTE_CHARS: usize = 4000;

/// The decisions a practitioner can record, as the form offers them.
const DECISIONS: [(Decision, &str, &str); 4] = [
    (
        Decision::ClearedForCare,
        "cleared_for_care",
        "Cleared for chiropractic or physiotherapy care",
    ),
    (Decision::ReferToGp, "refer_to_gp", "Refer to their GP"),
    (
        Decision::ReferToEmergency,
        "refer_to_emergency",
        "Refer to emergency care",
    ),
    (
        Decision::ContactedPatient,
        "contacted_patient",
        "Spoke to the patient (the case stays open)",
    ),
];

fn decision_label(decision: Decision) -> &'static str {
    DECISIONS
        .iter()
        .find(|(known, _, _)| *known == decision)
        .map_or("", |(_, _, label)| label)
}

fn disposition_label(disposition: Option<Disposition>) -> &'static str {
    match disposition {
        Some(Disposition::Emergency) => "Emergency",
        Some(Disposition::Urgent) => "Urgent",
        Some(Disposition::Review) => "Review",
        Some(Disposition::Routine) => "Routine",
        None => "Not sent yet (emergency answers interrupted the questionnaire)",
    }
}

/// How long a case has waited, in the queue's words: "waiting 12 min", "waiting 2 h 5 min",
/// "waiting 3 days".
fn waiting_label(minutes: i64) -> String {
    match minutes {
        ..=0 => "just arrived".into(),
        1..60 => format!("waiting {minutes} min"),
        60..1440 => match minutes % 60 {
            0 => format!("waiting {} h", minutes / 60),
            rest => format!("waiting {} h {rest} min", minutes / 60),
        },
        _ => match minutes / 1440 {
            1 => "waiting 1 day".into(),
            days => format!("waiting {days} days"),
        },
    }
}

fn level(disposition: Disposition) -> &'static str {
    match disposition {
        Disposition::Emergency => "emergency",
        Disposition::Urgent => "urgent",
        Disposition::Review => "review",
        Disposition::Routine => "routine",
    }
}

#[handler]
pub async fn queue_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
) -> poem::Result<Response> {
    let entries = review::queue(&state, &caller, ReviewStatus::Pending)
        .await
        .map_err(page_error)?;
    let cases: Vec<Value> = entries
        .iter()
        .map(|entry: &QueueEntry| {
            context! {
                href => format!("/reviews/{}", entry.intake_id),
                name => entry.patient_name.clone(),
                disposition => disposition_label(Some(entry.disposition)),
                level => level(entry.disposition),
                unsubmitted => entry.unsubmitted,
                follow_up => entry.questionnaire_id != crate::triage::INTAKE_QUESTIONNAIRE,
                waiting => waiting_label(entry.waiting_minutes),
                sent => state.local_time(entry.submitted_at),
            }
        })
        .collect();
    let emergencies = entries
        .iter()
        .filter(|entry| entry.disposition == Disposition::Emergency)
        .count();
    Ok(state.pages.render(
        StatusCode::OK,
        "review_queue.html",
        Frame::of(csrf, &caller),
        context! {
            title => "Review queue",
            count => cases.len(),
            emergencies,
            cases,
            refresh_seconds => state.config.queue_refresh_seconds,
        },
    ))
}

#[handler]
pub async fn case_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let decided = req
        .uri()
        .query()
        .is_some_and(|query| query.contains("decided=1"));
    render_case(
        &state,
        csrf,
        &caller,
        id,
        StatusCode::OK,
        decided,
        &FormErrors::default(),
        ("", ""),
    )
    .await
}

#[handler]
pub async fn decide(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let chosen = form.text("decision").unwrap_or_default();
    let note = form.raw("note").unwrap_or_default().trim().to_owned();
    let mut errors = FormErrors::default();
    let decision = DECISIONS
        .iter()
        .find(|(_, value, _)| *value == chosen)
        .map(|(decision, _, _)| *decision);
    if decision.is_none() {
        errors.field("decision", "Choose a decision.");
    }
    if note.is_empty() {
        errors.field("note", "Write a note that explains the decision.");
    } else if note.chars().count() > MAX_NOTE_CHARS {
        errors.field(
            "note",
            format!("Keep the note to {MAX_NOTE_CHARS} characters or fewer."),
        );
    }
    let (Some(decision), true) = (decision, errors.is_empty()) else {
        return render_case(
            &state,
            csrf,
            &caller,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            &errors,
            (&chosen, &note),
        )
        .await;
    };
    match review::decide(&state, &caller, id, Decide { decision, note }).await {
        Ok(_) => Ok(Redirect::see_other(format!("/reviews/{id}?decided=1")).into_response()),
        Err(err @ ApiError::Conflict { .. }) => {
            let status = err.status();
            let errors = FormErrors::from_api(&err, &[]);
            render_case(&state, csrf, &caller, id, status, false, &errors, ("", "")).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_case(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    id: Uuid,
    status: StatusCode,
    decided: bool,
    errors: &FormErrors,
    (chosen, note): (&str, &str),
) -> poem::Result<Response> {
    let case = review::case(state, caller, id).await.map_err(page_error)?;
    let Case {
        intake,
        patient_name,
        date_of_birth,
        email,
        phone,
        earlier,
        decisions,
    } = case;
    let clinical = intake.clinical.as_ref();
    let findings: Vec<Value> = clinical
        .map(|clinical| {
            clinical
                .findings
                .iter()
                .map(|finding| {
                    context! {
                        disposition => disposition_label(Some(finding.disposition)),
                        rationale => finding.rationale.clone(),
                        source => finding.source.clone(),
                        rule_id => finding.rule_id.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let scores = clinical
        .map(|clinical| score_lines(&clinical.scores))
        .unwrap_or_default();
    let answers = answer_sections(state, &intake)?;
    let earlier: Vec<Value> = earlier
        .iter()
        .map(|other| {
            context! {
                id => other.id.to_string(),
                when => other.submitted_at.map(|at| state.local_time(at)).unwrap_or_default(),
                what => other.questionnaire_id.clone(),
                disposition => disposition_label(other.disposition),
            }
        })
        .collect();
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|recorded| {
            context! {
                decision => decision_label(recorded.decision),
                note => recorded.note.clone(),
                when => state.local_time(recorded.decided_at),
            }
        })
        .collect();
    let choices: Vec<Value> = DECISIONS
        .iter()
        .map(|&(_, value, label)| context! { value, label, checked => value == chosen })
        .collect();
    Ok(state.pages.render(
        status,
        "review_case.html",
        Frame::of(csrf, caller),
        context! {
            title => format!("Case: {patient_name}"),
            patient_name,
            date_of_birth => date_of_birth.format("%-d %B %Y").to_string(),
            email,
            phone,
            disposition => disposition_label(intake.disposition),
            urgent => matches!(intake.disposition, Some(Disposition::Emergency | Disposition::Urgent) | None),
            submitted => intake.submitted_at.map(|at| state.local_time(at)),
            findings,
            scores,
            answers,
            earlier,
            decisions,
            choices,
            note,
            decided,
            action => format!("/reviews/{id}"),
            outcomes => format!("/patients/{}/outcomes", intake.patient_id),
            errors => Value::from(minijinja::value::Serde(errors)),
        },
    ))
}

/// The scores as lines to read: `start_back.total: 5` becomes "start back total: 5".
fn score_lines(scores: &Json) -> Vec<Value> {
    let mut lines = Vec::new();
    flatten_scores(scores, String::new(), &mut lines);
    lines
}

fn flatten_scores(value: &Json, name: String, lines: &mut Vec<Value>) {
    match value {
        Json::Object(fields) => {
            for (key, inner) in fields {
                let key = key.replace('_', " ");
                let name = if name.is_empty() {
                    key
                } else {
                    format!("{name} {key}")
                };
                flatten_scores(inner, name, lines);
            }
        }
        Json::Null => {}
        Json::String(text) => lines.push(context! { name, value => text.replace('_', " ") }),
        other => lines.push(context! { name, value => other.to_string() }),
    }
}

/// The questionnaire's sections with the answers given, in its own words (only the questions
/// that were asked).
fn answer_sections(state: &AppState, intake: &Intake) -> poem::Result<Vec<Value>> {
    let questionnaire = questionnaire(state, intake)?;
    let answers = answers_of(intake);
    let asked = questionnaire.shown_items(&answers, state.local_today());
    Ok(questionnaire
        .sections()
        .iter()
        .filter_map(|section| view(section, &answers, &asked, &[]))
        .map(|section| Value::from(minijinja::value::Serde(section)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::waiting_label;

    #[test]
    fn waiting_reads_in_minutes_then_hours_then_days() {
        assert_eq!(waiting_label(-3), "just arrived");
        assert_eq!(waiting_label(0), "just arrived");
        assert_eq!(waiting_label(1), "waiting 1 min");
        assert_eq!(waiting_label(59), "waiting 59 min");
        assert_eq!(waiting_label(60), "waiting 1 h");
        assert_eq!(waiting_label(125), "waiting 2 h 5 min");
        assert_eq!(waiting_label(1439), "waiting 23 h 59 min");
        assert_eq!(waiting_label(1440), "waiting 1 day");
        assert_eq!(waiting_label(3 * 1440 + 7), "waiting 3 days");
    }
}
