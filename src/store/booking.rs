//! A booking's database work: reading what the decision needs, and writing the appointment,
//! its emails, its audit entries and the stored response for its `Idempotency-Key`, all or
//! nothing.
//!
//! On PostgreSQL this is one statement (data-modifying CTEs, autocommit): a booking is the
//! busiest write of the service and most of its cost was round trips, not work. The key's
//! entry is inserted first and every other row is inserted only from it, so a key that is taken
//! writes nothing. A transaction-scoped advisory lock on the key, taken without waiting, tells a
//! duplicate that arrives while the first request's write is still running (it writes nothing
//! and finds no entry: "in flight") from one that arrives after it (it finds the entry).
//!
//! On SQLite, which has no data-modifying CTEs, the same rows are written in one
//! `BEGIN IMMEDIATE` transaction; writers take turns, so a duplicate always finds the entry.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use entity::{
    appointment, appointment_type, audit_event, clinic_policy, idempotency_key, intake, location,
    outbox_message, patient,
    practitioner::{self, Discipline},
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, DbErr, EntityName, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    Statement,
    sea_query::{
        Alias, CommonTableExpression, Expr, ExprTrait, Func, InsertStatement, JoinType, OnConflict,
        PostgresQueryBuilder, Query, SelectStatement, Value, WithClause,
    },
};
use uuid::Uuid;

use crate::ids::{AppointmentTypeId, LocationId, PatientId, PractitionerId};

use super::{
    appointments::{
        CalendarRows, HOLDING_TIME, HeldTime, WriteError, calendar_rows, classify,
        holding_starts_after, join_calendar_arrays, join_patient_arrays, patient_time,
        patient_time_from_arrays, retry_contended,
    },
    intakes::{self, CaseRow},
    outbox::Outbox,
};

/// Every row one booking writes.
#[derive(Clone)]
pub struct NewBooking {
    /// The key's entry with the response to replay (see `idempotency::KeyedRequest`).
    pub key: idempotency_key::ActiveModel,
    pub appointment: appointment::ActiveModel,
    /// Checked by `Outbox::prepare`; a message whose dedupe key exists is skipped.
    pub emails: Vec<outbox_message::ActiveModel>,
    pub audit: Vec<audit_event::ActiveModel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Everything was written.
    Booked,
    /// Nothing was written: the key has an entry, or (PostgreSQL) a request with the same key
    /// is being written at this moment. Look the key up to tell which.
    KeyTaken,
}

/// Writes the booking, or nothing. [`WriteError::Overlap`] when the time is taken; a deadlock
/// with another booking is retried first (nothing of the losing attempt was written).
#[tracing::instrument(name = "store.booking.write", skip_all)]
pub async fn write(db: &DatabaseConnection, booking: &NewBooking) -> Result<Written, WriteError> {
    retry_contended(|| async {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => write_in_one_statement(db, booking).await,
            _ => write_in_one_transaction(db, booking).await,
        }
    })
    .await
}

const CLAIM: &str = "claim";

