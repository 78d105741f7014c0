//! The follow-up page behind the emailed link (`/follow-ups/{token}`): no login, the link is the
//! credential. The whole questionnaire on one page, its result and advice, the emergency page
//! the moment an emergency answer is sent, and a page that says what to do when the link was
//! used or has expired.

use minijinja::{Value, context};
use poem::{
    Response, handler,
    http::StatusCode,
    session::Session,
    web::{CsrfToken, Data, Path},
};

use super::{
    form::FormData,
    intake::{advice_value, emergency, refused_advice},
    questionnaire_form::{answers_from_form, view},
    render::{Frame, Notice},
    session,
};
use crate::{
    app::AppState,
    audit::AuditContext,
    error::ApiError,
    service::follow_ups::{self, FollowUpForm},
    triage::{Answers, Disposition},
};

fn frame<'a>(csrf: &'a CsrfToken, session: &Session) -> Frame<'a> {
    Frame {
        csrf: Some(csrf),
        principal: session::signed_in(session),
    }
}

/// The page for a link that does not open a follow-up (used, expired, or never sent).
fn spent(state: &AppState, frame: Frame) -> Response {
    let call = match &state.config.clinic_phone {
        Some(phone) => {
            format!("If you want to tell us how you are, please call the clinic on {phone}.")
        }
        None => "If you want to tell us how you are, please call the clinic.".into(),
    };
    state.pages.notice(
        StatusCode::NOT_FOUND,
        frame,
        Notice {
            title: "This link has expired or was used already".into(),
            paragraphs: vec![
                "Each follow-up link works once, for a limited time. If you sent your answers \
                 already, thank you: your practitioner has them."
                    .into(),
                call,
                "If you feel very unwell, do not wait: call your local emergency number.".into(),
            ],
            link: None,
        },
    )
}

fn render_form(
    state: &AppState,
    frame: Frame,
    status: StatusCode,
    token: &str,
    form: &FollowUpForm,
    answers: &Answers,
    errors: &[(String, String)],
) -> Response {
    let questionnaire = state.triage.questionnaire(&form.questionnaire.id);
    let shown = questionnaire
        .map(|questionnaire| questionnaire.shown_items(answers, state.local_today()))
        .unwrap_or_default();
    let sections: Vec<Value> = form
        .questionnaire
        .item
        .iter()
        .filter_map(|section| view(section, answers, &shown, errors))
        .map(|section| Value::from(minijinja::value::Serde(section)))
        .collect();
    let summary: Vec<Value> = errors
        .iter()
        .map(|(field, message)| context! { field, message })
        .collect();
    state.pages.render(
        status,
        "follow_up.html",
        frame,
        context! {
            title => form.questionnaire.title.clone(),
            given_name => form.given_name.clone(),
            sections,
            action => format!("/follow-ups/{token}"),
            expires_on => form.expires_at.format("%-d %B %Y").to_string(),
            errors => (!summary.is_empty()).then(|| context! { list => summary }),
        },
    )
}

#[handler]
pub async fn page(
    req: &poem::Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    Path(token): Path<String>,
) -> poem::Result<Response> {
    let context = AuditContext::from_request(req, None);
    match follow_ups::form(&state, context, &token).await {
        Ok(form) => Ok(render_form(
            &state,
            frame(csrf, session),
            StatusCode::OK,
            &token,
            &form,
            &Answers::new(),
            &[],
        )),
        Err(ApiError::NotFound) => Ok(spent(&state, frame(csrf, session))),
        Err(err) => Err(super::account::page_error(err)),
    }
}

#[handler]
pub async fn submit(
    req: &poem::Request,
    state: Data<&AppState>,
    csrf: &CsrfToken,
    session: &Session,
    Path(token): Path<String>,
    posted: FormData,
) -> poem::Result<Response> {
    let context = AuditContext::from_request(req, None);
    let form = match follow_ups::form(&state, context.clone(), &token).await {
        Ok(form) => form,
        Err(ApiError::NotFound) => return Ok(spent(&state, frame(csrf, session))),
        Err(err) => return Err(super::account::page_error(err)),
    };
    let mut answers = Answers::new();
    let mut unreadable = Vec::new();
    for section in &form.questionnaire.item {
        let (read, problems) = answers_from_form(section, &posted);
        answers.extend(read);
        unreadable.extend(problems);
    }
    let refused = |errors: Vec<(String, String)>, answers: &Answers| {
        render_form(
            &state,
            frame(csrf, session),
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            &form,
            answers,
            &errors,
        )
    };
    if !unreadable.is_empty() {
        return Ok(refused(unreadable, &answers));
    }
    match follow_ups::submit(&state, context, &token, answers.clone()).await {
        Ok(outcome) if outcome.disposition == Disposition::Emergency => {
            Ok(emergency(&state, frame(csrf, session), outcome.advice))
        }
        Ok(outcome) => Ok(state.pages.render(
            StatusCode::OK,
            "intake_result.html",
            frame(csrf, session),
            context! {
                title => outcome.advice.headline.clone(),
                advice => advice_value(&outcome.advice),
                urgent => outcome.disposition == Disposition::Urgent,
                clinic_phone => state.config.clinic_phone.clone(),
                thanks => "Thank you. Your practitioner will see your answers.",
            },
        )),
        Err(ApiError::ValidationWithSafetyAdvice { advice, .. }) => Ok(emergency(
            &state,
            frame(csrf, session),
            refused_advice(advice),
        )),
        Err(ApiError::Validation { errors, .. }) => Ok(refused(
            errors
                .into_iter()
                .map(|error| (error.field, error.message))
                .collect(),
            &answers,
        )),
        Err(ApiError::NotFound) => Ok(spent(&state, frame(csrf, session))),
        Err(err) => Err(super::account::page_error(err)),
    }
}
