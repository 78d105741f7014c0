//! Clinic setup: locations, appointment types and the booking policies. The front desk and
//! admins set them up; everyone signed in reads them (patients need them to book). Every value
//! is checked by the pure `scheduling` module before anything is stored.

use chrono::{DateTime, Utc};
use entity::{appointment_type, location, practitioner};
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    scheduling::{
        self, AppointmentTypeInput, ClinicPolicies, ClinicPoliciesInput, Discipline,
        ValidationCode, ValidationError, ValidationErrors, Zone,
    },
    service::{
        Caller, Work,
        access::{CLINIC_SETUP, EVERYONE},
        availability::{self, discipline_of},
    },
    store::clinic as stored,
};

/// A place the clinic works at; working hours there are local to its zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    /// IANA zone name.
    pub time_zone: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<location::Model> for Location {
    fn from(row: location::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            address: row.address,
            time_zone: row.time_zone,
            active: row.active,
            created_at: row.created_at,
        }
    }
}

/// A location to add. Names are trimmed; the zone must be an IANA name.
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub name: String,
    pub address: String,
    pub time_zone: String,
}

/// Adds a location (front desk, admins).
#[tracing::instrument(name = "service.clinic.create_location", skip_all)]
pub async fn create_location(
    state: &AppState,
    caller: &Caller,
    command: NewLocation,
) -> ApiResult<Location> {
    caller.require(state, CLINIC_SETUP).await?;
    let mut problems = location_text_problems(Some(&command.name), Some(&command.address));
    let zone = Zone::parse(command.time_zone.trim())
        .map_err(|error| problems.push(error.for_field("time_zone")))
        .ok();
    let Some(zone) = zone.filter(|_| problems.is_empty()) else {
        return Err(problems.into());
    };
    let work = Work::begin(state, caller).await?;
    let created = stored::create_location(
        work.db(),
        work.now(),
        command.name.trim().to_owned(),
        command.address.trim().to_owned(),
        zone.name().to_owned(),
    )
    .await?;
    work.commit().await?;
    Ok(created.into())
}

/// Changes to a location; what is not given stays. Deactivating keeps its history: its
/// appointments stay and show, but nothing there is offered or booked any more.
#[derive(Debug, Clone, Default)]
pub struct LocationUpdate {
    pub name: Option<String>,
    pub address: Option<String>,
    pub active: Option<bool>,
}

/// Edits, deactivates or reactivates a location (front desk, admins); a 404 if there is none.
#[tracing::instrument(name = "service.clinic.update_location", skip_all)]
pub async fn update_location(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    command: LocationUpdate,
) -> ApiResult<Location> {
    caller.require(state, CLINIC_SETUP).await?;
    let problems = location_text_problems(command.name.as_deref(), command.address.as_deref());
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let work = Work::begin(state, caller).await?;
    let updated = stored::update_location(
        work.db(),
        work.now(),
        id,
        stored::LocationChanges {
            name: command.name.map(|name| name.trim().to_owned()),
            address: command.address.map(|address| address.trim().to_owned()),
            active: command.active,
        },
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    work.commit().await?;
    Ok(updated.into())
}

/// A location's name and address as given (`None`: not being changed): each must say
/// something and fit (the JSON edge checks the same; the pages rely on this).
fn location_text_problems(name: Option<&str>, address: Option<&str>) -> ValidationErrors {
    let mut problems = ValidationErrors::default();
    for (field, value, max_chars) in [("name", name, 200), ("address", address, 500)] {
        let Some(value) = value.map(str::trim) else {
            continue;
        };
        if value.is_empty() {
            problems.push(ValidationError::new(
                field,
                ValidationCode::Required,
                "must not be empty",
            ));
        } else if value.chars().count() > max_chars {
            problems.push(ValidationError::new(
                field,
                ValidationCode::TooLong,
                format!("must be at most {max_chars} characters"),
            ));
        }
    }
    problems
}

/// The clinic's locations, by name.
#[tracing::instrument(name = "service.clinic.locations", skip_all)]
pub async fn locations(state: &AppState, caller: &Caller) -> ApiResult<Vec<Location>> {
    caller.require(state, EVERYONE).await?;
    let rows = stored::locations(&state.db).await?;
    Ok(rows.into_iter().map(Location::from).collect())
}

/// A kind of appointment: its discipline, length and the time kept free after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentType {
    pub id: Uuid,
    pub name: String,
    pub discipline: Discipline,
    pub duration_minutes: i32,
    pub buffer_after_minutes: i32,
    pub new_patient: bool,
    pub active: bool,
}

