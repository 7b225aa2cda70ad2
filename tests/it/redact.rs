//! Makes responses comparable across runs and databases before they are snapshotted: ids,
//! timestamps, tokens and ports change every run, the shapes and texts around them do not.
//!
//! Each distinct id becomes `[id-N]` in order of first appearance, so a snapshot still shows
//! which values are the same (a phone's `agent_id` and that agent's `id`).

use std::collections::HashMap;

use serde_json::Value;

#[derive(Default)]
pub struct Redactor {
    ids: HashMap<String, String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// A JSON body with every volatile string replaced.
    pub fn json(&mut self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.json(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// An HTML page with its CSRF token, ids, tokens, timestamps and ports replaced.
    pub fn html(&mut self, html: &str) -> String {
        let html = replace_after(html, "name=\"csrf_token\" value=\"", '"', "[csrf]");
        let html = replace_after(&html, "name=\"token\" value=\"", '"', "[token]");
        self.text(&html)
    }

    /// Any text: UUIDs (`[id-N]`), runs of 32 hex digits (e-mail tags, Twilio SIDs' tails:
    /// `[hex]`), RFC 3339 and `YYYY-MM-DD HH:MM UTC` timestamps (`[timestamp]`), links' tokens
    /// (`token=[token]`), local ports.
    pub fn text(&mut self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            if let Some(len) = uuid_at(bytes, i) {
                let id = text[i..i + len].to_ascii_lowercase();
                let next = self.ids.len() + 1;
                out.push_str(self.ids.entry(id).or_insert_with(|| format!("[id-{next}]")));
                i += len;
            } else if let Some(len) = timestamp_at(bytes, i) {
                out.push_str("[timestamp]");
                i += len;
            } else if let Some(len) = hex_run_at(bytes, i) {
                out.push_str("[hex]");
                i += len;
            } else if text[i..].starts_with("token=") {
                // A link's token (43 base64url characters).
                let len = bytes[i + 6..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
                    .count();
                out.push_str(if len == 43 { "token=[token]" } else { "token=" });
                i += if len == 43 { 6 + len } else { 6 };
            } else if text[i..].starts_with("127.0.0.1:") {
                let digits = bytes[i + 10..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                out.push_str("127.0.0.1:[port]");
                i += 10 + digits;
            } else {
                let ch = text[i..].chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
        out
    }
}

/// Replaces each value that follows `marker` up to `end` with `with`.
fn replace_after(text: &str, marker: &str, end: char, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push_str(with);
        rest = &rest[start..];
        rest = &rest[rest.find(end).unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// Starts of a word: ids are never glued to a preceding hex digit.
fn word_start(bytes: &[u8], i: usize) -> bool {
    i == 0 || !bytes[i - 1].is_ascii_hexdigit()
}

/// A hyphenated UUID starting at `i`.
fn uuid_at(bytes: &[u8], i: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    if !word_start(bytes, i) {
        return None;
    }
    let mut at = i;
    for (n, len) in GROUPS.iter().enumerate() {
        if n > 0 {
            (bytes.get(at) == Some(&b'-')).then_some(())?;
            at += 1;
        }
        let group = bytes.get(at..at + len)?;
        group.iter().all(u8::is_ascii_hexdigit).then_some(())?;
        at += len;
    }
    (!bytes.get(at).is_some_and(u8::is_ascii_hexdigit)).then_some(at - i)
}

/// 32 or more lowercase hex digits starting at `i`.
fn hex_run_at(bytes: &[u8], i: usize) -> Option<usize> {
    if !word_start(bytes, i) {
        return None;
    }
    let len = bytes[i..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(*b))
        .count();
    (len >= 32).then_some(len)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` or `YYYY-MM-DD HH:MM UTC` starting at `i`.
fn timestamp_at(bytes: &[u8], i: usize) -> Option<usize> {
    let shape = |pattern: &[u8], at: usize| {
        let part = bytes.get(at..at + pattern.len())?;
        part.iter()
            .zip(pattern)
            .all(|(b, p)| {
                if *p == b'9' {
                    b.is_ascii_digit()
                } else {
                    b == p
                }
            })
            .then_some(at + pattern.len())
    };
    if i > 0 && bytes[i - 1].is_ascii_digit() {
        return None;
    }
    if let Some(end) = shape(b"9999-99-99 99:99 UTC", i) {
        return Some(end - i);
    }
    let mut at = shape(b"9999-99-99T99:99:99", i)?;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        at += bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    }
    if bytes.get(at) == Some(&b'Z') {
        at += 1;
    } else if let Some(end) = shape(b"+99:99", at).or_else(|| shape(b"-99:99", at)) {
        at = end;
    }
    Some(at - i)
}

#[test]
fn volatile_values_are_replaced_and_ids_keep_their_identity() {
    let mut r = Redactor::new();
    let text = r.text(
        "a 0190a4b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b b 0190A4B2-7C1D-7E3F-8A9B-0C1D2E3F4A5B \
         owner-0123456789abcdef0123456789abcdef@acme.example.com \
         2026-12-06T02:28:23.123456Z 2026-12-06 02:28 UTC http://127.0.0.1:43123/x \
         +14155550100",
    );
    assert_eq!(
        text,
        "a [id-1] b [id-1] owner-[hex]@acme.example.com [timestamp] [timestamp] \
         http://127.0.0.1:[port]/x +14155550100"
    );
    assert_eq!(
        r.html(r#"<input name="csrf_token" value="abc-_XYZ"><a>"#),
        r#"<input name="csrf_token" value="[csrf]"><a>"#
    );
}
