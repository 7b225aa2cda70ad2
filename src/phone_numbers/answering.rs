//! Who answers a call to one of the organization's numbers, and whether it is recorded: what
//! the voice webhook and the media stream both need to know before a call is taken.

use loquent_twilio::E164;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::{agent, organization_twilio_settings, phone_number};

/// A number of the organization and the agent that answers it.
#[derive(Debug, Clone)]
pub struct Answering {
    pub number: phone_number::Model,
    pub agent: agent::Model,
}

/// The agent answering a call to `to` (Twilio's `To`), when it is one of the organization's
/// numbers and that number has one (an agent of the same organization: a stale id pointing
/// elsewhere answers nothing). A `client:` or `sip:` address is not a number: nobody answers it.
pub async fn find_answering(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    to: &str,
) -> Result<Option<Answering>, sea_orm::DbErr> {
    let Ok(number) = to.parse::<E164>() else {
        return Ok(None);
    };
    let Some(number) = phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .filter(phone_number::Column::Number.eq(number.as_str()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(agent_id) = number.agent_id else {
        return Ok(None);
    };
    let agent = agent::Entity::find_by_id(agent_id)
        .filter(agent::Column::OrganizationId.eq(org_id))
        .one(db)
        .await?;
    Ok(agent.map(|agent| Answering { number, agent }))
}

/// Seed 001's switch, read fail-closed: a missing settings row, or any error reading it, means
/// the organization's calls are not recorded. Recording someone who was not told is worse than
/// missing a recording.
pub async fn recording_enabled(db: &impl ConnectionTrait, org_id: Uuid) -> bool {
    match organization_twilio_settings::Entity::find_by_id(org_id)
        .one(db)
        .await
    {
        Ok(Some(settings)) => settings.call_recording_enabled,
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(%org_id, %error, "recording setting unreadable; not recording");
            false
        }
    }
}
