//! Patients (linked to a patient's login when they have one), single-use account tokens (email
//! verification, invitations) and the append-only audit trail.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Patients {
    Table,
    Id,
    /// The patient's own login; absent for a record the front desk made.
    UserId,
    GivenName,
    FamilyName,
    DateOfBirth,
    /// Contact address, lower case.
    Email,
    Phone,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    Id,
    /// `verify_email` or `invitation`.
    Purpose,
    TokenHash,
    UserId,
    PatientId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    ActorUserId,
    ActorRole,
    Action,
    RecordType,
    RecordId,
    PatientId,
    /// `allowed` or `denied`.
    Outcome,
    RequestId,
    SourceAddress,
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Patients::Table)
                    .col(ColumnDef::new(Patients::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Patients::UserId).uuid().null().unique_key())
                    .col(
                        ColumnDef::new(Patients::GivenName)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Patients::FamilyName)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Patients::DateOfBirth).date().not_null())
                    .col(ColumnDef::new(Patients::Email).string_len(320).null())
                    .col(ColumnDef::new(Patients::Phone).string_len(40).null())
                    .col(timestamp(Patients::CreatedAt))
                    .col(timestamp(Patients::UpdatedAt))
                    .col(ColumnDef::new(Patients::CreatedBy).uuid().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_patients_user")
                            .from(Patients::Table, Patients::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_patients_family_name")
                    .table(Patients::Table)
                    .col(Patients::FamilyName)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .col(
                        ColumnDef::new(AccountTokens::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AccountTokens::Purpose)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccountTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(AccountTokens::UserId).uuid().null())
                    .col(ColumnDef::new(AccountTokens::PatientId).uuid().null())
                    .col(timestamp(AccountTokens::CreatedAt))
                    .col(timestamp(AccountTokens::ExpiresAt))
                    .col(
                        ColumnDef::new(AccountTokens::UsedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_tokens_user")
                            .from(AccountTokens::Table, AccountTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_tokens_patient")
                            .from(AccountTokens::Table, AccountTokens::PatientId)
                            .to(Patients::Table, Patients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(timestamp(AuditEvents::OccurredAt))
                    .col(ColumnDef::new(AuditEvents::ActorUserId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::ActorRole).string_len(16).null())
                    .col(
                        ColumnDef::new(AuditEvents::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::RecordType)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::RecordId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::PatientId).uuid().null())
                    .col(
                        ColumnDef::new(AuditEvents::Outcome)
                            .string_len(8)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::RequestId)
                            .string_len(128)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::SourceAddress)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_audit_events_occurred_at", None),
            ("idx_audit_events_patient", Some(AuditEvents::PatientId)),
            ("idx_audit_events_actor", Some(AuditEvents::ActorUserId)),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table);
            if let Some(column) = column {
                index.col(column);
            }
            index.col(AuditEvents::OccurredAt);
            manager.create_index(index.to_owned()).await?;
        }

        // Append-only in the database itself, not only by convention in the code.
        let connection = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection
                    .execute_unprepared(
                        "CREATE FUNCTION audit_events_append_only() RETURNS trigger
                         LANGUAGE plpgsql AS $$
                         BEGIN
                             RAISE EXCEPTION 'audit_events is append-only';
                         END $$;
                         CREATE TRIGGER audit_events_append_only
                             BEFORE UPDATE OR DELETE ON audit_events
                             FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();",
                    )
                    .await?;
            }
            _ => {
                for operation in ["UPDATE", "DELETE"] {
                    connection
                        .execute_unprepared(&format!(
                            "CREATE TRIGGER audit_events_no_{op} BEFORE {operation} ON audit_events
                             BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;",
                            op = operation.to_lowercase()
                        ))
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
                     DROP FUNCTION IF EXISTS audit_events_append_only();",
                )
                .await?;
        }
        for table in [
            AuditEvents::Table.into_iden(),
            AccountTokens::Table.into_iden(),
            Patients::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
