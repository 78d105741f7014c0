//! The front desk's patients: find one by name or email, add one (for example on the phone),
//! see their details and appointments, invite them to log in, and book for them with the same
//! availability patients see (the booking pages, for a named patient). The rules are the
//! service's: `patients::{search, create, get, invite}`, `desk::patient_for_booking`, booking.

use chrono::{Datelike, NaiveDate};
use minijinja::{Value, context};
use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{CsrfToken, Data, Path, Query, Redirect},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    account::{SignedIn, page_error},
    booking::{BookQuery, Booker, booking_steps, submit_booking},
    form::{FormData, page_id},
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    error::ApiError,
    scheduling::AppointmentStatus,
    service::{
        Caller, appointments, desk,
        patients::{self, Edit, NewRecord, Patient, PatientEdit, Search},
    },
};

/// Patients a search page shows.
const PAGE_SIZE: u32 = 25;
/// Patients the emails could not reach, listed above the search.
const UNREACHABLE_SHOWN: u32 = 20;

fn full_name(patient: &Patient) -> String {
    format!("{} {}", patient.given_name, patient.family_name)
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    page: Option<u32>,
}

#[handler]
pub async fn search_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<SearchQuery>,
) -> poem::Result<Response> {
    render_search(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        &query,
        &FormData::default(),
        &FormErrors::default(),
    )
    .await
}

async fn render_search(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    query: &SearchQuery,
    typed: &FormData,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let text = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty());
    let page = query.page.unwrap_or(0);
    let found = patients::search(
        state,
        caller,
        Search {
            text: text.map(str::to_owned),
            limit: Some(PAGE_SIZE),
            offset: Some(page.saturating_mul(PAGE_SIZE)),
        },
    )
    .await
    .map_err(page_error)?;
    let rows: Vec<Value> = found
        .patients
        .iter()
        .map(|patient| {
            context! {
                href => format!("/desk/patients/{}", patient.id),
                name => full_name(patient),
                born => patient.date_of_birth.format("%-d %B %Y").to_string(),
                email => patient.email.clone(),
                phone => patient.phone.clone(),
            }
        })
        .collect();
    // The patients the clinic's emails could not reach, to call and correct the address.
    let unreachable: Vec<Value> = patients::unreachable(state, caller, Some(UNREACHABLE_SHOWN))
        .await
        .map_err(page_error)?
        .iter()
        .map(|entry| {
            context! {
                href => format!("/desk/patients/{}", entry.patient_id),
                name => format!("{} {}", entry.given_name, entry.family_name),
                address => entry.address.clone(),
                what => super::admin::kind_label(&entry.kind),
                when => state.local_time(entry.failed_at),
            }
        })
        .collect();
    let more = u64::from(page + 1) * u64::from(PAGE_SIZE) < found.total;
    let value = |name: &str| typed.text(name).unwrap_or_default();
    Ok(state.pages.render(
        status,
        "desk_patients.html",
        Frame::of(csrf, caller),
        context! {
            title => "Patients",
            q => text.unwrap_or_default(),
            searched => text.is_some(),
            total => found.total,
            rows,
            unreachable,
            next => more.then(|| format!("/desk/patients?q={}&page={}", text.unwrap_or_default(), page + 1)),
            given_name => value("given_name"),
            family_name => value("family_name"),
            email => value("email"),
            phone => value("phone"),
            birth => context! {
                day => value("birth_day"),
                month => value("birth_month"),
                year => value("birth_year"),
            },
            errors => Value::from(minijinja::value::Serde(errors)),
        },
    ))
}

/// The date of birth typed as day, month and year; `None` unless it is a real date.
fn birth_date(form: &FormData) -> Option<NaiveDate> {
    let part = |name: &str| form.text(name)?.parse::<u32>().ok();
    let year = i32::try_from(part("birth_year")?).ok()?;
    NaiveDate::from_ymd_opt(year, part("birth_month")?, part("birth_day")?)
}

