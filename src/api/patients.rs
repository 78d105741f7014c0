//! `/api/v1/patients`: patient records (demographics). The front desk creates, finds, edits and
//! invites patients; practitioners read them; a patient reads and edits only their own record.
//! Every read and write is on the audit trail, and a record the caller may not see is a 404
//! (`service::patients` does all of it).

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::{Email, MaybeUndefined},
};
use uuid::Uuid;

use crate::{
    api::{
        ApiTags, caller,
        types::{Date, NonBlank, Text},
    },
    app::AppState,
    auth::BearerAuth,
    error::ApiResult,
    service::patients::{self, Edit, NewRecord, Patient, PatientEdit, Search, Unreachable},
};

/// A patient an email could not reach (a dead letter): who, the address that failed, when and
/// what kind of email. Never the email's content.
#[derive(Debug, Object)]
#[oai(rename = "UnreachablePatient")]
pub struct UnreachableView {
    pub patient_id: Uuid,
    pub given_name: String,
    pub family_name: String,
    /// The address the email could not be delivered to.
    pub address: String,
    /// The kind of email, e.g. `appointment_confirmed` or `appointment_reminder`.
    pub kind: String,
    /// When delivery was given up.
    pub failed_at: DateTime<Utc>,
    /// The undelivered email, for an admin to retry (`/admin/outbox/{id}/retry`) once the
    /// address is corrected.
    pub email_id: Uuid,
}

impl From<Unreachable> for UnreachableView {
    fn from(entry: Unreachable) -> Self {
        Self {
            patient_id: entry.patient_id,
            given_name: entry.given_name,
            family_name: entry.family_name,
            address: entry.address,
            kind: entry.kind,
            failed_at: entry.failed_at,
            email_id: entry.email_id,
        }
    }
}

/// A patient's demographics.
#[derive(Debug, Object)]
#[oai(rename = "Patient")]
pub struct PatientView {
    pub id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Date,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// A new address the patient has not confirmed yet; `email` stays in use (for login and
    /// mail) until the link sent to it is opened.
    #[oai(skip_serializing_if_is_none)]
    pub pending_email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub phone: Option<String>,
    /// Whether the patient can log in (registered, or accepted an invitation).
    pub has_login: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Patient> for PatientView {
    fn from(shown: Patient) -> Self {
        Self {
            id: shown.id,
            given_name: shown.given_name,
            family_name: shown.family_name,
            date_of_birth: Date(shown.date_of_birth),
            email: shown.email,
            pending_email: shown.pending_email,
            phone: shown.phone,
            has_login: shown.has_login,
            created_at: shown.created_at,
            updated_at: shown.updated_at,
        }
    }
}

/// A patient the front desk registers (for example on the phone). They get no login until they
/// accept an invitation.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewPatientRecord {
    pub given_name: NonBlank<100>,
    pub family_name: NonBlank<100>,
    /// Not in the future, and at most 120 years ago.
    pub date_of_birth: Date,
    /// Needed to invite the patient to log in, and for appointment emails.
    #[oai(nullable, validator(max_length = 320))]
    pub email: Option<Email>,
    #[oai(nullable, validator(pattern = r"^\+?[0-9 ()./-]{3,39}$"))]
    pub phone: Option<Text>,
}

/// Changes to a patient's demographics; absent fields stay as they are, and `null` removes an
/// email address or phone number. A new address for a patient who logs in is not used until
/// they confirm the link emailed to it (it shows as `pending_email` until then); their address
/// cannot be removed.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PatientChangesRequest {
    pub given_name: MaybeUndefined<NonBlank<100>>,
    pub family_name: MaybeUndefined<NonBlank<100>>,
    /// Not in the future, and at most 120 years ago.
    pub date_of_birth: MaybeUndefined<Date>,
    #[oai(nullable, validator(max_length = 320))]
    pub email: MaybeUndefined<Email>,
    #[oai(nullable, validator(pattern = r"^\+?[0-9 ()./-]{3,39}$"))]
    pub phone: MaybeUndefined<Text>,
}

impl From<NewPatientRecord> for NewRecord {
    fn from(body: NewPatientRecord) -> Self {
        Self {
            given_name: body.given_name.into_string(),
            family_name: body.family_name.into_string(),
            date_of_birth: body.date_of_birth.0,
            email: body.email.map(|email| email.0),
            phone: body.phone.map(Text::into_string),
        }
    }
}

impl From<PatientChangesRequest> for PatientEdit {
    fn from(body: PatientChangesRequest) -> Self {
        Self {
            given_name: edit(body.given_name, NonBlank::into_string),
            family_name: edit(body.family_name, NonBlank::into_string),
            date_of_birth: edit(body.date_of_birth, |date| date.0),
            email: edit(body.email, |email| email.0),
            phone: edit(body.phone, Text::into_string),
        }
    }
}

