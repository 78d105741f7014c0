//! The administrators' pages: the email outbox (counts, the dead letters, and trying one
//! again), the clinic's accounts (list, create a staff, practitioner or admin account, disable
//! one) and the audit trail (filtered, a page at a time). Who may use them is the service's
//! decision (`service::admin`, `service::users`, the same use cases as the JSON API); other
//! roles get the refusal page, visitors who are not signed in go to log in.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use entity::user::Role;
use minijinja::{Value, context};
use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{CsrfToken, Data, Path, Query, Redirect},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    account::{SignedIn, page_error},
    form::{FormData, page_id},
    render::{FormErrors, Frame},
};
use crate::{
    app::AppState,
    error::ApiError,
    notify::content::MessageKind,
    service::{
        Caller,
        accounts::{self, Account},
        admin::{self, AuditQuery, OutboxMessage, OutboxStatus, Outcome},
        users::{self, NewAccount, StaffRole},
    },
};

/// How many audit entries a page shows.
const AUDIT_PAGE: u32 = 50;

/// The roles an administrator gives, as the form offers them.
const STAFF_ROLES: [(StaffRole, &str, &str); 3] = [
    (StaffRole::Staff, "staff", "Front desk"),
    (StaffRole::Practitioner, "practitioner", "Practitioner"),
    (StaffRole::Admin, "admin", "Administrator"),
];

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Patient => "Patient",
        Role::Staff => "Front desk",
        Role::Practitioner => "Practitioner",
        Role::Admin => "Administrator",
    }
}

/// What an email is for, in plain words.
pub(super) fn kind_label(kind: &str) -> String {
    let label = match MessageKind::parse(kind) {
        Some(MessageKind::AccountVerification) => "Confirm a new account's email address",
        Some(MessageKind::PatientInvitation) => "Invitation to create an account",
        Some(MessageKind::AppointmentConfirmed) => "Appointment booked",
        Some(MessageKind::AppointmentRescheduled) => "Appointment moved",
        Some(MessageKind::AppointmentCancelled) => "Appointment cancelled",
        Some(MessageKind::AppointmentReminder) => "Appointment reminder",
        Some(MessageKind::FollowUpInvitation) => "Follow-up questionnaire",
        Some(MessageKind::ReviewNeeded) => "A case waits for review",
        Some(MessageKind::EmailChangeConfirmation) => "Confirm a new email address",
        Some(MessageKind::EmailChangeRequested) => "Email address change notice",
        Some(MessageKind::PasswordReset) => "Password reset",
        None => return kind.replace('_', " "),
    };
    label.into()
}

/// `/admin`: the administrator's start, the outbox.
#[handler]
pub fn landing() -> Response {
    Redirect::see_other("/admin/outbox").into_response()
}

/// What the outbox page was asked to say.
#[derive(Debug, Default, Deserialize)]
pub struct OutboxQuery {
    /// The dead letter just put back in the queue.
    retried: Option<String>,
}

#[handler]
pub async fn outbox_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<OutboxQuery>,
) -> poem::Result<Response> {
    let retried = query
        .retried
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
    render_outbox(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        retried,
        &FormErrors::default(),
    )
    .await
}

#[handler]
pub async fn retry(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    match admin::retry_dead_letter(&state, &caller, id).await {
        Ok(_) => Ok(Redirect::see_other(format!("/admin/outbox?retried={id}")).into_response()),
        Err(err @ ApiError::Conflict { .. }) => {
            let status = err.status();
            let errors = FormErrors::from_api(&err, &[]);
            render_outbox(&state, csrf, &caller, status, None, &errors).await
        }
        Err(err) => Err(page_error(err)),
    }
}

fn message_view(state: &AppState, message: &OutboxMessage) -> Value {
    context! {
        id => message.id.to_string(),
        kind => kind_label(&message.kind),
        recipient => message.recipient.clone(),
        attempts => message.attempts,
        last_error => message.last_error.clone(),
        when => state.local_time(message.updated_at),
        due => state.local_time(message.not_before),
    }
}