async fn write_in_one_statement(
    db: &DatabaseConnection,
    booking: &NewBooking,
) -> Result<Written, WriteError> {
    let NewBooking {
        key,
        appointment,
        emails,
        audit,
    } = booking;
    let lock_name = format!(
        "idempotency/{}/{}",
        key.scope.try_as_ref().map_or("", String::as_str),
        key.idempotency_key.try_as_ref().map_or("", String::as_str)
    );
    // Only when the lock is ours does the SELECT yield a row to insert: without waiting.
    let mut claim_source = Query::select();
    claim_source.and_where(Expr::expr(
        Func::cust("pg_try_advisory_xact_lock").arg(
            Func::cust("hashtextextended")
                .arg(Expr::val(lock_name))
                .arg(Expr::val(0i64)),
        ),
    ));
    let mut claim = insert_selected(key, claim_source)?;
    claim
        .on_conflict(key_taken())
        .returning_col(idempotency_key::Column::Scope);

    let mut with = WithClause::new();
    with.cte(cte(CLAIM, claim));
    with.cte(cte("booked", from_claim(appointment)?));
    for (n, email) in emails.iter().enumerate() {
        let mut insert = from_claim(email)?;
        insert.on_conflict(Outbox::same_dedupe_key());
        with.cte(cte(&format!("email_{n}"), insert));
    }
    for (n, entry) in audit.iter().enumerate() {
        with.cte(cte(&format!("audit_{n}"), from_claim(entry)?));
    }
    let claimed = Query::select()
        .expr_as(
            Func::count(Expr::col(Alias::new("scope"))),
            Alias::new("claimed"),
        )
        .from(Alias::new(CLAIM))
        .to_owned();
    let (sql, values) = with.query(claimed).build(PostgresQueryBuilder);
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map_err(classify)?;
    let claimed: i64 = match row {
        Some(row) => row.try_get("", "claimed").map_err(WriteError::Database)?,
        None => 0,
    };
    Ok(if claimed == 1 {
        Written::Booked
    } else {
        Written::KeyTaken
    })
}

async fn write_in_one_transaction(
    db: &DatabaseConnection,
    booking: &NewBooking,
) -> Result<Written, WriteError> {
    let NewBooking {
        key,
        appointment,
        emails,
        audit,
    } = booking.clone();
    let txn = super::begin_write(db).await?;
    let claimed = idempotency_key::Entity::insert(key)
        .on_conflict(key_taken())
        .exec_without_returning(&txn)
        .await?;
    if claimed == 0 {
        txn.rollback().await?;
        return Ok(Written::KeyTaken);
    }
    if let Err(err) = appointment.insert(&txn).await {
        txn.rollback().await?;
        return Err(classify(err));
    }
    if !emails.is_empty() {
        outbox_message::Entity::insert_many(emails)
            .on_conflict(Outbox::same_dedupe_key())
            .exec_without_returning(&txn)
            .await?;
    }
    if !audit.is_empty() {
        audit_event::Entity::insert_many(audit)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Written::Booked)
}

/// A key that has an entry already: insert nothing.
fn key_taken() -> OnConflict {
    OnConflict::columns([
        idempotency_key::Column::Scope,
        idempotency_key::Column::IdempotencyKey,
    ])
    .do_nothing()
    .to_owned()
}

fn cte(name: &str, insert: InsertStatement) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(insert)
        .table_name(Alias::new(name))
        .to_owned()
}

/// `INSERT INTO <table> (<set columns>) SELECT <their values> FROM claim`: a row that exists
/// only if the claim does.
fn from_claim<A: ActiveModelTrait>(model: &A) -> Result<InsertStatement, WriteError> {
    let mut source = Query::select();
    source.from(Alias::new(CLAIM));
    insert_selected(model, source)
}

/// `INSERT INTO <table> (<set columns>) <source with the values selected>`.
fn insert_selected<A: ActiveModelTrait>(
    model: &A,
    mut source: SelectStatement,
) -> Result<InsertStatement, WriteError> {
    let mut columns = Vec::new();
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let ActiveValue::Set(value) | ActiveValue::Unchanged(value) = model.get(column) {
            source.expr(column.save_as(Expr::val(value)));
            columns.push(column);
        }
    }
    let mut insert = Query::insert();
    insert
        .into_table(A::Entity::default().table_ref())
        .columns(columns);
    insert
        .select_from(source)
        .map_err(|err| WriteError::Database(sea_orm::DbErr::Custom(err.to_string())))?;
    Ok(insert)
}

// ---------------------------------------------------------------------------------------------
// Reading: everything a booking decision needs but the calendar, in one statement
// ---------------------------------------------------------------------------------------------

/// Whose booking: a patient books by their account, the front desk names the record.
#[derive(Debug, Clone, Copy)]
pub enum PatientKey {
    Record(PatientId),
    /// The patient's login account (`users.id`).
    Account(Uuid),
}

