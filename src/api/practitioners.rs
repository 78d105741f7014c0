//! `/api/v1/practitioners`: who practises what where, their weekly working hours (local to each
//! location's zone) and their time off. The front desk and admins keep them; everyone signed in
//! reads the practitioners and their hours; the clinic team reads time off. Each practitioner
//! may have a calendar feed (`calendar.ics`) whose revocable token is the only credential.

use chrono::{DateTime, Utc, Weekday};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::{Json, PlainText},
};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags, caller,
        clinic::DisciplineView,
        types::{NonBlank, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    scheduling::{LocationHoursInput, StoredInterval, WorkingIntervalInput},
    service::practitioners::{self, LocationWeek, NewPractitioner as Enrol, Practitioner, TimeOff},
};

/// Responses that carry a secret or patient initials: neither browsers nor proxies keep them.
const NO_STORE: &str = "no-store";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum WeekdayView {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<WeekdayView> for Weekday {
    fn from(day: WeekdayView) -> Self {
        match day {
            WeekdayView::Monday => Weekday::Mon,
            WeekdayView::Tuesday => Weekday::Tue,
            WeekdayView::Wednesday => Weekday::Wed,
            WeekdayView::Thursday => Weekday::Thu,
            WeekdayView::Friday => Weekday::Fri,
            WeekdayView::Saturday => Weekday::Sat,
            WeekdayView::Sunday => Weekday::Sun,
        }
    }
}

impl From<Weekday> for WeekdayView {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Mon => Self::Monday,
            Weekday::Tue => Self::Tuesday,
            Weekday::Wed => Self::Wednesday,
            Weekday::Thu => Self::Thursday,
            Weekday::Fri => Self::Friday,
            Weekday::Sat => Self::Saturday,
            Weekday::Sun => Self::Sunday,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewPractitioner {
    /// An active account with the practitioner role.
    pub user_id: Uuid,
    pub discipline: DisciplineView,
    /// Where they work (at least one).
    #[oai(validator(min_items = 1, max_items = 20, unique_items))]
    pub location_ids: Vec<Uuid>,
}

/// Changes to a practitioner; absent or null fields stay as they are.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PractitionerChanges {
    /// Where they work from now on (at least one). Their weekly hours at a location left out
    /// are removed with it; their booked appointments there stay.
    #[oai(nullable, validator(min_items = 1, max_items = 20, unique_items))]
    pub location_ids: Option<Vec<Uuid>>,
    /// `false` deactivates them: none of their times are offered or booked any more, while
    /// their appointments stay and show, for the front desk to move. `true` takes them back
    /// (not while their account is disabled: `account_disabled`).
    #[oai(nullable)]
    pub active: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(rename = "Practitioner")]
pub struct PractitionerView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub discipline: DisciplineView,
    pub location_ids: Vec<Uuid>,
    pub active: bool,
}

#[derive(ApiResponse)]
pub enum PractitionerCreated {
    #[oai(status = 201)]
    Created(Json<PractitionerView>),
}

/// One weekly interval, in the location's local time.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WorkingInterval {
    pub weekday: WeekdayView,
    /// `HH:MM`, local time, on the slot grid.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-4]):[0-5][0-9]$"))]
    pub start: Text,
    /// `HH:MM`, after `start` (`24:00` for midnight).
    #[oai(validator(pattern = r"^([01][0-9]|2[0-4]):[0-5][0-9]$"))]
    pub end: Text,
}

#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct LocationWorkingHours {
    pub location_id: Uuid,
    #[oai(validator(max_items = 70))]
    pub intervals: Vec<WorkingInterval>,
}

/// A practitioner's whole week: every location with its intervals (breaks are gaps).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct WeeklySchedule {
    #[oai(validator(max_items = 20))]
    pub locations: Vec<LocationWorkingHours>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewTimeOff {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// For colleagues; never shown to patients.
    pub reason: NonBlank<200>,
    /// Record it although booked appointments fall in it, keeping them (each is audited).
    /// Without it, such time off is refused (409 `time_off_clashes`, the appointments listed in
    /// `clashing_appointments`) for the desk to move or cancel them first.
    #[oai(default)]
    pub keep_appointments: bool,
}

