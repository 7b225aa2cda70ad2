//! Which analyzers run on calls of which number.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_number_analyzer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_number_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub analyzer_id: Uuid,
    pub organization_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::phone_number::Entity",
        from = "Column::PhoneNumberId",
        to = "super::phone_number::Column::Id",
        on_delete = "Cascade"
    )]
    PhoneNumber,
    #[sea_orm(
        belongs_to = "super::analyzer::Entity",
        from = "Column::AnalyzerId",
        to = "super::analyzer::Column::Id",
        on_delete = "Cascade"
    )]
    Analyzer,
}

impl ActiveModelBehavior for ActiveModel {}