/// What one booking names, to look up together.
#[derive(Debug, Clone, Copy)]
pub struct FactsQuery {
    pub patient: PatientKey,
    pub appointment_type_id: AppointmentTypeId,
    pub practitioner_id: PractitionerId,
    pub location_id: LocationId,
    /// The practitioner's calendar is read over `[from, to)`.
    pub calendar_window: (DateTime<Utc>, DateTime<Utc>),
}

/// The rows a booking names, `None` where there is no such row, and the patient's record as
/// the rules read it: raw rows, so that every rule is decided in `scheduling` and `triage`.
#[derive(Debug, Clone)]
pub struct BookingFacts {
    pub patient: Option<patient::Model>,
    pub appointment_type: Option<appointment_type::Model>,
    pub practitioner: Option<practitioner::Model>,
    pub location: Option<location::Model>,
    /// `None` until an admin has saved policies: the defaults apply.
    pub policies: Option<clinic_policy::Model>,
    /// Every case of the patient (submissions and interrupted drafts, with their latest
    /// decisions).
    pub cases: Vec<CaseRow>,
    /// How many appointments the patient holds (booked, checked in or completed) per
    /// discipline.
    pub held_by_discipline: Vec<(Discipline, u64)>,
    /// The named practitioner's weekly hours, and time off and appointments over the window
    /// (whether or not the practitioner is active).
    pub calendar: CalendarRows,
    /// The patient's own appointments holding their time over the window, with any
    /// practitioner: a patient cannot be in two visits at once.
    pub patient_time: Vec<HeldTime>,
}

/// Loads [`BookingFacts`]: one row, every part left-joined to it. On PostgreSQL the calendar
/// and the cases come in the same statement (so in one round trip, from one snapshot) as
/// arrays; SQLite, in-process and without arrays, reads them in more statements.
#[tracing::instrument(name = "store.booking.facts", skip_all)]
pub async fn facts<C: ConnectionTrait>(db: &C, query: FactsQuery) -> Result<BookingFacts, DbErr> {
    let backend = db.get_database_backend();
    let postgres = backend == DatabaseBackend::Postgres;
    let (from, to) = query.calendar_window;
    let row = db
        .query_one_raw(facts_statement(backend, query))
        .await?
        .ok_or_else(|| DbErr::Custom("the booking facts query returned no row".into()))?;
    let (calendar, cases, patient_time) = if postgres {
        (
            CalendarRows::from_arrays(&row, query.practitioner_id.uuid())?,
            intakes::cases_from_arrays(&row)?,
            patient_time_from_arrays(&row)?,
        )
    } else {
        let patient: Option<Uuid> = row.try_get("", "p_id")?;
        let own = match patient {
            Some(id) => patient_time(db, id, from, to).await?,
            None => Vec::new(),
        };
        (
            calendar_rows(db, &[query.practitioner_id.uuid()], from, to).await?,
            intakes::cases(db, patient.as_slice()).await?,
            own,
        )
    };
    let mut facts = facts_from(&row, calendar, cases)?;
    facts.patient_time = patient_time;
    Ok(facts)
}

/// The facts statement, its SQL built once per shape (backend, and how the patient is named):
/// sea-query building the ~70-column statement afresh was a tenth of the server's CPU per
/// booking. Only the request's values are put in per request.
fn facts_statement(backend: DatabaseBackend, query: FactsQuery) -> Statement {
    static TEMPLATES: [OnceLock<Option<FactsTemplate>>; 4] = [const { OnceLock::new() }; 4];
    let by_record = matches!(query.patient, PatientKey::Record(_));
    let shape = match backend {
        DatabaseBackend::Postgres => 0,
        DatabaseBackend::Sqlite => 2,
        // Not a backend Lumbar runs on: build it every time.
        _ => return backend.build(&facts_select(backend, query)),
    } + usize::from(by_record);
    match TEMPLATES[shape].get_or_init(|| FactsTemplate::build(backend, by_record)) {
        Some(template) => template.fill(backend, &query),
        None => backend.build(&facts_select(backend, query)),
    }
}

