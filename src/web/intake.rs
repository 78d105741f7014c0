//! The intake pages: one section of the questionnaire per page, saved as a draft section by
//! section (so it resumes from any device), the safety interrupt the moment an emergency answer
//! is saved, a last page to send it, and the result with its advice.

use std::collections::BTreeSet;

use minijinja::{Value, context};
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{CsrfToken, Data, Path, Redirect},
};
use uuid::Uuid;

use super::{
    account::{SignedInPatient, page_error},
    form::FormData,
    questionnaire_form::{answers_from_form, view},
    render::Frame,
};
use crate::{
    app::AppState,
    error::ApiError,
    service::{
        intake::{self, Advice, Intake, StartIntake, Status},
        patients,
    },
    triage::{Answers, Disposition, INTAKE_QUESTIONNAIRE, questionnaire::Questionnaire},
};

pub(super) fn questionnaire<'a>(
    state: &'a AppState,
    shown: &Intake,
) -> poem::Result<&'a Questionnaire> {
    state
        .triage
        .questionnaire(&shown.questionnaire_id)
        .ok_or_else(|| page_error(ApiError::internal(anyhow::anyhow!("questionnaire missing"))))
}

pub(super) fn answers_of(shown: &Intake) -> Answers {
    shown
        .answers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn section_path(id: Uuid, section: &str) -> String {
    format!("/intake/{id}/section/{section}")
}

/// The first section with a shown, required question still unanswered (where to carry on).
fn resume_section(
    questionnaire: &Questionnaire,
    answers: &Answers,
    today: chrono::NaiveDate,
) -> Option<String> {
    let shown = questionnaire.shown_items(answers, today);
    questionnaire.sections().iter().find_map(|section| {
        let ids = questionnaire.section_link_ids(&section.link_id)?;
        let open = unanswered_required(questionnaire, &ids, answers, &shown);
        (!open.is_empty()).then(|| section.link_id.clone())
    })
}

/// The shown, required questions among `ids` that have no answer yet.
fn unanswered_required(
    questionnaire: &Questionnaire,
    ids: &[String],
    answers: &Answers,
    shown: &BTreeSet<String>,
) -> Vec<String> {
    let mut open = Vec::new();
    let mut visit = |item: &crate::triage::questionnaire::QuestionnaireItem| {
        if ids.contains(&item.link_id)
            && item.required
            && shown.contains(&item.link_id)
            && !answers.contains_key(&item.link_id)
        {
            open.push(item.link_id.clone());
        }
    };
    fn walk(
        items: &[crate::triage::questionnaire::QuestionnaireItem],
        visit: &mut dyn FnMut(&crate::triage::questionnaire::QuestionnaireItem),
    ) {
        for item in items {
            visit(item);
            walk(&item.item, visit);
        }
    }
    walk(questionnaire.sections(), &mut visit);
    open
}

#[handler]
pub async fn start_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
) -> poem::Result<Response> {
    let record = patients::own(&state, &caller).await.map_err(page_error)?;
    let intakes = intake::of_patient(&state, &caller, record.id)
        .await
        .map_err(page_error)?;
    let mine = intakes
        .iter()
        .filter(|shown| shown.questionnaire_id == INTAKE_QUESTIONNAIRE);
    let draft = mine.clone().find(|shown| shown.status == Status::Draft);
    let submitted = mine.clone().find(|shown| shown.status == Status::Submitted);
    let resume = match draft {
        Some(draft) => {
            let questionnaire = questionnaire(&state, draft)?;
            let section = resume_section(questionnaire, &answers_of(draft), state.local_today())
                .map(|section| section_path(draft.id, &section))
                .unwrap_or_else(|| format!("/intake/{}/send", draft.id));
            Some(section)
        }
        None => None,
    };
    Ok(state.pages.render(
        StatusCode::OK,
        "intake_start.html",
        Frame::of(csrf, &caller),
        context! {
            title => "Your questionnaire",
            resume,
            submitted => submitted.map(|shown| context! {
                id => shown.id.to_string(),
                on => shown.submitted_at.map(|at| at.format("%-d %B %Y").to_string()),
            }),
        },
    ))
}

#[handler]
pub async fn start(
    state: Data<&AppState>,
    _csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
) -> poem::Result<Response> {
    let started = intake::start(&state, &caller, StartIntake::default())
        .await
        .map_err(page_error)?;
    let questionnaire = questionnaire(&state, &started)?;
    let first = questionnaire
        .sections()
        .first()
        .map(|section| section_path(started.id, &section.link_id))
        .unwrap_or_else(|| format!("/intake/{}/send", started.id));
    Ok(Redirect::see_other(first).into_response())
}

/// What a section page shows besides its questions.
struct SectionState<'a> {
    answers: &'a Answers,
    /// (linkId, message)
    errors: &'a [(String, String)],
    /// The last save brought up more questions here.
    more: bool,
}

