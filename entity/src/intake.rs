//! A questionnaire a patient fills in (table `intakes`): a draft, then a submission judged by
//! the triage rules, kept with the versions that judged it.

use sea_orm::entity::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum IntakeStatus {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "submitted")]
    Submitted,
    /// A later submission corrected it.
    #[sea_orm(string_value = "superseded")]
    Superseded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ReviewStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "decided")]
    Decided,
}

/// How urgently the patient needs care, as the triage rules judged the submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Disposition {
    #[sea_orm(string_value = "routine")]
    Routine,
    #[sea_orm(string_value = "review")]
    Review,
    #[sea_orm(string_value = "urgent")]
    Urgent,
    #[sea_orm(string_value = "emergency")]
    Emergency,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "intakes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub questionnaire_id: String,
    pub questionnaire_version: String,
    pub status: IntakeStatus,
    /// `linkId -> value`, as JSON text.
    #[sea_orm(column_type = "Text")]
    pub answers: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub submitted_at: Option<DateTimeUtc>,
    pub supersedes: Option<Uuid>,
    pub rule_set_version: Option<String>,
    pub disposition: Option<Disposition>,
    /// The triage evaluation (scores, facts, fired rules, advice) as JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub result: Option<String>,
    pub review_status: Option<ReviewStatus>,
    /// 3 emergency, 2 urgent, 1 review.
    pub severity: Option<i16>,
    pub pain_now: Option<i16>,
    /// ODI percent × 100.
    pub odi_hundredths: Option<i32>,
    /// When emergency answers saved in the draft interrupted it (rule set v2's safety
    /// interrupt); kept after submission, since the case includes them.
    pub safety_interrupted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