/// The facts statement with stand-in values, and where the request's values go.
struct FactsTemplate {
    sql: String,
    values: Vec<Value>,
    inputs: Vec<(usize, FactsInput)>,
}

/// A value of the facts statement that comes from the request.
#[derive(Debug, Clone, Copy)]
enum FactsInput {
    Patient,
    AppointmentType,
    Practitioner,
    Location,
    WindowFrom,
    WindowTo,
    HoldingStartsAfter,
}

impl FactsInput {
    const ALL: [Self; 7] = [
        Self::Patient,
        Self::AppointmentType,
        Self::Practitioner,
        Self::Location,
        Self::WindowFrom,
        Self::WindowTo,
        Self::HoldingStartsAfter,
    ];

    fn of(self, query: &FactsQuery) -> Value {
        match self {
            Self::Patient => match query.patient {
                PatientKey::Record(id) => id.into(),
                PatientKey::Account(id) => id.into(),
            },
            Self::AppointmentType => query.appointment_type_id.into(),
            Self::Practitioner => query.practitioner_id.into(),
            Self::Location => query.location_id.into(),
            Self::WindowFrom => query.calendar_window.0.into(),
            Self::WindowTo => query.calendar_window.1.into(),
            Self::HoldingStartsAfter => holding_starts_after(query.calendar_window.0).into(),
        }
    }
}

impl FactsTemplate {
    /// Builds the statement for two different sets of stand-in values and keeps it only if
    /// every value that differs between them is one of [`FactsInput`] (and the SQL is the
    /// same): otherwise a request's value would be missed, and the statement is built per
    /// request instead.
    fn build(backend: DatabaseBackend, by_record: bool) -> Option<Self> {
        Self::build_with(backend, by_record, facts_select)
    }

    fn build_with(
        backend: DatabaseBackend,
        by_record: bool,
        select: impl Fn(DatabaseBackend, FactsQuery) -> SelectStatement,
    ) -> Option<Self> {
        let stand_in = |n: u128| {
            let id = |kind: u128| {
                Uuid::from_u128(0x57a4_d100_0000_4000_8000_0000_0000_0000 | n << 8 | kind)
            };
            let from = DateTime::from_timestamp(946_684_800 + 86_400 * n as i64, 0)?;
            Some(FactsQuery {
                patient: if by_record {
                    PatientKey::Record(id(1).into())
                } else {
                    PatientKey::Account(id(1))
                },
                appointment_type_id: id(2).into(),
                practitioner_id: id(3).into(),
                location_id: id(4).into(),
                // Windows of different lengths too: a value derived from two inputs differs.
                calendar_window: (from, from + chrono::Duration::hours(50 + 7 * n as i64)),
            })
        };
        let (first, second) = (stand_in(1)?, stand_in(2)?);
        let built = |query| {
            let statement = backend.build(&select(backend, query));
            (
                statement.sql,
                statement.values.map(|values| values.0).unwrap_or_default(),
            )
        };
        let ((sql, values), (second_sql, second_values)) = (built(first), built(second));
        if sql != second_sql || values.len() != second_values.len() {
            return None;
        }
        let mut inputs = Vec::new();
        for (position, (value, second_value)) in values.iter().zip(&second_values).enumerate() {
            match FactsInput::ALL
                .into_iter()
                .find(|input| input.of(&first) == *value)
            {
                Some(input) if input.of(&second) == *second_value => {
                    inputs.push((position, input));
                }
                Some(_) => return None,
                None if value != second_value => return None,
                None => {}
            }
        }
        Some(Self {
            sql,
            values,
            inputs,
        })
    }

    fn fill(&self, backend: DatabaseBackend, query: &FactsQuery) -> Statement {
        let mut values = self.values.clone();
        for (position, input) in &self.inputs {
            values[*position] = input.of(query);
        }
        Statement::from_sql_and_values(backend, self.sql.clone(), values)
    }
}

