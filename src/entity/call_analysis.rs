//! One analyzer run over one call. Runs are appended, never overwritten.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_analysis")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub call_id: Uuid,
    pub analyzer_id: Uuid,
    pub analysis_text: String,
    /// The job whose run this is (unique: a job run twice appends one run).
    pub job_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::call::Entity",
        from = "Column::CallId",
        to = "super::call::Column::Id",
        on_delete = "Cascade"
    )]
    Call,
    #[sea_orm(
        belongs_to = "super::analyzer::Entity",
        from = "Column::AnalyzerId",
        to = "super::analyzer::Column::Id",
        on_delete = "Cascade"
    )]
    Analyzer,
}

impl ActiveModelBehavior for ActiveModel {}