/// Renders section `section` of draft `shown`.
fn render_section(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    shown: &Intake,
    section: &str,
    SectionState {
        answers,
        errors,
        more,
    }: SectionState,
) -> poem::Result<Response> {
    let questionnaire = questionnaire(state, shown)?;
    let sections = questionnaire.sections();
    let index = sections
        .iter()
        .position(|item| item.link_id == section)
        .ok_or_else(|| poem::Error::from_status(StatusCode::NOT_FOUND))?;
    let visible = questionnaire.shown_items(answers, state.local_today());
    let item = view(&sections[index], answers, &visible, errors);
    let back = match index {
        0 => "/intake".to_owned(),
        _ => section_path(shown.id, &sections[index - 1].link_id),
    };
    let summary: Vec<Value> = errors
        .iter()
        .map(|(field, message)| context! { field, message })
        .collect();
    Ok(state.pages.render(
        status,
        "intake_section.html",
        frame,
        context! {
            title => item.as_ref().map(|item| item.text.clone()).unwrap_or_default(),
            questionnaire_title => questionnaire.title(),
            section => Value::from(minijinja::value::Serde(item)),
            step => index + 1,
            steps => sections.len(),
            action => section_path(shown.id, section),
            back,
            more,
            errors => (!summary.is_empty()).then(|| context! { list => summary }),
        },
    ))
}

#[handler]
pub async fn section_page(
    req: &Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path((id, section)): Path<(Uuid, String)>,
) -> poem::Result<Response> {
    let shown = intake::get(&state, &caller, id).await.map_err(page_error)?;
    if shown.status != Status::Draft {
        return Ok(Redirect::see_other(format!("/intake/{id}/result")).into_response());
    }
    let more = req
        .uri()
        .query()
        .is_some_and(|query| query.contains("more=1"));
    render_section(
        &state,
        Frame::of(csrf, &caller),
        StatusCode::OK,
        &shown,
        &section,
        SectionState {
            answers: &answers_of(&shown),
            errors: &[],
            more,
        },
    )
}

#[handler]
pub async fn save_section(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path((id, section)): Path<(Uuid, String)>,
    form: FormData,
) -> poem::Result<Response> {
    let before = intake::get(&state, &caller, id).await.map_err(page_error)?;
    if before.status != Status::Draft {
        return Ok(Redirect::see_other(format!("/intake/{id}/result")).into_response());
    }
    let questionnaire = questionnaire(&state, &before)?;
    let Some(section_item) = questionnaire
        .sections()
        .iter()
        .find(|item| item.link_id == section)
    else {
        return Err(poem::Error::from_status(StatusCode::NOT_FOUND));
    };
    let (posted, unreadable) = answers_from_form(section_item, &form);
    let mut shown_answers = answers_of(&before);
    shown_answers.extend(posted.clone());
    if !unreadable.is_empty() {
        return render_section(
            &state,
            Frame::of(csrf, &caller),
            StatusCode::UNPROCESSABLE_ENTITY,
            &before,
            &section,
            SectionState {
                answers: &shown_answers,
                errors: &unreadable,
                more: false,
            },
        );
    }
    match intake::save_section(&state, &caller, id, &section, posted).await {
        Ok(saved) => {
            if saved.safety_advice.is_some() {
                return Ok(Redirect::see_other(format!("/intake/{id}/emergency")).into_response());
            }
            Ok(Redirect::see_other(next_after(
                questionnaire,
                &before,
                &saved,
                &section,
                state.local_today(),
            ))
            .into_response())
        }
        Err(ApiError::ValidationWithSafetyAdvice { advice, .. }) => Ok(emergency(
            &state,
            Frame::of(csrf, &caller),
            refused_advice(advice),
        )),
        Err(ApiError::Validation { errors, .. }) => {
            let errors: Vec<(String, String)> = errors
                .into_iter()
                .map(|error| (error.field, error.message))
                .collect();
            render_section(
                &state,
                Frame::of(csrf, &caller),
                StatusCode::UNPROCESSABLE_ENTITY,
                &before,
                &section,
                SectionState {
                    answers: &shown_answers,
                    errors: &errors,
                    more: false,
                },
            )
        }
        Err(err) => Err(page_error(err)),
    }
}

/// Where to go after saving `section`: back to it when the save brought up new questions there
/// that still need an answer (how the form works without the script), else the next section,
/// else the page that sends it.
fn next_after(
    questionnaire: &Questionnaire,
    before: &Intake,
    saved: &Intake,
    section: &str,
    today: chrono::NaiveDate,
) -> String {
    let ids = questionnaire.section_link_ids(section).unwrap_or_default();
    let (old, new) = (answers_of(before), answers_of(saved));
    let shown_before = questionnaire.shown_items(&old, today);
    let shown_now = questionnaire.shown_items(&new, today);
    let brought_up = unanswered_required(questionnaire, &ids, &new, &shown_now)
        .into_iter()
        .any(|link_id| !shown_before.contains(&link_id));
    if brought_up {
        return format!("{}?more=1", section_path(saved.id, section));
    }
    let sections = questionnaire.sections();
    let next = sections
        .iter()
        .position(|item| item.link_id == section)
        .and_then(|index| sections.get(index + 1));
    match next {
        Some(next) => section_path(saved.id, &next.link_id),
        None => format!("/intake/{}/send", saved.id),
    }
}