async fn render_outbox(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    retried: Option<Uuid>,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let counts = admin::outbox_counts(state, caller)
        .await
        .map_err(page_error)?;
    let dead = admin::outbox(state, caller, Some(OutboxStatus::Dead), None)
        .await
        .map_err(page_error)?;
    let waiting = admin::outbox(state, caller, Some(OutboxStatus::Pending), None)
        .await
        .map_err(page_error)?;
    let retried = retried.map(|id| {
        let again = waiting.iter().find(|message| message.id == id);
        context! {
            kind => again.map(|message| kind_label(&message.kind)),
            recipient => again.map(|message| message.recipient.clone()),
        }
    });
    let rows = [
        ("Waiting to be sent", counts.pending),
        ("Being sent now", counts.sending),
        ("Sent", counts.sent),
        ("Failed (dead letters)", counts.dead),
        ("Cancelled", counts.cancelled),
        ("Too late to send (dropped)", counts.expired),
    ];
    let counts: Vec<Value> = rows
        .iter()
        .map(|&(label, count)| context! { label, count })
        .collect();
    let dead: Vec<Value> = dead
        .iter()
        .map(|message| message_view(state, message))
        .collect();
    let waiting: Vec<Value> = waiting
        .iter()
        .map(|message| message_view(state, message))
        .collect();
    Ok(state.pages.render(
        status,
        "admin_outbox.html",
        Frame::of(csrf, caller),
        context! {
            title => "Emails",
            counts,
            dead,
            waiting,
            retried,
            errors => Value::from(minijinja::value::Serde(errors)),
        },
    ))
}

/// What the accounts page was asked to show or say.
#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    /// Only accounts with this role (`all` or absent: every account).
    role: Option<String>,
    /// The account just created.
    created: Option<String>,
    /// The account just disabled.
    disabled: Option<String>,
    /// The account just enabled again.
    enabled: Option<String>,
    /// The account just given another role.
    role_changed: Option<String>,
}

/// What the create-account form holds, to show it again.
#[derive(Debug, Default, serde::Serialize)]
struct AccountForm {
    display_name: String,
    email: String,
    role: String,
}

#[handler]
pub async fn users_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(query): Query<UsersQuery>,
) -> poem::Result<Response> {
    let said = |id: &Option<String>| id.as_deref().and_then(|id| Uuid::parse_str(id).ok());
    let done = [
        (said(&query.created), Done::Created),
        (said(&query.disabled), Done::Disabled),
        (said(&query.enabled), Done::Enabled),
        (said(&query.role_changed), Done::RoleChanged),
    ]
    .into_iter()
    .find_map(|(id, done)| id.map(|id| (id, done)));
    render_users(
        &state,
        csrf,
        &caller,
        StatusCode::OK,
        query.role.as_deref(),
        done,
        &AccountForm::default(),
        &FormErrors::default(),
    )
    .await
}

