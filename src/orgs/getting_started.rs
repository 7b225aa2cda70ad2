//! The getting-started checklist (issue 24): the steps from an empty organization to a call on
//! the calls page. Each step is read from what exists rather than stored, so it ticks itself
//! however it was done (dashboard, API or CLI) and can never disagree with the data.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::calls::source;
use crate::entity::{agent, call, organization, phone_number};

/// One step of the checklist.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// `twilio`, `agent`, `number`, `call` or `review`.
    pub key: &'static str,
    pub title: &'static str,
    /// What to do, in a sentence.
    pub detail: &'static str,
    /// The dashboard page where it is done.
    pub href: String,
    pub done: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checklist {
    /// In the order a newcomer takes them.
    pub steps: Vec<Step>,
    /// Every step is done (the dashboard then shows the checklist no more).
    pub complete: bool,
}

/// The checklist of `org_id`. `sandbox_available`: this server serves the built-in sandbox, so
/// the first step offers it beside a real Twilio account. `opens_calls`: the reader may open a
/// call, so the last step links to the latest one (otherwise to the list).
pub async fn read(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    sandbox_available: bool,
    opens_calls: bool,
) -> Result<Checklist, DbErr> {
    let org = organization::Entity::find_by_id(org_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("organization {org_id}")))?;
    let connected = super::twilio::is_connected(&org);
    let agents = agent::Entity::find()
        .filter(agent::Column::OrganizationId.eq(org_id))
        .count(db)
        .await?;
    // Answering needs both: the number's voice URL is ours and an agent is chosen for it.
    let answering = phone_number::Entity::find()
        .filter(phone_number::Column::OrganizationId.eq(org_id))
        .filter(phone_number::Column::AgentId.is_not_null())
        .filter(phone_number::Column::PreviousVoiceUrl.is_not_null())
        .count(db)
        .await?;
    // A call an agent answered: not one imported from Twilio's history. Calls stored before
    // `source` was kept (NULL) count, so an organization that took calls then is not sent back.
    let answered = || {
        call::Entity::find()
            .filter(call::Column::OrganizationId.eq(org_id))
            .filter(
                Condition::any()
                    .add(call::Column::Source.eq(source::PHONE))
                    .add(call::Column::Source.is_null()),
            )
    };
    let latest: Option<Uuid> = answered()
        .select_only()
        .column(call::Column::Id)
        .order_by_desc(call::Column::CreatedAt)
        .into_tuple()
        .one(db)
        .await?;
    // Once one answered call has its transcript the step stays done, whatever later calls do.
    let transcribed = latest.is_some()
        && answered()
            .filter(call::Column::Transcription.is_not_null())
            .select_only()
            .column(call::Column::Id)
            .into_tuple::<Uuid>()
            .one(db)
            .await?
            .is_some();
    let steps = vec![
        Step {
            key: "twilio",
            title: "Connect Twilio",
            detail: if sandbox_available {
                "Connect your Twilio account, or use the built-in sandbox to try everything \
                 without one."
            } else {
                "Connect your Twilio account so Loquent can answer its numbers."
            },
            href: "/settings/twilio".to_owned(),
            done: connected,
        },
        Step {
            key: "agent",
            title: "Create an agent",
            detail: "Say who the AI agent is and what it does on a call.",
            href: "/agents/new".to_owned(),
            done: agents > 0,
        },
        Step {
            key: "number",
            title: "Give a number to the agent",
            detail: "Import a number, send its calls to Loquent and choose the agent that \
                     answers it.",
            href: "/settings/twilio".to_owned(),
            done: answering > 0,
        },
        Step {
            key: "call",
            title: "Call it",
            detail: if org.twilio_sandbox {
                "Press Test call beside the number: the sandbox rings it with a scripted caller."
            } else if sandbox_available && !connected {
                "Ring the number from any phone; on the built-in sandbox, press Test call beside \
                 it."
            } else {
                "Ring the number from any phone; the agent answers."
            },
            href: "/settings/twilio".to_owned(),
            done: latest.is_some(),
        },
        Step {
            key: "review",
            title: "See the call",
            detail: "A moment after hang-up the call's page has its recording, transcript and \
                     analysis.",
            href: match latest {
                Some(id) if opens_calls => format!("/calls/{id}"),
                _ => "/calls".to_owned(),
            },
            done: transcribed,
        },
    ];
    let complete = steps.iter().all(|s| s.done);
    Ok(Checklist { steps, complete })
}
