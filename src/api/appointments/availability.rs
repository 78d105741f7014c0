//! `GET /api/v1/availability`: free start times.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use crate::{
    api::{ApiTags, caller, types::Date},
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    scheduling::Slot,
    service::availability::{self, FindSlots},
};

/// One free start time.
#[derive(Debug, Object)]
#[oai(rename = "Slot")]
pub struct SlotView {
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The start on the location's clock, with its UTC offset (RFC 3339).
    pub local_start: String,
    pub time_zone: String,
    /// `EST`/`EDT`, `GMT`/`BST`: tells apart the two 01:30s of a night the clocks go back.
    pub abbreviation: String,
}

impl From<Slot> for SlotView {
    fn from(slot: Slot) -> Self {
        Self {
            practitioner_id: slot.practitioner_id.uuid(),
            location_id: slot.location_id.uuid(),
            start: slot.start,
            end: slot.end,
            local_start: slot.local_start.to_rfc3339(),
            time_zone: slot.time_zone.name().to_owned(),
            abbreviation: slot.abbreviation,
        }
    }
}

#[derive(Debug, Object)]
pub struct AvailabilityView {
    pub appointment_type_id: Uuid,
    pub slots: Vec<SlotView>,
}

pub struct AvailabilityApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Scheduling")]
impl AvailabilityApi {
    /// Free start times for an appointment type over a range of dates (each location's own
    /// dates), optionally for one practitioner or at one location. Patients see times from the
    /// clinic's minimum notice on.
    #[oai(
        path = "/availability",
        method = "get",
        operation_id = "getAvailability"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn availability(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        appointment_type_id: Query<Uuid>,
        from: Query<Date>,
        to: Query<Date>,
        practitioner_id: Query<Option<Uuid>>,
        location_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<AvailabilityView>> {
        let query = FindSlots {
            appointment_type_id: appointment_type_id.0,
            from: from.0.0,
            to: to.0.0,
            practitioner_id: practitioner_id.0,
            location_id: location_id.0,
        };
        let free = availability::find(&state, &caller(request, &auth), query).await?;
        Ok(Json(AvailabilityView {
            appointment_type_id: free.appointment_type_id,
            slots: free.slots.into_iter().map(SlotView::from).collect(),
        }))
    }
}
