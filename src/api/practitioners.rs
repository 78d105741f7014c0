//! `/api/v1/practitioners`: who practises what where, their weekly working hours (local to each
//! location's zone) and their time off. The front desk and admins keep them; everyone signed in
//! reads the practitioners and their hours; the clinic team reads time off. Each practitioner
//! may have a calendar feed (`calendar.ics`) whose revocable token is the only credential.

use chrono::{DateTime, Duration, Utc, Weekday};
use entity::{practitioner, time_off, user::Role, working_hours};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::{Json, PlainText},
};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags,
        access::require_role,
        clinic::{DisciplineView, setup_invalid},
        types::{NonBlank, Text},
    },
    app::AppState,
    audit::{self, Action, AuditContext, Entry, Record},
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    notify::calendar::{self, FeedEvent},
    scheduling::{
        Actor, ClinicPolicies, LocationHours, TimeOff, ValidationCode, ValidationError,
        ValidationErrors, WeeklyHours, WorkingIntervalInput, Zone, check_practitioner_hours,
    },
    store::{
        clinic,
        practitioners::{self, NewWorkingInterval},
        users,
    },
};

const SETUP: &[Role] = &[Role::Staff, Role::Admin];
const EVERYONE: &[Role] = &[Role::Patient, Role::Staff, Role::Practitioner, Role::Admin];
const TEAM: &[Role] = &[Role::Staff, Role::Practitioner, Role::Admin];
/// How far back the calendar feed reaches, so today's finished appointments stay visible.
const FEED_LOOKBACK: Duration = Duration::days(1);
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
}

