//! The practitioners' own pages: a patient's outcome trend (pain and disability over time,
//! drawn as SVG on the server with the meaningful-change marks, a summary in words and the
//! readings as a table), and their schedule of one day with their calendar feed link. Who may
//! open them, and the audit of every read, is the service's: `follow_ups::outcomes` (as the
//! API's `GET /patients/{id}/outcomes`) and `schedule` (over `appointments::day` and the
//! calendar token use cases).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::{Value, context};
use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{CsrfToken, Data, Path, Query, Redirect},
};
use serde::Deserialize;

use super::{
    account::{SignedIn, page_error},
    chart::{self, Measure, Reading},
    form::{day_or_today, page_id},
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    scheduling::AppointmentStatus,
    service::{
        Caller,
        follow_ups::{self, OutcomePoint, OutcomeTrend},
        practitioners::CalendarToken,
        schedule::{self, MyDay},
    },
    triage::{FOLLOW_UP_QUESTIONNAIRE, scoring::Trend},
};

/// How a number reads: whole numbers without decimals, ODI percentages to two at most.
fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded}")
}

fn points_word(value: f64) -> &'static str {
    if (value.abs() - 1.0).abs() < f64::EPSILON {
        "point"
    } else {
        "points"
    }
}

/// One instrument as the page shows it.
struct Instrument {
    key: &'static str,
    name: &'static str,
    measure: Measure,
    /// The value's unit after the number ("out of 10", "%").
    unit: &'static str,
    value: fn(&OutcomePoint) -> Option<f64>,
    trend: fn(&OutcomePoint) -> Option<Trend>,
}

const INSTRUMENTS: [Instrument; 2] = [
    Instrument {
        key: "pain",
        name: "Pain (0–10)",
        measure: chart::PAIN,
        unit: " out of 10",
        value: |point| point.pain_now.map(f64::from),
        trend: |point| point.pain_trend,
    },
    Instrument {
        key: "odi",
        name: "Disability, Oswestry (0–100 %)",
        measure: chart::ODI,
        unit: " %",
        value: |point| point.odi_percent,
        trend: |point| point.odi_trend,
    },
];

/// What the summary says about one instrument: from the baseline to the latest reading, with
/// the service's judgement of the change.
fn summary(
    state: &AppState,
    instrument: &Instrument,
    baseline: Option<&OutcomePoint>,
    latest: Option<&OutcomePoint>,
) -> String {
    let name = instrument.name;
    let unit = instrument.unit;
    let meaningful = number(instrument.measure.meaningful);
    let when = |point: &OutcomePoint| local_date(state, point.submitted_at);
    let Some(latest) = latest else {
        return format!("{name}: no scores yet.");
    };
    let latest_value = (instrument.value)(latest).map(number).unwrap_or_default();
    let Some(baseline) = baseline else {
        return format!(
            "{name}: {latest_value}{unit} on {}. There is no intake to compare with.",
            when(latest)
        );
    };
    let start = (instrument.value)(baseline).map(number).unwrap_or_default();
    if latest.intake_id == baseline.intake_id {
        return format!(
            "{name}: {start}{unit} at intake ({}). No follow-up score since.",
            when(baseline)
        );
    }
    let change = match (instrument.value)(latest).zip((instrument.value)(baseline)) {
        Some((now, before)) => now - before,
        None => 0.0,
    };
    let moved = match change {
        c if c < 0.0 => format!("{} {} lower", number(-c), points_word(c)),
        c if c > 0.0 => format!("{} {} higher", number(c), points_word(c)),
        _ => "unchanged".into(),
    };
    let verdict = match (instrument.trend)(latest) {
        Some(Trend::Improved) => format!("a meaningful improvement ({meaningful} points or more)"),
        Some(Trend::Worsened) => format!("meaningfully worse ({meaningful} points or more)"),
        Some(Trend::NoMeaningfulChange) | None => {
            format!("not a meaningful change (that takes {meaningful} points)")
        }
    };
    format!(
        "{name}: {start}{unit} at intake ({}), {latest_value}{unit} on {}: {moved}, {verdict}.",
        when(baseline),
        when(latest)
    )
}

