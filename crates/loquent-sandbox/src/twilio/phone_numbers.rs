//! Owned numbers (`IncomingPhoneNumbers`) and the numbers for sale
//! (`AvailablePhoneNumbers/{Country}/Local`).
//!
//! The numbers for sale are fixed: for area code `AAA`, `+1AAA5550100` to `+1AAA5550199`
//! (minus those some account owns). Without `AreaCode` the search offers area code 415.
//! Buying anything else fails with Twilio's error 21422.

use chrono::Utc;
use serde_json::{Value, json};

use super::api::{ApiRequest, Outcome, Reply};
use super::error::ApiError;
use super::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, v2010_page};
use super::store::{Account, Number, Store, friendly};

/// Area code, locality, region, postal code, latitude, longitude, LATA, rate center.
type Place = (
    u16,
    &'static str,
    &'static str,
    &'static str,
    f64,
    f64,
    &'static str,
    &'static str,
);

pub(crate) const PLACES: [Place; 8] = [
    (
        415,
        "San Francisco",
        "CA",
        "94103",
        37.77,
        -122.41,
        "722",
        "SNFC CNTRL",
    ),
    (
        212,
        "New York",
        "NY",
        "10001",
        40.75,
        -73.99,
        "132",
        "NWYRCYZN01",
    ),
    (
        312, "Chicago", "IL", "60601", 41.88, -87.62, "358", "CHICAGO",
    ),
    (617, "Boston", "MA", "02108", 42.36, -71.06, "128", "BOSTON"),
    (
        206, "Seattle", "WA", "98101", 47.61, -122.33, "674", "SEATTLE",
    ),
    (512, "Austin", "TX", "78701", 30.27, -97.74, "558", "AUSTIN"),
    (
        303, "Denver", "CO", "80202", 39.74, -104.99, "656", "DENVER",
    ),
    (305, "Miami", "FL", "33101", 25.77, -80.19, "460", "MIAMI"),
];

const DEFAULT_AREA_CODE: u16 = 415;
const OFFERED_PER_AREA_CODE: u16 = 100;

/// Every number the emulated Twilio sells in `area_code`, owned or not.
fn offered(area_code: u16) -> impl Iterator<Item = String> {
    (0..OFFERED_PER_AREA_CODE).map(move |i| format!("+1{area_code}555{:04}", 100 + i))
}

fn is_offered(number: &str) -> bool {
    let Some(digits) = number.strip_prefix("+1") else {
        return false;
    };
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(area_code) = digits[..3].parse::<u16>() else {
        return false;
    };
    (200..1000).contains(&area_code) && offered(area_code).any(|n| n == number)
}

/// `Contains`: digits and `*` (any one digit), matched anywhere in the number.
fn contains(number: &str, pattern: &str) -> bool {
    let hay = number.as_bytes();
    let pat = pattern.as_bytes();
    if pat.is_empty() {
        return true;
    }
    hay.windows(pat.len())
        .any(|w| w.iter().zip(pat).all(|(h, p)| *p == b'*' || h == p))
}

fn available_json(number: &str, area_code: u16) -> Value {
    let place = PLACES.iter().find(|p| p.0 == area_code);
    json!({
        "address_requirements": "none",
        "beta": false,
        "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
        "friendly_name": friendly(number),
        "iso_country": "US",
        "lata": place.map(|p| p.6),
        "latitude": place.map(|p| format!("{:.6}", p.4)),
        "locality": place.map(|p| p.1),
        "longitude": place.map(|p| format!("{:.6}", p.5)),
        "phone_number": number,
        "postal_code": place.map(|p| p.3),
        "rate_center": place.map(|p| p.7),
        "region": place.map(|p| p.2),
    })
}

