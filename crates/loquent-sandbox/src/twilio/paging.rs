//! Twilio's two paging envelopes.
//!
//! v2010: the list under its key next to `page`, `page_size`, `start`, `end`, `uri`,
//! `first_page_uri`, `next_page_uri`, `previous_page_uri` (relative URIs). The next link carries
//! `Page` and a `PageToken` (`PA<last sid>`) which is the real cursor: items added at the head of
//! the list while a client pages do not shift what it sees.
//!
//! Events v1: the list under its key plus `meta` with absolute URLs.

use serde_json::{Map, Value, json};
use url::form_urlencoded;

use super::api::ApiRequest;
use super::error::ApiError;

/// Twilio's default and largest page sizes.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

const PAGING_PARAMS: [&str; 3] = ["Page", "PageSize", "PageToken"];

fn page_params(request: &ApiRequest) -> Result<(usize, usize), ApiError> {
    let size = match request.query("PageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("PageSize must be an integer, got {raw:?}")))?
            .clamp(1, MAX_PAGE_SIZE),
    };
    let page = match request.query("Page") {
        None => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("Page must be an integer, got {raw:?}")))?,
    };
    Ok((page, size))
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// One v2010 page of `items` (already filtered and ordered) under `key`.
pub(crate) fn v2010_page<T>(
    request: &ApiRequest,
    key: &str,
    items: &[T],
    sid_of: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let (page, size) = page_params(request)?;
    let offset = match request.query("PageToken") {
        Some(token) => {
            let find = |sid: &str| items.iter().position(|item| sid_of(item) == sid);
            if let Some(pos) = token.strip_prefix("PA").and_then(find) {
                pos + 1
            } else if let Some(pos) = token.strip_prefix("PB").and_then(find) {
                pos.saturating_sub(size)
            } else {
                page * size
            }
        }
        None => page * size,
    };
    let offset = offset.min(items.len());
    let on_page = &items[offset..(offset + size).min(items.len())];

    let filters: Vec<(String, String)> = request
        .query
        .iter()
        .filter(|(k, _)| !PAGING_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    let link = |page: usize, token: Option<String>| {
        let mut pairs = filters.clone();
        pairs.push(("PageSize".into(), size.to_string()));
        pairs.push(("Page".into(), page.to_string()));
        if let Some(token) = token {
            pairs.push(("PageToken".into(), token));
        }
        format!("{}?{}", request.path, encode(&pairs))
    };
    let this_token = request.query("PageToken").map(str::to_owned);
    let next = (offset + on_page.len() < items.len())
        .then(|| on_page.last())
        .flatten()
        .map(|last| link(page + 1, Some(format!("PA{}", sid_of(last)))));
    let previous = (page > 0).then(|| match on_page.first() {
        Some(first) => link(page - 1, Some(format!("PB{}", sid_of(first)))),
        None => link(page - 1, None),
    });
    let start = page * size;
    let mut map = Map::new();
    map.insert(
        key.to_owned(),
        Value::Array(on_page.iter().map(render).collect()),
    );
    map.insert("end".into(), json!(start + on_page.len().saturating_sub(1)));
    map.insert("first_page_uri".into(), json!(link(0, None)));
    map.insert("next_page_uri".into(), json!(next));
    map.insert("page".into(), json!(page));
    map.insert("page_size".into(), json!(size));
    map.insert("previous_page_uri".into(), json!(previous));
    map.insert("start".into(), json!(start));
    map.insert("uri".into(), json!(link(page, this_token)));
    Ok(Value::Object(map))
}

/// One Events v1 page of `items` under `key`.
pub(crate) fn events_page<T>(
    request: &ApiRequest,
    key: &str,
    items: &[T],
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let (page, size) = page_params(request)?;
    let offset = (page * size).min(items.len());
    let on_page = &items[offset..(offset + size).min(items.len())];
    let filters: Vec<(String, String)> = request
        .query
        .iter()
        .filter(|(k, _)| !PAGING_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    let link = |page: usize| {
        let mut pairs = filters.clone();
        pairs.push(("PageSize".into(), size.to_string()));
        pairs.push(("Page".into(), page.to_string()));
        format!("{}{}?{}", request.origin, request.path, encode(&pairs))
    };
    let next = (offset + on_page.len() < items.len()).then(|| link(page + 1));
    let previous = (page > 0).then(|| link(page - 1));
    let mut map = Map::new();
    map.insert(
        key.to_owned(),
        Value::Array(on_page.iter().map(render).collect()),
    );
    map.insert(
        "meta".into(),
        json!({
            "page": page,
            "page_size": size,
            "first_page_url": link(0),
            "previous_page_url": previous,
            "url": link(page),
            "next_page_url": next,
            "key": key,
        }),
    );
    Ok(Value::Object(map))
}