fn local_date(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.config.time_zone)
        .format("%-d %b %Y")
        .to_string()
}

fn local_day(state: &AppState, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&state.config.time_zone).date_naive()
}

/// A change against the baseline in words for the table: "−2", "+10", "0".
fn signed(change: Option<f64>) -> String {
    match change {
        Some(c) if c < 0.0 => format!("−{}", number(-c)),
        Some(c) if c > 0.0 => format!("+{}", number(c)),
        Some(_) => "0".into(),
        None => String::new(),
    }
}

fn trend_words(trend: Option<Trend>) -> &'static str {
    match trend {
        Some(Trend::Improved) => "meaningfully better",
        Some(Trend::Worsened) => "meaningfully worse",
        Some(Trend::NoMeaningfulChange) => "no meaningful change",
        None => "",
    }
}

#[handler]
pub async fn outcomes_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let OutcomeTrend {
        patient_name,
        baseline_intake_id,
        points,
    } = follow_ups::outcomes(&state, &caller, id)
        .await
        .map_err(page_error)?;
    let baseline = points
        .iter()
        .find(|point| Some(point.intake_id) == baseline_intake_id);
    let charts: Vec<Value> = INSTRUMENTS
        .iter()
        .map(|instrument| {
            let readings: Vec<Reading> = points
                .iter()
                .filter_map(|point| {
                    Some(Reading {
                        at: point.submitted_at,
                        day: local_day(&state, point.submitted_at),
                        value: (instrument.value)(point)?,
                    })
                })
                .collect();
            let start = baseline.and_then(|point| (instrument.value)(point));
            let latest = points
                .iter()
                .rfind(|point| (instrument.value)(point).is_some());
            let drawn = chart::chart(instrument.measure, &readings, start);
            context! {
                key => instrument.key,
                name => instrument.name,
                count => readings.len(),
                summary => summary(&state, instrument, baseline.filter(|_| start.is_some()), latest),
                threshold => drawn.band.map(|band| number(band.value)),
                baseline => start.map(number),
                meaningful => number(instrument.measure.meaningful),
                chart => Value::from(minijinja::value::Serde(&drawn)),
            }
        })
        .collect();
    let rows: Vec<Value> = points
        .iter()
        .map(|point| {
            context! {
                when => state.local_time(point.submitted_at),
                what => if point.questionnaire_id == FOLLOW_UP_QUESTIONNAIRE { "Follow-up" } else { "Intake" },
                baseline => Some(point.intake_id) == baseline_intake_id,
                pain => point.pain_now.map(|pain| pain.to_string()).unwrap_or_default(),
                pain_change => signed(point.pain_change.map(f64::from)),
                pain_trend => trend_words(point.pain_trend),
                odi => point.odi_percent.map(number).unwrap_or_default(),
                odi_change => signed(point.odi_change),
                odi_trend => trend_words(point.odi_trend),
            }
        })
        .collect();
    Ok(state.pages.render(
        StatusCode::OK,
        "outcomes.html",
        Frame::of(csrf, &caller),
        context! {
            title => format!("Outcomes: {patient_name}"),
            patient_name,
            charts,
            rows,
        },
    ))
}

/// Which day: from the address.
#[derive(Debug, Default, Deserialize)]
pub struct ScheduleQuery {
    date: Option<String>,
    /// What the last action did, to say so.
    done: Option<String>,
}

fn schedule_path(date: NaiveDate) -> String {
    format!("/schedule?date={date}")
}

fn status_label(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "Booked",
        AppointmentStatus::CheckedIn => "Checked in",
        AppointmentStatus::Completed => "Completed",
        AppointmentStatus::NoShow => "Did not attend",
        AppointmentStatus::Cancelled => "Cancelled",
    }
}

