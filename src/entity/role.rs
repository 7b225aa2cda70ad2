//! A named set of permission strings (`Resource:Level:Variant`) within one organization.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    /// JSON array of permission strings.
    pub permissions: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Cascade"
    )]
    Organization,
    #[sea_orm(has_many = "super::member_role::Entity")]
    MemberRole,
}

impl Related<super::member_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MemberRole.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