/// What the request says about one field: left out, a value, or `null`.
fn edit<T, U>(value: MaybeUndefined<T>, convert: impl FnOnce(T) -> U) -> Edit<U> {
    match value {
        MaybeUndefined::Value(value) => Edit::Set(convert(value)),
        MaybeUndefined::Null => Edit::Remove,
        MaybeUndefined::Undefined => Edit::Keep,
    }
}

/// One page of patients.
#[derive(Debug, Object)]
pub struct PatientPage {
    pub patients: Vec<PatientView>,
    /// How many patients match in all.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

impl From<patients::PatientPage> for PatientPage {
    fn from(page: patients::PatientPage) -> Self {
        Self {
            patients: page.patients.into_iter().map(PatientView::from).collect(),
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

#[derive(ApiResponse)]
pub enum PatientCreated {
    #[oai(status = 201)]
    Created(Json<PatientView>),
}

/// The invitation is on its way.
#[derive(Debug, Object)]
pub struct InvitationSent {
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum Invited {
    #[oai(status = 202)]
    Sent(Json<InvitationSent>),
}

pub struct PatientsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Patients")]
impl PatientsApi {
    /// Registers a patient without a login (front desk). Invite them later to let them log in.
    #[oai(path = "/patients", method = "post", operation_id = "createPatient")]
    async fn create(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        body: Json<NewPatientRecord>,
    ) -> ApiResult<PatientCreated> {
        let created = patients::create(&state, &caller(request, &auth), body.0.into()).await?;
        Ok(PatientCreated::Created(Json(created.into())))
    }

    /// Finds patients by name or email (front desk and practitioners), by family name.
    #[oai(path = "/patients", method = "get", operation_id = "listPatients")]
    async fn list(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        /// Part of a name or email address.
        #[oai(validator(max_length = 100))]
        q: Query<Option<Text>>,
        /// At most this many patients (1–200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// Skip this many (default 0).
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
        offset: Query<Option<u32>>,
    ) -> ApiResult<Json<PatientPage>> {
        let search = Search {
            text: q.0.map(Text::into_string),
            limit: limit.0,
            offset: offset.0,
        };
        let page = patients::search(&state, &caller(request, &auth), search).await?;
        Ok(Json(page.into()))
    }

    /// Patients the clinic's emails could not reach (front desk), newest failure first, one
    /// entry per undelivered email: call them and correct the address. An address corrected
    /// since no longer shows.
    #[oai(
        path = "/patients/unreachable",
        method = "get",
        operation_id = "listUnreachablePatients"
    )]
    async fn unreachable(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        /// At most this many entries (1–200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<Vec<UnreachableView>>> {
        let found = patients::unreachable(&state, &caller(request, &auth), limit.0).await?;
        Ok(Json(found.into_iter().map(UnreachableView::from).collect()))
    }

    /// The caller's own patient record.
    #[oai(
        path = "/patients/me",
        method = "get",
        operation_id = "getMyPatientRecord"
    )]
    async fn me(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
    ) -> ApiResult<Json<PatientView>> {
        let record = patients::own(&state, &caller(request, &auth)).await?;
        Ok(Json(record.into()))
    }

    /// One patient record: the front desk and practitioners see any, a patient only their own.
    #[oai(path = "/patients/:id", method = "get", operation_id = "getPatient")]
    async fn get(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<PatientView>> {
        let record = patients::get(&state, &caller(request, &auth), id.0).await?;
        Ok(Json(record.into()))
    }

    /// Corrects a patient's demographics: the front desk any record, a patient their own.
    #[oai(
        path = "/patients/:id",
        method = "patch",
        operation_id = "updatePatient"
    )]
    async fn update(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
        body: Json<PatientChangesRequest>,
    ) -> ApiResult<Json<PatientView>> {
        let caller = caller(request, &auth);
        let updated = patients::update(&state, &caller, id.0, body.0.into()).await?;
        Ok(Json(updated.into()))
    }

    /// Emails a patient without a login a link (valid 7 days) to set a password. A new
    /// invitation replaces any earlier one.
    #[oai(
        path = "/patients/:id/invite",
        method = "post",
        operation_id = "invitePatient"
    )]
    async fn invite(
        &self,
        auth: BearerAuth,
        request: &Request,
        state: Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Invited> {
        let invitation = patients::invite(&state, &caller(request, &auth), id.0).await?;
        Ok(Invited::Sent(Json(InvitationSent {
            expires_at: invitation.expires_at,
        })))
    }
}
