//! Serving a stored object over HTTP the way browsers' audio players need: byte ranges
//! (RFC 9110 §14) for seeking, and validators (`ETag`, `Last-Modified`) so a replay revalidates
//! instead of downloading again.
//!
//! Rules kept here:
//! - One range per request. A multi-range request is answered with the whole object (200), which
//!   RFC 9110 allows; audio elements only ever ask for one.
//! - A `Range` in another unit than `bytes` is ignored (200). A malformed `bytes` range, or one
//!   that starts past the end, is refused with 416 and `Content-Range: bytes */{size}`.
//! - `bytes=a-b` past the end is cut at the end; `bytes=-n` is the last `n` bytes (all of them
//!   when `n` exceeds the size).
//! - `If-Range` that does not match the current validator makes the range ignored (200 with the
//!   whole, new object) so a client never splices two versions.
//! - `If-None-Match` takes precedence over `If-Modified-Since` (RFC 9110 §13.2.2).

use std::ops::Range;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};

use crate::storage::ObjectInfo;

/// What a `Range` header asks of an object of a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range (or one to ignore): the whole object, 200.
    Whole,
    /// These bytes, 206.
    Part(Range<u64>),
    /// Nothing that can be served: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value against an object of `size` bytes.
pub fn resolve(range: Option<&str>, size: u64) -> RangeRequest {
    let Some(value) = range.map(str::trim) else {
        return RangeRequest::Whole;
    };
    let Some((unit, specs)) = value.split_once('=') else {
        return RangeRequest::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Whole;
    }
    if specs.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = specs.trim().split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(n) if n > 0 && size > 0 => RangeRequest::Part(size.saturating_sub(n)..size),
            _ => RangeRequest::Unsatisfiable,
        },
        (first, "") => match number(first) {
            Some(start) if start < size => RangeRequest::Part(start..size),
            _ => RangeRequest::Unsatisfiable,
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end && start < size => {
                RangeRequest::Part(start..end.min(size - 1) + 1)
            }
            _ => RangeRequest::Unsatisfiable,
        },
    }
}

/// The object's strong validator: its size and last change, which change whenever its bytes
/// can have (a recording is written once; a replacement is written whole).
pub fn etag(info: &ObjectInfo) -> String {
    let nanos = info.last_modified.timestamp_nanos_opt().unwrap_or_default();
    format!("\"{:x}-{:x}\"", info.size, nanos)
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Whether the request's `If-None-Match` / `If-Modified-Since` say the client's copy is current
/// (answer 304).
pub fn not_modified(headers: &HeaderMap, info: &ObjectInfo) -> bool {
    let tag = etag(info);
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        // Weak comparison: `W/"x"` matches `"x"`.
        return value
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == tag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .is_some_and(|since| info.last_modified.timestamp() <= since.timestamp())
}

/// Whether a `Range` may be honored given the request's `If-Range`: yes without one, or when it
/// names the current validator exactly (an entity tag compares strongly; a date must equal
/// `Last-Modified`).
pub fn range_applies(headers: &HeaderMap, info: &ObjectInfo) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str().map(str::trim) else {
        return false;
    };
    if value.starts_with('"') {
        return value == etag(info);
    }
    parse_http_date(value).is_some_and(|at| at.timestamp() == info.last_modified.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn ranges_resolve_as_rfc_9110_says() {
        use RangeRequest::{Part, Unsatisfiable, Whole};
        let r = |v: &str| resolve(Some(v), 1000);
        assert_eq!(resolve(None, 1000), Whole);
        assert_eq!(r("bytes=0-0"), Part(0..1));
        assert_eq!(r("bytes=0-499"), Part(0..500));
        assert_eq!(r("bytes=500-599"), Part(500..600));
        assert_eq!(r("bytes=900-"), Part(900..1000));
        assert_eq!(r("bytes=900-5000"), Part(900..1000));
        assert_eq!(r("bytes=-100"), Part(900..1000));
        assert_eq!(r("bytes=-5000"), Part(0..1000));
        assert_eq!(r("Bytes = 1-2"), Part(1..3));
        assert_eq!(r("items=0-5"), Whole);
        assert_eq!(r("bytes=0-1,5-6"), Whole);
        for bad in [
            "bytes=1000-",
            "bytes=1000-1001",
            "bytes=5-4",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1",
            "bytes",
            "",
        ] {
            assert_eq!(r(bad), Unsatisfiable, "{bad}");
        }
        assert_eq!(resolve(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-1"), 0), Unsatisfiable);
    }

    #[test]
    fn validators_match_the_current_object_only() {
        let info = ObjectInfo {
            size: 1000,
            last_modified: DateTime::from_timestamp(1_765_000_000, 500).unwrap(),
        };
        let tag = etag(&info);
        let mut headers = HeaderMap::new();
        assert!(!not_modified(&headers, &info));
        assert!(range_applies(&headers, &info));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{tag}")).unwrap(),
        );
        assert!(not_modified(&headers, &info));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&http_date(info.last_modified)).unwrap(),
        );
        assert!(!not_modified(&headers, &info), "If-None-Match wins");
        headers.remove(header::IF_NONE_MATCH);
        assert!(not_modified(&headers, &info));
        headers.insert(header::IF_RANGE, HeaderValue::from_str(&tag).unwrap());
        assert!(range_applies(&headers, &info));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"stale\""));
        assert!(!range_applies(&headers, &info));
        assert_eq!(
            http_date(DateTime::from_timestamp(784_111_777, 0).unwrap()),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