impl From<appointment_type::Model> for AppointmentType {
    fn from(row: appointment_type::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            discipline: discipline_of(row.discipline),
            duration_minutes: row.duration_minutes,
            buffer_after_minutes: row.buffer_after_minutes,
            new_patient: row.new_patient,
            active: row.active,
        }
    }
}

/// An appointment type to add; it starts active.
#[derive(Debug, Clone)]
pub struct NewAppointmentType {
    pub name: String,
    pub discipline: Discipline,
    pub duration_minutes: i32,
    pub buffer_after_minutes: i32,
    pub new_patient: bool,
}

/// Adds an appointment type (front desk, admins). Its duration must sit on the slot grid.
#[tracing::instrument(name = "service.clinic.create_appointment_type", skip_all)]
pub async fn create_appointment_type(
    state: &AppState,
    caller: &Caller,
    command: NewAppointmentType,
) -> ApiResult<AppointmentType> {
    caller.require(state, CLINIC_SETUP).await?;
    let policies = availability::policies(&state.db).await?;
    let name = command.name.trim().to_owned();
    scheduling::AppointmentType::new(
        AppointmentTypeInput {
            name: name.clone(),
            discipline: command.discipline,
            duration_minutes: i64::from(command.duration_minutes),
            buffer_after_minutes: i64::from(command.buffer_after_minutes),
            new_patient: command.new_patient,
            active: true,
        },
        policies.slot_grid(),
    )?;
    let work = Work::begin(state, caller).await?;
    let created = stored::create_appointment_type(
        work.db(),
        work.now(),
        stored::NewAppointmentType {
            name,
            discipline: stored_discipline(command.discipline),
            duration_minutes: command.duration_minutes,
            buffer_after_minutes: command.buffer_after_minutes,
            new_patient: command.new_patient,
            active: true,
        },
    )
    .await?;
    work.commit().await?;
    Ok(created.into())
}

/// Changes to an appointment type; what is not given stays. Deactivating keeps its history:
/// its appointments stay and show, but it is not offered or booked any more.
#[derive(Debug, Clone, Default)]
pub struct AppointmentTypeUpdate {
    pub name: Option<String>,
    pub duration_minutes: Option<i32>,
    pub buffer_after_minutes: Option<i32>,
    pub new_patient: Option<bool>,
    pub active: Option<bool>,
}

