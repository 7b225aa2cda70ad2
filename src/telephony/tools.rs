//! The functions the agent may call during a call. Each runs off the audio path: the bridge
//! spawns it and gets its result back as a message, so a slow customer system never holds up
//! the caller's audio.

use std::time::Duration;

use loquent_twilio::calls::CallUpdate;
use loquent_twilio::twiml::{Dial, Response};
use loquent_twilio::{CallSid, E164};
use serde_json::{Value, json};

use crate::entity::organization;
use crate::orgs::twilio::TwilioAccounts;
use crate::outbound;

pub const END_CALL: &str = "end_call";
pub const TRANSFER_CALL: &str = "transfer_call";
pub const LOOKUP_CALLER: &str = "lookup_caller";

/// Longest we wait for the organization's caller-lookup endpoint: the caller is on the line.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(4);
/// Largest lookup answer passed to the model.
const LOOKUP_MAX_BYTES: usize = 16 * 1024;

/// Which number `transfer_call` goes to: the one the model chose if the agent allows it; with a
/// single configured number, that one whatever the model said.
pub fn transfer_target(arguments: &str, allowed: &[E164]) -> Result<E164, String> {
    let wanted = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v["number"].as_str().map(str::to_owned));
    match (wanted, allowed) {
        (_, []) => Err("this agent has no transfer numbers".to_owned()),
        (Some(number), _) => allowed
            .iter()
            .find(|n| n.as_str() == number)
            .cloned()
            .ok_or_else(|| format!("{number} is not one of this agent's transfer numbers")),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err("say which number to transfer to".to_owned()),
    }
}

/// Sends the live call to `number` with `<Dial>`; Twilio then ends our media stream.
pub async fn transfer(
    accounts: &TwilioAccounts,
    org: &organization::Model,
    call_sid: &str,
    number: &E164,
) -> Result<(), String> {
    let twiml = Response::new().dial(Dial::number(number.clone()));
    update_call(accounts, org, call_sid, CallUpdate::twiml(&twiml))
        .await
        .map_err(|e| format!("Twilio did not redirect the call: {e}"))
}

/// Ends the live call through the REST API.
pub async fn hang_up(
    accounts: &TwilioAccounts,
    org: &organization::Model,
    call_sid: &str,
) -> Result<(), String> {
    update_call(accounts, org, call_sid, CallUpdate::Complete)
        .await
        .map_err(|e| format!("Twilio did not hang up the call: {e}"))
}

/// Changes the live call through the REST API (hang up, or new TwiML).
pub async fn update_call(
    accounts: &TwilioAccounts,
    org: &organization::Model,
    call_sid: &str,
    update: CallUpdate,
) -> Result<(), String> {
    let sid: CallSid = call_sid.parse().map_err(|e| format!("{e}"))?;
    accounts
        .client_for(org)
        .map_err(|e| e.to_string())?
        .update_call(&sid, update)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Asks the agent's caller-lookup endpoint about `caller`: `GET {url}?phone=+15551234567` with
/// `Authorization: Bearer {token}`. The answer (JSON, or text) becomes the tool's result; any
/// failure is a result the model can apologise for, never an error of the call. The endpoint
/// must be on the public internet unless `allow_private` (see [`crate::outbound`]).
pub async fn lookup_caller(
    url: &str,
    token: Option<&str>,
    caller: &str,
    allow_private: bool,
) -> String {
    match lookup(url, token, caller, allow_private).await {
        Ok(found) => found,
        Err(why) => {
            tracing::warn!(why, "caller lookup failed");
            json!({"error": why}).to_string()
        }
    }
}

async fn lookup(
    url: &str,
    token: Option<&str>,
    caller: &str,
    allow_private: bool,
) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|_| "the lookup URL is not valid".to_owned())?;
    if !allow_private {
        outbound::check_public(&parsed).map_err(|why| format!("lookup refused: {why}"))?;
    }
    let mut request = outbound::client(allow_private)
        .get(parsed)
        .query(&[("phone", caller)])
        .timeout(LOOKUP_TIMEOUT);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("the customer system did not answer: {}", without_url(&e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(json!({"found": false}).to_string());
    }
    if !status.is_success() {
        return Err(format!("the customer system answered {status}"));
    }
    let body = response.bytes().await.map_err(|e| {
        format!(
            "the customer system's answer was cut off: {}",
            without_url(&e)
        )
    })?;
    let body = &body[..body.len().min(LOOKUP_MAX_BYTES)];
    let text = String::from_utf8_lossy(body);
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(value) => json!({"found": true, "caller": value}).to_string(),
        Err(_) => json!({"found": true, "caller": text}).to_string(),
    })
}

/// reqwest errors name the URL, which may carry a token in its query: keep it out of logs.
fn without_url(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message.replace(url.as_str(), "(lookup URL)");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(list: &[&str]) -> Vec<E164> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn transfer_goes_only_to_configured_numbers() {
        let two = numbers(&["+15550001111", "+15550002222"]);
        assert_eq!(
            transfer_target(r#"{"number":"+15550002222"}"#, &two)
                .unwrap()
                .as_str(),
            "+15550002222"
        );
        assert!(transfer_target(r#"{"number":"+15559999999"}"#, &two).is_err());
        assert!(transfer_target("{}", &two).is_err());
        let one = numbers(&["+15550001111"]);
        assert_eq!(
            transfer_target("not json", &one).unwrap().as_str(),
            "+15550001111"
        );
        assert!(transfer_target("{}", &[]).is_err());
    }
}
