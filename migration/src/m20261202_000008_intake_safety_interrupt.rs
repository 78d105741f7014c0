//! The safety interrupt of rule set v2: when a draft's answers fire an emergency rule, the time
//! it happened is kept on the draft. It makes the draft an open flag and a case in the review
//! queue, and lets practitioners be alerted once per draft (the first save that sets it
//! alerts; later ones find it set).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Intakes {
    Table,
    SafetyInterruptedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Intakes::Table)
                    .add_column(
                        ColumnDef::new(Intakes::SafetyInterruptedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Intakes::Table)
                    .drop_column(Intakes::SafetyInterruptedAt)
                    .to_owned(),
            )
            .await
    }
}