#[handler]
pub async fn schedule_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<ScheduleQuery>,
) -> poem::Result<Response> {
    let mut errors = FormErrors::default();
    let date = day_or_today(&state, query.date.as_deref(), &mut errors);
    let done = match query.done.as_deref() {
        Some("revoked") => {
            Some("Your calendar link is revoked: calendars subscribed to it stop updating")
        }
        _ => None,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_schedule(&state, csrf, &caller, status, date, &errors, done, None).await
}

/// Creates (or replaces) the caller's calendar feed link and shows it, once.
#[handler]
pub async fn issue_calendar_link(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
) -> poem::Result<Response> {
    let issued = schedule::issue_my_calendar_token(&state, &caller)
        .await
        .map_err(page_error)?;
    // Shown in this answer only: only the token's hash is kept, so it cannot be shown again
    // (and a redirect would have to carry it in an address).
    render_schedule(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        state.local_today(),
        &FormErrors::default(),
        Some("Your new calendar link is ready; any earlier link has stopped working"),
        Some(&issued),
    )
    .await
}

#[handler]
pub async fn revoke_calendar_link(
    state: Data<&AppState>,
    SignedIn(caller): SignedIn,
) -> poem::Result<Response> {
    schedule::revoke_my_calendar_token(&state, &caller)
        .await
        .map_err(page_error)?;
    Ok(Redirect::see_other("/schedule?done=revoked").into_response())
}

#[allow(clippy::too_many_arguments)]
async fn render_schedule(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    date: NaiveDate,
    errors: &FormErrors,
    done: Option<&str>,
    issued: Option<&CalendarToken>,
) -> poem::Result<Response> {
    let day = schedule::my_day(state, caller, date)
        .await
        .map_err(page_error)?;
    let tz = state.config.time_zone;
    let (visits, feed_link, name) = match &day {
        Some(MyDay {
            visits,
            feed_link,
            practitioner_name,
            ..
        }) => {
            let visits: Vec<Value> = visits
                .iter()
                .map(|visit| {
                    let appointment = &visit.appointment;
                    let start = appointment.start.with_timezone(&tz);
                    let end = appointment.end.with_timezone(&tz);
                    context! {
                        time => format!("{}–{}", start.format("%H:%M"), end.format("%H:%M")),
                        patient => visit.patient_name.clone(),
                        outcomes => format!("/patients/{}/outcomes", appointment.patient_id),
                        what => visit.type_name.clone(),
                        place => visit.location_name.clone(),
                        status => status_label(appointment.status),
                        level => format!("{:?}", appointment.status).to_lowercase(),
                    }
                })
                .collect();
            (visits, *feed_link, Some(practitioner_name.clone()))
        }
        None => (Vec::new(), false, None),
    };
    let today = state.local_today();
    Ok(state.pages.render(
        status,
        "schedule.html",
        Frame::of(csrf, caller),
        context! {
            title => format!("My schedule: {}", date.format("%A %-d %B %Y")),
            bookable => day.is_some(),
            name,
            date => date.to_string(),
            previous => schedule_path(date - Duration::days(1)),
            next => schedule_path(date + Duration::days(1)),
            today => schedule_path(today),
            is_today => date == today,
            zone => tz.name(),
            count => visits.len(),
            visits,
            feed_link,
            feed_url => issued.map(|issued| issued.url.clone()),
            done,
            errors => Value::from(minijinja::value::Serde(errors)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::{number, signed};

    #[test]
    fn numbers_read_without_needless_decimals() {
        assert_eq!(number(4.0), "4");
        assert_eq!(number(35.56), "35.56");
        assert_eq!(number(20.004), "20");
        assert_eq!(signed(Some(-2.0)), "−2");
        assert_eq!(signed(Some(10.5)), "+10.5");
        assert_eq!(signed(Some(0.0)), "0");
        assert_eq!(signed(None), "");
    }
}