#[handler]
pub async fn create_user(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    form: FormData,
) -> poem::Result<Response> {
    let filled = AccountForm {
        display_name: form.text("display_name").unwrap_or_default(),
        email: form.text("email").unwrap_or_default(),
        role: form.text("role").unwrap_or_default(),
    };
    let password = form.raw("password").unwrap_or_default().to_owned();
    let role = STAFF_ROLES
        .iter()
        .find(|(_, value, _)| *value == filled.role)
        .map(|(role, ..)| *role);
    let mut errors = FormErrors::default();
    if filled.display_name.is_empty() {
        errors.field("display_name", "Enter the person's full name.");
    } else if let Some(problem) =
        accounts::name_problem("display_name", "name", &filled.display_name)
    {
        errors.field(
            "display_name",
            problem.message.replace("Your name", "The name"),
        );
    }
    if filled.email.is_empty() {
        errors.field("email", "Enter their email address.");
    } else if let Some(problem) = accounts::email_problem("email", &filled.email) {
        errors.field("email", problem.message);
    }
    if role.is_none() {
        errors.field("role", "Choose what they do at the clinic.");
    }
    if password.is_empty() {
        errors.field("password", "Enter a first password for them.");
    } else if let Some(problem) = accounts::password_problem("password", &password) {
        errors.field("password", problem.message);
    }
    let (Some(role), true) = (role, errors.is_empty()) else {
        return render_users(
            &state,
            csrf,
            &caller,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            &filled,
            &errors,
        )
        .await;
    };
    let command = NewAccount {
        email: filled.email.clone(),
        display_name: filled.display_name.clone(),
        role,
        password,
    };
    match users::create(&state, &caller, command).await {
        Ok(account) => {
            Ok(Redirect::see_other(format!("/admin/users?created={}", account.id)).into_response())
        }
        Err(err @ ApiError::Conflict { .. }) => {
            let status = err.status();
            let mut errors = FormErrors::default();
            errors.field(
                "email",
                "An account with this email address exists already.",
            );
            render_users(&state, csrf, &caller, status, None, None, &filled, &errors).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[handler]
pub async fn disable_user(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    change_account(&state, csrf, &caller, &id, Done::Disabled).await
}

#[handler]
pub async fn enable_user(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    change_account(&state, csrf, &caller, &id, Done::Enabled).await
}

/// Disables or re-enables an account (the service's rules), then shows the list saying so.
async fn change_account(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    id: &str,
    change: Done,
) -> poem::Result<Response> {
    let id = page_id(id)?;
    let changed = match change {
        Done::Enabled => users::enable(state, caller, id).await,
        _ => users::disable(state, caller, id).await,
    };
    show_change(state, csrf, caller, changed, change).await
}

/// Gives a staff account another staff role (the service's rules), then shows the list saying so.
#[handler]
pub async fn change_role(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    form: FormData,
) -> poem::Result<Response> {
    let id = page_id(&id)?;
    let chosen = form.text("role").unwrap_or_default();
    let Some(role) = STAFF_ROLES
        .iter()
        .find(|(_, value, _)| *value == chosen)
        .map(|(role, ..)| *role)
    else {
        let mut errors = FormErrors::default();
        errors.field("role", "Choose one of the roles offered.");
        return render_users(
            &state,
            csrf,
            &caller,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            &AccountForm::default(),
            &errors,
        )
        .await;
    };
    let changed = users::change_role(&state, &caller, id, role).await;
    show_change(&state, csrf, &caller, changed, Done::RoleChanged).await
}

/// After a change to an account: the list saying what was done, or why it was not.
async fn show_change(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    changed: Result<Account, ApiError>,
    change: Done,
) -> poem::Result<Response> {
    match changed {
        Ok(account) => {
            let said = match change {
                Done::Enabled => "enabled",
                Done::RoleChanged => "role_changed",
                _ => "disabled",
            };
            Ok(Redirect::see_other(format!("/admin/users?{said}={}", account.id)).into_response())
        }
        Err(err @ ApiError::Conflict { .. }) => {
            let status = err.status();
            let errors = FormErrors::from_api(&err, &[]);
            render_users(
                state,
                csrf,
                caller,
                status,
                None,
                None,
                &AccountForm::default(),
                &errors,
            )
            .await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Done {
    Created,
    Disabled,
    Enabled,
    RoleChanged,
}

#[allow(clippy::too_many_arguments)]
async fn render_users(
    state: &AppState,
    csrf: &CsrfToken,
    caller: &Caller,
    status: StatusCode,
    role_filter: Option<&str>,
    done: Option<(Uuid, Done)>,
    filled: &AccountForm,
    errors: &FormErrors,
) -> poem::Result<Response> {
    let everyone = users::list(state, caller).await.map_err(page_error)?;
    let role_filter = role_filter
        .and_then(crate::auth::tokens::parse_role)
        .map(crate::auth::tokens::role_name);
    let done = done.and_then(|(id, done)| {
        let account = everyone.iter().find(|account| account.id == id)?;
        Some(match done {
            Done::Created => format!(
                "{} can now log in as {} with the password you gave.",
                account.display_name,
                role_label(account.role).to_lowercase()
            ),
            Done::Disabled => format!(
                "{}'s account is disabled. They are logged out everywhere and cannot log in.",
                account.display_name
            ),
            Done::Enabled => format!(
                "{}'s account is enabled again: they can log in with their password.",
                account.display_name
            ),
            Done::RoleChanged => format!(
                "{} is now {}. They are logged out and sign in again with the new role.",
                account.display_name,
                role_label(account.role).to_lowercase()
            ),
        })
    });
    let accounts: Vec<Value> = everyone
        .iter()
        .filter(|account| {
            role_filter.is_none_or(|role| crate::auth::tokens::role_name(account.role) == role)
        })
        .map(|account: &Account| {
            context! {
                id => account.id.to_string(),
                name => account.display_name.clone(),
                email => account.email.clone(),
                role => role_label(account.role),
                active => account.disabled_at.is_none(),
                disabled_at => account.disabled_at.map(|at| state.local_time(at)),
                is_me => account.id == caller.user_id(),
                role_choices => (account.role != Role::Patient).then(|| {
                    STAFF_ROLES
                        .iter()
                        .map(|&(role, value, label)| {
                            context! { value, label, selected => Role::from(role) == account.role }
                        })
                        .collect::<Vec<Value>>()
                }),
            }
        })
        .collect();
    let filters: Vec<Value> = [
        ("all", "Everyone"),
        ("staff", "Front desk"),
        ("practitioner", "Practitioners"),
        ("admin", "Administrators"),
        ("patient", "Patients"),
    ]
    .iter()
    .map(|&(value, label)| {
        context! {
            value,
            label,
            selected => role_filter.unwrap_or("all") == value,
        }
    })
    .collect();
    let roles: Vec<Value> = STAFF_ROLES
        .iter()
        .map(|&(_, value, label)| context! { value, label, checked => filled.role == value })
        .collect();
    Ok(state.pages.render(
        status,
        "admin_users.html",
        Frame::of(csrf, caller),
        context! {
            title => "Accounts",
            accounts,
            filters,
            roles,
            done,
            form => Value::from(minijinja::value::Serde(filled)),
            errors => Value::from(minijinja::value::Serde(errors)),
        },
    ))
}

/// The audit trail's filters, from the address (a GET form).
#[derive(Debug, Default, Deserialize)]
pub struct AuditParams {
    /// The email address of the account whose actions to show.
    actor: Option<String>,
    /// Only entries about this patient (a link from an entry).
    patient: Option<String>,
    /// Only entries of this action (a link from an entry).
    action: Option<String>,
    /// The first day to show (the clinic's calendar), `YYYY-MM-DD`.
    from: Option<String>,
    /// The last day to show.
    to: Option<String>,
    /// The cursor of the next page.
    before: Option<String>,
}

/// An audit action as words: `review_queue.read` reads "review queue read".
fn action_label(action: &str) -> String {
    action.replace(['_', '.'], " ")
}

fn blank_is_none(text: &Option<String>) -> Option<&str> {
    text.as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// The first instant of `date` on the clinic's calendar.
fn start_of(state: &AppState, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    state
        .config
        .time_zone
        .from_local_datetime(&midnight)
        .earliest()
        .map(|at| at.to_utc())
        // A zone that skips midnight: the day starts an hour later, at most.
        .unwrap_or_else(|| midnight.and_utc())
}

#[handler]
pub async fn audit_page(
    state: Data<&AppState>,
    csrf: &CsrfToken,
    SignedIn(caller): SignedIn,
    Query(params): Query<AuditParams>,
) -> poem::Result<Response> {
    // The names of the people who acted (and an administrator's check on the page itself).
    let everyone = users::list(&state, &caller).await.map_err(page_error)?;
    let names: HashMap<Uuid, &Account> = everyone
        .iter()
        .map(|account| (account.id, account))
        .collect();

    let mut errors = FormErrors::default();
    let actor = blank_is_none(&params.actor);
    let actor_user_id = actor.and_then(|email| {
        let found = everyone
            .iter()
            .find(|account| account.email.eq_ignore_ascii_case(email))
            .map(|account| account.id);
        if found.is_none() {
            errors.field("actor", "No account has this email address.");
        }
        found
    });
    let mut date = |field: &str, value: &Option<String>| {
        blank_is_none(value).and_then(|text| {
            let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
            if parsed.is_none() {
                errors.field(field, "Enter a date like 2026-03-04.");
            }
            parsed
        })
    };
    let from = date("from", &params.from);
    let to = date("to", &params.to);
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        errors.field("to", "The last day cannot be before the first day.");
    }
    let action = blank_is_none(&params.action);
    let patient_id = blank_is_none(&params.patient).and_then(|id| Uuid::parse_str(id).ok());
    let before = blank_is_none(&params.before).and_then(|id| Uuid::parse_str(id).ok());

    // The filters as an address, for the next page and for going back to the newest.
    let filters = {
        let mut filters = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("actor", actor),
            ("patient", blank_is_none(&params.patient)),
            ("action", action),
            ("from", blank_is_none(&params.from)),
            ("to", blank_is_none(&params.to)),
        ] {
            if let Some(value) = value {
                filters.append_pair(name, value);
            }
        }
        filters.finish()
    };
    let with = |extra: &str| {
        let query = [filters.as_str(), extra]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("&");
        if query.is_empty() {
            "/admin/audit".to_owned()
        } else {
            format!("/admin/audit?{query}")
        }
    };

    let (status, entries, older) = if errors.is_empty() {
        let page = admin::audit_trail(
            &state,
            &caller,
            AuditQuery {
                patient_id,
                actor_user_id,
                from: from.map(|day| start_of(&state, day)),
                to: to.map(|day| start_of(&state, day + chrono::Duration::days(1))),
                action: action.map(str::to_owned),
                before,
                limit: Some(AUDIT_PAGE),
            },
        )
        .await
        .map_err(page_error)?;
        let entries: Vec<Value> = page
            .entries
            .iter()
            .map(|entry| {
                let who = entry.actor_user_id.and_then(|id| names.get(&id));
                context! {
                    when => state.local_time(entry.occurred_at),
                    who => who.map(|account| account.display_name.clone()),
                    who_email => who.map(|account| account.email.clone()),
                    role => entry.actor_role.clone(),
                    action => action_label(&entry.action),
                    action_href => format!("/admin/audit?action={}", entry.action),
                    record => entry.record_type.as_ref().map(|kind| kind.replace('_', " ")),
                    patient_href => entry.patient_id.map(|id| format!("/admin/audit?patient={id}")),
                    refused => entry.outcome == Outcome::Denied,
                    address => entry.source_address.clone(),
                    request => entry.request_id.clone(),
                }
            })
            .collect();
        let older = page
            .next_before
            .map(|cursor| with(&format!("before={cursor}")));
        (StatusCode::OK, entries, older)
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), None)
    };

    Ok(state.pages.render(
        status,
        "admin_audit.html",
        Frame::of(csrf, &caller),
        context! {
            title => "Audit trail",
            entries,
            older,
            newest => before.map(|_| with("")),
            patient => patient_id.map(|id| id.to_string()),
            only_action => action.map(|action| context! { value => action, label => action_label(action) }),
            everything => "/admin/audit",
            actor => actor.unwrap_or_default(),
            from => blank_is_none(&params.from).unwrap_or_default(),
            to => blank_is_none(&params.to).unwrap_or_default(),
            errors => Value::from(minijinja::value::Serde(&errors)),
        },
    ))
}
