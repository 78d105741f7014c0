//! The booking pages and "My appointments": choose what, where and with whom, a day and a time
//! on the location's clock, confirm; then see, move or cancel what was booked. Every step is a
//! plain link or a GET form (nothing needs JavaScript), and every decision is the use cases':
//! the pages only read what was chosen and show what the service answered.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::{Value, context};
use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::{CsrfToken, Data, Path, Query, Redirect},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    account::{SignedInPatient, page_error},
    form::FormData,
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    error::{ApiError, SuggestedSlot},
    notify::calendar::{self, AppointmentEvent, CalendarMethod},
    scheduling::{self, AppointmentStatus, Slot, Zone},
    service::{
        Caller,
        appointments::{self, Appointment, Reschedule},
        availability::{self, FindSlots},
        booking::{self, BookAppointment},
        clinic::{self, AppointmentType, Location},
        patients,
        practitioners::{self, Practitioner},
    },
};

/// Days shown at once on the time picker.
const WEEK_DAYS: i64 = 7;

/// What the clinic offers, to name the choices and what an appointment is.
struct Clinic {
    types: Vec<AppointmentType>,
    locations: Vec<Location>,
    practitioners: Vec<Practitioner>,
}

impl Clinic {
    async fn load(state: &AppState, caller: &Caller) -> poem::Result<Self> {
        Ok(Self {
            types: clinic::appointment_types(state, caller)
                .await
                .map_err(page_error)?,
            locations: clinic::locations(state, caller).await.map_err(page_error)?,
            practitioners: practitioners::list(state, caller)
                .await
                .map_err(page_error)?,
        })
    }

    fn kind(&self, id: Uuid) -> Option<&AppointmentType> {
        self.types.iter().find(|kind| kind.id == id)
    }

    fn location(&self, id: Uuid) -> Option<&Location> {
        self.locations.iter().find(|location| location.id == id)
    }

    fn practitioner(&self, id: Uuid) -> Option<&Practitioner> {
        self.practitioners.iter().find(|person| person.id == id)
    }

    fn practitioner_name(&self, id: Uuid) -> String {
        self.practitioner(id)
            .map_or_else(|| "a practitioner".into(), |p| p.display_name.clone())
    }

    /// An appointment in words: what, when, where, with whom.
    fn describe(&self, shown: &Appointment) -> Value {
        let kind = self.kind(shown.appointment_type_id);
        let location = self.location(shown.location_id);
        let when = DateTime::parse_from_rfc3339(&shown.local_start)
            .map(|local| long_time(local, &shown.abbreviation))
            .unwrap_or_else(|_| shown.start.to_rfc2822());
        context! {
            id => shown.id.to_string(),
            what => kind.map(|kind| kind.name.clone()),
            minutes => kind.map(|kind| kind.duration_minutes),
            when,
            location_name => location.map(|location| location.name.clone()),
            location_address => location.map(|location| location.address.clone()),
            practitioner => self.practitioner_name(shown.practitioner_id),
            status => status_words(shown.status),
            cancelled => shown.status == AppointmentStatus::Cancelled,
            booked => shown.status == AppointmentStatus::Booked,
        }
    }
}

fn long_time(local: DateTime<chrono::FixedOffset>, abbreviation: &str) -> String {
    format!(
        "{} at {} {abbreviation}",
        local.format("%A %-d %B %Y"),
        local.format("%H:%M")
    )
}

fn status_words(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "Booked",
        AppointmentStatus::CheckedIn => "Checked in",
        AppointmentStatus::Completed => "Attended",
        AppointmentStatus::NoShow => "Missed",
        AppointmentStatus::Cancelled => "Cancelled",
    }
}

fn zone_named(name: &str) -> Zone {
    Zone::parse(name).unwrap_or(Zone::from_tz(chrono_tz::UTC))
}

