//! Appointments as the API shows them, and the lists: a day's, and a patient's.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    api::{ApiTags, caller},
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    scheduling::AppointmentStatus,
    service::appointments::{self, Appointment},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AppointmentStatusView {
    Booked,
    CheckedIn,
    Completed,
    NoShow,
    Cancelled,
}

impl From<AppointmentStatus> for AppointmentStatusView {
    fn from(status: AppointmentStatus) -> Self {
        match status {
            AppointmentStatus::Booked => Self::Booked,
            AppointmentStatus::CheckedIn => Self::CheckedIn,
            AppointmentStatus::Completed => Self::Completed,
            AppointmentStatus::NoShow => Self::NoShow,
            AppointmentStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// An appointment as the API shows it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Appointment")]
pub struct AppointmentView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The start on the location's clock, with its UTC offset (RFC 3339).
    pub local_start: String,
    pub time_zone: String,
    pub abbreviation: String,
    pub status: AppointmentStatusView,
    /// Raised by every change; the calendar invite's SEQUENCE.
    pub sequence: i32,
    #[oai(skip_serializing_if_is_none)]
    pub cancel_reason: Option<String>,
    /// Cancelled inside the clinic's cancellation window.
    pub cancelled_late: bool,
    /// Booked by the front desk although the intake check refused (the reason is audited).
    pub intake_check_overridden: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Appointment> for AppointmentView {
    fn from(shown: Appointment) -> Self {
        Self {
            id: shown.id,
            patient_id: shown.patient_id,
            practitioner_id: shown.practitioner_id,
            location_id: shown.location_id,
            appointment_type_id: shown.appointment_type_id,
            start: shown.start,
            end: shown.end,
            local_start: shown.local_start,
            time_zone: shown.time_zone,
            abbreviation: shown.abbreviation,
            status: shown.status.into(),
            sequence: shown.sequence,
            cancel_reason: shown.cancel_reason,
            cancelled_late: shown.cancelled_late,
            intake_check_overridden: shown.intake_check_overridden,
            created_at: shown.created_at,
            updated_at: shown.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct AppointmentList {
    pub appointments: Vec<AppointmentView>,
}

impl From<Vec<Appointment>> for AppointmentList {
    fn from(shown: Vec<Appointment>) -> Self {
        Self {
            appointments: shown.into_iter().map(AppointmentView::from).collect(),
        }
    }
}

pub struct AppointmentViewsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Scheduling")]
impl AppointmentViewsApi {
    /// One appointment. Patients see only their own.
    #[oai(
        path = "/appointments/:id",
        method = "get",
        operation_id = "getAppointment"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        let shown = appointments::get(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(shown.into()))
    }

    /// A patient's appointments, past and future (at most 500, by start). Patients see only
    /// their own.
    #[oai(
        path = "/patients/:id/appointments",
        method = "get",
        operation_id = "listPatientAppointments"
    )]
    async fn patient_appointments(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentList>> {
        let shown = appointments::of_patient(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(shown.into()))
    }
}
