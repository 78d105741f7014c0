//! The clinic settings pages (issue 16): locations, appointment types and practitioners (list,
//! add, edit, deactivate and reactivate), the booking policies, and one practitioner's weekly
//! hours and time off. Who may use them is the service's decision (`service::clinic`,
//! `service::practitioners`, the same use cases as the JSON API): the front desk and admins;
//! other roles get the refusal page, visitors who are not signed in go to log in.

use chrono::{NaiveDate, NaiveTime, Weekday};
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
    form::{FormData, page_id},
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    error::{ApiError, ClashingAppointment},
    scheduling::{
        ClinicPoliciesInput, Discipline, LocationHoursInput, StoredInterval, WorkingIntervalInput,
        Zone,
    },
    service::{
        Caller,
        clinic::{
            self, AppointmentTypeUpdate, LocationUpdate, NewAppointmentType, NewLocation, Setup,
        },
        practitioners::{self, NewPractitioner, NewTimeOff, PractitionerUpdate, Schedule},
    },
};

/// The week as the hours form lists it: the weekday, its field name and its label.
const WEEK: [(Weekday, &str, &str); 7] = [
    (Weekday::Mon, "mon", "Monday"),
    (Weekday::Tue, "tue", "Tuesday"),
    (Weekday::Wed, "wed", "Wednesday"),
    (Weekday::Thu, "thu", "Thursday"),
    (Weekday::Fri, "fri", "Friday"),
    (Weekday::Sat, "sat", "Saturday"),
    (Weekday::Sun, "sun", "Sunday"),
];

const DISCIPLINES: [(Discipline, &str); 2] = [
    (Discipline::Chiropractic, "Chiropractic"),
    (Discipline::Physiotherapy, "Physiotherapy"),
];

/// The policy fields: the form's name (the use case's too), its label and its hint.
const POLICIES: [(&str, &str, &str); 6] = [
    (
        "slot_grid_minutes",
        "Slot grid (minutes)",
        "Appointments start on this grid: 5, 10, 15, 20, 30 or 60.",
    ),
    (
        "min_notice_minutes",
        "Minimum notice for online booking (minutes)",
        "How long before a start a patient can still book it online.",
    ),
    (
        "horizon_days",
        "Booking horizon (days)",
        "How far ahead anyone can book.",
    ),
    (
        "cancellation_window_minutes",
        "Cancellation notice (minutes)",
        "Inside this long before the start, patients cannot move a visit and a cancellation is late.",
    ),
    (
        "reminder_lead_minutes",
        "Reminder sent before the visit (minutes)",
        "How long before the start the reminder email goes out.",
    ),
    (
        "follow_up_delay_days",
        "Follow-up questionnaire after the visit (days)",
        "How long after a completed visit the outcome questionnaire is sent.",
    ),
];

fn shown(errors: &FormErrors) -> Value {
    Value::from(minijinja::value::Serde(errors))
}

fn see_other(to: String) -> poem::Result<Response> {
    Ok(Redirect::see_other(to).into_response())
}

/// Whether a use case refused the form's values (shown on the form) rather than failed.
fn refused_form(err: &ApiError) -> bool {
    matches!(err, ApiError::Validation { .. } | ApiError::Conflict { .. })
}

/// A use case's refusal as the form's errors: its field names mapped to the form's
/// (`fields`: use case field, form field, label), each terse message led by its label.
fn refusal(err: &ApiError, fields: &[(&str, &str, &str)]) -> FormErrors {
    let mut errors = FormErrors::from_api(err, &[]);
    for problem in &mut errors.list {
        if let Some((_, to, label)) = fields.iter().find(|(from, ..)| *from == problem.field) {
            problem.field = (*to).to_owned();
            problem.message = sentence(label, &problem.message);
        }
    }
    errors
}

/// "Name must not be empty." from the label and the scheduling module's terse words; a message
/// that is a sentence already stays as it is.
fn sentence(label: &str, message: &str) -> String {
    if message.starts_with(char::is_uppercase) {
        return message.to_owned();
    }
    let stop = if message.ends_with('.') { "" } else { "." };
    format!("{label} {message}{stop}")
}

fn discipline_label(discipline: Discipline) -> &'static str {
    DISCIPLINES
        .iter()
        .find(|(known, _)| *known == discipline)
        .map_or("", |(_, label)| label)
}

fn discipline_named(value: Option<&str>) -> Option<Discipline> {
    DISCIPLINES
        .iter()
        .map(|(discipline, _)| *discipline)
        .find(|discipline| Some(discipline.as_str()) == value)
}

/// What a settings page was asked to say after a change.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    /// On a list page: the item whose edit form to show.
    edit: Option<String>,
}

