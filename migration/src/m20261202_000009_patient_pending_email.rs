//! A new email address for a patient with a login waits here until a link sent to it is
//! confirmed; until then every email still goes to the confirmed address, which is also the
//! one they log in with.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Patients {
    Table,
    PendingEmail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Patients::Table)
                    .add_column(
                        ColumnDef::new(Patients::PendingEmail)
                            .string_len(320)
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
                    .table(Patients::Table)
                    .drop_column(Patients::PendingEmail)
                    .to_owned(),
            )
            .await
    }
}
