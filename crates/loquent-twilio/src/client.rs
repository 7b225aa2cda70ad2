//! The Twilio REST client: credentials, base URLs, timeouts, retries and paging.
//!
//! The operations themselves live beside the resources they act on —
//! [`crate::accounts`], [`crate::calls`], [`crate::recordings`], [`crate::phone_numbers`],
//! [`crate::events_api`] — as methods on [`TwilioClient`]. Every request goes through the
//! [`OPERATIONS`] table, which names the OpenAPI operation, its method, path template and the
//! parameters we send; a test checks that table against Twilio's published spec.
//!
//! Retries: `429` (honouring `Retry-After`), `5xx` and connection failures are retried as the
//! workspace's one [`RetryPolicy`] says (exponential backoff with full jitter, up to
//! [`RetryPolicy::max_attempts`]). Operations that create
//! something are only retried when the request provably did not run: a connect error or a `429`.

mod decode;
mod error;
pub mod operations;
mod paging;
mod retry;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

pub(crate) use decode::{number_or_string, string_or_number};
pub use error::{ApiError, TwilioError};
pub use operations::{Host, HttpMethod, Idempotency, OPERATIONS, Operation};
pub use paging::TwilioStream;
pub(crate) use paging::{EventsPageMeta, ListPage, events_page, v2010_page};
pub use retry::RetryPolicy;

use crate::sid::{AccountSid, ApiKeySid};

/// Where the core REST API (`/2010-04-01/...`) lives.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// Where the Event Streams API (`/v1/Sinks`, `/v1/Subscriptions`) lives.
pub const DEFAULT_EVENTS_BASE: &str = "https://events.twilio.com";
/// Default per-request timeout for API calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default timeout for a whole recording download (headers and body).
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// A Twilio secret (Auth Token or API key secret). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for storing it (encrypted) or signing webhooks with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(••••)")
    }
}

/// How the client authenticates (HTTP Basic), and which account it acts on.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// Username = Account SID, password = Auth Token.
    AuthToken {
        account_sid: AccountSid,
        auth_token: AuthToken,
    },
    /// Username = API key SID (`SK…`), password = its secret; requests still act on
    /// `account_sid`.
    ApiKey {
        account_sid: AccountSid,
        key_sid: ApiKeySid,
        secret: AuthToken,
    },
}

impl Credentials {
    pub fn auth_token(account_sid: AccountSid, auth_token: impl Into<String>) -> Self {
        Self::AuthToken {
            account_sid,
            auth_token: AuthToken::new(auth_token),
        }
    }

    pub fn api_key(account_sid: AccountSid, key_sid: ApiKeySid, secret: impl Into<String>) -> Self {
        Self::ApiKey {
            account_sid,
            key_sid,
            secret: AuthToken::new(secret),
        }
    }

    /// The account whose resources requests act on (the `{AccountSid}` in v2010 paths).
    pub fn account_sid(&self) -> &AccountSid {
        match self {
            Self::AuthToken { account_sid, .. } | Self::ApiKey { account_sid, .. } => account_sid,
        }
    }

    fn username(&self) -> &str {
        match self {
            Self::AuthToken { account_sid, .. } => account_sid.as_str(),
            Self::ApiKey { key_sid, .. } => key_sid.as_str(),
        }
    }

    fn password(&self) -> &str {
        match self {
            Self::AuthToken { auth_token, .. } => auth_token.expose(),
            Self::ApiKey { secret, .. } => secret.expose(),
        }
    }
}

/// Configures a [`TwilioClient`]; start with [`TwilioClient::builder`].
#[derive(Debug, Clone)]
pub struct TwilioClientBuilder {
    credentials: Credentials,
    api_base: String,
    events_base: String,
    timeout: Duration,
    download_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl TwilioClientBuilder {
    /// Origin of the core API, e.g. a local fake in tests. Any path is ignored.
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// Origin of the Event Streams API. Any path is ignored.
    pub fn events_base(mut self, url: impl Into<String>) -> Self {
        self.events_base = url.into();
        self
    }

    /// Timeout of one attempt of an API call (connect, send, and read the whole body).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout of one recording download attempt, body included.
    pub fn download_timeout(mut self, timeout: Duration) -> Self {
        self.download_timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn build(self) -> Result<TwilioClient, TwilioError> {
        let api_base = parse_base(&self.api_base)?;
        let events_base = parse_base(&self.events_base)?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("loquent-twilio/", env!("CARGO_PKG_VERSION")))
            // Twilio never redirects API calls; following one would resend credentials.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TwilioError::InvalidRequest(format!("cannot build HTTP client: {e}")))?;
        Ok(TwilioClient {
            inner: Arc::new(Inner {
                http,
                credentials: self.credentials,
                api_base,
                events_base,
                timeout: self.timeout,
                download_timeout: self.download_timeout,
                retry: self.retry,
            }),
        })
    }
}

fn parse_base(raw: &str) -> Result<Url, TwilioError> {
    let url = Url::parse(raw)
        .map_err(|e| TwilioError::InvalidRequest(format!("invalid base URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(TwilioError::InvalidRequest(format!(
            "base URL {raw:?} must be http(s)"
        )));
    }
    Ok(url)
}

