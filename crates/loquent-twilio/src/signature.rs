//! `X-Twilio-Signature`: how Twilio signs the webhooks it sends us, and how we check them.
//!
//! Form posts (voice webhook, status and recording callbacks) are signed over the full URL
//! followed by every form field as `key` + `value`, keys in byte order. JSON posts (Event
//! Streams) carry `bodySHA256=<hex sha256 of the raw body>` in the URL and are signed over
//! the URL alone; the body hash must be checked separately or a captured signature could be
//! replayed with a forged body.
//!
//! Validation tries a few spellings of the URL because Twilio itself is inconsistent about
//! them (see [`url_candidates`]); that mirrors every official helper library.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the HTTP header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Query parameter Twilio adds to the URL of JSON requests.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// Why a request failed signature validation. Deliberately coarse: the caller answers 403
/// either way, the variant only helps the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Twilio-Signature does not match the request")]
    Mismatch,
    #[error("JSON request URL has no bodySHA256 parameter")]
    MissingBodyHash,
    #[error("bodySHA256 in the URL does not match the request body")]
    BodyHashMismatch,
}

/// Compute the signature Twilio would send for a form POST to `url` with `params`
/// (for a GET, or a JSON post whose URL already carries `bodySHA256`, pass no params).
///
/// Exact duplicate `(key, value)` pairs are signed once, as twilio-python does; this is
/// what the official "duplicate keys" vector expects. The sandbox uses this to sign the
/// webhooks it sends.
pub fn sign<I, K, V>(auth_token: &str, url: &str, params: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(K, V)> = params.into_iter().collect();
    sort_pairs(&mut pairs);
    let mut deduped: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    deduped.dedup();
    signature_over(auth_token, url, &deduped)
}

/// Lowercase hex SHA-256 of a raw request body, as used in `bodySHA256`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for b in &digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Sign a JSON POST the way Twilio does: append `bodySHA256` to `url` and sign the result.
/// Returns `(signed_url, signature)`; the request must be sent to `signed_url`.
pub fn sign_json(auth_token: &str, url: &str, body: &[u8]) -> (String, String) {
    // The parameter goes in the query, before any fragment, where `validate_json` reads it.
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut signed_url = format!("{base}{sep}{BODY_SHA256_PARAM}={}", body_sha256_hex(body));
    if let Some(fragment) = fragment {
        signed_url.push('#');
        signed_url.push_str(fragment);
    }
    let signature = signature_over(auth_token, &signed_url, &[]);
    (signed_url, signature)
}

/// Check the signature of a form-encoded request (or a GET: pass no params).
///
/// `url` must be the public URL Twilio called, query string included, not the one the
/// server saw behind a proxy.
pub fn validate_form<I, K, V>(
    auth_token: &str,
    url: &str,
    params: I,
    signature: &str,
) -> Result<(), SignatureError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(K, V)> = params.into_iter().collect();
    sort_pairs(&mut pairs);
    let all: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    let mut deduped = all.clone();
    deduped.dedup();
    // Libraries disagree on whether exact duplicates are signed once or every time, and
    // Twilio almost never sends them: accept either rather than guess.
    let param_sets: &[&[(&str, &str)]] = if deduped.len() == all.len() {
        &[&all]
    } else {
        &[&all, &deduped]
    };
    let mut ok = false;
    for candidate in url_candidates(url) {
        for set in param_sets {
            ok |= signatures_equal(&signature_over(auth_token, &candidate, set), signature);
        }
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Check the signature of a JSON request: the URL must carry `bodySHA256`, that value must
/// equal the SHA-256 of the raw `body`, and the signature must match the URL alone.
///
/// Pass the body bytes exactly as received; re-serialising parsed JSON changes the hash.
pub fn validate_json(
    auth_token: &str,
    url: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let claimed = body_hash_param(url).ok_or(SignatureError::MissingBodyHash)?;
    let url_ok = validate_form(
        auth_token,
        url,
        std::iter::empty::<(&str, &str)>(),
        signature,
    );
    let body_ok: bool = body_sha256_hex(body)
        .as_bytes()
        .ct_eq(claimed.to_ascii_lowercase().as_bytes())
        .into();
    url_ok?;
    if body_ok {
        Ok(())
    } else {
        Err(SignatureError::BodyHashMismatch)
    }
}

/// Check a POST given only its raw body, like twilio-python's `validate`: if the URL carries
/// `bodySHA256` the body is treated as opaque (JSON), otherwise it is parsed as
/// `application/x-www-form-urlencoded` and checked as a form post.
pub fn validate_body(
    auth_token: &str,
    url: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    if body_hash_param(url).is_some() {
        validate_json(auth_token, url, body, signature)
    } else {
        validate_form(
            auth_token,
            url,
            url::form_urlencoded::parse(body),
            signature,
        )
    }
}

/// The `bodySHA256` value from the URL's query string, if present.
fn body_hash_param(url: &str) -> Option<String> {
    // A `?` inside the fragment starts no query.
    let url = url.split_once('#').map_or(url, |(url, _)| url);
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == BODY_SHA256_PARAM)
        .map(|(_, v)| v.into_owned())
}

