//! `FetchAccount` and `CreateAccount` (subaccounts).

use chrono::Utc;

use super::api::{ApiRequest, Outcome, Reply};
use super::error::ApiError;
use super::store::{Account, Store};

pub(crate) fn fetch(store: &Store, request: &ApiRequest, sid: &str) -> Outcome {
    let account = store
        .accounts
        .get(sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    Ok(Reply::Json(200, account.to_json(true)))
}

/// A subaccount of the caller, which must be a main account.
pub(crate) fn create(store: &mut Store, request: &ApiRequest) -> Outcome {
    let caller_is_main = store
        .accounts
        .get(&request.caller)
        .is_some_and(|a| a.parent.is_none());
    if !caller_is_main {
        return Err(ApiError::new(
            403,
            20008,
            "Subaccounts cannot create subaccounts",
        ));
    }
    let now = Utc::now();
    let friendly_name = request
        .form("FriendlyName")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("SubAccount Created at {}", now.format("%Y-%m-%d %H:%M %p")));
    let sid = store.new_sid("AC");
    let token = store.rng.hex32();
    let account = Account::new(
        sid.clone(),
        token,
        Some(request.caller.clone()),
        friendly_name,
        now,
    );
    let body = account.to_json(true);
    store.accounts.insert(sid, account);
    Ok(Reply::Json(201, body))
}
