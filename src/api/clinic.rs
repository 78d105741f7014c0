//! Clinic setup: `/api/v1/locations`, `/api/v1/appointment-types` and
//! `/api/v1/clinic/policies`. The front desk and admins set them up; every signed-in user reads
//! them (patients need them to book). Values are validated by the pure `scheduling` module.

use chrono::{DateTime, Utc};
use entity::{appointment_type, location, practitioner, user::Role};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::require_role,
        types::{NonBlank, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::{ApiError, ApiResult, FieldError},
    scheduling::{
        self, AppointmentTypeInput, ClinicPolicies, ClinicPoliciesInput, ValidationErrors, Zone,
    },
    store::clinic::{self, NewAppointmentType},
};

/// Who sets the clinic up.
const SETUP: &[Role] = &[Role::Staff, Role::Admin];
/// Everyone signed in reads the setup.
const EVERYONE: &[Role] = &[Role::Patient, Role::Staff, Role::Practitioner, Role::Admin];

/// The scheduling module's problems as the problem document's per-field errors.
pub fn setup_invalid(errors: ValidationErrors) -> ApiError {
    ApiError::Validation {
        detail: "Some values are not valid; every problem is listed in `errors`.".into(),
        errors: errors
            .into_iter()
            .map(|error| FieldError {
                field: error.field,
                code: error.code.as_str().to_owned(),
                message: error.message,
            })
            .collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DisciplineView {
    Chiropractic,
    Physiotherapy,
}

impl From<DisciplineView> for practitioner::Discipline {
    fn from(discipline: DisciplineView) -> Self {
        match discipline {
            DisciplineView::Chiropractic => Self::Chiropractic,
            DisciplineView::Physiotherapy => Self::Physiotherapy,
        }
    }
}

impl From<practitioner::Discipline> for DisciplineView {
    fn from(discipline: practitioner::Discipline) -> Self {
        match discipline {
            practitioner::Discipline::Chiropractic => Self::Chiropractic,
            practitioner::Discipline::Physiotherapy => Self::Physiotherapy,
        }
    }
}

impl From<DisciplineView> for scheduling::Discipline {
    fn from(discipline: DisciplineView) -> Self {
        match discipline {
            DisciplineView::Chiropractic => Self::Chiropractic,
            DisciplineView::Physiotherapy => Self::Physiotherapy,
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

impl From<location::Model> for LocationView {
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

impl From<appointment_type::Model> for AppointmentTypeView {
    fn from(row: appointment_type::Model) -> Self {
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
        require_role(&state, request, &auth, SETUP).await?;
        let body = body.0;
        let zone = Zone::parse(body.time_zone.as_str().trim())
            .map_err(|error| setup_invalid(error.for_field("time_zone").into()))?;
        let created = clinic::create_location(
            &state.db,
            state.clock.now(),
            body.name.as_str().trim().to_owned(),
            body.address.as_str().trim().to_owned(),
            zone.name().to_owned(),
        )
        .await?;
        Ok(LocationCreated::Created(Json(created.into())))
    }

    /// The clinic's locations, by name.
    #[oai(path = "/locations", method = "get", operation_id = "listLocations")]
    async fn locations(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Vec<LocationView>>> {
        require_role(&state, request, &auth, EVERYONE).await?;
        let rows = clinic::locations(&state.db).await?;
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
        require_role(&state, request, &auth, SETUP).await?;
        let body = body.0;
        let policies = ClinicPolicies::new(clinic::policies(&state.db).await?)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("stored policies are invalid")))?;
        let name = body.name.as_str().trim().to_owned();
        scheduling::AppointmentType::new(
            AppointmentTypeInput {
                name: name.clone(),
                discipline: body.discipline.into(),
                duration_minutes: i64::from(body.duration_minutes),
                buffer_after_minutes: i64::from(body.buffer_after_minutes),
                new_patient: body.new_patient,
                active: true,
            },
            policies.slot_grid(),
        )
        .map_err(setup_invalid)?;
        let created = clinic::create_appointment_type(
            &state.db,
            state.clock.now(),
            NewAppointmentType {
                name,
                discipline: body.discipline.into(),
                duration_minutes: body.duration_minutes,
                buffer_after_minutes: body.buffer_after_minutes,
                new_patient: body.new_patient,
                active: true,
            },
        )
        .await?;
        Ok(AppointmentTypeCreated::Created(Json(created.into())))
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
        require_role(&state, request, &auth, EVERYONE).await?;
        let rows = clinic::appointment_types(&state.db).await?;
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
        require_role(&state, request, &auth, EVERYONE).await?;
        Ok(Json(clinic::policies(&state.db).await?.into()))
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
        require_role(&state, request, &auth, SETUP).await?;
        let body = body.0;
        let input = ClinicPoliciesInput {
            slot_grid_minutes: body.slot_grid_minutes,
            min_notice_minutes: body.min_notice_minutes,
            horizon_days: body.horizon_days,
            cancellation_window_minutes: body.cancellation_window_minutes,
            reminder_lead_minutes: body.reminder_lead_minutes,
            follow_up_delay_days: body.follow_up_delay_days,
        };
        let validated = ClinicPolicies::new(input).map_err(setup_invalid)?;
        clinic::save_policies(&state.db, state.clock.now(), validated.to_input()).await?;
        Ok(Json(validated.to_input().into()))
    }
}
