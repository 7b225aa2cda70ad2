//! `/api/calls`: the organization's calls (seed 003): the filtered, searchable list, one call in
//! full, re-running its analyses, and its recording.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::byte_range::{self, RangeRequest};
use crate::api::openapi::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::app::AppState;
use crate::auth::{Allowed, permissions};
use crate::calls::CallLookupError;
use crate::calls::details::{self, CallDetails};
use crate::calls::list::{self, Bound, CallPage, CallQuery};
use crate::calls::rerun::{self, Rerun};
use crate::calls::search::SearchTerms;
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::paging;
use crate::storage::StorageError;

permissions! {
    ListCalls = "Call:Collection:List",
    ReadCall = "Call:Instance:Read",
    UpdateCall = "Call:Instance:Update",
}

/// The query of `GET /api/calls`; every field optional, an empty value is the same as none.
/// The calls page reads the same query (its filter form and "Older" link), so a page address
/// and an API address filter alike.
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Calls to or from this number of the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<Uuid>)]
    pub phone_number_id: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// One of Twilio's statuses: `completed`, `no-answer`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Created at or after: a date (`2026-12-06`, from its start, UTC) or an RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Created before: a date (that whole day included) or an RFC 3339 time (excluded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Calls with this contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<Uuid>)]
    pub contact_id: Option<String>,
    /// `true`: only calls with a stored recording; `false`: only calls without.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<bool>)]
    pub has_recording: Option<String>,
    /// Words the transcript must contain (prefixes, any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// 1 to 200; 50 when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

fn present(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn uuid_param(name: &str, value: Option<&String>) -> Result<Option<Uuid>, CallLookupError> {
    present(value)
        .map(|v| {
            v.parse()
                .map_err(|_| CallLookupError::InvalidQuery(format!("{name} `{v}` is not an id")))
        })
        .transpose()
}

impl ListParams {
    /// The typed query, or the first bad value with what to change.
    pub fn parse(&self) -> Result<CallQuery, CallLookupError> {
        let from = present(self.from.as_ref())
            .map(|v| list::parse_bound("from", v, Bound::From))
            .transpose()?;
        let to = present(self.to.as_ref())
            .map(|v| list::parse_bound("to", v, Bound::To))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(CallLookupError::InvalidQuery(
                "from must be earlier than to".into(),
            ));
        }
        let has_recording = match present(self.has_recording.as_ref()) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(CallLookupError::InvalidQuery(format!(
                    "has_recording `{other}` is not true or false"
                )));
            }
        };
        Ok(CallQuery {
            phone_number_id: uuid_param("phone_number_id", self.phone_number_id.as_ref())?,
            direction: present(self.direction.as_ref())
                .map(str::parse)
                .transpose()?,
            status: present(self.status.as_ref())
                .map(list::parse_status)
                .transpose()?,
            from,
            to,
            contact_id: uuid_param("contact_id", self.contact_id.as_ref())?,
            has_recording,
            search: present(self.q.as_ref())
                .map(SearchTerms::parse)
                .transpose()?,
            cursor: paging::parse_cursor(self.cursor.as_deref())?,
            limit: paging::parse_limit(self.limit.as_deref())?,
        })
    }
}

