//! `/api/v1/appointments`, the collection: booking (idempotent), and a day's list. (One
//! path is one `OpenApi` block: poem-openapi documents a path from one block only.)

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        appointments::{AppointmentList, AppointmentView},
        caller,
        types::{Date, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    service::{
        appointments::{self, DayOf},
        booking::{self, BookAppointment},
    },
};

/// A booking request. A patient books for themselves (leave `patient_id` out); the front desk
/// names the patient.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewAppointmentRequest {
    #[oai(nullable)]
    pub patient_id: Option<Uuid>,
    pub practitioner_id: Uuid,
    pub location_id: Uuid,
    pub appointment_type_id: Uuid,
    /// One of the `start` values `GET /availability` offers.
    pub start: DateTime<Utc>,
    /// Front desk only: book although the intake check refuses, for this reason (audited).
    #[oai(nullable, validator(max_length = 500))]
    pub override_reason: Option<Text>,
}

#[derive(ApiResponse)]
pub enum Booked {
    /// Booked; the confirmation email with its calendar invite is on its way.
    #[oai(status = 201)]
    Created(
        Json<AppointmentView>,
        /// `true` when this answers a retry of a request that had already booked.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

pub struct BookingApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Scheduling")]
impl BookingApi {
    /// Books an appointment. Send a fresh `Idempotency-Key` with each new booking and the same
    /// one when retrying: a retry of a booking that went through answers with the same
    /// appointment; the same key with a different request is refused (422), and a retry while
    /// the first request still runs is a 409. A time that is not free is a 409 with
    /// `next_slots` (times the patient is free for too): `slot_not_offered`, `slot_taken` (another
    /// booking won a race), or `patient_busy` when the patient already has an appointment at
    /// that time, with any practitioner.
    #[oai(
        path = "/appointments",
        method = "post",
        operation_id = "bookAppointment"
    )]
    async fn book(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 200, pattern = r"^[\x21-\x7E]+$")
        )]
        idempotency_key: Header<String>,
        body: Json<NewAppointmentRequest>,
    ) -> ApiResult<Booked> {
        let body = body.0;
        let command = BookAppointment {
            patient_id: body.patient_id.map(Into::into),
            practitioner_id: body.practitioner_id.into(),
            location_id: body.location_id.into(),
            appointment_type_id: body.appointment_type_id.into(),
            start: body.start,
            override_reason: body.override_reason.map(Text::into_string),
            idempotency_key: idempotency_key.0,
        };
        let booked = booking::book(&state, &caller(request, &auth), command).await?;
        let replayed = booked.replayed.then(|| "true".to_owned());
        Ok(Booked::Created(Json(booked.appointment.into()), replayed))
    }

    /// A day's appointments: of one practitioner, at one location, or, with neither, of the
    /// whole clinic (every practitioner at every location; give at most one). The day is the
    /// location's local date (for the whole clinic, each appointment's location's), or for a
    /// practitioner the clinic's. By start (the whole clinic's: by start, then practitioner),
    /// at most 500.
    #[oai(
        path = "/appointments",
        method = "get",
        operation_id = "listAppointments"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        date: Query<Date>,
        practitioner_id: Query<Option<Uuid>>,
        location_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<AppointmentList>> {
        let caller = caller(request, &auth);
        caller
            .require(&state, crate::service::access::CLINIC_TEAM)
            .await?;
        let of = match (practitioner_id.0, location_id.0) {
            (Some(id), None) => DayOf::Practitioner(id),
            (None, Some(id)) => DayOf::Location(id),
            (None, None) => DayOf::Clinic,
            (Some(_), Some(_)) => {
                return Err(ApiError::field(
                    "practitioner_id",
                    "at_most_one_allowed",
                    "Give practitioner_id or location_id, not both.",
                    "Give at most one of practitioner_id and location_id.",
                ));
            }
        };
        let shown = appointments::day(&state, &caller, date.0.0, of).await?;
        Ok(Json(shown.into()))
    }
}