/// The emergency page: what to do now, calmly; no booking.
pub fn emergency(state: &AppState, frame: Frame, advice: Advice) -> Response {
    state.pages.render(
        StatusCode::OK,
        "emergency.html",
        frame,
        context! {
            title => "Get medical help now",
            advice => advice_value(&advice),
            emergency_number => state.config.emergency_number.clone(),
        },
    )
}

/// The emergency advice a refused save or submission carried.
pub fn refused_advice(advice: crate::error::Advice) -> Advice {
    Advice {
        headline: advice.headline,
        paragraphs: advice.paragraphs,
        reasons: advice.reasons,
    }
}

pub fn advice_value(advice: &Advice) -> Value {
    context! {
        headline => advice.headline.clone(),
        paragraphs => advice.paragraphs.clone(),
        reasons => advice.reasons.clone().unwrap_or_default(),
    }
}

#[handler]
pub async fn emergency_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<Uuid>,
) -> poem::Result<Response> {
    match intake::emergency_advice(&state, &caller, id)
        .await
        .map_err(page_error)?
    {
        Some(advice) => Ok(emergency(&state, Frame::of(csrf, &caller), advice)),
        None => Ok(Redirect::see_other("/intake").into_response()),
    }
}

/// The sections and where each problem of a refused submission is.
fn render_send(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    shown: &Intake,
    problems: &[(String, String)],
) -> poem::Result<Response> {
    let questionnaire = questionnaire(state, shown)?;
    let answers = answers_of(shown);
    let visible = questionnaire.shown_items(&answers, state.local_today());
    let sections: Vec<Value> = questionnaire
        .sections()
        .iter()
        .map(|section| {
            let ids = questionnaire
                .section_link_ids(&section.link_id)
                .unwrap_or_default();
            let open = unanswered_required(questionnaire, &ids, &answers, &visible).len();
            context! {
                title => section.text.clone().unwrap_or_else(|| section.link_id.clone()),
                href => section_path(shown.id, &section.link_id),
                open,
            }
        })
        .collect();
    let list: Vec<Value> = problems
        .iter()
        .map(|(field, message)| {
            let section = questionnaire
                .sections()
                .iter()
                .find(|section| {
                    questionnaire
                        .section_link_ids(&section.link_id)
                        .is_some_and(|ids| ids.contains(field))
                })
                .map(|section| section.link_id.clone())
                .unwrap_or_default();
            context! {
                href => format!("{}#{field}", section_path(shown.id, &section)),
                message,
            }
        })
        .collect();
    Ok(state.pages.render(
        status,
        "intake_send.html",
        frame,
        context! {
            title => "Check and send your answers",
            sections,
            action => format!("/intake/{}/send", shown.id),
            problems => list,
        },
    ))
}

#[handler]
pub async fn send_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<Uuid>,
) -> poem::Result<Response> {
    let shown = intake::get(&state, &caller, id).await.map_err(page_error)?;
    if shown.status != Status::Draft {
        return Ok(Redirect::see_other(format!("/intake/{id}/result")).into_response());
    }
    render_send(
        &state,
        Frame::of(csrf, &caller),
        StatusCode::OK,
        &shown,
        &[],
    )
}

#[handler]
pub async fn send(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<Uuid>,
) -> poem::Result<Response> {
    match intake::submit(&state, &caller, id).await {
        Ok(_) => Ok(Redirect::see_other(format!("/intake/{id}/result")).into_response()),
        Err(ApiError::ValidationWithSafetyAdvice { advice, .. }) => Ok(emergency(
            &state,
            Frame::of(csrf, &caller),
            refused_advice(advice),
        )),
        Err(ApiError::Validation { errors, .. }) => {
            let shown = intake::get(&state, &caller, id).await.map_err(page_error)?;
            let problems: Vec<(String, String)> = errors
                .into_iter()
                .map(|error| (error.field, error.message))
                .collect();
            render_send(
                &state,
                Frame::of(csrf, &caller),
                StatusCode::UNPROCESSABLE_ENTITY,
                &shown,
                &problems,
            )
        }
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn result_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<Uuid>,
) -> poem::Result<Response> {
    let shown = intake::get(&state, &caller, id).await.map_err(page_error)?;
    let (Some(disposition), Some(advice)) = (shown.disposition, shown.advice.as_ref()) else {
        return Ok(Redirect::see_other(format!("/intake/{id}/send")).into_response());
    };
    if disposition == Disposition::Emergency {
        return Ok(emergency(&state, Frame::of(csrf, &caller), advice.clone()));
    }
    Ok(state.pages.render(
        StatusCode::OK,
        "intake_result.html",
        Frame::of(csrf, &caller),
        context! {
            title => advice.headline.clone(),
            advice => advice_value(advice),
            urgent => disposition == Disposition::Urgent,
            clinic_phone => state.config.clinic_phone.clone(),
            thanks => "Thank you for your answers. Your practitioner will read them before your visit.",
            // Offered only where booking is open; the booking itself is still decided by the gate.
            can_book => !disposition.blocks_online_booking(),
        },
    ))
}
