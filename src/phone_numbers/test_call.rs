//! Test calls: a scripted caller rings one of the organization's sandbox numbers through the
//! built-in sandbox, which calls our voice URL exactly as Twilio would. The call then goes
//! through everything a real one does (the agent, the recording, the transcript, analyses,
//! to-dos, the report).

use serde_json::Value;
use uuid::Uuid;

use super::{NumberError, find};
use crate::entity::organization;
use crate::sandbox::BuiltInSandbox;

/// The number the scripted caller calls from.
pub const CALLER: &str = "+15005550006";

/// Rings number `id` of `org`; answers the call's SID while the call runs on.
pub async fn place(
    db: &sea_orm::DatabaseConnection,
    sandbox: &BuiltInSandbox,
    org: &organization::Model,
    id: Uuid,
    script: Option<Value>,
) -> Result<String, NumberError> {
    let number = find(db, org.id, id).await?;
    let (true, Some(account_sid)) = (org.twilio_sandbox, org.twilio_account_sid.as_deref()) else {
        return Err(NumberError::NotSandbox);
    };
    Ok(sandbox
        .place_call(account_sid, CALLER, &number.number, script)
        .await?)
}