/// Sort by key then value, in byte order. Sorting the pairs (not the concatenated
/// `key+value` strings) is what makes `Reason` come before `ReasonConferenceEnded`.
fn sort_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &mut [(K, V)]) {
    pairs.sort_by(|(ka, va), (kb, vb)| {
        (ka.as_ref().as_bytes(), va.as_ref().as_bytes())
            .cmp(&(kb.as_ref().as_bytes(), vb.as_ref().as_bytes()))
    });
}

/// base64(HMAC-SHA1(auth_token, url + k1 + v1 + k2 + v2 …)) over already sorted pairs.
fn signature_over(auth_token: &str, url: &str, sorted: &[(&str, &str)]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

fn signatures_equal(expected: &str, given: &str) -> bool {
    // `ct_eq` on slices of different length returns false early; the length of a base64
    // SHA-1 MAC is public, so that leaks nothing.
    expected.as_bytes().ct_eq(given.trim().as_bytes()).into()
}

/// The spellings of `url` a signature may have been computed over:
///
/// - the URL as given;
/// - without the port, and with the scheme's default port made explicit (`:443`/`:80`;
///   a non-default port is kept) — Twilio's signer is inconsistent about ports;
/// - each of those with `'` and `%27` swapped — twilio-node accepts both, because proxies
///   and frameworks disagree on whether to percent-encode a single quote.
pub fn url_candidates(url: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(9);
    let mut push = |s: Cow<'_, str>| {
        if !out.iter().any(|o| o == &*s) {
            out.push(s.into_owned());
        }
    };
    let mut base = vec![Cow::Borrowed(url)];
    if let Some(parts) = split_authority(url) {
        base.push(Cow::Owned(parts.without_port()));
        if let Some(with) = parts.with_port() {
            base.push(Cow::Owned(with));
        }
    }
    // The URL as given comes first: it is by far the most likely match.
    for b in base {
        let quoted = b.contains('\'').then(|| b.replace('\'', "%27"));
        let unquoted = b.contains("%27").then(|| b.replace("%27", "'"));
        push(b);
        quoted
            .into_iter()
            .chain(unquoted)
            .for_each(|s| push(Cow::Owned(s)));
    }
    out
}

/// A URL cut around its `host[:port]`, kept as raw text so the rest is never re-encoded.
struct AuthorityParts<'a> {
    /// `scheme://` plus any `user:pass@`.
    head: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment, verbatim.
    tail: &'a str,
    default_port: Option<&'static str>,
}

impl AuthorityParts<'_> {
    fn without_port(&self) -> String {
        format!("{}{}{}", self.head, self.host, self.tail)
    }

    fn with_port(&self) -> Option<String> {
        let port = self.port.or(self.default_port)?;
        Some(format!("{}{}:{}{}", self.head, self.host, port, self.tail))
    }
}

