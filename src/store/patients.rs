//! Patient records (demographics). Who may see which record is decided by the caller (the
//! service layer loads records through the scoped finders of `store::scope`); this module only
//! reads and writes.

use chrono::{DateTime, NaiveDate, Utc};
use entity::patient::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use uuid::Uuid;

use super::users::normalize_email;

#[derive(Debug, Clone)]
pub struct NewPatient {
    pub user_id: Option<Uuid>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_by: Option<Uuid>,
}

#[tracing::instrument(name = "store.patients.create", skip_all)]
pub async fn create<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    new: NewPatient,
) -> Result<patient::Model, DbErr> {
    patient::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user_id),
        given_name: Set(new.given_name),
        family_name: Set(new.family_name),
        date_of_birth: Set(new.date_of_birth),
        email: Set(new.email.as_deref().map(normalize_email)),
        pending_email: Set(None),
        phone: Set(new.phone),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(new.created_by),
    }
    .insert(db)
    .await
}

#[tracing::instrument(name = "store.patients.find", skip_all)]
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<patient::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// The records with these ids (one query, whatever their number).
#[tracing::instrument(name = "store.patients.find_many", skip_all)]
pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<patient::Model>, DbErr> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Entity::find().filter(Column::Id.is_in(ids)).all(db).await
}

/// The record of the patient who logs in as `user_id`.
#[tracing::instrument(name = "store.patients.find_by_user", skip_all)]
pub async fn find_by_user<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Option<patient::Model>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// A page of patients, by family then given name, optionally only those whose name or email
/// contains `search` (case-insensitive). Returns the page and the total count.
#[tracing::instrument(name = "store.patients.list", skip_all)]
pub async fn list<C: ConnectionTrait>(
    db: &C,
    search: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<patient::Model>, u64), DbErr> {
    let mut query = Entity::find();
    if let Some(search) = search.map(str::trim).filter(|text| !text.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let contains = |column: Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(contains(Column::GivenName))
                .add(contains(Column::FamilyName))
                .add(contains(Column::Email)),
        );
    }
    let total = query.clone().count(db).await?;
    let page = query
        .order_by_asc(Column::FamilyName)
        .order_by_asc(Column::GivenName)
        .order_by_asc(Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((page, total))
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Changes to a record; `None` leaves a field as it is, `Some(None)` removes an optional one.
#[derive(Debug, Clone, Default)]
pub struct PatientChanges {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<Option<String>>,
    /// A new address waiting for confirmation, or `Some(None)` to drop the one waiting.
    pub pending_email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
}

#[tracing::instrument(name = "store.patients.update", skip_all)]
pub async fn update<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    record: patient::Model,
    changes: PatientChanges,
) -> Result<patient::Model, DbErr> {
    let mut row = record.into_active_model();
    if let Some(value) = changes.given_name {
        row.given_name = Set(value);
    }
    if let Some(value) = changes.family_name {
        row.family_name = Set(value);
    }
    if let Some(value) = changes.date_of_birth {
        row.date_of_birth = Set(value);
    }
    if let Some(value) = changes.email {
        row.email = Set(value.as_deref().map(normalize_email));
    }
    if let Some(value) = changes.pending_email {
        row.pending_email = Set(value.as_deref().map(normalize_email));
    }
    if let Some(value) = changes.phone {
        row.phone = Set(value);
    }
    row.updated_at = Set(now);
    row.update(db).await
}

/// Makes the record's waiting address its address. `false` when nothing was waiting (confirmed
/// a moment ago by a concurrent request, or replaced by a newer change since).
#[tracing::instrument(name = "store.patients.confirm_pending_email", skip_all)]
pub async fn confirm_pending_email<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    id: Uuid,
    pending_email: &str,
) -> Result<bool, DbErr> {
    let confirmed = Entity::update_many()
        .col_expr(Column::Email, Expr::value(pending_email))
        .col_expr(Column::PendingEmail, Expr::value(Option::<String>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::PendingEmail.eq(pending_email))
        .exec(db)
        .await?;
    Ok(confirmed.rows_affected == 1)
}

/// Links a record to the login its patient just created, unless it has one already.
/// Returns whether it was linked.
#[tracing::instrument(name = "store.patients.link_user", skip_all)]
pub async fn link_user<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    patient_id: Uuid,
    user_id: Uuid,
) -> Result<bool, DbErr> {
    let linked = Entity::update_many()
        .col_expr(Column::UserId, Expr::value(user_id))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(patient_id))
        .filter(Column::UserId.is_null())
        .exec(db)
        .await?;
    Ok(linked.rows_affected == 1)
}

/// The patients an address reaches: their contact address, the new one they have not
/// confirmed yet, or their login's. `addresses` are lower case, as stored.
#[tracing::instrument(name = "store.patients.reached_at", skip_all)]
pub async fn reached_at<C: ConnectionTrait>(
    db: &C,
    addresses: &[String],
) -> Result<Vec<(patient::Model, Vec<String>)>, DbErr> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let logins: Vec<(Uuid, String)> = entity::user::Entity::find()
        .select_only()
        .column(entity::user::Column::Id)
        .column(entity::user::Column::Email)
        .filter(entity::user::Column::Role.eq(entity::user::Role::Patient))
        .filter(entity::user::Column::Email.is_in(addresses.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    let rows = Entity::find()
        .filter(
            Condition::any()
                .add(Column::Email.is_in(addresses.iter().cloned()))
                .add(Column::PendingEmail.is_in(addresses.iter().cloned()))
                .add(Column::UserId.is_in(logins.iter().map(|(id, _)| *id))),
        )
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut reached: Vec<String> = [row.email.clone(), row.pending_email.clone()]
                .into_iter()
                .flatten()
                .chain(
                    logins
                        .iter()
                        .filter(|(id, _)| Some(*id) == row.user_id)
                        .map(|(_, email)| email.clone()),
                )
                .filter(|address| addresses.contains(address))
                .collect();
            reached.sort_unstable();
            reached.dedup();
            (row, reached)
        })
        .collect())
}