/// The sentence a finished change leaves on the page it returns to.
fn done_message(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "location-added" => "The location is added.",
        "location-saved" => "The location is saved.",
        "location-deactivated" => {
            "The location is deactivated: nothing there is offered or booked any more. Its \
             appointments are kept and still show."
        }
        "location-reactivated" => "The location is active again.",
        "type-added" => "The appointment type is added.",
        "type-saved" => "The appointment type is saved.",
        "type-deactivated" => {
            "The appointment type is deactivated: it is not offered or booked any more. Its \
             appointments are kept and still show."
        }
        "type-reactivated" => "The appointment type is offered again.",
        "practitioner-added" => "The practitioner can now be booked once their hours are set.",
        "practitioner-saved" => "Where they work is saved.",
        "practitioner-deactivated" => {
            "The practitioner is deactivated: nothing of theirs is offered any more. Their \
             appointments are kept and still show, for the front desk to move."
        }
        "practitioner-reactivated" => "The practitioner takes bookings again.",
        "policies-saved" => "The booking policies are saved.",
        "hours-saved" => "The weekly hours are saved.",
        "time-off-added" => "The time off is added.",
        "time-off-kept" => "The time off is added; the appointments in it are kept.",
        "time-off-removed" => "The time off is removed.",
        _ => return None,
    })
}

/// `/setup`: what there is to set up.
#[handler]
pub async fn overview(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
) -> poem::Result<Response> {
    let setup = clinic::setup(&state, &caller).await.map_err(page_error)?;
    let active = |count: usize, total: usize| format!("{count} active of {total}");
    Ok(state.pages.render(
        StatusCode::OK,
        "setup.html",
        Frame::of(csrf, &caller),
        context! {
            title => "Clinic settings",
            locations => active(setup.locations.iter().filter(|l| l.active).count(), setup.locations.len()),
            types => active(setup.appointment_types.iter().filter(|t| t.active).count(), setup.appointment_types.len()),
            practitioners => active(setup.practitioners.iter().filter(|p| p.active).count(), setup.practitioners.len()),
        },
    ))
}

// ---- Locations ----

const LOCATION_FIELDS: [(&str, &str, &str); 3] = [
    ("name", "name", "Name"),
    ("address", "address", "Address"),
    ("time_zone", "time_zone", "Time zone"),
];

#[handler]
pub async fn locations_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<DoneQuery>,
) -> poem::Result<Response> {
    let editing = query
        .edit
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
    render_locations(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        done_message(query.done.as_deref()),
        editing,
        None,
        &FormErrors::default(),
    )
    .await
}

/// The locations and the add form, or the edit form of `editing`; `typed` is a refused form.
#[allow(clippy::too_many_arguments)]
async fn render_locations(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    done: Option<&str>,
    editing: Option<Uuid>,
    typed: Option<&FormData>,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let setup = clinic::setup(state, caller).await.map_err(page_error)?;
    let edited = editing.and_then(|id| setup.locations.iter().find(|l| l.id == id));
    let value = |name: &str, stored: Option<&str>| match typed {
        Some(form) => form.raw(name).unwrap_or_default().to_owned(),
        None => stored.unwrap_or_default().to_owned(),
    };
    let form = context! {
        name => value("name", edited.map(|l| l.name.as_str())),
        address => value("address", edited.map(|l| l.address.as_str())),
        time_zone => value("time_zone", Some(edited.map_or(state.config.time_zone.name(), |l| l.time_zone.as_str()))),
    };
    let rows: Vec<Value> = setup
        .locations
        .iter()
        .map(|location| {
            context! {
                id => location.id.to_string(),
                name => location.name.clone(),
                address => location.address.clone(),
                time_zone => location.time_zone.clone(),
                active => location.active,
            }
        })
        .collect();
    Ok(state.pages.render(
        status,
        "setup_locations.html",
        Frame::of(csrf, caller),
        context! {
            title => if edited.is_some() { "Edit a location" } else { "Locations" },
            done,
            rows,
            editing => edited.map(|l| context! { id => l.id.to_string(), name => l.name.clone() }),
            form,
            errors => shown(errors),
        },
    ))
}

