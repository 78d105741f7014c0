//! Failed-login counters, per account and per source address, shared by every instance.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginThrottles {
    Table,
    /// `account:<email>` or `address:<ip>`.
    ThrottleKey,
    Failures,
    FirstFailureAt,
    BlockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    .col(
                        ColumnDef::new(LoginThrottles::ThrottleKey)
                            .string_len(400)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoginThrottles::Failures)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginThrottles::FirstFailureAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginThrottles::BlockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await
    }
}