pub(crate) fn search(store: &Store, request: &ApiRequest, country: &str) -> Outcome {
    if country != "US" {
        // Only US numbers are for sale here; Twilio answers an empty list for no matches.
        return Ok(Reply::Json(
            200,
            json!({"available_phone_numbers": [], "uri": request.path}),
        ));
    }
    let area_code = match request.query("AreaCode") {
        None => DEFAULT_AREA_CODE,
        Some(raw) => match raw.parse::<u16>() {
            Ok(code) if (200..1000).contains(&code) => code,
            _ => {
                return Err(ApiError::new(
                    400,
                    21452,
                    format!("AreaCode {raw:?} is not a valid area code"),
                ));
            }
        },
    };
    let size = request
        .query("PageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let pattern = request.query("Contains").unwrap_or("");
    let numbers: Vec<String> = offered(area_code)
        .filter(|n| contains(n, pattern))
        .filter(|n| !store.number_is_owned(n))
        .take(size)
        .collect();
    let list: Vec<Value> = numbers
        .iter()
        .map(|n| available_json(n, area_code))
        .collect();
    let uri = format!(
        "{}?{}",
        request.path,
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&request.query)
            .finish()
    );
    // A single page: the search offers candidates, not a cursor.
    Ok(Reply::Json(
        200,
        json!({
            "available_phone_numbers": list,
            "end": list.len().saturating_sub(1),
            "first_page_uri": uri,
            "next_page_uri": null,
            "page": 0,
            "page_size": size,
            "previous_page_uri": null,
            "start": 0,
            "uri": uri,
        }),
    ))
}

pub(crate) fn list(account: &Account, request: &ApiRequest) -> Outcome {
    let filter = request.query("PhoneNumber");
    let matching: Vec<&Number> = account
        .numbers
        .iter()
        .filter(|n| filter.is_none_or(|f| n.phone_number.contains(f)))
        .collect();
    let body = v2010_page(
        request,
        "incoming_phone_numbers",
        &matching,
        |n| &n.sid,
        |n| n.to_json(&account.sid),
    )?;
    Ok(Reply::Json(200, body))
}

pub(crate) fn fetch(account: &Account, request: &ApiRequest, sid: &str) -> Outcome {
    let number = account
        .numbers
        .iter()
        .find(|n| n.sid == sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    Ok(Reply::Json(200, number.to_json(&account.sid)))
}

fn method_param(request: &ApiRequest, name: &str) -> Result<Option<String>, ApiError> {
    match request.form(name) {
        None => Ok(None),
        Some(m) if m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("POST") => {
            Ok(Some(m.to_ascii_uppercase()))
        }
        Some(other) => Err(ApiError::invalid(format!(
            "{name} must be GET or POST, got {other:?}"
        ))),
    }
}

/// Apply the voice configuration fields present in the form. An empty `VoiceUrl` clears it.
fn configure(number: &mut Number, request: &ApiRequest) -> Result<(), ApiError> {
    let voice_method = method_param(request, "VoiceMethod")?;
    let status_callback_method = method_param(request, "StatusCallbackMethod")?;
    if let Some(url) = request.form("VoiceUrl") {
        number.voice_url = Some(url.to_owned());
    }
    if let Some(method) = voice_method {
        number.voice_method = method;
    }
    if let Some(url) = request.form("StatusCallback") {
        number.status_callback = url.to_owned();
    }
    if let Some(method) = status_callback_method {
        number.status_callback_method = method;
    }
    if let Some(name) = request.form("FriendlyName") {
        number.friendly_name = name.to_owned();
    }
    number.updated = Utc::now();
    Ok(())
}

pub(crate) fn update(account: &mut Account, request: &ApiRequest, sid: &str) -> Outcome {
    let account_sid = account.sid.clone();
    let number = account
        .numbers
        .iter_mut()
        .find(|n| n.sid == sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    configure(number, request)?;
    Ok(Reply::Json(200, number.to_json(&account_sid)))
}

/// `CreateIncomingPhoneNumber`: buy one of the numbers the search offers.
pub(crate) fn buy(store: &mut Store, request: &ApiRequest, account_sid: &str) -> Outcome {
    let Some(phone_number) = request.form("PhoneNumber") else {
        return Err(ApiError::new(
            400,
            21451,
            "A PhoneNumber or AreaCode is required",
        ));
    };
    if !is_offered(phone_number) || store.number_is_owned(phone_number) {
        return Err(ApiError::new(
            400,
            21422,
            format!("PhoneNumber {phone_number} is not available"),
        ));
    }
    let sid = store.new_sid("PN");
    let mut number = Number::new(sid, phone_number.to_owned(), Utc::now());
    configure(&mut number, request)?;
    let account = store
        .accounts
        .get_mut(account_sid)
        .ok_or_else(|| ApiError::not_found(&request.path))?;
    let body = number.to_json(account_sid);
    account.numbers.push(number);
    Ok(Reply::Json(201, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_numbers_and_patterns() {
        assert!(is_offered("+14155550100"));
        assert!(is_offered("+12125550199"));
        assert!(!is_offered("+14155550200"));
        assert!(!is_offered("+4415550100"));
        assert!(contains("+14155550123", "55501*3"));
        assert!(!contains("+14155550123", "999"));
    }
}
