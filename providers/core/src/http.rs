//! The one HTTP client every provider uses: TLS (rustls, private CA, explicit opt-out),
//! proxies from the environment, timeouts, client-side quotas, pausing when the vendor's
//! rate-limit headers say the budget is spent, retries with backoff, and one credential
//! refresh on 401. Secrets stay in sensitive header values and are never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use backon::BackoffBuilder;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use tokio::sync::Mutex;

use crate::auth::Auth;
use crate::error::{ErrorKind, ProviderError, Result};
use crate::ratelimit::{Limiter, Permit, RateLimitSpec};
use crate::retry::{self, Decision};

/// Settings for one provider's HTTP client.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub provider: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra trusted root certificates (PEM), on top of the system's.
    pub ca_file: Option<PathBuf>,
    /// Explicit per-provider opt-out of certificate verification.
    pub insecure_skip_tls_verify: bool,
    pub rate_limit: RateLimitSpec,
    /// Attempts per request, the first included.
    pub max_attempts: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest single wait a server may impose (Retry-After, reset headers).
    pub max_wait: Duration,
    /// Pause when the vendor reports this many requests or fewer left in its window.
    pub headroom: u64,
    /// Requests in flight per provider (`concurrency`): the most a listing fetches at once.
    pub concurrency: usize,
    /// A file where the client-side quota remembers its recent requests between runs (see
    /// [`Limiter::remembered`]); `None`: every run starts with the whole allowance.
    pub quota_memory: Option<PathBuf>,
    /// The largest response body read; a longer one fails the request (`max_response_mb`).
    pub max_response_bytes: u64,
}

/// The default response size cap: 64 MiB, far above any page a vendor sends.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// All attempts of one request together may spend at most this many times `timeout` on the
/// network (each attempt, body included, is bounded by `timeout` itself).
pub const DEADLINE_TIMEOUTS: u32 = 4;

/// After this many consecutive credential refusals a provider's further requests fail at once
/// without being sent (see [`HttpClient::send`]).
pub const AUTH_BREAKER_THRESHOLD: u32 = 3;

impl HttpOptions {
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_string(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ca_file: None,
            insecure_skip_tls_verify: false,
            rate_limit: RateLimitSpec::off(),
            max_attempts: 6,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(3600),
            headroom: 8,
            concurrency: 8,
            quota_memory: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// `seed` over the whole of `de`'s input: trailing characters other than whitespace are an
/// error, as with `serde_json::from_str`.
fn read_all<'a, R: serde_json::de::Read<'a>, S: serde::de::DeserializeSeed<'a>>(
    mut de: serde_json::Deserializer<R>,
    seed: S,
) -> serde_json::Result<S::Value> {
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A response after retries: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: Option<String>,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The body as `T`; `T` may borrow text from the body (no copy for what is only read).
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T> {
        self.json_seed(std::marker::PhantomData::<T>)
    }

    /// The body read through `seed` (e.g. one that hands on a page's objects one at a time,
    /// [`crate::wire::Each`]), which may borrow text from the body.
    pub fn json_seed<'a, S: serde::de::DeserializeSeed<'a>>(&'a self, seed: S) -> Result<S::Value> {
        // Checking the whole body once is cheaper than serde_json checking each string of
        // it; a body that is not UTF-8 gets the byte parser's error.
        let parsed = match std::str::from_utf8(&self.body) {
            Ok(text) => read_all(serde_json::Deserializer::from_str(text), seed),
            Err(_) => read_all(serde_json::Deserializer::from_slice(&self.body), seed),
        };
        parsed.map_err(|e| {
            let mut err = ProviderError::protocol(format!(
                "unexpected response body for HTTP {}: {e}",
                self.status.as_u16()
            ));
            err.request_id = self.request_id.clone();
            err
        })
    }

    /// `" (request id …)"` when the vendor sent one, else empty: for outcome details.
    pub fn request_id_note(&self) -> String {
        self.request_id
            .as_deref()
            .map(|r| format!(" (request id {r})"))
            .unwrap_or_default()
    }

    pub fn text_snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.chars().count() > 300 {
            format!("{}…", text.chars().take(300).collect::<String>())
        } else {
            text.to_string()
        }
    }
}

