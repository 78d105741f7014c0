//! The demo clinic: two locations in different time zones, two chiropractors, two
//! physiotherapists, the four usual appointment types, a front desk, an admin and three patients
//! whose routine intakes let them book. `lumbar seed-demo` fills an empty database with it, and
//! `lumbar serve` does so on the first start of the embedded default, so a fresh checkout is
//! explorable at once.
//!
//! Everything goes through the same validation the API applies (zones, hours, appointment types
//! against the slot grid, answers through the triage rules) and is written in one transaction.

use std::fmt::Write as _;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use entity::{
    practitioner::Discipline,
    user::{self, Role},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::{password, tokens::role_name},
    config::{Config, Secret},
    scheduling::{
        self, AppointmentTypeInput, ClinicPolicies, LocationHours, WeeklyHours,
        WorkingIntervalInput, Zone, check_practitioner_hours,
    },
    service::intake::judgement,
    store::{
        self, clinic,
        clinic::NewAppointmentType,
        intakes::{self, NewIntake},
        patients::{self, NewPatient},
        practitioners, secrets,
        users::{self, NewUser},
    },
    triage::{Answers, Disposition, INTAKE_QUESTIONNAIRE, Triage},
};

/// Every demo account's address ends in this reserved, undeliverable domain (RFC 2606), so no
/// demo email can reach a real person.
pub const EMAIL_DOMAIN: &str = "demo.lumbar.invalid";

/// Characters of a generated demo password (base64url: 96 random bits).
const PASSWORD_CHARS: usize = 16;

/// Seeding refused: the demo only fills an empty database, never mixes with real accounts.
#[derive(Debug, thiserror::Error)]
#[error("the database already has users; seed-demo only fills an empty database")]
pub struct NotEmpty;

/// One demo account and its password, shown once to whoever seeded the database.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: Role,
    pub name: String,
    pub email: String,
    /// Redacted in `Debug`, so the logins can never end up in a log by accident.
    pub password: Secret,
}

/// The demo accounts, in the order they are listed: admin, front desk, practitioners, patients.
#[derive(Debug, Clone, Default)]
pub struct DemoLogins {
    pub logins: Vec<DemoLogin>,
}

impl DemoLogins {
    /// The first account with `role`.
    pub fn with_role(&self, role: Role) -> Option<&DemoLogin> {
        self.logins.iter().find(|login| login.role == role)
    }

