//! Each user's password sign-ins, successful or not, with where they came from: the user's own
//! record of who has been trying their account.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::entity::sign_in;
use crate::paging::{Cursor, page_of};

/// The longest user agent kept, in characters.
const MAX_USER_AGENT: usize = 512;

/// Who is signing in, as far as the request tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

pub async fn record(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    succeeded: bool,
    client: &Client,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    sign_in::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        succeeded: Set(succeeded),
        address: Set(client.address.map(|a| a.to_canonical().to_string())),
        user_agent: Set(client
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect())),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A page of `user_id`'s sign-ins, newest first, and the cursor of the next page.
pub async fn of_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    cursor: Option<&Cursor>,
    limit: u64,
) -> Result<(Vec<sign_in::Model>, Option<String>), DbErr> {
    let mut select = sign_in::Entity::find().filter(sign_in::Column::UserId.eq(user_id));
    if let Some(cursor) = cursor {
        select = select.filter(cursor.before(sign_in::Column::CreatedAt, sign_in::Column::Id));
    }
    let rows = select
        .order_by_desc(sign_in::Column::CreatedAt)
        .order_by_desc(sign_in::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(page_of(rows, limit, |r| (r.created_at, r.id)))
}