#[derive(Debug, Object)]
#[oai(rename = "TimeOff")]
pub struct TimeOffView {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

impl From<time_off::Model> for TimeOffView {
    fn from(row: time_off::Model) -> Self {
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

/// The practitioner whose calendar token the caller may manage: any for the front desk and
/// admins, only their own for a practitioner (another's id is a 404, as if it did not exist).
async fn manageable(
    state: &AppState,
    auth: &BearerAuth,
    id: Uuid,
) -> ApiResult<practitioner::Model> {
    let found = match auth.0.role {
        Role::Practitioner => practitioners::find_by_user(&state.db, auth.0.user_id)
            .await?
            .filter(|own| own.id == id),
        _ => practitioners::find(&state.db, id).await?,
    };
    found.ok_or(ApiError::NotFound)
}

/// Stored local minutes as `HH:MM`.
pub(crate) fn minutes_text(minutes: i16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A stored ISO weekday number (1 = Monday).
pub(crate) fn weekday_of(iso: i16) -> Weekday {
    match iso {
        1 => Weekday::Mon,
        2 => Weekday::Tue,
        3 => Weekday::Wed,
        4 => Weekday::Thu,
        5 => Weekday::Fri,
        6 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

fn schedule_view(rows: Vec<working_hours::Model>) -> WeeklySchedule {
    let mut locations: Vec<LocationWorkingHours> = Vec::new();
    for row in rows {
        let interval = WorkingInterval {
            weekday: weekday_of(row.weekday).into(),
            start: Text(minutes_text(row.start_minute)),
            end: Text(minutes_text(row.end_minute)),
        };
        match locations.last_mut() {
            Some(last) if last.location_id == row.location_id => last.intervals.push(interval),
            _ => locations.push(LocationWorkingHours {
                location_id: row.location_id,
                intervals: vec![interval],
            }),
        }
    }
    WeeklySchedule { locations }
}

async fn view(state: &AppState, row: practitioner::Model) -> ApiResult<PractitionerView> {
    let location_ids = practitioners::location_ids(&state.db, row.id).await?;
    Ok(view_with(row, location_ids))
}

fn view_with(row: practitioner::Model, location_ids: Vec<Uuid>) -> PractitionerView {
    PractitionerView {
        location_ids,
        id: row.id,
        user_id: row.user_id,
        display_name: row.display_name,
        discipline: row.discipline.into(),
        active: row.active,
    }
}

fn one_problem(field: &str, code: ValidationCode, message: &str) -> ApiError {
    setup_invalid(ValidationError::new(field, code, message).into())
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
        require_role(&state, request, &auth, SETUP).await?;
        let body = body.0;
        let account = users::find(&state.db, body.user_id)
            .await?
            .filter(|user| user.role == Role::Practitioner && user.disabled_at.is_none())
            .ok_or_else(|| {
                one_problem(
                    "user_id",
                    ValidationCode::Required,
                    "Give the id of an active account with the practitioner role.",
                )
            })?;
        if practitioners::find_by_user(&state.db, account.id)
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict {
                code: "practitioner_exists",
                detail: "This account is a practitioner already.".into(),
            });
        }
        let known: Vec<Uuid> = clinic::locations(&state.db)
            .await?
            .into_iter()
            .map(|location| location.id)
            .collect();
        if let Some(index) = body.location_ids.iter().position(|id| !known.contains(id)) {
            return Err(one_problem(
                &format!("location_ids[{index}]"),
                ValidationCode::Required,
                "No location has this id.",
            ));
        }
        let txn = crate::store::begin_write(&state.db).await?;
        let created = practitioners::create(
            &txn,
            state.clock.now(),
            account.id,
            account.display_name,
            body.discipline.into(),
            &body.location_ids,
        )
        .await?;
        txn.commit().await?;
        Ok(PractitionerCreated::Created(Json(
            view(&state, created).await?,
        )))
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
        require_role(&state, request, &auth, EVERYONE).await?;
        let mut locations = practitioners::all_location_ids(&state.db).await?;
        let views = practitioners::list(&state.db)
            .await?
            .into_iter()
            .map(|row| {
                let location_ids = locations.remove(&row.id).unwrap_or_default();
                view_with(row, location_ids)
            })
            .collect();
        Ok(Json(views))
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
        require_role(&state, request, &auth, SETUP).await?;
        let practitioner = practitioners::find(&state.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        let policies = ClinicPolicies::new(clinic::policies(&state.db).await?)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("stored policies are invalid")))?;
        let works_at = practitioners::location_ids(&state.db, practitioner.id).await?;
        let locations = clinic::locations(&state.db).await?;
        let mut errors = ValidationErrors::default();
        let mut checked = Vec::new();
        for (index, entry) in body.0.locations.iter().enumerate() {
            let field = format!("locations[{index}]");
            let location = locations
                .iter()
                .find(|location| location.id == entry.location_id)
                .filter(|location| works_at.contains(&location.id));
            let Some(location) = location else {
                errors.push(ValidationError::new(
                    format!("{field}.location_id"),
                    ValidationCode::Required,
                    "The practitioner does not work at this location.",
                ));
                continue;
            };
            let inputs: Vec<WorkingIntervalInput> = entry
                .intervals
                .iter()
                .map(|interval| {
                    WorkingIntervalInput::new(
                        interval.weekday.into(),
                        interval.start.as_str(),
                        interval.end.as_str(),
                    )
                })
                .collect();
            match (
                Zone::parse(&location.time_zone),
                WeeklyHours::new(&inputs, policies.slot_grid()),
            ) {
                (Ok(zone), Ok(hours)) => checked.push(LocationHours {
                    location_id: location.id,
                    zone,
                    hours,
                }),
                (_, Err(found)) => {
                    for error in found {
                        let prefixed = format!("{field}.{}", error.field);
                        errors.push(error.for_field(prefixed));
                    }
                }
                (Err(_), Ok(_)) => {
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "a stored location has an unknown time zone"
                    )));
                }
            }
        }
        if errors.is_empty()
            && let Err(found) = check_practitioner_hours(&checked, state.local_today())
        {
            errors = found;
        }
        if !errors.is_empty() {
            return Err(setup_invalid(errors));
        }
        let mut rows = Vec::new();
        for location in &checked {
            for interval in location.hours.intervals() {
                rows.push(NewWorkingInterval {
                    location_id: location.location_id,
                    weekday: interval.weekday.number_from_monday() as i16,
                    start_minute: interval.start.minutes() as i16,
                    end_minute: interval.end.minutes() as i16,
                });
            }
        }
        let txn = crate::store::begin_write(&state.db).await?;
        practitioners::replace_working_hours(&txn, practitioner.id, rows).await?;
        txn.commit().await?;
        let stored = practitioners::working_hours(&state.db, practitioner.id).await?;
        Ok(Json(schedule_view(stored)))
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
        require_role(&state, request, &auth, EVERYONE).await?;
        let practitioner = practitioners::find(&state.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        let stored = practitioners::working_hours(&state.db, practitioner.id).await?;
        Ok(Json(schedule_view(stored)))
    }

