//! Patient records: demographics the front desk registers, finds, corrects and invites to log
//! in, practitioners read, and a patient reads and corrects only for themselves. Every read and
//! write is on the audit trail; a record the caller may not see is a 404 (the scoped finder's).

use chrono::{DateTime, Months, NaiveDate, Utc};
use entity::{account_token::Purpose, patient};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Record, Subject},
    error::{ApiError, ApiResult, FieldError},
    notify::content::{
        EmailChangeConfirmation, EmailChangeRequested, EmailContent, PatientInvitation,
    },
    service::{
        Caller, Work,
        access::{CLINIC_TEAM, DEMOGRAPHICS_EDITORS, DEMOGRAPHICS_READERS, FRONT_DESK, PATIENT},
        accounts,
    },
    store::{
        account_tokens::{EMAIL_CHANGE_TTL, INVITATION_TTL},
        outbox::{self, NewMessage},
        patients::{self, NewPatient, PatientChanges},
        scope, users,
    },
};

/// How many patients a search answers when the caller does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// A patient's demographics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    /// A new address waiting for the patient to confirm the link sent to it; `email` is used
    /// until then.
    pub pending_email: Option<String>,
    pub phone: Option<String>,
    /// Whether the patient can log in (registered, or accepted an invitation).
    pub has_login: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<patient::Model> for Patient {
    fn from(row: patient::Model) -> Self {
        Self {
            id: row.id,
            given_name: row.given_name,
            family_name: row.family_name,
            date_of_birth: row.date_of_birth,
            email: row.email,
            pending_email: row.pending_email,
            phone: row.phone,
            has_login: row.user_id.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
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

/// The 422 for demographics that break a rule; every problem is listed.
fn invalid(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        detail: "Some fields are not valid.".into(),
        errors,
    }
}

/// [`check_date_of_birth`] of the `date_of_birth` field, as a 422.
pub fn plausible_birth_date(date_of_birth: NaiveDate, today: NaiveDate) -> ApiResult<()> {
    check_date_of_birth("date_of_birth", date_of_birth, today).map_err(|error| invalid(vec![error]))
}

/// A name or phone number as it is stored: without white space at either end.
pub fn stored_text(text: &str) -> String {
    text.trim().to_owned()
}

/// A patient the front desk registers (for example on the phone), without a login.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// What is wrong with a phone number: digits with an optional leading `+`, and spaces,
/// brackets, dots, slashes or dashes between, 3 to 40 characters (as the API's pattern).
pub fn phone_problem(field: &str, phone: &str) -> Option<FieldError> {
    let phone = phone.trim();
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    let readable = (3..=40).contains(&phone.chars().count())
        && digits.chars().any(|c| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || " ()./-".contains(c));
    (!readable).then(|| FieldError {
        field: field.into(),
        code: "invalid_phone".into(),
        message: "Enter a phone number of digits, like 0117 496 0000 or +44 117 496 0000.".into(),
    })
}

/// Every problem with a new record typed into a form, in the form's order: names, date of
/// birth, then the optional email address and phone number when given.
pub fn record_problems(record: &NewRecord, today: NaiveDate) -> Vec<FieldError> {
    [
        accounts::name_problem("given_name", "first name", &record.given_name),
        accounts::name_problem("family_name", "last name", &record.family_name),
        check_date_of_birth("date_of_birth", record.date_of_birth, today).err(),
        record
            .email
            .as_deref()
            .and_then(|email| accounts::email_problem("email", email)),
        record
            .phone
            .as_deref()
            .and_then(|phone| phone_problem("phone", phone)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Registers a patient without a login (front desk).
#[tracing::instrument(name = "service.patients.create", skip_all)]
pub async fn create(state: &AppState, caller: &Caller, command: NewRecord) -> ApiResult<Patient> {
    caller.require(state, FRONT_DESK).await?;
    // The API's edge types hold the same rules; a page sends what was typed.
    accounts::invalid_fields(record_problems(&command, state.local_today()))?;
    let work = Work::begin(state, caller).await?;
    let created = patients::create(
        work.db(),
        work.now(),
        NewPatient {
            user_id: None,
            given_name: stored_text(&command.given_name),
            family_name: stored_text(&command.family_name),
            date_of_birth: command.date_of_birth,
            email: command.email,
            phone: command.phone.as_deref().map(stored_text),
            created_by: Some(caller.user_id()),
        },
    )
    .await?;
    work.allowed(Action::PatientCreate, &created).await?;
    work.commit().await?;
    Ok(created.into())
}

/// Which patients to find, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Part of a name or email address.
    pub text: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// One page of patients.
#[derive(Debug, Clone)]
pub struct PatientPage {
    pub patients: Vec<Patient>,
    /// How many patients match in all.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// Finds patients by name or email (front desk and practitioners), by family name.
#[tracing::instrument(name = "service.patients.search", skip_all)]
pub async fn search(state: &AppState, caller: &Caller, search: Search) -> ApiResult<PatientPage> {
    caller.require(state, CLINIC_TEAM).await?;
    let limit = search.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    let offset = search.offset.unwrap_or(0);
    let (rows, total) = patients::list(
        &state.db,
        search.text.as_deref(),
        u64::from(limit),
        u64::from(offset),
    )
    .await?;
    caller
        .audit(state)
        .allowed(&state.db, Action::PatientSearch, Subject::NONE)
        .await?;
    Ok(PatientPage {
        patients: rows.into_iter().map(Patient::from).collect(),
        total,
        limit,
        offset,
    })
}

/// How many unreachable entries the front desk gets when it does not say.
const DEFAULT_UNREACHABLE: u32 = 50;
/// How many of the newest dead letters the unreachable list looks through: a clinic with more
/// has a delivery problem for its admins, not a list for its desk.
const DEAD_LETTERS_SCANNED: u64 = 1000;

/// A patient an email could not reach: who, at which address, when, and what kind of email.
/// Never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub patient_id: Uuid,
    pub given_name: String,
    pub family_name: String,
    /// The address that failed.
    pub address: String,
    /// The kind of email, e.g. `appointment_reminder`.
    pub kind: String,
    pub failed_at: DateTime<Utc>,
    /// The dead letter, for an admin to retry once the address is right.
    pub email_id: Uuid,
}

/// The patients whose emails could not be delivered (dead letters), newest failure first, at
/// most `limit` (front desk): so the desk can call them and correct the address. A dead letter
/// to an address no patient has any more (corrected since) is left out.
#[tracing::instrument(name = "service.patients.unreachable", skip_all)]
pub async fn unreachable(
    state: &AppState,
    caller: &Caller,
    limit: Option<u32>,
) -> ApiResult<Vec<Unreachable>> {
    caller.require(state, FRONT_DESK).await?;
    let limit = usize::try_from(limit.unwrap_or(DEFAULT_UNREACHABLE)).unwrap_or(usize::MAX);
    let letters = outbox::dead_letters(&state.db, DEAD_LETTERS_SCANNED).await?;
    let mut addresses: Vec<String> = letters
        .iter()
        .map(|letter| users::normalize_email(&letter.recipient))
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    let reached = patients::reached_at(&state.db, &addresses).await?;
    let found: Vec<Unreachable> = letters
        .into_iter()
        .flat_map(|letter| {
            let address = users::normalize_email(&letter.recipient);
            reached
                .iter()
                .filter(move |(_, at)| at.contains(&address))
                .map(move |(patient, _)| Unreachable {
                    patient_id: patient.id,
                    given_name: patient.given_name.clone(),
                    family_name: patient.family_name.clone(),
                    address: letter.recipient.clone(),
                    kind: letter.kind.clone(),
                    failed_at: letter.failed_at,
                    email_id: letter.id,
                })
        })
        .take(limit)
        .collect();
    caller
        .audit(state)
        .allowed(&state.db, Action::PatientUnreachableList, Subject::NONE)
        .await?;
    Ok(found)
}

/// The caller's own patient record, found by their account.
#[tracing::instrument(name = "service.patients.own", skip_all)]
pub async fn own(state: &AppState, caller: &Caller) -> ApiResult<Patient> {
    caller.require(state, PATIENT).await?;
    let record = patients::find_by_user(&state.db, caller.user_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    caller
        .audit(state)
        .allowed(&state.db, Action::PatientRead, &record)
        .await?;
    Ok(record.into())
}

/// Loads a patient record `caller` may act on as `action`: one of `allowed` roles, and for a
/// patient only their own (anything else is a 404, audited as denied).
async fn visible(
    state: &AppState,
    caller: &Caller,
    allowed: &[entity::user::Role],
    id: Uuid,
    action: Action,
) -> ApiResult<patient::Model> {
    caller
        .require_visible(state, allowed, action, Record::Patient(id), async |scope| {
            scope::patient(&state.db, scope, id).await
        })
        .await
}

/// One patient record: the front desk and practitioners see any, a patient only their own.
#[tracing::instrument(name = "service.patients.get", skip_all)]
pub async fn get(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Patient> {
    let record = visible(state, caller, DEMOGRAPHICS_READERS, id, Action::PatientRead).await?;
    caller
        .audit(state)
        .allowed(&state.db, Action::PatientRead, &record)
        .await?;
    Ok(record.into())
}

/// What a change request says about one field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Edit<T> {
    /// Left out: stays as it is.
    #[default]
    Keep,
    Set(T),
    /// `null`: removed, where the field may be empty.
    Remove,
}

/// Changes to a patient's demographics.
#[derive(Debug, Clone, Default)]
pub struct PatientEdit {
    pub given_name: Edit<String>,
    pub family_name: Edit<String>,
    pub date_of_birth: Edit<NaiveDate>,
    pub email: Edit<String>,
    pub phone: Edit<String>,
}

/// The stored changes `edit` asks for, or every problem with them: the names and the birth
/// date may be corrected but never removed, and a new birth date must be plausible.
pub fn changes(edit: PatientEdit, today: NaiveDate) -> Result<PatientChanges, Vec<FieldError>> {
    let mut errors = Vec::new();
    let given_name = required_if_present("given_name", edit.given_name, &mut errors);
    let family_name = required_if_present("family_name", edit.family_name, &mut errors);
    let date_of_birth = required_if_present("date_of_birth", edit.date_of_birth, &mut errors);
    if let Some(date_of_birth) = date_of_birth
        && let Err(error) = check_date_of_birth("date_of_birth", date_of_birth, today)
    {
        errors.push(error);
    }
    // The API's edge types check these too; a page sends what was typed.
    if let Edit::Set(email) = &edit.email
        && let Some(problem) = accounts::email_problem("email", email)
    {
        errors.push(problem);
    }
    if let Edit::Set(phone) = &edit.phone
        && let Some(problem) = phone_problem("phone", phone)
    {
        errors.push(problem);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PatientChanges {
        given_name: given_name.as_deref().map(stored_text),
        family_name: family_name.as_deref().map(stored_text),
        date_of_birth,
        email: nullable(edit.email, |email| email),
        pending_email: None,
        phone: nullable(edit.phone, |phone| stored_text(&phone)),
    })
}

/// What a requested change of address does to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChange {
    /// Nothing asked, or the address it has already: any address waiting is dropped.
    Unchanged { drop_pending: bool },
    /// A record without a login takes the address at once: the front desk heard it from the
    /// patient, and nobody logs in with it.
    Direct(Option<String>),
    /// A patient who logs in keeps their address, for login and for mail, until the new one
    /// confirms a link sent to it; so a typo or someone else's change cannot divert their mail.
    Confirm(String),
}

/// Decides [`EmailChange`] for a record with `current` address (lower case) and a login or not.
/// A patient who logs in cannot be left without an address.
pub fn email_change(
    current: Option<&str>,
    has_login: bool,
    requested: Option<Option<String>>,
) -> Result<EmailChange, FieldError> {
    let requested = match requested {
        None => {
            return Ok(EmailChange::Unchanged {
                drop_pending: false,
            });
        }
        Some(requested) => requested.map(|email| users::normalize_email(&email)),
    };
    if !has_login {
        return Ok(EmailChange::Direct(requested));
    }
    match requested {
        None => Err(FieldError {
            field: "email".into(),
            code: "required_for_login".into(),
            message: "A patient who logs in needs an email address; give the new one instead."
                .into(),
        }),
        Some(email) if Some(email.as_str()) == current => {
            Ok(EmailChange::Unchanged { drop_pending: true })
        }
        Some(email) => Ok(EmailChange::Confirm(email)),
    }
}

/// A field that may be left out but, when given, may not be removed.
fn required_if_present<T>(field: &str, edit: Edit<T>, errors: &mut Vec<FieldError>) -> Option<T> {
    match edit {
        Edit::Set(value) => Some(value),
        Edit::Keep => None,
        Edit::Remove => {
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
fn nullable<T, U>(edit: Edit<T>, convert: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match edit {
        Edit::Set(value) => Some(Some(convert(value))),
        Edit::Remove => Some(None),
        Edit::Keep => None,
    }
}

/// Corrects a patient's demographics: the front desk any record, a patient their own.
#[tracing::instrument(name = "service.patients.update", skip_all)]
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    edit: PatientEdit,
) -> ApiResult<Patient> {
    let record = visible(
        state,
        caller,
        DEMOGRAPHICS_EDITORS,
        id,
        Action::PatientUpdate,
    )
    .await?;
    let requested_email = edit.email.clone();
    let mut changes = changes(edit, state.local_today()).map_err(invalid)?;
    let has_login = record.user_id.is_some();
    let email = email_change(record.email.as_deref(), has_login, changes.email.take())
        .map_err(|error| invalid(vec![error]))?;
    let mut confirm = None;
    match email {
        EmailChange::Unchanged { drop_pending } => {
            if drop_pending && record.pending_email.is_some() {
                changes.pending_email = Some(None);
            }
        }
        EmailChange::Direct(email) => {
            if !matches!(requested_email, Edit::Keep) {
                changes.email = Some(email);
            }
        }
        EmailChange::Confirm(email) => {
            changes.pending_email = Some(Some(email.clone()));
            confirm = Some(email);
        }
    }
    let work = Work::begin(state, caller).await?;
    let previous_email = record.email.clone();
    let updated = patients::update(work.db(), work.now(), record, changes).await?;
    if let Some(new_email) = confirm {
        send_email_change_links(state, &work, &updated, previous_email, new_email).await?;
    }
    work.allowed(Action::PatientUpdate, &updated).await?;
    work.commit().await?;
    Ok(updated.into())
}

/// Emails the new address a link to confirm it, and tells the old one a change was asked for
/// (so its owner can act if it was not them). Only the newest link works.
async fn send_email_change_links(
    state: &AppState,
    work: &Work,
    record: &patient::Model,
    previous_email: Option<String>,
    new_email: String,
) -> ApiResult<()> {
    let link = (Purpose::ChangeEmail, EMAIL_CHANGE_TTL);
    work.email_patient_link(state, record.id, new_email, link, |secret| {
        EmailContent::EmailChangeConfirmation(EmailChangeConfirmation {
            recipient_name: record.given_name.clone(),
            confirm_url: state.link("confirm-email", secret),
            expires_in_hours: EMAIL_CHANGE_TTL.num_hours() as u32,
        })
    })
    .await?;
    if let Some(previous_email) = previous_email {
        let notice = EmailContent::EmailChangeRequested(EmailChangeRequested {
            recipient_name: record.given_name.clone(),
            account_url: state.page_url("account"),
        });
        let now = work.now();
        let message = NewMessage::immediate(previous_email, notice, now);
        state.outbox.enqueue(work.db(), now, message).await?;
    }
    Ok(())
}

/// An invitation on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invitation {
    pub expires_at: DateTime<Utc>,
}

/// Emails a patient without a login a link to set a password (front desk). A new invitation
/// replaces any earlier one.
#[tracing::instrument(name = "service.patients.invite", skip_all)]
pub async fn invite(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Invitation> {
    caller.require(state, FRONT_DESK).await?;
    let record = patients::find(&state.db, id)
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
    let work = Work::begin(state, caller).await?;
    let link = (Purpose::Invitation, INVITATION_TTL);
    let expires_at = work
        .email_patient_link(state, record.id, email, link, |secret| {
            EmailContent::PatientInvitation(PatientInvitation {
                recipient_name: record.given_name.clone(),
                invitation_url: state.link("accept-invitation", secret),
                expires_in_days: INVITATION_TTL.num_days() as u32,
            })
        })
        .await?;
    work.allowed(Action::PatientInvite, &record).await?;
    work.commit().await?;
    Ok(Invitation { expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn code(result: Result<(), FieldError>) -> Option<String> {
        result.err().map(|error| error.code)
    }

    #[test]
    fn a_login_keeps_its_address_until_the_new_one_is_confirmed() {
        let current = Some("kim@example.org");
        let asked = |email: Option<&str>| Some(email.map(str::to_owned));
        assert_eq!(
            email_change(current, true, None),
            Ok(EmailChange::Unchanged {
                drop_pending: false
            })
        );
        assert_eq!(
            email_change(current, true, asked(Some(" Kim.New@Example.org "))),
            Ok(EmailChange::Confirm("kim.new@example.org".into()))
        );
        assert_eq!(
            email_change(current, true, asked(Some("KIM@example.org"))),
            Ok(EmailChange::Unchanged { drop_pending: true }),
            "the address it has, in other case, withdraws a change"
        );
        let removed = email_change(current, true, asked(None)).unwrap_err();
        assert_eq!(
            (removed.field.as_str(), removed.code.as_str()),
            ("email", "required_for_login")
        );
        // A login whose record lost its address (older data) gets one only by confirming.
        assert_eq!(
            email_change(None, true, asked(Some("kim@example.org"))),
            Ok(EmailChange::Confirm("kim@example.org".into()))
        );
    }

    #[test]
    fn a_record_without_a_login_changes_its_address_at_once() {
        let asked = |email: Option<&str>| Some(email.map(str::to_owned));
        assert_eq!(
            email_change(
                Some("lou@example.org"),
                false,
                asked(Some("Lou.Park@example.org"))
            ),
            Ok(EmailChange::Direct(Some("lou.park@example.org".into())))
        );
        assert_eq!(
            email_change(Some("lou@example.org"), false, asked(None)),
            Ok(EmailChange::Direct(None))
        );
    }

    #[test]
    fn a_birth_date_is_neither_in_the_future_nor_over_120_years_ago() {
        let today = date("2026-03-02");
        let check = |text| code(check_date_of_birth("date_of_birth", date(text), today));
        assert_eq!(check("2026-03-02"), None, "born today");
        assert_eq!(check("1980-05-17"), None);
        assert_eq!(check("1906-03-02"), None, "exactly 120 years ago");
        assert_eq!(check("2026-03-03").as_deref(), Some("in_future"));
        assert_eq!(check("1906-03-01").as_deref(), Some("implausible"));
    }

    #[test]
    fn a_refused_birth_date_names_its_field() {
        let error =
            check_date_of_birth("born", date("2030-01-01"), date("2026-03-02")).unwrap_err();
        assert_eq!(error.field, "born");
    }

    #[test]
    fn names_and_the_birth_date_cannot_be_removed_and_every_problem_is_listed() {
        let edit = PatientEdit {
            given_name: Edit::Remove,
            family_name: Edit::Remove,
            date_of_birth: Edit::Remove,
            ..PatientEdit::default()
        };
        let errors = changes(edit, date("2026-03-02")).unwrap_err();
        let fields: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| (error.field.as_str(), error.code.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("given_name", "null_not_allowed"),
                ("family_name", "null_not_allowed"),
                ("date_of_birth", "null_not_allowed"),
            ]
        );
    }

    #[test]
    fn a_new_birth_date_is_checked_with_the_other_fields() {
        let edit = PatientEdit {
            given_name: Edit::Remove,
            date_of_birth: Edit::Set(date("2027-01-01")),
            ..PatientEdit::default()
        };
        let errors = changes(edit, date("2026-03-02")).unwrap_err();
        let codes: Vec<&str> = errors.iter().map(|error| error.code.as_str()).collect();
        assert_eq!(codes, ["null_not_allowed", "in_future"]);
    }

    #[test]
    fn contact_details_may_be_removed_and_left_out_fields_stay() {
        let edit = PatientEdit {
            given_name: Edit::Set("  Ada ".into()),
            email: Edit::Remove,
            phone: Edit::Set(" 0117 496 0001 ".into()),
            ..PatientEdit::default()
        };
        let changes = changes(edit, date("2026-03-02")).unwrap();
        assert_eq!(changes.given_name.as_deref(), Some("Ada"));
        assert_eq!(changes.family_name, None);
        assert_eq!(changes.date_of_birth, None);
        assert_eq!(changes.email, Some(None));
        assert_eq!(changes.phone, Some(Some("0117 496 0001".into())));
    }
}