#[handler]
pub async fn create(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let date_of_birth = birth_date(&form);
    let optional = |name: &str| form.text(name).filter(|text| !text.trim().is_empty());
    let record = NewRecord {
        given_name: form.text("given_name").unwrap_or_default(),
        family_name: form.text("family_name").unwrap_or_default(),
        // A placeholder that passes, so the other fields are still checked in one go.
        date_of_birth: date_of_birth.unwrap_or_else(|| state.local_today()),
        email: optional("email"),
        phone: optional("phone"),
    };
    let refused = |errors: FormErrors, status| {
        let state = &state;
        let caller = &caller;
        let form = &form;
        async move {
            render_search(
                state,
                csrf,
                caller,
                status,
                &SearchQuery::default(),
                form,
                &errors,
            )
            .await
        }
    };
    if date_of_birth.is_none() {
        let mut errors = FormErrors::default();
        for problem in patients::record_problems(&record, state.local_today()) {
            errors.field(&problem.field, problem.message);
        }
        errors.field(
            "date_of_birth",
            "Enter the date of birth as day, month and year, for example 27 3 1980.",
        );
        // The summary lists problems in the order of the form.
        const ORDER: [&str; 5] = [
            "given_name",
            "family_name",
            "date_of_birth",
            "email",
            "phone",
        ];
        errors
            .list
            .sort_by_key(|problem| ORDER.iter().position(|field| *field == problem.field));
        return refused(errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match patients::create(&state, &caller, record).await {
        Ok(created) => Ok(
            Redirect::see_other(format!("/desk/patients/{}?added=1", created.id)).into_response(),
        ),
        Err(err @ ApiError::Validation { .. }) => {
            refused(FormErrors::from_api(&err, &[]), err.status()).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PatientQuery {
    added: Option<String>,
    invited: Option<String>,
    updated: Option<String>,
}

#[handler]
pub async fn patient_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PatientQuery>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let done = if query.added.is_some() {
        Some("The patient is added.")
    } else if query.invited.is_some() {
        Some("The invitation is on its way.")
    } else if query.updated.is_some() {
        Some("The details are saved.")
    } else {
        None
    };
    render_patient(
        &state,
        csrf,
        &caller,
        id,
        StatusCode::OK,
        done,
        FormErrors::default(),
        None,
    )
    .await
}

/// The patient's page; `typed` is a refused change of details, shown again to correct.
#[allow(clippy::too_many_arguments)]
async fn render_patient(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    id: Uuid,
    status: StatusCode,
    done: Option<&str>,
    errors: FormErrors,
    typed: Option<&FormData>,
) -> poem::Result<Response> {
    let patient = desk::patient(state, caller, id).await.map_err(page_error)?;
    let mut listed = appointments::of_patient(state, caller, id)
        .await
        .map_err(page_error)?;
    let now = state.clock.now();
    listed.retain(|shown| shown.end >= now && shown.status != AppointmentStatus::Cancelled);
    listed.sort_by_key(|shown| shown.start);
    let upcoming: Vec<Value> = listed
        .iter()
        .map(|shown| {
            let when = chrono::DateTime::parse_from_rfc3339(&shown.local_start)
                .map(|local| {
                    format!(
                        "{} {}",
                        local.format("%a %-d %b %Y, %H:%M"),
                        shown.abbreviation
                    )
                })
                .unwrap_or_default();
            let date = chrono::DateTime::parse_from_rfc3339(&shown.local_start)
                .map(|local| local.date_naive().to_string())
                .unwrap_or_default();
            context! { when, day_href => format!("/desk?date={date}&location={}", shown.location_id) }
        })
        .collect();
    let birth = patient.date_of_birth;
    let value = |name: &str, stored: Option<String>| match typed {
        Some(form) => form.text(name).unwrap_or_default(),
        None => stored.unwrap_or_default(),
    };
    let edit = context! {
        given_name => value("given_name", Some(patient.given_name.clone())),
        family_name => value("family_name", Some(patient.family_name.clone())),
        email => value("email", patient.email.clone()),
        phone => value("phone", patient.phone.clone()),
        birth => context! {
            day => value("birth_day", Some(birth.day().to_string())),
            month => value("birth_month", Some(birth.month().to_string())),
            year => value("birth_year", Some(birth.year().to_string())),
        },
    };
    Ok(state.pages.render(
        status,
        "desk_patient.html",
        Frame::of(csrf, caller),
        context! {
            title => full_name(&patient),
            id => patient.id.to_string(),
            born => patient.date_of_birth.format("%-d %B %Y").to_string(),
            email => patient.email.clone(),
            phone => patient.phone.clone(),
            has_login => patient.has_login,
            can_invite => !patient.has_login && patient.email.is_some(),
            upcoming,
            done,
            edit,
            editing => typed.is_some(),
            errors => Value::from(minijinja::value::Serde(&errors)),
        },
    ))
}

#[handler]
pub async fn update(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let date_of_birth = birth_date(&form);
    // A cleared email address or phone number is removed; names are required.
    let optional = |name: &str| match form.text(name) {
        Some(text) if !text.trim().is_empty() => Edit::Set(text),
        _ => Edit::Remove,
    };
    let edit = PatientEdit {
        given_name: Edit::Set(form.text("given_name").unwrap_or_default()),
        family_name: Edit::Set(form.text("family_name").unwrap_or_default()),
        date_of_birth: date_of_birth.map_or(Edit::Keep, Edit::Set),
        email: optional("email"),
        phone: optional("phone"),
    };
    let refused = |errors: FormErrors, status| {
        let (state, caller, form) = (&state, &caller, &form);
        async move { render_patient(state, csrf, caller, id, status, None, errors, Some(form)).await }
    };
    if date_of_birth.is_none() {
        let mut errors = FormErrors::default();
        if let Err(problems) = patients::changes(edit, state.local_today()) {
            for problem in problems {
                errors.field(&problem.field, problem.message);
            }
        }
        errors.field(
            "date_of_birth",
            "Enter the date of birth as day, month and year, for example 27 3 1980.",
        );
        const ORDER: [&str; 5] = [
            "given_name",
            "family_name",
            "date_of_birth",
            "email",
            "phone",
        ];
        errors
            .list
            .sort_by_key(|problem| ORDER.iter().position(|field| *field == problem.field));
        return refused(errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match patients::update(&state, &caller, id, edit).await {
        Ok(_) => Ok(Redirect::see_other(format!("/desk/patients/{id}?updated=1")).into_response()),
        Err(err @ (ApiError::Validation { .. } | ApiError::Conflict { .. })) => {
            refused(FormErrors::from_api(&err, &[]), err.status()).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn invite(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    match patients::invite(&state, &caller, id).await {
        Ok(_) => Ok(Redirect::see_other(format!("/desk/patients/{id}?invited=1")).into_response()),
        Err(err @ ApiError::Conflict { .. }) => {
            let message = match &err {
                ApiError::Conflict { detail, .. } => detail.clone(),
                _ => String::new(),
            };
            let errors = FormErrors {
                general: Some(message),
                ..FormErrors::default()
            };
            render_patient(&state, csrf, &caller, id, err.status(), None, errors, None).await
        }
        Err(err) => Err(page_error(err)),
    }
}

/// The booking steps for the patient named in the address (`?patient=`).
#[handler]
pub async fn book_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<BookQuery>,
) -> poem::Result<Response> {
    let Some(booker) = booker_for(&state, &caller, query.patient.as_deref()).await? else {
        return Ok(Redirect::see_other("/desk/patients").into_response());
    };
    booking_steps(&state, csrf, &caller, &booker, query).await
}

#[handler]
pub async fn book(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let Some(booker) = booker_for(&state, &caller, form.raw("patient")).await? else {
        return Ok(Redirect::see_other("/desk/patients").into_response());
    };
    submit_booking(&state, csrf, &caller, &booker, &form).await
}

/// The desk's booker for the patient `id` names; `None` when it names none.
async fn booker_for(
    state: &AppState,
    caller: &Caller,
    id: Option<&str>,
) -> poem::Result<Option<Booker>> {
    let Some(id) = id.and_then(|id| Uuid::parse_str(id.trim()).ok()) else {
        return Ok(None);
    };
    let patient = desk::patient(state, caller, id).await.map_err(page_error)?;
    Ok(Some(Booker::desk(patient.id, full_name(&patient))))
}
