//! The appointment's life: reschedule, cancel, check-in, complete, no-show and undoing one.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    api::{ApiTags, appointments::AppointmentView, caller, types::Text},
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    scheduling::StatusChange,
    service::appointments::{self, Reschedule},
};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// One of the `start` values `GET /availability` offers.
    pub start: DateTime<Utc>,
    /// Another practitioner of the same discipline (default: the same one).
    #[oai(nullable)]
    pub practitioner_id: Option<Uuid>,
    /// Another location (default: the same one).
    #[oai(nullable)]
    pub location_id: Option<Uuid>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CancelRequest {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Text,
}

pub struct LifecycleApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Scheduling")]
impl LifecycleApi {
    /// Moves a booked appointment to another offered time. Patients may do so until the
    /// cancellation window; the front desk always. A new invite replaces the old one. A time
    /// that is not free is a 409 with `next_slots`: `slot_not_offered`, `slot_taken`, or
    /// `patient_busy` (the patient has another appointment then). Asking for the start,
    /// practitioner and location it already has changes nothing: 200 with it as it stands,
    /// and no email.
    #[oai(
        path = "/appointments/:id/reschedule",
        method = "post",
        operation_id = "rescheduleAppointment"
    )]
    async fn reschedule(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<RescheduleRequest>,
    ) -> ApiResult<Json<AppointmentView>> {
        let command = Reschedule {
            id: id.0,
            start: body.start,
            practitioner_id: body.practitioner_id,
            location_id: body.location_id,
        };
        let shown = appointments::reschedule(&state, &caller(request, &auth), command).await?;
        Ok(Json(shown.into()))
    }

    /// Cancels a booked appointment, with a reason. Inside the cancellation window it is
    /// marked late. The patient receives a cancellation that removes it from their calendar.
    #[oai(
        path = "/appointments/:id/cancel",
        method = "post",
        operation_id = "cancelAppointment"
    )]
    async fn cancel(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<CancelRequest>,
    ) -> ApiResult<Json<AppointmentView>> {
        let caller = caller(request, &auth);
        let shown = appointments::cancel(&state, &caller, id.0, body.reason.as_str()).await?;
        Ok(Json(shown.into()))
    }

    /// The patient has arrived. Possible from 60 minutes before the start until the end of the
    /// appointment's day on its location's clock (so a forgotten check-in can still be made
    /// that day); before, a 409 `too_early`, after, a 409 `too_late`, each saying when.
    #[oai(
        path = "/appointments/:id/check-in",
        method = "post",
        operation_id = "checkInAppointment"
    )]
    async fn check_in(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change(&state, request, &auth, id.0, StatusChange::CheckIn).await
    }

    /// The visit took place (it must have been checked in). Possible from the start until the
    /// end of the appointment's day on its location's clock; before, a 409 `too_early`,
    /// after, a 409 `too_late`. The follow-up questionnaire link is emailed after the
    /// clinic's follow-up delay.
    #[oai(
        path = "/appointments/:id/complete",
        method = "post",
        operation_id = "completeAppointment"
    )]
    async fn complete(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change(&state, request, &auth, id.0, StatusChange::Complete).await
    }

    /// The patient did not come (or left before being seen). Possible from 10 minutes after
    /// the start until the end of the appointment's day on its location's clock; before, a
    /// 409 `too_early`, after, a 409 `too_late`. Undo it with `undo-no-show`, that same day.
    #[oai(
        path = "/appointments/:id/no-show",
        method = "post",
        operation_id = "markAppointmentNoShow"
    )]
    async fn no_show(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change(&state, request, &auth, id.0, StatusChange::NoShow).await
    }

    /// Takes back a no-show (the patient came late after all, or the wrong visit was marked):
    /// the appointment is `booked` again, to be checked in as usual. Possible only until the
    /// end of the appointment's day on its location's clock (then a 409 `too_late`); an
    /// appointment that is not a no-show is a 409 `illegal_transition`, and one whose time
    /// was booked for another visit meanwhile a 409 `slot_taken`.
    #[oai(
        path = "/appointments/:id/undo-no-show",
        method = "post",
        operation_id = "undoAppointmentNoShow"
    )]
    async fn undo_no_show(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<AppointmentView>> {
        change(&state, request, &auth, id.0, StatusChange::UndoNoShow).await
    }
}

async fn change(
    state: &AppState,
    request: &Request,
    auth: &BearerAuth,
    id: Uuid,
    change: StatusChange,
) -> ApiResult<Json<AppointmentView>> {
    let shown = appointments::change_status(state, &caller(request, auth), id, change).await?;
    Ok(Json(shown.into()))
}