/// The facts query; on PostgreSQL with the calendar's arrays.
fn facts_select(backend: DatabaseBackend, query: FactsQuery) -> SelectStatement {
    let mut select = facts_query(query);
    if backend == DatabaseBackend::Postgres {
        let (from, to) = query.calendar_window;
        join_calendar_arrays(&mut select, query.practitioner_id.uuid(), from, to);
        intakes::join_case_arrays(&mut select, cases_of(query.patient));
        join_patient_arrays(&mut select, appointments_of(query.patient), from, to);
    }
    select
}

/// The condition on `intakes.patient_id` that selects the booking patient's cases, without
/// depending on the outer query (PostgreSQL reads them in a joined aggregate).
fn cases_of(patient: PatientKey) -> sea_orm::sea_query::SimpleExpr {
    let column = Expr::col((intake::Entity, intake::Column::PatientId));
    match patient {
        PatientKey::Record(id) => column.eq(id),
        PatientKey::Account(user_id) => column.in_subquery(
            Query::select()
                .column(patient::Column::Id)
                .from(patient::Entity)
                .and_where(Expr::col(patient::Column::UserId).eq(user_id))
                .to_owned(),
        ),
    }
}

/// The condition on `appointments.patient_id` that selects the booking patient's
/// appointments, without depending on the outer query.
fn appointments_of(patient: PatientKey) -> sea_orm::sea_query::SimpleExpr {
    let column = Expr::col((appointment::Entity, appointment::Column::PatientId));
    match patient {
        PatientKey::Record(id) => column.eq(id),
        PatientKey::Account(user_id) => column.in_subquery(
            Query::select()
                .column(patient::Column::Id)
                .from(patient::Entity)
                .and_where(Expr::col(patient::Column::UserId).eq(user_id))
                .to_owned(),
        ),
    }
}

fn facts_query(query: FactsQuery) -> SelectStatement {
    let mut select = Query::select();
    select.from_subquery(
        Query::select()
            .expr_as(Expr::val(1), Alias::new("one"))
            .to_owned(),
        Alias::new("one"),
    );
    let patient_matches = match query.patient {
        PatientKey::Record(id) => Expr::col((patient::Entity, patient::Column::Id)).eq(id),
        PatientKey::Account(id) => Expr::col((patient::Entity, patient::Column::UserId)).eq(id),
    };
    select.left_join(patient::Entity, patient_matches);
    select.left_join(
        appointment_type::Entity,
        Expr::col((appointment_type::Entity, appointment_type::Column::Id))
            .eq(query.appointment_type_id),
    );
    select.left_join(
        practitioner::Entity,
        Expr::col((practitioner::Entity, practitioner::Column::Id)).eq(query.practitioner_id),
    );
    select.left_join(
        location::Entity,
        Expr::col((location::Entity, location::Column::Id)).eq(query.location_id),
    );
    select.left_join(
        clinic_policy::Entity,
        Expr::col((clinic_policy::Entity, clinic_policy::Column::Id)).eq(1i16),
    );
    columns::<patient::Entity>(&mut select, "p_");
    columns::<appointment_type::Entity>(&mut select, "t_");
    columns::<practitioner::Entity>(&mut select, "r_");
    columns::<location::Entity>(&mut select, "l_");
    columns::<clinic_policy::Entity>(&mut select, "c_");
    for discipline in Discipline::iter() {
        select.expr_as(
            Query::select()
                .expr(Expr::col((Alias::new(HELD), appointment::Column::Id)).count())
                .from_as(appointment::Entity, Alias::new(HELD))
                .join_as(
                    JoinType::InnerJoin,
                    appointment_type::Entity,
                    Alias::new(HELD_TYPE),
                    Expr::col((Alias::new(HELD_TYPE), appointment_type::Column::Id))
                        .equals((Alias::new(HELD), appointment::Column::AppointmentTypeId)),
                )
                .and_where(
                    Expr::col((Alias::new(HELD), appointment::Column::PatientId))
                        .equals((patient::Entity, patient::Column::Id)),
                )
                .and_where(
                    Expr::col((Alias::new(HELD), appointment::Column::Status)).is_in(HOLDING_TIME),
                )
                .and_where(
                    Expr::col((Alias::new(HELD_TYPE), appointment_type::Column::Discipline))
                        .eq(discipline),
                )
                .to_owned(),
            Alias::new(format!("held_{}", discipline.to_value())),
        );
    }
    select
}