/// A path with its query, in the order given, leaving out blank values.
fn link(path: &str, params: &[(&str, String)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Whom the booking pages book for: the signed-in patient (at `/book`), or a patient the
/// front desk names (at `/desk/book?patient=…`), whose links all keep that patient.
#[derive(Debug, Clone)]
pub(super) struct Booker {
    path: &'static str,
    /// The front desk's patient: their id and name.
    patient: Option<(Uuid, String)>,
}

impl Booker {
    const SELF: Self = Self {
        path: "/book",
        patient: None,
    };

    pub(super) fn desk(patient_id: Uuid, name: String) -> Self {
        Self {
            path: "/desk/book",
            patient: Some((patient_id, name)),
        }
    }

    /// The query parameters every link of these pages keeps.
    fn keep(&self) -> Vec<(&'static str, String)> {
        self.patient
            .iter()
            .map(|(id, _)| ("patient", id.to_string()))
            .collect()
    }

    fn link(&self, params: &[(&'static str, String)]) -> String {
        link(self.path, &[self.keep(), params.to_vec()].concat())
    }

    fn title(&self) -> String {
        match &self.patient {
            Some((_, name)) => format!("Book for {name}"),
            None => "Book an appointment".into(),
        }
    }
}

fn parse_uuid(value: Option<&str>) -> Option<Uuid> {
    value.and_then(|value| Uuid::parse_str(value.trim()).ok())
}

fn parse_date(value: Option<&str>) -> Option<NaiveDate> {
    value.and_then(|value| NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok())
}

fn parse_instant(value: Option<&str>) -> Option<DateTime<Utc>> {
    value.and_then(|value| {
        DateTime::parse_from_rfc3339(value.trim())
            .ok()
            .map(|at| at.to_utc())
    })
}

/// What to say about calling the clinic when something cannot be done online.
fn call_the_clinic(state: &AppState) -> String {
    match &state.config.clinic_phone {
        Some(phone) => format!("Please call the clinic on {phone}."),
        None => "Please call the clinic.".into(),
    }
}

/// The week picker's view: the week's days with how many times each has, the chosen day's
/// times, and links to the weeks around it. `keep` are the query parameters every link keeps;
/// `choose` is where choosing a time leads.
struct Picker<'a> {
    path: &'a str,
    keep: Vec<(&'static str, String)>,
    today: NaiveDate,
    week: NaiveDate,
    day: Option<NaiveDate>,
    zone: Zone,
    /// Name the practitioner beside each time ("anyone" was chosen).
    show_names: bool,
}

impl Picker<'_> {
    fn href(&self, extra: &[(&'static str, String)]) -> String {
        let mut params = self.keep.clone();
        params.extend_from_slice(extra);
        link(self.path, &params)
    }

    fn view(&self, slots: &[Slot], clinic: &Clinic) -> Value {
        let days: Vec<Value> = (0..WEEK_DAYS)
            .map(|offset| self.week + Duration::days(offset))
            .map(|date| {
                let count = slots
                    .iter()
                    .filter(|slot| slot.local_start.date_naive() == date)
                    .count();
                context! {
                    label => date.format("%A %-d %B").to_string(),
                    count,
                    selected => self.day == Some(date),
                    href => self.href(&[
                        ("week", self.week.to_string()),
                        ("day", date.to_string()),
                    ]) + "#times",
                }
            })
            .collect();
        let times: Vec<Value> = self
            .day
            .map(|day| {
                slots
                    .iter()
                    .filter(|slot| slot.local_start.date_naive() == day)
                    .map(|slot| {
                        context! {
                            label => format!("{} {}", slot.local_start.format("%H:%M"), slot.abbreviation),
                            with_name => self.show_names.then(|| clinic.practitioner_name(slot.practitioner_id.uuid())),
                            href => self.href(&[
                                ("week", self.week.to_string()),
                                ("day", day.to_string()),
                                ("with", slot.practitioner_id.uuid().to_string()),
                                ("start", slot.start.to_rfc3339()),
                            ]),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let previous = self.week - Duration::days(WEEK_DAYS);
        context! {
            week_label => format!(
                "{} to {}",
                self.week.format("%-d %B"),
                (self.week + Duration::days(WEEK_DAYS - 1)).format("%-d %B %Y")
            ),
            zone => self.zone.name(),
            days,
            day_label => self.day.map(|day| day.format("%A %-d %B").to_string()),
            times,
            previous => (self.week > self.today).then(|| {
                self.href(&[("week", previous.max(self.today).to_string())])
            }),
            next => self.href(&[("week", (self.week + Duration::days(WEEK_DAYS)).to_string())]),
        }
    }
}

/// The week to show: the one asked for, never before today on the location's clock.
fn week_of(asked: Option<NaiveDate>, today: NaiveDate) -> NaiveDate {
    asked.map_or(today, |week| week.max(today))
}

/// Other times the service offered instead, as links to confirm one.
fn suggestion_links(
    suggestions: &[SuggestedSlot],
    clinic: &Clinic,
    href: impl Fn(&SuggestedSlot) -> String,
) -> Vec<Value> {
    suggestions
        .iter()
        .filter_map(|slot| {
            let local = DateTime::parse_from_rfc3339(&slot.local_start).ok()?;
            Some(context! {
                label => format!(
                    "{} at {} {}",
                    local.format("%a %-d %b"),
                    local.format("%H:%M"),
                    slot.abbreviation
                ),
                with_name => clinic.practitioner_name(slot.practitioner_id),
                href => href(slot),
            })
        })
        .collect()
}

/// A refusal in the patient's words: the service's message, and what to do next.
struct Refusal {
    status: StatusCode,
    message: String,
    code: &'static str,
    next_slots: Vec<SuggestedSlot>,
}

impl Refusal {
    fn of(err: ApiError) -> Result<Self, poem::Error> {
        match err {
            ApiError::Refused {
                status,
                code,
                detail,
                next_slots,
            } => Ok(Self {
                status,
                message: detail,
                code,
                next_slots,
            }),
            ApiError::Conflict { code, detail } => Ok(Self {
                status: StatusCode::CONFLICT,
                message: detail,
                code,
                next_slots: Vec::new(),
            }),
            err @ (ApiError::Validation { .. } | ApiError::ValidationWithSafetyAdvice { .. }) => {
                let errors = FormErrors::from_api(&err, &[]);
                let message = errors
                    .general
                    .clone()
                    .or_else(|| errors.list.first().map(|problem| problem.message.clone()))
                    .unwrap_or_else(|| "That choice cannot be booked.".into());
                Ok(Self {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message,
                    code: "validation_failed",
                    next_slots: Vec::new(),
                })
            }
            other => Err(page_error(other)),
        }
    }

    /// What the page offers for this refusal: the questionnaire, waiting, other times.
    fn next_step(&self) -> &'static str {
        match self.code {
            "intake_required" | "intake_expired" => "intake",
            "intake_urgent_not_cleared" => "wait",
            "intake_emergency" => "emergency",
            "slot_taken" | "slot_not_offered" => "other_times",
            "inside_cancellation_window" | "already_started" | "illegal_transition" => "call",
            _ => "choose_again",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Booking
// ---------------------------------------------------------------------------------------------

/// What has been chosen so far, from the address: each step adds to it.
#[derive(Debug, Default, Deserialize)]
pub struct BookQuery {
    /// The front desk's patient (their booking pages only).
    pub(super) patient: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    location: Option<String>,
    /// A practitioner's id, or `any`.
    practitioner: Option<String>,
    week: Option<String>,
    day: Option<String>,
    /// The chosen time's practitioner (with "anyone", the one who offers it).
    with: Option<String>,
    start: Option<String>,
}

#[handler]
pub async fn book_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Query(query): Query<BookQuery>,
) -> poem::Result<Response> {
    booking_steps(&state, csrf, &caller, &Booker::SELF, query).await
}

/// The booking steps (what, where and with whom, a day and a time, confirm) for `booker`.
pub(super) async fn booking_steps(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    booker: &Booker,
    query: BookQuery,
) -> poem::Result<Response> {
    // A patient the intake check would refuse is told before choosing anything.
    if let Err(err) = booking::patient_gate(state, caller).await {
        let refusal = Refusal::of(err)?;
        return Ok(state.pages.render(
            refusal.status,
            "book.html",
            Frame::of(csrf, caller),
            context! {
                title => "Book an appointment",
                step => "refused",
                message => refusal.message.clone(),
                next_step => refusal.next_step(),
                clinic_phone => state.config.clinic_phone.clone(),
                call => call_the_clinic(state),
            },
        ));
    }
    let clinic = Clinic::load(state, caller).await?;
    let mut errors = FormErrors::default();
    let render = |status, page: Value, errors: &FormErrors| {
        state.pages.render(
            status,
            "book.html",
            Frame::of(csrf, caller),
            context! {
                title => booker.title(),
                book_path => booker.path,
                hidden => booker.keep(),
                errors => Value::from(minijinja::value::Serde(errors)),
                ..page
            },
        )
    };
    let bad = |errors: &FormErrors| {
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };

    // Step 1: what you need. Only types the clinic still offers are choices.
    let kind = parse_uuid(query.kind.as_deref())
        .and_then(|id| clinic.kind(id))
        .filter(|kind| kind.active);
    let Some(kind) = kind else {
        if query.kind.is_some() {
            errors.field("type", "Choose what you need from the list.");
        }
        let types: Vec<Value> = clinic
            .types
            .iter()
            .filter(|kind| kind.active)
            .map(|kind| {
                context! {
                    id => kind.id.to_string(),
                    href => booker.link(&[("type", kind.id.to_string())]),
                    name => kind.name.clone(),
                    minutes => kind.duration_minutes,
                    new_patient => kind.new_patient,
                }
            })
            .collect();
        return Ok(render(bad(&errors), context! { step => 1, types }, &errors));
    };
    let kind_id = kind.id.to_string();

    // Step 2: where and with whom.
    let location = parse_uuid(query.location.as_deref())
        .and_then(|id| clinic.location(id))
        .filter(|location| location.active);
    let practitioner_choice = query.practitioner.as_deref().map(str::trim);
    let practitioner = match practitioner_choice {
        Some("any") => Some(None),
        choice => parse_uuid(choice)
            .and_then(|id| clinic.practitioner(id))
            .filter(|person| person.active)
            .map(|person| Some(person.id)),
    };
    let (Some(location), Some(practitioner)) = (location, practitioner) else {
        if query.location.is_some() && location.is_none() {
            errors.field("location", "Choose a place from the list.");
        }
        if query.practitioner.is_some() && practitioner.is_none() {
            errors.field(
                "practitioner",
                "Choose who you would like to see, or anyone.",
            );
        }
        let locations: Vec<Value> = clinic
            .locations
            .iter()
            .filter(|location| location.active)
            .map(|location| {
                context! {
                    id => location.id.to_string(),
                    name => location.name.clone(),
                    address => location.address.clone(),
                    selected => query.location.as_deref() == Some(&location.id.to_string()),
                }
            })
            .collect();
        // Who practises what is the clinic's setup; the times offered are the service's.
        let people: Vec<Value> = clinic
            .practitioners
            .iter()
            .filter(|person| person.active && person.discipline == kind.discipline)
            .map(|person| {
                context! {
                    id => person.id.to_string(),
                    name => person.display_name.clone(),
                    selected => query.practitioner.as_deref() == Some(&person.id.to_string()),
                }
            })
            .collect();
        return Ok(render(
            bad(&errors),
            context! {
                step => 2,
                kind_id,
                kind_name => kind.name.clone(),
                locations,
                people,
                change_href => booker.link(&[]),
            },
            &errors,
        ));
    };
    let zone = zone_named(&location.time_zone);
    let practitioner_param = practitioner.map_or_else(|| "any".to_owned(), |id| id.to_string());
    let keep = vec![
        ("type", kind_id.clone()),
        ("location", location.id.to_string()),
        ("practitioner", practitioner_param.clone()),
    ];
    let summary = context! {
        kind_name => kind.name.clone(),
        minutes => kind.duration_minutes,
        location_name => location.name.clone(),
        location_address => location.address.clone(),
        change_where => booker.link(&[("type", kind_id.clone())]),
    };

    // Step 4: confirm the chosen time.
    if let (Some(with), Some(start)) = (
        parse_uuid(query.with.as_deref()).and_then(|id| clinic.practitioner(id)),
        parse_instant(query.start.as_deref()),
    ) {
        let clock = zone.wall_clock(start);
        return Ok(render(
            StatusCode::OK,
            context! {
                step => 4,
                when => long_time(clock.local, &clock.abbreviation),
                with_name => with.display_name.clone(),
                fields => [booker.keep(), vec![
                    ("type", kind_id.clone()),
                    ("location", location.id.to_string()),
                    ("practitioner", practitioner_param.clone()),
                    ("with", with.id.to_string()),
                    ("start", start.to_rfc3339()),
                    // A double submit of this form books once: the service replays the key.
                    ("idempotency_key", Uuid::now_v7().to_string()),
                ]].concat(),
                back => booker.link(&[keep.clone(), vec![
                    ("week", query.week.clone().unwrap_or_default()),
                    ("day", query.day.clone().unwrap_or_default()),
                ]].concat()),
                ..summary
            },
            &errors,
        ));
    }
    if query.start.is_some() || query.with.is_some() {
        errors.field(
            "times",
            "That time could not be read. Please choose a time from the list.",
        );
    }

    // Step 3: a day, then a time, a week at a time.
    let today = zone.local_date(state.clock.now());
    if query.week.is_some() && parse_date(query.week.as_deref()).is_none() {
        errors.field(
            "times",
            "That week could not be read. Showing this week instead.",
        );
    }
    if query.day.is_some() && parse_date(query.day.as_deref()).is_none() {
        errors.field(
            "times",
            "That day could not be read. Please choose a day from the list.",
        );
    }
    let week = week_of(parse_date(query.week.as_deref()), today);
    let day = parse_date(query.day.as_deref())
        .filter(|day| *day >= week && *day < week + Duration::days(WEEK_DAYS));
    let slots = match availability::find(
        state,
        caller,
        FindSlots {
            appointment_type_id: kind.id,
            from: week,
            to: week + Duration::days(WEEK_DAYS - 1),
            practitioner_id: practitioner,
            location_id: Some(location.id),
        },
    )
    .await
    {
        Ok(found) => found.slots,
        Err(err @ (ApiError::Validation { .. } | ApiError::Refused { .. })) => {
            let refused = FormErrors::from_api(&err, &[]);
            errors.general = refused
                .general
                .or_else(|| refused.list.first().map(|problem| problem.message.clone()));
            Vec::new()
        }
        Err(err) => return Err(page_error(err)),
    };
    let picker = Picker {
        path: booker.path,
        keep: [booker.keep(), keep].concat(),
        today,
        week,
        day,
        zone,
        show_names: practitioner.is_none(),
    };
    Ok(render(
        bad(&errors),
        context! {
            step => 3,
            with_name => practitioner.map(|id| clinic.practitioner_name(id)),
            picker => picker.view(&slots, &clinic),
            ..summary
        },
        &errors,
    ))
}

#[handler]
pub async fn book(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    form: FormData,
) -> poem::Result<Response> {
    submit_booking(&state, csrf, &caller, &Booker::SELF, &form).await
}

/// The intake check's refusals the front desk may book past, with a reason (the service
/// decides; this only says when to offer the form, and offers it again when the reason given
/// was refused: `override_reason_required`, `override_reason_too_long`).
const OVERRIDABLE: [&str; 2] = ["intake_required", "intake_expired"];

/// Books the confirmed time for `booker`. Refused: the gate's calm message and what to do, the
/// next free times for a taken one, and for the front desk past a missing or old intake, a
/// form to book anyway with a reason.
pub(super) async fn submit_booking(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    booker: &Booker,
    form: &FormData,
) -> poem::Result<Response> {
    let clinic = Clinic::load(state, caller).await?;
    let kind = parse_uuid(form.raw("type"));
    let location = parse_uuid(form.raw("location"));
    let with = parse_uuid(form.raw("with"));
    let start = parse_instant(form.raw("start"));
    let key = form.text("idempotency_key");
    let (Some(kind), Some(location), Some(with), Some(start), Some(key)) =
        (kind, location, with, start, key)
    else {
        let errors = FormErrors {
            general: Some(
                "Something was missing from the booking, so nothing was booked. Please choose \
                 the time again."
                    .into(),
            ),
            ..FormErrors::default()
        };
        return Ok(state.pages.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "book.html",
            Frame::of(csrf, caller),
            context! {
                title => booker.title(),
                book_path => booker.link(&[]),
                step => "refused",
                errors => Value::from(minijinja::value::Serde(&errors)),
                next_step => "choose_again",
            },
        ));
    };
    // As typed: a blank reason is the service's to refuse, in its words.
    let override_reason = booker
        .patient
        .is_some()
        .then(|| form.raw("override_reason").map(str::to_owned))
        .flatten();
    let booked = booking::book(
        state,
        caller,
        BookAppointment {
            patient_id: booker.patient.as_ref().map(|(id, _)| (*id).into()),
            practitioner_id: with.into(),
            location_id: location.into(),
            appointment_type_id: kind.into(),
            start,
            override_reason: override_reason.clone(),
            idempotency_key: key.clone(),
        },
    )
    .await;
    match booked {
        Ok(booked) => {
            let shown = &booked.appointment;
            let to = match booker.patient {
                None => format!("/appointments/{}?booked=1", shown.id),
                Some(_) => {
                    let date = DateTime::parse_from_rfc3339(&shown.local_start)
                        .map_or_else(|_| shown.start.date_naive(), |local| local.date_naive());
                    format!(
                        "/desk?date={date}&location={}&done=booked",
                        shown.location_id
                    )
                }
            };
            Ok(Redirect::see_other(to).into_response())
        }
        Err(err) => {
            let refusal = Refusal::of(err)?;
            let practitioner = form.text("practitioner").unwrap_or_else(|| "any".into());
            let other_times = suggestion_links(&refusal.next_slots, &clinic, |slot| {
                booker.link(&[
                    ("type", kind.to_string()),
                    ("location", slot.location_id.to_string()),
                    ("practitioner", practitioner.clone()),
                    ("with", slot.practitioner_id.to_string()),
                    ("start", slot.start.to_rfc3339()),
                ])
            });
            // The desk may book past a missing or old intake, giving the reason.
            let can_override = booker.patient.is_some()
                && (OVERRIDABLE.contains(&refusal.code)
                    || refusal.code.starts_with("override_reason"));
            let mut errors = FormErrors::default();
            if can_override && override_reason.is_some() {
                errors.field("override_reason", refusal.message.clone());
            }
            Ok(state.pages.render(
                refusal.status,
                "book.html",
                Frame::of(csrf, caller),
                context! {
                    title => "We could not book this time",
                    step => "refused",
                    book_path => booker.link(&[]),
                    message => refusal.message.clone(),
                    next_step => if can_override { "override" } else { refusal.next_step() },
                    clinic_phone => state.config.clinic_phone.clone(),
                    call => call_the_clinic(state),
                    other_times,
                    times_href => booker.link(&[
                        ("type", kind.to_string()),
                        ("location", location.to_string()),
                        ("practitioner", practitioner.clone()),
                    ]),
                    override_action => booker.path,
                    fields => [booker.keep(), vec![
                        ("type", kind.to_string()),
                        ("location", location.to_string()),
                        ("practitioner", practitioner.clone()),
                        ("with", with.to_string()),
                        ("start", start.to_rfc3339()),
                        ("idempotency_key", key),
                    ]].concat(),
                    override_reason => override_reason.unwrap_or_default(),
                    errors => Value::from(minijinja::value::Serde(&errors)),
                },
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// My appointments
// ---------------------------------------------------------------------------------------------

#[handler]
pub async fn list_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
) -> poem::Result<Response> {
    let record = patients::own(&state, &caller).await.map_err(page_error)?;
    let mut all = appointments::of_patient(&state, &caller, record.id)
        .await
        .map_err(page_error)?;
    let clinic = Clinic::load(&state, &caller).await?;
    let now = state.clock.now();
    all.sort_by_key(|shown| shown.start);
    // Still to come: booked or checked in and not over yet; everything else is history.
    let (upcoming, mut past): (Vec<_>, Vec<_>) = all.into_iter().partition(|shown| {
        matches!(
            shown.status,
            AppointmentStatus::Booked | AppointmentStatus::CheckedIn
        ) && shown.end > now
    });
    past.reverse();
    let describe = |list: Vec<Appointment>| -> Vec<Value> {
        list.iter().map(|shown| clinic.describe(shown)).collect()
    };
    Ok(state.pages.render(
        StatusCode::OK,
        "appointments.html",
        Frame::of(csrf, &caller),
        context! {
            title => "My appointments",
            upcoming => describe(upcoming),
            past => describe(past),
        },
    ))
}

/// The appointment named in the path, if it is the caller's (anything else is the 404 page).
async fn own_appointment(state: &AppState, caller: &Caller, id: &str) -> poem::Result<Appointment> {
    let id = Uuid::parse_str(id).map_err(|_| page_error(ApiError::NotFound))?;
    appointments::get(state, caller, id)
        .await
        .map_err(page_error)
}

/// What the patient may still do online, as the scheduling rules decide it now.
struct Allowed {
    reschedule: bool,
    cancel: bool,
    cancel_late: bool,
}

async fn allowed(state: &AppState, caller: &Caller, shown: &Appointment) -> poem::Result<Allowed> {
    let policies = availability::policies(&state.db)
        .await
        .map_err(page_error)?;
    let now = state.clock.now();
    let may_move =
        scheduling::check_reschedule(caller.actor(), shown.status, shown.start, now, &policies)
            .is_ok();
    // Asked with a placeholder reason: only whether (and how late) a cancellation would be.
    let cancelling = scheduling::cancel(
        caller.actor(),
        shown.status,
        shown.start,
        now,
        &policies,
        "asked by the page",
    );
    Ok(Allowed {
        reschedule: may_move,
        cancel: cancelling.is_ok(),
        cancel_late: cancelling.is_ok_and(|decided| decided.late),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    booked: Option<String>,
    moved: Option<String>,
    cancelled: Option<String>,
}

#[handler]
pub async fn detail_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> poem::Result<Response> {
    let shown = own_appointment(&state, &caller, &id).await?;
    let clinic = Clinic::load(&state, &caller).await?;
    let allowed = allowed(&state, &caller, &shown).await?;
    let done = if query.booked.is_some() {
        Some("Your appointment is booked")
    } else if query.moved.is_some() {
        Some("Your appointment has moved")
    } else if query.cancelled.is_some() {
        Some("Your appointment is cancelled")
    } else {
        None
    };
    Ok(state.pages.render(
        StatusCode::OK,
        "appointment.html",
        Frame::of(csrf, &caller),
        context! {
            title => done.unwrap_or("Your appointment"),
            done => done.is_some(),
            appointment => clinic.describe(&shown),
            can_reschedule => allowed.reschedule,
            can_cancel => allowed.cancel,
            upcoming => shown.status == AppointmentStatus::Booked,
            call => call_the_clinic(&state),
            clinic_phone => state.config.clinic_phone.clone(),
        },
    ))
}

#[handler]
pub async fn calendar_file(
    state: Data<&AppState>,
    _csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let shown = own_appointment(&state, &caller, &id).await?;
    let record = patients::own(&state, &caller).await.map_err(page_error)?;
    let clinic = Clinic::load(&state, &caller).await?;
    let kind = clinic
        .kind(shown.appointment_type_id)
        .map_or_else(|| "Appointment".to_owned(), |kind| kind.name.clone());
    let summary = format!(
        "{kind} with {}",
        clinic.practitioner_name(shown.practitioner_id)
    );
    let place = clinic
        .location(shown.location_id)
        .map_or_else(String::new, |location| {
            format!("{}, {}", location.name, location.address)
        });
    let organizer = &state.config.mail_from;
    let organizer_name = state.config.clinic_name();
    let organizer_email = organizer.email.to_string();
    let attendee_name = format!("{} {}", record.given_name, record.family_name);
    let attendee_email = record.email.clone().unwrap_or_default();
    let method = if shown.status == AppointmentStatus::Cancelled {
        CalendarMethod::Cancel
    } else {
        CalendarMethod::Request
    };
    // The same event as the emailed invitation (same UID and sequence), so importing both
    // leaves one entry.
    let invite = calendar::invite(
        &AppointmentEvent {
            appointment_id: shown.id,
            sequence: u32::try_from(shown.sequence).unwrap_or_default(),
            starts_at: shown.start,
            ends_at: shown.end,
            time_zone: zone_named(&shown.time_zone).tz(),
            summary: &summary,
            location: &place,
            organizer_name: &organizer_name,
            organizer_email: &organizer_email,
            attendee_name: &attendee_name,
            attendee_email: &attendee_email,
            stamped_at: state.clock.now(),
        },
        method,
    );
    Ok(Response::builder()
        .status(StatusCode::OK)
        .content_type(format!(
            "text/calendar; charset=utf-8; method={}",
            method.as_str()
        ))
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"appointment.ics\"",
        )
        .body(invite.ics))
}

// ---------------------------------------------------------------------------------------------
// Cancelling
// ---------------------------------------------------------------------------------------------

fn render_cancel(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    page: Value,
) -> Response {
    state.pages.render(
        status,
        "appointment_cancel.html",
        Frame::of(csrf, caller),
        context! { title => "Cancel your appointment", call => call_the_clinic(state), ..page },
    )
}

#[handler]
pub async fn cancel_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let shown = own_appointment(&state, &caller, &id).await?;
    let clinic = Clinic::load(&state, &caller).await?;
    let allowed = allowed(&state, &caller, &shown).await?;
    Ok(render_cancel(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        context! {
            appointment => clinic.describe(&shown),
            can_cancel => allowed.cancel,
            late => allowed.cancel_late,
        },
    ))
}

#[handler]
pub async fn cancel(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let shown = own_appointment(&state, &caller, &id).await?;
    let reason = form.text("reason").unwrap_or_default();
    match appointments::cancel(&state, &caller, shown.id, &reason).await {
        Ok(cancelled) => Ok(Redirect::see_other(format!(
            "/appointments/{}?cancelled=1",
            cancelled.id
        ))
        .into_response()),
        Err(err) => {
            let clinic = Clinic::load(&state, &caller).await?;
            let allowed = allowed(&state, &caller, &shown).await?;
            let (status, errors) = match &err {
                ApiError::Validation { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    FormErrors::from_api(&err, &[]),
                ),
                ApiError::Conflict { .. } | ApiError::Refused { .. } => {
                    (err.status(), FormErrors::from_api(&err, &[]))
                }
                _ => return Err(page_error(err)),
            };
            Ok(render_cancel(
                &state,
                csrf,
                &caller,
                status,
                context! {
                    appointment => clinic.describe(&shown),
                    can_cancel => allowed.cancel,
                    late => allowed.cancel_late,
                    errors => Value::from(minijinja::value::Serde(&errors)),
                    reason,
                },
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rescheduling
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct RescheduleQuery {
    week: Option<String>,
    day: Option<String>,
    start: Option<String>,
}

#[handler]
pub async fn reschedule_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<String>,
    Query(query): Query<RescheduleQuery>,
) -> poem::Result<Response> {
    let shown = own_appointment(&state, &caller, &id).await?;
    let clinic = Clinic::load(&state, &caller).await?;
    let allowed = allowed(&state, &caller, &shown).await?;
    let path = format!("/appointments/{}/reschedule", shown.id);
    let mut errors = FormErrors::default();
    let base = context! {
        title => "Move your appointment",
        appointment => clinic.describe(&shown),
        call => call_the_clinic(&state),
        clinic_phone => state.config.clinic_phone.clone(),
    };
    if !allowed.reschedule {
        return Ok(state.pages.render(
            StatusCode::OK,
            "appointment_reschedule.html",
            Frame::of(csrf, &caller),
            context! { step => "not_allowed", ..base },
        ));
    }
    let zone = zone_named(&shown.time_zone);
    if let Some(start) = parse_instant(query.start.as_deref()) {
        let clock = zone.wall_clock(start);
        return Ok(state.pages.render(
            StatusCode::OK,
            "appointment_reschedule.html",
            Frame::of(csrf, &caller),
            context! {
                step => "confirm",
                when => long_time(clock.local, &clock.abbreviation),
                start => start.to_rfc3339(),
                path => path.clone(),
                back => link(&path, &[
                    ("week", query.week.clone().unwrap_or_default()),
                    ("day", query.day.clone().unwrap_or_default()),
                ]),
                ..base
            },
        ));
    }
    if query.start.is_some() {
        errors.field(
            "times",
            "That time could not be read. Please choose a time from the list.",
        );
    }
    if query.week.is_some() && parse_date(query.week.as_deref()).is_none() {
        errors.field(
            "times",
            "That week could not be read. Showing this week instead.",
        );
    }
    let today = zone.local_date(state.clock.now());
    let week = week_of(parse_date(query.week.as_deref()), today);
    let day = parse_date(query.day.as_deref())
        .filter(|day| *day >= week && *day < week + Duration::days(WEEK_DAYS));
    let slots = availability::find(
        &state,
        &caller,
        FindSlots {
            appointment_type_id: shown.appointment_type_id,
            from: week,
            to: week + Duration::days(WEEK_DAYS - 1),
            practitioner_id: Some(shown.practitioner_id),
            location_id: Some(shown.location_id),
        },
    )
    .await
    .map_err(page_error)?
    .slots;
    let picker = Picker {
        path: &path,
        keep: Vec::new(),
        today,
        week,
        day,
        zone,
        show_names: false,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(state.pages.render(
        status,
        "appointment_reschedule.html",
        Frame::of(csrf, &caller),
        context! {
            step => "pick",
            picker => picker.view(&slots, &clinic),
            errors => Value::from(minijinja::value::Serde(&errors)),
            ..base
        },
    ))
}

#[handler]
pub async fn reschedule(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedInPatient(caller): SignedInPatient,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let shown = own_appointment(&state, &caller, &id).await?;
    let path = format!("/appointments/{}/reschedule", shown.id);
    let Some(start) = parse_instant(form.raw("start")) else {
        return Ok(Redirect::see_other(path).into_response());
    };
    let moved = appointments::reschedule(
        &state,
        &caller,
        Reschedule {
            id: shown.id,
            start,
            practitioner_id: None,
            location_id: None,
        },
    )
    .await;
    match moved {
        Ok(moved) => {
            Ok(Redirect::see_other(format!("/appointments/{}?moved=1", moved.id)).into_response())
        }
        Err(err) => {
            let mut refusal = Refusal::of(err)?;
            // A move keeps its place: times elsewhere would be refused in turn.
            refusal
                .next_slots
                .retain(|slot| slot.location_id == shown.location_id);
            let clinic = Clinic::load(&state, &caller).await?;
            let other_times = suggestion_links(&refusal.next_slots, &clinic, |slot| {
                link(&path, &[("start", slot.start.to_rfc3339())])
            });
            Ok(state.pages.render(
                refusal.status,
                "appointment_reschedule.html",
                Frame::of(csrf, &caller),
                context! {
                    title => "We could not move your appointment",
                    step => "refused",
                    appointment => clinic.describe(&shown),
                    message => refusal.message.clone(),
                    next_step => refusal.next_step(),
                    other_times,
                    path,
                    call => call_the_clinic(&state),
                    clinic_phone => state.config.clinic_phone.clone(),
                },
            ))
        }
    }
}