#[derive(Debug, Object)]
#[oai(rename = "TimeOff")]
pub struct TimeOffView {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

impl From<TimeOff> for TimeOffView {
    fn from(row: TimeOff) -> Self {
        Self {
            id: row.id,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            reason: row.reason,
        }
    }
}

#[derive(ApiResponse)]
pub enum TimeOffCreated {
    #[oai(status = 201)]
    Created(Json<TimeOffView>),
}

#[derive(ApiResponse)]
pub enum Removed {
    #[oai(status = 204)]
    Done,
}

/// A new calendar feed token. Shown once; only its hash is stored.
#[derive(Debug, Object)]
pub struct CalendarToken {
    pub token: String,
    /// The feed's address, token included, to paste into a calendar app as a subscription.
    pub url: String,
}

#[derive(ApiResponse)]
pub enum CalendarTokenIssued {
    #[oai(status = 201)]
    Created(Json<CalendarToken>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum CalendarFeed {
    /// An iCalendar (RFC 5545) document.
    #[oai(status = 200, content_type = "text/calendar; charset=utf-8")]
    Ics(PlainText<String>, #[oai(header = "Cache-Control")] String),
}

impl From<Practitioner> for PractitionerView {
    fn from(shown: Practitioner) -> Self {
        Self {
            id: shown.id,
            user_id: shown.user_id,
            display_name: shown.display_name,
            discipline: shown.discipline.into(),
            location_ids: shown.location_ids,
            active: shown.active,
        }
    }
}

impl From<practitioners::CalendarToken> for CalendarToken {
    fn from(issued: practitioners::CalendarToken) -> Self {
        Self {
            token: issued.token,
            url: issued.url,
        }
    }
}

/// Minutes after local midnight as the API writes them, `HH:MM` (`24:00` for midnight).
fn clock_text(minutes: u32) -> Text {
    Text(format!("{:02}:{:02}", minutes / 60, minutes % 60))
}

impl From<StoredInterval> for WorkingInterval {
    fn from(interval: StoredInterval) -> Self {
        Self {
            weekday: interval.weekday.into(),
            start: clock_text(interval.start_minute),
            end: clock_text(interval.end_minute),
        }
    }
}

impl From<Vec<LocationWeek>> for WeeklySchedule {
    fn from(weeks: Vec<LocationWeek>) -> Self {
        let locations = weeks
            .into_iter()
            .map(|week| LocationWorkingHours {
                location_id: week.location_id,
                intervals: week.intervals.into_iter().map(Into::into).collect(),
            })
            .collect();
        Self { locations }
    }
}

impl From<LocationWorkingHours> for LocationHoursInput {
    fn from(entry: LocationWorkingHours) -> Self {
        Self {
            location_id: entry.location_id.into(),
            intervals: entry
                .intervals
                .iter()
                .map(|interval| {
                    WorkingIntervalInput::new(
                        interval.weekday.into(),
                        interval.start.as_str(),
                        interval.end.as_str(),
                    )
                })
                .collect(),
        }
    }
}

pub struct PractitionersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Clinic")]
impl PractitionersApi {
    /// Makes a practitioner account bookable: its discipline and locations.
    #[oai(
        path = "/practitioners",
        method = "post",
        operation_id = "createPractitioner"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewPractitioner>,
    ) -> ApiResult<PractitionerCreated> {
        let body = body.0;
        let command = Enrol {
            user_id: body.user_id,
            discipline: body.discipline.into(),
            location_ids: body.location_ids,
        };
        let created = practitioners::create(&state, &caller(request, &auth), command).await?;
        Ok(PractitionerCreated::Created(Json(created.into())))
    }

    /// Edits, deactivates or reactivates a practitioner (front desk, admins).
    #[oai(
        path = "/practitioners/:id",
        method = "patch",
        operation_id = "updatePractitioner"
    )]
    async fn update(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<PractitionerChanges>,
    ) -> ApiResult<Json<PractitionerView>> {
        let body = body.0;
        let command = practitioners::PractitionerUpdate {
            location_ids: body.location_ids,
            active: body.active,
        };
        let updated = practitioners::update(&state, &caller(request, &auth), id.0, command).await?;
        Ok(Json(updated.into()))
    }

    /// The practitioners, by name.
    #[oai(
        path = "/practitioners",
        method = "get",
        operation_id = "listPractitioners"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<Vec<PractitionerView>>> {
        let shown = practitioners::list(&state, &caller(request, &auth)).await?;
        Ok(Json(
            shown.into_iter().map(PractitionerView::from).collect(),
        ))
    }

