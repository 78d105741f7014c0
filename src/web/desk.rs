//! The front desk's day: every location (or one), each practitioner a column, moving between
//! days, and check-in, completion, no-show and its undoing from the list, each offered only
//! when the lifecycle's desk rule allows it. The day is `service::desk::day`;
//! the changes are `service::appointments::change_status`, whose rules decide what is allowed.

use chrono::{DateTime, Duration, NaiveDate, Utc};
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
    form::{FormData, day_or_today, page_id},
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    error::ApiError,
    scheduling::{self, AppointmentStatus, StatusChange, Zone},
    service::{
        Caller,
        appointments::{self, Appointment},
        desk::{self, DeskDay},
    },
};

/// Which day, and where: from the address.
#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    date: Option<String>,
    location: Option<String>,
    /// What the last action did, to say so.
    done: Option<String>,
}

/// The status changes the desk makes from the day: the form's value, the button, and what
/// the page says once done.
const CHANGES: [(StatusChange, &str, &str, &str); 4] = [
    (StatusChange::CheckIn, "check_in", "Check in", "Checked in"),
    (StatusChange::Complete, "complete", "Complete", "Completed"),
    (
        StatusChange::NoShow,
        "no_show",
        "Did not attend",
        "Marked as did not attend",
    ),
    (
        StatusChange::UndoNoShow,
        "undo_no_show",
        "Undo did not attend",
        "Did not attend is undone: the appointment is booked again",
    ),
];

fn status_label(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "Booked",
        AppointmentStatus::CheckedIn => "Checked in",
        AppointmentStatus::Completed => "Completed",
        AppointmentStatus::NoShow => "Did not attend",
        AppointmentStatus::Cancelled => "Cancelled",
    }
}

/// The buttons an appointment offers now: the changes the lifecycle's desk rule allows at
/// this moment (the service applies the same rule when one is pressed).
fn offered(appointment: &Appointment, zone: Zone, now: DateTime<Utc>) -> Vec<Value> {
    CHANGES
        .iter()
        .filter(|(change, ..)| {
            scheduling::desk_change(
                appointment.status,
                *change,
                appointment.start,
                appointment.end,
                zone,
                now,
            )
            .is_ok()
        })
        .map(|&(_, value, label, _)| context! { value, label })
        .collect()
}

fn day_path(date: NaiveDate, location: Option<Uuid>) -> String {
    match location {
        Some(location) => format!("/desk?date={date}&location={location}"),
        None => format!("/desk?date={date}"),
    }
}

#[handler]
pub async fn day_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<DayQuery>,
) -> poem::Result<Response> {
    let mut errors = FormErrors::default();
    let date = day_or_today(&state, query.date.as_deref(), &mut errors);
    let location = match query.location.as_deref().map(str::trim) {
        None | Some("" | "all") => None,
        Some(text) => match Uuid::parse_str(text) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.field("location", "Choose a location from the list.");
                None
            }
        },
    };
    let done = query.done.as_deref().and_then(|done| match done {
        "booked" => Some("Booked"),
        done => CHANGES
            .iter()
            .find(|(_, value, ..)| *value == done)
            .map(|(.., said)| *said),
    });
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_day(&state, csrf, &caller, status, date, location, &errors, done).await
}

#[handler]
pub async fn change_status(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let date = form
        .text("date")
        .and_then(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok())
        .unwrap_or_else(|| state.local_today());
    let location = form
        .text("location")
        .and_then(|text| Uuid::parse_str(&text).ok());
    let chosen = form.text("change").unwrap_or_default();
    let Some((change, value, ..)) = CHANGES.iter().find(|(_, value, ..)| *value == chosen) else {
        let errors = FormErrors {
            general: Some("Choose one of the appointment's buttons.".into()),
            ..FormErrors::default()
        };
        return render_day(
            &state,
            csrf,
            &caller,
            StatusCode::UNPROCESSABLE_ENTITY,
            date,
            location,
            &errors,
            None,
        )
        .await;
    };
    match appointments::change_status(&state, &caller, id, *change).await {
        Ok(_) => Ok(
            Redirect::see_other(format!("{}&done={value}", day_path(date, location)))
                .into_response(),
        ),
        Err(err @ (ApiError::Conflict { .. } | ApiError::Refused { .. })) => {
            let status = err.status();
            let mut errors = FormErrors::from_api(&err, &[]);
            if errors.general.is_none() {
                errors.general = errors.list.first().map(|problem| problem.message.clone());
                errors.list.clear();
            }
            render_day(&state, csrf, &caller, status, date, location, &errors, None).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_day(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    date: NaiveDate,
    location: Option<Uuid>,
    errors: &FormErrors,
    done: Option<&str>,
) -> poem::Result<Response> {
    let DeskDay {
        date,
        locations,
        all_locations,
    } = desk::day(state, caller, date, location)
        .await
        .map_err(page_error)?;
    let now = state.clock.now();
    let days: Vec<Value> = locations
        .iter()
        .map(|day| {
            let tz = day.zone.tz();
            let columns: Vec<Value> = day
                .columns
                .iter()
                .map(|column| {
                    let visits: Vec<Value> = column
                        .appointments
                        .iter()
                        .map(|shown| {
                            let appointment = &shown.appointment;
                            let start = appointment.start.with_timezone(&tz);
                            let end = appointment.end.with_timezone(&tz);
                            context! {
                                id => appointment.id.to_string(),
                                time => format!("{}–{}", start.format("%H:%M"), end.format("%H:%M")),
                                patient => shown.patient_name.clone(),
                                patient_id => appointment.patient_id.to_string(),
                                what => shown.type_name.clone(),
                                status => status_label(appointment.status),
                                level => format!("{:?}", appointment.status).to_lowercase(),
                                actions => offered(appointment, day.zone, now),
                            }
                        })
                        .collect();
                    context! {
                        name => column.practitioner_name.clone(),
                        count => visits.len(),
                        visits,
                    }
                })
                .collect();
            context! {
                name => day.location.name.clone(),
                zone => day.zone.name(),
                columns,
            }
        })
        .collect();
    let choices: Vec<Value> = all_locations
        .iter()
        .map(|place| {
            context! {
                id => place.id.to_string(),
                name => place.name.clone(),
                selected => Some(place.id) == location,
            }
        })
        .collect();
    Ok(state.pages.render(
        status,
        "desk_day.html",
        Frame::of(csrf, caller),
        context! {
            title => format!("The day: {}", date.format("%A %-d %B %Y")),
            date => date.to_string(),
            location => location.map(|id| id.to_string()),
            previous => day_path(date - Duration::days(1), location),
            next => day_path(date + Duration::days(1), location),
            today => day_path(state.local_today(), location),
            is_today => date == state.local_today(),
            days,
            choices,
            done,
            errors => Value::from(minijinja::value::Serde(errors)),
        },
    ))
}
