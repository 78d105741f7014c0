//! Intake and follow-up questionnaires as patients fill them in and submit them, the triage
//! result stored with the versions that produced it, and practitioners' review decisions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Patients {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Intakes {
    Table,
    Id,
    PatientId,
    /// `intake` or `follow-up`.
    QuestionnaireId,
    QuestionnaireVersion,
    /// `draft`, `submitted` or `superseded`.
    Status,
    /// The answers map (`linkId -> value`) as JSON text.
    Answers,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    SubmittedAt,
    /// The submitted intake this one corrects.
    Supersedes,
    RuleSetVersion,
    /// `routine`, `review`, `urgent` or `emergency`, once submitted.
    Disposition,
    /// Scores, derived facts, fired rules and advice as JSON text.
    Result,
    /// `pending` while the case waits in the review queue, `decided` after; absent when it
    /// never needed review.
    ReviewStatus,
    /// 3 emergency, 2 urgent, 1 review: the queue's order.
    Severity,
    /// Pain now (NRS 0-10), kept apart for outcome trends.
    PainNow,
    /// ODI percent in hundredths, kept apart for outcome trends.
    OdiHundredths,
}

#[derive(DeriveIden)]
enum ReviewDecisions {
    Table,
    Id,
    IntakeId,
    DecidedBy,
    /// `cleared_for_care`, `refer_to_gp`, `refer_to_emergency` or `contacted_patient`.
    Decision,
    Note,
    DecidedAt,
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
                    .table(Intakes::Table)
                    .col(ColumnDef::new(Intakes::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Intakes::PatientId).uuid().not_null())
                    .col(
                        ColumnDef::new(Intakes::QuestionnaireId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Intakes::QuestionnaireVersion)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Intakes::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Intakes::Answers).text().not_null())
                    .col(ColumnDef::new(Intakes::CreatedBy).uuid().null())
                    .col(timestamp(Intakes::CreatedAt))
                    .col(timestamp(Intakes::UpdatedAt))
                    .col(
                        ColumnDef::new(Intakes::SubmittedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Intakes::Supersedes).uuid().null())
                    .col(
                        ColumnDef::new(Intakes::RuleSetVersion)
                            .string_len(128)
                            .null(),
                    )
                    .col(ColumnDef::new(Intakes::Disposition).string_len(16).null())
                    .col(ColumnDef::new(Intakes::Result).text().null())
                    .col(ColumnDef::new(Intakes::ReviewStatus).string_len(16).null())
                    .col(ColumnDef::new(Intakes::Severity).small_integer().null())
                    .col(ColumnDef::new(Intakes::PainNow).small_integer().null())
                    .col(ColumnDef::new(Intakes::OdiHundredths).integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_intakes_patient")
                            .from(Intakes::Table, Intakes::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_intakes_supersedes")
                            .from(Intakes::Table, Intakes::Supersedes)
                            .to(Intakes::Table, Intakes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_intakes_patient")
                    .table(Intakes::Table)
                    .col(Intakes::PatientId)
                    .col(Intakes::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_intakes_review_queue")
                    .table(Intakes::Table)
                    .col(Intakes::ReviewStatus)
                    .col(Intakes::Severity)
                    .col(Intakes::SubmittedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReviewDecisions::Table)
                    .col(
                        ColumnDef::new(ReviewDecisions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ReviewDecisions::IntakeId).uuid().not_null())
                    .col(ColumnDef::new(ReviewDecisions::DecidedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(ReviewDecisions::Decision)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ReviewDecisions::Note).text().not_null())
                    .col(timestamp(ReviewDecisions::DecidedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_review_decisions_intake")
                            .from(ReviewDecisions::Table, ReviewDecisions::IntakeId)
                            .to(Intakes::Table, Intakes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_decisions_intake")
                    .table(ReviewDecisions::Table)
                    .col(ReviewDecisions::IntakeId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReviewDecisions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Intakes::Table).to_owned())
            .await
    }
}