/// A Twilio REST client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct TwilioClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    credentials: Credentials,
    api_base: Url,
    events_base: Url,
    timeout: Duration,
    download_timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("account", &self.inner.credentials.account_sid().masked())
            .field("api_base", &self.inner.api_base.as_str())
            .field("events_base", &self.inner.events_base.as_str())
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    /// A client for the real Twilio hosts with default timeouts and retries.
    pub fn new(credentials: Credentials) -> Result<Self, TwilioError> {
        Self::builder(credentials).build()
    }

    pub fn builder(credentials: Credentials) -> TwilioClientBuilder {
        TwilioClientBuilder {
            credentials,
            api_base: DEFAULT_API_BASE.to_owned(),
            events_base: DEFAULT_EVENTS_BASE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }

    /// The account requests act on.
    pub fn account_sid(&self) -> &AccountSid {
        self.inner.credentials.account_sid()
    }

    fn base(&self, host: Host) -> &Url {
        match host {
            Host::Api => &self.inner.api_base,
            Host::Events => &self.inner.events_base,
        }
    }

    /// Start a request for `op`, filling its path template with `path_params`.
    ///
    /// Path values are SIDs and other validated tokens; `Url::set_path` percent-encodes
    /// anything unexpected rather than letting it change the path's shape.
    pub(crate) fn request(
        &self,
        op: &'static Operation,
        path_params: &[(&str, &str)],
    ) -> ApiRequest {
        let mut path = op.path.to_owned();
        for (name, value) in path_params {
            let placeholder = format!("{{{name}}}");
            debug_assert!(path.contains(&placeholder), "{} has no {{{name}}}", op.id);
            path = path.replace(&placeholder, value);
        }
        debug_assert!(!path.contains('{'), "{}: unfilled path parameter", op.id);
        let mut url = self.base(op.host).clone();
        url.set_path(&path);
        url.set_query(None);
        ApiRequest {
            op,
            url,
            form: Vec::new(),
        }
    }

    /// Resolve a paging link (relative like v2010's `next_page_uri`, or absolute like
    /// Events' `next_page_url`) against our own base URL for `host`. Only the path and query
    /// are taken from the link, so credentials never go to a host we were not configured with.
    fn follow(&self, op: &'static Operation, link: &str) -> Result<ApiRequest, TwilioError> {
        let base = self.base(op.host);
        let parsed = base.join(link).map_err(|e| TwilioError::InvalidResponse {
            status: 200,
            detail: format!("unusable next page link: {e}"),
        })?;
        let mut url = base.clone();
        url.set_path(parsed.path());
        url.set_query(parsed.query());
        Ok(ApiRequest {
            op,
            url,
            form: Vec::new(),
        })
    }

    /// Send with retries and decode a JSON success body.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        request: &ApiRequest,
    ) -> Result<T, TwilioError> {
        let response = self.execute(request, self.inner.timeout).await?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(TwilioError::Connection)?;
        serde_json::from_slice(&body).map_err(|e| TwilioError::InvalidResponse {
            status,
            detail: format!("{} response body: {e}", request.op.id),
        })
    }

    /// Send with retries, expecting a success without a body we care about (delete → 204).
    pub(crate) async fn send_no_content(&self, request: &ApiRequest) -> Result<(), TwilioError> {
        let response = self.execute(request, self.inner.timeout).await?;
        // Drain so the connection can be reused.
        let _ = response.bytes().await;
        Ok(())
    }

    /// Send with retries; the successful response is returned with its body unread.
    pub(crate) async fn send_streaming(
        &self,
        request: &ApiRequest,
    ) -> Result<reqwest::Response, TwilioError> {
        self.execute(request, self.inner.download_timeout).await
    }

    async fn execute(
        &self,
        request: &ApiRequest,
        timeout: Duration,
    ) -> Result<reqwest::Response, TwilioError> {
        let policy = &self.inner.retry;
        let op = request.op;
        let mut attempt: u32 = 1;
        loop {
            let mut builder = self
                .inner
                .http
                .request(op.method.to_reqwest(), request.url.clone())
                .basic_auth(
                    self.inner.credentials.username(),
                    Some(self.inner.credentials.password()),
                )
                .timeout(timeout);
            if op.method == HttpMethod::Post {
                builder = builder.form(&request.form);
            }
            let delay = match builder.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry::retry_after(response.headers());
                    let delay = retry::status_is_retryable(status, op.idempotency)
                        .then(|| policy.delay(attempt, retry_after))
                        .flatten();
                    let Some(delay) = delay else {
                        return Err(error::from_response(response, retry_after).await);
                    };
                    tracing::debug!(
                        operation = op.id,
                        status = status.as_u16(),
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "Twilio request failed, retrying"
                    );
                    delay
                }
                Err(e) => {
                    let delay = retry::error_is_retryable(&e, op.idempotency)
                        .then(|| policy.delay(attempt, None))
                        .flatten();
                    let Some(delay) = delay else {
                        return Err(TwilioError::Connection(e));
                    };
                    tracing::debug!(
                        operation = op.id,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %e,
                        "Twilio unreachable, retrying"
                    );
                    delay
                }
            };
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// A stream of every item of a paged list, fetching page after page lazily by following
    /// the `next` link each page carries.
    pub(crate) fn paginate<P: ListPage>(&self, first: ApiRequest) -> TwilioStream<P::Item> {
        paging::paginate::<P>(self.clone(), first)
    }
}

/// One request being built: its operation, URL (query included) and form body.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    op: &'static Operation,
    url: Url,
    form: Vec<(&'static str, String)>,
}

impl ApiRequest {
    /// Add a parameter: to the query string for GET/DELETE, to the form body for POST.
    /// Adding a name more than once repeats the key, as Twilio expects for arrays.
    pub(crate) fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        debug_assert!(
            self.op.params.contains(&name),
            "{} does not declare parameter {name}; add it to OPERATIONS",
            self.op.id
        );
        let value = value.into();
        match self.op.method {
            HttpMethod::Post => self.form.push((name, value)),
            HttpMethod::Get | HttpMethod::Delete => {
                self.url.query_pairs_mut().append_pair(name, &value);
            }
        }
        self
    }

    pub(crate) fn opt_param(self, name: &'static str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.param(name, value),
            None => self,
        }
    }
}