#[handler]
pub async fn create_location(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let command = NewLocation {
        name: form.raw("name").unwrap_or_default().to_owned(),
        address: form.raw("address").unwrap_or_default().to_owned(),
        time_zone: form.raw("time_zone").unwrap_or_default().to_owned(),
    };
    match clinic::create_location(&state, &caller, command).await {
        Ok(_) => see_other("/setup/locations?done=location-added".into()),
        Err(err) if refused_form(&err) => {
            let errors = refusal(&err, &LOCATION_FIELDS);
            render_locations(
                &state,
                csrf,
                &caller,
                err.status(),
                None,
                None,
                Some(&form),
                &errors,
            )
            .await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn update_location(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let command = LocationUpdate {
        name: Some(form.raw("name").unwrap_or_default().to_owned()),
        address: Some(form.raw("address").unwrap_or_default().to_owned()),
        active: None,
    };
    match clinic::update_location(&state, &caller, id, command).await {
        Ok(_) => see_other("/setup/locations?done=location-saved".into()),
        Err(err) if refused_form(&err) => {
            let errors = refusal(&err, &LOCATION_FIELDS);
            render_locations(
                &state,
                csrf,
                &caller,
                err.status(),
                None,
                Some(id),
                Some(&form),
                &errors,
            )
            .await
        }
        Err(err) => Err(page_error(err)),
    }
}

/// Whether a deactivate/reactivate form asks for active (`active=true`) or not.
fn wants_active(form: &FormData) -> bool {
    form.text("active").as_deref() == Some("true")
}

#[handler]
pub async fn location_active(
    state: Data<&AppState>,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let active = wants_active(&form);
    let command = LocationUpdate {
        active: Some(active),
        ..LocationUpdate::default()
    };
    clinic::update_location(&state, &caller, id, command)
        .await
        .map_err(page_error)?;
    let done = if active { "reactivated" } else { "deactivated" };
    see_other(format!("/setup/locations?done=location-{done}"))
}

// ---- Appointment types ----

const TYPE_FIELDS: [(&str, &str, &str); 4] = [
    ("name", "name", "Name"),
    ("duration_minutes", "duration_minutes", "Length"),
    (
        "buffer_after_minutes",
        "buffer_after_minutes",
        "Time kept free after",
    ),
    ("discipline", "discipline", "Discipline"),
];

#[handler]
pub async fn types_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<DoneQuery>,
) -> poem::Result<Response> {
    let editing = query
        .edit
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
    render_types(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        done_message(query.done.as_deref()),
        editing,
        None,
        &FormErrors::default(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render_types(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    done: Option<&str>,
    editing: Option<Uuid>,
    typed: Option<&FormData>,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let setup = clinic::setup(state, caller).await.map_err(page_error)?;
    let edited = editing.and_then(|id| setup.appointment_types.iter().find(|t| t.id == id));
    let value = |name: &str, stored: Option<String>| match typed {
        Some(form) => form.raw(name).unwrap_or_default().to_owned(),
        None => stored.unwrap_or_default(),
    };
    let discipline = value(
        "discipline",
        edited.map(|t| t.discipline.as_str().to_owned()),
    );
    let form = context! {
        name => value("name", edited.map(|t| t.name.clone())),
        duration_minutes => value("duration_minutes", edited.map(|t| t.duration_minutes.to_string())),
        buffer_after_minutes => value("buffer_after_minutes", Some(edited.map_or_else(|| "0".to_owned(), |t| t.buffer_after_minutes.to_string()))),
        new_patient => match typed {
            Some(form) => form.text("new_patient").is_some(),
            None => edited.is_some_and(|t| t.new_patient),
        },
        disciplines => DISCIPLINES.iter().map(|(d, label)| context! {
            value => d.as_str(), label => *label, checked => discipline == d.as_str(),
        }).collect::<Vec<_>>(),
    };
    let rows: Vec<Value> = setup
        .appointment_types
        .iter()
        .map(|kind| {
            context! {
                id => kind.id.to_string(),
                name => kind.name.clone(),
                discipline => discipline_label(kind.discipline),
                duration => kind.duration_minutes,
                buffer => kind.buffer_after_minutes,
                new_patient => kind.new_patient,
                active => kind.active,
            }
        })
        .collect();
    Ok(state.pages.render(
        status,
        "setup_types.html",
        Frame::of(csrf, caller),
        context! {
            title => if edited.is_some() { "Edit an appointment type" } else { "Appointment types" },
            done,
            rows,
            editing => edited.map(|t| context! {
                id => t.id.to_string(),
                name => t.name.clone(),
                discipline => discipline_label(t.discipline),
            }),
            grid => setup.policies.slot_grid_minutes,
            form,
            errors => shown(errors),
        },
    ))
}

/// A whole number of minutes typed in `name`: `Ok(None)` when blank, `Err` when not a number.
fn minutes_in(form: &FormData, name: &str) -> Result<Option<i32>, ()> {
    match form.text(name) {
        None => Ok(None),
        Some(text) => text.parse::<i32>().map(Some).map_err(|_| ()),
    }
}

/// The numbers of the type form, or its problems.
fn type_numbers(form: &FormData, errors: &mut FormErrors) -> (Option<i32>, Option<i32>) {
    let mut number = |name: &str, label: &str| match minutes_in(form, name) {
        Ok(Some(minutes)) => Some(minutes),
        Ok(None) => {
            errors.field(name, format!("Enter the {label} in minutes."));
            None
        }
        Err(()) => {
            errors.field(
                name,
                format!("Enter the {label} as a whole number of minutes, for example 30."),
            );
            None
        }
    };
    let duration = number("duration_minutes", "length");
    let buffer = number("buffer_after_minutes", "time kept free after it");
    (duration, buffer)
}

#[handler]
pub async fn create_type(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let mut errors = FormErrors::default();
    let discipline = discipline_named(form.text("discipline").as_deref());
    if discipline.is_none() {
        errors.field("discipline", "Choose the discipline.");
    }
    let (duration, buffer) = type_numbers(&form, &mut errors);
    let refused = |errors: FormErrors| {
        let (state, caller, form) = (&state, &caller, &form);
        async move {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_types(state, csrf, caller, status, None, None, Some(form), &errors).await
        }
    };
    let (Some(discipline), Some(duration_minutes), Some(buffer_after_minutes), true) =
        (discipline, duration, buffer, errors.is_empty())
    else {
        return refused(errors).await;
    };
    let command = NewAppointmentType {
        name: form.raw("name").unwrap_or_default().to_owned(),
        discipline,
        duration_minutes,
        buffer_after_minutes,
        new_patient: form.text("new_patient").is_some(),
    };
    match clinic::create_appointment_type(&state, &caller, command).await {
        Ok(_) => see_other("/setup/appointment-types?done=type-added".into()),
        Err(err) if refused_form(&err) => refused(refusal(&err, &TYPE_FIELDS)).await,
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn update_type(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let mut errors = FormErrors::default();
    let (duration, buffer) = type_numbers(&form, &mut errors);
    let refused = |errors: FormErrors| {
        let (state, caller, form) = (&state, &caller, &form);
        async move {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_types(
                state,
                csrf,
                caller,
                status,
                None,
                Some(id),
                Some(form),
                &errors,
            )
            .await
        }
    };
    let (Some(duration), Some(buffer), true) = (duration, buffer, errors.is_empty()) else {
        return refused(errors).await;
    };
    let command = AppointmentTypeUpdate {
        name: Some(form.raw("name").unwrap_or_default().to_owned()),
        duration_minutes: Some(duration),
        buffer_after_minutes: Some(buffer),
        new_patient: Some(form.text("new_patient").is_some()),
        active: None,
    };
    match clinic::update_appointment_type(&state, &caller, id, command).await {
        Ok(_) => see_other("/setup/appointment-types?done=type-saved".into()),
        Err(err) if refused_form(&err) => refused(refusal(&err, &TYPE_FIELDS)).await,
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn type_active(
    state: Data<&AppState>,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let active = wants_active(&form);
    let command = AppointmentTypeUpdate {
        active: Some(active),
        ..AppointmentTypeUpdate::default()
    };
    clinic::update_appointment_type(&state, &caller, id, command)
        .await
        .map_err(page_error)?;
    let done = if active { "reactivated" } else { "deactivated" };
    see_other(format!("/setup/appointment-types?done=type-{done}"))
}

// ---- Practitioners ----

#[handler]
pub async fn practitioners_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<DoneQuery>,
) -> poem::Result<Response> {
    render_practitioners(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        done_message(query.done.as_deref()),
        None,
        &FormErrors::default(),
    )
    .await
}

/// The names of the locations `ids` names, in the clinic's order.
fn location_names(setup_locations: &[clinic::Location], ids: &[Uuid]) -> String {
    setup_locations
        .iter()
        .filter(|location| ids.contains(&location.id))
        .map(|location| location.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The location checkboxes: every active location, and an inactive one only where ticked.
fn location_choices(locations: &[clinic::Location], ticked: &[String]) -> Vec<Value> {
    locations
        .iter()
        .filter(|location| location.active || ticked.contains(&location.id.to_string()))
        .map(|location| {
            let id = location.id.to_string();
            context! {
                checked => ticked.contains(&id),
                value => id,
                label => location.name.clone(),
                active => location.active,
            }
        })
        .collect()
}

async fn render_practitioners(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    done: Option<&str>,
    typed: Option<&FormData>,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let Setup {
        locations,
        practitioners: listed,
        ..
    } = clinic::setup(state, caller).await.map_err(page_error)?;
    let candidates = practitioners::candidates(state, caller)
        .await
        .map_err(page_error)?;
    let rows: Vec<Value> = listed
        .iter()
        .map(|shown| {
            context! {
                id => shown.id.to_string(),
                name => shown.display_name.clone(),
                discipline => discipline_label(shown.discipline),
                locations => location_names(&locations, &shown.location_ids),
                active => shown.active,
            }
        })
        .collect();
    let typed_value = |name: &str| typed.and_then(|form| form.text(name)).unwrap_or_default();
    let user = typed_value("user_id");
    let discipline = typed_value("discipline");
    let ticked: Vec<String> = typed
        .map(|form| {
            form.all("location_ids")
                .iter()
                .map(|id| (*id).to_owned())
                .collect()
        })
        .unwrap_or_default();
    let form = context! {
        candidates => candidates.iter().map(|candidate| context! {
            value => candidate.user_id.to_string(),
            label => format!("{} ({})", candidate.display_name, candidate.email),
            selected => user == candidate.user_id.to_string(),
        }).collect::<Vec<_>>(),
        disciplines => DISCIPLINES.iter().map(|(d, label)| context! {
            value => d.as_str(), label => *label, checked => discipline == d.as_str(),
        }).collect::<Vec<_>>(),
        locations => location_choices(&locations, &ticked),
    };
    Ok(state.pages.render(
        status,
        "setup_practitioners.html",
        Frame::of(csrf, caller),
        context! {
            title => "Practitioners",
            done,
            rows,
            form,
            errors => shown(errors),
        },
    ))
}

/// The location ids ticked in `form`; one that is no id is reported against the field.
fn ticked_locations(form: &FormData, errors: &mut FormErrors) -> Vec<Uuid> {
    let ids: Vec<Uuid> = form
        .all("location_ids")
        .iter()
        .filter_map(|id| Uuid::parse_str(id.trim()).ok())
        .collect();
    if ids.is_empty() {
        errors.field("location_ids", "Tick at least one location they work at.");
    }
    ids
}

/// The use case's names for the practitioner form's fields (`location_ids[2]` is any of them).
fn practitioner_refusal(err: &ApiError) -> FormErrors {
    let mut errors = refusal(err, &[("user_id", "user_id", "Account")]);
    for problem in &mut errors.list {
        if problem.field.starts_with("location_ids") {
            "location_ids".clone_into(&mut problem.field);
            problem.message = "Tick only the clinic's locations.".into();
        }
    }
    errors
}

#[handler]
pub async fn create_practitioner(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let mut errors = FormErrors::default();
    let user_id = form
        .text("user_id")
        .and_then(|id| Uuid::parse_str(&id).ok());
    if user_id.is_none() {
        errors.field("user_id", "Choose the practitioner's account.");
    }
    let discipline = discipline_named(form.text("discipline").as_deref());
    if discipline.is_none() {
        errors.field("discipline", "Choose what they practise.");
    }
    let location_ids = ticked_locations(&form, &mut errors);
    let refused = |errors: FormErrors, status| {
        let (state, caller, form) = (&state, &caller, &form);
        async move { render_practitioners(state, csrf, caller, status, None, Some(form), &errors).await }
    };
    let (Some(user_id), Some(discipline), true) = (user_id, discipline, errors.is_empty()) else {
        return refused(errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let command = NewPractitioner {
        user_id,
        discipline,
        location_ids,
    };
    match practitioners::create(&state, &caller, command).await {
        Ok(created) => see_other(format!(
            "/setup/practitioners/{}?done=practitioner-added",
            created.id
        )),
        Err(err) if refused_form(&err) => refused(practitioner_refusal(&err), err.status()).await,
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn practitioner_active(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let active = wants_active(&form);
    let command = PractitionerUpdate {
        active: Some(active),
        ..PractitionerUpdate::default()
    };
    match practitioners::update(&state, &caller, id, command).await {
        Ok(_) => {
            let done = if active { "reactivated" } else { "deactivated" };
            see_other(format!("/setup/practitioners?done=practitioner-{done}"))
        }
        // A practitioner whose account is disabled cannot take bookings again.
        Err(err @ ApiError::Conflict { .. }) => {
            let status = err.status();
            render_practitioners(
                &state,
                csrf,
                &caller,
                status,
                None,
                None,
                &FormErrors::from_api(&err, &[]),
            )
            .await
        }
        Err(err) => Err(page_error(err)),
    }
}

// ---- Policies ----

#[handler]
pub async fn policies_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<DoneQuery>,
) -> poem::Result<Response> {
    render_policies(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        done_message(query.done.as_deref()),
        None,
        &FormErrors::default(),
    )
    .await
}

fn policy_value(policies: &ClinicPoliciesInput, name: &str) -> i64 {
    match name {
        "slot_grid_minutes" => policies.slot_grid_minutes,
        "min_notice_minutes" => policies.min_notice_minutes,
        "horizon_days" => policies.horizon_days,
        "cancellation_window_minutes" => policies.cancellation_window_minutes,
        "reminder_lead_minutes" => policies.reminder_lead_minutes,
        _ => policies.follow_up_delay_days,
    }
}

async fn render_policies(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    done: Option<&str>,
    typed: Option<&FormData>,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let setup = clinic::setup(state, caller).await.map_err(page_error)?;
    let fields: Vec<Value> = POLICIES
        .iter()
        .map(|&(name, label, hint)| {
            let value = match typed {
                Some(form) => form.raw(name).unwrap_or_default().to_owned(),
                None => policy_value(&setup.policies, name).to_string(),
            };
            context! { name, label, hint, value }
        })
        .collect();
    Ok(state.pages.render(
        status,
        "setup_policies.html",
        Frame::of(csrf, caller),
        context! {
            title => "Booking policies",
            done,
            fields,
            errors => shown(errors),
        },
    ))
}

#[handler]
pub async fn save_policies(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let mut errors = FormErrors::default();
    let mut number = |name: &str, label: &str| match form.text(name).map(|t| t.parse::<i64>()) {
        Some(Ok(value)) => value,
        _ => {
            errors.field(
                name,
                format!("Enter the {} as a whole number.", label.to_lowercase()),
            );
            0
        }
    };
    let [grid, notice, horizon, window, reminder, follow_up] =
        POLICIES.map(|(name, label, _)| number(name, label));
    if !errors.is_empty() {
        return render_policies(
            &state,
            csrf,
            &caller,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(&form),
            &errors,
        )
        .await;
    }
    let input = ClinicPoliciesInput {
        slot_grid_minutes: grid,
        min_notice_minutes: notice,
        horizon_days: horizon,
        cancellation_window_minutes: window,
        reminder_lead_minutes: reminder,
        follow_up_delay_days: follow_up,
    };
    match clinic::set_policies(&state, &caller, input).await {
        Ok(_) => see_other("/setup/policies?done=policies-saved".into()),
        Err(err) if refused_form(&err) => {
            let fields: Vec<(&str, &str, &str)> = POLICIES
                .iter()
                .map(|&(name, label, _)| (name, name, label))
                .collect();
            let errors = refusal(&err, &fields);
            render_policies(
                &state,
                csrf,
                &caller,
                err.status(),
                None,
                Some(&form),
                &errors,
            )
            .await
        }
        Err(err) => Err(page_error(err)),
    }
}

// ---- One practitioner: where they work, weekly hours, time off ----

/// What the practitioner's page was given back to show again.
#[derive(Default)]
struct Typed<'a> {
    /// A refused change of where they work.
    locations: Option<&'a FormData>,
    /// A refused week of hours.
    hours: Option<&'a FormData>,
    /// A refused time off form and, when it clashed, the visits in its way.
    time_off: Option<&'a FormData>,
    clashes: Vec<ClashingAppointment>,
}

#[handler]
pub async fn practitioner_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    render_practitioner(
        &state,
        csrf,
        &caller,
        id,
        StatusCode::OK,
        done_message(query.done.as_deref()),
        Typed::default(),
        &FormErrors::default(),
    )
    .await
}

/// The hours field of a location's weekday: `hours-<location index>-<mon…>`.
fn hours_field(index: usize, day: &str) -> String {
    format!("hours-{index}-{day}")
}

/// Minutes since midnight as the form shows them ("09:00", "24:00").
fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A weekday's stored intervals as typed: "09:00-12:00, 13:00-17:00".
fn day_text(intervals: &[StoredInterval], day: Weekday) -> String {
    intervals
        .iter()
        .filter(|interval| interval.weekday == day)
        .map(|interval| {
            format!(
                "{}-{}",
                clock(interval.start_minute),
                clock(interval.end_minute)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::too_many_arguments)]
async fn render_practitioner(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    id: Uuid,
    status: StatusCode,
    done: Option<&str>,
    typed: Typed<'_>,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let Schedule {
        practitioner,
        locations,
        hours,
        time_off,
    } = practitioners::schedule(state, caller, id)
        .await
        .map_err(page_error)?;
    let ticked: Vec<String> = match typed.locations {
        Some(form) => form
            .all("location_ids")
            .iter()
            .map(|id| (*id).to_owned())
            .collect(),
        _ => practitioner
            .location_ids
            .iter()
            .map(Uuid::to_string)
            .collect(),
    };
    let week: Vec<Value> = locations
        .iter()
        .filter(|location| practitioner.location_ids.contains(&location.id))
        .enumerate()
        .map(|(index, location)| {
            let stored = hours
                .iter()
                .find(|week| week.location_id == location.id)
                .map_or(&[][..], |week| week.intervals.as_slice());
            let days: Vec<Value> = WEEK
                .iter()
                .map(|&(day, key, label)| {
                    let name = hours_field(index, key);
                    let value = match typed.hours {
                        Some(form) => form.raw(&name).unwrap_or_default().to_owned(),
                        None => day_text(stored, day),
                    };
                    context! { name, label, value }
                })
                .collect();
            context! {
                name => location.name.clone(),
                time_zone => location.time_zone.clone(),
                active => location.active,
                days,
            }
        })
        .collect();
    let clinic_zone = state.config.time_zone;
    let periods: Vec<Value> = time_off
        .iter()
        .map(|period| {
            context! {
                id => period.id.to_string(),
                from => state.local_time(period.starts_at),
                to => state.local_time(period.ends_at),
                reason => period.reason.clone(),
            }
        })
        .collect();
    let clashes: Vec<Value> = typed
        .clashes
        .iter()
        .map(|visit| {
            let day = visit.starts_at.with_timezone(&clinic_zone).date_naive();
            context! {
                patient => visit.patient_name.clone(),
                patient_href => format!("/desk/patients/{}", visit.patient_id),
                when => state.local_time(visit.starts_at),
                until => visit.ends_at.with_timezone(&clinic_zone).format("%H:%M").to_string(),
                day_href => format!("/desk?date={day}"),
            }
        })
        .collect();
    let off = |name: &str| {
        typed
            .time_off
            .and_then(|form| form.raw(name))
            .unwrap_or_default()
            .to_owned()
    };
    let time_off_form = context! {
        start_date => off("start_date"),
        start_time => off("start_time"),
        end_date => off("end_date"),
        end_time => off("end_time"),
        reason => off("reason"),
    };
    Ok(state.pages.render(
        status,
        "setup_practitioner.html",
        Frame::of(csrf, caller),
        context! {
            title => practitioner.display_name.clone(),
            id => practitioner.id.to_string(),
            discipline => discipline_label(practitioner.discipline),
            active => practitioner.active,
            done,
            locations => location_choices(&locations, &ticked),
            week,
            periods,
            clashes,
            time_off_form,
            zone => clinic_zone.name(),
            today => state.local_today().to_string(),
            errors => shown(errors),
        },
    ))
}

#[handler]
pub async fn update_practitioner(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let mut errors = FormErrors::default();
    let location_ids = ticked_locations(&form, &mut errors);
    let refused = |errors: FormErrors| {
        let (state, caller, form) = (&state, &caller, &form);
        async move {
            let typed = Typed {
                locations: Some(form),
                ..Typed::default()
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_practitioner(state, csrf, caller, id, status, None, typed, &errors).await
        }
    };
    if !errors.is_empty() {
        return refused(errors).await;
    }
    let command = PractitionerUpdate {
        location_ids: Some(location_ids),
        active: None,
    };
    match practitioners::update(&state, &caller, id, command).await {
        Ok(_) => see_other(format!("/setup/practitioners/{id}?done=practitioner-saved")),
        Err(err) if refused_form(&err) => refused(practitioner_refusal(&err)).await,
        Err(err) => Err(page_error(err)),
    }
}

/// "09:00-12:00, 13:00-17:00" as intervals on `day`; `None` when it is not written so.
fn parse_day(day: Weekday, text: &str) -> Option<Vec<WorkingIntervalInput>> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (start, end) = part.split_once(['-', '–'])?;
            Some(WorkingIntervalInput::new(day, start.trim(), end.trim()))
        })
        .collect()
}

#[handler]
pub async fn save_hours(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    // The form lists the locations they work at, in the clinic's order, as the page did.
    let schedule = practitioners::schedule(&state, &caller, id)
        .await
        .map_err(page_error)?;
    let workplaces: Vec<Uuid> = schedule
        .locations
        .iter()
        .filter(|location| schedule.practitioner.location_ids.contains(&location.id))
        .map(|location| location.id)
        .collect();
    let mut errors = FormErrors::default();
    // Which form field each interval the use case checks came from, to show its problem there.
    let mut origin: Vec<Vec<String>> = Vec::new();
    let mut week = Vec::new();
    for (index, location_id) in workplaces.iter().enumerate() {
        let mut intervals = Vec::new();
        let mut fields = Vec::new();
        for &(day, key, label) in &WEEK {
            let name = hours_field(index, key);
            let text = form.raw(&name).unwrap_or_default();
            match parse_day(day, text) {
                Some(found) => {
                    fields.extend(std::iter::repeat_n(name.clone(), found.len()));
                    intervals.extend(found);
                }
                None => errors.field(
                    &name,
                    format!("Write {label}'s hours as start-end times, for example 09:00-12:00, 13:00-17:00."),
                ),
            }
        }
        origin.push(fields);
        week.push(LocationHoursInput {
            location_id: (*location_id).into(),
            intervals,
        });
    }
    let refused = |errors: FormErrors| {
        let (state, caller, form) = (&state, &caller, &form);
        async move {
            let typed = Typed {
                hours: Some(form),
                ..Typed::default()
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_practitioner(state, csrf, caller, id, status, None, typed, &errors).await
        }
    };
    if !errors.is_empty() {
        return refused(errors).await;
    }
    match practitioners::set_hours(&state, &caller, id, week).await {
        Ok(_) => see_other(format!("/setup/practitioners/{id}?done=hours-saved")),
        Err(err) if refused_form(&err) => {
            let mut errors = FormErrors::from_api(&err, &[]);
            for problem in &mut errors.list {
                let (field, message) = hours_problem(&origin, &problem.field, &problem.message);
                problem.field = field;
                problem.message = message;
            }
            refused(errors).await
        }
        Err(err) => Err(page_error(err)),
    }
}

/// The form field and words for a problem the use case reported on
/// `locations[i].intervals[j]…`: the weekday field that interval was typed in.
fn hours_problem(origin: &[Vec<String>], field: &str, message: &str) -> (String, String) {
    let index = |after: &str| -> Option<usize> {
        let rest = field.split_once(after)?.1;
        rest.split(']').next()?.parse().ok()
    };
    let location = index("locations[");
    let interval = index("intervals[");
    let fallback = hours_field(location.unwrap_or(0), WEEK[0].1);
    let target = location
        .and_then(|l| origin.get(l))
        .and_then(|fields| fields.get(interval?).cloned())
        .unwrap_or(fallback);
    let label = WEEK
        .iter()
        .find(|(_, key, _)| target.ends_with(key))
        .map_or("These hours", |(_, _, label)| label);
    let words = if message.starts_with(char::is_uppercase) {
        format!("{label}: {message}")
    } else {
        sentence(&format!("{label}:"), message)
    };
    (target, words)
}

/// A date and time typed on the clinic's clock, as an instant; the problem otherwise.
fn typed_instant(
    zone: Zone,
    form: &FormData,
    date_field: &str,
    time_field: &str,
    which: &str,
    errors: &mut FormErrors,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let Some(date) = form
        .text(date_field)
        .and_then(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok())
    else {
        errors.field(
            date_field,
            format!("Enter the {which} date as year-month-day, for example 2026-03-04."),
        );
        return None;
    };
    let Some(time) = form
        .text(time_field)
        .and_then(|text| NaiveTime::parse_from_str(&text, "%H:%M").ok())
    else {
        errors.field(
            time_field,
            format!("Enter the {which} time as hours:minutes, for example 09:00."),
        );
        return None;
    };
    let instant = zone.instant(date.and_time(time));
    if instant.is_none() {
        errors.field(
            time_field,
            format!(
                "The clocks change then: {time} does not exist on {date}. Choose another time."
            ),
        );
    }
    instant
}

#[handler]
pub async fn add_time_off(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let zone = Zone::from_tz(state.config.time_zone);
    let mut errors = FormErrors::default();
    let starts_at = typed_instant(
        zone,
        &form,
        "start_date",
        "start_time",
        "first",
        &mut errors,
    );
    let ends_at = typed_instant(zone, &form, "end_date", "end_time", "last", &mut errors);
    let keep_appointments = form.text("keep_appointments").as_deref() == Some("true");
    let refused = |errors: FormErrors, clashes: Vec<ClashingAppointment>, status| {
        let (state, caller, form) = (&state, &caller, &form);
        async move {
            let typed = Typed {
                time_off: Some(form),
                clashes,
                ..Typed::default()
            };
            render_practitioner(state, csrf, caller, id, status, None, typed, &errors).await
        }
    };
    let (Some(starts_at), Some(ends_at), true) = (starts_at, ends_at, errors.is_empty()) else {
        return refused(errors, Vec::new(), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let command = NewTimeOff {
        starts_at,
        ends_at,
        reason: form.raw("reason").unwrap_or_default().to_owned(),
        keep_appointments,
    };
    match practitioners::add_time_off(&state, &caller, id, command).await {
        Ok(_) => {
            let done = if keep_appointments {
                "time-off-kept"
            } else {
                "time-off-added"
            };
            see_other(format!("/setup/practitioners/{id}?done={done}"))
        }
        // Never added silently: the visits in the way are listed, to move or keep.
        Err(ApiError::TimeOffClashes { appointments, .. }) => {
            let errors = FormErrors {
                general: Some(match appointments.len() {
                    1 => "The time off is not added yet: a booked appointment falls in it.".into(),
                    count => format!(
                        "The time off is not added yet: {count} booked appointments fall in it."
                    ),
                }),
                ..FormErrors::default()
            };
            refused(errors, appointments, StatusCode::CONFLICT).await
        }
        Err(err) if refused_form(&err) => {
            let errors = refusal(
                &err,
                &[
                    ("starts_at", "start_date", "The start"),
                    ("ends_at", "end_date", "The end"),
                    ("reason", "reason", "The reason"),
                ],
            );
            refused(errors, Vec::new(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn remove_time_off(
    state: Data<&AppState>,
    SignedIn(caller): SignedIn,
    Path((id, time_off_id)): Path<(String, String)>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let time_off_id = page_id(&time_off_id)?;
    practitioners::remove_time_off(&state, &caller, id, time_off_id)
        .await
        .map_err(page_error)?;
    see_other(format!("/setup/practitioners/{id}?done=time-off-removed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_of_hours_is_read_as_typed_or_refused() {
        let read = parse_day(Weekday::Mon, " 09:00-12:00, 13:00 – 17:00 ").unwrap();
        assert_eq!(
            read,
            [
                WorkingIntervalInput::new(Weekday::Mon, "09:00", "12:00"),
                WorkingIntervalInput::new(Weekday::Mon, "13:00", "17:00"),
            ]
        );
        assert_eq!(parse_day(Weekday::Tue, "  ").unwrap(), []);
        assert!(parse_day(Weekday::Tue, "nine to five").is_none());
    }

    #[test]
    fn a_problem_with_an_interval_lands_on_its_weekday() {
        let origin = vec![vec!["hours-0-mon".to_owned(), "hours-0-wed".to_owned()]];
        let (field, message) = hours_problem(
            &origin,
            "locations[0].intervals[1].start",
            "09:07 is not on the clinic's 15-minute slot grid",
        );
        assert_eq!(field, "hours-0-wed");
        assert_eq!(
            message,
            "Wednesday: 09:07 is not on the clinic's 15-minute slot grid."
        );
        assert_eq!(hours_problem(&origin, "locations", "x").0, "hours-0-mon");
    }
}