fn facts_from(
    row: &sea_orm::QueryResult,
    calendar: CalendarRows,
    cases: Vec<CaseRow>,
) -> Result<BookingFacts, DbErr> {
    let mut held_by_discipline = Vec::new();
    for discipline in Discipline::iter() {
        let held: i64 = row.try_get("", &format!("held_{}", discipline.to_value()))?;
        held_by_discipline.push((discipline, u64::try_from(held).unwrap_or_default()));
    }
    Ok(BookingFacts {
        patient: Option::<patient::Model>::from_query_result(row, "p_")?,
        appointment_type: Option::<appointment_type::Model>::from_query_result(row, "t_")?,
        practitioner: Option::<practitioner::Model>::from_query_result(row, "r_")?,
        location: Option::<location::Model>::from_query_result(row, "l_")?,
        policies: Option::<clinic_policy::Model>::from_query_result(row, "c_")?,
        cases,
        held_by_discipline,
        calendar,
        patient_time: Vec::new(),
    })
}

/// Aliases inside the facts query's subqueries.
const HELD: &str = "held";
const HELD_TYPE: &str = "held_type";

/// Selects every column of `E` as `<prefix><column>`, as `FromQueryResult` reads it back.
fn columns<E: EntityTrait>(select: &mut SelectStatement, prefix: &str) {
    for column in E::Column::iter() {
        select.expr_as(
            Expr::col((E::default(), column)),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(patient: PatientKey, seed: u128) -> FactsQuery {
        let from = DateTime::from_timestamp(1_772_000_000 + 3_600 * seed as i64, 0).unwrap();
        FactsQuery {
            patient,
            appointment_type_id: Uuid::from_u128(seed * 7 + 1).into(),
            practitioner_id: Uuid::from_u128(seed * 7 + 2).into(),
            location_id: Uuid::from_u128(seed * 7 + 3).into(),
            calendar_window: (from, from + chrono::Duration::hours(130)),
        }
    }

    /// The statement filled in from the template is the one sea-query builds for the request.
    #[test]
    fn the_facts_template_gives_the_statement_built_for_the_request() {
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            for by_record in [false, true] {
                assert!(
                    FactsTemplate::build(backend, by_record).is_some(),
                    "no template for {backend:?}, by record {by_record}"
                );
                for seed in [3, 11, 40] {
                    let id = Uuid::from_u128(seed * 7);
                    let patient = if by_record {
                        PatientKey::Record(id.into())
                    } else {
                        PatientKey::Account(id)
                    };
                    let query = query(patient, seed);
                    let filled = facts_statement(backend, query);
                    let built = backend.build(&facts_select(backend, query));
                    assert_eq!(filled.sql, built.sql);
                    assert_eq!(filled.values, built.values, "{backend:?}, seed {seed}");
                }
            }
        }
    }

    /// A value from the request that is not one of [`FactsInput`] keeps the statement from
    /// being templated (it would otherwise stay the stand-in's value).
    #[test]
    fn a_statement_with_a_value_the_template_does_not_know_is_built_per_request() {
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            let template = FactsTemplate::build_with(backend, true, |backend, query| {
                let mut select = facts_select(backend, query);
                let hours = query.calendar_window.1 - query.calendar_window.0;
                select.and_where(Expr::val(hours.num_hours() * 2).gt(0));
                select
            });
            assert!(template.is_none(), "{backend:?}");
        }
    }
}