/// Edits, deactivates or reactivates an appointment type (front desk, admins); a 404 if there
/// is none. The type as changed is checked as a new one is (its duration on the slot grid),
/// unless only whether it is offered changes: a type the grid left behind can still be retired.
#[tracing::instrument(name = "service.clinic.update_appointment_type", skip_all)]
pub async fn update_appointment_type(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    command: AppointmentTypeUpdate,
) -> ApiResult<AppointmentType> {
    caller.require(state, CLINIC_SETUP).await?;
    let existing = crate::store::appointments::find_type(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let name = command.name.map(|name| name.trim().to_owned());
    let reshaped = name.is_some()
        || command.duration_minutes.is_some()
        || command.buffer_after_minutes.is_some();
    if reshaped {
        let policies = availability::policies(&state.db).await?;
        scheduling::AppointmentType::new(
            AppointmentTypeInput {
                name: name.clone().unwrap_or_else(|| existing.name.clone()),
                discipline: discipline_of(existing.discipline),
                duration_minutes: i64::from(
                    command
                        .duration_minutes
                        .unwrap_or(existing.duration_minutes),
                ),
                buffer_after_minutes: i64::from(
                    command
                        .buffer_after_minutes
                        .unwrap_or(existing.buffer_after_minutes),
                ),
                new_patient: command.new_patient.unwrap_or(existing.new_patient),
                active: command.active.unwrap_or(existing.active),
            },
            policies.slot_grid(),
        )?;
    }
    let work = Work::begin(state, caller).await?;
    let updated = stored::update_appointment_type(
        work.db(),
        work.now(),
        id,
        stored::AppointmentTypeChanges {
            name,
            duration_minutes: command.duration_minutes,
            buffer_after_minutes: command.buffer_after_minutes,
            new_patient: command.new_patient,
            active: command.active,
        },
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    work.commit().await?;
    Ok(updated.into())
}

/// The appointment types, by discipline and name.
#[tracing::instrument(name = "service.clinic.appointment_types", skip_all)]
pub async fn appointment_types(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<Vec<AppointmentType>> {
    caller.require(state, EVERYONE).await?;
    let rows = stored::appointment_types(&state.db).await?;
    Ok(rows.into_iter().map(AppointmentType::from).collect())
}

/// The booking policies as stored (the defaults until someone sets them).
#[tracing::instrument(name = "service.clinic.policies", skip_all)]
pub async fn policies(state: &AppState, caller: &Caller) -> ApiResult<ClinicPoliciesInput> {
    caller.require(state, EVERYONE).await?;
    Ok(stored::policies(&state.db).await?)
}

/// Replaces the booking policies (front desk, admins); every problem is listed at once.
#[tracing::instrument(name = "service.clinic.set_policies", skip_all)]
pub async fn set_policies(
    state: &AppState,
    caller: &Caller,
    input: ClinicPoliciesInput,
) -> ApiResult<ClinicPoliciesInput> {
    caller.require(state, CLINIC_SETUP).await?;
    let validated = ClinicPolicies::new(input)?;
    let work = Work::begin(state, caller).await?;
    stored::save_policies(work.db(), work.now(), validated.to_input()).await?;
    work.commit().await?;
    Ok(validated.to_input())
}

/// Everything the clinic settings pages show.
#[derive(Debug, Clone)]
pub struct Setup {
    pub locations: Vec<Location>,
    pub appointment_types: Vec<AppointmentType>,
    pub practitioners: Vec<crate::service::practitioners::Practitioner>,
    pub policies: ClinicPoliciesInput,
}

/// The clinic's settings for those who keep them (front desk, admins). The lists alone are
/// for everyone; this is the settings pages' read, so only their users pass.
#[tracing::instrument(name = "service.clinic.setup", skip_all)]
pub async fn setup(state: &AppState, caller: &Caller) -> ApiResult<Setup> {
    caller.require(state, CLINIC_SETUP).await?;
    Ok(Setup {
        locations: locations(state, caller).await?,
        appointment_types: appointment_types(state, caller).await?,
        practitioners: crate::service::practitioners::list(state, caller).await?,
        policies: stored::policies(&state.db).await?,
    })
}

/// The discipline as stored (the inverse of [`availability::discipline_of`]).
pub fn stored_discipline(discipline: Discipline) -> practitioner::Discipline {
    match discipline {
        Discipline::Chiropractic => practitioner::Discipline::Chiropractic,
        Discipline::Physiotherapy => practitioner::Discipline::Physiotherapy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disciplines_are_stored_as_they_are_read() {
        for discipline in [Discipline::Chiropractic, Discipline::Physiotherapy] {
            assert_eq!(discipline_of(stored_discipline(discipline)), discipline);
        }
    }
}
