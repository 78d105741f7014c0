//! The clinic's schedule: locations, practitioners and where they work, weekly working hours,
//! time off, appointment types, the clinic's booking policies, and appointments.
//!
//! Double-booking is impossible in the database itself. On Postgres two exclusion constraints
//! (btree_gist) refuse an active appointment that overlaps another of the same practitioner
//! (including the buffer after it) or of the same patient; a violation is SQLSTATE 23P01. On
//! SQLite, which serialises writers, triggers refuse the same overlaps with `RAISE(ABORT,
//! 'appointment_overlap')`.

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
}

#[derive(DeriveIden)]
enum Locations {
    Table,
    Id,
    Name,
    Address,
    /// IANA zone name; working hours at this location are local to it.
    TimeZone,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Practitioners {
    Table,
    Id,
    UserId,
    DisplayName,
    /// `chiropractic` or `physiotherapy`.
    Discipline,
    Active,
    /// SHA-256 of the calendar feed token; absent when no feed was issued (or it was revoked).
    CalendarTokenHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PractitionerLocations {
    Table,
    PractitionerId,
    LocationId,
}

#[derive(DeriveIden)]
enum WorkingHours {
    Table,
    Id,
    PractitionerId,
    LocationId,
    /// ISO weekday, 1 = Monday.
    Weekday,
    /// Local wall-clock minutes after midnight.
    StartMinute,
    EndMinute,
}

#[derive(DeriveIden)]
enum TimeOff {
    Table,
    Id,
    PractitionerId,
    StartsAt,
    EndsAt,
    Reason,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AppointmentTypes {
    Table,
    Id,
    Name,
    Discipline,
    DurationMinutes,
    BufferAfterMinutes,
    NewPatient,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClinicPolicies {
    Table,
    /// Always 1: one row of settings.
    Id,
    SlotGridMinutes,
    MinNoticeMinutes,
    HorizonDays,
    CancellationWindowMinutes,
    ReminderLeadMinutes,
    FollowUpDelayDays,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
    PatientId,
    PractitionerId,
    LocationId,
    AppointmentTypeId,
    StartsAt,
    EndsAt,
    /// End plus the type's buffer: the practitioner is busy until then.
    BlockedUntil,
    /// `booked`, `checked_in`, `completed`, `no_show` or `cancelled`.
    Status,
    /// Increases with every change the patient's calendar must follow (.ics SEQUENCE).
    Sequence,
    CancelReason,
    CancelledLate,
    /// Why staff booked past the intake gate.
    OverrideReason,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn id(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .to_owned()
}

/// Statuses that occupy time: a cancelled or no-show appointment frees its slot.
const ACTIVE_STATUSES: &str = "('booked', 'checked_in', 'completed')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Locations::Table)
                    .col(id(Locations::Id))
                    .col(ColumnDef::new(Locations::Name).string_len(200).not_null())
                    .col(
                        ColumnDef::new(Locations::Address)
                            .string_len(500)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Locations::TimeZone)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Locations::Active).boolean().not_null())
                    .col(timestamp(Locations::CreatedAt))
                    .col(timestamp(Locations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Practitioners::Table)
                    .col(id(Practitioners::Id))
                    .col(
                        ColumnDef::new(Practitioners::UserId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Practitioners::DisplayName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Practitioners::Discipline)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Practitioners::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(Practitioners::CalendarTokenHash)
                            .string_len(64)
                            .null()
                            .unique_key(),
                    )
                    .col(timestamp(Practitioners::CreatedAt))
                    .col(timestamp(Practitioners::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_practitioners_user",
                        (Practitioners::Table, Practitioners::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PractitionerLocations::Table)
                    .col(
                        ColumnDef::new(PractitionerLocations::PractitionerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PractitionerLocations::LocationId)
                            .uuid()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(PractitionerLocations::PractitionerId)
                            .col(PractitionerLocations::LocationId),
                    )
                    .foreign_key(&mut fk(
                        "fk_practitioner_locations_practitioner",
                        (
                            PractitionerLocations::Table,
                            PractitionerLocations::PractitionerId,
                        ),
                        (Practitioners::Table, Practitioners::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_practitioner_locations_location",
                        (
                            PractitionerLocations::Table,
                            PractitionerLocations::LocationId,
                        ),
                        (Locations::Table, Locations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkingHours::Table)
                    .col(id(WorkingHours::Id))
                    .col(
                        ColumnDef::new(WorkingHours::PractitionerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WorkingHours::LocationId).uuid().not_null())
                    .col(
                        ColumnDef::new(WorkingHours::Weekday)
                            .small_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WorkingHours::StartMinute)
                            .small_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WorkingHours::EndMinute)
                            .small_integer()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_working_hours_practitioner",
                        (WorkingHours::Table, WorkingHours::PractitionerId),
                        (Practitioners::Table, Practitioners::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_working_hours_location",
                        (WorkingHours::Table, WorkingHours::LocationId),
                        (Locations::Table, Locations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TimeOff::Table)
                    .col(id(TimeOff::Id))
                    .col(ColumnDef::new(TimeOff::PractitionerId).uuid().not_null())
                    .col(timestamp(TimeOff::StartsAt))
                    .col(timestamp(TimeOff::EndsAt))
                    .col(ColumnDef::new(TimeOff::Reason).string_len(500).not_null())
                    .col(ColumnDef::new(TimeOff::CreatedBy).uuid().null())
                    .col(timestamp(TimeOff::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_time_off_practitioner",
                        (TimeOff::Table, TimeOff::PractitionerId),
                        (Practitioners::Table, Practitioners::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AppointmentTypes::Table)
                    .col(id(AppointmentTypes::Id))
                    .col(
                        ColumnDef::new(AppointmentTypes::Name)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AppointmentTypes::Discipline)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AppointmentTypes::DurationMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AppointmentTypes::BufferAfterMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AppointmentTypes::NewPatient)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AppointmentTypes::Active)
                            .boolean()
                            .not_null(),
                    )
                    .col(timestamp(AppointmentTypes::CreatedAt))
                    .col(timestamp(AppointmentTypes::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClinicPolicies::Table)
                    .col(
                        ColumnDef::new(ClinicPolicies::Id)
                            .small_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ClinicPolicies::SlotGridMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicPolicies::MinNoticeMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicPolicies::HorizonDays)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicPolicies::CancellationWindowMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicPolicies::ReminderLeadMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicPolicies::FollowUpDelayDays)
                            .integer()
                            .not_null(),
                    )
                    .col(timestamp(ClinicPolicies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Appointments::Table)
                    .col(id(Appointments::Id))
                    .col(ColumnDef::new(Appointments::PatientId).uuid().not_null())
                    .col(
                        ColumnDef::new(Appointments::PractitionerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Appointments::LocationId).uuid().not_null())
                    .col(
                        ColumnDef::new(Appointments::AppointmentTypeId)
                            .uuid()
                            .not_null(),
                    )
                    .col(timestamp(Appointments::StartsAt))
                    .col(timestamp(Appointments::EndsAt))
                    .col(timestamp(Appointments::BlockedUntil))
                    .col(
                        ColumnDef::new(Appointments::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Appointments::Sequence).integer().not_null())
                    .col(
                        ColumnDef::new(Appointments::CancelReason)
                            .string_len(500)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Appointments::CancelledLate)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Appointments::OverrideReason)
                            .string_len(500)
                            .null(),
                    )
                    .col(ColumnDef::new(Appointments::CreatedBy).uuid().null())
                    .col(timestamp(Appointments::CreatedAt))
                    .col(timestamp(Appointments::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_appointments_patient",
                        (Appointments::Table, Appointments::PatientId),
                        (Patients::Table, Patients::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_appointments_practitioner",
                        (Appointments::Table, Appointments::PractitionerId),
                        (Practitioners::Table, Practitioners::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_appointments_location",
                        (Appointments::Table, Appointments::LocationId),
                        (Locations::Table, Locations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_appointments_type",
                        (Appointments::Table, Appointments::AppointmentTypeId),
                        (AppointmentTypes::Table, AppointmentTypes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, table, columns) in [
            (
                "idx_working_hours_practitioner",
                WorkingHours::Table.into_iden(),
                vec![WorkingHours::PractitionerId.into_iden()],
            ),
            (
                "idx_time_off_practitioner",
                TimeOff::Table.into_iden(),
                vec![
                    TimeOff::PractitionerId.into_iden(),
                    TimeOff::StartsAt.into_iden(),
                ],
            ),
            (
                "idx_appointments_practitioner",
                Appointments::Table.into_iden(),
                vec![
                    Appointments::PractitionerId.into_iden(),
                    Appointments::StartsAt.into_iden(),
                ],
            ),
            (
                "idx_appointments_patient",
                Appointments::Table.into_iden(),
                vec![
                    Appointments::PatientId.into_iden(),
                    Appointments::StartsAt.into_iden(),
                ],
            ),
            (
                "idx_appointments_location",
                Appointments::Table.into_iden(),
                vec![
                    Appointments::LocationId.into_iden(),
                    Appointments::StartsAt.into_iden(),
                ],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        let connection = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection
                    .execute_unprepared(&format!(
                        "CREATE EXTENSION IF NOT EXISTS btree_gist;
                         ALTER TABLE appointments ADD CONSTRAINT appointments_no_practitioner_overlap
                             EXCLUDE USING gist (
                                 practitioner_id WITH =,
                                 tstzrange(starts_at, blocked_until, '[)') WITH &&
                             ) WHERE (status IN {ACTIVE_STATUSES});
                         ALTER TABLE appointments ADD CONSTRAINT appointments_no_patient_overlap
                             EXCLUDE USING gist (
                                 patient_id WITH =,
                                 tstzrange(starts_at, ends_at, '[)') WITH &&
                             ) WHERE (status IN {ACTIVE_STATUSES});
                         ALTER TABLE appointments ADD CONSTRAINT appointments_ends_after_start
                             CHECK (ends_at > starts_at AND blocked_until >= ends_at);"
                    ))
                    .await?;
            }
            _ => {
                // Instants are RFC 3339 text on SQLite; julianday() compares the instants
                // themselves, whatever the text's precision.
                for event in ["INSERT", "UPDATE"] {
                    connection
                        .execute_unprepared(&format!(
                            "CREATE TRIGGER appointments_no_overlap_{event_lower}
                             BEFORE {event} ON appointments
                             WHEN NEW.status IN {ACTIVE_STATUSES}
                             BEGIN
                                 SELECT RAISE(ABORT, 'appointment_overlap')
                                 WHERE EXISTS (
                                     SELECT 1 FROM appointments AS other
                                     WHERE other.id != NEW.id
                                       AND other.status IN {ACTIVE_STATUSES}
                                       AND (
                                           (other.practitioner_id = NEW.practitioner_id
                                            AND julianday(other.starts_at) < julianday(NEW.blocked_until)
                                            AND julianday(NEW.starts_at) < julianday(other.blocked_until))
                                        OR (other.patient_id = NEW.patient_id
                                            AND julianday(other.starts_at) < julianday(NEW.ends_at)
                                            AND julianday(NEW.starts_at) < julianday(other.ends_at))
                                       )
                                 );
                             END;",
                            event_lower = event.to_lowercase(),
                        ))
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Appointments::Table.into_iden(),
            ClinicPolicies::Table.into_iden(),
            AppointmentTypes::Table.into_iden(),
            TimeOff::Table.into_iden(),
            WorkingHours::Table.into_iden(),
            PractitionerLocations::Table.into_iden(),
            Practitioners::Table.into_iden(),
            Locations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
