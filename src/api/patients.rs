//! `/api/v1/patients`: patient records (demographics). The front desk creates, finds, edits and
//! invites patients; practitioners read them; a patient reads and edits only their own record.
//! Every read and write is on the audit trail, and a record the caller may not see is a 404.

use chrono::{DateTime, Months, NaiveDate, Utc};
use entity::{patient, user::Role};
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
        ApiTags,
        access::{CLINIC_TEAM, FRONT_DESK, PATIENT, require_role},
        types::{Date, NonBlank, Text},
    },
    app::AppState,
    audit::{self, Action, AuditContext, Entry, Record},
    auth::BearerAuth,
    error::{ApiError, ApiResult, FieldError},
    notify::content::{EmailContent, PatientInvitation},
    store::{
        account_tokens::{self, INVITATION_TTL, Subject},
        outbox::NewMessage,
        patients::{self, NewPatient, PatientChanges},
        users,
    },
};

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
    #[oai(skip_serializing_if_is_none)]
    pub phone: Option<String>,
    /// Whether the patient can log in (registered, or accepted an invitation).
    pub has_login: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<patient::Model> for PatientView {
    fn from(row: patient::Model) -> Self {
        Self {
            id: row.id,
            given_name: row.given_name,
            family_name: row.family_name,
            date_of_birth: Date(row.date_of_birth),
            email: row.email,
            phone: row.phone,
            has_login: row.user_id.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
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
/// email address or phone number.
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

/// A field that may be left out but, when given, may not be `null`.
fn required_if_present<T>(
    field: &str,
    value: MaybeUndefined<T>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match value {
        MaybeUndefined::Value(value) => Some(value),
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => {
            errors.push(FieldError {
                field: field.into(),
                code: "null_not_allowed".into(),
                message: format!("`{field}` cannot be removed; leave it out to keep it."),
            });
            None
        }
    }
}

/// `Some(None)` removes the value, `None` keeps it.
fn nullable<T, U>(value: MaybeUndefined<T>, convert: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Value(value) => Some(Some(convert(value))),
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Undefined => None,
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

/// Refuses a birth date in the future (in the clinic's zone) or more than 120 years ago.
pub fn check_date_of_birth(
    field: &str,
    date_of_birth: NaiveDate,
    today: NaiveDate,
) -> Result<(), FieldError> {
    let oldest = today.checked_sub_months(Months::new(120 * 12));
    if date_of_birth > today {
        return Err(FieldError {
            field: field.into(),
            code: "in_future".into(),
            message: "The date of birth cannot be in the future.".into(),
        });
    }
    if oldest.is_some_and(|oldest| date_of_birth < oldest) {
        return Err(FieldError {
            field: field.into(),
            code: "implausible".into(),
            message: "The date of birth is more than 120 years ago; please check it.".into(),
        });
    }
    Ok(())
}

pub fn invalid(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        detail: "Some fields are not valid.".into(),
        errors,
    }
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
        require_role(&state, request, &auth, FRONT_DESK).await?;
        let body = body.0;
        check_date_of_birth("date_of_birth", body.date_of_birth.0, state.local_today())
            .map_err(|error| invalid(vec![error]))?;
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let created = patients::create(
            &txn,
            now,
            NewPatient {
                user_id: None,
                given_name: body.given_name.trimmed(),
                family_name: body.family_name.trimmed(),
                date_of_birth: body.date_of_birth.0,
                email: body.email.map(|email| email.0),
                phone: body.phone.map(|phone| phone.as_str().trim().to_owned()),
                created_by: Some(auth.0.user_id),
            },
        )
        .await?;
        let context = AuditContext::from_request(request, Some(&auth.0));
        audit::record(
            &txn,
            now,
            &context,
            Entry::allowed(Action::PatientCreate).on(Record::Patient(created.id)),
        )
        .await?;
        txn.commit().await?;
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
        q: Query<Option<String>>,
        /// At most this many patients (1–200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// Skip this many (default 0).
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
        offset: Query<Option<u32>>,
    ) -> ApiResult<Json<PatientPage>> {
        require_role(&state, request, &auth, CLINIC_TEAM).await?;
        let limit = limit.0.unwrap_or(50);
        let offset = offset.0.unwrap_or(0);
        let (rows, total) = patients::list(
            &state.db,
            q.0.as_deref(),
            u64::from(limit),
            u64::from(offset),
        )
        .await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::PatientSearch),
        )
        .await?;
        Ok(Json(PatientPage {
            patients: rows.into_iter().map(PatientView::from).collect(),
            total,
            limit,
            offset,
        }))
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
        require_role(&state, request, &auth, PATIENT).await?;
        let record = patients::find_by_user(&state.db, auth.0.user_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        audit::record(
            &state.db,
            state.clock.now(),
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::PatientRead).on(Record::Patient(record.id)),
        )
        .await?;
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
        let record = visible_patient(&state, request, &auth, id.0, Action::PatientRead).await?;
        audit::record(
            &state.db,
            state.clock.now(),
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::PatientRead).on(Record::Patient(record.id)),
        )
        .await?;
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
        let record = visible_patient(&state, request, &auth, id.0, Action::PatientUpdate).await?;
        let body = body.0;
        let mut errors = Vec::new();
        let given_name = required_if_present("given_name", body.given_name, &mut errors);
        let family_name = required_if_present("family_name", body.family_name, &mut errors);
        let date_of_birth = required_if_present("date_of_birth", body.date_of_birth, &mut errors);
        if let Some(Date(date_of_birth)) = date_of_birth
            && let Err(error) =
                check_date_of_birth("date_of_birth", date_of_birth, state.local_today())
        {
            errors.push(error);
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        let changes = PatientChanges {
            given_name: given_name.map(|name| name.trimmed()),
            family_name: family_name.map(|name| name.trimmed()),
            date_of_birth: date_of_birth.map(|date| date.0),
            email: nullable(body.email, |email| email.0),
            phone: nullable(body.phone, |phone| phone.as_str().trim().to_owned()),
        };
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let updated = patients::update(&txn, now, record, changes).await?;
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::PatientUpdate).on(Record::Patient(updated.id)),
        )
        .await?;
        txn.commit().await?;
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
        require_role(&state, request, &auth, FRONT_DESK).await?;
        let record = patients::find(&state.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        if record.user_id.is_some() {
            return Err(ApiError::Conflict {
                code: "patient_has_login",
                detail: "This patient can already log in.".into(),
            });
        }
        let Some(email) = record.email.clone() else {
            return Err(ApiError::Conflict {
                code: "patient_has_no_email",
                detail: "Add the patient's email address before inviting them.".into(),
            });
        };
        if users::find_by_email(&state.db, &email).await?.is_some() {
            return Err(ApiError::Conflict {
                code: "email_taken",
                detail: "An account with this patient's email address exists already.".into(),
            });
        }
        let now = state.clock.now();
        let txn = crate::store::begin_write(&state.db).await?;
        let secret = account_tokens::issue(
            &txn,
            now,
            entity::account_token::Purpose::Invitation,
            Subject::Patient(record.id),
            INVITATION_TTL,
        )
        .await?;
        state
            .outbox
            .enqueue(
                &txn,
                now,
                NewMessage::immediate(
                    email,
                    EmailContent::PatientInvitation(PatientInvitation {
                        recipient_name: record.given_name.clone(),
                        invitation_url: state.link("accept-invitation", &secret),
                        expires_in_days: INVITATION_TTL.num_days() as u32,
                    }),
                    now,
                ),
            )
            .await
            .map_err(ApiError::internal)?;
        audit::record(
            &txn,
            now,
            &AuditContext::from_request(request, Some(&auth.0)),
            Entry::allowed(Action::PatientInvite).on(Record::Patient(record.id)),
        )
        .await?;
        txn.commit().await?;
        Ok(Invited::Sent(Json(InvitationSent {
            expires_at: now + INVITATION_TTL,
        })))
    }
}

/// Loads a patient record the caller may act on. Staff and practitioners may act on any record
/// (reading; only staff may edit others'), a patient only on their own: anything else is a 404
/// with a denied entry on the audit trail, exactly as if the record did not exist.
async fn visible_patient(
    state: &AppState,
    request: &Request,
    auth: &BearerAuth,
    id: Uuid,
    action: Action,
) -> ApiResult<patient::Model> {
    let allowed: &[Role] = match action {
        Action::PatientUpdate => &[Role::Staff, Role::Patient],
        _ => &[Role::Staff, Role::Practitioner, Role::Patient],
    };
    require_role(state, request, auth, allowed).await?;
    let record = patients::find(&state.db, id).await?;
    match record {
        Some(record) if auth.0.role != Role::Patient => Ok(record),
        Some(record) if record.user_id == Some(auth.0.user_id) => Ok(record),
        _ => {
            audit::record(
                &state.db,
                state.clock.now(),
                &AuditContext::from_request(request, Some(&auth.0)),
                Entry::denied(action).on(Record::Patient(id)),
            )
            .await?;
            Err(ApiError::NotFound)
        }
    }
}
