//! Writing a booking: the appointment, its emails, its audit entries and the stored response
//! for its `Idempotency-Key`, all or nothing.
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

use entity::{appointment, audit_event, idempotency_key, outbox_message};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, EntityName, EntityTrait, Iterable, Statement,
    sea_query::{
        Alias, CommonTableExpression, Expr, Func, InsertStatement, OnConflict,
        PostgresQueryBuilder, Query, SelectStatement, WithClause,
    },
};

use super::{
    appointments::{WriteError, classify},
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

/// Writes the booking, or nothing. [`WriteError::Overlap`] when the time is taken.
pub async fn write(db: &DatabaseConnection, booking: &NewBooking) -> Result<Written, WriteError> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => write_in_one_statement(db, booking).await,
        _ => write_in_one_transaction(db, booking).await,
    }
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
        .on_conflict(
            OnConflict::columns([
                idempotency_key::Column::Scope,
                idempotency_key::Column::IdempotencyKey,
            ])
            .do_nothing()
            .to_owned(),
        )
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
        .on_conflict(
            OnConflict::columns([
                idempotency_key::Column::Scope,
                idempotency_key::Column::IdempotencyKey,
            ])
            .do_nothing()
            .to_owned(),
        )
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