/// Request ids vendors put in response headers.
fn request_id(headers: &HeaderMap) -> Option<String> {
    [
        "x-request-id",
        "x-correlation-id",
        "request-id",
        "x-amzn-requestid",
        "x-trace-id",
    ]
    .iter()
    .find_map(|n| headers.get(*n))
    .and_then(|v| v.to_str().ok())
    .map(str::to_string)
}

#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    opts: Arc<HttpOptions>,
    limiter: Limiter,
    paused_until: Arc<Mutex<Option<Instant>>>,
    breaker: Arc<Breaker>,
    /// `concurrency` turns on the network, shared by every clone of this provider's client:
    /// however many listings, re-checks and changes run at once, no more requests than that
    /// are in flight to the provider (a turn lasts from sending to the end of the body).
    on_network: Arc<tokio::sync::Semaphore>,
}

/// Consecutive credential refusals of one provider (shared by every clone of its client).
#[derive(Default)]
struct Breaker {
    refusals: AtomicU32,
    open: AtomicBool,
}

/// Which requests [`HttpClient::send_inner`] sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// An API call: counts towards the circuit breaker.
    Api,
    /// A token request or exchange: always safe to resend (it changes nothing), and its
    /// refusal is counted once, where the API call that needed the token fails.
    Token,
}

/// Why reading a body stopped.
enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

/// Make rustls's ring crypto provider the process default, once. Every HTTP client of
/// agentctl uses it: certificate verification and TLS versions are rustls's and reqwest's
/// own; only the cryptography backend is chosen here (see the workspace manifest for why).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Already installed (by this process, earlier) is fine: nothing else installs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A plain `reqwest::Client` with agentctl's crypto provider in place, for code that talks
/// HTTP without an [`HttpClient`] (simulator tests, benchmarks).
pub fn plain_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