    /// Replaces the practitioner's weekly hours at every location. Intervals are local to each
    /// location's zone and on the slot grid; none may overlap on a day, nor (in real time) an
    /// interval at another location. Every problem is listed at once.
    #[oai(
        path = "/practitioners/:id/working-hours",
        method = "put",
        operation_id = "setWorkingHours"
    )]
    async fn set_hours(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<WeeklySchedule>,
    ) -> ApiResult<Json<WeeklySchedule>> {
        let week = body.0.locations.into_iter().map(Into::into).collect();
        let caller = caller(request, &auth);
        let stored = practitioners::set_hours(&state, &caller, id.0, week).await?;
        Ok(Json(stored.into()))
    }

    /// The practitioner's weekly hours, per location.
    #[oai(
        path = "/practitioners/:id/working-hours",
        method = "get",
        operation_id = "getWorkingHours"
    )]
    async fn hours(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<WeeklySchedule>> {
        let stored = practitioners::hours(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(stored.into()))
    }

    /// Records time off (absolute instants; the end after the start). Time off over the
    /// practitioner's booked or checked-in appointments is refused (409 `time_off_clashes`,
    /// listing them) unless `keep_appointments` is true.
    #[oai(
        path = "/practitioners/:id/time-off",
        method = "post",
        operation_id = "addTimeOff"
    )]
    async fn add_time_off(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<NewTimeOff>,
    ) -> ApiResult<TimeOffCreated> {
        let body = body.0;
        let command = practitioners::NewTimeOff {
            starts_at: body.starts_at,
            ends_at: body.ends_at,
            reason: body.reason.into_string(),
            keep_appointments: body.keep_appointments,
        };
        let caller = caller(request, &auth);
        let created = practitioners::add_time_off(&state, &caller, id.0, command).await?;
        Ok(TimeOffCreated::Created(Json(created.into())))
    }

    /// Time off that has not ended yet, soonest first.
    #[oai(
        path = "/practitioners/:id/time-off",
        method = "get",
        operation_id = "listTimeOff"
    )]
    async fn time_off(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<TimeOffView>>> {
        let rows = practitioners::time_off(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(rows.into_iter().map(TimeOffView::from).collect()))
    }

    /// Removes a period of time off.
    #[oai(
        path = "/practitioners/:id/time-off/:time_off_id",
        method = "delete",
        operation_id = "removeTimeOff"
    )]
    async fn remove_time_off(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        time_off_id: Path<Uuid>,
    ) -> ApiResult<Removed> {
        let caller = caller(request, &auth);
        practitioners::remove_time_off(&state, &caller, id.0, time_off_id.0).await?;
        Ok(Removed::Done)
    }

    /// Issues a new calendar feed token for the practitioner (the previous one stops working)
    /// and returns it with the feed's address. The front desk and admins may do this for anyone,
    /// a practitioner for themselves.
    #[oai(
        path = "/practitioners/:id/calendar-token",
        method = "post",
        operation_id = "issueCalendarToken"
    )]
    async fn issue_calendar_token(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<CalendarTokenIssued> {
        let caller = caller(request, &auth);
        let issued = practitioners::issue_calendar_token(&state, &caller, id.0).await?;
        Ok(CalendarTokenIssued::Created(
            Json(issued.into()),
            NO_STORE.to_owned(),
        ))
    }

    /// Revokes the practitioner's calendar feed token: subscriptions stop updating.
    #[oai(
        path = "/practitioners/:id/calendar-token",
        method = "delete",
        operation_id = "revokeCalendarToken"
    )]
    async fn revoke_calendar_token(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Removed> {
        let caller = caller(request, &auth);
        practitioners::revoke_calendar_token(&state, &caller, id.0).await?;
        Ok(Removed::Done)
    }

    /// The practitioner's booked and checked-in appointments from a day ago to the booking
    /// horizon, as an iCalendar feed to subscribe to. No login: the `token` from
    /// `POST /practitioners/{id}/calendar-token` is the credential, and a missing, wrong or
    /// revoked one is a 404. Patients appear by their initials only.
    #[oai(
        path = "/practitioners/:id/calendar.ics",
        method = "get",
        operation_id = "getCalendarFeed"
    )]
    async fn calendar_feed(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
        /// The feed token.
        token: Query<Option<Text>>,
    ) -> ApiResult<CalendarFeed> {
        let ics =
            practitioners::calendar_feed(&state, id.0, token.0.as_ref().map(Text::as_str)).await?;
        Ok(CalendarFeed::Ics(PlainText(ics), NO_STORE.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_minutes_are_written_as_the_request_pattern_reads_them() {
        assert_eq!(clock_text(0).as_str(), "00:00");
        assert_eq!(clock_text(9 * 60 + 5).as_str(), "09:05");
        assert_eq!(clock_text(24 * 60).as_str(), "24:00");
    }
}
