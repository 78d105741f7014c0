//! A practitioner's own schedule: their appointments of one day with the patients' and
//! appointment types' names, and their own calendar feed link. It reads and writes through the
//! same use cases as the API (`appointments::day`, `practitioners::issue_calendar_token` and
//! `revoke_calendar_token`, scoped and audited there); it only finds the caller's own
//! practitioner record and adds the names a person reads.

use std::collections::HashMap;

use chrono::NaiveDate;
use entity::practitioner;
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    scheduling::AppointmentStatus,
    service::{
        Caller,
        access::PRACTITIONER,
        appointments::{self, Appointment, DayOf},
        clinic,
        practitioners::{self, CalendarToken},
    },
    store,
};

/// One of the practitioner's appointments, with names rather than ids.
#[derive(Debug, Clone)]
pub struct ScheduledVisit {
    pub appointment: Appointment,
    pub patient_name: String,
    pub type_name: String,
    pub location_name: String,
}

/// The practitioner's day, on the clinic's clock.
#[derive(Debug, Clone)]
pub struct MyDay {
    pub date: NaiveDate,
    pub practitioner_name: String,
    /// By start; cancelled appointments are left out.
    pub visits: Vec<ScheduledVisit>,
    /// Whether a calendar feed link is live (only its hash is stored, so it cannot be shown
    /// again).
    pub feed_link: bool,
}

/// The caller's own bookable practitioner record, if their account has one.
async fn own(state: &AppState, caller: &Caller) -> ApiResult<Option<practitioner::Model>> {
    caller.require(state, PRACTITIONER).await?;
    Ok(store::practitioners::find_by_user(&state.db, caller.user_id()).await?)
}

/// The caller's appointments on `date`; `None` when their account is not (yet) a bookable
/// practitioner, so there is no schedule to show.
#[tracing::instrument(name = "service.schedule.my_day", skip_all)]
pub async fn my_day(
    state: &AppState,
    caller: &Caller,
    date: NaiveDate,
) -> ApiResult<Option<MyDay>> {
    let Some(me) = own(state, caller).await? else {
        return Ok(None);
    };
    let listed = appointments::day(state, caller, date, DayOf::Practitioner(me.id)).await?;
    let types: HashMap<Uuid, String> = clinic::appointment_types(state, caller)
        .await?
        .into_iter()
        .map(|kind| (kind.id, kind.name))
        .collect();
    let places: HashMap<Uuid, String> = clinic::locations(state, caller)
        .await?
        .into_iter()
        .map(|place| (place.id, place.name))
        .collect();
    let patient_ids: Vec<Uuid> = listed.iter().map(|visit| visit.patient_id).collect();
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
    let mut visits: Vec<ScheduledVisit> = listed
        .into_iter()
        .filter(|appointment| appointment.status != AppointmentStatus::Cancelled)
        .map(|appointment| ScheduledVisit {
            patient_name: names
                .get(&appointment.patient_id)
                .cloned()
                .unwrap_or_default(),
            type_name: types
                .get(&appointment.appointment_type_id)
                .cloned()
                .unwrap_or_default(),
            location_name: places
                .get(&appointment.location_id)
                .cloned()
                .unwrap_or_default(),
            appointment,
        })
        .collect();
    visits.sort_by_key(|visit| visit.appointment.start);
    Ok(Some(MyDay {
        date,
        practitioner_name: me.display_name,
        visits,
        feed_link: me.calendar_token_hash.is_some(),
    }))
}

/// A new calendar feed link for the caller's own calendar (the previous one stops working).
#[tracing::instrument(name = "service.schedule.issue_my_calendar_token", skip_all)]
pub async fn issue_my_calendar_token(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<CalendarToken> {
    let me = own(state, caller).await?.ok_or(ApiError::NotFound)?;
    practitioners::issue_calendar_token(state, caller, me.id).await
}

/// Revokes the caller's own calendar feed link.
#[tracing::instrument(name = "service.schedule.revoke_my_calendar_token", skip_all)]
pub async fn revoke_my_calendar_token(state: &AppState, caller: &Caller) -> ApiResult<()> {
    let me = own(state, caller).await?.ok_or(ApiError::NotFound)?;
    practitioners::revoke_calendar_token(state, caller, me.id).await
}