impl HttpClient {
    pub fn new(opts: HttpOptions) -> Result<Self> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("agentctl/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_max_idle_per_host(32);
        if let Some(path) = &opts.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ProviderError::config(format!("ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ProviderError::config(format!(
                    "ca_file {}: not a PEM certificate bundle: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(ProviderError::config(format!(
                    "ca_file {}: no certificate found",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if opts.insecure_skip_tls_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let inner = builder
            .build()
            .map_err(|e| ProviderError::config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            limiter: match &opts.quota_memory {
                Some(path) => Limiter::remembered(&opts.rate_limit, path.clone()),
                None => Limiter::new(&opts.rate_limit),
            },
            on_network: Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1))),
            inner,
            opts: Arc::new(opts),
            paused_until: Arc::new(Mutex::new(None)),
            breaker: Arc::new(Breaker::default()),
        })
    }

    /// The same connection pool with another set of quotas (e.g. a token endpoint that has
    /// its own limit).
    pub fn with_rate_limit(&self, spec: &RateLimitSpec) -> Self {
        Self {
            inner: self.inner.clone(),
            opts: self.opts.clone(),
            limiter: Limiter::new(spec),
            paused_until: Arc::new(Mutex::new(None)),
            breaker: self.breaker.clone(),
            on_network: self.on_network.clone(),
        }
    }

    /// The error every request gets once the breaker is open: nothing is sent.
    fn refused(&self) -> ProviderError {
        let mut e = ProviderError::new(
            ErrorKind::Auth,
            format!(
                "credentials refused {AUTH_BREAKER_THRESHOLD} times in a row; no further requests are sent to this provider in this run"
            ),
        )
        .with_hint("check that the API credentials are still valid (not revoked, expired or disabled), then run again");
        e.provider = Some(self.opts.provider.clone());
        e
    }

    fn note_refusal(&self) {
        let n = self.breaker.refusals.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= AUTH_BREAKER_THRESHOLD && !self.breaker.open.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                provider = %self.opts.provider,
                "credentials refused {n} times in a row; sending nothing more to this provider"
            );
        }
    }

    fn note_accepted(&self) {
        if !self.breaker.open.load(Ordering::SeqCst) {
            self.breaker.refusals.store(0, Ordering::SeqCst);
        }
    }

    /// Whether this provider's credentials were refused often enough that nothing more is
    /// sent.
    pub fn credentials_refused(&self) -> bool {
        self.breaker.open.load(Ordering::SeqCst)
    }

    /// Read a body up to the size cap.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, BodyError> {
        let cap = self.opts.max_response_bytes;
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(BodyError::TooLarge);
        }
        let mut body = BytesMut::with_capacity(
            response.content_length().unwrap_or(0).min(cap).min(1 << 20) as usize,
        );
        while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(BodyError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn too_large(&self, method: &http::Method, path: &str) -> ProviderError {
        let cap = self.opts.max_response_bytes;
        let limit = if cap.is_multiple_of(1024 * 1024) {
            format!("{} MiB", cap / (1024 * 1024))
        } else {
            format!("{cap} bytes")
        };
        let mut e = ProviderError::protocol(format!(
            "{method} {path}: the response is larger than the {limit} limit; stopped reading it"
        ))
        .with_hint("raise max_response_mb for this provider if the vendor really sends that much");
        e.provider = Some(self.opts.provider.clone());
        e
    }

    pub fn provider(&self) -> &str {
        &self.opts.provider
    }

    /// Requests this provider may have in flight at once (at least 1): [`HttpClient::send`]
    /// never exceeds it, so a listing may keep more pages than this on the way.
    pub fn concurrency(&self) -> usize {
        self.opts.concurrency.max(1)
    }

    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Wait out a vendor-announced pause, then for room in every client-side quota. The
    /// permit is held until the response (or the failure) arrives.
    async fn wait_turn(&self) -> Permit {
        loop {
            let until = *self.paused_until.lock().await;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        self.limiter.acquire().await
    }

    async fn observe_rate_headers(&self, headers: &HeaderMap) {
        let rh = retry::rate_headers(headers, SystemTime::now());
        if let (Some(remaining), Some(reset)) = (rh.remaining, rh.reset)
            && remaining <= self.opts.headroom
        {
            let wait = reset.min(self.opts.max_wait);
            let until = Instant::now() + wait;
            let mut paused = self.paused_until.lock().await;
            if paused.is_none_or(|p| p < until) {
                if wait >= Duration::from_secs(2) {
                    tracing::warn!(
                        provider = %self.opts.provider,
                        "rate-limit budget nearly spent ({remaining} left); pausing {}s until the window resets",
                        wait.as_secs()
                    );
                }
                *paused = Some(until);
            }
        }
    }

    /// Send a request built by `build` (called again for every attempt), authenticated by
    /// `auth`. Retries 429, 502-504 (and 500 for idempotent methods) and connection errors
    /// with backoff, honouring `Retry-After` and reset headers; on 401 asks `auth` for fresh
    /// credentials (at most [`MAX_REAUTHS`] times per request). Any other status is returned
    /// to the caller as it is.
    ///
    /// Responses are read up to `max_response_bytes`; each attempt, body included, is bounded
    /// by `timeout`, and all attempts together by [`DEADLINE_TIMEOUTS`] × `timeout`.
    ///
    /// Circuit breaker: a credential refusal — the token endpoint refusing the client (an
    /// [`ErrorKind::Auth`] from `auth`), or a 401 that fresh credentials did not cure — counts
    /// towards [`AUTH_BREAKER_THRESHOLD`]; a token issued or a 2xx to a request that carried a
    /// token resets the count. Once it is reached, every further request of this provider
    /// fails at once with an auth error and sends nothing.
    pub async fn send<F>(&self, auth: &dyn Auth, build: F) -> Result<HttpResponse>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.send_inner(auth, build, Purpose::Api).await
    }

    /// [`HttpClient::send`] for a token request or token exchange: retried like an idempotent
    /// call whatever its method (429, 5xx, resets, timeouts), since asking for a token again
    /// changes nothing.
    pub async fn send_token<F>(&self, auth: &dyn Auth, build: F) -> Result<HttpResponse>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.send_inner(auth, build, Purpose::Token).await
    }

    async fn send_inner<F>(
        &self,
        auth: &dyn Auth,
        build: F,
        purpose: Purpose,
    ) -> Result<HttpResponse>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        if self.credentials_refused() {
            return Err(self.refused());
        }
        let deadline = self.opts.timeout.saturating_mul(DEADLINE_TIMEOUTS);
        let mut on_network = Duration::ZERO;
        let mut backoff = backon::ExponentialBuilder::default()
            .with_min_delay(self.opts.min_backoff)
            .with_max_delay(self.opts.max_backoff)
            .with_jitter()
            .with_max_times(self.opts.max_attempts.saturating_sub(1))
            .build();
        // A 401 refreshes the credentials and retries, a bounded number of times. A second
        // refresh is not a sign of refused credentials by itself: under concurrency the
        // token a request retries with may have been fetched by another request before a
        // revocation, and the request never used a token fetched for it. Refused
        // credentials cost at most MAX_REAUTHS extra requests each, and concurrent requests
        // share one refetch per token generation.
        let mut reauths = 0;
        loop {
            let permit = self.wait_turn().await;
            let mut request = build(&self.inner)
                .build()
                .map_err(|e| ProviderError::input(format!("cannot build request: {e}")))?;
            let generation = match auth.apply(&mut request).await {
                Ok(g) => g,
                Err(e) => {
                    if self.credentials_refused() {
                        return Err(self.refused());
                    }
                    if purpose == Purpose::Api && e.kind == ErrorKind::Auth {
                        self.note_refusal();
                    }
                    return Err(e);
                }
            };
            if self.credentials_refused() {
                return Err(self.refused());
            }
            let method = request.method().clone();
            let resend_safe = purpose == Purpose::Token || retry::is_idempotent(&method);
            let path = request.url().path().to_string();
            // Taken after the credentials are applied (fetching a token is a request of its
            // own) and given back before any wait: a refresh or a backoff holds no turn.
            let mut turn = Some(
                self.on_network
                    .acquire()
                    .await
                    .expect("the in-flight gate is never closed"),
            );
            let started = Instant::now();
            let result = self.inner.execute(request).await;
            permit.finished();
            let elapsed = started.elapsed();
            on_network += elapsed;
            match result {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let rid = request_id(&headers);
                    tracing::debug!(
                        provider = %self.opts.provider,
                        "{method} {path} -> {} in {}ms{}",
                        status.as_u16(),
                        elapsed.as_millis(),
                        rid.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default()
                    );
                    self.observe_rate_headers(&headers).await;
                    let decision = if purpose == Purpose::Token {
                        retry::decide(status, &http::Method::GET)
                    } else {
                        retry::decide(status, &method)
                    };
                    if decision == Decision::Reauthenticate && reauths < MAX_REAUTHS {
                        // Given back before the refresh (which may fetch a token); if
                        // nothing is refreshed, the 401's short body is read without one.
                        turn = None;
                        reauths += 1;
                        if auth.refresh(generation).await? {
                            tracing::info!(provider = %self.opts.provider, "credentials refused (401); refreshed and retrying");
                            continue;
                        }
                    }
                    if decision == Decision::Retry
                        && on_network < deadline
                        && let Some(delay) = backoff.next()
                    {
                        let server = retry::server_delay(&headers, SystemTime::now());
                        let wait = retry::next_delay(delay, server, self.opts.max_wait);
                        let level_warn = wait >= Duration::from_secs(5);
                        if level_warn {
                            tracing::warn!(provider = %self.opts.provider, "{method} {path}: HTTP {}; retrying in {}s", status.as_u16(), wait.as_secs());
                        } else {
                            tracing::info!(provider = %self.opts.provider, "{method} {path}: HTTP {}; retrying in {}ms", status.as_u16(), wait.as_millis());
                        }
                        drop(turn);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let read_started = Instant::now();
                    let body = self.read_body(response).await;
                    on_network += read_started.elapsed();
                    drop(turn);
                    let body = match body {
                        Ok(b) => b,
                        Err(BodyError::TooLarge) => return Err(self.too_large(&method, &path)),
                        Err(BodyError::Read(e)) => {
                            let describe = describe_reqwest_error(&e);
                            if resend_safe
                                && on_network < deadline
                                && let Some(delay) = backoff.next()
                            {
                                tracing::info!(provider = %self.opts.provider, "{method} {path}: reading the answer failed ({describe}); retrying");
                                tokio::time::sleep(delay).await;
                                continue;
                            }
                            return Err(ProviderError::network(format!(
                                "{method} {path}: reading the answer failed: {describe}"
                            )));
                        }
                    };
                    if status.is_success() {
                        if purpose == Purpose::Token || generation > 0 {
                            self.note_accepted();
                        }
                    } else if status == StatusCode::UNAUTHORIZED && purpose == Purpose::Api {
                        self.note_refusal();
                    }
                    return Ok(HttpResponse {
                        status,
                        headers,
                        body,
                        request_id: rid,
                    });
                }
                Err(e) => {
                    drop(turn);
                    // A refused connection never reached the server: always safe to resend.
                    // Other failures (timeouts, resets) may have been processed: resend only
                    // idempotent requests.
                    let safe = e.is_connect() || resend_safe;
                    let describe = describe_reqwest_error(&e);
                    // An untrusted certificate stays untrusted: say how to fix it, at once.
                    if certificate_refused(&e) {
                        return Err(ProviderError::network(format!(
                            "{method} {path}: {describe} (the server's TLS certificate is not trusted: set ca_file to the CA bundle that issued it, or opt out with insecure_skip_tls_verify = true for this provider)"
                        )));
                    }
                    tracing::debug!(provider = %self.opts.provider, "{method} {path} failed after {}ms: {describe}", elapsed.as_millis());
                    if safe
                        && on_network < deadline
                        && let Some(delay) = backoff.next()
                    {
                        tracing::info!(provider = %self.opts.provider, "{method} {path}: {describe}; retrying in {}ms", delay.as_millis());
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(ProviderError::network(format!(
                        "{method} {path}: {describe}"
                    )));
                }
            }
        }
    }
}

/// How often one request may refresh its credentials after a 401.
pub const MAX_REAUTHS: u32 = 2;

/// reqwest's error text plus its causes (TLS failures hide the reason in the chain), without
/// the URL's query string.
fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Did rustls refuse the server's certificate (anywhere in the error's causes)?
fn certificate_refused(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // I/O errors (nested ones too) show their inner error's text but skip it as a source.
        let mut candidate: &(dyn std::error::Error + 'static) = s;
        loop {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                if matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
                ) {
                    return true;
                }
                break;
            }
            match candidate
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => candidate = inner,
                None => break,
            }
        }
        source = s.source();
    }
    false
}

/// Parse a base URL from config, requiring http or https.
pub fn parse_base_url(key: &str, value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim_end_matches('/'))
        .map_err(|e| format!("{key} = {value:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" | "http" => Ok(url),
        other => Err(format!(
            "{key} = {value:?}: scheme must be https (or http for a local simulator), not {other}"
        )),
    }
}