    /// Records time off (absolute instants; the end after the start).
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
        require_role(&state, request, &auth, SETUP).await?;
        let practitioner = practitioners::find(&state.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        let body = body.0;
        TimeOff::new(body.starts_at, body.ends_at, body.reason.as_str()).map_err(|errors| {
            setup_invalid(
                errors
                    .into_iter()
                    .map(|error| match error.field.as_str() {
                        "end" => error.for_field("ends_at"),
                        "start" => error.for_field("starts_at"),
                        _ => error,
                    })
                    .collect(),
            )
        })?;
        let created = practitioners::add_time_off(
            &state.db,
            state.clock.now(),
            practitioner.id,
            body.starts_at,
            body.ends_at,
            body.reason.as_str().trim().to_owned(),
            auth.0.user_id,
        )
        .await?;
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
        require_role(&state, request, &auth, TEAM).await?;
        let practitioner = practitioners::find(&state.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        let rows =
            practitioners::upcoming_time_off(&state.db, practitioner.id, state.clock.now()).await?;
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
        require_role(&state, request, &auth, SETUP).await?;
        if practitioners::remove_time_off(&state.db, id.0, time_off_id.0).await? {
            Ok(Removed::Done)
        } else {
            Err(ApiError::NotFound)
        }
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
        require_role(&state, request, &auth, TEAM).await?;
        let practitioner = manageable(&state, &auth, id.0).await?;
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let token = practitioners::issue_calendar_token(&txn, now, practitioner.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::CalendarTokenIssue).on(Record::User(practitioner.user_id)),
        )
        .await?;
        txn.commit().await?;
        let url = state.link(
            &format!("api/v1/practitioners/{}/calendar.ics", practitioner.id),
            &token,
        );
        Ok(CalendarTokenIssued::Created(
            Json(CalendarToken { token, url }),
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
        require_role(&state, request, &auth, TEAM).await?;
        let practitioner = manageable(&state, &auth, id.0).await?;
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        if !practitioners::revoke_calendar_token(&txn, now, practitioner.id).await? {
            return Err(ApiError::NotFound);
        }
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::CalendarTokenRevoke).on(Record::User(practitioner.user_id)),
        )
        .await?;
        txn.commit().await?;
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
        token: Query<Option<String>>,
    ) -> ApiResult<CalendarFeed> {
        let Some(presented) = token.0.filter(|token| !token.is_empty()) else {
            return Err(ApiError::NotFound);
        };
        let practitioner = practitioners::find_by_calendar_token(&state.db, id.0, &presented)
            .await?
            .ok_or(ApiError::NotFound)?;
        let policies = ClinicPolicies::new(clinic::policies(&state.db).await?)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("stored policies are invalid")))?;
        let now = state.clock.now();
        // As far ahead as anyone may book, and a day back so today stays visible.
        let horizon = policies.booking_window(Actor::Staff, now).latest;
        let since = now.checked_sub_signed(FEED_LOOKBACK).unwrap_or(now);
        let rows = practitioners::calendar_feed(&state.db, practitioner.id, since, horizon).await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let time_zone = row.time_zone.parse().map_err(|_| {
                ApiError::internal(anyhow::anyhow!(
                    "a stored location has an unknown time zone"
                ))
            })?;
            events.push(FeedEvent {
                appointment_id: row.id,
                sequence: u32::try_from(row.sequence).unwrap_or_default(),
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                time_zone,
                patient_given_name: &row.patient_given_name,
                patient_family_name: &row.patient_family_name,
                appointment_type: &row.appointment_type,
                location: &row.location,
            });
        }
        let ics = calendar::feed(&practitioner.display_name, &events, now);
        Ok(CalendarFeed::Ics(PlainText(ics), NO_STORE.to_owned()))
    }
}
