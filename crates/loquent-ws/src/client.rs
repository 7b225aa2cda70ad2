//! The client's opening handshake (RFC 6455 §4.1): the upgrade request, and the checks on the
//! server's answer that make the connection a WebSocket.
//!
//! The connection underneath (TCP, TLS) is the caller's: this runs over any byte stream, so the
//! provider sockets, the conformance client and the tests use the same code.

use std::io;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{Role, WebSocket, accept_key};

/// The most a server's answer to the upgrade request may take before its body.
const HEAD_LIMIT: usize = 16 * 1024;
/// The most of a refusal's body kept for the error.
const BODY_LIMIT: usize = 1024;
const MAX_HEADERS: usize = 64;

/// What the upgrade request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The `Host` header: the host, with `:port` when it is not the scheme's default.
    pub host: &'a str,
    /// The path and query, starting with `/`.
    pub target: &'a str,
    /// More headers (`Authorization`, ...). Their values may be secrets: no error repeats them.
    pub headers: &'a [(&'a str, &'a str)],
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The request cannot be written as asked (a header with a line break, a bad target).
    #[error("invalid WebSocket request: {0}")]
    InvalidRequest(&'static str),
    /// The server answered with something other than `101 Switching Protocols`.
    #[error("handshake rejected with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    /// The server said `101` but not in the way RFC 6455 requires.
    #[error("invalid handshake response: {0}")]
    InvalidResponse(&'static str),
}

/// Opens a WebSocket over `io` as the client: writes the upgrade request, reads and checks the
/// answer. Frames that came with the answer are kept for the first reads.
pub async fn handshake<S>(
    mut io: S,
    request: Request<'_>,
    read_buffer: usize,
    max_message: usize,
) -> Result<WebSocket<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let key: [u8; 16] = rand::random();
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    io.write_all(&request_bytes(&request, &key)?).await?;
    io.flush().await?;

    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0; 2048];
    let (status, body_at, content_length) = loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(HandshakeError::InvalidResponse(
                "the connection ended before the response",
            ));
        }
        head.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                if status == 101 {
                    check_upgrade(response.headers, &key)?;
                    let mut socket =
                        WebSocket::with_role(io, Role::Client, read_buffer, max_message);
                    socket.preload(&head[len..]);
                    return Ok(socket);
                }
                let length = header(response.headers, "content-length")
                    .and_then(|value| std::str::from_utf8(value).ok())
                    .and_then(|value| value.trim().parse::<usize>().ok());
                break (status, len, length);
            }
            Ok(httparse::Status::Partial) if head.len() < HEAD_LIMIT => {}
            Ok(httparse::Status::Partial) => {
                return Err(HandshakeError::InvalidResponse(
                    "the response head is too long",
                ));
            }
            Err(_) => return Err(HandshakeError::InvalidResponse("not an HTTP response")),
        }
    };
    // A refusal: its body says why (a bad key, an unknown model). Read as much of it as was
    // announced, up to a limit; without a length, what came with the head.
    let wanted = content_length.map_or(0, |length| length.min(BODY_LIMIT));
    while head.len() - body_at < wanted {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let body = &head[body_at..];
    let body = &body[..body.len().min(BODY_LIMIT)];
    let body: String = String::from_utf8_lossy(body).chars().take(300).collect();
    Err(HandshakeError::Rejected {
        status,
        body: body.trim().to_owned(),
    })
}

fn request_bytes(request: &Request<'_>, key: &str) -> Result<Vec<u8>, HandshakeError> {
    let clean = |text: &str| !text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if !request.target.starts_with('/') || request.target.contains(' ') || !clean(request.target) {
        return Err(HandshakeError::InvalidRequest(
            "the target must be a path without spaces",
        ));
    }
    if request.host.is_empty() || !clean(request.host) {
        return Err(HandshakeError::InvalidRequest(
            "the host is empty or invalid",
        ));
    }
    let mut out = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        request.target, request.host
    );
    for (name, value) in request.headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(HandshakeError::InvalidRequest(
                "a header name is not a token",
            ));
        }
        if !clean(value) {
            return Err(HandshakeError::InvalidRequest(
                "a header value has a line break",
            ));
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    Ok(out.into_bytes())
}

fn header<'h>(headers: &'h [httparse::Header<'_>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value)
}

/// RFC 6455 §4.1, the client's checks on a `101`: the upgrade is to `websocket`, the accept key
/// answers ours, and no extension or subprotocol we did not ask for was chosen.
fn check_upgrade(headers: &[httparse::Header<'_>], key: &str) -> Result<(), HandshakeError> {
    let has_token = |name: &str, token: &str| {
        headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name))
            .flat_map(|header| header.value.split(|&b| b == b','))
            .any(|value| value.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if !has_token("upgrade", "websocket") {
        return Err(HandshakeError::InvalidResponse(
            "the Upgrade header is not websocket",
        ));
    }
    if !has_token("connection", "upgrade") {
        return Err(HandshakeError::InvalidResponse(
            "the Connection header does not say upgrade",
        ));
    }
    let accept = header(headers, "sec-websocket-accept").map(<[u8]>::trim_ascii);
    if accept != Some(accept_key(key.as_bytes()).as_bytes()) {
        return Err(HandshakeError::InvalidResponse(
            "Sec-WebSocket-Accept does not answer our key",
        ));
    }
    if header(headers, "sec-websocket-extensions").is_some_and(|v| !v.trim_ascii().is_empty()) {
        return Err(HandshakeError::InvalidResponse(
            "the server chose an extension we did not offer",
        ));
    }
    if header(headers, "sec-websocket-protocol").is_some_and(|v| !v.trim_ascii().is_empty()) {
        return Err(HandshakeError::InvalidResponse(
            "the server chose a subprotocol we did not offer",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