    /// A plain-text table: one header line, then one account per line, columns padded.
    pub fn table(&self) -> String {
        let headers = ["role", "name", "email", "password"];
        let rows: Vec<[&str; 4]> = self
            .logins
            .iter()
            .map(|login| {
                [
                    role_name(login.role),
                    login.name.as_str(),
                    login.email.as_str(),
                    login.password.expose(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&headers).chain(&rows) {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
                if index + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:width$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Whether `serve` seeds the demo clinic on this start: only on the embedded default (no
/// `DATABASE_URL`, so never on PostgreSQL) and only when its file does not exist yet, i.e. this
/// start is about to create the database. Call it before the database is opened. When the
/// answer is unclear (the file cannot be checked) it is no: a demo must never mix with data.
pub fn seeds_on_first_start(config: &Config) -> bool {
    config.database_url.is_none()
        && matches!(std::fs::exists(config.embedded_database_file()), Ok(false))
}

/// The demo clinic's text for standard output: what the accounts are and where to sign in.
pub fn announcement(logins: &DemoLogins, base_url: &str) -> String {
    let base_url = base_url.trim_end_matches('/');
    format!(
        "Demo clinic: two locations (Riverside Clinic, London; Harbor Street Clinic, New York), \
         four practitioners, the usual appointment types and three patients who can book.\n\
         These are demo accounts for trying Lumbar only; each password is random and shown \
         only now.\n\n{}\n\
         Sign in with POST {base_url}/api/v1/auth/login, or try the API at {base_url}/docs.\n",
        logins.table()
    )
}

/// Seeds the demo clinic into an empty database, in one transaction, and returns the logins.
/// `now` stamps every row; the intakes are judged on its date in `clinic_zone`, as a submission
/// would be. Fails with [`NotEmpty`] if any account exists.
pub async fn seed(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    clinic_zone: chrono_tz::Tz,
    triage: &Triage,
) -> anyhow::Result<DemoLogins> {
    // Checked again inside the transaction; this one only saves hashing passwords for nothing.
    ensure_empty(db).await?;
    let today = now.with_timezone(&clinic_zone).date_naive();

    // Everything is validated before the transaction starts, as the API would validate it.
    let locations = LOCATIONS
        .iter()
        .map(|plan| {
            Zone::parse(plan.time_zone)
                .map(|zone| (plan, zone))
                .with_context(|| format!("demo location {}", plan.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let patients = PATIENTS
        .iter()
        .map(|plan| Ok((plan, routine_intake(triage, plan, today)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut accounts = Vec::new();
    for (role, name, local_part) in STAFF
        .iter()
        .map(|(role, name, local)| (*role, *name, *local))
        .chain(
            PRACTITIONERS
                .iter()
                .map(|plan| (Role::Practitioner, plan.name, plan.email)),
        )
        .chain(
            PATIENTS
                .iter()
                .map(|plan| (Role::Patient, plan.display_name, plan.email)),
        )
    {
        let password = new_password()?;
        let hash = password::hash(password.clone()).await?;
        accounts.push((
            DemoLogin {
                role,
                name: name.to_owned(),
                email: format!("{local_part}@{EMAIL_DOMAIN}"),
                password: Secret::new(password),
            },
            hash,
        ));
    }

    let txn = store::begin_write(db).await?;
    ensure_empty(&txn).await?;
    let policies = ClinicPolicies::new(clinic::policies(&txn).await?)
        .map_err(|errors| anyhow::anyhow!("the stored clinic policies are invalid: {errors}"))?;
    let grid = policies.slot_grid();

    let mut user_ids = Vec::with_capacity(accounts.len());
    for (login, hash) in &accounts {
        let created = users::create(
            &txn,
            now,
            NewUser {
                email: login.email.clone(),
                display_name: login.name.clone(),
                password_hash: Some(hash.clone()),
                role: login.role,
                email_verified: true,
            },
        )
        .await
        .with_context(|| format!("creating the demo account {}", login.email))?;
        user_ids.push(created.id);
    }

    let mut location_ids = Vec::with_capacity(locations.len());
    for (plan, zone) in &locations {
        let created = clinic::create_location(
            &txn,
            now,
            plan.name.to_owned(),
            plan.address.to_owned(),
            zone.name().to_owned(),
        )
        .await?;
        location_ids.push((created.id, *zone));
    }

    for plan in APPOINTMENT_TYPES {
        scheduling::AppointmentType::new(
            AppointmentTypeInput {
                name: plan.name.to_owned(),
                discipline: crate::service::availability::discipline_of(plan.discipline),
                duration_minutes: i64::from(plan.duration_minutes),
                buffer_after_minutes: i64::from(plan.buffer_after_minutes),
                new_patient: plan.new_patient,
                active: true,
            },
            grid,
        )
        .map_err(|errors| anyhow::anyhow!("demo appointment type {}: {errors}", plan.name))?;
        clinic::create_appointment_type(
            &txn,
            now,
            NewAppointmentType {
                name: plan.name.to_owned(),
                discipline: plan.discipline,
                duration_minutes: plan.duration_minutes,
                buffer_after_minutes: plan.buffer_after_minutes,
                new_patient: plan.new_patient,
                active: true,
            },
        )
        .await?;
    }

    let practitioner_users = &user_ids[STAFF.len()..STAFF.len() + PRACTITIONERS.len()];
    for (plan, user_id) in PRACTITIONERS.iter().zip(practitioner_users) {
        let mut checked = Vec::new();
        for (location, days) in plan.works {
            let (location_id, zone) = location_ids[*location];
            let inputs: Vec<WorkingIntervalInput> = days
                .iter()
                .flat_map(|day| {
                    DAY.iter()
                        .map(|(start, end)| WorkingIntervalInput::new(*day, start, end))
                })
                .collect();
            let hours = WeeklyHours::new(&inputs, grid)
                .map_err(|errors| anyhow::anyhow!("demo hours of {}: {errors}", plan.name))?;
            checked.push(LocationHours {
                location_id: location_id.into(),
                zone,
                hours,
            });
        }
        check_practitioner_hours(&checked, today)
            .map_err(|errors| anyhow::anyhow!("demo hours of {}: {errors}", plan.name))?;
        let works_at: Vec<Uuid> = checked
            .iter()
            .map(|hours| hours.location_id.uuid())
            .collect();
        let created = practitioners::create(
            &txn,
            now,
            *user_id,
            plan.name.to_owned(),
            plan.discipline,
            &works_at,
        )
        .await?;
        let rows = practitioners::working_interval_rows(&checked);
        practitioners::replace_working_hours(&txn, created.id, rows).await?;
    }

    let patient_users = &user_ids[STAFF.len() + PRACTITIONERS.len()..];
    let questionnaire_version = triage
        .questionnaire(INTAKE_QUESTIONNAIRE)
        .map(|questionnaire| questionnaire.version().to_owned())
        .context("there is no intake questionnaire")?;
    for ((plan, (answers, evaluation)), user_id) in patients.into_iter().zip(patient_users) {
        let record = patients::create(
            &txn,
            now,
            NewPatient {
                user_id: Some(*user_id),
                given_name: plan.given_name.to_owned(),
                family_name: plan.family_name.to_owned(),
                date_of_birth: plan.date_of_birth(today),
                email: Some(format!("{}@{EMAIL_DOMAIN}", plan.email)),
                phone: Some(plan.phone.to_owned()),
                created_by: None,
            },
        )
        .await?;
        // Created and submitted as the patient's own submission would be.
        let draft = intakes::create(
            &txn,
            now,
            NewIntake {
                patient_id: record.id,
                questionnaire_id: INTAKE_QUESTIONNAIRE.to_owned(),
                questionnaire_version: questionnaire_version.clone(),
                answers: "{}".to_owned(),
                created_by: Some(*user_id),
                supersedes: None,
            },
        )
        .await?;
        let text = Value::Object(answers).to_string();
        if !intakes::submit(&txn, now, draft.id, text, judgement(&evaluation, None)?).await? {
            anyhow::bail!("the demo intake of {} was not submitted", plan.display_name);
        }
    }
    txn.commit().await?;

    Ok(DemoLogins {
        logins: accounts.into_iter().map(|(login, _)| login).collect(),
    })
}

async fn ensure_empty<C: ConnectionTrait>(db: &C) -> anyhow::Result<()> {
    if user::Entity::find().one(db).await?.is_some() {
        return Err(NotEmpty.into());
    }
    Ok(())
}

fn new_password() -> anyhow::Result<String> {
    let secret = secrets::new_secret()?;
    Ok(secret.chars().take(PASSWORD_CHARS).collect())
}

/// The patient's answers and their evaluation on `today`; anything but routine is refused, so
/// every demo patient can book (a custom rule file might judge the same answers differently).
fn routine_intake(
    triage: &Triage,
    plan: &PatientPlan,
    today: NaiveDate,
) -> anyhow::Result<(Answers, crate::triage::Evaluation)> {
    let answers = plan.answers(today);
    let evaluation = triage
        .evaluate(INTAKE_QUESTIONNAIRE, &answers, today)
        .map_err(|err| {
            anyhow::anyhow!(
                "the demo answers of {} do not fit the intake questionnaire: {err}",
                plan.display_name
            )
        })?;
    if evaluation.disposition != Disposition::Routine {
        anyhow::bail!(
            "rule set {} judges the demo answers of {} {}, not routine; seed the demo with the \
             embedded rule set",
            evaluation.rule_set_version,
            plan.display_name,
            evaluation.disposition.as_str()
        );
    }
    Ok((answers, evaluation))
}

struct LocationPlan {
    name: &'static str,
    address: &'static str,
    time_zone: &'static str,
}

const LOCATIONS: &[LocationPlan] = &[
    LocationPlan {
        name: "Riverside Clinic",
        address: "14 Riverside Walk, Richmond, London TW9 1TJ, United Kingdom",
        time_zone: "Europe/London",
    },
    LocationPlan {
        name: "Harbor Street Clinic",
        address: "220 Harbor Street, Suite 3, Brooklyn, NY 11201, United States",
        time_zone: "America/New_York",
    },
];

const RIVERSIDE: usize = 0;
const HARBOR_STREET: usize = 1;

/// The admin and the front desk: (role, name, email before the @).
const STAFF: &[(Role, &str, &str)] = &[
    (Role::Admin, "Morgan Blake", "admin"),
    (Role::Staff, "Jordan Ellis", "frontdesk"),
];

/// A working day, local time, with a lunch break.
const DAY: &[(&str, &str)] = &[("09:00", "12:30"), ("13:30", "17:30")];
const WEEKDAYS: &[Weekday] = &[
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];

struct PractitionerPlan {
    name: &'static str,
    email: &'static str,
    discipline: Discipline,
    /// Location (index into [`LOCATIONS`]) and the weekdays worked there.
    works: &'static [(usize, &'static [Weekday])],
}

const PRACTITIONERS: &[PractitionerPlan] = &[
    PractitionerPlan {
        name: "Dr Priya Shah",
        email: "priya.shah",
        discipline: Discipline::Chiropractic,
        works: &[(RIVERSIDE, WEEKDAYS)],
    },
    PractitionerPlan {
        name: "Dr Marcus Bell",
        email: "marcus.bell",
        discipline: Discipline::Chiropractic,
        works: &[(HARBOR_STREET, WEEKDAYS)],
    },
    PractitionerPlan {
        name: "Hannah Okafor",
        email: "hannah.okafor",
        discipline: Discipline::Physiotherapy,
        works: &[(RIVERSIDE, WEEKDAYS)],
    },
    // Works at both: the early week in London, the rest in New York, so the hours never
    // overlap in real time whatever the season.
    PractitionerPlan {
        name: "Daniel Reyes",
        email: "daniel.reyes",
        discipline: Discipline::Physiotherapy,
        works: &[
            (RIVERSIDE, &[Weekday::Mon, Weekday::Tue]),
            (HARBOR_STREET, &[Weekday::Wed, Weekday::Thu, Weekday::Fri]),
        ],
    },
];

struct AppointmentTypePlan {
    name: &'static str,
    discipline: Discipline,
    duration_minutes: i32,
    buffer_after_minutes: i32,
    new_patient: bool,
}

const APPOINTMENT_TYPES: &[AppointmentTypePlan] = &[
    AppointmentTypePlan {
        name: "Chiropractic new patient visit",
        discipline: Discipline::Chiropractic,
        duration_minutes: 45,
        buffer_after_minutes: 15,
        new_patient: true,
    },
    AppointmentTypePlan {
        name: "Chiropractic follow-up",
        discipline: Discipline::Chiropractic,
        duration_minutes: 30,
        buffer_after_minutes: 0,
        new_patient: false,
    },
    AppointmentTypePlan {
        name: "Physiotherapy initial assessment",
        discipline: Discipline::Physiotherapy,
        duration_minutes: 60,
        buffer_after_minutes: 0,
        new_patient: true,
    },
    AppointmentTypePlan {
        name: "Physiotherapy follow-up",
        discipline: Discipline::Physiotherapy,
        duration_minutes: 45,
        buffer_after_minutes: 0,
        new_patient: false,
    },
];

struct PatientPlan {
    given_name: &'static str,
    family_name: &'static str,
    display_name: &'static str,
    email: &'static str,
    phone: &'static str,
    /// Age this year (the date of birth follows the seeding date, so the answers stay routine
    /// whenever the demo is seeded) and birthday (month, day).
    age: i32,
    birthday: (u32, u32),
    sex: &'static str,
    pain_areas: &'static [&'static str],
    onset_cause: &'static str,
    symptom_days: i64,
    pain_now: u8,
    pain_worst_week: u8,
}

impl PatientPlan {
    fn date_of_birth(&self, today: NaiveDate) -> NaiveDate {
        let (month, day) = self.birthday;
        NaiveDate::from_ymd_opt(today.year() - self.age, month, day).unwrap_or(today)
    }

    /// A complete intake that fires no red-flag rule: a few days to weeks of simple back or
    /// neck pain, every safety question answered "no", low STarT Back risk, mild disability.
    fn answers(&self, today: NaiveDate) -> Answers {
        let mut answers = Answers::new();
        let mut set = |key: &str, value: Value| {
            answers.insert(key.to_owned(), value);
        };
        set(
            "date_of_birth",
            json!(self.date_of_birth(today).to_string()),
        );
        set("sex", json!(self.sex));
        set("pain_areas", json!(self.pain_areas));
        set(
            "pain_started_on",
            json!((today - Duration::days(self.symptom_days)).to_string()),
        );
        set("onset_cause", json!(self.onset_cause));
        set("first_episode", json!(false));
        set("pain_now", json!(self.pain_now));
        set("pain_worst_week", json!(self.pain_worst_week));
        set("leg_symptoms", json!("none"));
        set("leg_weakness", json!("none"));
        for key in NO_TO_ALL {
            set(key, json!(false));
        }
        set("nsaid_relief_48h", json!("not_tried"));
        for item in 1..=8 {
            set(&format!("sbt_{item}"), json!(false));
        }
        set("sbt_9", json!("slightly"));
        for section in 1..=10 {
            set(&format!("odi_{section}"), json!(1));
        }
        set(
            "goals",
            json!("Get back to walking and sleeping without pain."),
        );
        set("consent_treatment", json!(true));
        set("consent_privacy", json!(true));
        answers
    }
}

/// The yes/no questions a routine intake answers "no" (red flags and their look-alikes).
const NO_TO_ALL: &[&str] = &crate::triage::ROUTINE_NO_ITEMS;

const PATIENTS: &[PatientPlan] = &[
    PatientPlan {
        given_name: "Alex",
        family_name: "Morgan",
        display_name: "Alex Morgan",
        email: "alex.morgan",
        phone: "+44 20 7946 0321",
        age: 40,
        birthday: (3, 14),
        sex: "female",
        pain_areas: &["lower_back"],
        onset_cause: "no_clear_cause",
        symptom_days: 5,
        pain_now: 4,
        pain_worst_week: 6,
    },
    PatientPlan {
        given_name: "Sam",
        family_name: "Rivera",
        display_name: "Sam Rivera",
        email: "sam.rivera",
        phone: "+1 212 555 0147",
        age: 34,
        birthday: (9, 2),
        sex: "male",
        pain_areas: &["neck", "upper_back"],
        onset_cause: "sport",
        symptom_days: 12,
        pain_now: 3,
        pain_worst_week: 5,
    },
    PatientPlan {
        given_name: "Jamie",
        family_name: "Chen",
        display_name: "Jamie Chen",
        email: "jamie.chen",
        phone: "+44 20 7946 0588",
        age: 47,
        birthday: (11, 23),
        sex: "undisclosed",
        pain_areas: &["lower_back", "buttock"],
        onset_cause: "lifting",
        symptom_days: 20,
        pain_now: 5,
        pain_worst_week: 7,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_intake_is_routine_under_the_embedded_rules() {
        let triage = Triage::embedded().unwrap();
        for today in ["2026-01-01", "2026-03-29", "2026-07-15", "2030-12-31"] {
            let today = NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap();
            for plan in PATIENTS {
                let (_, evaluation) = routine_intake(&triage, plan, today).unwrap();
                assert_eq!(evaluation.disposition, Disposition::Routine);
                assert!(evaluation.findings.is_empty(), "{}", plan.display_name);
            }
        }
    }

    #[test]
    fn the_table_lists_every_login_on_its_own_line() {
        let logins = DemoLogins {
            logins: vec![
                DemoLogin {
                    role: Role::Admin,
                    name: "Morgan Blake".into(),
                    email: format!("admin@{EMAIL_DOMAIN}"),
                    password: Secret::new("pw-one-1234567890"),
                },
                DemoLogin {
                    role: Role::Practitioner,
                    name: "Dr Priya Shah".into(),
                    email: format!("priya.shah@{EMAIL_DOMAIN}"),
                    password: Secret::new("pw-two-1234567890"),
                },
            ],
        };
        let table = logins.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("role"), "{table}");
        let columns: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(columns.first(), Some(&"practitioner"));
        assert_eq!(columns.last(), Some(&"pw-two-1234567890"));
        // The emails line up in one column.
        assert_eq!(lines[1].find("admin@"), lines[2].find("priya.shah@"));
        assert!(
            !format!("{logins:?}").contains("pw-one"),
            "Debug is redacted"
        );
    }

    fn config(args: &[&str]) -> Config {
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(
            std::iter::once("lumbar").chain(args.iter().copied()),
        )
        .unwrap();
        cli.config
    }

    #[test]
    fn only_a_new_embedded_database_gets_the_demo() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let data_dir = dir.to_str().unwrap();
        let embedded = config(&["--data-dir", data_dir]);
        assert!(seeds_on_first_start(&embedded), "a new embedded database");

        std::fs::write(dir.join("lumbar.db"), b"").unwrap();
        assert!(!seeds_on_first_start(&embedded), "the file exists already");

        let other = dir.join("other.db");
        let url = format!("sqlite://{}?mode=rwc", other.display());
        let explicit = config(&["--data-dir", data_dir, "--database-url", &url]);
        assert!(!seeds_on_first_start(&explicit), "DATABASE_URL is set");

        let postgres = config(&[
            "--data-dir",
            dir.join("new").to_str().unwrap(),
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/lumbar",
        ]);
        assert!(!seeds_on_first_start(&postgres), "never on PostgreSQL");
    }
}
