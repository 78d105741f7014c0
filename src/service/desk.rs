//! The front desk's day: every location's appointments of one date (or one location's), each
//! practitioner a column, with the patients' names and the appointment types' names rather
//! than ids. It reads through the same use cases as the API (`appointments::day`, scoped and
//! audited there) and adds only the names a person reads.

use std::collections::HashMap;

use chrono::NaiveDate;
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    scheduling::{AppointmentStatus, Zone},
    service::{
        Caller,
        access::FRONT_DESK,
        appointments::{self, Appointment, DayOf},
        clinic::{self, Location},
        patients::{self, Patient},
        practitioners,
    },
    store,
};

/// One appointment as the desk's day shows it.
#[derive(Debug, Clone)]
pub struct DeskAppointment {
    pub appointment: Appointment,
    pub patient_name: String,
    pub type_name: String,
}

/// A practitioner's column: their appointments at the location that day, by start.
#[derive(Debug, Clone)]
pub struct Column {
    pub practitioner_id: Uuid,
    pub practitioner_name: String,
    pub appointments: Vec<DeskAppointment>,
}

/// One location's day.
#[derive(Debug, Clone)]
pub struct LocationDay {
    pub location: Location,
    pub zone: Zone,
    pub columns: Vec<Column>,
}

/// The clinic's day, location by location.
#[derive(Debug, Clone)]
pub struct DeskDay {
    pub date: NaiveDate,
    pub locations: Vec<LocationDay>,
    /// Every active location, for choosing one.
    pub all_locations: Vec<Location>,
}

/// The day at every active location (and any other with appointments that day), or at
/// `only` (which may be inactive: its history stays readable). Columns are the practitioners who work there and anyone else with an
/// appointment there that day; cancelled appointments are left out.
#[tracing::instrument(name = "service.desk.day", skip_all)]
pub async fn day(
    state: &AppState,
    caller: &Caller,
    date: NaiveDate,
    only: Option<Uuid>,
) -> ApiResult<DeskDay> {
    caller.require(state, FRONT_DESK).await?;
    let all = clinic::locations(state, caller).await?;
    let people = practitioners::list(state, caller).await?;
    let types: HashMap<Uuid, String> = clinic::appointment_types(state, caller)
        .await?
        .into_iter()
        .map(|kind| (kind.id, kind.name))
        .collect();

    // One read: the whole clinic's day (each appointment on its own location's date), or the
    // one location's.
    let of = match only {
        Some(id) => DayOf::Location(id),
        None => DayOf::Clinic,
    };
    let mut listed = appointments::day(state, caller, date, of).await?;
    // A location closed since keeps its history: shown when it has appointments that day.
    let chosen: Vec<Location> = match only {
        Some(id) => vec![
            all.iter()
                .find(|location| location.id == id)
                .cloned()
                .ok_or_else(|| ApiError::unknown_field("location", "There is no such location."))?,
        ],
        None => all
            .iter()
            .filter(|location| {
                location.active
                    || listed
                        .iter()
                        .any(|appointment| appointment.location_id == location.id)
            })
            .cloned()
            .collect(),
    };
    let days: Vec<(Location, Vec<Appointment>)> = chosen
        .into_iter()
        .map(|location| {
            let here;
            (here, listed) = listed
                .drain(..)
                .partition(|appointment| appointment.location_id == location.id);
            (location, here)
        })
        .collect();
    // One query for every patient of the day.
    let patient_ids: Vec<Uuid> = days
        .iter()
        .flat_map(|(_, listed)| listed.iter().map(|appointment| appointment.patient_id))
        .collect();
    let names: HashMap<Uuid, String> = store::patients::find_many(&state.db, patient_ids)
        .await?
        .into_iter()
        .map(|record| {
            (
                record.id,
                format!("{} {}", record.given_name, record.family_name),
            )
        })
        .collect();

    let locations = days
        .into_iter()
        .map(|(location, listed)| {
            let zone =
                Zone::parse(&location.time_zone).unwrap_or_else(|_| Zone::from_tz(chrono_tz::UTC));
            let mut columns: Vec<Column> = people
                .iter()
                .filter(|person| {
                    (person.active && person.location_ids.contains(&location.id))
                        || listed
                            .iter()
                            .any(|appointment| appointment.practitioner_id == person.id)
                })
                .map(|person| Column {
                    practitioner_id: person.id,
                    practitioner_name: person.display_name.clone(),
                    appointments: Vec::new(),
                })
                .collect();
            for appointment in listed {
                if appointment.status == AppointmentStatus::Cancelled {
                    continue;
                }
                let Some(column) = columns
                    .iter_mut()
                    .find(|column| column.practitioner_id == appointment.practitioner_id)
                else {
                    continue;
                };
                column.appointments.push(DeskAppointment {
                    patient_name: names
                        .get(&appointment.patient_id)
                        .cloned()
                        .unwrap_or_default(),
                    type_name: types
                        .get(&appointment.appointment_type_id)
                        .cloned()
                        .unwrap_or_default(),
                    appointment,
                });
            }
            for column in &mut columns {
                column
                    .appointments
                    .sort_by_key(|shown| shown.appointment.start);
            }
            columns.sort_by(|a, b| a.practitioner_name.cmp(&b.practitioner_name));
            LocationDay {
                location,
                zone,
                columns,
            }
        })
        .collect();
    Ok(DeskDay {
        date,
        locations,
        all_locations: all.into_iter().filter(|location| location.active).collect(),
    })
}

/// A patient's record for the front desk's pages (their details, booking for them): the desk
/// only, as `patients::get` reads it (scoped and audited there).
#[tracing::instrument(name = "service.desk.patient", skip_all)]
pub async fn patient(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Patient> {
    caller.require(state, FRONT_DESK).await?;
    patients::get(state, caller, id).await
}
