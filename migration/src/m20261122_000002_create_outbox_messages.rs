//! The email outbox: every email is a row written in the same transaction as the change that
//! causes it, then delivered by a worker. Rows carry names, times, places and links only, never
//! clinical details.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    Id,
    Kind,
    Recipient,
    /// JSON of the kind's typed template data.
    TemplateData,
    /// An RFC 5545 invite attached as `text/calendar; method=<calendar_method>`.
    CalendarIcs,
    CalendarMethod,
    Status,
    Attempts,
    NotBefore,
    Deadline,
    LeaseOwner,
    LeaseExpiresAt,
    LastError,
    MessageId,
    /// Identifies one logical message (kind + subject record + version): enqueueing it again is
    /// a no-op, and cancelling by it reaches the pending row.
    DedupeKey,
    CreatedAt,
    UpdatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let timestamp = |column: OutboxMessages| {
            ColumnDef::new(column)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(OutboxMessages::Table)
                    .col(
                        ColumnDef::new(OutboxMessages::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::Kind)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::Recipient)
                            .string_len(320)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::TemplateData)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OutboxMessages::CalendarIcs).text().null())
                    .col(
                        ColumnDef::new(OutboxMessages::CalendarMethod)
                            .string_len(16)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(OutboxMessages::NotBefore))
                    .col(
                        ColumnDef::new(OutboxMessages::Deadline)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::LeaseOwner)
                            .string_len(100)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::LeaseExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(OutboxMessages::LastError).text().null())
                    .col(
                        ColumnDef::new(OutboxMessages::MessageId)
                            .string_len(255)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessages::DedupeKey)
                            .string_len(255)
                            .null()
                            .unique_key(),
                    )
                    .col(timestamp(OutboxMessages::CreatedAt))
                    .col(timestamp(OutboxMessages::UpdatedAt))
                    .col(
                        ColumnDef::new(OutboxMessages::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's claim: due rows by status and time.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_messages_status_not_before")
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::Status)
                    .col(OutboxMessages::NotBefore)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OutboxMessages::Table).to_owned())
            .await
    }
}
