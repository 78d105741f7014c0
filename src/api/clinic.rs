//! Clinic setup: `/api/v1/locations`, `/api/v1/appointment-types` and
//! `/api/v1/clinic/policies`. The front desk and admins set them up; every signed-in user reads
//! them (patients need them to book). Each handler turns the request into a command for
//! `service::clinic` and its outcome into the response.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags, caller,
        types::{NonBlank, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    scheduling::{ClinicPoliciesInput, Discipline},
    service::clinic::{
        self, AppointmentType, AppointmentTypeUpdate, Location, LocationUpdate, NewAppointmentType,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DisciplineView {
    Chiropractic,
    Physiotherapy,
}

impl From<DisciplineView> for Discipline {
    fn from(discipline: DisciplineView) -> Self {
        match discipline {
            DisciplineView::Chiropractic => Self::Chiropractic,
            DisciplineView::Physiotherapy => Self::Physiotherapy,
        }
    }
}

impl From<Discipline> for DisciplineView {
    fn from(discipline: Discipline) -> Self {
        match discipline {
            Discipline::Chiropractic => Self::Chiropractic,
            Discipline::Physiotherapy => Self::Physiotherapy,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewLocation {
    pub name: NonBlank<200>,
    pub address: NonBlank<500>,
    /// IANA time zone, e.g. `Europe/London`; working hours here are local to it.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub time_zone: Text,
}

/// Changes to a location; absent or null fields stay as they are. Its time zone cannot change
/// (working hours and booked visits are read in it): add a new location instead.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LocationChanges {
    #[oai(nullable)]
    pub name: Option<NonBlank<200>>,
    #[oai(nullable)]
    pub address: Option<NonBlank<500>>,
    /// `false` deactivates it: nothing there is offered or booked any more, while its
    /// appointments stay and show. `true` makes it bookable again.
    #[oai(nullable)]
    pub active: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(rename = "Location")]
pub struct LocationView {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub time_zone: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Location> for LocationView {
    fn from(row: Location) -> Self {
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

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewAppointmentTypeRequest {
    pub name: NonBlank<200>,
    pub discipline: DisciplineView,
    /// On the clinic's slot grid.
    #[oai(validator(minimum(value = "1"), maximum(value = "480")))]
    pub duration_minutes: i32,
    /// Time the practitioner needs after it.
    #[oai(validator(minimum(value = "0"), maximum(value = "120")))]
    pub buffer_after_minutes: i32,
    /// For patients new to the discipline.
    pub new_patient: bool,
}

/// Changes to an appointment type; absent or null fields stay as they are. Its discipline cannot
/// change. Booked visits keep the length they were booked with.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AppointmentTypeChanges {
    #[oai(nullable)]
    pub name: Option<NonBlank<200>>,
    /// On the clinic's slot grid.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "480")))]
    pub duration_minutes: Option<i32>,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "120")))]
    pub buffer_after_minutes: Option<i32>,
    #[oai(nullable)]
    pub new_patient: Option<bool>,
    /// `false` deactivates it: it is not offered or booked any more, while its appointments
    /// stay and show. `true` offers it again.
    #[oai(nullable)]
    pub active: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(rename = "AppointmentType")]
pub struct AppointmentTypeView {
    pub id: Uuid,
    pub name: String,
    pub discipline: DisciplineView,
    pub duration_minutes: i32,
    pub buffer_after_minutes: i32,
    pub new_patient: bool,
    pub active: bool,
}

impl From<AppointmentType> for AppointmentTypeView {
    fn from(row: AppointmentType) -> Self {
        Self {
            id: row.id,
            name: row.name,
            discipline: row.discipline.into(),
            duration_minutes: row.duration_minutes,
            buffer_after_minutes: row.buffer_after_minutes,
            new_patient: row.new_patient,
            active: row.active,
        }
    }
}

/// The clinic's booking policies.
#[derive(Debug, Object)]
#[oai(rename = "ClinicPolicies")]
pub struct PoliciesView {
    /// 5, 10, 15, 20, 30 or 60: appointment starts and durations sit on this grid.
    pub slot_grid_minutes: i64,
    /// How long before a start a patient can still book online.
    pub min_notice_minutes: i64,
    /// How far ahead anyone can book.
    pub horizon_days: i64,
    /// Inside this before the start, patients cannot reschedule and cancellations are late.
    pub cancellation_window_minutes: i64,
    /// When the reminder email goes out, before the start.
    pub reminder_lead_minutes: i64,
    /// When the follow-up questionnaire goes out after a completed visit.
    pub follow_up_delay_days: i64,
}

impl From<ClinicPoliciesInput> for PoliciesView {
    fn from(input: ClinicPoliciesInput) -> Self {
        Self {
            slot_grid_minutes: input.slot_grid_minutes,
            min_notice_minutes: input.min_notice_minutes,
            horizon_days: input.horizon_days,
            cancellation_window_minutes: input.cancellation_window_minutes,
            reminder_lead_minutes: input.reminder_lead_minutes,
            follow_up_delay_days: input.follow_up_delay_days,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "ClinicPoliciesUpdate", deny_unknown_fields)]
pub struct PoliciesRequest {
    #[oai(validator(minimum(value = "5"), maximum(value = "60")))]
    pub slot_grid_minutes: i64,
    #[oai(validator(minimum(value = "0"), maximum(value = "43200")))]
    pub min_notice_minutes: i64,
    #[oai(validator(minimum(value = "1"), maximum(value = "730")))]
    pub horizon_days: i64,
    #[oai(validator(minimum(value = "0"), maximum(value = "20160")))]
    pub cancellation_window_minutes: i64,
    #[oai(validator(minimum(value = "0"), maximum(value = "20160")))]
    pub reminder_lead_minutes: i64,
    #[oai(validator(minimum(value = "0"), maximum(value = "365")))]
    pub follow_up_delay_days: i64,
}

impl From<PoliciesRequest> for ClinicPoliciesInput {
    fn from(body: PoliciesRequest) -> Self {
        Self {
            slot_grid_minutes: body.slot_grid_minutes,
            min_notice_minutes: body.min_notice_minutes,
            horizon_days: body.horizon_days,
            cancellation_window_minutes: body.cancellation_window_minutes,
            reminder_lead_minutes: body.reminder_lead_minutes,
            follow_up_delay_days: body.follow_up_delay_days,
        }
    }
}

#[derive(ApiResponse)]
pub enum LocationCreated {
    #[oai(status = 201)]
    Created(Json<LocationView>),
}

#[derive(ApiResponse)]
pub enum AppointmentTypeCreated {
    #[oai(status = 201)]
    Created(Json<AppointmentTypeView>),
}

pub struct ClinicApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Clinic")]
impl ClinicApi {
    /// Adds a location (front desk, admins).
    #[oai(path = "/locations", method = "post", operation_id = "createLocation")]
    async fn create_location(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewLocation>,
    ) -> ApiResult<LocationCreated> {
        let body = body.0;
        let command = clinic::NewLocation {
            name: body.name.into_string(),
            address: body.address.into_string(),
            time_zone: body.time_zone.into_string(),
        };
        let created = clinic::create_location(&state, &caller(request, &auth), command).await?;
        Ok(LocationCreated::Created(Json(created.into())))
    }

    /// Edits, deactivates or reactivates a location (front desk, admins).
    #[oai(
        path = "/locations/:id",
        method = "patch",
        operation_id = "updateLocation"
    )]
    async fn update_location(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<LocationChanges>,
    ) -> ApiResult<Json<LocationView>> {
        let body = body.0;
        let command = LocationUpdate {
            name: body.name.map(NonBlank::into_string),
            address: body.address.map(NonBlank::into_string),
            active: body.active,
        };
        let caller = caller(request, &auth);
        let updated = clinic::update_location(&state, &caller, id.0, command).await?;
        Ok(Json(updated.into()))
    }

    /// The clinic's locations, by name.
    #[oai(path = "/locations", method = "get", operation_id = "listLocations")]
    async fn locations(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Vec<LocationView>>> {
        let rows = clinic::locations(&state, &caller(request, &auth)).await?;
        Ok(Json(rows.into_iter().map(LocationView::from).collect()))
    }

    /// Adds an appointment type (front desk, admins). Its duration must sit on the slot grid.
    #[oai(
        path = "/appointment-types",
        method = "post",
        operation_id = "createAppointmentType"
    )]
    async fn create_type(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewAppointmentTypeRequest>,
    ) -> ApiResult<AppointmentTypeCreated> {
        let body = body.0;
        let command = NewAppointmentType {
            name: body.name.into_string(),
            discipline: body.discipline.into(),
            duration_minutes: body.duration_minutes,
            buffer_after_minutes: body.buffer_after_minutes,
            new_patient: body.new_patient,
        };
        let caller = caller(request, &auth);
        let created = clinic::create_appointment_type(&state, &caller, command).await?;
        Ok(AppointmentTypeCreated::Created(Json(created.into())))
    }

    /// Edits, deactivates or reactivates an appointment type (front desk, admins). The type as
    /// changed must still sit on the slot grid.
    #[oai(
        path = "/appointment-types/:id",
        method = "patch",
        operation_id = "updateAppointmentType"
    )]
    async fn update_type(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<AppointmentTypeChanges>,
    ) -> ApiResult<Json<AppointmentTypeView>> {
        let body = body.0;
        let command = AppointmentTypeUpdate {
            name: body.name.map(NonBlank::into_string),
            duration_minutes: body.duration_minutes,
            buffer_after_minutes: body.buffer_after_minutes,
            new_patient: body.new_patient,
            active: body.active,
        };
        let caller = caller(request, &auth);
        let updated = clinic::update_appointment_type(&state, &caller, id.0, command).await?;
        Ok(Json(updated.into()))
    }

    /// The appointment types, by discipline and name.
    #[oai(
        path = "/appointment-types",
        method = "get",
        operation_id = "listAppointmentTypes"
    )]
    async fn types(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Vec<AppointmentTypeView>>> {
        let rows = clinic::appointment_types(&state, &caller(request, &auth)).await?;
        Ok(Json(
            rows.into_iter().map(AppointmentTypeView::from).collect(),
        ))
    }

    /// The booking policies (the defaults until someone sets them).
    #[oai(
        path = "/clinic/policies",
        method = "get",
        operation_id = "getClinicPolicies"
    )]
    async fn policies(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<PoliciesView>> {
        let policies = clinic::policies(&state, &caller(request, &auth)).await?;
        Ok(Json(policies.into()))
    }

    /// Replaces the booking policies (front desk, admins). Every problem is listed at once.
    #[oai(
        path = "/clinic/policies",
        method = "put",
        operation_id = "setClinicPolicies"
    )]
    async fn set_policies(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<PoliciesRequest>,
    ) -> ApiResult<Json<PoliciesView>> {
        let caller = caller(request, &auth);
        let saved = clinic::set_policies(&state, &caller, body.0.into()).await?;
        Ok(Json(saved.into()))
    }
}