fn split_authority(url: &str) -> Option<AuthorityParts<'_>> {
    let scheme_end = url.find("://")? + 3;
    let scheme = &url[..scheme_end - 3];
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        Some("443")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some("80")
    } else {
        None
    };
    let rest = &url[scheme_end..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    let tail = &rest[auth_len..];
    // Userinfo ends at the last '@' (a password may contain an encoded one, never a raw one).
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let hostport = &authority[host_start..];
    // IPv6 literals contain ':' — the port separator is only after the closing ']'.
    let search_from = hostport.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match hostport[search_from..].rfind(':') {
        Some(i) => {
            let i = search_from + i;
            (
                &hostport[..i],
                Some(&hostport[i + 1..]).filter(|p| !p.is_empty()),
            )
        }
        None => (hostport, None),
    };
    Some(AuthorityParts {
        head: &url[..scheme_end + host_start],
        host,
        port,
        tail,
        default_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
    }

    /// Found by the `signature` fuzz target: the body hash was appended after a fragment, where
    /// the validator never looked, so a URL with a `#` could not be signed for JSON.
    #[test]
    fn a_json_post_to_a_url_with_a_fragment_validates() {
        for url in [
            "https://app.example.com/twilio/events#sink",
            "https://app.example.com/twilio/events?a=1#sink?b=2",
            "? '#  ",
        ] {
            let (signed_url, signature) = sign_json("12345", url, b"[]");
            assert_eq!(
                validate_json("12345", &signed_url, b"[]", &signature),
                Ok(()),
                "{signed_url}"
            );
        }
        let (signed_url, _) = sign_json("12345", "https://a.example/x?y=1#frag", b"");
        assert!(
            signed_url.starts_with("https://a.example/x?y=1&bodySHA256=")
                && signed_url.ends_with("#frag"),
            "{signed_url}"
        );
    }

    #[test]
    fn canonical_vector() {
        assert_eq!(sign("12345", URL, params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(
            validate_form("12345", URL, params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            Ok(())
        );
    }

    #[test]
    fn param_order_does_not_matter_but_values_do() {
        let mut reversed = params();
        reversed.reverse();
        assert_eq!(sign("12345", URL, reversed), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let mut tampered = params();
        tampered[2].1 = "9999";
        assert_eq!(
            validate_form("12345", URL, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn wrong_token_is_rejected() {
        let sig = sign("12345", URL, params());
        assert_eq!(
            validate_form("54321", URL, params(), &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn url_candidates_cover_ports_and_quotes() {
        assert_eq!(
            url_candidates("https://u:p@h.example:8443/a?b=c"),
            vec![
                "https://u:p@h.example:8443/a?b=c",
                "https://u:p@h.example/a?b=c",
            ]
        );
        assert_eq!(
            url_candidates("http://h.example/a"),
            vec!["http://h.example/a", "http://h.example:80/a"]
        );
        assert_eq!(
            url_candidates("https://[::1]:443/x"),
            vec!["https://[::1]:443/x", "https://[::1]/x"]
        );
        assert_eq!(
            url_candidates("https://h/x?q='"),
            vec![
                "https://h/x?q='",
                "https://h/x?q=%27",
                "https://h:443/x?q='",
                "https://h:443/x?q=%27"
            ]
        );
        // Not a URL at all: only the string itself.
        assert_eq!(url_candidates("garbage"), vec!["garbage"]);
    }

    #[test]
    fn json_roundtrip_and_tamper() {
        let body = br#"{"a":1}"#;
        let (url, sig) = sign_json("tok", "https://h.example/twilio/events", body);
        assert!(url.starts_with("https://h.example/twilio/events?bodySHA256="));
        assert_eq!(validate_json("tok", &url, body, &sig), Ok(()));
        assert_eq!(validate_body("tok", &url, body, &sig), Ok(()));
        assert_eq!(
            validate_json("tok", &url, br#"{"a":2}"#, &sig),
            Err(SignatureError::BodyHashMismatch)
        );
        assert_eq!(
            validate_json("tok", "https://h.example/twilio/events", body, &sig),
            Err(SignatureError::MissingBodyHash)
        );
    }

    #[test]
    fn surrounding_whitespace_in_header_is_tolerated() {
        let sig = format!(" {} ", sign("12345", URL, params()));
        assert_eq!(validate_form("12345", URL, params(), &sig), Ok(()));
    }
}