/// The organization's calls, filtered and searched, a page at a time.
///
/// Newest first; `next_cursor` is `null` on the last page.
#[utoipa::path(
    get,
    path = "/api/calls",
    tag = "calls",
    operation_id = "calls_list",
    params(ListParams),
    responses(
        (status = 200, description = "A page of calls.", body = CallPage),
        (status = 400, body = ErrorBody, description = "`bad_request`: a query value that cannot \
            be used (the message names it)."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    member: Allowed<ListCalls>,
    Query(params): Query<ListParams>,
) -> Result<Json<CallPage>, ApiError> {
    let query = params.parse()?;
    Ok(Json(list::list(&state.db, member.org_id(), &query).await?))
}

/// One call in full.
///
/// Seed 003's `CallDetails`, with the to-dos, the contact and the pipeline's steps.
#[utoipa::path(
    get,
    path = "/api/calls/{id}",
    tag = "calls",
    operation_id = "calls_read",
    params(("id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call in full.", body = CallDetails),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    member: Allowed<ReadCall>,
    Path(id): Path<Uuid>,
) -> Result<Json<CallDetails>, ApiError> {
    Ok(Json(details::read(&state.db, member.org_id(), id).await?))
}

/// Re-runs the call's analyses.
///
/// Queues a new run of every active analyzer attached to the call's number (202 with the job
/// ids); the runs are appended to the earlier ones. Browsers hear `call.analysis.queued` now and
/// `call.analysis.completed` as each run is stored, over `/api/realtime`.
#[utoipa::path(
    post,
    path = "/api/calls/{id}/rerun",
    tag = "calls",
    operation_id = "calls_rerun",
    params(("id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 202, description = "The runs are queued.", body = Rerun),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: the call has no transcript, \
            or its number no active analyzer."),
    ),
)]
pub async fn rerun(
    State(state): State<AppState>,
    member: Allowed<UpdateCall>,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<Rerun>), ApiError> {
    let queued = rerun::rerun_analyzers(&state.db, member.org_id(), id).await?;
    state.jobs_wake.notify_one();
    let event =
        json!({"call_id": queued.call_id, "round": queued.round, "job_ids": queued.job_ids});
    if let Err(e) = state
        .events
        .publish(member.org_id(), "call.analysis.queued", event)
        .await
    {
        // The jobs are queued; a browser that missed this hears of their runs anyway.
        tracing::warn!(error = %e, "could not publish call.analysis.queued");
    }
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// The call's recording.
///
/// The call's recording as `audio/mpeg` (a phone call's, from Twilio) or `audio/wav` (a web
/// call's, recorded here), streamed from storage a chunk at a time, with byte ranges and
/// validators (see [`byte_range`]); 404 when the call has none.
#[utoipa::path(
    get,
    path = "/api/calls/{id}/recording",
    tag = "calls",
    operation_id = "calls_recording",
    params(
        ("id" = Uuid, Path, description = "The call's id."),
        ("Range" = Option<String>, Header,
            description = "One range of bytes: `bytes=0-99`, `bytes=100-` or `bytes=-100`."),
        ("If-Range" = Option<String>, Header),
        ("If-None-Match" = Option<String>, Header),
        ("If-Modified-Since" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "The whole recording.",
            content(("audio/mpeg"), ("audio/wav")),
            headers(
                ("Accept-Ranges" = String, description = "`bytes`."),
                ("ETag" = String),
                ("Last-Modified" = String),
                ("Cache-Control" = String, description = "`private, no-cache`."),
            )),
        (status = 206, description = "The part the `Range` header asked for.",
            content(("audio/mpeg"), ("audio/wav")),
            headers(
                ("Content-Range" = String, description = "`bytes {first}-{last}/{size}`."),
                ("Accept-Ranges" = String),
                ("ETag" = String),
                ("Last-Modified" = String),
            )),
        (status = 304, description = "Not modified since the validators the request sent \
            (`If-None-Match`, `If-Modified-Since`)."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, body = ErrorBody, description = "`not_found`: no such call in the \
            organization, or it has no recording."),
        (status = 416, headers(("Content-Range" = String)), description = "The range cannot be \
            served; `Content-Range: bytes */{size}`."),
    ),
)]
pub async fn recording(
    State(state): State<AppState>,
    member: Allowed<ReadCall>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = details::recording_key(&state.db, member.org_id(), id).await?;
    let info = state.storage.head(&key).await.map_err(storage_error)?;
    let etag = byte_range::etag(&info);
    let last_modified = byte_range::http_date(info.last_modified);
    let validators = [
        (header::ETAG, etag),
        (header::LAST_MODIFIED, last_modified),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        // The member's own data: a browser may keep it but must ask (cheaply, with the
        // validators) before reusing it; shared caches must not keep it at all.
        (header::CACHE_CONTROL, "private, no-cache".to_owned()),
    ];
    let mut response = if byte_range::not_modified(&headers, &info) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let asked = headers
            .get(header::RANGE)
            .filter(|_| byte_range::range_applies(&headers, &info))
            .map(|v| v.to_str().unwrap_or(""));
        match byte_range::resolve(asked, info.size) {
            RangeRequest::Unsatisfiable => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                response.headers_mut().insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{}", info.size)),
                );
                response
            }
            RangeRequest::Whole => {
                let object = state.storage.get(&key, None).await.map_err(storage_error)?;
                let mut response = Response::new(Body::from_stream(object.body));
                response.headers_mut().insert(
                    header::CONTENT_LENGTH,
                    header_value(&object.size.to_string()),
                );
                response
            }
            RangeRequest::Part(range) => {
                let object = state
                    .storage
                    .get(&key, Some(range))
                    .await
                    .map_err(storage_error)?;
                let served = object.range.clone();
                let mut response = Response::new(Body::from_stream(object.body));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_RANGE,
                    header_value(&format!(
                        "bytes {}-{}/{}",
                        served.start,
                        served.end.saturating_sub(1),
                        object.size
                    )),
                );
                headers.insert(
                    header::CONTENT_LENGTH,
                    header_value(&(served.end - served.start).to_string()),
                );
                response
            }
        }
    };
    let has_body = !matches!(
        response.status(),
        StatusCode::NOT_MODIFIED | StatusCode::RANGE_NOT_SATISFIABLE
    );
    let headers = response.headers_mut();
    if has_body {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::storage::recording_content_type(&key)),
        );
    }
    for (name, value) in validators {
        headers.insert(name, header_value(&value));
    }
    Ok(response)
}

fn header_value(value: &str) -> HeaderValue {
    // Every value built here is ASCII digits, quotes, letters and punctuation.
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A storage failure while serving: a key the call names but storage lacks is the recording
/// missing (404), anything else is ours (500, logged).
fn storage_error(err: StorageError) -> ApiError {
    match err {
        StorageError::NotFound(key) => {
            tracing::warn!(%key, "a call names a recording that storage does not have");
            ApiError::NotFound("recording")
        }
        other => ApiError::internal(other),
    }
}
