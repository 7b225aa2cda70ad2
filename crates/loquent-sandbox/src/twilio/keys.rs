//! API keys: `CreateNewKey`, `ListKey`, `FetchKey`, `DeleteKey` (v2010 `…/Keys`). A key's SID and
//! secret are Basic credentials for the account that owns it; the secret is shown once, at
//! creation, as on Twilio.

use chrono::Utc;

use super::api::{ApiRequest, Outcome, Reply};
use super::error::ApiError;
use super::paging::v2010_page;
use super::rng::Rng;
use super::store::{Account, ApiKey};

pub(crate) fn create(account: &mut Account, rng: &mut Rng, request: &ApiRequest) -> Outcome {
    let sid = rng.sid("SK");
    // 32 characters like a real secret, derived from fresh SID material.
    let secret = rng.sid("XX")[2..].to_owned();
    let key = ApiKey {
        sid,
        secret,
        friendly_name: request.form("FriendlyName").unwrap_or_default().to_owned(),
        created: Utc::now(),
    };
    let body = key.to_json(true);
    account.keys.push(key);
    Ok(Reply::Json(201, body))
}

pub(crate) fn list(account: &Account, request: &ApiRequest) -> Outcome {
    let body = v2010_page(
        request,
        "keys",
        &account.keys,
        |k| &k.sid,
        |k| k.to_json(false),
    )?;
    Ok(Reply::Json(200, body))
}

pub(crate) fn fetch(account: &Account, request: &ApiRequest, sid: &str) -> Outcome {
    account
        .keys
        .iter()
        .find(|k| k.sid == sid)
        .map(|k| Reply::Json(200, k.to_json(false)))
        .ok_or_else(|| ApiError::not_found(&request.path))
}

pub(crate) fn delete(account: &mut Account, request: &ApiRequest, sid: &str) -> Outcome {
    let before = account.keys.len();
    account.keys.retain(|k| k.sid != sid);
    if account.keys.len() == before {
        return Err(ApiError::not_found(&request.path));
    }
    Ok(Reply::NoContent)
}
